"""The managed block of a markdown file: the only place the updater adds rules, merged without duplicates."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, replace

BEGIN = "<!-- self-improve:begin -->"
END = "<!-- self-improve:end -->"
TRACE_PREFIX = "<!-- self-improve:"
RULE_LIMIT = (
    400  # one rule is one line a person reads at a glance; longer text is a proposal, not a rule
)
URL_LIMIT = 10  # a trace names the evidence, it does not replay it

# A URL goes inside an HTML comment, so it must not be able to close it ("-->") or span lines.
_SAFE_URL = re.compile(r"https://[A-Za-z0-9.-]+(?:/[A-Za-z0-9._~:/?#\[\]@!$&'()*+,;=%-]*)?\Z")
_ITEM_ID = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,31}\Z")
_TRACE = re.compile(r"<!--\s*self-improve:\s*(?P<body>.*?)\s*-->\s*\Z")
_LIST_ITEM = re.compile(r"(?P<indent>\s*)(?P<bullet>[-*+]|\d+[.)])\s+(?P<text>.*\S)\s*\Z")
_FENCE = re.compile(r"\s{0,3}(?P<fence>`{3,}|~{3,})")
_HEADING = re.compile(r"\s{0,3}(?P<hashes>#{1,6})(?:\s+(?P<text>.*?))?\s*#*\s*\Z")
_LEAD_MARKUP = re.compile(r"^(?:#{1,6}\s+|>\s*|[-*+]\s+|\d+[.)]\s+)+")
_EMPHASIS = re.compile(r"[`*_~]")


class ManagedBlockError(ValueError):
    """The file's managed block is malformed; the message names the file and the line."""


@dataclass(frozen=True)
class Rule:
    """One learned rule: its text (one line) and where it came from (action item ids, evidence URLs)."""

    text: str
    item_ids: tuple[str, ...]
    evidence_urls: tuple[str, ...] = ()


@dataclass(frozen=True)
class Merge:
    """The merged document; which rules were added, which were there already, and whether text changed."""

    text: str
    added: tuple[Rule, ...]
    present: tuple[Rule, ...]
    changed: bool


def clean_rule_text(text: str) -> str:
    """One line of plain rule text: no comment markers, no leading list/heading markup, capped."""
    flat = " ".join(text.replace("<!--", " ").replace("-->", " ").split())
    flat = _LEAD_MARKUP.sub("", flat).strip()
    if len(flat) > RULE_LIMIT:
        flat = flat[: RULE_LIMIT - 1].rstrip() + "…"
    return flat[:1].upper() + flat[1:]


def clean_rule(rule: Rule) -> Rule:
    """The rule as it will be written: clean text, id-shaped ids, URLs safe inside a comment."""
    ids = tuple(i for i in dict.fromkeys(rule.item_ids) if _ITEM_ID.match(i))
    return Rule(clean_rule_text(rule.text), ids, safe_urls(rule.evidence_urls))


def normalise_rule(text: str) -> str:
    """The comparison key of a rule: case, width, emphasis, spacing and final punctuation do not count."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    folded = _TRACE.sub("", folded) if "self-improve:" in folded else folded
    folded = _EMPHASIS.sub("", _LEAD_MARKUP.sub("", folded.strip()))
    return " ".join(folded.split()).rstrip(" .;:!。")


def safe_urls(urls: Sequence[str]) -> tuple[str, ...]:
    """The evidence URLs fit to sit inside an HTML comment, deduplicated, in order, at most URL_LIMIT."""
    kept: list[str] = []
    for url in urls:
        if isinstance(url, str) and _SAFE_URL.match(url) and "--" not in url and url not in kept:
            kept.append(url)
    return tuple(kept[:URL_LIMIT])


def trace_comment(item_ids: Sequence[str], urls: Sequence[str]) -> str:
    """`<!-- self-improve: A1 https://… -->`: ids that are not id-shaped and unsafe URLs are dropped."""
    ids = [i for i in dict.fromkeys(item_ids) if _ITEM_ID.match(i)]
    return f"{TRACE_PREFIX} {' '.join([*ids, *safe_urls(urls)])} -->"


def parse_trace(line: str) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
    """The ids and URLs of a trace comment line; None when the line is not one."""
    found = _TRACE.match(line.strip())
    if found is None:
        return None
    words = found.group("body").split()
    if words[:1] in (["begin"], ["end"]) or not words:
        return None
    ids = tuple(w for w in words if _ITEM_ID.match(w))
    urls = tuple(w for w in words if w.startswith("https://"))
    return ids, urls


@dataclass(frozen=True)
class _Entry:
    """A stretch of lines inside the block: a rule with its optional trace line, or other text kept as is."""

    lines: tuple[str, ...]
    rule: Rule | None = None
    has_trace: bool = False


def _newline_of(text: str) -> str:
    return "\r\n" if text.count("\r\n") * 2 > text.count("\n") else "\n"


def _strip_eol(line: str) -> str:
    return line.rstrip("\r\n")


def _unfenced(lines: Sequence[str]) -> list[bool]:
    """For each line, whether it sits outside fenced code (markers inside a code sample do not count)."""
    out: list[bool] = []
    fence: str | None = None
    for line in lines:
        opened = _FENCE.match(line)
        if fence is None:
            out.append(opened is None)
            if opened is not None:
                fence = opened.group("fence")
        else:
            out.append(False)
            closing = line.strip()
            if len(closing) >= len(fence) and closing == fence[0] * len(closing):
                fence = None
    return out


def find_block(text: str, *, path: str = "") -> tuple[int, int] | None:
    """Line indexes (begin, end) of the managed block's markers, or None when the file has none."""
    lines = text.splitlines()
    plain = _unfenced(lines)
    begins = [i for i, ln in enumerate(lines) if plain[i] and ln.strip() == BEGIN]
    ends = [i for i, ln in enumerate(lines) if plain[i] and ln.strip() == END]
    where = path or "the file"
    if not begins and not ends:
        return None
    if len(begins) > 1 or len(ends) > 1:
        extra = (begins[1:] or ends[1:])[0] + 1
        raise ManagedBlockError(
            f"{where}: line {extra}: a second self-improve marker; keep one block"
        )
    if not begins or not ends:
        missing, at = (BEGIN, ends[0]) if not begins else (END, begins[0])
        raise ManagedBlockError(
            f"{where}: line {at + 1}: {missing} is missing; the block is unclosed"
        )
    if ends[0] < begins[0]:
        raise ManagedBlockError(f"{where}: line {ends[0] + 1}: {END} comes before {BEGIN}")
    return begins[0], ends[0]


def _entries(inner: Sequence[str]) -> list[_Entry]:
    entries: list[_Entry] = []
    for line in inner:
        bare = _strip_eol(line)
        trace = parse_trace(bare)
        last = entries[-1] if entries else None
        if trace is not None and last is not None and last.rule is not None and not last.has_trace:
            rule = replace(last.rule, item_ids=trace[0], evidence_urls=trace[1])
            entries[-1] = _Entry((*last.lines, line), rule, has_trace=True)
            continue
        item = _LIST_ITEM.match(bare)
        if item is not None and not item.group("indent"):
            entries.append(_Entry((line,), Rule(item.group("text"), ())))
        else:
            entries.append(_Entry((line,)))
    return entries


def read_rules(text: str, *, path: str = "") -> tuple[Rule, ...]:
    """The rules inside the managed block (with their traces), in file order."""
    span = find_block(text, path=path)
    if span is None:
        return ()
    lines = text.splitlines(keepends=True)
    return tuple(e.rule for e in _entries(lines[span[0] + 1 : span[1]]) if e.rule is not None)


def _rules_outside(lines: Sequence[str], span: tuple[int, int] | None) -> set[str]:
    """Normalised list items outside the block: a rule a person already wrote there is not added again."""
    keys: set[str] = set()
    for i, line in enumerate(lines):
        if span is not None and span[0] <= i <= span[1]:
            continue
        item = _LIST_ITEM.match(_strip_eol(line))
        if item is not None:
            keys.add(normalise_rule(item.group("text")))
    return keys


def _heading_key(line: str) -> tuple[int, str] | None:
    found = _HEADING.match(_strip_eol(line))
    if found is None:
        return None
    return len(found.group("hashes")), " ".join((found.group("text") or "").split()).casefold()


def heading_line(heading: str) -> str:
    """The configured heading as a markdown line; bare text becomes a level-2 heading."""
    text = " ".join(heading.split())
    return text if _heading_key(text) is not None else f"## {text}"


def _insertion_point(lines: Sequence[str], heading: str) -> int | None:
    """Where a new block goes: after the last non-blank line of the heading's section, if it exists."""
    want = _heading_key(heading_line(heading))
    plain = _unfenced(lines)
    for i, line in enumerate(lines):
        if not plain[i] or want is None or _heading_key(line) != want:
            continue
        end = len(lines)
        for j in range(i + 1, len(lines)):
            key = _heading_key(lines[j]) if plain[j] else None
            if key is not None and key[0] <= want[0]:
                end = j
                break
        at = end
        while at > i + 1 and not lines[at - 1].strip():
            at -= 1
        return at
    return None


def _render_rule(rule: Rule, nl: str) -> list[str]:
    return [f"- {rule.text}{nl}", f"  {trace_comment(rule.item_ids, rule.evidence_urls)}{nl}"]


def _merged_trace(old: Rule, new: Rule) -> Rule:
    ids = tuple(dict.fromkeys([*old.item_ids, *new.item_ids]))
    urls = safe_urls([*old.evidence_urls, *new.evidence_urls])
    return replace(old, item_ids=ids, evidence_urls=urls)


def merge_rules(text: str, rules: Sequence[Rule], *, heading: str, path: str = "") -> Merge:
    """Add `rules` to the managed block (creating it, and the heading, when absent); idempotent.

    A rule already in the block (by normalised text) keeps its line and gains the new ids and URLs in
    its trace; one a person already wrote elsewhere in the file is left alone. Text outside the block
    is never edited: a new block is inserted between existing lines, or appended after the last one.
    """
    nl = _newline_of(text) if text else "\n"
    lines = text.splitlines(keepends=True)
    span = find_block(text, path=path)
    outside = _rules_outside(lines, span)
    entries = _entries(lines[span[0] + 1 : span[1]]) if span is not None else []
    index = {normalise_rule(e.rule.text): n for n, e in enumerate(entries) if e.rule is not None}
    added: list[Rule] = []
    present: list[Rule] = []
    touched = False
    for raw in rules:
        rule = clean_rule(raw)
        key = normalise_rule(rule.text)
        if not key:
            continue
        if key in outside and key not in index:
            present.append(rule)
            continue
        if key not in index:
            index[key] = len(entries)
            entries.append(_Entry(tuple(_render_rule(rule, nl)), rule, has_trace=True))
            added.append(rule)
            touched = True
            continue
        present.append(rule)
        entry = entries[index[key]]
        old = entry.rule or rule
        merged = _merged_trace(old, rule)
        if merged != old or not entry.has_trace:
            trace = f"  {trace_comment(merged.item_ids, merged.evidence_urls)}{nl}"
            entries[index[key]] = _Entry((entry.lines[0], trace), merged, has_trace=True)
            touched = True
    if not touched:
        return Merge(text, (), tuple(present), changed=False)
    inner = [line for entry in entries for line in entry.lines]
    if span is not None:
        out = [*lines[: span[0] + 1], *inner, *lines[span[1] :]]
    else:
        out = _with_new_block(lines, [f"{BEGIN}{nl}", *inner, f"{END}{nl}"], heading, nl)
    return Merge("".join(out), tuple(added), tuple(present), changed=True)


def _with_new_block(lines: list[str], block: list[str], heading: str, nl: str) -> list[str]:
    """The lines with a new block under the heading's section, or under a new heading at the end."""
    at = _insertion_point(lines, heading)
    if lines and not lines[-1].endswith(("\n", "\r")):
        lines = [*lines[:-1], lines[-1] + nl]  # the one edit outside a block: end the last line
    if at is None:
        lead = [nl] if lines and lines[-1].strip() else []
        return [*lines, *lead, f"{heading_line(heading)}{nl}", nl, *block]
    lead = [nl] if lines[at - 1].strip() else []
    tail = [nl] if at < len(lines) and lines[at].strip() else []
    return [*lines[:at], *lead, *block, *tail, *lines[at:]]
