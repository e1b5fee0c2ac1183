"""Credential-shaped values: finding them in added text and masking them wherever text is shown."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

# Shapes of real credentials, named for the message; a random-looking value is what makes them real.
_SHAPES: Final[tuple[tuple[str, re.Pattern[str]], ...]] = (
    ("a GitHub token", re.compile(r"\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{30,}\b")),
    ("a GitHub fine-grained token", re.compile(r"\bgithub_pat_[A-Za-z0-9_]{22,}\b")),
    (
        "an AWS access key",
        re.compile(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[0-9A-Z]{16}\b"),
    ),
    ("a private key", re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----")),
    ("a Slack token", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}")),
    ("a Slack webhook", re.compile(r"hooks\.slack\.com/services/T\w+/B\w+/\w+")),
    ("an Anthropic key", re.compile(r"\bsk-ant-[A-Za-z0-9_-]{20,}")),
    ("an API secret key", re.compile(r"\bsk-(?:proj-)?[A-Za-z0-9_-]{20,}")),
    ("a Stripe key", re.compile(r"\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}")),
    ("a Google API key", re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b")),
    ("a GitLab token", re.compile(r"\bglpat-[A-Za-z0-9_-]{20,}")),
    ("an npm token", re.compile(r"\bnpm_[A-Za-z0-9]{36}\b")),
    ("a PyPI token", re.compile(r"\bpypi-[A-Za-z0-9_-]{50,}")),
    ("a JSON web token", re.compile(r"\beyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[\w-]{10,}")),
    ("a bearer token", re.compile(r"(?i)\bbearer\s+([A-Za-z0-9._~+/-]{24,}=*)")),
)
_ASSIGNED: Final = re.compile(
    r"(?i)(?<![\w-])(_?auth_?token|auth-token|api[_-]?key|apikey|access[_-]?token|secret[_-]?key|"
    r"client[_-]?secret|private[_-]?key|passw(?:or)?d|pwd|pass|token|secret|пароль|токен|ключ)"
    r"[\"']?(?:\s+[^\W\d][\w-]*){0,3}?\s*(?:=|:|\s+is\s+|\s+—\s+|\s+-\s+)\s*[\"'`]?([^\s\"'`,;)]+)"
)
_URL_CREDENTIALS: Final = re.compile(r"\b[a-z][a-z0-9+.-]*://([^/\s:@]+):([^/\s@]+)@([^/\s:]+)")
_PLACEHOLDER_WORDS: Final = (
    "xxx",
    "***",
    "...",
    "…",
    "your",
    "example",
    "placeholder",
    "changeme",
    "change_me",
    "redacted",
    "dummy",
    "fake",
    "sample",
    "<",
    ">",
    "{",
    "}",
    "$",
    "%",
    "secret",
    "password",
    "token",
    "here",
    "todo",
    "tbd",
    "none",
    "null",
    "true",
    "false",
    "required",
    "optional",
    "env",
    "local",
    "test",
    "postgres",
    "admin",
    "root",
    "user",
    "pass",
    "ваш",
    "пример",
)


@dataclass(frozen=True)
class SecretHit:
    what: str
    start: int
    end: int


_SHAPE_PLACEHOLDERS: Final = ("example", "xxxx", "****", "...", "…", "<", "your", "0000", "1234")


def looks_random(value: str, *, shaped: bool = False) -> bool:
    """A credential value, not a placeholder: varied characters and no placeholder words.

    A value already in a credential's shape (`ghp_…`) only has to avoid the obvious fillers; a bare
    `password=…` value must also avoid every placeholder word.
    """
    lowered = value.lower()
    fillers = _SHAPE_PLACEHOLDERS if shaped else _PLACEHOLDER_WORDS
    if any(word in lowered for word in fillers):
        return False
    core = value.strip("=")
    return len(set(core)) >= max(6, len(core) // 4)


def find_secrets(text: str) -> Iterator[SecretHit]:
    """Credential-shaped values in one line of added text."""
    for what, pattern in _SHAPES:
        for match in pattern.finditer(text):
            value = match.group(match.lastindex or 0)
            if what == "a private key" or looks_random(value.split("_", 1)[-1], shaped=True):
                yield SecretHit(what, match.start(), match.end())
    for match in _ASSIGNED.finditer(text):
        value = match.group(2)
        mixed = any(c.isdigit() for c in value) and any(c.isalpha() for c in value)
        mixed = mixed or (len(value) >= 20 and value != value.lower() and value != value.upper())
        if len(value) >= 6 and mixed and looks_random(value) and not value.startswith("$"):
            yield SecretHit(f"a value for {match.group(1)}", match.start(2), match.end(2))
    for match in _URL_CREDENTIALS.finditer(text):
        user, password, host = match.groups()
        local = host in {"localhost", "127.0.0.1", "0.0.0.0", "db", "postgres"}  # noqa: S104  # a host name to compare with, not a bind
        if not local and password != user and looks_random(password):
            yield SecretHit("a password in a URL", match.start(2), match.end(2))


def mask_secrets(text: str) -> str:
    """The text with every credential-shaped value cut to its first four characters."""
    spans: list[list[int]] = []
    for hit in sorted(find_secrets(text), key=lambda h: h.start):
        if spans and hit.start <= spans[-1][1]:
            spans[-1][1] = max(spans[-1][1], hit.end)
        else:
            spans.append([hit.start, hit.end])
    for start, end in reversed(spans):
        text = text[:start] + text[start : start + 4] + "…(masked)" + text[end:]
    return text
