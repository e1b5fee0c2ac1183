"""Retention: finished deliveries and ended jobs older than DELIVERY_RETENTION_DAYS go; waiting ones
stay."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from app import retention
from app.deps import build_deps
from app.settings import SettingsError, load_settings
from app.store.base import Accepted, DeliveryIn, DeliveryState, JobIn, Routing, Store

DAY = 24 * 3600.0


def delivery(guid: str) -> DeliveryIn:
    return DeliveryIn(guid=guid, event="issues", hook_id=None, payload=json.dumps({}).encode())


async def stored(store: Store, guid: str, *, at: float, routing: Routing | None) -> None:
    """A delivery received at `at`, then routed with `routing` (None: left waiting to be routed)."""
    assert await store.accept_delivery(delivery(guid), now=at) is Accepted.NEW
    if routing is not None:
        [routed] = await store.route_deliveries(lambda _e, _b: routing, limit=1, now=at)
        assert routed.guid == guid


async def states(store: Store, *guids: str) -> dict[str, DeliveryState | None]:
    found = {g: await store.get_delivery(g) for g in guids}
    return {g: (d.state if d is not None else None) for g, d in found.items()}


async def test_only_old_finished_deliveries_are_pruned(store: Store) -> None:
    """Done, ignored and failed deliveries past the cutoff go, oldest first and `limit` at a time;
    one waiting to be routed or for its job stays, however old."""
    job = JobIn(kind="self_improve", idempotency_key="k", target_key="a/b#1", payload={})
    await stored(store, "old-ignored", at=1.0, routing=Routing())
    await stored(store, "old-failed", at=2.0, routing=Routing(error="bad payload"))
    await stored(store, "old-with-job", at=4.0, routing=Routing(jobs=[job]))
    await stored(store, "new-ignored", at=10 * DAY, routing=Routing())
    await stored(store, "old-pending", at=3.0, routing=None)  # last: routing takes the oldest first
    assert await store.prune_deliveries(before=5 * DAY, limit=1) == 1
    assert (await states(store, "old-ignored"))["old-ignored"] is None
    assert await store.prune_deliveries(before=5 * DAY, limit=100) == 1
    assert await states(store, "old-failed", "old-pending", "old-with-job", "new-ignored") == {
        "old-failed": None,
        "old-pending": DeliveryState.PENDING,
        "old-with-job": DeliveryState.RECEIVED,
        "new-ignored": DeliveryState.IGNORED,
    }
    assert await store.prune_deliveries(before=5 * DAY, limit=100) == 0


async def test_pruning_works_through_a_backlog_in_chunks(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """More old deliveries than one chunk: every one goes, a chunk per transaction."""
    monkeypatch.setattr(retention, "_CHUNK", 4)
    for i in range(10):
        await store.accept_delivery(delivery(f"g{i}"), now=float(i))
    await store.route_deliveries(lambda _e, _b: Routing(), limit=100, now=10.0)
    await stored(store, "recent", at=20 * DAY, routing=Routing())
    deleted = await retention.prune_old_records(store, now=20 * DAY, retention_days=14)
    assert deleted == {"deliveries": 10, "jobs": 0}
    assert await states(store, "g0", "g9", "recent") == {
        "g0": None,
        "g9": None,
        "recent": DeliveryState.IGNORED,
    }


def job(key: str, target: str = "a/b#1", installation_id: int = 1) -> JobIn:
    return JobIn(
        kind="self_improve",
        idempotency_key=key,
        target_key=target,
        payload={},
        installation_id=installation_id,
    )


async def test_only_jobs_that_ended_long_ago_are_pruned(store: Store) -> None:
    """Done, failed and cancelled jobs last updated before the cutoff go; queued and running ones,
    and recent ended ones, stay. A trigger seen again after its job went queues a new job."""
    for n, key in enumerate(("done", "failed", "running", "recent"), start=1):
        assert await store.enqueue_job(job(key, f"a/b#{n}"), now=1.0) is not None
    claimed = {
        j.idempotency_key: j.id
        for j in await store.claim_jobs("w", limit=10, lease_seconds=99 * DAY, now=1.0)
    }
    assert await store.finish_job(claimed["done"], "w", now=2.0)
    assert await store.fail_job(claimed["failed"], "w", error="boom", retry_at=None, now=2.0)
    assert await store.finish_job(claimed["recent"], "w", now=20 * DAY)
    assert await store.enqueue_job(job("cancelled", "a/b#5", installation_id=2), now=1.0)
    assert await store.cancel_installation_jobs(2, now=2.0) == 1
    assert await store.enqueue_job(job("queued", "a/b#6"), now=1.0) is not None

    assert await store.prune_jobs(before=5 * DAY, limit=2) == 2
    assert await store.prune_jobs(before=5 * DAY, limit=100) == 1
    assert await store.prune_jobs(before=5 * DAY, limit=100) == 0
    counts = await store.job_counts()
    assert {state: n for state, n in counts.items() if n} == {"queued": 1, "running": 1, "done": 1}
    assert await store.enqueue_job(job("done", "a/b#1"), now=30 * DAY) is not None


@pytest.mark.parametrize("days", ["1", "2.5"])
def test_retention_shorter_than_githubs_redelivery_window_is_refused(days: str) -> None:
    """Under 3 days the sweep could no longer tell a delivery we hold from one we missed."""
    with pytest.raises(SettingsError, match=r"DELIVERY_RETENTION_DAYS: .*at least 3"):
        load_settings(None, delivery_retention_days=days)


async def test_the_service_prunes_at_startup_and_stops_on_request(tmp_path: Path) -> None:
    """run_retention prunes when the worker starts and returns when asked to stop; 0 turns it off."""
    settings = load_settings(
        None, database_url=f"sqlite:///{tmp_path}/app.db", delivery_retention_days="3"
    )
    async with build_deps(settings, clock=lambda: 30 * DAY) as deps:
        await stored(deps.store, "old", at=1.0, routing=Routing())
        stop = asyncio.Event()
        task = asyncio.create_task(retention.run_retention(deps, stop))
        for _ in range(200):
            if await deps.store.get_delivery("old") is None:
                break
            await asyncio.sleep(0.01)
        assert await deps.store.get_delivery("old") is None
        stop.set()
        await asyncio.wait_for(task, 5)
    off = load_settings(
        None, database_url=f"sqlite:///{tmp_path}/off.db", delivery_retention_days=0
    )
    async with build_deps(off, clock=lambda: 30 * DAY) as deps:
        await stored(deps.store, "old", at=1.0, routing=Routing())
        await asyncio.wait_for(retention.run_retention(deps, asyncio.Event()), 5)
        assert await deps.store.get_delivery("old") is not None
