"""The store's logic, once for every backend: each operation is a generator that yields statements.

A backend drives the generator: it runs each yielded `Stmt` and sends the result back. SQLite drives it
on its writer thread, PostgreSQL with asyncpg awaits each statement; the rules (dedup, coalescing, leases)
live here only. SQL uses `?` placeholders; the PostgreSQL driver renumbers them.
"""

from __future__ import annotations

import json
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import lz4.frame

from app.store.base import (
    RUN_JSON_FIELDS,
    RUN_UPDATABLE,
    Accepted,
    AuditEvent,
    Delivery,
    DeliveryIn,
    DeliveryState,
    Job,
    JobIn,
    JobState,
    Routed,
    RoutedDelivery,
    Router,
    Routing,
    Run,
    RunIn,
    dumps,
)

T = TypeVar("T")

# SQLite reads this as a comment (its writer thread already serialises claims); the PostgreSQL driver
# replaces it with row locks that let replicas claim side by side without taking the same row.
LOCK_FOR_CLAIM = "/*lock-for-claim*/"
_CLAIMABLE = (
    "SELECT * FROM jobs j WHERE j.state = ? AND j.run_after <= ? AND NOT EXISTS ("
    " SELECT 1 FROM jobs r WHERE r.target_key = j.target_key AND r.state = ?)"
    " ORDER BY j.run_after, j.id LIMIT ? /*lock-for-claim*/"
)


@dataclass(frozen=True)
class Stmt:
    sql: str
    args: tuple[Any, ...]
    fetch: Literal["all", "one", "run"]


Op = Generator[Stmt, Any, T]


def _all(sql: str, *args: Any) -> Stmt:
    return Stmt(sql, args, "all")


def _one(sql: str, *args: Any) -> Stmt:
    return Stmt(sql, args, "one")


def _run(sql: str, *args: Any) -> Stmt:
    return Stmt(sql, args, "run")


def drive(cursor: Any, op: Op[T]) -> T:
    """Run an operation to the end on a synchronous cursor."""
    try:
        stmt = next(op)
        while True:
            result = getattr(cursor, stmt.fetch)(stmt.sql, *stmt.args)
            stmt = op.send(result)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]  # the generator's declared return type


# -- rows to records -------------------------------------------------------------------------------


def _job(row: dict[str, Any]) -> Job:
    return Job(
        id=int(row["id"]),
        kind=row["kind"],
        idempotency_key=row["idempotency_key"],
        target_key=row["target_key"],
        delivery_guid=row["delivery_guid"],
        installation_id=row["installation_id"],
        repository=row["repository"],
        payload=json.loads(row["payload"]),
        state=JobState(row["state"]),
        attempts=row["attempts"],
        max_attempts=row["max_attempts"],
        lease_owner=row["lease_owner"],
        lease_until=row["lease_until"],
        run_after=row["run_after"],
        last_error=row["last_error"],
        coalesced=row["coalesced"],
        created_at=row["created_at"],
    )


def _delivery(row: dict[str, Any]) -> Delivery:
    return Delivery(
        guid=row["guid"],
        event=row["event"],
        action=row["action"],
        installation_id=row["installation_id"],
        repository=row["repository"],
        state=DeliveryState(row["state"]),
        received_at=row["received_at"],
        attempts=row["attempts"],
        error=row["error"],
    )


def _run_record(row: dict[str, Any]) -> Run:
    return Run(
        id=int(row["id"]),
        job_id=row["job_id"],
        repository=row["repository"],
        installation_id=row["installation_id"],
        target_kind=row["target_kind"],
        target_number=row["target_number"],
        trigger=json.loads(row["trigger"]),
        sender=row["sender"],
        role=row["role"],
        state=row["state"],
        detail=row["detail"],
        created_at=row["created_at"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        snapshot=json.loads(row["snapshot"]) if row["snapshot"] else None,
        diagnosis=json.loads(row["diagnosis"]) if row["diagnosis"] else None,
        effects=json.loads(row["effects"] or "{}"),
    )


def _audit(row: dict[str, Any]) -> AuditEvent:
    return AuditEvent(
        id=int(row["id"]),
        name=row["name"],
        run_id=row["run_id"],
        repository=row["repository"],
        target=row["target"],
        actor=row["actor"],
        data=json.loads(row["data"]),
        created_at=row["created_at"],
    )


# -- deliveries and jobs ---------------------------------------------------------------------------


# PostgreSQL takes a whole batch as one statement over column arrays: one shape for every batch size,
# one round trip, and less client CPU per row than a multi-row VALUES list.
_INSERT_DELIVERY_ARRAYS = (
    "INSERT INTO deliveries"
    " (guid, event, hook_id, state, payload, payload_lz4, received_at, updated_at)"
    " SELECT guid, event, hook_id, ?, '', payload_lz4, received_at, received_at FROM unnest("
    "?::text[], ?::text[], ?::text[], ?::bytea[], ?::double precision[])"
    " AS batch (guid, event, hook_id, payload_lz4, received_at)"
    " ON CONFLICT DO NOTHING RETURNING guid"
)


def _pack(payload: bytes) -> bytes:
    """A payload as stored: an lz4 frame (about a fifth of a webhook's JSON, in about 4 µs)."""
    return bytes(lz4.frame.compress(payload))


def _payload_text(row: dict[str, Any]) -> str:
    """A stored payload as text: unpacked from `payload_lz4`, or as stored before it existed."""
    packed = row["payload_lz4"]
    if packed is None:
        return str(row["payload"])
    return bytes(lz4.frame.decompress(packed)).decode("utf-8", errors="replace")


def accept_deliveries(
    batch: Sequence[tuple[DeliveryIn, float]], *, arrays: bool = False
) -> Op[list[Accepted]]:
    """Store verified deliveries (each with its arrival time), unrouted, before they are acknowledged:
    one insert over column arrays (`arrays`, PostgreSQL) or a few multi-row inserts, and one update
    only when some GUID was seen before.

    A GUID seen before is a duplicate unless its processing failed: GitHub's redelivery reuses the
    GUID, so a failed delivery goes back to be routed again (and its failed jobs run again). The same
    GUID twice in one batch is new once and a duplicate after.
    """
    rows = [(d.guid, d.event, d.hook_id, _pack(d.payload), now) for d, now in batch]
    new: set[str] = set()
    if arrays:
        columns = [list(column) for column in zip(*rows, strict=True)]
        inserted = yield _all(_INSERT_DELIVERY_ARRAYS, DeliveryState.PENDING.value, *columns)
        new.update(r["guid"] for r in inserted)
    else:
        start = 0
        for size in _power_of_two_chunks(len(rows)):
            args: list[Any] = []
            for guid, event, hook_id, packed, now in rows[start : start + size]:
                args += [guid, event, hook_id, DeliveryState.PENDING.value, packed, now, now]
            start += size
            # Only `?` placeholders are spliced in; every value is a bound parameter.
            values = ", ".join(["(?, ?, ?, ?, '', ?, ?, ?)"] * size)
            insert = f"INSERT INTO deliveries (guid, event, hook_id, state, payload, payload_lz4, received_at, updated_at) VALUES {values}"  # noqa: S608
            inserted = yield _all(insert + " ON CONFLICT DO NOTHING RETURNING guid", *args)
            new.update(r["guid"] for r in inserted)
    seen = sorted({d.guid for d, _ in batch} - new)
    retried: set[str] = set()
    if seen:
        marks = ", ".join("?" * len(seen))
        update = f"UPDATE deliveries SET state = ?, attempts = attempts + 1, error = NULL, updated_at = ? WHERE state = ? AND guid IN ({marks})"  # noqa: S608
        updated = yield _all(
            update + " RETURNING guid",
            DeliveryState.PENDING.value,
            max(now for _, now in batch),
            DeliveryState.FAILED.value,
            *seen,
        )
        retried = {r["guid"] for r in updated}
    outcomes = []
    answered: set[str] = set()
    for delivery, _ in batch:
        guid = delivery.guid
        if guid in answered:
            outcomes.append(Accepted.DUPLICATE)
            continue
        answered.add(guid)
        outcomes.append(
            Accepted.NEW
            if guid in new
            else Accepted.RETRY
            if guid in retried
            else Accepted.DUPLICATE
        )
    return outcomes


def _power_of_two_chunks(n: int) -> list[int]:
    """37 -> [32, 4, 1]: a batch is inserted in a few statements of at most nine shapes, so the
    drivers' prepared-statement caches stay small (one shape per batch size grew RSS by 12 MB)."""
    return [1 << bit for bit in range(n.bit_length() - 1, -1, -1) if n >> bit & 1]


def route_deliveries(router: Router, limit: int, now: float) -> Op[list[RoutedDelivery]]:
    """Route up to `limit` stored deliveries, oldest first, into jobs (replicas take disjoint ones).

    `router` reads a payload and names the jobs it asks for; one that raises fails its delivery with
    the error, keeping the payload, so a fixed app can route it again on a redelivery.
    """
    rows = yield _all(
        "SELECT guid, event, payload, payload_lz4, attempts FROM deliveries WHERE state = ?"
        " ORDER BY received_at, guid LIMIT ? /*lock-for-claim*/",
        DeliveryState.PENDING.value,
        limit,
    )
    routed = []
    for row in rows:
        routing = _route_row(router, row)
        result = yield from _route_one(row["guid"], row["event"], row["attempts"] > 1, routing, now)
        routed.append(result)
    return routed


def _route_row(router: Router, row: dict[str, Any]) -> Routing:
    try:
        text = _payload_text(row)
    except RuntimeError as exc:  # lz4's error for a damaged frame
        return Routing(error=f"the stored payload cannot be unpacked: {exc}")
    try:
        return router(row["event"], text)
    except Exception as exc:  # a routing bug must not wedge the queue behind this delivery
        return Routing(error=f"routing raised {type(exc).__name__}: {exc}")


def _route_one(
    guid: str, event: str, retry: bool, routing: Routing, now: float
) -> Op[RoutedDelivery]:
    queued = coalesced = 0
    for job in () if routing.error else routing.jobs:
        made = yield from enqueue_job(job, guid, now, retry=retry)
        if made is None:
            coalesced += 1
        else:
            queued += 1
    if routing.error:
        outcome, state = Routed.FAILED, DeliveryState.FAILED
    elif queued:
        outcome, state = Routed.QUEUED, DeliveryState.RECEIVED
    elif coalesced:  # every job joined work already waiting or done: nothing more to do here
        outcome, state = Routed.COALESCED, DeliveryState.DONE
    else:
        outcome, state = Routed.IGNORED, DeliveryState.IGNORED
    yield _run(
        "UPDATE deliveries SET state = ?, action = ?, installation_id = ?, repository = ?, error = ?,"
        " updated_at = ? WHERE guid = ?",
        state.value,
        routing.action,
        routing.installation_id,
        routing.repository,
        routing.error,
        now,
        guid,
    )
    return RoutedDelivery(guid, event, outcome, queued, coalesced, routing.error)


def _insert_job(job: JobIn, delivery_guid: str | None, now: float) -> Op[Job | None]:
    """The job, or None when its idempotency key or a waiting job's coalesce key is taken."""
    row = yield _one(
        "INSERT INTO jobs (kind, idempotency_key, target_key, coalesce_key, delivery_guid,"
        " installation_id, repository, payload, state, attempts, max_attempts, run_after, created_at,"
        " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?)"
        " ON CONFLICT DO NOTHING RETURNING *",
        job.kind,
        job.idempotency_key,
        job.target_key,
        job.coalesce_key,
        delivery_guid,
        job.installation_id,
        job.repository,
        dumps(job.payload),
        JobState.QUEUED.value,
        job.max_attempts,
        now,
        now,
        now,
    )
    return _job(row) if row is not None else None


def enqueue_job(
    job: JobIn, delivery_guid: str | None, now: float, *, retry: bool = False
) -> Op[Job | None]:
    """Queue a job unless its trigger was seen (idempotency key) or a job with its coalesce key waits
    (the same person asked for a diagnosis of the same target); the existing job absorbs it and
    `None` is returned. On a redelivery (`retry`) a job that failed for good is queued again."""
    if not retry:
        made = yield from _insert_job(job, delivery_guid, now)
        if made is not None:
            return made
    same = yield _one("SELECT id, state FROM jobs WHERE idempotency_key = ?", job.idempotency_key)
    if same is not None:
        if retry and same["state"] in (JobState.FAILED.value, JobState.CANCELLED.value):
            row = yield _one(
                "UPDATE jobs SET state = ?, attempts = 0, run_after = ?, last_error = NULL,"
                " lease_owner = NULL, lease_until = NULL, updated_at = ? WHERE id = ? RETURNING *",
                JobState.QUEUED.value,
                now,
                now,
                same["id"],
            )
            return _job(row) if row is not None else None
        yield _run("UPDATE jobs SET coalesced = coalesced + 1 WHERE id = ?", same["id"])
        return None
    if job.coalesce_key is not None:
        waiting = yield _one(
            "SELECT id FROM jobs WHERE coalesce_key = ? AND state = ?",
            job.coalesce_key,
            JobState.QUEUED.value,
        )
        if waiting is not None:
            yield _run("UPDATE jobs SET coalesced = coalesced + 1 WHERE id = ?", waiting["id"])
            return None
    # Nothing to join: a redelivered trigger never stored its job, or (PostgreSQL) the waiting job was
    # claimed between our insert and the look. Insert again; a conflict now means a job waits.
    return (yield from _insert_job(job, delivery_guid, now))


def claim_jobs(worker_id: str, limit: int, lease_seconds: float, now: float) -> Op[list[Job]]:
    """Lease due jobs; an expired lease (a worker that died) makes a running job claimable again.

    One job at a time per target: a job whose target has another job under a live lease waits.
    """
    # Running jobs whose lease ran out go back to the queue first (their worker is gone).
    yield _run(
        "UPDATE jobs SET state = ?, lease_owner = NULL, lease_until = NULL, updated_at = ?"
        " WHERE state = ? AND lease_until < ?",
        JobState.QUEUED.value,
        now,
        JobState.RUNNING.value,
        now,
    )
    rows = yield _all(
        _CLAIMABLE,
        JobState.QUEUED.value,
        now,
        JobState.RUNNING.value,
        limit,
    )
    claimed: list[Job] = []
    targets: set[str] = set()
    for row in rows:
        if len(claimed) >= limit or row["target_key"] in targets:
            continue
        got = yield _one(
            "UPDATE jobs SET state = ?, lease_owner = ?, lease_until = ?, attempts = attempts + 1,"
            " updated_at = ? WHERE id = ? AND state = ? RETURNING *",
            JobState.RUNNING.value,
            worker_id,
            now + lease_seconds,
            now,
            row["id"],
            JobState.QUEUED.value,
        )
        if got is not None:
            claimed.append(_job(got))
            targets.add(row["target_key"])
    return claimed


def extend_lease(job_id: int, worker_id: str, lease_until: float) -> Op[bool]:
    n = yield _run(
        "UPDATE jobs SET lease_until = ? WHERE id = ? AND lease_owner = ? AND state = ?",
        lease_until,
        job_id,
        worker_id,
        JobState.RUNNING.value,
    )
    return bool(n)


def _settle_delivery(delivery_guid: str | None, now: float) -> Op[None]:
    """A delivery is done when all its jobs are done, failed when any of them failed for good."""
    if delivery_guid is None:
        return
    rows = yield _all("SELECT state, last_error FROM jobs WHERE delivery_guid = ?", delivery_guid)
    states = {r["state"] for r in rows}
    if states & {JobState.QUEUED.value, JobState.RUNNING.value}:
        return
    failed = [r["last_error"] for r in rows if r["state"] == JobState.FAILED.value]
    yield _run(
        "UPDATE deliveries SET state = ?, error = ?, updated_at = ? WHERE guid = ?",
        (DeliveryState.FAILED if failed else DeliveryState.DONE).value,
        failed[0] if failed else None,
        now,
        delivery_guid,
    )


def finish_job(job_id: int, worker_id: str, now: float) -> Op[bool]:
    row = yield _one(
        "UPDATE jobs SET state = ?, lease_owner = NULL, lease_until = NULL, updated_at = ?"
        " WHERE id = ? AND lease_owner = ? AND state = ? RETURNING delivery_guid",
        JobState.DONE.value,
        now,
        job_id,
        worker_id,
        JobState.RUNNING.value,
    )
    if row is None:
        return False  # the lease was lost: another worker owns the job now
    yield from _settle_delivery(row["delivery_guid"], now)
    return True


def fail_job(
    job_id: int, worker_id: str, error: str, retry_at: float | None, now: float
) -> Op[bool]:
    """Record a failure: back to the queue at `retry_at` while attempts remain, else failed for good."""
    row = yield _one(
        "SELECT attempts, max_attempts, delivery_guid FROM jobs"
        " WHERE id = ? AND lease_owner = ? AND state = ?",
        job_id,
        worker_id,
        JobState.RUNNING.value,
    )
    if row is None:
        return False
    final = retry_at is None or row["attempts"] >= row["max_attempts"]
    yield _run(
        "UPDATE jobs SET state = ?, run_after = ?, last_error = ?, lease_owner = NULL,"
        " lease_until = NULL, updated_at = ? WHERE id = ?",
        (JobState.FAILED if final else JobState.QUEUED).value,
        now if final else retry_at,
        error[:4000],
        now,
        job_id,
    )
    if final:
        yield from _settle_delivery(row["delivery_guid"], now)
    return True


def cancel_installation_jobs(installation_id: int, now: float) -> Op[int]:
    n = yield _run(
        "UPDATE jobs SET state = ?, last_error = ?, updated_at = ? WHERE installation_id = ?"
        " AND state = ?",
        JobState.CANCELLED.value,
        "installation removed or suspended",
        now,
        installation_id,
        JobState.QUEUED.value,
    )
    return int(n)


def get_job(job_id: int) -> Op[Job | None]:
    row = yield _one("SELECT * FROM jobs WHERE id = ?", job_id)
    return _job(row) if row is not None else None


def job_counts() -> Op[dict[str, int]]:
    rows = yield _all("SELECT state, COUNT(*) AS n FROM jobs GROUP BY state")
    counts = {s.value: 0 for s in JobState}
    counts.update({r["state"]: int(r["n"]) for r in rows})
    return counts


def prune_deliveries(before: float, limit: int) -> Op[int]:
    """Delete up to `limit` deliveries received before `before` whose processing is over (done,
    ignored or failed); those still waiting to be routed or for their jobs are kept whatever their age."""
    deleted = yield _run(
        "DELETE FROM deliveries WHERE guid IN (SELECT guid FROM deliveries WHERE received_at < ?"
        " AND state IN (?, ?, ?) ORDER BY received_at LIMIT ?)",
        before,
        DeliveryState.DONE.value,
        DeliveryState.IGNORED.value,
        DeliveryState.FAILED.value,
        limit,
    )
    return int(deleted)


def prune_jobs(before: float, limit: int) -> Op[int]:
    """Delete up to `limit` jobs that ended (done, failed or cancelled) before `before`; queued and
    running ones are kept whatever their age. Their deliveries, received earlier, go the same way."""
    deleted = yield _run(
        "DELETE FROM jobs WHERE id IN (SELECT id FROM jobs WHERE state IN (?, ?, ?)"
        " AND updated_at < ? ORDER BY updated_at LIMIT ?)",
        JobState.DONE.value,
        JobState.FAILED.value,
        JobState.CANCELLED.value,
        before,
        limit,
    )
    return int(deleted)


def pending_deliveries() -> Op[int]:
    row = yield _one(
        "SELECT COUNT(*) AS n FROM deliveries WHERE state = ?", DeliveryState.PENDING.value
    )
    return int(row["n"]) if row is not None else 0


def get_delivery(guid: str) -> Op[Delivery | None]:
    row = yield _one("SELECT * FROM deliveries WHERE guid = ?", guid)
    return _delivery(row) if row is not None else None


def deliveries_since(since: float) -> Op[list[Delivery]]:
    rows = yield _all("SELECT * FROM deliveries WHERE received_at >= ? ORDER BY received_at", since)
    return [_delivery(r) for r in rows]


# -- runs and audit --------------------------------------------------------------------------------


def get_or_create_run(run: RunIn, now: float) -> Op[Run]:
    """One run per job: a job retried after a crash finds the run it started before."""
    if run.job_id is not None:
        row = yield _one("SELECT * FROM runs WHERE job_id = ?", run.job_id)
        if row is not None:
            return _run_record(row)
    row = yield _one(
        "INSERT INTO runs (job_id, repository, installation_id, target_kind, target_number, trigger,"
        " sender, role, state, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'accepted', ?) RETURNING *",
        run.job_id,
        run.repository,
        run.installation_id,
        run.target_kind,
        run.target_number,
        dumps(run.trigger),
        run.sender,
        run.role,
        now,
    )
    return _run_record(row)


def update_run(run_id: int, now: float, fields: dict[str, Any]) -> Op[Run]:
    unknown = set(fields) - RUN_UPDATABLE
    if unknown:
        raise ValueError(f"run fields cannot be updated: {sorted(unknown)}")
    if fields:
        names = sorted(fields)
        values = [
            dumps(fields[n]) if n in RUN_JSON_FIELDS and fields[n] is not None else fields[n]
            for n in names
        ]
        assignments = ", ".join(f"{n} = ?" for n in names)  # names come from RUN_UPDATABLE only
        # Column names come from the RUN_UPDATABLE allow-list, values are bound.
        yield _run(f"UPDATE runs SET {assignments} WHERE id = ?", *values, run_id)  # noqa: S608
    row = yield _one("SELECT * FROM runs WHERE id = ?", run_id)
    if row is None:
        raise KeyError(f"no run {run_id}")
    return _run_record(row)


def get_run(run_id: int) -> Op[Run | None]:
    row = yield _one("SELECT * FROM runs WHERE id = ?", run_id)
    return _run_record(row) if row is not None else None


def list_runs(page: int, per_page: int, repository: str | None) -> Op[tuple[list[Run], bool]]:
    offset = (max(page, 1) - 1) * per_page
    if repository is None:
        rows = yield _all(
            "SELECT * FROM runs ORDER BY id DESC LIMIT ? OFFSET ?", per_page + 1, offset
        )
    else:
        rows = yield _all(
            "SELECT * FROM runs WHERE repository = ? ORDER BY id DESC LIMIT ? OFFSET ?",
            repository,
            per_page + 1,
            offset,
        )
    return [_run_record(r) for r in rows[:per_page]], len(rows) > per_page


def find_runs(repository: str, target_number: int, target_kind: str | None) -> Op[list[Run]]:
    if target_kind is None:
        rows = yield _all(
            "SELECT * FROM runs WHERE repository = ? AND target_number = ? ORDER BY id DESC",
            repository,
            target_number,
        )
    else:
        rows = yield _all(
            "SELECT * FROM runs WHERE repository = ? AND target_number = ? AND target_kind = ?"
            " ORDER BY id DESC",
            repository,
            target_number,
            target_kind,
        )
    return [_run_record(r) for r in rows]


def append_audit(
    name: str,
    run_id: int | None,
    repository: str | None,
    target: str | None,
    actor: str | None,
    data: dict[str, Any],
    now: float,
) -> Op[AuditEvent]:
    row = yield _one(
        "INSERT INTO audit_events (name, run_id, repository, target, actor, data, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING *",
        name,
        run_id,
        repository,
        target,
        actor,
        dumps(data),
        now,
    )
    return _audit(row)


def list_audit(run_id: int | None) -> Op[list[AuditEvent]]:
    if run_id is None:
        rows = yield _all("SELECT * FROM audit_events ORDER BY id")
    else:
        rows = yield _all("SELECT * FROM audit_events WHERE run_id = ? ORDER BY id", run_id)
    return [_audit(r) for r in rows]


# -- installations and meta ------------------------------------------------------------------------


def set_installation(installation_id: int, account: str | None, state: str, now: float) -> Op[None]:
    yield _run(
        "INSERT INTO installations (id, account, state, updated_at) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (id) DO UPDATE SET account = COALESCE(excluded.account, installations.account),"
        " state = excluded.state, updated_at = excluded.updated_at",
        installation_id,
        account,
        state,
        now,
    )


def installation_state(installation_id: int) -> Op[str | None]:
    row = yield _one("SELECT state FROM installations WHERE id = ?", installation_id)
    return None if row is None else str(row["state"])


def get_meta(key: str) -> Op[str | None]:
    row = yield _one("SELECT value FROM meta WHERE key = ?", key)
    return None if row is None else str(row["value"])


def set_meta(key: str, value: str) -> Op[None]:
    yield _run(
        "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        key,
        value,
    )
