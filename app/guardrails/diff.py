"""Unified diffs as data: files, hunks and numbered lines, parsed strictly so a malformed diff is an error."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

LineKind = Literal["context", "removed", "added"]

_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@ ?(.*)$")
_EXTENDED = (
    "old mode ",
    "new mode ",
    "deleted file mode ",
    "new file mode ",
    "similarity index ",
    "dissimilarity index ",
    "rename from ",
    "rename to ",
    "copy from ",
    "copy to ",
    "index ",
)


class DiffError(ValueError):
    """The text is not a unified diff, or a hunk does not fit its header or the file it patches."""


@dataclass(frozen=True)
class DiffLine:
    """One line of a hunk with its number on each side it belongs to.

    `group` numbers the runs of removed/added lines inside a file, so lines changed together share one.
    """

    kind: LineKind
    text: str
    old_no: int | None
    new_no: int | None
    group: int | None


@dataclass(frozen=True)
class Hunk:
    old_start: int
    old_len: int
    new_start: int
    new_len: int
    section: str
    lines: tuple[DiffLine, ...]


@dataclass(frozen=True)
class FileDiff:
    """One file's part of the diff; a path is None on the /dev/null side of a new or deleted file."""

    old_path: str | None
    new_path: str | None
    hunks: tuple[Hunk, ...]
    binary: bool = False

    @property
    def path(self) -> str:
        return self.new_path or self.old_path or ""

    @property
    def is_new(self) -> bool:
        return self.old_path is None

    @property
    def is_deleted(self) -> bool:
        return self.new_path is None

    def lines(self) -> tuple[DiffLine, ...]:
        return tuple(line for hunk in self.hunks for line in hunk.lines)


def parse_diff(text: str) -> tuple[FileDiff, ...]:
    """Parse `git diff` (or plain `diff -u`) output; raise DiffError naming the line that is wrong."""
    lines = text.splitlines()
    files: list[FileDiff] = []
    i = 0
    seen_header = False
    while i < len(lines):
        line = lines[i]
        if line.startswith("diff --git "):
            seen_header = True
            fd, i = _parse_git_file(lines, i)
            files.append(fd)
        elif line.startswith("--- ") and i + 1 < len(lines) and lines[i + 1].startswith("+++ "):
            seen_header = True
            old, new = _dash_path(lines[i][4:]), _dash_path(lines[i + 1][4:])
            hunks, i = _parse_hunks(lines, i + 2, old or new or "")
            files.append(FileDiff(old, new, hunks))
        elif line.startswith("@@"):
            raise DiffError(f"line {i + 1}: hunk header without a file header before it")
        elif not seen_header or not line.strip():
            i += 1  # a mail preamble or commit message before the first file; blank separators
        elif line == "-- ":
            break  # `git format-patch` signature: the patch is over
        else:
            raise DiffError(f"line {i + 1}: unexpected text between files: {line[:60]!r}")
    if not files:
        raise DiffError("not a unified diff: no 'diff --git' or '---'/'+++' file header found")
    return tuple(files)


def _parse_git_file(lines: Sequence[str], i: int) -> tuple[FileDiff, int]:
    header_no = i + 1
    old, new = _git_header_paths(lines[i][len("diff --git ") :])
    binary = False
    is_new = is_deleted = False
    i += 1
    while i < len(lines) and not lines[i].startswith(("diff --git ", "--- ", "@@")):
        line = lines[i]
        if line.startswith("rename from ") or line.startswith("copy from "):
            old = _unquote(line.split(" ", 2)[2])
        elif line.startswith("rename to ") or line.startswith("copy to "):
            new = _unquote(line.split(" ", 2)[2])
        elif line.startswith("new file mode "):
            is_new = True
        elif line.startswith("deleted file mode "):
            is_deleted = True
        elif line.startswith(("Binary files ", "GIT binary patch")):
            binary = True
        elif not line.startswith(_EXTENDED) and not binary:
            if not line.strip():
                break
            raise DiffError(
                f"line {i + 1}: unexpected line in the header of {new or old}: {line[:60]!r}"
            )
        i += 1
    hunks: tuple[Hunk, ...] = ()
    if i < len(lines) and lines[i].startswith("--- "):
        if i + 1 >= len(lines) or not lines[i + 1].startswith("+++ "):
            raise DiffError(f"line {i + 2}: '---' header of {new or old} is not followed by '+++'")
        dash_old, dash_new = _dash_path(lines[i][4:]), _dash_path(lines[i + 1][4:])
        old = dash_old if dash_old is not None or is_new else old
        new = dash_new if dash_new is not None or is_deleted else new
        hunks, i = _parse_hunks(lines, i + 2, new or old or "")
    elif i < len(lines) and lines[i].startswith("@@"):
        raise DiffError(f"line {i + 1}: hunk of {new or old} has no '---'/'+++' header")
    if old is None and new is None:
        raise DiffError(f"line {header_no}: cannot read the file names of this diff header")
    return FileDiff(None if is_new else old, None if is_deleted else new, hunks, binary), i


def _parse_hunks(lines: Sequence[str], i: int, path: str) -> tuple[tuple[Hunk, ...], int]:
    hunks: list[Hunk] = []
    group = 0
    while i < len(lines) and lines[i].startswith("@@"):
        hunk, i, group = _parse_hunk(lines, i, path, group)
        hunks.append(hunk)
    if not hunks and i < len(lines) and lines[i] and not lines[i].startswith("diff --git "):
        raise DiffError(f"line {i + 1}: expected a hunk header '@@ -a,b +c,d @@' for {path}")
    return tuple(hunks), i


def _parse_hunk(lines: Sequence[str], i: int, path: str, group: int) -> tuple[Hunk, int, int]:
    match = _HUNK.match(lines[i])
    if match is None:
        raise DiffError(f"line {i + 1}: malformed hunk header in {path}: {lines[i][:60]!r}")
    old_start, new_start = int(match[1]), int(match[3])
    old_len = 1 if match[2] is None else int(match[2])
    new_len = 1 if match[4] is None else int(match[4])
    header_no = i + 1
    old_no, new_no = (
        old_start if old_len else old_start + 1,
        new_start if new_len else new_start + 1,
    )
    old_left, new_left = old_len, new_len
    out: list[DiffLine] = []
    in_run = False
    i += 1
    while old_left > 0 or new_left > 0:
        if i >= len(lines):
            raise DiffError(
                f"line {header_no}: hunk in {path} ends early: {old_left} old and {new_left} new "
                "lines missing"
            )
        line = lines[i]
        tag, body = (line[0], line[1:]) if line else (" ", "")
        if tag == "\\":
            i += 1
            continue
        if tag == " " and old_left > 0 and new_left > 0:
            out.append(DiffLine("context", body, old_no, new_no, None))
            old_no, new_no, old_left, new_left = old_no + 1, new_no + 1, old_left - 1, new_left - 1
            in_run = False
        elif tag in "-+" and (old_left if tag == "-" else new_left) > 0:
            if not in_run:
                group, in_run = group + 1, True
            if tag == "-":
                out.append(DiffLine("removed", body, old_no, None, group))
                old_no, old_left = old_no + 1, old_left - 1
            else:
                out.append(DiffLine("added", body, None, new_no, group))
                new_no, new_left = new_no + 1, new_left - 1
        else:
            raise DiffError(
                f"line {i + 1}: hunk in {path} does not match its header "
                f"(expected {old_left} more old and {new_left} more new lines): {line[:60]!r}"
            )
        i += 1
    while i < len(lines) and lines[i].startswith("\\"):
        i += 1
    hunk = Hunk(old_start, old_len, new_start, new_len, match[5].strip(), tuple(out))
    return hunk, i, group


def _dash_path(raw: str) -> str | None:
    name = raw.split("\t", 1)[0].rstrip()
    name = _unquote(name)
    if name == "/dev/null":
        return None
    return name[2:] if name.startswith(("a/", "b/")) else name


def _git_header_paths(rest: str) -> tuple[str | None, str | None]:
    if rest.startswith('"'):
        first, _, tail = _split_quoted(rest)
        return _strip_prefix(first), _strip_prefix(_unquote(tail.strip()))
    if rest.startswith("a/"):
        # Same name on both sides is the common case; it is the only split that is unambiguous.
        half = (len(rest) - 1) // 2
        if (
            rest[half] == " "
            and rest[half + 1 :].startswith("b/")
            and rest[2:half] == rest[half + 3 :]
        ):
            return rest[2:half], rest[half + 3 :]
        cut = rest.find(" b/")
        if cut > 0:
            return rest[2:cut], rest[cut + 3 :]
    return None, None


def _strip_prefix(name: str) -> str:
    return name[2:] if name.startswith(("a/", "b/")) else name


def _split_quoted(rest: str) -> tuple[str, int, str]:
    i = 1
    while i < len(rest):
        if rest[i] == "\\":
            i += 2
            continue
        if rest[i] == '"':
            return _unquote(rest[: i + 1]), i, rest[i + 1 :]
        i += 1
    raise DiffError(f"unterminated quoted file name: {rest[:60]!r}")


def _unquote(name: str) -> str:
    """Undo git's C-style quoting of names with spaces or non-ASCII bytes (core.quotePath)."""
    if not (len(name) >= 2 and name[0] == name[-1] == '"'):
        return name
    raw = bytearray()
    body = name[1:-1]
    i = 0
    escapes = {"n": 10, "t": 9, '"': 34, "\\": 92, "a": 7, "b": 8, "f": 12, "r": 13, "v": 11}
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            octal = body[i + 1 : i + 4]
            if len(octal) == 3 and all(c in "01234567" for c in octal):
                raw.append(int(octal, 8))
                i += 4
                continue
            raw.append(escapes.get(nxt, ord(nxt)))
            i += 2
            continue
        raw.extend(ch.encode())
        i += 1
    return raw.decode("utf-8", errors="replace")


def apply_file_diff(before: str, fd: FileDiff) -> str:
    """The file after the change; raise DiffError when a hunk's old lines are not where it says."""
    old = before.splitlines()
    out: list[str] = []
    cursor = 0  # index into `old` of the next line not yet copied
    for hunk in fd.hunks:
        start = hunk.old_start - 1 if hunk.old_len else hunk.old_start
        if start < cursor or start > len(old):
            raise DiffError(
                f"{fd.path}: hunk @@ -{hunk.old_start},{hunk.old_len} @@ is out of order"
            )
        out.extend(old[cursor:start])
        pos = start
        for line in hunk.lines:
            if line.kind == "added":
                out.append(line.text)
                continue
            actual = old[pos] if pos < len(old) else None
            if actual is None or actual.rstrip() != line.text.rstrip():
                raise DiffError(
                    f"{fd.path}: the diff does not apply at old line {pos + 1}: the file has "
                    f"{actual!r}, the diff expects {line.text!r}"
                )
            if line.kind == "context":
                out.append(actual)
            pos += 1
        cursor = pos
    out.extend(old[cursor:])
    return "\n".join(out) + ("\n" if out else "")


def old_line_of(fd: FileDiff, new_no: int) -> int | None:
    """The old line number of an unchanged new line (None for an added line)."""
    shift = 0
    for hunk in fd.hunks:
        for line in hunk.lines:
            if line.new_no == new_no:
                return line.old_no
        first_new = hunk.new_start if hunk.new_len else hunk.new_start + 1
        if new_no < first_new:
            return new_no - shift
        shift = hunk.new_start + hunk.new_len - (hunk.old_start + hunk.old_len)
    return new_no - shift
