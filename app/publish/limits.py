"""GitHub's size limits on what we publish, and the pure clipping that keeps every write under them."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, TypeVar

T = TypeVar("T")

# https://docs.github.com/en/rest/checks/runs#create-a-check-run (limits from GitHub's OpenAPI schema)
MAX_OUTPUT_TEXT = 65_535  # output.summary and output.text, in characters
MAX_OUTPUT_TITLE = (
    255  # not documented for output.title; the annotation title's cap is a safe bound
)
MAX_ANNOTATIONS_PER_REQUEST = 50  # further annotations go in later PATCHes, which append
MAX_ANNOTATION_TITLE = 255
MAX_ANNOTATION_BYTES = 64 * 1024  # message and raw_details: "64 KB"; bytes, the stricter reading
MAX_ACTIONS = 3
MAX_ACTION_LABEL = 20
MAX_ACTION_DESCRIPTION = 40
MAX_ACTION_IDENTIFIER = 20
# [observed] "Body is too long (maximum is 65536 characters)"; we keep a margin below it.
MAX_COMMENT = 65_000

ELLIPSIS = "…"

NOTICES: Mapping[str, str] = {
    "en": "\n\n---\n:warning: **Truncated**: {omitted} characters were left out to stay within "
    "GitHub's limit. The full report is kept in the run history.",
    "ru": "\n\n---\n:warning: **Текст сокращён**: {omitted} символов не вошли, чтобы уложиться в "
    "ограничение GitHub. Полный отчёт сохранён в истории запусков.",
}


class LimitError(ValueError):
    """A value of our own making breaks a GitHub limit that clipping must not hide (an identifier)."""


def notice_for(locale: str) -> str:
    """The truncation notice template of a locale (English for any other)."""
    return NOTICES.get(locale, NOTICES["en"])


def clip_text(text: str, limit: int) -> str:
    """`text` within `limit` characters, ending in `…` when cut (for one-line fields: titles, labels)."""
    if len(text) <= limit:
        return text
    if limit < 1:
        return ""
    return text[: limit - len(ELLIPSIS)].rstrip() + ELLIPSIS


def clip_markdown(text: str, limit: int, locale: str = "en") -> str:
    """Markdown within `limit` characters; when cut, at a line end, with a visible notice.

    A cut inside a fenced code block closes the fence first, so the notice renders as text.
    """
    if len(text) <= limit:
        return text
    template = notice_for(locale)
    # The notice names how much was omitted; reserve room for its longest possible count.
    room = limit - len(template.format(omitted=len(text))) - len("\n```")
    if room <= 0:
        return clip_text(text, limit)
    kept = text[:room]
    line_end = kept.rfind("\n")
    if line_end >= room // 2:  # a line boundary not too far back reads better than a split word
        kept = kept[:line_end]
    kept = kept.rstrip()
    if kept.count("```") % 2 == 1:
        kept += "\n```"
    clipped = kept + template.format(omitted=len(text) - len(kept))
    return clipped if len(clipped) <= limit else clip_text(clipped, limit)


def clip_bytes(text: str, limit: int) -> str:
    """`text` whose UTF-8 encoding fits in `limit` bytes, cut at a character boundary, ending in `…`."""
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    room = limit - len(ELLIPSIS.encode("utf-8"))
    return data[:room].decode("utf-8", "ignore") + ELLIPSIS


def clip_annotation(annotation: Mapping[str, Any]) -> dict[str, Any]:
    """An annotation with `title`, `message` and `raw_details` within GitHub's limits."""
    out = dict(annotation)
    if isinstance(out.get("title"), str):
        out["title"] = clip_text(out["title"], MAX_ANNOTATION_TITLE)
    for key in ("message", "raw_details"):
        if isinstance(out.get(key), str):
            out[key] = clip_bytes(out[key], MAX_ANNOTATION_BYTES)
    return out


def check_action(label: str, description: str, identifier: str) -> dict[str, str]:
    """A check-run button; label and description are clipped, a too-long identifier is refused.

    The identifier comes back in `requested_action` and must match exactly, so cutting it would break
    the button silently.
    """
    if not identifier or len(identifier) > MAX_ACTION_IDENTIFIER:
        raise LimitError(
            f"check-run action identifier {identifier!r}: 1 to {MAX_ACTION_IDENTIFIER} characters"
        )
    return {
        "label": clip_text(label, MAX_ACTION_LABEL),
        "description": clip_text(description, MAX_ACTION_DESCRIPTION),
        "identifier": identifier,
    }


def check_actions(actions: Sequence[Mapping[str, str]]) -> list[dict[str, str]]:
    """At most three buttons, each within the limits (see `check_action`)."""
    if len(actions) > MAX_ACTIONS:
        raise LimitError(f"a check run takes at most {MAX_ACTIONS} actions, got {len(actions)}")
    return [check_action(a["label"], a["description"], a["identifier"]) for a in actions]


def batches(items: Sequence[T], size: int = MAX_ANNOTATIONS_PER_REQUEST) -> Iterator[list[T]]:
    """`items` in consecutive lists of at most `size` (none for no items)."""
    if size < 1:
        raise ValueError("batch size must be at least 1")
    for start in range(0, len(items), size):
        yield list(items[start : start + size])
