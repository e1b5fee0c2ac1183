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
import re
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from app.fake_github import FakeGitHub
from app.store import open_store
from app.store.base import DeliveryState, Run, Store
from tests.app_harness import WEBHOOK_SECRET, free_port
from tests.app_process import (
    WEBHOOK_PATH,
    AppProcess,
    app_env,
    finished_runs,
    send,
    wait_until,
)
from tests.effects import effects_of, our_check_runs, our_comments
from tests.events import comment, labeled

pytestmark = pytest.mark.slow

ISSUE = 12
SCENARIO = (
    Path(__file__).parent / "fixtures" / "scenarios" / "01-copilot-lint-private-registry.json"
)
SCENARIO_PR, SCENARIO_ADMIN = 215, "dana-okafor"
R = "/repos/{owner}/{repo}"


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


def applied(fake: FakeGitHub, method: str, route: str) -> list[dict[str, Any]]:
    """Writes (or requests) the double answered with a 2xx or 3xx, on one route template."""
    log = fake.writes() if method != "GET" else fake.requests()
    return [
        w for w in log if w["method"] == method and w["route"] == route and 0 < w["status"] < 400
    ]


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
        stored = await r.store.get_delivery(delivery["guid"])
        # killed before or just after the worker routed it: either way it is ours to finish
        assert stored is not None and stored.state in {
            DeliveryState.PENDING,
            DeliveryState.RECEIVED,
        }
        assert sum((await r.store.job_counts()).values()) <= 1
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


async def test_a_push_before_the_restart_does_not_strand_the_created_check_run(
    fake_github: FakeGitHub, app_key_pem: bytes, tmp_path: Path
) -> None:
    """GitHub created the check run on the head of the day, the app died before the answer, and a push
    moved the head before the restart: the run is still found on the commit it was made on and
    completed there, not left in progress beside a second one on the new head."""
    async with rig(fake_github, app_key_pem, tmp_path) as r:
        await send(fake_github, labeled(fake_github, ISSUE))
        await held_write_killed(r, "POST", r"/check-runs$")
        world = fake_github.world
        ref = f"heads/{world.default_branch}"
        before = world.git.refs[ref]
        pushed = world.create_commit(
            {
                "message": "a push while the app was down",
                "tree": world.git_commit(before)["tree"]["sha"],
                "parents": [before],
            },
            0.0,
        )
        world.update_ref(ref, {"sha": pushed["sha"]})
        await r.restart()
        runs = await r.settle(1)
        assert_once(fake_github, runs, [ISSUE])
        [check_run] = our_check_runs(fake_github)
        assert check_run["head_sha"] == before


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
