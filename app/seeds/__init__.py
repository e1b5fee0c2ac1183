"""Prompt seeds: the catalogue, choosing a seed for a request, filling it in, and linting seed sets."""

from __future__ import annotations

from app.seeds.catalog import SeedError
from app.seeds.files import LoadedSeed, load_seed, read_seed_dir
from app.seeds.lint import Finding, lint_seeds
from app.seeds.render import RenderError, placeholders_in, render_seed
from app.seeds.resolve import Resolution, resolve_seed

__all__ = [
    "Finding",
    "LoadedSeed",
    "RenderError",
    "Resolution",
    "SeedError",
    "lint_seeds",
    "load_seed",
    "placeholders_in",
    "read_seed_dir",
    "render_seed",
    "resolve_seed",
]
