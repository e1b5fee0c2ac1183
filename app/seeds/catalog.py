"""The vocabulary of prompt seeds: stages, roles, kinds, locales, headings, placeholders, file names."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

STAGES: tuple[str, ...] = (
    "intake",
    "vision",
    "prd",
    "arch",
    "design",
    "plan",
    "dev",
    "doc-audit",
    "qa",
    "release",
    "postdeploy",
    "ops",
    "rethink",
    "self-improve",
    "discussion",
)
ROLES: tuple[str, ...] = ("pm", "sa", "em", "dev", "reviewer", "qa", "sre", "km")
Kind = Literal["work", "review"]
KINDS: tuple[Kind, ...] = ("work", "review")
LOCALES: tuple[str, ...] = ("en", "ru")
# An unsuffixed stage or default seed (`dev-work.md`) is English; `_en` is an optional explicit spelling.
DEFAULT_LOCALE = "en"

# The stage the chain falls back to when neither the stage nor the role has a seed.
FALLBACK_STAGE = "dev"
DEFAULT_BASE = "default"
ROLE_PREFIX = "role-"

# Required `## ` headings per locale, in the order the seeds use them; index i in one locale is the
# same section as index i in another, which is how en and ru variants are compared.
SECTIONS: dict[str, tuple[str, ...]] = {
    "en": ("Goal", "Mandatory steps", "Artifacts", "Done when", "Policy"),
    "ru": ("Цель", "Обязательные шаги", "Артефакты", "Критерий готовности", "Политика"),
}
POLICY_INDEX = 4

# Each policy block covers these four topics; a topic is present when its pattern matches the block.
POLICY_TOPICS: dict[str, dict[str, re.Pattern[str]]] = {
    "secrets": {
        "en": re.compile(r"secret|credential", re.IGNORECASE),
        "ru": re.compile(r"секрет|учётн|учетн", re.IGNORECASE),
    },
    "weakening": {
        "en": re.compile(r"weaken", re.IGNORECASE),
        "ru": re.compile(r"ослаб", re.IGNORECASE),
    },
    "scope": {
        "en": re.compile(r"\bscope\b|allowed paths", re.IGNORECASE),
        "ru": re.compile(r"рамк|разрешённ|разрешенн", re.IGNORECASE),
    },
    "untrusted text": {
        "en": re.compile(r"\bas data\b|\buntrusted\b", re.IGNORECASE),
        "ru": re.compile(r"как данн|недоверенн", re.IGNORECASE),
    },
}

# What a seed may ask the app or the orchestrator to fill in with `{{ name }}`.
PLACEHOLDERS: frozenset[str] = frozenset(
    {
        "repository",
        "issue_url",
        "target_url",
        "default_branch",
        "allowed_paths",
        "instructions_path",
        "test_command",
        "lint_command",
        "locale",
        "evidence",
        "findings",
        "role",
        "stage",
    }
)

# The diagnosis contract (see the diagnosis spec) that the self-improve work seed must spell out,
# because the app's LLM engine sends that seed as its system prompt.
CONTRACT_PLACEHOLDERS: tuple[str, ...] = ("evidence", "findings", "allowed_paths", "locale")
CONTRACT_TERMS: tuple[str, ...] = (
    "diagnosis",
    "action_items",
    "tool_gaps",
    "id",
    "category",
    "title",
    "problem",
    "proposal",
    "target_path",
    "evidence_refs",
    "confidence",
    "tool",
    "reason",
    "docs",
    "prompts",
    "instructions",
    "tooling",
)
CONTRACT_STAGE = "self-improve"
CONTRACT_ROLE = "km"

# Documentation kept beside the seeds; never a seed, so never linted or resolved.
NOT_SEEDS = frozenset({"README.md"})

# Seed names, stage names, role names and locales become file names: keep them to a safe alphabet.
NAME_TOKEN = re.compile(r"[a-z0-9][a-z0-9-]*\Z")
LOCALE_TOKEN = re.compile(r"[a-z]{2,3}\Z")
_FILE_NAME = re.compile(
    r"(?P<base>[a-z0-9][a-z0-9-]*)-(?P<kind>work|review)(?:_(?P<locale>[a-z]+))?\.md\Z"
)

Family = Literal["stage", "stage-role", "role", "default"]


class SeedError(ValueError):
    """A seed request or a seed text that cannot be honoured; the message names what and where."""


@dataclass(frozen=True)
class SeedName:
    """What a seed file name says: its family, stage, role, kind and locale (None = unsuffixed)."""

    family: Family
    kind: Kind
    locale: str | None
    stage: str | None = None
    role: str | None = None

    @property
    def base(self) -> str:
        """The name without the locale suffix and extension: variants of one seed share it."""
        if self.family == "default":
            return f"{DEFAULT_BASE}-{self.kind}"
        if self.family == "role":
            return f"{ROLE_PREFIX}{self.role}-{self.kind}"
        if self.family == "stage-role":
            return f"{self.stage}-{self.role}-{self.kind}"
        return f"{self.stage}-{self.kind}"

    @property
    def text_locale(self) -> str:
        """The language the text is written in: unsuffixed files are English."""
        return self.locale or DEFAULT_LOCALE


def seed_file_name(base: str, locale: str | None) -> str:
    """`dev-work` + `ru` -> `dev-work_ru.md`; no locale -> `dev-work.md`."""
    return f"{base}_{locale}.md" if locale else f"{base}.md"


def parse_seed_name(name: str) -> SeedName | str:
    """Read a file name against the catalogue; a string result says why it is not a seed name."""
    match = _FILE_NAME.match(name)
    if match is None:
        return "not `<seed>-<work|review>[_<locale>].md`"
    base, locale = match["base"], match["locale"]
    kind: Kind = "work" if match["kind"] == "work" else "review"
    if locale is not None and locale not in LOCALES:
        return f"unknown locale {locale!r} (known: {', '.join(LOCALES)})"
    if base == DEFAULT_BASE:
        return SeedName("default", kind, locale)
    if base.startswith(ROLE_PREFIX):
        role = base.removeprefix(ROLE_PREFIX)
        if role not in ROLES:
            return f"unknown role {role!r} (known: {', '.join(ROLES)})"
        return SeedName("role", kind, locale, role=role)
    if base in STAGES:
        return SeedName("stage", kind, locale, stage=base)
    stage, _, role = base.rpartition("-")
    if stage in STAGES and role in ROLES:
        return SeedName("stage-role", kind, locale, stage=stage, role=role)
    return f"{base!r} is not a known stage, stage-role, role-<role> or default"


def required_seed_names() -> tuple[str, ...]:
    """The complete catalogue: every stage and default seed in en and ru, every role seed per locale."""
    names: list[str] = []
    for kind in KINDS:
        for stage in (*STAGES, DEFAULT_BASE):
            names += [
                seed_file_name(f"{stage}-{kind}", None),
                seed_file_name(f"{stage}-{kind}", "ru"),
            ]
        for role in ROLES:
            names += [seed_file_name(f"{ROLE_PREFIX}{role}-{kind}", loc) for loc in LOCALES]
    return tuple(sorted(names))


def normalise_locale(locale: str) -> str:
    """`ru-RU`, `ru_RU` and `RU` all mean `ru`: seeds are chosen by the primary language only."""
    primary = re.split(r"[-_]", locale.strip().lower(), maxsplit=1)[0]
    if not LOCALE_TOKEN.match(primary):
        raise SeedError(f"locale {locale!r} is not a language code such as 'en' or 'ru-RU'")
    return primary
