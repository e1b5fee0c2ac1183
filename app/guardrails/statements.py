"""Instruction files as statements: Markdown, Dockerfile and config text cut into comparable units in context."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import PurePosixPath
from typing import Literal

from app.guardrails.diff import FileDiff, apply_file_diff

Side = Literal["old", "new"]
FileKind = Literal["markdown", "dockerfile", "config"]
StatementKind = Literal["heading", "header", "item", "para", "row", "code", "instruction", "line"]
Hidden = Literal["", "comment", "strike"]

_TOKEN = re.compile(r"--?[^\W_][\w-]*(?:=[^\s,;]*)?|[\w@$./~*][\w./@+*:#=~'%-]*")
_LIST_ITEM = re.compile(r"^(\s*)(?:[-*+]|\d{1,3}[.)])\s+(.*)$")
_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```+|~~~+)")
_RULE_LINE = re.compile(r"^\s*([-*_])(?:\s*\1){2,}\s*$")
_TABLE_SEPARATOR = re.compile(r":?-{2,}:?")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-ZА-ЯЁ`\"«(\d*])")
_MARKER = re.compile(r"self-improve:(?:begin|end)", re.IGNORECASE)
_STRIKE = re.compile(r"~~(.+?)~~")
_LINK = re.compile(r"\[([^\]]*)\]\(([^)]*)\)")
_CONFIG_SUFFIXES = frozenset(
    {".yml", ".yaml", ".json", ".jsonc", ".toml", ".ini", ".cfg", ".sh", ".bash", ".env", ".conf"}
)


def file_kind(path: str) -> FileKind:
    """How to read a file: a Dockerfile by its name, config by its suffix, anything else as Markdown."""
    name = PurePosixPath(path).name.lower()
    if name.startswith(("dockerfile", "containerfile")) or name.endswith(
        (".dockerfile", ".containerfile")
    ):
        return "dockerfile"
    if PurePosixPath(name).suffix in _CONFIG_SUFFIXES or name in {".npmrc", ".env"}:
        return "config"
    return "markdown"


def normalise(text: str) -> str:
    """Lower-cased words of a statement with Markdown markup dropped: the text rules are compared on."""
    return " ".join(tokenize(text))


def tokenize(text: str) -> tuple[str, ...]:
    flat = unicodedata.normalize("NFKC", text).lower().replace("ё", "е")
    flat = flat.replace("\u2019", "'").replace("\u2018", "'")
    flat = _LINK.sub(r"\1 \2", flat)
    for markup in ("**", "__", "~~", "`", "<!--", "-->", "«", "»", "\u201c", "\u201d", '"'):
        flat = flat.replace(markup, " ")
    tokens = []
    for raw in _TOKEN.findall(flat):
        token = raw.strip(".:'").lstrip("'")
        if any(ch.isalnum() or ch == "*" for ch in token):
            tokens.append(token)
    return tuple(tokens)


def script_of(text: str) -> Literal["cyrillic", "latin", ""]:
    cyrillic = sum(1 for ch in text if "\u0400" <= ch <= "\u04ff")
    latin = sum(1 for ch in text if ch.isascii() and ch.isalpha())
    if not cyrillic and not latin:
        return ""
    return "cyrillic" if cyrillic >= latin / 2 else "latin"


@dataclass(frozen=True)
class SourceLine:
    """A line of one side of a file; `gap_before` marks lines the diff does not show just above it."""

    no: int
    text: str
    changed: bool = False
    group: int | None = None
    gap_before: bool = False
    hint: str = ""


@dataclass(frozen=True)
class Statement:
    """One rule-sized unit (sentence, list item, heading, table row, code line, Dockerfile instruction)."""

    path: str
    side: Side
    kind: StatementKind
    text: str
    lines: tuple[int, ...]
    starts: tuple[int, ...]
    changed_lines: tuple[int, ...] = ()
    groups: frozenset[int] = frozenset()
    headings: tuple[str, ...] = ()
    lead_in: str = ""
    hidden: Hidden = ""
    level: int = 0
    tokens: tuple[str, ...] = field(default=(), compare=False)

    @property
    def key(self) -> str:
        return " ".join(self.tokens)

    @property
    def line(self) -> int:
        return self.lines[0]

    @property
    def changed(self) -> bool:
        return bool(self.changed_lines)

    @property
    def first_changed_line(self) -> int:
        return self.changed_lines[0] if self.changed_lines else self.lines[0]

    def line_at(self, offset: int) -> int:
        """The source line holding a character offset of `text`."""
        found = self.lines[0]
        for no, start in zip(self.lines, self.starts, strict=True):
            if start <= offset:
                found = no
        return found


def make_statement(
    path: str,
    side: Side,
    kind: StatementKind,
    text: str,
    lines: Sequence[int],
    starts: Sequence[int],
    *,
    changed: Iterable[SourceLine] = (),
    groups: frozenset[int] = frozenset(),
    headings: tuple[str, ...] = (),
    lead_in: str = "",
    hidden: Hidden = "",
    level: int = 0,
) -> Statement:
    """A statement with its comparison tokens computed once."""
    return Statement(
        path,
        side,
        kind,
        text,
        tuple(lines),
        tuple(starts),
        tuple(sl.no for sl in changed if sl.changed),
        groups,
        headings,
        lead_in,
        hidden,
        level,
        tokenize(text),
    )


@dataclass(frozen=True)
class Document:
    """One side of one file as statements; `lines` keeps the raw text of every known line."""

    path: str
    side: Side
    kind: FileKind
    statements: tuple[Statement, ...]
    lines: dict[int, str]
    complete: bool

    def statement_at(self, line_no: int) -> Statement | None:
        for statement in self.statements:
            if line_no in statement.lines:
                return statement
        return None


def side_lines(fd: FileDiff, side: Side, full_text: str | None) -> tuple[SourceLine, ...]:
    """The known lines of one side: every line when the full text is known, else the hunks' lines."""
    changed_kind = "removed" if side == "old" else "added"
    groups: dict[int, int | None] = {}
    for line in fd.lines():
        no = line.old_no if side == "old" else line.new_no
        if no is not None and line.kind == changed_kind:
            groups[no] = line.group
    if full_text is not None:
        return tuple(
            SourceLine(no, text, no in groups, groups.get(no))
            for no, text in enumerate(full_text.splitlines(), start=1)
        )
    out: list[SourceLine] = []
    for hunk in fd.hunks:
        first = True
        for line in hunk.lines:
            no = line.old_no if side == "old" else line.new_no
            if no is None:
                continue
            start_of_file = (hunk.old_start if side == "old" else hunk.new_start) <= 1
            out.append(
                SourceLine(
                    no,
                    line.text,
                    line.kind == changed_kind,
                    line.group if line.kind == changed_kind else None,
                    gap_before=first and not start_of_file,
                    hint=hunk.section if first else "",
                )
            )
            first = False
    return tuple(out)


def build_document(fd: FileDiff, side: Side, before: str | None) -> Document:
    """Read one side of a changed file; with `before`, the whole file (after = before + hunks)."""
    path = (fd.old_path if side == "old" else fd.new_path) or fd.path
    full: str | None = None
    if (side == "old" and fd.is_new) or (side == "new" and fd.is_deleted):
        full = ""
    elif before is not None:
        full = before if side == "old" else apply_file_diff(before, fd)
    lines = side_lines(fd, side, full)
    kind = file_kind(path)
    if kind == "dockerfile":
        statements = parse_dockerfile(path, side, lines)
    elif kind == "config":
        statements = parse_config(path, side, lines)
    else:
        statements = parse_markdown(path, side, lines)
    # A new file's only hunk, or a deleted file's, already holds the whole text.
    complete = (
        full is not None or (side == "old" and fd.is_deleted) or (side == "new" and fd.is_new)
    )
    return Document(path, side, kind, statements, {sl.no: sl.text for sl in lines}, complete)


def read_document(path: str, text: str) -> Document:
    """A whole unchanged file as statements (context for rules the diff does not touch)."""
    lines = tuple(SourceLine(no, line) for no, line in enumerate(text.splitlines(), start=1))
    kind = file_kind(path)
    parse = {"dockerfile": parse_dockerfile, "config": parse_config}.get(kind, parse_markdown)
    return Document(
        path, "old", kind, parse(path, "old", lines), {sl.no: sl.text for sl in lines}, True
    )


@dataclass
class _Block:
    kind: StatementKind
    entries: list[tuple[SourceLine, str]]
    hidden: bool


@dataclass
class _Context:
    headings: list[tuple[int, str]] = field(default_factory=list)
    lead_in: str = ""
    fence: str = ""
    fence_lead_in: str = ""


def _comment_split(lines: Sequence[SourceLine]) -> Iterable[tuple[SourceLine, str, bool]]:
    """Yield each line's Markdown content and whether an HTML comment hides it; drop marker lines."""
    in_comment = False
    for sl in lines:
        if sl.gap_before:
            in_comment = False
        text = sl.text
        if in_comment:
            end = text.find("-->")
            if end < 0:
                yield sl, text, True
                continue
            in_comment = False
            if text[:end].strip():
                yield sl, text[:end], True
            continue
        start = text.find("<!--")
        if start < 0:
            yield sl, text, False
            continue
        end = text.find("-->", start)
        if end >= 0:
            inner = text[start + 4 : end]
            if _MARKER.search(inner):
                yield sl, "", False
            elif not text[:start].strip() and not text[end + 3 :].strip():
                yield sl, inner, True
            else:
                yield sl, text, False  # an inline comment stays with the words around it
            continue
        in_comment = True
        if text[:start].strip():
            yield sl, text[:start], False
        if text[start + 4 :].strip():
            yield sl, text[start + 4 :], True


def parse_markdown(path: str, side: Side, lines: Sequence[SourceLine]) -> tuple[Statement, ...]:
    out: list[Statement] = []
    ctx = _Context()
    block: _Block | None = None

    def flush() -> None:
        nonlocal block
        if block is not None:
            out.extend(_block_statements(path, side, block, ctx))
            if block.kind == "para" and not block.hidden:
                text = " ".join(content for _, content in block.entries).strip()
                ctx.lead_in = text if text.endswith(":") else ""
        block = None

    for sl, content, hidden in _comment_split(lines):
        if sl.gap_before:
            flush()
            ctx.fence = ""
            _apply_hint(ctx, sl.hint)
        if ctx.fence and not hidden:
            if content.strip().startswith(ctx.fence):
                ctx.fence = ""
            elif content.strip():
                out.append(_code_statement(path, side, sl, content, ctx))
            continue
        if block is not None and block.hidden != hidden:
            flush()
        fence = _FENCE.match(content)
        if fence and not hidden:
            flush()
            ctx.fence, ctx.fence_lead_in = fence.group(1), ctx.lead_in
            continue
        if not content.strip() or _RULE_LINE.match(content):
            flush()
            continue
        heading = _HEADING.match(content)
        if heading:
            flush()
            level = len(heading.group(1))
            ctx.headings = [h for h in ctx.headings if h[0] < level]
            out.append(
                make_statement(
                    path,
                    side,
                    "heading",
                    heading.group(2),
                    [sl.no],
                    [0],
                    changed=[sl],
                    groups=_groups([sl]),
                    level=level,
                    headings=tuple(t for _, t in ctx.headings),
                    hidden="comment" if hidden else "",
                )
            )
            if not hidden:
                ctx.headings.append((level, heading.group(2)))
                ctx.lead_in = ""
            continue
        if content.lstrip().startswith("|"):
            flush()
            cells = [c.strip() for c in content.strip().strip("|").split("|")]
            if all(_TABLE_SEPARATOR.fullmatch(c) or not c for c in cells):
                if out and out[-1].kind == "row":
                    out[-1] = replace(
                        out[-1], kind="header"
                    )  # the row above a separator names columns
            else:
                block = _Block("row", [(sl, " | ".join(cells))], hidden)
                flush()
            continue
        item = _LIST_ITEM.match(content)
        if item:
            flush()
            block = _Block("item", [(sl, item.group(2))], hidden)
        elif block is not None:
            block.entries.append((sl, content.strip()))
        else:
            block = _Block("para", [(sl, content.strip())], hidden)
    flush()
    return tuple(out)


def _apply_hint(ctx: _Context, hint: str) -> None:
    """After a gap the section is unknown; git's hunk header names the closest line above it."""
    heading = _HEADING.match(hint)
    if heading:
        ctx.headings = [(len(heading.group(1)), heading.group(2))]
        ctx.lead_in = ""
    else:
        ctx.headings = []
        ctx.lead_in = hint if hint.rstrip().endswith(":") else ""


def _groups(lines: Iterable[SourceLine]) -> frozenset[int]:
    return frozenset(sl.group for sl in lines if sl.group is not None)


def _code_statement(
    path: str, side: Side, sl: SourceLine, content: str, ctx: _Context
) -> Statement:
    return make_statement(
        path,
        side,
        "code",
        content.strip(),
        [sl.no],
        [0],
        changed=[sl],
        groups=_groups([sl]),
        headings=tuple(t for _, t in ctx.headings),
        lead_in=ctx.fence_lead_in,
    )


def _block_statements(path: str, side: Side, block: _Block, ctx: _Context) -> list[Statement]:
    text_parts: list[str] = []
    starts: list[int] = []
    offset = 0
    for _, content in block.entries:
        starts.append(offset)
        text_parts.append(content)
        offset += len(content) + 1
    text = " ".join(text_parts)
    spans = [(0, len(text))] if block.kind == "row" else _sentences(text)
    out = []
    for start, end in spans:
        sentence = text[start:end].strip()
        if not sentence:
            continue
        used = [
            (sl, max(0, s - start))
            for (sl, _), s, nxt in zip(
                block.entries, starts, [*starts[1:], len(text) + 1], strict=True
            )
            if s < end and nxt > start
        ]
        hidden: Hidden = "comment" if block.hidden else ""
        struck = sum(len(m.group(1)) for m in _STRIKE.finditer(sentence))
        if struck and struck >= 0.6 * len(sentence.replace("~~", "").strip()):
            hidden = hidden or "strike"
        elif struck:
            sentence = _STRIKE.sub(" ", sentence)  # struck-out words are deleted words
        out.append(
            make_statement(
                path,
                side,
                block.kind,
                sentence,
                [sl.no for sl, _ in used],
                [s for _, s in used],
                changed=[sl for sl, _ in used],
                groups=_groups(sl for sl, _ in used),
                headings=tuple(t for _, t in ctx.headings),
                lead_in=ctx.lead_in if block.kind in ("item", "row") else "",
                hidden=hidden,
            )
        )
    return out


def _sentences(text: str) -> list[tuple[int, int]]:
    spans = []
    start = 0
    for match in _SENTENCE_END.finditer(text):
        spans.append((start, match.start()))
        start = match.end()
    spans.append((start, len(text)))
    return spans


def parse_dockerfile(path: str, side: Side, lines: Sequence[SourceLine]) -> tuple[Statement, ...]:
    """Dockerfile instructions, continuation lines joined; comments are not instructions."""
    out: list[Statement] = []
    pending: list[SourceLine] = []

    def flush() -> None:
        if pending:
            parts = [sl.text.rstrip().removesuffix("\\").strip() for sl in pending]
            starts, offset = [], 0
            for part in parts:
                starts.append(offset)
                offset += len(part) + 1
            out.append(
                make_statement(
                    path,
                    side,
                    "instruction",
                    " ".join(parts),
                    [sl.no for sl in pending],
                    starts,
                    changed=list(pending),
                    groups=_groups(pending),
                )
            )
            pending.clear()

    for sl in lines:
        if sl.gap_before:
            flush()
        stripped = sl.text.strip()
        if not stripped or stripped.startswith("#"):
            if not pending:
                continue
            if not stripped:
                flush()
            continue
        pending.append(sl)
        if not sl.text.rstrip().endswith("\\"):
            flush()
    flush()
    return tuple(out)


def parse_config(path: str, side: Side, lines: Sequence[SourceLine]) -> tuple[Statement, ...]:
    """Config and script files: each meaningful line is a statement; its comments are kept with it."""
    return tuple(
        make_statement(
            path, side, "line", sl.text.strip(), [sl.no], [0], changed=[sl], groups=_groups([sl])
        )
        for sl in lines
        if sl.text.strip() and sl.text.strip() not in {"{", "}", "[", "]", "},", "],"}
    )
