"""Shared pytest fixtures: the GitHub double and the store live in plugins owned by their modules."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.store_backends import store

pytest_plugins = ["app.fake_github.pytest_plugin"]

__all__ = ["store"]

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def fixtures_dir() -> Path:
    return FIXTURES
