"""The weakening detectors: each reads one changed, removed or added statement and says what it weakens."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from difflib import SequenceMatcher
from typing import Literal

from app.guardrails import rules
from app.guardrails.rules import Match, find_all
from app.guardrails.semantics import (
    binding,
    content_stems,
    context_orientation,
    forbidden_by_context,
    force,
    force_of,
    is_rule,
    markers,
    modal_counts,
    negated_at,
    orientation,
    overlap,
    plain,
    prohibits,
    similarity,
    stem,
)
from app.guardrails.statements import Statement, normalise

# same: verbatim (moved or re-wrapped); kept: removed while a verbatim twin stays elsewhere in the file
PairHow = Literal["same", "kept", "similar", "renamed", "translated"]

_PATHLIKE = re.compile(
    r"[/*]|^\.[\w-]|^[\w-]+\.(?:md|mdc|txt|json|ya?ml|toml|py|ts|js|sh|lock|cfg|ini)$"
)
_NUMBER = re.compile(r"^(\d+(?:[.,]\d+)?)%?$")
_NEGATION_PREFIXES = ("un", "in", "dis", "non-", "non", "не", "без", "im", "ir")


@dataclass(frozen=True)
class Finding:
    """A weakening found in one statement; `offset` points into its text for the annotation line."""

    rule: str
    message: str
    statement: Statement
    line: int | None = None


@dataclass(frozen=True)
class Pair:
    """A statement before and after the change; `how` says how the two were matched."""

    old: Statement
    new: Statement
    how: PairHow


@dataclass(frozen=True)
class WordDiff:
    """Word-level difference of a pair; typo fixes count as unchanged words."""

    old_fixed: tuple[str, ...]
    deleted: tuple[tuple[int, tuple[str, ...]], ...]
    inserted: tuple[tuple[int, tuple[str, ...]], ...]
    replaced: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...]
    # stems of the words the change adds in other statements of the file (a rule split in two)
    elsewhere: frozenset[str] = frozenset()

    @property
    def deleted_words(self) -> Counter[str]:
        return Counter(w for _, span in self.deleted for w in span)

    @property
    def inserted_words(self) -> Counter[str]:
        return Counter(w for _, span in self.inserted for w in span)


def quote(text: str, limit: int = 70) -> str:
    text = " ".join(text.split())
    return "'" + (text if len(text) <= limit else text[: limit - 1] + "…") + "'"


def is_typo(a: str, b: str) -> bool:
    """A misspelling fixed, not a word swapped: close spelling, and not a negated form of the other."""
    if a == b:
        return True
    if min(len(a), len(b)) < 4 or a in b or b in a:
        return False
    for prefix in _NEGATION_PREFIXES:
        if a == prefix + b or b == prefix + a:
            return False
    return SequenceMatcher(None, a, b, autojunk=False).ratio() >= 0.8


def word_diff(old: Sequence[str], new: Sequence[str]) -> WordDiff:
    matcher = SequenceMatcher(None, list(old), list(new), autojunk=False)
    fixed = list(old)
    deleted, inserted, replaced = [], [], []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        before, after = tuple(old[i1:i2]), tuple(new[j1:j2])
        # Typo fixes at either end of a replaced run are unchanged words ("mesages" → "messages, …").
        while before and after and is_typo(before[0], after[0]):
            fixed[i1] = after[0]
            before, after, i1, j1 = before[1:], after[1:], i1 + 1, j1 + 1
        while before and after and is_typo(before[-1], after[-1]):
            fixed[i1 + len(before) - 1] = after[-1]
            before, after = before[:-1], after[:-1]
        if before:
            deleted.append((i1, before))
        if after:
            inserted.append((j1, after))
        if before and after:
            replaced.append((before, after))
    return WordDiff(tuple(fixed), tuple(deleted), tuple(inserted), tuple(replaced))


def locate(statement: Statement, phrase: str) -> int:
    """The source line where a phrase found in normalised text sits (its first word), else the change."""
    words = phrase.split()
    lowered = statement.text.lower().replace("ё", "е")
    for word in words[:1]:
        at = lowered.find(word)
        if at >= 0:
            return statement.line_at(at)
    return statement.first_changed_line


# --- findings on a changed statement (old → new) -------------------------------------------------


def pair_findings(pair: Pair, elsewhere: frozenset[str] = frozenset()) -> list[Finding]:
    """Every weakening between a statement and its changed version.

    `elsewhere`: stems of words added in the file's other changed statements, where words dropped
    here may have gone.
    """
    old, new = pair.old, pair.new
    found: list[Finding] = []
    if pair.how == "kept":
        return []
    found += hidden_now(pair)
    if pair.how == "same":
        found += moved_out_of_force(pair)
        return found
    if pair.how == "renamed":
        return found + renamed_heading(pair)
    if pair.how == "translated":
        return found + softened_translation(pair)
    found += moved_out_of_force(pair)
    diff = replace(word_diff(old.tokens, new.tokens), elsewhere=elsewhere)
    for detector in (
        changed_modality,
        added_exception,
        loosened_threshold,
        widened_scope,
        removed_check,
        swapped_words,
        dropped_items,
    ):
        found += detector(pair, diff)
    found += newly_risky(old, new)
    found += added_judgement(pair)
    return found


def hidden_now(pair: Pair) -> list[Finding]:
    if not pair.new.hidden or pair.old.hidden or not is_rule(pair.old):
        return []
    how = "inside an HTML comment" if pair.new.hidden == "comment" else "struck through"
    return [
        Finding(
            "hide-rule",
            f"Keeps the rule {quote(pair.old.text)} only {how}, so it no longer reads as a rule.",
            pair.new,
        )
    ]


def moved_out_of_force(pair: Pair) -> list[Finding]:
    """A rule, as it was or reworded, moved where it no longer binds: out of a forbidden list (and
    not forbidden by its own words there), under "Examples", into a list of what is allowed."""
    old, new = pair.old, pair.new
    if not is_rule(old):
        return []
    if binding(old.headings) != "nonbinding" and binding(new.headings) == "nonbinding":
        section = new.headings[-1] if new.headings else "?"
        return [
            Finding(
                "rename-section",
                f"Moves the rule {quote(old.text)} under the non-binding section {quote(section)}.",
                new,
            )
        ]
    if forbidden_by_context(old) and not prohibits(new) and old.kind != "code":
        return [
            Finding(
                "flip",
                f"Moves {quote(old.text)} out of the list of forbidden actions, turning it into an order.",
                new,
            )
        ]
    if (
        old.kind in ("item", "row")
        and context_orientation(new) == "allow"
        and context_orientation(old) != "allow"
    ):
        return [Finding("scope", f"Moves {quote(old.text)} into the list of what is allowed.", new)]
    return []


def renamed_heading(pair: Pair) -> list[Finding]:
    old_key, new_key = normalise(pair.old.text), normalise(pair.new.text)
    old_policy = bool(rules.POLICY_HEADING.search(old_key))
    new_policy = bool(rules.POLICY_HEADING.search(new_key))
    loosened = bool(
        rules.NONBINDING_HEADING.search(new_key)
    ) and not rules.NONBINDING_HEADING.search(old_key)
    if loosened or (old_policy and not new_policy):
        return [
            Finding(
                "rename-section",
                f"Renames the section {quote(pair.old.text)} to {quote(pair.new.text)}, "
                "so its rules no longer read as binding.",
                pair.new,
            )
        ]
    return []


def softened_translation(pair: Pair) -> list[Finding]:
    before, after = force(pair.old), force(pair.new)
    if before >= 2 and after < before:
        return [
            Finding(
                "soften",
                f"Rewrites the rule {quote(pair.old.text)} in another language with weaker force.",
                pair.new,
            )
        ]
    return []


def changed_modality(pair: Pair, diff: WordDiff) -> list[Finding]:
    """soften / negate / flip: the modal words of a rule weakened or turned around."""
    old_key = " ".join(diff.old_fixed)
    new_key = pair.new.key
    before, after = modal_counts(old_key), modal_counts(new_key)
    f_old, f_new = force_of(old_key, pair.old.kind), force_of(new_key, pair.new.kind)

    def gained(kind: str) -> bool:
        return after[kind] > before[kind]

    def lost(kind: str) -> bool:
        return before[kind] > after[kind]

    same_subject = similarity(pair.old, pair.new) >= 0.6
    old_text, new_text = quote(pair.old.text), quote(pair.new.text)
    line = _first_inserted_line(pair, diff)
    if lost("prohibit") and (gained("permit") or gained("release")):
        message = f"Turns the prohibition {old_text} into a permission: {new_text}."
        return [Finding("negate", message, pair.new, line)]
    dropped = lost("prohibit") and not after["prohibit"] and not after["discourage"]
    if dropped and same_subject and f_new >= 2:
        message = f"Drops the prohibition from {old_text}; it now reads {new_text}."
        return [Finding("negate", message, pair.new, line)]
    turned = gained("prohibit") and not before["prohibit"] and not before["discourage"]
    if turned and f_old >= 2 and same_subject and not is_rule_about_less(pair):
        message = f"Turns the order {old_text} into its opposite: {new_text}."
        return [Finding("flip", message, pair.new, line)]
    if (lost("prohibit") or lost("oblige")) and (gained("recommend") or gained("discourage")):
        message = f"Softens the rule {old_text} to {new_text}."
        return [Finding("soften", message, pair.new, line)]
    if f_old >= 2 and f_new < f_old:
        message = f"Softens the rule {old_text} to {new_text}."
        return [Finding("soften", message, pair.new, line)]
    if f_old == 1 and f_new == 0 and (gained("permit") or gained("release")):
        message = f"Turns the recommendation {old_text} into an option: {new_text}."
        return [Finding("soften", message, pair.new, line)]
    hedges = [m for m in find_all(rules.HEDGE, new_key) if m.text not in old_key]
    if f_old >= 2 and hedges:
        message = f"Hedges the rule {old_text} with {quote(hedges[0].text)}."
        return [Finding("soften", message, pair.new, locate(pair.new, hedges[0].text))]
    return []


def is_rule_about_less(pair: Pair) -> bool:
    """An order that gains a "do not" about something new ("use X; do not use Y") is not flipped."""
    return len(content_stems(pair.new.key) - content_stems(pair.old.key)) >= 2


def _first_inserted_line(pair: Pair, diff: WordDiff) -> int:
    if diff.inserted:
        return locate(pair.new, diff.inserted[0][1][0])
    return pair.new.first_changed_line


def added_exception(pair: Pair, diff: WordDiff) -> list[Finding]:
    """exception: a carve-out, a condition or a narrowing word added to a rule."""
    if not is_rule(pair.old) or force(pair.old) < 1:
        return []
    old_key = " ".join(diff.old_fixed)
    new_tokens = pair.new.tokens
    for index, span in diff.inserted:
        text = " ".join(span)
        around = " ".join(new_tokens[max(0, index - 1) : index + len(span)])
        if rules.STRENGTHENER.search(around):
            continue
        for pattern, what in (
            (rules.EXCEPTION, "an exception"),
            (rules.NARROWING, "a narrowing qualifier"),
        ):
            hits = [
                m
                for m in find_all(pattern, text)
                if _count(pattern, old_key, m.text) < _count(pattern, pair.new.key, m.text)
            ]
            if hits:
                message = f"Adds {what} ({quote(text, 60)}) to the rule {quote(pair.old.text)}."
                return [Finding("exception", message, pair.new, locate(pair.new, span[0]))]
        opener = rules.CONDITION_OPENER.match(text) if len(span) >= 3 else None
        if opener and not _count(rules.CONDITION_OPENER, old_key, opener.group(0)) >= _count(
            rules.CONDITION_OPENER, pair.new.key, opener.group(0)
        ):
            message = f"Adds the condition {quote(text, 60)} to the rule {quote(pair.old.text)}."
            return [Finding("exception", message, pair.new, locate(pair.new, span[0]))]
        permits = [m for m in markers(text) if m.kind in ("permit", "release")]
        if permits and force_of(old_key) >= 2:
            message = f"Adds a permission ({quote(text, 60)}) to the rule {quote(pair.old.text)}."
            return [Finding("exception", message, pair.new, locate(pair.new, span[0]))]
    return []


def _count(pattern: re.Pattern[str], text: str, phrase: str) -> int:
    return sum(1 for m in pattern.finditer(text) if m.group(0) == phrase)


def number_value(token: str) -> float | None:
    match = _NUMBER.match(token)
    if match:
        return float(match.group(1).replace(",", "."))
    return rules.NUMBER_WORDS.get(token)


def bound_direction(tokens: Sequence[str], index: int) -> Literal["upper", "lower", ""]:
    """Whether the number at `index` is a ceiling ("at most 400 lines") or a floor ("two approvals")."""
    before = " ".join(tokens[max(0, index - 4) : index])
    after = " ".join(tokens[index + 1 : index + 3])
    for text, nearest in ((before, -1), (after, 0)):
        uppers = find_all(rules.UPPER_BOUND, text)
        lowers = find_all(rules.LOWER_BOUND, text)
        if uppers or lowers:
            best_upper = uppers[nearest].start if uppers else None
            best_lower = lowers[nearest].start if lowers else None
            if best_upper is None:
                return "lower"
            if best_lower is None:
                return "upper"
            closer_upper = best_upper > best_lower if nearest == -1 else best_upper < best_lower
            return "upper" if closer_upper else "lower"
    return ""


def _numbers(tokens: Sequence[str], indexes: Iterable[int]) -> list[tuple[int, float]]:
    found = [(i, number_value(tokens[i])) for i in indexes]
    return [(i, v) for i, v in found if v is not None]


def loosened_threshold(pair: Pair, diff: WordDiff) -> list[Finding]:
    """threshold: a number in a rule moved the lax way (approvals down, retries or size limits up)."""
    if not is_rule(pair.old) and pair.old.kind != "item":
        return []
    old_tokens, new_tokens = diff.old_fixed, pair.new.tokens
    matcher = SequenceMatcher(None, list(old_tokens), list(new_tokens), autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag != "replace":
            continue
        olds = _numbers(old_tokens, range(i1, i2))
        news = _numbers(new_tokens, range(j1, j2))
        if len(olds) != 1 or len(news) != 1:
            continue
        (i, before), (j, after) = olds[0], news[0]
        direction = bound_direction(old_tokens, i) or bound_direction(new_tokens, j)
        looser = (direction == "upper" and after > before) or (
            direction == "lower" and after < before
        )
        if looser:
            message = (
                f"Loosens the number in the rule {quote(pair.old.text)}: "
                f"{old_tokens[i]} became {new_tokens[j]}."
            )
            return [Finding("threshold", message, pair.new, locate(pair.new, new_tokens[j]))]
    return []


def _pathlike(token: str) -> bool:
    return bool(_PATHLIKE.search(token)) and any(ch.isalnum() or ch == "*" for ch in token)


def _broader(old: str, new: str) -> bool:
    core_old, core_new = old.rstrip("*/"), new.rstrip("*/")
    if new.count("*") > old.count("*") and core_old.startswith(core_new):
        return True
    return (core_new != core_old and core_old.startswith(core_new + "/")) or core_new in (
        "",
        ".",
        "*",
    )


def widened_scope(pair: Pair, diff: WordDiff) -> list[Finding]:
    """scope: more paths where only some are allowed, fewer where some are protected, wider access."""
    old, new = pair.old, pair.new
    found: list[Finding] = []
    access = bool(rules.ACCESS_CONTEXT.search(old.key)) or old.kind in ("line", "code")
    for before, after in diff.replaced:
        for a, b in zip(before, after, strict=False):
            if (access and (a, b) in rules.ACCESS_WIDER) or _stem_pair(a, b, rules.ACCESS_WIDER):
                message = f"Widens access in {quote(old.text)}: {a} became {b}."
                return [Finding("scope", message, new, locate(new, b))]
    own = orientation(old.key) or (context_orientation(old) if old.kind in ("item", "row") else "")
    added = diff.inserted_words - diff.deleted_words
    removed = diff.deleted_words - diff.inserted_words
    if own == "allow":
        widened = [w for w in added if _pathlike(w) or rules.EVERYTHING.fullmatch(w)]
        widened += [
            b
            for before, after in diff.replaced
            for a, b in zip(before, after, strict=False)
            if _pathlike(a) and _pathlike(b) and _broader(a, b)
        ]
        if widened:
            message = f"Widens what the agent may touch in {quote(old.text)}: adds {widened[0]}."
            found.append(Finding("scope", message, new, locate(new, widened[0])))
    else:
        if own == "deny" or any(m.kind == "prohibit" for m in markers(old.key)):
            narrowed = [w for w in removed if _pathlike(w)]
        elif is_rule(old) and force(old) >= 2:
            pure = Counter(
                w
                for index, span in diff.deleted
                for w in span
                if not any(i == index for i, _ in diff.inserted)
            )
            narrowed = [w for w in pure if _pathlike(w) and w in removed]
        else:
            narrowed = []
        if narrowed:
            message = f"Takes {narrowed[0]} out of the protected paths in {quote(old.text)}."
            found.append(Finding("scope", message, new, new.first_changed_line))
    return found


def _stem_pair(a: str, b: str, table: Iterable[tuple[str, str]]) -> bool:
    return any(_word_is(a, left) and _word_is(b, right) for left, right in table)


def _word_is(word: str, entry: str) -> bool:
    return word.startswith(entry[:-1]) if entry.endswith("*") else word == entry


def removed_check(pair: Pair, diff: WordDiff) -> list[Finding]:
    """remove-check: a test, lint or review step (or a strict flag) taken out of a rule."""
    old, new = pair.old, pair.new
    if not (is_rule(old) or old.kind in ("code", "row")):
        return []
    inserted = " ".join(diff.inserted_words)
    for word in diff.deleted_words - diff.inserted_words:
        kept = word in inserted or word in new.key or stem(word) in diff.elsewhere
        if rules.CHECK_WORDS.fullmatch(word) and not kept:
            message = f"Removes the check {quote(word)} from {quote(old.text)}."
            return [Finding("remove-check", message, new, new.first_changed_line)]
    for flag in find_all(rules.STRICT_FLAGS, old.key):
        if _count(rules.STRICT_FLAGS, new.key, flag.text) < _count(
            rules.STRICT_FLAGS, old.key, flag.text
        ):
            message = f"Drops the strict flag {quote(flag.text)} from {quote(old.text)}."
            return [Finding("remove-check", message, new, new.first_changed_line)]
    return []


def swapped_words(pair: Pair, diff: WordDiff) -> list[Finding]:
    """flip: a word swapped for its opposite, or two words trading places around a "not"/"before"."""
    for before, after in diff.replaced:
        for a, b in zip(before, after, strict=False):
            if _stem_pair(a, b, rules.ANTONYMS) or _stem_pair(b, a, rules.ANTONYMS):
                message = f"Swaps {quote(a)} for its opposite {quote(b)} in {quote(pair.old.text)}."
                return [Finding("flip", message, pair.new, locate(pair.new, b))]
    deleted, inserted = diff.deleted_words, diff.inserted_words
    if (
        _free_negations(" ".join(diff.old_fixed)) > _free_negations(pair.new.key)
        and overlap(content_stems(pair.old.key), content_stems(pair.new.key)) >= 0.8
    ):
        message = f"Drops the negation from {quote(pair.old.text)}, so it says the opposite: {quote(pair.new.text)}."
        return [Finding("flip", message, pair.new, pair.new.first_changed_line)]
    contrast = re.search(
        r"(?<!\S)(not|never|instead|rather|than|over|before|after|but|вместо|не|а|чем|до|после|но)(?!\S)",
        pair.new.key,
    )
    if deleted and deleted == inserted and contrast:
        words = " and ".join(quote(w) for w in list(deleted)[:2])
        message = f"Swaps {words} in {quote(pair.old.text)}, so the rule says the opposite."
        return [Finding("flip", message, pair.new, pair.new.first_changed_line)]
    return []


_NEGATION = re.compile(r"(?<!\S)(?:not|не)(?!\S)")


def _free_negations(key: str) -> int:
    """Negations outside modal and exception phrases: «не входит», "is not counted", not "do not"."""
    spans = [(m.start, m.end) for m in markers(key)]
    spans += [(m.start(), m.end()) for m in rules.EXCEPTION.finditer(key)]  # "does not apply"
    return sum(1 for m in _NEGATION.finditer(key) if not any(a <= m.start() < b for a, b in spans))


def dropped_items(pair: Pair, diff: WordDiff) -> list[Finding]:
    """delete-rule (in part): an item of a rule's list of forbidden things dropped."""
    old = pair.old
    if not is_rule(old) or force(old) < 2:
        return []
    for index, span in diff.deleted:
        if any(span == s for _, s in diff.inserted):
            continue
        joins = {"or", "and", "и", "или", "nor", "ни"}
        neighbours = {span[0], span[-1]}
        if index > 0:
            neighbours.add(diff.old_fixed[index - 1])
        if index + len(span) < len(diff.old_fixed):
            neighbours.add(diff.old_fixed[index + len(span)])
        content = content_stems(" ".join(span))
        joined = neighbours & joins or set(span) & joins
        if content and joined and not _inserted_elsewhere(diff, span):
            message = f"Drops {quote(' '.join(span), 50)} from the rule {quote(old.text)}."
            return [Finding("delete-rule", message, pair.new, pair.new.first_changed_line)]
    return []


def _inserted_elsewhere(diff: WordDiff, span: tuple[str, ...]) -> bool:
    inserted = {stem(w) for _, s in diff.inserted for w in s} | diff.elsewhere
    return bool(content_stems(" ".join(span)) <= inserted)


def added_judgement(pair: Pair) -> list[Finding]:
    """vague: a concrete rule handed over to the agent's judgement."""
    if not is_rule(pair.old):
        return []
    hits = [m for m in find_all(rules.JUDGEMENT, pair.new.key) if m.text not in pair.old.key]
    if hits:
        message = f"Replaces the concrete rule {quote(pair.old.text)} with {quote(hits[0].text)}."
        return [Finding("vague", message, pair.new, locate(pair.new, hits[0].text))]
    return []


# --- findings on added text ------------------------------------------------------------------------


def bypass_hits(statement: Statement) -> list[Match]:
    """Phrases that get around hooks, CI, tests, review or the trust boundary, and are not forbidden."""
    text = plain(statement.text)
    hits: list[Match] = []
    flags = list(rules.BYPASS_FLAGS.finditer(statement.text))
    for flag in flags:
        at = text.find(plain(flag.group(0)).split()[0]) if plain(flag.group(0)) else -1
        hits.append(Match("bypass-flag", max(at, 0), max(at, 0) + 1, flag.group(0)))
    if statement.kind in ("item", "para", "row", "heading"):
        hits += find_all(rules.BYPASS_PHRASES, text, "bypass-phrase")
        if rules.GUARD_OBJECTS.search(text):
            hits += find_all(rules.BYPASS_VERBS, text, "bypass-verb")
            for release in markers(text):
                if release.kind == "release":
                    hits.append(release)
        merge = rules.SELF_MERGE_VERBS.search(text)
        if merge and rules.SELF_WORDS.search(text):
            hits.append(Match("self-merge", merge.start(), merge.end(), merge.group(0)))
        despite = rules.DESPITE.search(text)
        failing = despite and rules.FAILURE_WORDS.search(text, despite.end())
        if despite and failing and rules.GUARD_OBJECTS.search(text):
            hits.append(Match("despite", despite.start(), despite.end(), despite.group(0)))
        verb = rules.UNTRUSTED_VERBS.search(text)
        if verb and rules.UNTRUSTED_SOURCES.search(text) and _commanding(text):
            hits.append(Match("untrusted", verb.start(), verb.end(), verb.group(0)))
    if forbidden_by_context(statement):
        return []
    if _bare_infinitive_item(statement):
        return [h for h in hits if h.kind == "bypass-flag" and not negated_at(text, h.start)]
    return [h for h in hits if not negated_at(text, h.start)]


def _bare_infinitive_item(statement: Statement) -> bool:
    """«- Пропускать проверки CI.»: a Russian list item in the infinitive names an act, orders nothing.

    Such items fill «Запрещено» lists; an order to skip would be an imperative («пропустите»).
    """
    tokens = statement.tokens
    return (
        statement.kind == "item"
        and bool(tokens)
        and bool(rules.RU_INFINITIVE.match(tokens[0]))
        and not markers(statement.key)
    )


def _commanding(text: str) -> bool:
    """Instruction words that are not denied ("data, not instructions" denies them)."""
    for match in rules.INSTRUCTION_WORDS.finditer(text):
        before = text[max(0, match.start() - 16) : match.start()].split()[-3:]
        if not {"not", "never", "no", "не", "нет", "ни"} & set(before):
            return True
    return False


def bypass_added(old: Statement | None, new: Statement) -> list[Finding]:
    before = Counter(h.text for h in bypass_hits(old)) if old else Counter[str]()
    for hit in bypass_hits(new):
        if before[hit.text] > 0:
            before[hit.text] -= 1
            continue
        what = (
            "trusts instructions from untrusted text"
            if hit.kind == "untrusted"
            else "bypasses a check"
        )
        message = f"Adds an instruction that {what}: {quote(new.text)}."
        return [Finding("bypass", message, new, locate(new, hit.text))]
    return []


_RISKS: tuple[tuple[str, re.Pattern[str], str], ...] = (
    ("dockerfile-pipe-shell", rules.PIPE_TO_SHELL, "pipes a downloaded script into a shell"),
    ("dockerfile-pipe-shell", rules.DOWNLOAD_THEN_RUN, "downloads a script and runs it unverified"),
    ("dockerfile-tls", rules.TLS_OFF, "turns off TLS or signature verification"),
    ("dockerfile-chmod", rules.WORLD_WRITABLE, "makes files world-writable"),
    ("privileged", rules.PRIVILEGED, "grants the container or user elevated privileges"),
    ("dockerfile-root", rules.RUN_AS_ROOT, "runs as root"),
    ("scope", rules.WIDE_PERMISSION, "grants write or admin permissions"),
)


def risk_hits(statement: Statement) -> list[tuple[str, str, int]]:
    """(rule, what, offset) for each unsafe shell, container or permission shape not forbidden here."""
    text = statement.text
    out = []
    negatable = statement.kind not in ("instruction", "line")
    spaced = plain(text)
    for rule, pattern, what in _RISKS:
        for match in pattern.finditer(text):
            if (
                rule == "dockerfile-pipe-shell"
                and pattern is rules.DOWNLOAD_THEN_RUN
                and rules.CHECKSUM.search(text)
            ):
                continue
            if negatable:
                if forbidden_by_context(statement):
                    continue
                first = plain(match.group(0)).split()
                at = spaced.find(first[0]) if first else -1
                if at >= 0 and negated_at(spaced, at):
                    continue
            out.append((rule, what, match.start()))
    return out


def newly_risky(old: Statement | None, new: Statement) -> list[Finding]:
    before = Counter(rule for rule, _, _ in risk_hits(old)) if old else Counter[str]()
    found = []
    for rule, what, offset in risk_hits(new):
        if before[rule] > 0:
            before[rule] -= 1
            continue
        found.append(
            Finding(rule, f"Adds a step that {what}: {quote(new.text)}.", new, new.line_at(offset))
        )
    return found


def added_findings(
    new: Statement, known_rules: Sequence[Statement], lost_rule: bool
) -> list[Finding]:
    """Weakenings in a statement the change adds."""
    found = bypass_added(None, new) + newly_risky(None, new)
    if new.kind == "heading":
        return found
    if (
        new.kind in ("item", "row", "code")
        and context_orientation(new) == "allow"
        and not any(m.kind in rules.NEGATIVE for m in markers(new.key))
    ):
        found.append(
            Finding(
                "scope",
                f"Adds {quote(new.text)} to the list of what the agent may do or touch.",
                new,
            )
        )
    if new.kind == "code":
        return found  # an example's words are not instructions; its flags and shapes were checked
    found += conflicting_permission(new, known_rules)
    found += permitted_paths(new)
    judgement = rules.JUDGEMENT.search(new.key)
    if judgement and (lost_rule or _overlapping_rule(new, known_rules) is not None):
        message = f"Hands a rule over to judgement: {quote(new.text)}."
        found.append(Finding("vague", message, new, locate(new, judgement.group(0))))
    return found


def permitted_paths(new: Statement) -> list[Finding]:
    """scope: a new permission to edit some path ("You may also edit `infra/`")."""
    key = new.key
    kinds = {m.kind for m in markers(key)}
    if "permit" not in kinds or kinds & {"prohibit", "discourage"}:
        return []
    paths = [t for t in new.tokens if _pathlike(t)]
    if paths and rules.EDIT_VERBS.search(key):
        message = f"Permits the agent to edit {paths[0]}: {quote(new.text)}."
        return [Finding("scope", message, new, locate(new, paths[0]))]
    return []


def _overlapping_rule(
    new: Statement, known_rules: Sequence[Statement], *, negative: bool = False
) -> Statement | None:
    mine = content_stems(new.key)
    if len(mine) < 2:
        return None
    best: tuple[float, Statement] | None = None
    for rule in known_rules:
        if (
            negative
            and not any(m.kind == "prohibit" for m in markers(rule.key))
            and not forbidden_by_context(rule)
        ):
            continue
        theirs = content_stems(rule.key)
        shared = len(mine & theirs)
        score = overlap(mine, theirs)
        if shared >= 2 and score >= 0.3 and (best is None or score > best[0]):
            best = (score, rule)
    return best[1] if best else None


def conflicting_permission(new: Statement, known_rules: Sequence[Statement]) -> list[Finding]:
    """negate / exception: a new line that permits what a standing rule forbids, or carves it out."""
    kinds = {m.kind for m in markers(new.key)}
    if force(new) >= 3 and not kinds & {"permit", "release"}:
        return []
    if kinds & {"permit", "release"} and not kinds & {"prohibit"}:
        rule = _overlapping_rule(
            new, known_rules, negative="permit" in kinds and "release" not in kinds
        )
        if rule is not None:
            return [
                Finding(
                    "negate" if "permit" in kinds and "release" not in kinds else "exception",
                    f"Permits what the rule {quote(rule.text)} forbids or requires: {quote(new.text)}.",
                    new,
                )
            ]
    if rules.EXCEPTION.search(new.key) and force(new) < 3:
        rule = _overlapping_rule(new, known_rules)
        if rule is not None:
            return [
                Finding(
                    "exception",
                    f"Adds an exception to the rule {quote(rule.text)}: {quote(new.text)}.",
                    new,
                )
            ]
    return []


# --- findings on removed text ----------------------------------------------------------------------


def removed_findings(old: Statement) -> list[Finding]:
    """delete-rule / remove-check / delete-section for a statement the change drops."""
    if old.hidden or old.kind == "header":
        return []
    if old.kind == "heading":
        if rules.POLICY_HEADING.search(normalise(old.text)):
            return [Finding("delete-section", f"Deletes the section {quote(old.text)}.", old)]
        return []
    checks = rules.CHECK_WORDS.search(old.key) or rules.STRICT_FLAGS.search(old.key)
    if old.kind in ("code", "row", "instruction", "line"):
        if checks:
            return [Finding("remove-check", f"Removes the check step {quote(old.text)}.", old)]
        if old.kind != "row":
            return []
    if not is_rule(old):
        return []
    kinds = {m.kind for m in markers(old.key)}
    if context_orientation(old) == "allow" and not kinds & {"prohibit", "oblige"}:
        return []  # dropping an item of an allow-list makes it stricter
    if kinds and kinds <= {"permit", "release"}:
        return []
    if checks and old.kind in ("item", "row") and not forbidden_by_context(old):
        return [Finding("remove-check", f"Removes the required step {quote(old.text)}.", old)]
    return [
        Finding(
            "delete-rule", f"Deletes the rule {quote(old.text)}, which is not kept elsewhere.", old
        )
    ]
