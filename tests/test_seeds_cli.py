"""`python -m app seeds resolve|lint`: output, formats and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from app.seeds.cli import main, workflow_command
from app.seeds.lint import Finding

REPO = Path(__file__).parent.parent
EN = (REPO / "prompt_seeds" / "qa-work.md").read_text(encoding="utf-8")


@pytest.fixture
def seeds(tmp_path: Path) -> Path:
    """Three of our real seeds and a README, in a directory of their own."""
    for name in ("qa-work.md", "qa-work_ru.md", "role-km-work_ru.md"):
        (tmp_path / name).write_text(
            (REPO / "prompt_seeds" / name).read_text(encoding="utf-8"), encoding="utf-8"
        )
    (tmp_path / "README.md").write_text("# not a seed {{ nonsense", encoding="utf-8")
    return tmp_path


def test_resolve_prints_the_choice_and_the_marked_chain(
    seeds: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The chosen file comes first; each step is marked missing, chosen or not tried."""
    argv = [
        "resolve",
        "--stage",
        "qa",
        "--role",
        "km",
        "--kind",
        "work",
        "--locale",
        "en",
        "--dir",
        str(seeds),
    ]
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"chosen: {seeds / 'qa-work.md'}"
    assert lines[1] == "chain for stage=qa role=km kind=work locale=en:"
    marks = [(line.split()[2], line.split(maxsplit=3)[3]) for line in lines[2:]]
    assert marks == [
        ("qa-km-work_en.md", "missing"),
        ("qa-km-work.md", "missing"),
        ("role-km-work_en.md", "missing"),
        ("role-km-work.md", "missing"),
        ("qa-work_en.md", "missing"),
        ("qa-work.md", "exists, chosen"),
        ("dev-work_en.md", "not tried"),
        ("dev-work.md", "not tried"),
        ("default-work_en.md", "not tried"),
        ("default-work.md", "not tried"),
    ]


def test_resolve_reports_the_built_in_seed(seeds: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """When no file matches, the built-in seed is named and every step is missing."""
    assert main(["resolve", "--stage", "ops", "--kind", "review", "--dir", str(seeds)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("chosen: (built-in review seed)\n")
    assert "exists" not in out
    assert "not tried" not in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["resolve", "--stage", "dev", "--locale", "??"], "locale '??'"),
        (["resolve", "--stage", "../x"], "stage '../x'"),
        (["resolve", "--dir", "/nonexistent/seeds"], "does not exist"),
        (["lint", "/nonexistent/seeds"], "does not exist"),
    ],
)
def test_bad_requests_exit_2_with_a_message(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Unusable arguments and missing directories exit 2 and say what is wrong on stderr."""
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_lint_names_a_seed_that_is_not_utf8(
    seeds: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An undecodable seed file stops the lint with exit 2 and its path."""
    (seeds / "dev-work.md").write_bytes(b"\xff\xfe")
    assert main(["lint", str(seeds)]) == 2
    assert f"{seeds / 'dev-work.md'}: not UTF-8" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv", [[], ["frob"], ["lint", "--format", "xml"], ["resolve", "--kind", "draft"]]
)
def test_argument_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """argparse refusals become exit code 2 instead of raising SystemExit."""
    assert main(argv) == 2
    assert "usage:" in capsys.readouterr().err


def test_help_exits_0_and_lists_the_rules(capsys: pytest.CaptureFixture[str]) -> None:
    """`lint --help` documents every rule id."""
    assert main(["lint", "--help"]) == 0
    out = capsys.readouterr().out
    assert "pair-policy" in out
    assert "hardcoded-path" in out


def test_lint_text_output_and_exit_1(seeds: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Findings print as `path:line: rule: message` plus a count; README.md is not linted."""
    assert main(["lint", str(seeds)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert (
        f"{seeds / 'role-km-work_en.md'}: matrix: missing: the catalogue needs this seed" in lines
    )
    assert not any("README" in line for line in lines)
    assert lines[-1].endswith(f"finding(s) in 3 seed file(s) under {seeds}")


def test_lint_partial_is_clean_on_a_consistent_subset(
    seeds: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--partial skips completeness: a consistent subset exits 0."""
    assert main(["lint", str(seeds), "--partial"]) == 0
    assert capsys.readouterr().out == f"0 finding(s) in 3 seed file(s) under {seeds}\n"


def test_lint_json_output(seeds: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """JSON lists each finding with file, line, rule and message."""
    (seeds / "qa-work.md").write_text(EN + "\n{{ nope }}\n", encoding="utf-8")
    assert main(["lint", str(seeds), "--format", "json", "--partial"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["seeds"] == 3
    assert report["findings"] == [
        {
            "file": str(seeds / "qa-work.md"),
            "line": len(EN.splitlines()) + 2,
            "rule": "placeholder-unknown",
            "message": report["findings"][0]["message"],
        }
    ]
    assert "{{ nope }}" in report["findings"][0]["message"]


def test_lint_github_output_is_escaped_workflow_commands(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`::error file=…,line=…,title=rule::message`, with properties and data escaped as Actions wants."""
    odd = tmp_path / "a,b:c"
    odd.mkdir()
    goal = EN.split("## Goal\n")[1].split("## ")[0]
    (odd / "qa-work.md").write_text(EN.replace(goal, "\n"), encoding="utf-8")
    assert main(["lint", str(odd), "--format", "github", "--partial"]) == 1
    out = capsys.readouterr().out.splitlines()
    escaped = str(odd / "qa-work.md").replace(",", "%2C").replace(":", "%3A")
    goal_line = EN.splitlines().index("## Goal") + 1
    assert out == [
        f"::error file={escaped},line={goal_line},title=section-empty::`## Goal` is empty"
    ]


def test_github_format_escapes_percent_and_newlines() -> None:
    """Message data escapes %, CR and LF; a whole-file finding has no line property."""
    line = workflow_command(Path("d"), Finding("x.md", 0, "matrix", "50%\r\nmissing"))
    assert line == "::error file=d/x.md,title=matrix::50%25%0D%0Amissing"


@pytest.mark.slow
def test_the_dispatcher_runs_seeds_lint_on_our_catalogue() -> None:
    """`python -m app seeds lint --format github` over prompt_seeds/ prints nothing and exits 0."""
    done = subprocess.run(
        [sys.executable, "-m", "app", "seeds", "lint", "prompt_seeds", "--format", "github"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
