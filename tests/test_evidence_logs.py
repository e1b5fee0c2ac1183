"""Job logs trimmed to error blocks, step headers and the tail, with every line at its original number."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.evidence.logs import (
    OMITTED,
    LogPolicy,
    drop_partial_first_line,
    error_lines,
    select_lines,
    trim_log,
)

SMALL = LogPolicy(keep_whole_chars=200, context=2, tail_lines=3, budget_chars=10_000)


def _log(lines: list[str]) -> str:
    return "\n".join(lines) + "\n"


def _filler(n: int, start: int = 0) -> list[str]:
    return [
        f"2026-11-03T12:00:{i % 60:02d}.0000000Z  ok step output line {start + i}" for i in range(n)
    ]


def test_a_short_log_is_kept_whole() -> None:
    """A log under `keep_whole_chars` comes back unchanged, nothing omitted."""
    text = _log(["##[group]Run npm test", "error TS2345: nope", "done"])
    trimmed = trim_log(text, SMALL)
    assert trimmed.text == text and not trimmed.trimmed and trimmed.total_lines == 3


def test_error_block_keeps_its_line_number_and_context() -> None:
    """The error line and its context stay at their original line numbers; the gap holds one marker."""
    lines = _filler(100)
    lines[49] = "2026-11-03T12:00:49.0000000Z ##[error]Process completed with exit code 1."
    trimmed = trim_log(_log(lines), SMALL)
    out = trimmed.text.split("\n")
    assert len(out) == len(lines) + 1  # the final newline is kept too
    assert out[49] == lines[49]
    assert out[47:52] == lines[47:52]  # context of 2 either side
    assert out[0] == OMITTED.format(count=47)
    assert out[1:47] == [""] * 46
    assert trimmed.omitted_lines == 100 - 5 - 3


def test_step_headers_and_tail_survive() -> None:
    """`##[group]` step headers (what step line numbers count from) and the last lines are kept."""
    lines = _filler(60)
    lines[10] = "##[group]Run pnpm lint"
    trimmed = trim_log(_log(lines), SMALL).text.split("\n")
    assert trimmed[10] == "##[group]Run pnpm lint"
    assert trimmed[57:60] == lines[57:60]


def test_budget_drops_oldest_error_blocks_first() -> None:
    """When error blocks exceed the budget, the latest failure (the one that ended the job) is kept."""
    lines = _filler(400)
    lines[20] = "FAIL tests/early.test.ts"
    lines[380] = "FAIL tests/late.test.ts"
    policy = LogPolicy(keep_whole_chars=100, context=1, tail_lines=1, budget_chars=300)
    out = trim_log(_log(lines), policy).text.split("\n")
    assert out[380] == lines[380]
    assert out[20] != lines[20]


def test_over_long_lines_are_clipped() -> None:
    """A megabyte line (a minified bundle) is clipped and counted, keeping its line slot."""
    lines = ["x" * 5000, *_filler(10)]
    policy = LogPolicy(keep_whole_chars=100, tail_lines=20, max_line_chars=100)
    trimmed = trim_log(_log(lines), policy)
    first = trimmed.text.split("\n")[0]
    assert first.startswith("x" * 100) and "4900 characters clipped" in first
    assert trimmed.clipped_lines == 1


@pytest.mark.parametrize(
    ("line", "is_error"),
    [
        ("##[error]Process completed with exit code 2.", True),
        ("src/app.ts(3,5): error TS2322: Type 'string' is not assignable", True),
        ("npm ERR! code E404", True),
        ("--- FAIL: TestStreamReconnect (3.02s)", True),
        ("/bin/sh: 1: pnpm: command not found", True),
        ("ModuleNotFoundError: No module named 'pytest'", True),
        ("Traceback (most recent call last):", True),
        ("added 1642 packages in 21s", False),
        ("##[group]Run actions/checkout@v5", False),
        ("✓ packages/console/src/App.test.tsx (12 tests) 87ms", False),
    ],
)
def test_error_lines_recognise_ci_failures(line: str, is_error: bool) -> None:
    """The failure patterns of CI tools are recognised; ordinary progress output is not."""
    assert (error_lines([line]) == [0]) is is_error


def test_drop_partial_first_line() -> None:
    """A log downloaded from the middle loses its broken first line and says how many chars went."""
    assert drop_partial_first_line("ken=abc\nline 2\n") == ("line 2\n", 8)
    assert drop_partial_first_line("no newline at all") == ("", 17)


@given(
    st.lists(
        st.sampled_from(["ok", "error: boom", "##[group]Run x", "", "FAIL t", "a" * 50]),
        min_size=0,
        max_size=300,
    ),
    st.booleans(),
)
def test_trimming_never_moves_a_line(lines: list[str], final_newline: bool) -> None:
    """Property: the trimmed log has the same line count and every kept line sits at its old index."""
    text = "\n".join(lines) + ("\n" if final_newline else "")
    policy = LogPolicy(keep_whole_chars=0, context=1, tail_lines=5, budget_chars=400)
    trimmed = trim_log(text, policy).text
    assert trimmed.endswith("\n") is text.endswith("\n")
    out = trimmed.split("\n")
    original = text.split("\n")
    assert len(out) == len(original)
    body = text.removesuffix("\n").split("\n") if text else []
    keep = select_lines(body, policy)
    for i, line in enumerate(body):
        if keep[i]:
            assert out[i] == line
        else:
            assert out[i] == "" or out[i].startswith("[self-improve:")


TOKEN = "ghp_" + "A1b2C3d4E5" * 4


def _redact(text: str) -> str:
    from app.redaction import redact_text

    return redact_text(text)


def test_redaction_covers_kept_lines_and_keeps_numbering() -> None:
    """With `redact`, a token on a kept line is masked, one on a dropped line is gone; lines stay put."""
    lines = _filler(300)
    lines[40] = f"export GH_TOKEN={TOKEN}"  # dropped: not near an error
    lines[200] = f"fatal: could not push with {TOKEN}"  # kept: an error line
    policy = LogPolicy(keep_whole_chars=100, context=1, tail_lines=2)
    trimmed = trim_log(_log(lines), policy, redact=_redact).text
    out = trimmed.split("\n")
    assert TOKEN not in trimmed and "[REDACTED:github_token]" in out[200]
    assert len(out) == len(lines) + 1


def test_private_key_is_blanked_line_by_line() -> None:
    """A PEM key in a log is removed without joining lines, so later line numbers do not move."""
    body = [f"MIIEow{i:02d}" + "Q" * 58 for i in range(25)]
    lines = [
        "step 1",
        "2026-11-10T09:00:00Z -----BEGIN RSA PRIVATE KEY-----",
        *body,
        "-----END RSA PRIVATE KEY-----",
        "##[error]Process completed with exit code 1.",
    ]
    for policy in (LogPolicy(), LogPolicy(keep_whole_chars=10, tail_lines=1, context=0)):
        out = trim_log(_log(lines), policy, redact=_redact).text.split("\n")
        assert len(out) == len(lines) + 1 and out[-2] == lines[-1]
        assert not any("MIIEow" in line for line in out)
        assert out[1] in {"2026-11-10T09:00:00Z [REDACTED:private_key]", ""}


def test_aws_secret_on_a_kept_line_is_caught_through_its_dropped_key_id() -> None:
    """An AWS key id on a dropped line still marks the secret printed on the next (kept) line."""
    secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    lines = _filler(100)
    lines[50] = "aws_access_key_id AKIAIOSFODNN7EXAMPLE"
    lines[51] = f"{secret} ERROR: denied"
    policy = LogPolicy(keep_whole_chars=100, context=0, tail_lines=1)
    trimmed = trim_log(_log(lines), policy, redact=_redact).text
    assert secret not in trimmed and "AKIAIOSFODNN7EXAMPLE" not in trimmed


def test_clipping_happens_after_redaction() -> None:
    """A token straddling the clip point is redacted whole, never left as a recognisable half."""
    line = "x" * 1990 + " " + TOKEN + " tail"
    policy = LogPolicy(keep_whole_chars=10, tail_lines=5, max_line_chars=2000)
    trimmed = trim_log(_log([line, "ok"]), policy, redact=_redact).text
    assert "ghp_A1b2" not in trimmed


FRAGMENTS = ["error", "rror", "E", " ", "\t", "  ", "FAIL", "ok", "x", "×", "exit code 1",
             "denied:", "##[error]", ":", "[", "TS12", "E404", "Timeout", "Z ", "\r"]  # fmt: skip


@given(st.lists(st.lists(st.sampled_from(FRAGMENTS), max_size=8).map("".join), max_size=40))
def test_anchored_scan_finds_what_the_pattern_finds(lines: list[str]) -> None:
    """Property: the fast anchored scan flags exactly the lines the error pattern matches."""
    from app.evidence.logs import _ERROR

    assert error_lines(lines) == [i for i, line in enumerate(lines) if _ERROR.search(line)]
