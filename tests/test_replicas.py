"""Two `serve` replicas on one PostgreSQL schema, as two services or as one of two processes (`serve
--processes 2`): 50 triggers on 50 issues, each processed exactly once."""

from __future__ import annotations

import asyncio
import copy
import json
import os
import signal
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest

from app.fake_github import FakeGitHub
from app.fake_github.pytest_plugin import SMALL_SNAPSHOT
from app.store import open_store
from app.store.base import Run, Store
from tests.app_harness import WEBHOOK_SECRET, free_port
from tests.app_process import WEBHOOK_PATH, AppProcess, app_env, finished_runs, send, wait_until
from tests.effects import effects_of, our_check_runs, our_comments
from tests.events import labeled
from tests.store_backends import POSTGRES_URL

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

TARGETS = list(range(100, 150))  # 50 issues the generated snapshot adds to small.json's repository


def many_issues(numbers: list[int]) -> dict[str, Any]:
    """small.json with its issue copied under each number (fresh ids, so the double keeps them apart)."""
    data: dict[str, Any] = json.loads(SMALL_SNAPSHOT.read_text())
    [template] = data["issues"]
    issues = []
    for number in numbers:
        evidence = copy.deepcopy(template)
        issue = evidence["issue"]
        old = issue["number"]
        for key in ("url", "html_url", "comments_url", "events_url", "labels_url"):
            if isinstance(issue.get(key), str):
                issue[key] = issue[key].replace(f"/issues/{old}", f"/issues/{number}")
        issue.update(number=number, id=3_400_000_000 + number, node_id=f"I_kwDOfake{number}")
        for index, comment in enumerate(evidence["comments"]):
            comment["id"] = 3_800_000_000 + number * 100 + index
            comment["issue_url"] = issue["url"]
        issues.append(evidence)
    data["issues"] = [*data["issues"], *issues]
    return data


@pytest.fixture
async def schema() -> AsyncIterator[str]:
    """A fresh PostgreSQL schema for the replicas, dropped afterwards; fails loudly without a server."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    try:
        conn = await asyncpg.connect(POSTGRES_URL, timeout=5)
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.fail(f"PostgreSQL is not reachable at {POSTGRES_URL} ({exc})", pytrace=False)
    try:
        await conn.execute(f'CREATE SCHEMA "{name}"')
    finally:
        await conn.close()
    try:
        yield name
    finally:
        conn = await asyncpg.connect(POSTGRES_URL, timeout=5)
        try:
            await conn.execute(f'DROP SCHEMA "{name}" CASCADE')
        finally:
            await conn.close()


def schema_url(schema: str) -> str:
    separator = "&" if "?" in POSTGRES_URL else "?"
    return f"{POSTGRES_URL}{separator}options=-csearch_path%3D{schema}"


def replica(
    fake: FakeGitHub, key_pem: bytes, database_url: str, tmp: Path, name: str
) -> AppProcess:
    env = app_env(fake, key_pem, database_url, free_port())
    env["LOG_LEVEL"] = "INFO"  # each replica's log tells which runs it did
    env["LOG_FORMAT"] = "json"
    return AppProcess(env, tmp, name=name)


def runs_done_by(app: AppProcess) -> int:
    """Diagnoses this replica's worker finished, as its own log records them."""
    return sum(
        1
        for line in "\n".join(p.read_text() for p in app.logs).splitlines()
        if '"run.self_improve.diagnosis_ready"' in line
    )


async def deliver_to(fake: FakeGitHub, app: AppProcess, number: int) -> None:
    url = f"http://127.0.0.1:{app.port}{WEBHOOK_PATH}"
    await asyncio.to_thread(fake.configure, webhook_url=url, webhook_secret=WEBHOOK_SECRET)
    delivery = await send(fake, labeled(fake, number))
    assert delivery["status_code"] == 202, delivery


def assert_each_target_once(fake: FakeGitHub, runs: list[Run]) -> None:
    """One diagnosed run, one check run (created once, completed) and one sticky comment per target."""
    assert sorted(r.target_number for r in runs) == TARGETS
    assert {r.state for r in runs} == {"diagnosed"}, [(r.id, r.state, r.detail) for r in runs]
    effects = effects_of(fake.writes())
    expected = {f"self-improve:issue:{r.target_number}:{r.id}": 1 for r in runs}
    assert dict(effects.check_runs) == expected
    assert [r["status"] for r in our_check_runs(fake)] == ["completed"] * len(TARGETS)
    assert {n: effects.sticky_comments[n] for n in TARGETS} == dict.fromkeys(TARGETS, 1)
    assert all(len(our_comments(fake, n)) == 1 for n in TARGETS)


async def open_schema_store(database_url: str) -> Store:
    store = open_store(database_url)
    await store.open()  # migrates the empty schema before any replica starts
    return store


async def test_two_replicas_process_fifty_triggers_once_each(
    fake_github_factory: Any, app_key_pem: bytes, tmp_path: Path, schema: str
) -> None:
    """50 label deliveries spread over two serve replicas sharing one store: 50 runs, each with one
    check run and one comment, and both replicas' workers took part."""
    fake = fake_github_factory(snapshot=many_issues(TARGETS))
    database_url = schema_url(schema)
    store = await open_schema_store(database_url)
    apps = [replica(fake, app_key_pem, database_url, tmp_path, f"replica-{i}") for i in (1, 2)]
    try:
        for app in apps:
            await app.start()
        for index, number in enumerate(TARGETS):
            await deliver_to(fake, apps[index % 2], number)
        runs: list[Run] = await wait_until(
            lambda: finished_runs(store, len(TARGETS)), within=90, what="50 finished runs"
        )
        assert_each_target_once(fake, runs)
        counts = await store.job_counts()
        assert counts["done"] == len(TARGETS) and counts["failed"] == 0
        done_by = [runs_done_by(app) for app in apps]
        assert sum(done_by) == len(TARGETS) and min(done_by) > 0, done_by
    finally:
        for app in apps:
            await app.stop()
        await store.close()


async def test_the_surviving_replica_finishes_what_a_killed_one_held(
    fake_github_factory: Any, app_key_pem: bytes, tmp_path: Path, schema: str
) -> None:
    """One replica SIGKILLed with jobs in hand: the other takes them over when their leases lapse, and
    every target still ends with one run, one check run and one comment."""
    fake = fake_github_factory(snapshot=many_issues(TARGETS))
    database_url = schema_url(schema)
    store = await open_schema_store(database_url)
    apps = [replica(fake, app_key_pem, database_url, tmp_path, f"replica-{i}") for i in (1, 2)]
    # every job's gathering waits a moment, so the victim holds leases when it dies
    slow = {"kind": "slow", "route": "GET /repos/{owner}/{repo}/issues/{issue_number}/timeline"}
    fake.set_faults([slow | {"delay_ms": 150}])
    try:
        for app in apps:
            await app.start()
        for index, number in enumerate(TARGETS):
            await deliver_to(fake, apps[index % 2], number)

        async def some_done() -> bool:
            runs, _ = await store.list_runs(page=1, per_page=500)
            return sum(r.state == "diagnosed" for r in runs) >= 10

        await wait_until(some_done, within=60, what="ten runs finished")
        victim = apps[0].proc
        assert victim is not None

        async def victim_holds_a_job() -> bool:
            # job ids are dense from 1; a worker's id is host:pid:suffix
            for job_id in range(1, 4 * len(TARGETS)):
                job = await store.get_job(job_id)
                owner = job.lease_owner if job is not None else None
                if (
                    job is not None
                    and job.state == "running"
                    and f":{victim.pid}:" in (owner or "")
                ):
                    return True
            return False

        await wait_until(victim_holds_a_job, within=60, what="the victim holding a job")
        apps[0].kill()
        runs: list[Run] = await wait_until(
            lambda: finished_runs(store, len(TARGETS)), within=90, what="50 finished runs"
        )
        assert_each_target_once(fake, runs)
        counts = await store.job_counts()
        assert counts["done"] == len(TARGETS) and counts["failed"] == 0
        jobs = [await store.get_job(r.job_id) for r in runs]
        taken_over = [j.id for j in jobs if j is not None and j.attempts > 1]
        assert taken_over, "the killed replica held at least one job the survivor finished"
    finally:
        for app in apps:
            await app.stop()
        await store.close()


def logged(app: AppProcess, message: str) -> list[dict[str, Any]]:
    """The JSON log lines of `app` (all its processes) with this message."""
    lines = "\n".join(p.read_text() for p in app.logs).splitlines()
    docs = [json.loads(line) for line in lines if line.startswith("{")]
    return [d for d in docs if d.get("message") == message]


def serve_processes(fake: FakeGitHub, key_pem: bytes, database_url: str, tmp: Path) -> AppProcess:
    """`serve --processes 2`; TMPDIR in `tmp`, so the shared metrics directory can be looked for."""
    env = app_env(fake, key_pem, database_url, free_port())
    env.update(LOG_LEVEL="INFO", LOG_FORMAT="json", TMPDIR=str(tmp))
    return AppProcess(env, tmp, command=("serve", "--processes", "2"), name="two-processes")


def metrics_dirs(tmp: Path) -> list[Path]:
    return list(tmp.glob("self-improve-metrics-*"))


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def listening_pids(app: AppProcess) -> list[int] | None:
    """The pids of the two serving processes, once both have logged that they listen."""
    pids = sorted({d["pid"] for d in logged(app, "listening")})
    return pids if len(pids) == 2 else None


async def both_listening(app: AppProcess) -> list[int]:
    pids: list[int] = await wait_until(
        lambda: listening_pids(app), within=30, what="both processes listening", app=app
    )
    return pids


async def test_two_processes_on_one_port_process_fifty_triggers_once_each(
    fake_github_factory: Any, app_key_pem: bytes, tmp_path: Path, schema: str
) -> None:
    """One service of two processes sharing the port: the deliveries spread over both, every target
    gets one run, one check run and one comment, /metrics counts all deliveries whichever process
    answers, and SIGTERM stops both and removes the shared metrics directory."""
    fake = fake_github_factory(snapshot=many_issues(TARGETS))
    database_url = schema_url(schema)
    store = await open_schema_store(database_url)
    app = serve_processes(fake, app_key_pem, database_url, tmp_path)
    try:
        await app.start()
        children = await both_listening(app)
        url = f"http://127.0.0.1:{app.port}{WEBHOOK_PATH}"
        await asyncio.to_thread(fake.configure, webhook_url=url, webhook_secret=WEBHOOK_SECRET)
        events = [labeled(fake, number) for number in TARGETS]
        # concurrent sends open several connections; the kernel spreads them over the processes
        deliveries = await asyncio.gather(*(send(fake, event) for event in events))
        assert [d["status_code"] for d in deliveries] == [202] * len(TARGETS)
        runs: list[Run] = await wait_until(
            lambda: finished_runs(store, len(TARGETS)), within=90, what="50 finished runs", app=app
        )
        assert_each_target_once(fake, runs)
        accepted_by = {d["pid"] for d in logged(app, "delivery accepted")}
        assert accepted_by == set(children), (accepted_by, children)
        for _ in range(4):  # whichever process answers /metrics reports every process's counts
            async with (
                aiohttp.ClientSession() as session,
                session.get(f"http://127.0.0.1:{app.port}/metrics") as reply,
            ):
                text = await reply.text()
            line = 'self_improve_webhook_deliveries_total{event="issues",outcome="accepted"}'
            assert f"{line} {float(len(TARGETS))}" in text, text
        assert metrics_dirs(tmp_path)
        proc = app.proc
        assert proc is not None
        await app.stop()
        assert proc.returncode == 0, app.log_tail()
        assert not metrics_dirs(tmp_path)
        assert not any(alive(pid) for pid in children)
    finally:
        await app.stop()
        await store.close()


async def test_a_process_that_dies_stops_the_service_with_a_failure(
    fake_github_factory: Any, app_key_pem: bytes, tmp_path: Path, schema: str
) -> None:
    """SIGKILL one of the two processes: the parent stops the other and exits non-zero, so whatever
    runs the service restarts it whole, and says which process died."""
    fake = fake_github_factory()
    app = serve_processes(fake, app_key_pem, schema_url(schema), tmp_path)
    try:
        await app.start()
        victim, survivor = await both_listening(app)
        os.kill(victim, signal.SIGKILL)
        proc = app.proc
        assert proc is not None
        code = await asyncio.to_thread(proc.wait, 30)
        assert code == 1, app.log_tail()
        [died] = logged(app, "a serve process exited on its own: stopping the others")
        assert died["pid"] == victim and died["exit_code"] == -signal.SIGKILL
        assert not alive(survivor)
        assert not metrics_dirs(tmp_path)
    finally:
        await app.stop()
