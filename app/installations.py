"""Installation bookkeeping: record installs, and forget a removed or suspended installation at once."""

from __future__ import annotations

import logging

from app.deps import Deps
from app.store.base import Job

log = logging.getLogger(__name__)

_STATES = {
    "created": "active",
    "unsuspend": "active",
    "new_permissions_accepted": "active",
    "added": "active",
    "removed": "active",  # some repositories left; the installation itself stays
    "suspend": "suspended",
    "deleted": "deleted",
}


async def handle_installation(job: Job, deps: Deps) -> None:
    source = job.payload.get("source") or {}
    installation_id = job.payload.get("installation_id")
    action = source.get("action")
    if installation_id is None or action not in _STATES:
        return
    state = _STATES[action]
    removed = state != "active"
    cancelled = (
        await deps.store.cancel_installation_jobs(installation_id, now=deps.clock())
        if removed
        else 0
    )
    # The state is written last: once it reads "deleted", its waiting jobs are already cancelled.
    await deps.store.set_installation(
        installation_id, account=source.get("account"), state=state, now=deps.clock()
    )
    if not removed:
        return
    if deps.github is not None:
        deps.github.invalidate_installation(installation_id)
    log.info(
        "installation removed: queued jobs cancelled, tokens dropped",
        extra={"installation": installation_id, "state": state, "jobs_cancelled": cancelled},
    )
