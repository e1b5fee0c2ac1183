"""Reading review text: command keys, segments, stems and topic tags (English and Russian)."""

from __future__ import annotations

import pytest

from app.diagnosis.language import (
    command_key,
    commands,
    content_stems,
    has_repeat,
    has_request,
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
        ("We don't take version upgrades inside feature work", "upgrades"),
        ("Не обновляй зависимости в этом PR", "upgrades"),
        ("Renovate brings those in their own PRs", "upgrades"),
        ("What's missing is a spec that fails on main", "regression_test"),
        ("Where is the test, though?", "regression_test"),
        ("Нужен тест, который падает без исправления", "regression_test"),
        ("Falta um teste de regressão para esse bug", "regression_test"),
    ],
)
def test_topic_tags(text: str, tag: str) -> None:
    """Each kind of problem is recognised in English and Russian wording (and some Portuguese)."""
    assert tag in tags(text)


@pytest.mark.parametrize(
    "text",
    [
        "Run the whole test suite before pushing",  # running tests is not asking for a new one
        "No tests ran: the command was wrong",
        "Pin the version in the docs example",
    ],
)
def test_concept_tags_need_the_concept(text: str) -> None:
    """Testing and versions in general are not these narrower topics."""
    assert not {"regression_test", "upgrades"} & tags(text)


@pytest.mark.parametrize(
    ("text", "repeat"),
    [
        ("That's the third agent push in a row that changes versions", True),
        ("De novo aberto contra a `main`", True),
        ("Mais um `IO.inspect` que ficou para trás", True),
        ("The first push looked fine", False),
    ],
)
def test_repeats_are_recognised(text: str, repeat: bool) -> None:
    assert has_repeat(text) is repeat


@pytest.mark.parametrize(
    "text",
    ["Where is the test, though?", "Tira, por favor.", "Nunca use a `main` como base."],
)
def test_requests_in_questions_and_portuguese(text: str) -> None:
    assert has_request(text)


def test_paths_are_found_in_code_and_prose() -> None:
    """File paths come out of code spans and plain text; bare words and versions do not."""
    found = paths("Edit `docs/en/receipts.md` and stream_test.go, not 1.2.3 or ru/en.")
    assert found == ["docs/en/receipts.md", "stream_test.go"]
