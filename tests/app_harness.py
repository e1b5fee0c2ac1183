"""The whole service in this event loop against the GitHub double: settings, start, send, wait."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.deps import Deps
from app.fake_github import FakeGitHub
from app.server import running
from app.settings import Settings, load_settings
from app.store import open_store
from app.store.base import Store

WEBHOOK_SECRET = "harness-webhook-secret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def app_settings(
    fake: FakeGitHub, key_pem: bytes, db: Path, port: int, **overrides: Any
) -> Settings:
    values: dict[str, Any] = {
        "app_id": fake.app_id,
        "private_key": key_pem.decode(),
        "webhook_secret": WEBHOOK_SECRET,
        "github_api_url": fake.url,
        "database_url": f"sqlite:///{db}",
        "host": "127.0.0.1",
        "port": port,
        "github_write_spacing_seconds": 0,
        "poll_interval_seconds": 0.05,
        "job_retry_base_seconds": 0.1,
        "recovery_interval_seconds": 0,
        "log_level": "WARNING",
    }
    values.update(overrides)
    return load_settings(None, **values)


@dataclass
class Harness:
    fake: FakeGitHub
    settings: Settings
    store: Store  # a second handle on the app's database, for assertions
    deps: Deps

    def github_app_client(self) -> Any:
        assert self.deps.github is not None
        return self.deps.github.app_client()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.settings.port}"

    def send(self, event: str, payload: dict[str, Any], guid: str | None = None) -> dict[str, Any]:
        """GitHub delivers an event: the double signs it and posts it to the app."""
        return self.fake.send_webhook(event, payload, guid=guid)

    async def asend(
        self, event: str, payload: dict[str, Any], guid: str | None = None
    ) -> dict[str, Any]:
        return await asyncio.to_thread(self.send, event, payload, guid)

    async def wait_for(
        self, predicate: Callable[[], Any], *, within: float = 20.0, what: str = "condition"
    ) -> Any:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            value = predicate()
            if asyncio.iscoroutine(value):
                value = await value
            if value:
                return value
            await asyncio.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}")

    async def idle(self, within: float = 30.0) -> dict[str, int]:
        """Wait until no delivery waits to be routed and no job is queued or running."""

        async def quiet() -> dict[str, int] | None:
            if await self.store.pending_deliveries():
                return None
            counts = await self.store.job_counts()
            return counts if counts["queued"] == 0 and counts["running"] == 0 else None

        result: dict[str, int] = await self.wait_for(
            quiet, within=within, what="the worker to go idle"
        )
        return result

    def writes(self, method: str, fragment: str) -> list[dict[str, Any]]:
        return [w for w in self.fake.writes() if w["method"] == method and fragment in w["path"]]


@contextlib.asynccontextmanager
async def start_app(
    fake: FakeGitHub, key_pem: bytes, tmp: Path, **overrides: Any
) -> AsyncIterator[Harness]:
    port = free_port()
    settings = app_settings(fake, key_pem, tmp / "app.db", port, **overrides)
    fake.configure(
        webhook_url=f"http://127.0.0.1:{port}{settings.webhook_path}", webhook_secret=WEBHOOK_SECRET
    )
    store = open_store(settings.database_url)
    async with running(settings) as deps:
        await store.open()
        try:
            yield Harness(fake, settings, store, deps)
        finally:
            await store.close()
