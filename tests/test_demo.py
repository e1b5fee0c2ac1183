"""The newcomer's demo: the whole flow against the double, from the label to the guardrails verdict."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.demo import EXAMPLE, main


def test_demo_shows_what_a_maintainer_sees_and_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    """Check run summary, sticky comment, the PR (title, body, diff) and the guardrails verdict, in order."""
    assert main(["--snapshot", str(EXAMPLE)]) == 0
    out, err = capsys.readouterr()
    sections = [
        "Check run “self-improve”: neutral",
        "The sticky comment on #215",
        "<!-- self-improve:sticky -->",
        "Improvement PR #",
        "Refs #215",
        "Its diff",
        "+<!-- self-improve:begin -->",
        "Guardrails (check run “self-improve/guardrails”): success",
    ]
    positions = [out.find(s) for s in sections]
    assert -1 not in positions, [s for s, p in zip(sections, positions, strict=True) if p == -1]
    assert positions == sorted(positions)
    assert "▸ done" in err
    assert "WARN" not in err and "ERROR" not in err


def test_demo_reports_a_bad_snapshot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A snapshot that is not one fails with a clear message and exit 1."""
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    assert main(["--snapshot", str(bad)]) == 1
    assert "format" in capsys.readouterr().err
