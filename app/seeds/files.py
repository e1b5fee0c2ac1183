"""Seed files on disk: reading a seed directory and loading the seed a request resolves to."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from app.seeds.builtin import builtin_seed
from app.seeds.catalog import NOT_SEEDS, Kind, SeedError, normalise_locale
from app.seeds.resolve import Resolution, resolve_seed


@dataclass(frozen=True)
class LoadedSeed:
    """The seed text to use, the file it came from (None = built-in) and how it was chosen."""

    path: Path | None
    text: str
    resolution: Resolution


def seed_file_names(seeds_dir: Path) -> list[str]:
    """The `*.md` seed files directly in the directory, sorted; SeedError when it is not a directory."""
    if not seeds_dir.is_dir():
        raise SeedError(f"seed directory {str(seeds_dir)!r} does not exist or is not a directory")
    return sorted(
        p.name
        for p in seeds_dir.iterdir()
        if p.suffix == ".md" and p.is_file() and p.name not in NOT_SEEDS
    )


def read_seed_dir(seeds_dir: Path) -> dict[str, str]:
    """Every seed file's text by file name, decoded as UTF-8 (SeedError names a file that is not)."""
    texts: dict[str, str] = {}
    for name in seed_file_names(seeds_dir):
        try:
            texts[name] = (seeds_dir / name).read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise SeedError(
                f"{seeds_dir / name}: not UTF-8 text ({exc.reason} at byte {exc.start})"
            ) from exc
    return texts


def load_seed(
    seeds_dir: Path, *, stage: str | None, role: str | None, kind: Kind, locale: str
) -> LoadedSeed:
    """Resolve the request over the directory's files and read the chosen one, or the built-in seed."""
    resolution = resolve_seed(seed_file_names(seeds_dir), stage, role, kind, locale)
    if resolution.chosen is None:
        return LoadedSeed(None, builtin_seed(kind, normalise_locale(locale)), resolution)
    path = seeds_dir / resolution.chosen
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise SeedError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    return LoadedSeed(path, text, resolution)
