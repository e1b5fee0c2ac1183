"""`python -m app guardrails`: text and JSON output, exit codes 0/1/2, and input errors that say what."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from app.guardrails.cli import main

SHARED = Path(__file__).parent / "fixtures" / "guardrails"


def test_weakening_diff_exits_1_with_one_line_per_violation(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Text output is `path:line: rule: message`; a violation makes the exit code 1."""
    code = main(
        ["--diff", str(SHARED / "s10-agents-version-pins.patch"), "--before", str(SHARED / "base")]
    )
    out = capsys.readouterr().out.strip().splitlines()
    assert code == 1
    assert out and all(line.startswith("AGENTS.md:30: ") for line in out)
    assert ": soften: " in out[0]


def test_benign_diff_exits_0_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    """JSON output is {"ok": true, "violations": []} for a benign diff, exit code 0."""
    code = main(["--diff", str(SHARED / "s16-contributing-rewrap.patch"), "--format", "json"])
    assert code == 0
    assert json.loads(capsys.readouterr().out) == {"ok": True, "violations": []}


def test_json_lists_violations(capsys: pytest.CaptureFixture[str]) -> None:
    """JSON violations carry path, line, side, rule, message and a masked excerpt."""
    code = main(["--diff", str(SHARED / "s12-claude-npmrc-token.patch"), "--format", "json"])
    data = json.loads(capsys.readouterr().out)
    assert code == 1 and data["ok"] is False
    (violation,) = data["violations"]
    assert violation["rule"] == "secret" and violation["side"] == "new"
    assert "V8T232uGFodyKmISXMvead7gAU3aTKkx5qA5" not in violation["excerpt"]


def test_diff_from_stdin(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--diff -` reads the diff from standard input."""
    text = (SHARED / "s06-image-preview-cli.patch").read_text(encoding="utf-8")
    monkeypatch.setattr(sys, "stdin", type("In", (), {"read": staticmethod(lambda: text)})())
    assert main(["--diff", "-"]) == 1
    assert "dockerfile-pipe-shell" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda tmp: ["--diff", str(tmp / "missing.patch")], "missing.patch: no such file"),
        (
            lambda tmp: ["--diff", str(_write(tmp / "x.patch", "not a diff\n"))],
            "not a unified diff",
        ),
        (lambda tmp: ["--diff", str(_write(tmp / "b.patch", b"\xff\xfe"))], "not UTF-8"),
        (
            lambda tmp: [
                "--diff",
                str(SHARED / "s01-km-ru-self-merge.patch"),
                "--before",
                str(tmp),
            ],
            "has no prompt_seeds/role-km-work_ru.md",
        ),
        (
            lambda tmp: [
                "--diff",
                str(SHARED / "s01-km-ru-self-merge.patch"),
                "--before",
                str(tmp / "nope"),
            ],
            "is not a folder",
        ),
        (
            lambda tmp: [
                "--diff",
                str(_write(tmp / "e.patch", "--- a/../x\n+++ b/../x\n@@ -1 +1 @@\n-a\n+b\n")),
                "--before",
                str(tmp),
            ],
            "leaves --before",
        ),
    ],
    ids=[
        "missing",
        "not-a-diff",
        "binary",
        "before-lacks-file",
        "before-not-folder",
        "path-escape",
    ],
)
def test_unreadable_input_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], make: object, message: str
) -> None:
    """Unreadable input exits 2 with a message on stderr naming the file and what is wrong."""
    argv = make(tmp_path)  # type: ignore[operator]  # the table holds argv builders
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert message in captured.err and captured.out == ""


def _write(path: Path, data: str | bytes) -> Path:
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(data, encoding="utf-8")
    return path


@pytest.mark.slow
def test_runs_through_the_app_dispatcher() -> None:
    """`python -m app guardrails` reaches this command and returns its exit code."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "app",
            "guardrails",
            "--diff",
            str(SHARED / "s14-agents-allowed-paths.patch"),
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(__file__).parent.parent,
    )
    assert result.returncode == 1
    assert "AGENTS.md:24: scope:" in result.stdout
