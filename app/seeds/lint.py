"""Checking a set of seed texts: structure, en/ru consistency, placeholders, secrets, completeness."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath

from app.seeds.catalog import (
    CONTRACT_PLACEHOLDERS,
    CONTRACT_ROLE,
    CONTRACT_STAGE,
    CONTRACT_TERMS,
    DEFAULT_LOCALE,
    LOCALES,
    NOT_SEEDS,
    PLACEHOLDERS,
    POLICY_INDEX,
    POLICY_TOPICS,
    SECTIONS,
    SeedName,
    parse_seed_name,
    required_seed_names,
)
from app.seeds.render import placeholders_in, scan_placeholders
from app.seeds.resolve import resolve_seed

# rule id -> what it checks; the ids are what findings, the docs and `--format github` titles use.
RULES: dict[str, str] = {
    "seed-name": "the file name is a catalogue name: known stage, role, kind and locale",
    "section-missing": "every required section heading of the file's locale is present",
    "section-duplicate": "no required section heading appears twice",
    "section-empty": "every required section has some text",
    "policy-topic": "the policy block covers secrets, weakening, scope and untrusted text",
    "pair-sections": "the en and ru variants of a seed have the same sections in the same order",
    "pair-policy": "the en and ru policy blocks have as many bullets and the same topics",
    "placeholder-malformed": "every placeholder is written `{{ name }}`",
    "placeholder-unknown": "every placeholder is one the app knows how to fill",
    "secret": "no token, key or password shapes",
    "hardcoded-path": "no literal path where a placeholder names it",
    "matrix": "the catalogue is complete: stages, roles and defaults, for every kind and locale",
    "contract": "the self-improve work seed states the diagnosis contract the LLM engine relies on",
}

# Shapes of credentials (kind, pattern); a finding names the kind and never repeats the value.
SECRET_SHAPES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("GitHub token", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,})")),
    ("AWS access key id", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("private key", re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")),
    ("Slack token", re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}")),
    ("API key", re.compile(r"\b(?:sk-(?:proj-)?[A-Za-z0-9_-]{20,}|glpat-[A-Za-z0-9_-]{20,})")),
    ("Google API key", re.compile(r"\bAIza[0-9A-Za-z_-]{35}")),
    ("JSON web token", re.compile(r"\beyJ[\w-]{10,}\.eyJ[\w-]{10,}\.[\w-]{10,}")),
    (
        "password assignment",
        re.compile(
            r"(?i)\b(?:password|passwd|secret|api[_-]?key|token)\s*[:=]\s*['\"][^'\"\s{}]{8,}['\"]"
        ),
    ),
)

# Literal paths and names that a configurable placeholder stands for (pattern, placeholder).
HARDCODED: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(?<![\w./-])(?:AGENTS|CLAUDE|GEMINI)\.md\b"), "instructions_path"),
    (re.compile(r"\.github/copilot-instructions\.md"), "instructions_path"),
    (
        re.compile(r"`(?:main|master)`|\b(?:main|master) branch\b|ветк\w* `?(?:main|master)\b"),
        "default_branch",
    ),
)

_FENCE = re.compile(r"\s*(```|~~~)")
_HEADING = re.compile(r"(?P<hashes>#{1,6})\s+(?P<title>.+?)\s*#*\s*\Z")
_BULLET = re.compile(r" ?(?:[-*+]|\d+[.)])\s+\S")


@dataclass(frozen=True, order=True)
class Finding:
    """One problem: the seed file (name as given), 1-based line (0 = the whole file), rule, message."""

    file: str
    line: int
    rule: str
    message: str


@dataclass(frozen=True)
class _Section:
    title: str
    line: int
    body: tuple[str, ...]


def _sections(text: str) -> list[_Section]:
    """The `## ` sections of a markdown text, outside fenced code; a `#`..`##` heading ends one."""
    sections: list[_Section] = []
    title, start = "", 0
    body: list[str] = []
    in_fence = False
    for number, line in enumerate(text.splitlines(), start=1):
        if _FENCE.match(line):
            in_fence = not in_fence
        heading = None if in_fence else _HEADING.match(line)
        if heading and len(heading["hashes"]) <= 2:
            if title:
                sections.append(_Section(title, start, tuple(body)))
            # A `#` heading closes the section without opening one: its text belongs to none.
            title = heading["title"] if len(heading["hashes"]) == 2 else ""
            start, body = number, []
            continue
        if title:
            body.append(line)
    if title:
        sections.append(_Section(title, start, tuple(body)))
    return sections


def _policy(sections: list[_Section], locale: str) -> _Section | None:
    title = SECTIONS[locale][POLICY_INDEX]
    return next((s for s in sections if s.title == title), None)


def _topics(policy: _Section, locale: str) -> frozenset[str]:
    block = "\n".join(policy.body)
    return frozenset(t for t, by_locale in POLICY_TOPICS.items() if by_locale[locale].search(block))


def _bullets(policy: _Section) -> int:
    return sum(1 for line in policy.body if _BULLET.match(line))


def _is_content(line: str) -> bool:
    # Sub-headings and HTML comments are not content: a section holding only those says nothing.
    text = line.strip()
    return bool(text) and not text.startswith(("#", "<!--"))


def _check_structure(name: str, text: str, locale: str) -> list[Finding]:
    sections = _sections(text)
    findings: list[Finding] = []
    for title in SECTIONS[locale]:
        found = [s for s in sections if s.title == title]
        if not found:
            findings.append(Finding(name, 1, "section-missing", f"no `## {title}` section"))
            continue
        findings += [
            Finding(name, dup.line, "section-duplicate", f"`## {title}` appears again")
            for dup in found[1:]
        ]
        if not any(_is_content(line) for line in found[0].body):
            findings.append(Finding(name, found[0].line, "section-empty", f"`## {title}` is empty"))
    policy = _policy(sections, locale)
    if policy is not None:
        absent = [t for t in POLICY_TOPICS if t not in _topics(policy, locale)]
        if absent:
            message = f"the policy block does not cover: {', '.join(absent)}"
            findings.append(Finding(name, policy.line, "policy-topic", message))
    return findings


def _outline(sections: list[_Section], locale: str) -> list[str]:
    """Section titles in English where the catalogue maps them, `(other)` where it does not."""
    known = SECTIONS[locale]
    english = SECTIONS[DEFAULT_LOCALE]
    return [english[known.index(s.title)] if s.title in known else "(other)" for s in sections]


def _check_pair(en_name: str, en_text: str, name: str, text: str, locale: str) -> list[Finding]:
    findings: list[Finding] = []
    en_sections, sections = _sections(en_text), _sections(text)
    en_outline, outline = _outline(en_sections, DEFAULT_LOCALE), _outline(sections, locale)
    if en_outline != outline:
        at = next(
            (i for i, (a, b) in enumerate(zip(en_outline, outline, strict=False)) if a != b),
            min(len(en_outline), len(outline)),
        )
        line = sections[at].line if at < len(sections) else 1
        message = (
            f"sections differ from {en_name}: it has [{', '.join(en_outline)}], "
            f"this has [{', '.join(outline)}]"
        )
        findings.append(Finding(name, line, "pair-sections", message))
    en_policy, policy = _policy(en_sections, DEFAULT_LOCALE), _policy(sections, locale)
    if en_policy is None or policy is None:
        return findings  # section-missing already says so
    en_count, count = _bullets(en_policy), _bullets(policy)
    if en_count != count:
        message = f"policy has {count} bullets, {en_name} has {en_count}"
        findings.append(Finding(name, policy.line, "pair-policy", message))
    en_topics, topics = _topics(en_policy, DEFAULT_LOCALE), _topics(policy, locale)
    for topic in sorted(en_topics - topics):
        message = f"policy topic {topic!r} is in {en_name} but not here"
        findings.append(Finding(name, policy.line, "pair-policy", message))
    for topic in sorted(topics - en_topics):
        message = f"policy topic {topic!r} is here but not in {en_name}"
        findings.append(Finding(name, policy.line, "pair-policy", message))
    return findings


def _check_text(name: str, text: str) -> list[Finding]:
    findings: list[Finding] = []
    for use in scan_placeholders(text):
        if use.name is None:
            message = f"malformed placeholder {use.raw!r}: write `{{{{ name }}}}`"
            findings.append(Finding(name, use.line, "placeholder-malformed", message))
        elif use.name not in PLACEHOLDERS:
            message = f"unknown placeholder {use.raw!r} (known: {', '.join(sorted(PLACEHOLDERS))})"
            findings.append(Finding(name, use.line, "placeholder-unknown", message))
    for number, line in enumerate(text.splitlines(), start=1):
        for kind, shape in SECRET_SHAPES:
            for match in shape.finditer(line):
                message = f"looks like a {kind} ({match[0][:4]}…); seeds are shared text, remove it"
                findings.append(Finding(name, number, "secret", message))
        for pattern, placeholder in HARDCODED:
            for match in pattern.finditer(line):
                message = (
                    f"hard-coded {match[0]!r}: write `{{{{ {placeholder} }}}}`, it is configurable"
                )
                findings.append(Finding(name, number, "hardcoded-path", message))
    return findings


def _check_pairs(files: Mapping[str, str], seeds: Mapping[str, SeedName]) -> list[Finding]:
    variants: dict[tuple[str, str], dict[str | None, str]] = defaultdict(dict)
    for name, seed in seeds.items():
        variants[(str(PurePosixPath(name).parent), seed.base)][seed.locale] = name
    findings: list[Finding] = []
    for by_locale in variants.values():
        en_name = by_locale.get(DEFAULT_LOCALE) or by_locale.get(None)
        if en_name is None:
            continue
        for locale, name in sorted(by_locale.items(), key=lambda item: item[1]):
            if locale is not None and locale != DEFAULT_LOCALE:
                findings += _check_pair(en_name, files[en_name], name, files[name], locale)
    return findings


def _check_matrix(files: Mapping[str, str]) -> list[Finding]:
    return [
        Finding(name, 0, "matrix", "missing: the catalogue needs this seed")
        for name in required_seed_names()
        if name not in files
    ]


def _check_contract(files: Mapping[str, str]) -> list[Finding]:
    findings: list[Finding] = []
    checked: set[str] = set()
    for role in (CONTRACT_ROLE, None):
        for locale in LOCALES:
            chosen = resolve_seed(files, CONTRACT_STAGE, role, "work", locale).chosen
            if chosen is None or chosen in checked:
                continue
            checked.add(chosen)
            text = files[chosen]
            lacking = [
                f"{{{{ {p} }}}}" for p in CONTRACT_PLACEHOLDERS if p not in placeholders_in(text)
            ]
            lacking += [f"`{term}`" for term in CONTRACT_TERMS if f"`{term}`" not in text]
            if lacking:
                request = f"stage={CONTRACT_STAGE} role={role} locale={locale}"
                message = f"the seed for {request} lacks the contract's {', '.join(lacking)}"
                findings.append(Finding(chosen, 1, "contract", message))
    return findings


def lint_seeds(files: Mapping[str, str], *, complete: bool = True) -> list[Finding]:
    """Every finding over the seed texts (file name -> text), sorted by file, line and rule.

    Names may carry a directory (`prompt_seeds/dev-work.md`): the file name decides what the seed
    is, and en/ru variants are paired within one directory. `README.md` is documentation, skipped.
    `complete=False` lints a repository that ships only some seeds: the catalogue-completeness
    (`matrix`) and `contract` rules, which only our own catalogue (bare names) must satisfy, are skipped.
    """
    findings: list[Finding] = []
    seeds: dict[str, SeedName] = {}
    for name, text in files.items():
        if PurePosixPath(name).name in NOT_SEEDS:
            continue
        seed = parse_seed_name(PurePosixPath(name).name)
        if isinstance(seed, str):
            findings.append(Finding(name, 1, "seed-name", f"not a seed name: {seed}"))
        else:
            seeds[name] = seed
            findings += _check_structure(name, text, seed.text_locale)
        findings += _check_text(name, text)
    findings += _check_pairs(files, seeds)
    if complete:
        findings += _check_matrix(files) + _check_contract(files)
    return sorted(findings)
