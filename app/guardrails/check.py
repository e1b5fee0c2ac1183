"""The guardrail: read a unified diff of instruction files and report every change that weakens a rule."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from app.guardrails import rules
from app.guardrails.detectors import (
    Finding,
    Pair,
    added_findings,
    bypass_added,
    pair_findings,
    quote,
    removed_findings,
)
from app.guardrails.diff import FileDiff, old_line_of, parse_diff
from app.guardrails.dockerfile import copied_credentials, final_user_findings, unpinned_image
from app.guardrails.report import GuardrailReport, Violation
from app.guardrails.secrets import find_secrets, mask_secrets
from app.guardrails.semantics import (
    content_stems,
    force,
    is_rule,
    markers,
    overlap,
    prohibits,
    similarity,
    stem,
)
from app.guardrails.statements import (
    Document,
    Statement,
    build_document,
    normalise,
    read_document,
    script_of,
)

_EXCERPT_LIMIT = 200


@dataclass(frozen=True)
class FileView:
    """Both sides of one changed file."""

    diff: FileDiff
    old: Document
    new: Document

    @property
    def path(self) -> str:
        return self.diff.path


def check_diff(diff_text: str, before: Mapping[str, str] | None = None) -> GuardrailReport:
    """Check a unified diff; `before` (path -> text before the change) gives whole-file context.

    Raises DiffError when the text is not a unified diff or does not apply to `before`.
    """
    files = parse_diff(diff_text)
    views = tuple(_view(fd, before) for fd in files if not fd.binary)
    known = _known_rules(views, before or {})
    findings: list[tuple[FileView, Finding]] = []
    for view in views:
        elsewhere = {
            s.key for other in views if other is not view for s in other.new.statements if s.key
        }
        findings += [(view, f) for f in check_file(view, known, elsewhere)]
    return GuardrailReport(_violations(findings))


def _view(fd: FileDiff, before: Mapping[str, str] | None) -> FileView:
    text = before.get(fd.old_path) if before is not None and fd.old_path is not None else None
    return FileView(fd, build_document(fd, "old", text), build_document(fd, "new", text))


def _known_rules(views: Sequence[FileView], before: Mapping[str, str]) -> tuple[Statement, ...]:
    """The standing rules a new line might contradict: old sides of the diff, whole files when known."""
    touched = {view.diff.old_path for view in views}
    docs = [view.old for view in views]
    docs += [read_document(path, text) for path, text in before.items() if path not in touched]
    return tuple(s for doc in docs for s in doc.statements if is_rule(s))


def check_file(view: FileView, known: Sequence[Statement], elsewhere: set[str]) -> list[Finding]:
    old_changed = [s for s in view.old.statements if s.changed]
    new_changed = [s for s in view.new.statements if s.changed]
    pairs, removed, added = pair_statements(
        old_changed, new_changed, view.new.statements, elsewhere
    )
    found: list[Finding] = []
    for pair in pairs:
        others = frozenset(stem(t) for s in new_changed if s is not pair.new for t in s.tokens)
        found += pair_findings(pair, others)
        found += bypass_added(pair.old, pair.new) if pair.how == "similar" else []
        if view.new.kind == "dockerfile" and pair.how == "similar":
            found += unpinned_image(pair)
    lost_groups = {g for s in removed if is_rule(s) for g in s.groups}
    for statement in removed:
        found += removed_findings(statement)
    for statement in added:
        found += added_findings(statement, known, bool(statement.groups & lost_groups))
        if view.new.kind == "dockerfile":
            found += copied_credentials(statement)
    found += unchanged_context_findings(view)
    found += emptied_sections(view)
    if view.new.kind == "dockerfile":
        found += final_user_findings(view.old, view.new)
    found += secret_findings(view)
    return found


def pair_statements(
    old_changed: Sequence[Statement],
    new_changed: Sequence[Statement],
    new_all: Sequence[Statement],
    elsewhere: set[str],
) -> tuple[list[Pair], list[Statement], list[Statement]]:
    """Match removed statements to added ones: verbatim first (moves, re-wraps), then by likeness."""
    pairs: list[Pair] = []
    free: dict[str, list[Statement]] = defaultdict(list)
    for statement in new_changed:
        if statement.key:
            free[statement.key].append(statement)
    anywhere = {s.key: s for s in new_all if s.key}
    leftovers: list[Statement] = []
    for old in old_changed:
        if not old.key:
            continue
        if free.get(old.key):
            pairs.append(Pair(old, free[old.key].pop(0), "same"))
        elif old.key in anywhere:
            pairs.append(
                Pair(old, anywhere[old.key], "kept")
            )  # a duplicate removed; its twin stays
        elif old.key not in elsewhere:
            leftovers.append(old)
    unmatched = [s for group in free.values() for s in group]
    unmatched.sort(key=lambda s: s.line)
    pairs += _pair_by_likeness(leftovers, unmatched)
    pairs += _pair_renamed_headings(leftovers, unmatched)
    pairs += _pair_translations(leftovers, unmatched)
    leftovers = [o for o in leftovers if not _covered(o, new_changed)]
    return pairs, leftovers, unmatched


def _compatible(old: Statement, new: Statement) -> bool:
    if (old.kind == "heading") != (new.kind == "heading"):
        return False
    if old.kind == "instruction" and new.kind == "instruction":
        return old.text.split()[0].upper() == new.text.split()[0].upper()
    return (
        script_of(old.text) == script_of(new.text)
        or not script_of(old.text)
        or not script_of(new.text)
    )


def _pair_by_likeness(leftovers: list[Statement], unmatched: list[Statement]) -> list[Pair]:
    scored = []
    for i, old in enumerate(leftovers):
        for j, new in enumerate(unmatched):
            if not _compatible(old, new) or old.kind == "heading":
                continue
            score = similarity(old, new)
            threshold = 0.45 if old.groups & new.groups else 0.6
            if score >= threshold:
                scored.append((score, -abs(old.line - new.line), i, j))
    scored.sort(reverse=True)
    used_old: set[int] = set()
    used_new: set[int] = set()
    pairs = []
    for _, _, i, j in scored:
        if i in used_old or j in used_new:
            continue
        used_old.add(i)
        used_new.add(j)
        pairs.append(Pair(leftovers[i], unmatched[j], "similar"))
    _drop(leftovers, used_old)
    _drop(unmatched, used_new)
    return pairs


def _pair_renamed_headings(leftovers: list[Statement], unmatched: list[Statement]) -> list[Pair]:
    pairs = []
    used_old: set[int] = set()
    used_new: set[int] = set()
    for i, old in enumerate(leftovers):
        if old.kind != "heading":
            continue
        for j, new in enumerate(unmatched):
            if j in used_new or new.kind != "heading" or new.level != old.level:
                continue
            if old.groups & new.groups:
                pairs.append(Pair(old, new, "renamed"))
                used_old.add(i)
                used_new.add(j)
                break
    _drop(leftovers, used_old)
    _drop(unmatched, used_new)
    return pairs


def _pair_translations(leftovers: list[Statement], unmatched: list[Statement]) -> list[Pair]:
    """A rule rewritten in the other language in place: same change, other script, same code words."""
    pairs = []
    used_old: set[int] = set()
    used_new: set[int] = set()
    for i, old in enumerate(leftovers):
        for j, new in enumerate(unmatched):
            if j in used_new or old.kind == "heading" or new.kind == "heading":
                continue
            scripts = {script_of(old.text), script_of(new.text)}
            if scripts != {"latin", "cyrillic"} or not old.groups & new.groups:
                continue
            code_old = {t for t in old.tokens if not t.isalpha()}
            code_new = {t for t in new.tokens if not t.isalpha()}
            if code_old and code_old <= code_new:
                pairs.append(Pair(old, new, "translated"))
                used_old.add(i)
                used_new.add(j)
                break
    _drop(leftovers, used_old)
    _drop(unmatched, used_new)
    return pairs


def _covered(old: Statement, new_changed: Sequence[Statement]) -> bool:
    """A rule merged into a new, at least as strong statement that holds all its words."""
    if old.kind == "heading":
        return False
    mine = content_stems(old.key)
    if not mine:
        return True
    for new in new_changed:
        if new.kind == "heading" or force(new) < force(old):
            continue
        if prohibits(old) and not prohibits(new):
            continue  # the same words, now an order: «Запускать код из PR вне CI» in a review step
        if rules.EXCEPTION.search(new.key) or rules.JUDGEMENT.search(new.key):
            continue
        if overlap(mine, content_stems(new.key)) >= 0.8 and new.tokens != old.tokens:
            if {m.kind for m in markers(new.key)} & {"permit", "release"}:
                continue
            return True
    return False


def _drop(items: list[Statement], indexes: set[int]) -> None:
    for index in sorted(indexes, reverse=True):
        del items[index]


def unchanged_context_findings(view: FileView) -> list[Finding]:
    """Rules whose words did not change but whose context did: wrapped in a comment, put under a new heading."""
    found: list[Finding] = []
    for new in view.new.statements:
        if new.changed or new.kind == "heading":
            continue
        old_no = old_line_of(view.diff, new.line)
        old = view.old.statement_at(old_no) if old_no is not None else None
        if old is None or old.key != new.key:
            continue
        pair = Pair(old, new, "same")
        found += pair_findings(pair)
    return found


def emptied_sections(view: FileView) -> list[Finding]:
    """delete-section: a policy section whose heading stays but whose rules are all gone."""
    found: list[Finding] = []
    old_sections = _sections(view.old)
    new_sections = {heading.key: body for heading, body in _sections(view.new)}
    for heading, body in old_sections:
        if body is None or not rules.POLICY_HEADING.search(normalise(heading.text)):
            continue
        rules_before = [s for s in body if is_rule(s)]
        if not rules_before or not any(s.changed for s in rules_before):
            continue
        after = new_sections.get(heading.key)
        if after is None:
            continue  # deleted or renamed headings are judged on their own
        own_before = [s for s in body if is_rule(s, by_section=False) and not s.hidden]
        own_after = [s for s in after if is_rule(s, by_section=False) and not s.hidden]
        if own_before and not own_after:
            found.append(
                Finding(
                    "delete-section",
                    f"Empties the section {quote(heading.text)} of all its rules.",
                    heading,
                )
            )
    return found


def _sections(doc: Document) -> list[tuple[Statement, list[Statement] | None]]:
    """Each heading with the statements under it; None when the view does not show its whole body."""
    out: list[tuple[Statement, list[Statement] | None]] = []
    statements = doc.statements
    for index, heading in enumerate(statements):
        if heading.kind != "heading" or heading.hidden:
            continue
        body: list[Statement] = []
        closed = doc.complete
        for statement in statements[index + 1 :]:
            if statement.kind == "heading" and statement.level <= heading.level:
                closed = True
                break
            body.append(statement)
        if closed and not doc.complete:
            closed = _contiguous(doc, heading, body)
        out.append((heading, body if closed else None))
    return out


def _contiguous(doc: Document, heading: Statement, body: list[Statement]) -> bool:
    last = body[-1].lines[-1] if body else heading.line
    return all(no in doc.lines for no in range(heading.line, last + 2))


def secret_findings(view: FileView) -> list[Finding]:
    """secret: credential-shaped values on added lines that were not already in the file."""
    removed_text = "\n".join(line.text for line in view.diff.lines() if line.kind == "removed")
    found: list[Finding] = []
    for line in view.diff.lines():
        if line.kind != "added" or line.new_no is None:
            continue
        for hit in find_secrets(line.text):
            value = line.text[hit.start : hit.end]
            if value in removed_text:
                continue
            statement = view.new.statement_at(line.new_no) or Statement(
                view.path, "new", "line", line.text, (line.new_no,), (0,)
            )
            found.append(
                Finding(
                    "secret",
                    f"Adds {hit.what} to the file; credentials never belong in instructions.",
                    statement,
                    line.new_no,
                )
            )
            break
    return found


def _violations(findings: Iterable[tuple[FileView, Finding]]) -> tuple[Violation, ...]:
    seen: set[tuple[str, int, str, str]] = set()
    out: list[Violation] = []
    for view, finding in findings:
        statement = finding.statement
        side = statement.side
        line = finding.line if finding.line is not None else statement.first_changed_line
        doc = view.old if side == "old" else view.new
        path = doc.path or view.path
        key = (path, line, side, finding.rule)
        if key in seen:
            continue
        seen.add(key)
        excerpt = mask_secrets(doc.lines.get(line, statement.text).strip())
        if len(excerpt) > _EXCERPT_LIMIT:
            excerpt = excerpt[: _EXCERPT_LIMIT - 1] + "…"
        out.append(
            Violation(path, line, side, finding.rule, mask_secrets(finding.message), excerpt)
        )
    out.sort(key=lambda v: (v.path, v.line, v.side, v.rule))
    return tuple(out)
