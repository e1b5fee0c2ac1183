"""`python -m app diagnose` and `python -m app eval`: outputs, exit codes and clear one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.diagnosis.cli import diagnose_main, eval_main

SCENARIOS = Path(__file__).parent / "fixtures" / "scenarios"
EXTRA = Path(__file__).parent / "fixtures" / "scenarios_extra"


def test_diagnose_prints_the_diagnosis_json(capsys: pytest.CaptureFixture[str]) -> None:
    """JSON output is a self-improve-diagnosis/1 document for the snapshot's target."""
    code = diagnose_main(["--snapshot", str(SCENARIOS / "04-flaky-ci-not-the-agent.json")])
    data = json.loads(capsys.readouterr().out)
    assert code == 0
    assert data["format"] == "self-improve-diagnosis/1"
    assert data["target"] == {
        "repository": "quarry-io/relay",
        "kind": "pull_request",
        "number": 512,
        "url": "https://github.com/quarry-io/relay/pull/512",
    }
    assert data["engine"] == "heuristic" and len(data["action_items"]) == 1


def test_diagnose_renders_markdown_in_russian(capsys: pytest.CaptureFixture[str]) -> None:
    """`--format markdown --locale ru` gives the Russian rendering."""
    code = diagnose_main(
        [
            "--snapshot",
            str(SCENARIOS / "03-ru-i18n-docs-claude.json"),
            "--format",
            "markdown",
            "--locale",
            "ru",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0 and "### Диагностика self-improve" in out and "| A1 |" in out


def test_a_config_file_changes_the_targets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--config` is used instead of the snapshot's: a tooling item lands in the configured Dockerfile."""
    cfg = tmp_path / "self-improve.yml"
    cfg.write_text(
        "paths:\n  agent_dockerfile: docker/agent.Dockerfile\n  instructions: CLAUDE.md\n",
        encoding="utf-8",
    )
    code = diagnose_main(
        [
            "--snapshot",
            str(SCENARIOS / "01-copilot-lint-private-registry.json"),
            "--config",
            str(cfg),
        ]
    )
    items = json.loads(capsys.readouterr().out)["action_items"]
    assert code == 0
    assert {i["category"]: i["target_path"] for i in items}["tooling"] == "docker/agent.Dockerfile"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file"),
        ("{not json", "not JSON"),
        ('{"format": "other/1"}', "format is 'other/1'"),
        ('{"format": "self-improve-snapshot/1", "repository": {}}', "target"),
    ],
)
def test_a_bad_snapshot_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | None, message: str
) -> None:
    """Unreadable or invalid snapshots print one line naming the file and the problem; exit 2."""
    path = tmp_path / "snap.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    code = diagnose_main(["--snapshot", str(path)])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and str(path) in err and message in err


def test_a_bad_config_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A config with an unknown key is rejected before diagnosing."""
    cfg = tmp_path / "c.yml"
    cfg.write_text("pathz: {}\n", encoding="utf-8")
    assert (
        diagnose_main(
            ["--snapshot", str(SCENARIOS / "04-flaky-ci-not-the-agent.json"), "--config", str(cfg)]
        )
        == 2
    )
    assert "pathz" in capsys.readouterr().err


def test_llm_engine_without_settings_falls_back(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--engine llm` with no LLM_BASE_URL gives the heuristic diagnosis and says why."""
    monkeypatch.delenv("LLM_BASE_URL", raising=False)
    monkeypatch.chdir(SCENARIOS)  # no .env here
    code = diagnose_main(["--snapshot", "04-flaky-ci-not-the-agent.json", "--engine", "llm"])
    data = json.loads(capsys.readouterr().out)
    assert code == 0 and data["engine"] == "heuristic" and "LLM_BASE_URL" in data["fallback_reason"]


def test_eval_scores_a_folder(capsys: pytest.CaptureFixture[str]) -> None:
    """eval over a folder prints per-file rows and an overall row; exit 0."""
    code = eval_main([str(EXTRA)])
    out = capsys.readouterr().out
    assert code == 0
    assert "x1-python-unittest-not-pytest.json" in out and out.strip().splitlines()[-1].startswith(
        "overall"
    )


def test_eval_json_has_the_totals(capsys: pytest.CaptureFixture[str]) -> None:
    """The JSON report carries per-file scores and overall recall."""
    code = eval_main([str(SCENARIOS / "04-flaky-ci-not-the-agent.json"), "--format", "json"])
    data = json.loads(capsys.readouterr().out)
    assert code == 0
    assert data["overall"]["recall"] == 1.0 and data["files"][0]["traps"] == 0


def test_eval_exits_1_on_unreadable_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An unreadable file is reported on stderr, the others are still scored, and the exit code is 1."""
    bad = tmp_path / "bad.json"
    bad.write_text("[]", encoding="utf-8")
    code = eval_main([str(bad), str(SCENARIOS / "04-flaky-ci-not-the-agent.json")])
    captured = capsys.readouterr()
    assert code == 1 and "bad.json" in captured.err and "04-flaky" in captured.out
