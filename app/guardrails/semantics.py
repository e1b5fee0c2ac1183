"""What a statement says: how binding it is, whether it is a rule, and what its section and lead-in bind."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from difflib import SequenceMatcher
from functools import lru_cache
from typing import Literal

from app.guardrails import rules
from app.guardrails.rules import FORCE, NEGATIVE, PLAIN_FORCE, Match
from app.guardrails.statements import Statement, normalise

Binding = Literal["policy", "nonbinding", "neutral"]
Orientation = Literal["deny", "allow", ""]

_PUNCT = re.compile(r"([,;:!?()\[\]{}])")
_SENTENCE_DOT = re.compile(r"\.(?=\s|$)")
_HARD_BREAK = re.compile(r"(?<!\S)(?:;|but|however|otherwise|но|однако|иначе|а)(?!\S)")
_NUMERIC = re.compile(r"^\d+(?:[.,]\d+)?%?$")


@lru_cache(maxsize=8192)
def markers(key: str) -> tuple[Match, ...]:
    return rules.modal_markers(key)


def modal_counts(key: str) -> Counter[str]:
    return Counter(m.kind for m in markers(key))


def opens_with_order(tokens: tuple[str, ...], kind: str) -> bool:
    """An imperative opening: an English instruction verb, a Russian imperative or a listed infinitive."""
    if not tokens:
        return False
    first = tokens[0]
    if first in rules.EN_VERBS or rules.RU_IMPERATIVE.match(first):
        return True
    return kind in ("item", "row") and bool(rules.RU_INFINITIVE.match(first))


def force_of(key: str, kind: str = "para") -> int:
    """3 for must/never, 2 for a plain order, 1 for should/avoid, 0 for may/no need to."""
    levels = [FORCE[m.kind] for m in markers(key)]  # type: ignore[index]  # kinds are Modality
    if any(level >= 1 for level in levels):
        return max(levels)
    if levels and not opens_with_order(tuple(key.split()), kind):
        return 0
    return PLAIN_FORCE


def force(statement: Statement) -> int:
    return force_of(statement.key, statement.kind)


def binding(headings: tuple[str, ...]) -> Binding:
    """Whether the enclosing sections bind: one non-binding heading ("Examples", «Устарело») frees all."""
    keys = [normalise(h) for h in headings]
    if any(rules.NONBINDING_HEADING.search(k) for k in keys):
        return "nonbinding"
    if any(rules.POLICY_HEADING.search(k) for k in keys):
        return "policy"
    return "neutral"


def orientation(key: str) -> Orientation:
    """Whether a text lists what is forbidden or protected ("deny") or what is allowed ("allow")."""
    if rules.DENY_CONTEXT.search(key):
        return "deny"
    if rules.ALLOW_CONTEXT.search(key):
        return "allow"
    return ""


def context_orientation(statement: Statement) -> Orientation:
    if statement.lead_in:
        found = orientation(normalise(statement.lead_in))
        if found:
            return found
    if statement.headings:
        return orientation(normalise(statement.headings[-1]))
    return ""


def forbidden_by_context(statement: Statement) -> bool:
    """A bare item under «## Запрещено» or "Never:" names a forbidden act; a code line under "Bad:" too."""
    if statement.kind == "code":
        return bool(rules.COUNTER_EXAMPLE.search(normalise(statement.lead_in)))
    if statement.kind not in ("item", "row") or any(
        m.kind not in NEGATIVE for m in markers(statement.key)
    ):
        return False
    context = [statement.lead_in] if statement.lead_in else list(statement.headings[-1:])
    return any(rules.FORBID_CONTEXT.search(normalise(text)) for text in context)


def prohibits(statement: Statement) -> bool:
    """A statement that forbids: by its own words ("never", «не запускайте») or by its list's heading."""
    return forbidden_by_context(statement) or any(
        m.kind in NEGATIVE for m in markers(statement.key)
    )


def is_rule(statement: Statement, *, by_section: bool = True) -> bool:
    """Whether removing or changing the statement changes what the agent must or must not do.

    `by_section=False` asks whether the words alone make a rule, not the policy heading above them.
    """
    if statement.kind in ("heading", "header"):
        return False
    if statement.kind in ("instruction", "line"):
        return True
    if any(FORCE[m.kind] >= 1 for m in markers(statement.key)):  # type: ignore[index]  # Modality
        return True
    if statement.kind == "code":
        return False
    if by_section and binding(statement.headings) == "policy":
        return True
    if statement.kind in ("item", "row") and context_orientation(statement) == "deny":
        return True
    return opens_with_order(statement.tokens, statement.kind)


def plain(text: str) -> str:
    """Normalised text that keeps clause punctuation as separate words, for finding negation scope."""
    flat = unicodedata.normalize("NFKC", text).lower().replace("ё", "е")
    for markup in ("**", "__", "~~", "`", "<!--", "-->", "«", "»", "\u201c", "\u201d", '"'):
        flat = flat.replace(markup, " ")
    flat = flat.replace("\u2019", "'")
    flat = _PUNCT.sub(r" \1 ", flat)
    flat = _SENTENCE_DOT.sub(" . ", flat)
    return " ".join(flat.split())


def negated_at(text: str, position: int) -> bool:
    """Whether a prohibition governs the phrase at `position` of `plain` text.

    A "never"/«не …йте» before it, up to a semicolon or "but", or anywhere in its comma clause.
    """
    clause_start = max(text.rfind(",", 0, position), text.rfind(";", 0, position), -1) + 1
    ends = [i for i in (text.find(",", position), text.find(";", position)) if i >= 0]
    clause_end = min(ends) if ends else len(text)
    for marker in markers(text):
        if marker.kind not in NEGATIVE:
            continue
        if clause_start <= marker.start < clause_end:
            return True
        if marker.end <= position and not _HARD_BREAK.search(text, marker.end, position):
            return True
    return False


def stem(word: str) -> str:
    if any(ch in word for ch in "/.*`-_@:="):
        return word
    if any("\u0400" <= ch <= "\u04ff" for ch in word):
        return word[:5]
    for suffix, replacement in (("ies", "y"), ("ing", ""), ("ed", ""), ("es", ""), ("s", "")):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3 and not word.endswith("ss"):
            return word[: -len(suffix)] + replacement
    return word


def content_tokens(key: str) -> list[str]:
    """The words of a statement without its modal phrases: what the rule is about."""
    spans = [(m.start, m.end) for m in markers(key)]
    out = []
    position = 0
    for token in key.split():
        start = key.index(token, position)
        position = start + len(token)
        if not any(s <= start < e for s, e in spans):
            out.append(token)
    return out


def content_stems(key: str) -> set[str]:
    stop = rules.ENGLISH_STOPWORDS | rules.RUSSIAN_STOPWORDS
    return {stem(t) for t in content_tokens(key) if t not in stop and not _NUMERIC.match(t)}


def similarity(a: Statement, b: Statement) -> float:
    """How alike two statements' subjects are, ignoring their modal words (0..1)."""
    left, right = content_tokens(a.key), content_tokens(b.key)
    if not left and not right:
        left, right = list(a.tokens), list(b.tokens)
    return SequenceMatcher(None, left, right, autojunk=False).ratio()


def overlap(a: set[str], b: set[str]) -> float:
    """Share of `a` found in `b`."""
    return len(a & b) / len(a) if a else 0.0
