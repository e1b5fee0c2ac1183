"""Delivery retention: every stored delivery keeps its whole payload, so finished ones are deleted once
they are older than DELIVERY_RETENTION_DAYS (hourly, by the worker)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from app.deps import Deps
from app.store.base import Store

log = logging.getLogger(__name__)

INTERVAL_SECONDS = 3600.0
_CHUNK = 1000  # rows per transaction, so a large backlog never holds the writer for long


async def prune_old_deliveries(store: Store, *, now: float, retention_days: float) -> int:
    """Delete finished deliveries received more than `retention_days` ago; how many went."""
    before = now - retention_days * 24 * 3600
    total = 0
    while (pruned := await store.prune_deliveries(before=before, limit=_CHUNK)) > 0:
        total += pruned
        if pruned < _CHUNK:
            break
    if total:
        log.info(
            "old deliveries deleted", extra={"deleted": total, "retention_days": retention_days}
        )
    return total


async def run_retention(deps: Deps, stop: asyncio.Event) -> None:
    """At startup, then hourly, until `stop`; DELIVERY_RETENTION_DAYS=0 turns it off."""
    days = deps.settings.delivery_retention_days
    if days <= 0:
        return
    while not stop.is_set():
        try:
            await prune_old_deliveries(deps.store, now=deps.clock(), retention_days=days)
        except Exception as exc:  # a busy or unreachable store must not stop the service
            log.warning(
                "delivery retention failed", extra={"error": f"{type(exc).__name__}: {exc}"}
            )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), INTERVAL_SECONDS)
