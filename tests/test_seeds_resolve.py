"""Seed resolution: the fallback chain, its validation, and loading the chosen file or the built-in."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from app.seeds import LoadedSeed, SeedError, load_seed, resolve_seed
from app.seeds.builtin import BUILTIN_SEEDS
from app.seeds.resolve import resolution_chain

# Every name the chain can try for stage qa, role sre, kind work, locale ru, in chain order.
FULL_CHAIN = (
    "qa-sre-work_ru.md",
    "qa-sre-work.md",
    "role-sre-work_ru.md",
    "role-sre-work.md",
    "qa-work_ru.md",
    "qa-work.md",
    "dev-work_ru.md",
    "dev-work.md",
    "default-work_ru.md",
    "default-work.md",
)


@pytest.mark.parametrize("step", range(len(FULL_CHAIN)))
def test_every_step_of_the_chain_is_reachable(step: int) -> None:
    """With only the files from one step on available, that step's file wins and the earlier ones were tried."""
    resolution = resolve_seed(FULL_CHAIN[step:], "qa", "sre", "work", "ru")
    assert resolution.chosen == FULL_CHAIN[step]
    assert resolution.tried == FULL_CHAIN[: step + 1]


def test_nothing_available_means_built_in_after_the_whole_chain() -> None:
    """No matching file: chosen is None (built-in) and every name in the chain was tried."""
    resolution = resolve_seed(["README.md", "qa-review.md"], "qa", "sre", "work", "ru")
    assert resolution.chosen is None
    assert resolution.tried == FULL_CHAIN


@pytest.mark.parametrize(
    ("available", "stage", "role", "locale", "chosen"),
    [
        # The English stage seed is unsuffixed; an explicit _en file is tried first for locale en.
        (["dev-work.md", "dev-work_ru.md"], "dev", None, "en", "dev-work.md"),
        (["dev-work.md", "dev-work_en.md"], "dev", None, "en", "dev-work_en.md"),
        # No Russian file: the English stage seed is the fallback before the dev seed.
        (["qa-work.md", "dev-work_ru.md"], "qa", None, "ru", "qa-work.md"),
        # A role seed beats the stage seed; a stage+role override beats both.
        (["qa-work.md", "role-km-work_en.md"], "qa", "km", "en", "role-km-work_en.md"),
        (
            ["self-improve-work.md", "role-km-work_en.md", "self-improve-km-work.md"],
            "self-improve",
            "km",
            "en",
            "self-improve-km-work.md",
        ),
        # Unknown stage and role fall through to the dev seed.
        (["dev-work.md", "default-work.md"], "triage", "nobody", "en", "dev-work.md"),
        # Locale spelled with a region or in capitals means its primary language.
        (["dev-work_ru.md", "dev-work.md"], "dev", None, "ru-RU", "dev-work_ru.md"),
        (["dev-work_ru.md", "dev-work.md"], "dev", None, "RU", "dev-work_ru.md"),
        # No stage, no role: straight to dev, then default.
        (["default-work.md"], None, None, "en", "default-work.md"),
    ],
)
def test_resolution_picks_the_most_specific_available_seed(
    available: list[str], stage: str | None, role: str | None, locale: str, chosen: str
) -> None:
    """The first existing name in chain order wins."""
    assert resolve_seed(available, stage, role, "work", locale).chosen == chosen


def test_review_kind_walks_review_names_only() -> None:
    """A review request never falls back to a work seed."""
    resolution = resolve_seed(["dev-work.md", "default-work.md"], "dev", None, "review", "en")
    assert resolution.chosen is None
    assert all(
        name.split("_")[0].removesuffix(".md").endswith("-review") for name in resolution.tried
    )


def test_chain_lists_each_name_once_and_labels_steps() -> None:
    """Stage `dev` and the dev fallback are the same files: each is tried once."""
    chain = resolution_chain("dev", None, "work", "en")
    assert [s.name for s in chain] == [
        "dev-work_en.md",
        "dev-work.md",
        "default-work_en.md",
        "default-work.md",
    ]
    assert [s.step for s in chain] == [
        "stage+kind+locale",
        "stage+kind",
        "default+kind+locale",
        "default+kind",
    ]


@pytest.mark.parametrize(
    ("stage", "role", "kind", "locale", "message"),
    [
        ("../etc", None, "work", "en", "stage '../etc'"),
        ("dev", "Km", "work", "en", "role 'Km'"),
        ("dev", None, "draft", "en", "kind 'draft'"),
        ("dev", None, "work", "english!", "locale 'english!'"),
        ("dev", None, "work", "", "locale ''"),
    ],
)
def test_requests_that_cannot_name_a_file_are_refused(
    stage: str, role: str | None, kind: str, locale: str, message: str
) -> None:
    """Path-like stages, bad roles, unknown kinds and non-language locales raise SeedError naming them."""
    with pytest.raises(SeedError, match=re.escape(message)):
        resolve_seed(["dev-work.md"], stage, role, kind, locale)


def test_load_seed_reads_the_chosen_file(tmp_path: Path) -> None:
    """load_seed returns the chosen path, its text and the resolution."""
    (tmp_path / "role-km-work_ru.md").write_text("# км\n", encoding="utf-8")
    (tmp_path / "dev-work.md").write_text("# dev\n", encoding="utf-8")
    (tmp_path / "notes.txt").write_text("not a seed", encoding="utf-8")
    loaded = load_seed(tmp_path, stage="qa", role="km", kind="work", locale="ru")
    assert loaded == LoadedSeed(tmp_path / "role-km-work_ru.md", "# км\n", loaded.resolution)
    assert loaded.resolution.chosen == "role-km-work_ru.md"


@pytest.mark.parametrize(("locale", "text_locale"), [("ru", "ru"), ("de", "en")])
def test_load_seed_falls_back_to_the_built_in_text(
    tmp_path: Path, locale: str, text_locale: str
) -> None:
    """No matching file: path None and the built-in text, in the locale when there is one, else English."""
    (tmp_path / "qa-review.md").write_text("# qa review\n", encoding="utf-8")
    loaded = load_seed(tmp_path, stage="qa", role=None, kind="work", locale=locale)
    assert loaded.path is None
    assert loaded.text == BUILTIN_SEEDS[("work", text_locale)]


def test_load_seed_refuses_a_missing_directory(tmp_path: Path) -> None:
    """A seed directory that does not exist is an error naming it, not a silent built-in."""
    with pytest.raises(SeedError, match="does not exist"):
        load_seed(tmp_path / "nope", stage="dev", role=None, kind="work", locale="en")


def test_load_seed_names_a_file_that_is_not_utf8(tmp_path: Path) -> None:
    """A seed that is not UTF-8 is reported with its path."""
    (tmp_path / "dev-work.md").write_bytes(b"\xff\xfe bad")
    with pytest.raises(SeedError, match=r"dev-work\.md: not UTF-8"):
        load_seed(tmp_path, stage="dev", role=None, kind="work", locale="en")
