"""Reading review text: command keys, segments, stems and topic tags (English and Russian)."""

from __future__ import annotations

import pytest

from app.diagnosis.language import (
    command_key,
    commands,
    content_stems,
    jaccard,
    paths,
    segments,
    stem,
    tags,
)


@pytest.mark.parametrize(
    ("command", "key"),
    [
        ("pnpm lint", "pnpm lint"),
        ("npm run build -w @orbital/console", "npm run build"),
        ("npm run test:unit -- receiptsCsv", "npm run test:unit"),
        ("uv run pytest tests/test_money.py -q", "uv run pytest"),
        ("uv run towncrier check --compare-with origin/main", "uv run towncrier"),
        ("python -m pytest -q", "python -m pytest"),
        ("bash -lc 'cd /w && python3 -m unittest discover'", "python3 -m unittest"),
        ("npx vitest run src/a.test.tsx", "npx vitest"),
        ("go test -race ./...", "go test"),
        ("go mod tidy", "go mod tidy"),
        ("cargo fmt --all -- --check", "cargo fmt"),
        ("CI=1 FOO=bar pytest -q", "pytest"),
        ("ruff check .", "ruff check"),
    ],
)
def test_command_key_keeps_what_runs(command: str, key: str) -> None:
    """Flags, paths, wrappers and env assignments drop away; the runner and its target stay."""
    assert command_key(command) == key


def test_commands_are_code_spans_that_run_something() -> None:
    """Only code spans starting with a known runner count, not identifiers like `useMemo`."""
    text = "Run `pnpm lint` and `uv run pytest -q`; `useMemo` and `uv` alone are not commands."
    assert commands(text) == ["pnpm lint", "uv run pytest -q"]


def test_segments_split_lists_and_sentences() -> None:
    """A review with a numbered list becomes one piece per point; tiny trailing sentences join."""
    body = "A few things:\n\n1. **Missing fragment.** Add `changes/8.feature.md`.\n2. Use `uv run pytest`. Thanks."
    assert segments(body) == [
        "A few things:",
        "**Missing fragment.** Add `changes/8.feature.md`.",
        "Use `uv run pytest`. Thanks.",
    ]


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("documentation", "documentations"),
        ("updated", "updating"),
        ("документация", "документацию"),
        ("языках", "языка"),
    ],
)
def test_stems_meet(a: str, b: str) -> None:
    """Inflected forms of one word reduce to one stem in both languages."""
    assert stem(a)[:5] == stem(b)[:5]


def test_similar_requests_are_similar_and_different_ones_are_not() -> None:
    """Paraphrases share stems; unrelated notes do not."""
    a = content_stems("Documentation must be updated in both languages.")
    b = content_stems("Update the documentation for both languages again.")
    c = content_stems("Icon size 16, not 20.")
    assert jaccard(a, b) > 0.3 > jaccard(a, c)


@pytest.mark.parametrize(
    ("text", "tag"),
    [
        ("`npm run i18n:check` is red: ru.json misses keys", "i18n"),
        ("Документация должна обновляться на обоих языках", "docs"),
        ("Please revert the change to the unrelated test", "scope"),
        ("This file is generated, run codegen", "generated"),
        ("no news fragment again (towncrier)", "changelog"),
        ("Сообщение коммита не по Conventional Commits", "commit_format"),
    ],
)
def test_topic_tags(text: str, tag: str) -> None:
    """Each kind of problem is recognised in English and Russian wording."""
    assert tag in tags(text)


def test_paths_are_found_in_code_and_prose() -> None:
    """File paths come out of code spans and plain text; bare words and versions do not."""
    found = paths("Edit `docs/en/receipts.md` and stream_test.go, not 1.2.3 or ru/en.")
    assert found == ["docs/en/receipts.md", "stream_test.go"]
