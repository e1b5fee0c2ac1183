"""Job logs cut down to what explains a failure: error blocks with context, step headers and the tail.

A trimmed log keeps every line at its original line number: each run of dropped lines becomes one
marker line followed by empty lines, so `#L{n}` and `#step:{s}:{n}` references computed over the
trimmed text (scenarios/README.md, "Log line numbers") point at the same lines on github.com. The
empty lines cost one byte each, which is never more than the lines they stand for.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass
from itertools import accumulate

OMITTED = "[self-improve: {count} log lines omitted]"

_KEY_MARK = "[REDACTED:private_key]"
_KEY_LINES = 100
# An AWS secret is recognised by the key id up to 200 characters before it, maybe on another line.
_PAIRED_SECRETS = ("AKIA", "ASIA")

# Lines that start a step (`##[group]Run …`) are what step-relative line numbers count from.
_STEP_MARK = "##[group]"

# What a failing CI step prints: runner annotations, compiler/linter/test-runner verdicts, crashes,
# and the tool-missing messages an agent's environment produces.
_ERROR = re.compile(
    r"##\[error\]|##\[warning\]"
    r"|\b(?:error|errors|ERR!|FAIL|FAILED|FAILURE|failed|failing|fatal|panic|Traceback"
    r"|Exception|AssertionError|Segmentation fault|timed out|Timeout)\b"
    r"|\berror(?:\[|:|\s+TS\d+)|^\S*\s*E[ \t]{2,}|✗|✖|×|❌"
    r"|exit (?:code|status) [1-9]"
    r"|command not found|No module named|ENOENT|E40[134]\b|not found in registry"
    r"|Could not resolve|Permission denied|denied:",
)
# Every alternative above contains one of these; finding them with str.find over the whole log and
# running the pattern only on those lines is many times faster than the pattern on every line.
ANCHORS = (
    "##[error]", "##[warning]", "rror", "ERR!", "FAIL", "fail", "fatal", "panic", "Traceback",
    "Exception", "Segmentation", "timed out", "Timeout", "E ", "E\t", "✗", "✖", "×", "❌",
    "exit code", "exit status", "command not found", "No module named", "ENOENT", "E40",
    "not found in registry", "Could not resolve", "denied",
)  # fmt: skip


@dataclass(frozen=True)
class LogPolicy:
    """How much of a log to keep; logs no longer than `keep_whole_chars` stay whole."""

    keep_whole_chars: int = 64 * 1024
    context: int = 6  # lines kept before and after each error line
    tail_lines: int = 150  # the end of the log says how the job ended
    budget_chars: int = 192 * 1024  # error blocks beyond this are dropped, oldest first
    max_line_chars: int = 2000  # minified bundles and base64 blobs print megabyte lines


@dataclass(frozen=True)
class TrimmedLog:
    """The kept text (same line count as the input) and what was left out."""

    text: str
    total_lines: int
    omitted_lines: int
    clipped_lines: int  # lines shortened to `max_line_chars`

    @property
    def trimmed(self) -> bool:
        return self.omitted_lines > 0 or self.clipped_lines > 0


def error_lines(lines: list[str]) -> list[int]:
    """Indexes (0-based) of the lines that look like part of a failure."""
    text = "\n".join(lines)
    starts = list(accumulate((len(line) + 1 for line in lines), initial=0))
    candidates: set[int] = set()
    for anchor in ANCHORS:
        at = text.find(anchor)
        while at >= 0:
            index = bisect_right(starts, at) - 1
            candidates.add(index)
            at = text.find(anchor, starts[index + 1] if index + 1 < len(starts) else len(text))
    return sorted(i for i in candidates if _ERROR.search(lines[i]))


def _clip(line: str, limit: int) -> str:
    if len(line) <= limit:
        return line
    return f"{line[:limit]}… [{len(line) - limit} characters clipped]"


def select_lines(lines: list[str], policy: LogPolicy) -> list[bool]:
    """Which lines to keep: step headers, the tail, and error blocks from the end back within budget."""
    count = len(lines)
    keep = [False] * count
    for i, line in enumerate(lines):
        if _STEP_MARK in line:
            keep[i] = True
    for i in range(max(0, count - policy.tail_lines), count):
        keep[i] = True
    spent = sum(min(len(lines[i]), policy.max_line_chars) + 1 for i in range(count) if keep[i])
    # The last failure is the one that ended the job: when the budget runs out, older blocks go first.
    for i in reversed(error_lines(lines)):
        block = range(max(0, i - policy.context), min(count, i + policy.context + 1))
        cost = sum(min(len(lines[j]), policy.max_line_chars) + 1 for j in block if not keep[j])
        if spent + cost > policy.budget_chars:
            continue
        spent += cost
        for j in block:
            keep[j] = True
    return keep


def blank_private_keys(text: str) -> str:
    """Every line of a PEM private key block blanked, the BEGIN line marked; line count unchanged.

    Redacting a key that spans lines would join them into one marker and shift every later line
    number, so keys are taken out line by line first (a block without END stops at 100 lines).
    """
    if "PRIVATE KEY" not in text:
        return text
    lines = text.split("\n")
    left = 0
    for i, line in enumerate(lines):
        if left:
            left -= 1
            ended = "-----END" in line and "PRIVATE KEY" in line
            lines[i] = ""
            left = 0 if ended else left
        elif "-----BEGIN" in line and "PRIVATE KEY" in line:
            lines[i] = line[: line.index("-----BEGIN")] + _KEY_MARK
            left = 0 if "-----END" in line[line.index("-----BEGIN") :] else _KEY_LINES
    return "\n".join(lines)


def _redact_keeping_lines(text: str, redact: Callable[[str], str]) -> str:
    """`redact` over the whole text at once, or line by line if it would change the line count."""
    done = redact(text)
    if done.count("\n") == text.count("\n"):
        return done
    return "\n".join(redact(line) for line in text.split("\n"))


def _identity(text: str) -> str:
    return text


def trim_log(
    text: str, policy: LogPolicy | None = None, *, redact: Callable[[str], str] | None = None
) -> TrimmedLog:
    """The log with uninteresting lines blanked out and over-long lines clipped; numbering unchanged.

    With `redact`, secrets are replaced too. Only the kept lines are redacted, which is what makes a
    large log cheap; the secrets that can span lines are dealt with first (private keys blanked, and
    the whole log redacted when an AWS key id could pair with a secret on a line that is dropped).
    Lines are clipped after redaction, so no secret is cut into an unrecognisable piece.
    """
    policy = policy or LogPolicy()
    scrub = redact or _identity
    if redact is not None:
        text = blank_private_keys(text)
    ending = "\n" if text.endswith("\n") else ""
    body = text[: len(text) - len(ending)]
    lines = body.split("\n") if text else []
    if len(text) <= policy.keep_whole_chars:
        return TrimmedLog(
            text=_redact_keeping_lines(body, scrub) + ending,
            total_lines=len(lines),
            omitted_lines=0,
            clipped_lines=0,
        )
    if redact is not None and any(n in body for n in _PAIRED_SECRETS):
        lines = _redact_keeping_lines(body, scrub).split("\n")
    keep = select_lines(lines, policy)
    out: list[str] = []
    omitted = 0
    i = 0
    while i < len(lines):
        if keep[i]:
            out.append(lines[i])
            i += 1
            continue
        start = i
        while i < len(lines) and not keep[i]:
            i += 1
        run = i - start
        omitted += run
        out.append(OMITTED.format(count=run))
        out.extend([""] * (run - 1))
    kept = _redact_keeping_lines("\n".join(out), scrub).split("\n")
    clipped = sum(1 for line in kept if len(line) > policy.max_line_chars)
    if clipped:
        kept = [_clip(line, policy.max_line_chars) for line in kept]
    return TrimmedLog(
        text="\n".join(kept) + ending,
        total_lines=len(lines),
        omitted_lines=omitted,
        clipped_lines=clipped,
    )


def drop_partial_first_line(text: str) -> tuple[str, int]:
    """A log whose head was not downloaded starts mid-line: drop that fragment; returns (text, chars)."""
    cut = text.find("\n")
    if cut < 0:
        return "", len(text)
    return text[cut + 1 :], cut + 1
