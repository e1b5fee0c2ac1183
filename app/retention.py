"""Retention: every stored delivery keeps its whole payload, so finished deliveries, and the jobs that
ended with them, are deleted once they are older than DELIVERY_RETENTION_DAYS (hourly, by the worker).
Runs and audit events are the history and stay."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable
from typing import Protocol

from app.deps import Deps
from app.store.base import Store

log = logging.getLogger(__name__)

INTERVAL_SECONDS = 3600.0
_CHUNK = 1000  # rows per transaction, so a large backlog never holds the writer for long


class _Prune(Protocol):  # a store's prune_* method: how many rows it deleted
    def __call__(self, *, before: float, limit: int = ...) -> Awaitable[int]: ...


async def _in_chunks(prune: _Prune, before: float) -> int:
    total = 0
    while (pruned := await prune(before=before, limit=_CHUNK)) > 0:
        total += pruned
        if pruned < _CHUNK:
            break
    return total


async def prune_old_records(store: Store, *, now: float, retention_days: float) -> dict[str, int]:
    """Delete finished deliveries received, and ended jobs last updated, more than `retention_days`
    ago; how many of each went. Waiting deliveries and queued or running jobs stay, whatever their age.

    A job's idempotency key dedupes a trigger delivered twice; both copies arrive within GitHub's
    3-day redelivery window, which the retention may not be shorter than."""
    before = now - retention_days * 24 * 3600
    deleted = {
        "deliveries": await _in_chunks(store.prune_deliveries, before),
        "jobs": await _in_chunks(store.prune_jobs, before),
    }
    if any(deleted.values()):
        log.info("old records deleted", extra={**deleted, "retention_days": retention_days})
    return deleted


async def run_retention(deps: Deps, stop: asyncio.Event) -> None:
    """At startup, then hourly, until `stop`; DELIVERY_RETENTION_DAYS=0 turns it off."""
    days = deps.settings.delivery_retention_days
    if days <= 0:
        return
    while not stop.is_set():
        try:
            await prune_old_records(deps.store, now=deps.clock(), retention_days=days)
        except Exception as exc:  # a busy or unreachable store must not stop the service
            log.warning("retention failed", extra={"error": f"{type(exc).__name__}: {exc}"})
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), INTERVAL_SECONDS)
