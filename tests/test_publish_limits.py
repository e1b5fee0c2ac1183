"""GitHub's limits on published text: clipping tables and properties that hold for any input."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.publish.limits import (
    MAX_ANNOTATION_BYTES,
    MAX_ANNOTATION_TITLE,
    MAX_COMMENT,
    MAX_OUTPUT_TEXT,
    LimitError,
    batches,
    check_action,
    check_actions,
    clip_annotation,
    clip_bytes,
    clip_markdown,
    clip_text,
)


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("short", 20, "short"),
        ("exactly", 7, "exactly"),
        ("Open a pull request now", 10, "Open a pu…"),
        ("trailing space here", 9, "trailing…"),
        ("abc", 1, "…"),
        ("abc", 0, ""),
    ],
)
def test_clip_text(text: str, limit: int, expected: str) -> None:
    """One-line fields are cut to the limit and end in an ellipsis when cut."""
    assert clip_text(text, limit) == expected


def test_a_100k_summary_is_clipped_with_a_visible_notice() -> None:
    """A 100,000-character report fits GitHub's 65,535 and says how much was left out."""
    report = "\n".join(f"line {n}: " + "x" * 40 for n in range(2500))
    clipped = clip_markdown(report, MAX_OUTPUT_TEXT)
    assert len(report) > 100_000
    assert len(clipped) <= MAX_OUTPUT_TEXT
    assert "**Truncated**" in clipped
    omitted = int(clipped.split("**Truncated**: ")[1].split(" ")[0])
    kept = clipped.split("\n\n---\n")[0]
    assert len(kept) + omitted == len(report)
    assert kept.endswith("x")  # cut at a line end, not inside a line


def test_clipped_russian_report_says_so_in_russian() -> None:
    """The notice follows the repository's locale."""
    assert "Текст сокращён" in clip_markdown("я" * 70_000, MAX_COMMENT, "ru")


def test_a_cut_inside_a_code_fence_closes_the_fence() -> None:
    """The notice is never swallowed by an open code block."""
    text = "intro\n```\n" + "log line\n" * 10_000
    clipped = clip_markdown(text, 5_000)
    body = clipped.split("\n\n---\n")[0]
    assert body.count("```") % 2 == 0 and len(clipped) <= 5_000


def test_short_markdown_is_untouched() -> None:
    """Text within the limit comes back unchanged."""
    assert clip_markdown("# fine\n\nall of it", 100) == "# fine\n\nall of it"


@given(st.text(max_size=3_000), st.integers(min_value=0, max_value=2_500))
def test_clip_markdown_never_exceeds_the_limit(text: str, limit: int) -> None:
    """Whatever the text and limit, the result fits, and text that fits is kept whole."""
    clipped = clip_markdown(text, limit)
    assert len(clipped) <= limit
    if len(text) <= limit:
        assert clipped == text


@given(st.text(max_size=400), st.integers(min_value=4, max_value=300))
def test_clip_bytes_fits_and_stays_valid_utf8(text: str, limit: int) -> None:
    """Byte clipping never splits a character and never exceeds the byte limit."""
    clipped = clip_bytes(text, limit)
    assert len(clipped.encode("utf-8")) <= limit
    assert clipped == text or clipped.endswith("…")


def test_annotation_fields_are_clipped() -> None:
    """Title to 255 characters, message and raw details to 64 KiB of UTF-8; other fields kept."""
    big = {
        "path": "a.py",
        "start_line": 1,
        "end_line": 1,
        "annotation_level": "warning",
        "title": "t" * 1_000,
        "message": "ж" * 40_000,  # 80,000 bytes
        "raw_details": "r" * 70_000,
    }
    clipped = clip_annotation(big)
    assert len(clipped["title"]) == MAX_ANNOTATION_TITLE
    assert len(clipped["message"].encode()) <= MAX_ANNOTATION_BYTES
    assert len(clipped["raw_details"].encode()) <= MAX_ANNOTATION_BYTES
    assert clipped["path"] == "a.py" and big["title"] == "t" * 1_000  # the input is not changed


@pytest.mark.parametrize(
    ("label", "description", "identifier", "expected"),
    [
        ("Apply", "Open a PR", "apply", ("Apply", "Open a PR", "apply")),
        ("A label far too long here", "d", "rerun", ("A label far too lon…", "d", "rerun")),
        ("Re-run", "x" * 60, "rerun", ("Re-run", "x" * 39 + "…", "rerun")),
    ],
)
def test_action_label_and_description_are_clipped(
    label: str, description: str, identifier: str, expected: tuple[str, str, str]
) -> None:
    """Labels ≤ 20 and descriptions ≤ 40 characters."""
    action = check_action(label, description, identifier)
    assert (action["label"], action["description"], action["identifier"]) == expected


@pytest.mark.parametrize("identifier", ["", "an-identifier-too-long"])
def test_action_identifier_is_never_cut(identifier: str) -> None:
    """An identifier must come back exactly: a bad one is refused, not shortened."""
    with pytest.raises(LimitError, match="identifier"):
        check_action("Apply", "d", identifier)


def test_at_most_three_actions() -> None:
    """A fourth button is refused before GitHub would answer 422."""
    one = {"label": "a", "description": "b", "identifier": "c"}
    assert len(check_actions([one] * 3)) == 3
    with pytest.raises(LimitError, match="at most 3"):
        check_actions([one] * 4)


@pytest.mark.parametrize(
    ("count", "sizes"), [(0, []), (1, [1]), (50, [50]), (51, [50, 1]), (120, [50, 50, 20])]
)
def test_batches_of_fifty(count: int, sizes: list[int]) -> None:
    """Annotations go in consecutive batches of at most 50, in order."""
    groups = list(batches(list(range(count))))
    assert [len(g) for g in groups] == sizes
    assert [x for g in groups for x in g] == list(range(count))


def test_batch_size_must_be_positive() -> None:
    """A zero batch size is a programming error."""
    with pytest.raises(ValueError, match="batch size"):
        list(batches([1], 0))
