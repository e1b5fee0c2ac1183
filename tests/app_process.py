"""The app as a separate `python -m app serve` process against the double: start, SIGKILL, start again."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from app.fake_github import FakeGitHub
from app.store.base import Run, Store
from tests.app_harness import WEBHOOK_SECRET

WEBHOOK_PATH = "/api/github/webhooks"


FINAL = {"diagnosed", "rejected", "failed", "pr_opened", "blocked"}


def app_env(fake: FakeGitHub, key_pem: bytes, database_url: str, port: int) -> dict[str, str]:
    """The service's whole environment: nothing leaks in from the test runner's own variables."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),
        "GITHUB_API_URL": fake.url,
        "APP_ID": str(fake.app_id),
        "PRIVATE_KEY": key_pem.decode(),
        "WEBHOOK_SECRET": WEBHOOK_SECRET,
        "DATABASE_URL": database_url,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "GITHUB_WRITE_SPACING_SECONDS": "0",
        "GITHUB_RATE_LIMIT_MIN_SECONDS": "0.2",
        "JOB_LEASE_SECONDS": "2",
        "JOB_RETRY_BASE_SECONDS": "0.1",
        "POLL_INTERVAL_SECONDS": "0.05",
        "RECOVERY_INTERVAL_SECONDS": "0",
        "LOG_LEVEL": "WARNING",
    }


@dataclass
class AppProcess:
    """One `python -m app <command>` subprocess, its log kept in a file for failure messages."""

    env: dict[str, str]
    workdir: Path
    command: tuple[str, ...] = ("serve",)
    name: str = "app"
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0
    logs: list[Path] = field(default_factory=list)

    @property
    def port(self) -> int:
        return int(self.env["PORT"])

    async def start(self, *, within: float = 30.0) -> None:
        """Start it (cwd without a .env) and wait until /readyz answers, or the worker has started."""
        self.starts += 1
        log = self.workdir / f"{self.name}-{self.starts}.log"
        self.logs.append(log)
        with log.open("wb") as out:
            self.proc = subprocess.Popen(  # noqa: ASYNC220  # returns at once; readiness is awaited below
                [sys.executable, "-m", "app", *self.command],
                cwd=self.workdir,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        if "serve" in self.command:
            await self._wait_ready(within)

    async def _wait_ready(self, within: float) -> None:
        deadline = time.monotonic() + within
        url = f"http://127.0.0.1:{self.port}/readyz"
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                if self.proc is not None and self.proc.poll() is not None:
                    raise AssertionError(f"{self.name} exited at start:\n{self.log_tail()}")
                with contextlib.suppress(aiohttp.ClientError, OSError):
                    async with session.get(url) as reply:
                        if reply.status == 200:
                            return
                await asyncio.sleep(0.05)
        raise AssertionError(f"{self.name} not ready within {within}s:\n{self.log_tail()}")

    def kill(self) -> None:
        """SIGKILL: no cleanup, no lease released, connections dropped mid-request."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)
        self.proc = None

    async def stop(self) -> None:
        """SIGTERM and wait (off the loop: the proxy may still be serving it); SIGKILL after 10 s."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.to_thread(proc.wait, 10)
        except subprocess.TimeoutExpired:
            proc.kill()
            await asyncio.to_thread(proc.wait, 10)

    def log_tail(self, lines: int = 40) -> str:
        text = "\n".join(p.read_text(errors="replace") for p in self.logs if p.exists())
        return "\n".join(text.splitlines()[-lines:])


async def wait_until(
    probe: Callable[[], Any], *, within: float = 30.0, what: str, app: AppProcess | None = None
) -> Any:
    """Poll `probe` (sync or async) until it returns something truthy."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        value = probe()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        await asyncio.sleep(0.05)
    tail = f"\n{app.log_tail()}" if app is not None else ""
    raise AssertionError(f"timed out after {within}s waiting for {what}{tail}")


async def send(fake: FakeGitHub, event: tuple[str, dict[str, Any]]) -> dict[str, Any]:
    delivery: dict[str, Any] = await asyncio.to_thread(fake.send_webhook, *event)
    return delivery


async def finished_runs(store: Store, count: int) -> list[Run] | None:
    """All runs, once there are `count` of them, all final, and no job is queued or running."""
    runs, _ = await store.list_runs(page=1, per_page=500)
    counts = await store.job_counts()
    pending = await store.pending_deliveries()
    if len(runs) < count or pending or counts["queued"] or counts["running"]:
        return None
    return runs if all(r.state in FINAL for r in runs) else None
