"""Missed-delivery recovery: GitHub never redelivers on its own, so we ask for what we never received."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app.deps import Deps
from app.github.errors import GitHubError
from app.store.base import Store

log = logging.getLogger(__name__)

REDELIVERY_WINDOW = 3 * 24 * 3600  # github.com keeps deliveries redeliverable for 3 days
LAST_SWEEP_KEY = "recovery.last_sweep"
_OVERLAP = (
    600.0  # look 10 minutes further back than the last sweep: clocks and in-flight deliveries
)


@dataclass(frozen=True)
class SweepResult:
    seen: int  # delivery attempts listed
    guids: int
    redelivered: tuple[str, ...]  # GUIDs we asked GitHub to send again
    since: float


def _epoch(stamp: str | None) -> float | None:
    if not stamp:
        return None
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def missing_guids(attempts: list[dict[str, Any]], *, known: dict[str, str]) -> dict[str, int]:
    """GUID → the delivery id to redeliver, for GUIDs with no `OK` attempt that we do not hold.

    `known` maps GUIDs we stored to their local state; anything stored here is ours to finish (a failed
    one is retried by a redelivery GitHub already counted as OK, or by the worker).
    """
    by_guid: dict[str, list[dict[str, Any]]] = {}
    for attempt in attempts:
        by_guid.setdefault(str(attempt.get("guid")), []).append(attempt)
    wanted: dict[str, int] = {}
    for guid, group in by_guid.items():
        if any(a.get("status") == "OK" for a in group) or guid in known:
            continue
        newest = max(group, key=lambda a: _epoch(a.get("delivered_at")) or 0.0)
        wanted[guid] = int(newest["id"])
    return wanted


async def sweep_missed_deliveries(gh: Any, store: Store, *, now: float) -> SweepResult:
    """Page `GET /app/hook/deliveries` back to the last sweep (at most 3 days) and redeliver the missed."""
    last = float(await store.get_meta(LAST_SWEEP_KEY) or 0.0)
    since = max(last - _OVERLAP, now - REDELIVERY_WINDOW)
    attempts: list[dict[str, Any]] = []
    # Newest first, cursor pagination: follow Link rel="next" until older than `since`.
    async for item in gh.getiter("/app/hook/deliveries?per_page=100"):
        stamp = _epoch(item.get("delivered_at"))
        if stamp is not None and stamp < since:
            break
        attempts.append(item)
    known: dict[str, str] = {}
    for guid in {str(a.get("guid")) for a in attempts}:
        stored = await store.get_delivery(guid)
        if stored is not None:
            known[guid] = stored.state.value
    wanted = missing_guids(attempts, known=known)
    redelivered = []
    for guid, delivery_id in sorted(wanted.items()):
        try:
            await gh.post(f"/app/hook/deliveries/{delivery_id}/attempts", data={})
            redelivered.append(guid)
        except GitHubError as exc:
            log.warning(
                "redelivery refused",
                extra={"guid": guid, "delivery": delivery_id, "error": str(exc)},
            )
    await store.set_meta(LAST_SWEEP_KEY, repr(now))
    result = SweepResult(
        len(attempts), len({a.get("guid") for a in attempts}), tuple(redelivered), since
    )
    log.info(
        "missed-delivery sweep",
        extra={"seen": result.seen, "guids": result.guids, "redelivered": len(redelivered)},
    )
    return result


async def run_recovery(deps: Deps, stop: asyncio.Event) -> None:
    """At startup, then every RECOVERY_INTERVAL_SECONDS (default 1 h), until `stop`."""
    interval = deps.settings.recovery_interval_seconds
    if deps.github is None or interval <= 0:
        return
    while not stop.is_set():
        try:
            await sweep_missed_deliveries(deps.github.app_client(), deps.store, now=deps.clock())
        except Exception as exc:  # GitHub down must not stop the service; the next sweep catches up
            log.warning(
                "missed-delivery sweep failed", extra={"error": f"{type(exc).__name__}: {exc}"}
            )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)
