"""pytest fixtures for the GitHub double: an App key, a running double, a factory, a bare client."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from app.fake_github.double import FakeGitHub
from app.fake_github.identity import generate_app_key
from app.fake_github.testing import DoubleClient, FakeFactory
from app.snapshot import Snapshot

SMALL_SNAPSHOT = (
    Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "snapshots" / "small.json"
)


@pytest.fixture(scope="session")
def app_key_pem() -> bytes:
    """A fresh 2048-bit RSA private key (PEM) for the App under test."""
    return generate_app_key()


@pytest.fixture
def fake_github_factory(app_key_pem: bytes) -> Iterator[FakeFactory]:
    """Start doubles in their own threads: `factory(snapshot=..., **FakeGitHub kwargs)`."""
    with ExitStack() as stack:

        def start(
            snapshot: Snapshot | Path | str | dict[str, Any] = SMALL_SNAPSHOT, **kwargs: Any
        ) -> FakeGitHub:
            kwargs.setdefault("app_key_pem", app_key_pem)
            return stack.enter_context(FakeGitHub(snapshot, **kwargs).running_in_thread())

        yield start


@pytest.fixture
def fake_github(fake_github_factory: FakeFactory) -> FakeGitHub:
    """The double serving tests/fixtures/snapshots/small.json, verifying JWTs with `app_key_pem`."""
    return fake_github_factory()


@pytest.fixture
async def fake_github_client(fake_github: FakeGitHub) -> AsyncIterator[DoubleClient]:
    """A raw client for `fake_github`, holding an installation token for its repository."""
    async with aiohttp.ClientSession() as session:
        yield DoubleClient(session, fake_github.url, fake_github.installation_token())
