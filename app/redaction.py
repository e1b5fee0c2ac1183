"""Secret redaction: find tokens, keys and passwords in text and JSON and replace them with markers.

Every pattern is compiled once and applied in one pass over the text. Replacements are
`[REDACTED:<kind>]`, which contain no quote or backslash, and no pattern starts right after a
backslash or consumes one, so redacting the text of a JSON document leaves valid JSON.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

MARK = "[REDACTED:{kind}]"

# A secret value stops at whitespace, quotes, backslashes and separators: a backslash may start a
# JSON escape, and cutting an escape in half would break the surrounding document.
_VALUE = r"[^\s\"'`\\,;&<>()\[\]{}]"

# Not right after a lone backslash (a JSON escape), but after an escaped one (`\\`) is fine.
_GITHUB = re.compile(
    r"(?<!(?<!\\)\\)(?:gh[pousr]_[A-Za-z0-9]{30,255}|github_pat_[A-Za-z0-9_]{22,255})"
)
_AWS_KEY_ID = re.compile(r"(?<![\w\\])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Za-z0-9])")
# A 40-character secret access key is only recognisable next to its key id or its name.
_AWS_SECRET_NEAR = re.compile(r"(?<![A-Za-z0-9/+\\])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])")
_AWS_SECRET_NAMED = re.compile(
    r"(?i)(?<![\w\\])(aws_?secret_?access_?key|secret_?access_?key)(\W{1,6}?)([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+])"
)
_PRIVATE_KEY = re.compile(
    r"(?<!\\)-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"
    # The body never crosses a quote and takes backslash escapes whole, so JSON text stays JSON.
    r"(?:(?:[^\"\\]|\\.)*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"
    r"|(?:[^\"\\]|\\.){0,8000})",
    re.DOTALL,
)
_SLACK = re.compile(r"(?<![\w\\])xox[abprs]-[A-Za-z0-9-]{10,250}")
_OPENAI = re.compile(r"(?<![\w\\-])sk-(?:proj-|ant-|svcacct-)?[A-Za-z0-9_-]{20,250}")
_JWT = re.compile(r"(?<![\w\\])eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")
_BEARER = re.compile(r"(?i)(?<![\w\\])(bearer|token)(\s+)([A-Za-z0-9._~+/=-]{12,}" + r")")
# The key's own prefix (`db_`, `NPM_CONFIG_…:_auth`) is left as it is, so matching starts at the
# keyword: a leading `[\w.-]*` would be tried at every position of megabytes of log.
_ASSIGNMENT = re.compile(
    r"(?i)(password|passwd|pwd|secret|token|api[_-]?key|apikey)(?![a-z0-9])"
    r"(\s*[\"']?\s*[:=]\s*[\"']?)"
    r"(?!\*\*\*|\[REDACTED)(" + _VALUE + r"{3,})"
)
_SECRET_KEY_NAME = re.compile(
    r"(?i)^[\w.-]*?(?:password|passwd|pwd|secret|token|api[_-]?key|apikey|private[_-]?key)$"
)
_GENERIC = frozenset({"assignment", "bearer"})
# Words that follow "token"/"bearer" in ordinary prose and are not credentials.
_PROSE = frozenset({"budget", "count", "limit", "usage", "expired", "refresh", "authentication"})


def _mark(kind: str) -> str:
    return MARK.format(kind=kind)


def _sub_whole(kind: str) -> Callable[[re.Match[str]], str]:
    return lambda _m: _mark(kind)


def _sub_value(kind: str) -> Callable[[re.Match[str]], str]:
    def replace(m: re.Match[str]) -> str:
        value = m.group(3)
        if kind == "bearer" and (value.lower() in _PROSE or not _looks_random(value)):
            return m.group(0)
        return f"{m.group(1)}{m.group(2)}{_mark(kind)}"

    return replace


def _looks_random(value: str) -> bool:
    """A bearer token mixes letters and digits; an English word after "token" does not."""
    return any(c.isdigit() for c in value) and any(c.isalpha() for c in value)


def _redact_aws(text: str) -> str:
    if "AKIA" not in text and "ASIA" not in text:
        return text
    out: list[str] = []
    pos = 0
    for m in _AWS_KEY_ID.finditer(text):
        if m.start() < pos:
            continue
        out.append(text[pos : m.start()])
        out.append(_mark("aws_access_key_id"))
        pos = m.end()
        window_end = min(len(text), pos + 200)
        near = _AWS_SECRET_NEAR.search(text, pos, window_end)
        if near is not None:
            out.append(text[pos : near.start()])
            out.append(_mark("aws_secret_access_key"))
            pos = near.end()
    out.append(text[pos:])
    return "".join(out)


# (needles, case-insensitive, pattern, replacement): a pattern runs only where one of its needles
# occurs, which skips it cheaply on almost every string. A case-insensitive pattern's needles are
# lower-case and looked for in the lower-cased text.
_RULES: tuple[
    tuple[tuple[str, ...], bool, re.Pattern[str], Callable[[re.Match[str]], str]], ...
] = (
    (("-----BEGIN",), False, _PRIVATE_KEY, _sub_whole("private_key")),
    (
        ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
        False,
        _GITHUB,
        _sub_whole("github_token"),
    ),
    (("xox",), False, _SLACK, _sub_whole("slack_token")),
    (("sk-",), False, _OPENAI, _sub_whole("openai_key")),
    (("eyJ",), False, _JWT, _sub_whole("jwt")),
    (("secret",), True, _AWS_SECRET_NAMED, _sub_value("aws_secret_access_key")),
    (("bearer", "token"), True, _BEARER, _sub_value("bearer")),
    (
        ("passw", "pwd", "secret", "token", "api_key", "api-key", "apikey"),
        True,
        _ASSIGNMENT,
        _sub_value("assignment"),
    ),
)
# With IGNORECASE, `re` also matches these to ASCII letters (İ ı to i, ſ to s, K to k); `str.lower`
# does not, so a text holding one is not tested by its lower-cased form.
FOLDED_BY_RE = "\u0130\u0131\u017f\u212a"


def _lowered(text: str) -> str | None:
    if not text.isascii() and any(c in text for c in FOLDED_BY_RE):
        return None
    return text.lower()


def redact_text(text: str) -> str:
    """Replace every secret in `text` with `[REDACTED:<kind>]`."""
    if not text:
        return text
    text = _redact_aws(text)
    # Lower-cased once: later patterns only add markers, and the words in a marker ("token",
    # "secret") never complete a match, so the copy decides as the current text would.
    lowered = _lowered(text)
    for needles, case_insensitive, pattern, replace in _RULES:
        haystack = lowered if case_insensitive else text
        if haystack is not None and not any(n in haystack for n in needles):
            continue
        text = pattern.sub(replace, text)
    return text


def redact_json(value: Any) -> Any:
    """Redact every string inside a JSON value; keys are kept, values under secret-named keys go."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, list):
        return [redact_json(v) for v in value]
    if isinstance(value, dict):
        out: dict[Any, Any] = {}
        for k, v in value.items():
            if isinstance(k, str) and isinstance(v, str) and v and _SECRET_KEY_NAME.match(k):
                out[k] = v if v.startswith(("[REDACTED", "***")) else _mark("assignment")
            else:
                out[k] = redact_json(v)
        return out
    return value


def find_secrets(text: str) -> list[tuple[str, str]]:
    """Every secret in `text` as (kind, value), in order of appearance; for evaluation and tests."""
    found: list[tuple[int, str, str]] = []
    for m in _AWS_KEY_ID.finditer(text):
        found.append((m.start(), "aws_access_key_id", m.group(0)))
        near = _AWS_SECRET_NEAR.search(text, m.end(), min(len(text), m.end() + 200))
        if near is not None:
            found.append((near.start(), "aws_secret_access_key", near.group(0)))
    whole = (
        ("private_key", _PRIVATE_KEY),
        ("github_token", _GITHUB),
        ("slack_token", _SLACK),
        ("openai_key", _OPENAI),
        ("jwt", _JWT),
    )
    for kind, pattern in whole:
        found.extend((m.start(), kind, m.group(0)) for m in pattern.finditer(text))
    for m in _AWS_SECRET_NAMED.finditer(text):
        found.append((m.start(3), "aws_secret_access_key", m.group(3)))
    for m in _BEARER.finditer(text):
        if m.group(3).lower() not in _PROSE and _looks_random(m.group(3)):
            found.append((m.start(3), "bearer", m.group(3)))
    for m in _ASSIGNMENT.finditer(text):
        found.append((m.start(3), "assignment", m.group(3)))
    seen: set[str] = set()
    out: list[tuple[str, str]] = []
    # At one position the specific kind wins over the generic `name=value` one.
    for _, _, kind, value in sorted((pos, kind in _GENERIC, kind, v) for pos, kind, v in found):
        if any(value in s or s in value for s in seen):
            continue  # one secret matched by two patterns (e.g. GH_TOKEN=ghp_…) counts once
        seen.add(value)
        out.append((kind, value))
    return out
