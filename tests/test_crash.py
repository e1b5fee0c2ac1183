"""`python -m app serve` SIGKILLed at each step of a job and started again: every delivery completes once.

The double runs in this process; the app is a real subprocess on a SQLite file. A phase is made slow
and observable with the double's `slow` fault on a route only that phase uses, and the app is killed
while it waits there (the write, if any, dies with it). The harder case, GitHub applying a write whose
answer never reaches the app, goes through `ReplyHoldingProxy`: the app talks to the double through it,
and it keeps the answer of one chosen write until the app has been killed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from app.fake_github import FakeGitHub
from app.store import open_store
from app.store.base import Run, Store
from tests.app_harness import WEBHOOK_SECRET, free_port
from tests.events import comment, labeled
from tests.test_faults import effects_of, our_check_runs, our_comments

pytestmark = pytest.mark.slow

ISSUE = 12
SCENARIO = (
    Path(__file__).parent / "fixtures" / "scenarios" / "01-copilot-lint-private-registry.json"
)
SCENARIO_PR, SCENARIO_ADMIN = 215, "dana-okafor"
WEBHOOK_PATH = "/api/github/webhooks"
FINAL = {"diagnosed", "rejected", "failed", "pr_opened", "blocked"}
R = "/repos/{owner}/{repo}"


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


# Hop-by-hop and framing headers: aiohttp sets its own for the forwarded request and answer.
_NOT_FORWARDED = {"host", "content-length", "transfer-encoding", "connection", "content-encoding"}


class ReplyHoldingProxy:
    """A pass-through to the double that withholds one answer: the write is applied, never confirmed.

    `hold(method, pattern)` arms it for the next request whose path matches; `applied` is set once the
    double has answered that request, and the app then waits (until it is killed, or the proxy stops).
    """

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.url = ""
        self.applied = asyncio.Event()
        self._armed: tuple[str, re.Pattern[str]] | None = None
        self._release = asyncio.Event()
        self._session: aiohttp.ClientSession | None = None
        self._runner: web.AppRunner | None = None

    def hold(self, method: str, pattern: str) -> None:
        self._armed = (method, re.compile(pattern))

    async def start(self) -> str:
        self._session = aiohttp.ClientSession(auto_decompress=False)
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self.url

    def release(self) -> None:
        self._release.set()

    async def stop(self) -> None:
        self._release.set()
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        assert self._session is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _NOT_FORWARDED}
        async with self._session.request(
            request.method,
            self.upstream + request.path_qs,
            headers=headers,
            data=await request.read() or None,
            allow_redirects=False,
        ) as upstream:
            body = await upstream.read()
            kept = {k: v for k, v in upstream.headers.items() if k.lower() not in _NOT_FORWARDED}
            reply = web.Response(status=upstream.status, body=body, headers=kept)
        armed = self._armed
        if armed is not None and request.method == armed[0] and armed[1].search(request.path):
            self._armed = None
            self.applied.set()
            await self._release.wait()  # the app dies waiting; its answer goes nowhere
        return reply


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


def applied(fake: FakeGitHub, method: str, route: str) -> list[dict[str, Any]]:
    """Writes (or requests) the double answered with a 2xx or 3xx, on one route template."""
    log = fake.writes() if method != "GET" else fake.requests()
    return [
        w for w in log if w["method"] == method and w["route"] == route and 0 < w["status"] < 400
    ]


async def send(fake: FakeGitHub, event: tuple[str, dict[str, Any]]) -> dict[str, Any]:
    delivery: dict[str, Any] = await asyncio.to_thread(fake.send_webhook, *event)
    return delivery


async def finished_runs(store: Store, count: int) -> list[Run] | None:
    """All runs, once there are `count` of them, all final, and no job is queued or running."""
    runs, _ = await store.list_runs(page=1, per_page=500)
    counts = await store.job_counts()
    if len(runs) < count or counts["queued"] or counts["running"]:
        return None
    return runs if all(r.state in FINAL for r in runs) else None


@dataclass
class Rig:
    fake: FakeGitHub
    app: AppProcess
    store: Store  # the test's own handle on the app's database
    proxy: ReplyHoldingProxy

    async def restart(self) -> None:
        await self.app.start()

    async def settle(self, runs: int, within: float = 40.0) -> list[Run]:
        result: list[Run] = await wait_until(
            lambda: finished_runs(self.store, runs),
            within=within,
            what=f"{runs} finished run(s)",
            app=self.app,
        )
        return result


@contextlib.asynccontextmanager
async def rig(fake: FakeGitHub, key_pem: bytes, tmp: Path) -> AsyncIterator[Rig]:
    port = free_port()
    database_url = f"sqlite:///{tmp / 'app.db'}"
    fake.configure(
        webhook_url=f"http://127.0.0.1:{port}{WEBHOOK_PATH}", webhook_secret=WEBHOOK_SECRET
    )
    proxy = ReplyHoldingProxy(fake.url)
    env = app_env(fake, key_pem, database_url, port)
    env["GITHUB_API_URL"] = await proxy.start()
    app = AppProcess(env, tmp)
    try:
        await app.start()
        store = open_store(database_url)
        await store.open()
        try:
            yield Rig(fake, app, store, proxy)
        finally:
            await store.close()
    finally:
        proxy.release()
        await app.stop()
        await proxy.stop()


def assert_once(fake: FakeGitHub, runs: Iterable[Run], targets: Iterable[int]) -> None:
    """One created and completed check run per diagnosis run, one sticky comment per target."""
    effects = effects_of(fake.writes())
    diagnoses = [r for r in runs if r.trigger.get("kind", "self_improve") == "self_improve"]
    assert all(r.state == "diagnosed" for r in diagnoses), [(r.state, r.detail) for r in diagnoses]
    expected = {f"self-improve:{r.target_kind}:{r.target_number}:{r.id}": 1 for r in diagnoses}
    assert dict(effects.check_runs) == expected
    assert [r["status"] for r in our_check_runs(fake)] == ["completed"] * len(diagnoses)
    for number in targets:
        assert effects.sticky_comments[number] == 1, number
        assert len(our_comments(fake, number)) == 1, number


def phases_seen(writes: Iterable[Mapping[str, Any]]) -> list[str]:
    """The check-run PATCHes as the double applied them: a phase title, or the final status."""
    seen = []
    for w in writes:
        if w["method"] == "PATCH" and "/check-runs/" in w["path"] and 0 < w["status"] < 300:
            body = w.get("body") or {}
            seen.append(str(body.get("status") or (body.get("output") or {}).get("title")))
    return seen


# --- the tests ---------------------------------------------------------------------------------


async def test_sigkill_right_after_the_202_runs_the_job_once(
    fake_github: FakeGitHub, app_key_pem: bytes, tmp_path: Path
) -> None:
    """The delivery is stored before the 202: killed at once, the next start runs it exactly once."""
    # the job's first request (its installation token) waits, so the kill lands before any effect
    token = "POST /app/installations/{installation_id}/access_tokens"
    fake_github.set_faults([{"kind": "slow", "route": token, "count": 1, "delay_ms": 1500}])
    async with rig(fake_github, app_key_pem, tmp_path) as r:
        delivery = await send(fake_github, labeled(fake_github, ISSUE))
        r.app.kill()
        assert delivery["status_code"] == 202
        assert [w for w in fake_github.writes() if w["path"].startswith("/repos/")] == []
        assert (await r.store.get_delivery(delivery["guid"])) is not None
        assert sum((await r.store.job_counts()).values()) == 1
        await r.restart()
        runs = await r.settle(1)
        assert_once(fake_github, runs, [ISSUE])
        assert len(runs) == 1


async def test_sigkill_during_gathering_resumes_on_the_same_check_run(
    fake_github: FakeGitHub, app_key_pem: bytes, tmp_path: Path
) -> None:
    """Killed while reading job logs: the restart reopens the run's check run, never a second one."""
    logs = f"GET {R}/actions/jobs/{{job_id}}/logs"
    fake_github.set_faults([{"kind": "slow", "route": logs, "count": 1, "delay_ms": 4000}])
    async with rig(fake_github, app_key_pem, tmp_path) as r:
        await send(fake_github, labeled(fake_github, ISSUE))
        # the log downloads follow the jobs listing: once it is answered, the slow request is near
        await wait_until(
            lambda: applied(fake_github, "GET", f"{R}/actions/runs/{{run_id}}/jobs"),
            what="gathering to list the Actions jobs",
            app=r.app,
        )
        await asyncio.sleep(0.3)
        r.app.kill()
        [run] = (await r.store.list_runs(page=1, per_page=10))[0]
        assert run.state == "gathering"
        assert "completed" not in phases_seen(fake_github.writes())
        await r.restart()
        runs = await r.settle(1)
        assert_once(fake_github, runs, [ISSUE])
        job = await r.store.get_job(runs[0].job_id)
        assert job is not None and job.attempts == 2


async def held_write_killed(r: Rig, method: str, pattern: str, *, within: float = 30.0) -> None:
    """Arm the proxy on a write, wait until the double applied it, then kill the app waiting for it."""
    r.proxy.hold(method, pattern)
    try:
        await asyncio.wait_for(r.proxy.applied.wait(), within)
    except TimeoutError:
        raise AssertionError(f"{method} {pattern} was never sent:\n{r.app.log_tail()}") from None
    r.app.kill()


async def test_sigkill_while_the_check_run_is_created_leaves_no_second_one(
    fake_github: FakeGitHub, app_key_pem: bytes, tmp_path: Path
) -> None:
    """GitHub created the check run, the app died before the answer: the restart finds that run by its
    external_id and completes it; none stays in progress."""
    async with rig(fake_github, app_key_pem, tmp_path) as r:
        await send(fake_github, labeled(fake_github, ISSUE))
        await held_write_killed(r, "POST", r"/check-runs$")
        await r.restart()
        runs = await r.settle(1)
        assert_once(fake_github, runs, [ISSUE])


async def test_sigkill_after_github_took_the_comment_leaves_one_comment(
    fake_github: FakeGitHub, app_key_pem: bytes, tmp_path: Path
) -> None:
    """GitHub posted the sticky comment, the app died before the answer: the restart edits it in place."""
    async with rig(fake_github, app_key_pem, tmp_path) as r:
        await send(fake_github, labeled(fake_github, ISSUE))
        await held_write_killed(r, "POST", rf"/issues/{ISSUE}/comments$")
        [run] = (await r.store.list_runs(page=1, per_page=10))[0]
        assert run.state == "publishing" and "comment_id" not in run.effects
        await r.restart()
        runs = await r.settle(1)
        assert_once(fake_github, runs, [ISSUE])


async def test_sigkill_during_publishing_before_github_answers(
    fake_github: FakeGitHub, app_key_pem: bytes, tmp_path: Path
) -> None:
    """Killed while the comment POST is still on its way (it dies with the app): the restart posts it,
    once, and completes the same check run."""
    post = f"POST {R}/issues/{{issue_number}}/comments"
    fake_github.set_faults([{"kind": "slow", "route": post, "count": 1, "delay_ms": 1500}])
    async with rig(fake_github, app_key_pem, tmp_path) as r:
        await send(fake_github, labeled(fake_github, ISSUE))
        await wait_until(
            lambda: "completed" in phases_seen(fake_github.writes()),
            what="the check run to complete (publishing starts)",
            app=r.app,
        )
        await asyncio.sleep(0.3)
        r.app.kill()
        [run] = (await r.store.list_runs(page=1, per_page=10))[0]
        assert run.state == "publishing"
        await r.restart()
        runs = await r.settle(1)
        assert_once(fake_github, runs, [ISSUE])


async def test_sigkill_after_github_took_the_refusal_leaves_one_reply(
    fake_github: FakeGitHub, app_key_pem: bytes, tmp_path: Path
) -> None:
    """An outsider's command is refused; the app dies before hearing the reply was posted: the restart
    finds that reply and does not post a second one."""
    async with rig(fake_github, app_key_pem, tmp_path) as r:
        await send(
            fake_github, comment(fake_github, ISSUE, "/self-improve", sender="drive-by-user")
        )
        await held_write_killed(r, "POST", rf"/issues/{ISSUE}/comments$")
        await r.restart()
        [run] = await r.settle(1)
        assert run.state == "rejected"
        replies = [
            c
            for c in fake_github.world.issue_comments(ISSUE)
            if "self-improve:refusal" in str(c.get("body"))
        ]
        assert len(replies) == 1
        assert our_check_runs(fake_github) == []


async def pr_rig_diagnosed(r: Rig) -> None:
    """The scenario's PR diagnosed (no crash yet): what a maintainer approves."""
    await send(r.fake, labeled(r.fake, SCENARIO_PR, sender=SCENARIO_ADMIN, pull_request=True))
    [run] = await r.settle(1)
    assert run.state == "diagnosed" and run.diagnosis and run.diagnosis["action_items"]


def apply_comment(fake: FakeGitHub, comment_id: int) -> tuple[str, dict[str, Any]]:
    return comment(
        fake,
        SCENARIO_PR,
        "/self-improve apply",
        sender=SCENARIO_ADMIN,
        comment_id=comment_id,
        pull_request=True,
    )


@pytest.mark.parametrize(
    ("method", "pattern"),
    [
        ("POST", r"/git/commits$"),  # the commit made, the branch not yet created
        ("POST", r"/git/refs$"),  # the branch created, no PR yet
        ("POST", r"/pulls$"),  # the PR opened, not yet labelled nor linked
    ],
    ids=["commit", "branch", "pull"],
)
async def test_sigkill_during_the_pr_step_opens_one_pr(
    method: str, pattern: str, fake_github_factory: Any, app_key_pem: bytes, tmp_path: Path
) -> None:
    """Killed in the PR step after GitHub applied a write the app never heard about: one PR, labelled,
    linked once from the source thread, and the approval run finished."""
    fake = fake_github_factory(snapshot=SCENARIO)
    async with rig(fake, app_key_pem, tmp_path) as r:
        await pr_rig_diagnosed(r)
        await send(fake, apply_comment(fake, 501))
        await held_write_killed(r, method, pattern)
        await r.restart()
        runs = await r.settle(2)
        approval = next(x for x in runs if x.trigger.get("kind") != "self_improve")
        assert approval.state == "pr_opened", (approval.state, approval.detail)
        assert effects_of(fake.writes()).pulls == 1
        [number] = fake.world.created_pulls
        assert [x["name"] for x in fake.world.issue_labels(number)] == ["self-improve"]
        links = [
            c
            for c in fake.world.issue_comments(SCENARIO_PR)
            if "self-improve:pr-link" in str(c.get("body"))
        ]
        assert len(links) == 1
        assert_once(fake, runs, [SCENARIO_PR])
