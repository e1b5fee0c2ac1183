"""The store's rules, on SQLite and PostgreSQL alike: dedup, coalescing, leases, runs, audit."""

from __future__ import annotations

import asyncio
import json
import urllib.parse
from typing import Any

import asyncpg
import pytest

from app.store import queries as q
from app.store.base import (
    Accepted,
    DeliveryIn,
    DeliveryState,
    JobIn,
    JobState,
    Routed,
    RoutedDelivery,
    Routing,
    RunIn,
    Store,
)
from app.store.ops_store import OpStore
from app.store.postgres import PostgresStore, payload_storage
from app.store.sqlite import SQLiteStore
from tests.store_backends import POSTGRES_URL, drop_schema, postgres_schema


def delivery(guid: str = "g-1") -> DeliveryIn:
    return DeliveryIn(
        guid=guid, event="issues", hook_id="1", payload=json.dumps({"action": "labeled"}).encode()
    )


def job(
    key: str = "k-1",
    target: str = "acme/widgets#12",
    kind: str = "self_improve",
    sender: str = "octo",
) -> JobIn:
    return JobIn(
        coalesce_key=f"{kind}:{target}:{sender}" if kind == "self_improve" else None,
        kind=kind,
        idempotency_key=key,
        target_key=target,
        payload={"target": target},
        installation_id=7,
        repository="acme/widgets",
        max_attempts=3,
    )


async def receive(
    store: Store, guid: str, jobs: list[JobIn], *, now: float
) -> tuple[Accepted, RoutedDelivery | None]:
    """What the intake and then the worker do: store the delivery, then route it into `jobs`."""
    accepted = await store.accept_delivery(delivery(guid), now=now)

    def router(event: str, body: str) -> Routing:
        assert (event, json.loads(body)) == ("issues", {"action": "labeled"})
        return Routing(action="labeled", installation_id=7, repository="acme/widgets", jobs=jobs)

    routed = await store.route_deliveries(router, limit=10, now=now)
    assert [r.guid for r in routed] in ([], [guid])
    return accepted, (routed[0] if routed else None)


async def test_delivery_is_stored_unrouted_then_routed_with_its_job(store: Store) -> None:
    """The intake stores the delivery alone (pending); routing writes its job and the payload's
    fields, and the delivery then waits for the job."""
    assert await store.accept_delivery(delivery(), now=100.0) is Accepted.NEW
    pending = await store.get_delivery("g-1")
    assert pending is not None and pending.state is DeliveryState.PENDING
    assert (pending.action, pending.repository) == (None, None)
    assert await store.pending_deliveries() == 1
    [routed] = await store.route_deliveries(
        lambda _e, _b: Routing("labeled", 7, "acme/widgets", [job()]), limit=10, now=101.0
    )
    assert (routed.outcome, routed.jobs_queued, routed.jobs_coalesced) == (Routed.QUEUED, 1, 0)
    stored = await store.get_delivery("g-1")
    assert stored is not None and stored.state is DeliveryState.RECEIVED
    assert (stored.action, stored.installation_id, stored.repository) == (
        "labeled",
        7,
        "acme/widgets",
    )
    assert await store.pending_deliveries() == 0
    assert (await store.job_counts())["queued"] == 1
    [queued] = await store.claim_jobs("w", limit=1, lease_seconds=10, now=102.0)
    assert queued.delivery_guid == "g-1"


async def test_concurrent_deliveries_are_committed_together_and_each_answered(store: Store) -> None:
    """Deliveries arriving together share a transaction (group commit), yet each caller gets its own
    answer: a GUID repeated inside the batch is new once, a failed one is a retry, a stored one a
    duplicate."""
    await receive(store, "old", [], now=0.0)
    await store.accept_delivery(delivery("broken"), now=0.5)
    await store.route_deliveries(lambda _e, _b: Routing(error="bad"), limit=1, now=0.6)
    guids = ["a", "b", "a", "old", "broken", "c", "b"]
    writes = store.writes if isinstance(store, SQLiteStore) else 0
    outcomes = await asyncio.gather(*(store.accept_delivery(delivery(g), now=1.0) for g in guids))
    if isinstance(store, SQLiteStore):
        assert store.writes - writes == 1  # seven deliveries, one write operation
    assert outcomes == [
        Accepted.NEW,
        Accepted.NEW,
        Accepted.DUPLICATE,
        Accepted.DUPLICATE,
        Accepted.RETRY,
        Accepted.NEW,
        Accepted.DUPLICATE,
    ]
    assert await store.pending_deliveries() == 4  # a, b, c and the retried one


def statements_for(batch_size: int, *, arrays: bool) -> list[str]:
    """The statements `accept_deliveries` asks a driver to run for a batch of new deliveries."""
    op = q.accept_deliveries([(delivery(f"g-{i}"), 1.0) for i in range(batch_size)], arrays=arrays)
    sent, stmt, outcomes = [], next(op), None
    try:
        while True:
            sent.append(stmt.sql)
            stmt = op.send([{"guid": f"g-{i}"} for i in range(batch_size)])  # every one is new
    except StopIteration as done:
        outcomes = done.value
    assert outcomes == [Accepted.NEW] * batch_size
    return sent


def test_a_batch_is_one_insert_over_arrays_or_a_few_multi_row_ones() -> None:
    """PostgreSQL takes any batch as one statement of one shape (one round trip); SQLite, without
    array parameters, as power-of-two chunks (37 = 32 + 4 + 1)."""
    [array_insert] = statements_for(37, arrays=True)
    assert "unnest(" in array_insert and statements_for(5, arrays=True) == [array_insert]
    chunks = statements_for(37, arrays=False)
    assert [sql.count("(?, ?, ?, ?, '', ?, ?, ?)") for sql in chunks] == [32, 4, 1]


async def test_a_failed_group_commit_tells_each_caller_and_the_next_batch_still_runs(
    store: Store,
) -> None:
    """When the batch cannot be written every caller in it hears the error (so GitHub sees a
    failure and the delivery can be sent again), and the next deliveries are written normally."""
    await store.close()
    results = await asyncio.gather(
        *(store.accept_delivery(delivery(g), now=1.0) for g in ("x", "y")), return_exceptions=True
    )
    assert [str(r) for r in results] == ["the store is not open"] * 2
    await store.open()
    assert await store.accept_delivery(delivery("x"), now=2.0) is Accepted.NEW


async def test_routing_takes_the_oldest_first_up_to_the_limit(store: Store) -> None:
    """Deliveries are routed in the order they arrived, `limit` at a time, each once."""
    for i, guid in enumerate(["c", "a", "b"]):
        await store.accept_delivery(delivery(guid), now=float(i))
    seen: list[str] = []
    for _ in range(3):
        routed = await store.route_deliveries(lambda _e, _b: Routing(), limit=2, now=9.0)
        seen += [r.guid for r in routed]
    assert seen == ["c", "a", "b"]


async def test_concurrent_routing_routes_each_delivery_once(store: Store) -> None:
    """Replicas routing at once (SKIP LOCKED on PostgreSQL) never route a delivery twice."""
    for i in range(30):
        await store.accept_delivery(delivery(f"g{i}"), now=float(i))
    batches = await asyncio.gather(
        *(store.route_deliveries(lambda _e, _b: Routing(), limit=3, now=40.0) for _ in range(15))
    )
    guids = [r.guid for batch in batches for r in batch]
    assert len(guids) == len(set(guids)) == 30
    assert await store.pending_deliveries() == 0


async def test_delivery_without_work_is_kept_as_ignored(store: Store) -> None:
    """A verified delivery that routes to nothing is kept (state ignored) and queues nothing."""
    _, routed = await receive(store, "g-1", [], now=1.0)
    assert routed is not None and (routed.outcome, routed.jobs_queued) == (Routed.IGNORED, 0)
    stored = await store.get_delivery("g-1")
    assert stored is not None and stored.state is DeliveryState.IGNORED


async def test_router_that_raises_fails_its_delivery_and_not_the_queue(store: Store) -> None:
    """A routing bug fails that delivery with the error (its payload kept for a redelivery); the
    deliveries behind it still route."""
    await store.accept_delivery(delivery("bad"), now=1.0)
    await store.accept_delivery(delivery("good"), now=2.0)

    def router(_event: str, _body: str) -> Routing:
        if not calls:
            calls.append(1)
            raise KeyError("sender")
        return Routing(jobs=[job()])

    calls: list[int] = []
    routed = await store.route_deliveries(router, limit=10, now=3.0)
    assert [(r.guid, r.outcome) for r in routed] == [
        ("bad", Routed.FAILED),
        ("good", Routed.QUEUED),
    ]
    bad = await store.get_delivery("bad")
    assert bad is not None and bad.state is DeliveryState.FAILED
    assert bad.error == "routing raised KeyError: 'sender'"
    # a redelivery (after the fix) routes it again
    assert await store.accept_delivery(delivery("bad"), now=4.0) is Accepted.RETRY
    [again] = await store.route_deliveries(lambda _e, _b: Routing(), limit=10, now=5.0)
    assert (again.guid, again.outcome) == ("bad", Routed.IGNORED)


async def test_same_guid_twice_is_a_duplicate(store: Store) -> None:
    """A GUID already accepted is not stored or routed again, before or after routing."""
    await store.accept_delivery(delivery(), now=1.0)
    assert await store.accept_delivery(delivery(), now=1.5) is Accepted.DUPLICATE
    await receive(store, "g-1", [job()], now=1.6)
    again, routed = await receive(store, "g-1", [job()], now=2.0)
    assert (again, routed) == (Accepted.DUPLICATE, None)
    assert (await store.job_counts())["queued"] == 1


async def test_failed_delivery_runs_again_on_redelivery(store: Store) -> None:
    """GitHub's redelivery reuses the GUID: a delivery whose job failed for good is queued again."""
    await receive(store, "g-1", [job()], now=1.0)
    [claimed] = await store.claim_jobs("w", limit=5, lease_seconds=30, now=2.0)
    assert await store.fail_job(claimed.id, "w", error="boom", retry_at=None, now=3.0)
    failed = await store.get_delivery("g-1")
    assert failed is not None and failed.state is DeliveryState.FAILED and failed.error == "boom"
    again, routed = await receive(store, "g-1", [job()], now=4.0)
    assert again is Accepted.RETRY
    assert routed is not None and routed.jobs_queued == 1
    [reclaimed] = await store.claim_jobs("w", limit=5, lease_seconds=30, now=5.0)
    assert reclaimed.id == claimed.id and reclaimed.attempts == 1


async def test_second_trigger_joins_the_waiting_diagnosis(store: Store) -> None:
    """Two triggers for one target while a diagnosis waits coalesce into one job."""
    await receive(store, "a", [job("k-a")], now=1.0)
    _, second = await receive(store, "b", [job("k-b")], now=2.0)
    assert second is not None and (second.jobs_queued, second.jobs_coalesced) == (0, 1)
    assert second.outcome is Routed.COALESCED
    assert (await store.job_counts())["queued"] == 1
    done = await store.get_delivery("b")
    assert done is not None and done.state is DeliveryState.DONE


async def test_triggers_by_different_senders_do_not_coalesce(store: Store) -> None:
    """One person's trigger never joins another's waiting job (their permissions differ)."""
    await receive(store, "a", [job("k-a", sender="outsider")], now=1.0)
    _, second = await receive(store, "b", [job("k-b", sender="maintainer")], now=2.0)
    assert second is not None and (second.jobs_queued, second.jobs_coalesced) == (1, 0)
    assert (await store.job_counts())["queued"] == 2


async def test_approvals_never_coalesce(store: Store) -> None:
    """Each approval names its own items, so two approvals are two jobs."""
    await receive(store, "a", [job("k-a", kind="approve")], now=1.0)
    _, second = await receive(store, "b", [job("k-b", kind="approve")], now=2.0)
    assert second is not None and second.jobs_queued == 1


async def test_one_job_at_a_time_per_target(store: Store) -> None:
    """While a job runs for a target, the next one for that target is not claimed."""
    await receive(store, "a", [job("k-a")], now=1.0)
    [first] = await store.claim_jobs("w1", limit=5, lease_seconds=30, now=2.0)
    await receive(store, "b", [job("k-b")], now=3.0)
    await receive(store, "c", [job("k-c", target="acme/widgets#99")], now=3.0)
    claimed = await store.claim_jobs("w2", limit=5, lease_seconds=30, now=4.0)
    assert [j.target_key for j in claimed] == ["acme/widgets#99"]
    assert await store.finish_job(first.id, "w1", now=5.0)
    [after] = await store.claim_jobs("w2", limit=5, lease_seconds=30, now=6.0)
    assert after.idempotency_key == "k-b"


async def test_expired_lease_is_taken_back(store: Store) -> None:
    """A job whose worker died (lease expired) is claimed again; the old worker can no longer finish it."""
    await receive(store, "g-1", [job()], now=1.0)
    [first] = await store.claim_jobs("dead", limit=1, lease_seconds=10, now=2.0)
    assert await store.claim_jobs("alive", limit=1, lease_seconds=10, now=5.0) == []
    [again] = await store.claim_jobs("alive", limit=1, lease_seconds=10, now=13.0)
    assert again.id == first.id and again.attempts == 2 and again.lease_owner == "alive"
    assert not await store.finish_job(first.id, "dead", now=14.0)
    assert await store.finish_job(first.id, "alive", now=14.0)
    settled = await store.get_delivery("g-1")
    assert settled is not None and settled.state is DeliveryState.DONE


async def test_failure_retries_until_max_attempts(store: Store) -> None:
    """A failed job goes back to the queue at its retry time until max_attempts, then fails for good."""
    await receive(store, "g-1", [job()], now=0.0)
    for attempt in range(1, 4):
        [claimed] = await store.claim_jobs("w", limit=1, lease_seconds=10, now=attempt * 100.0)
        assert claimed.attempts == attempt
        await store.fail_job(
            claimed.id, "w", error=f"e{attempt}", retry_at=attempt * 100.0 + 50, now=attempt * 100.0
        )
    final = await store.get_job(claimed.id)
    assert final is not None and final.state is JobState.FAILED and final.last_error == "e3"


async def test_retry_waits_for_its_time(store: Store) -> None:
    """A job put back with a retry time is not claimed before it."""
    await receive(store, "g-1", [job()], now=0.0)
    [claimed] = await store.claim_jobs("w", limit=1, lease_seconds=10, now=1.0)
    await store.fail_job(claimed.id, "w", error="x", retry_at=60.0, now=1.0)
    assert await store.claim_jobs("w", limit=1, lease_seconds=10, now=59.0) == []
    assert len(await store.claim_jobs("w", limit=1, lease_seconds=10, now=60.0)) == 1


async def test_cancelled_installation_loses_queued_jobs(store: Store) -> None:
    """Uninstalling cancels the installation's queued jobs."""
    await receive(store, "g-1", [job()], now=0.0)
    assert await store.cancel_installation_jobs(7, now=1.0) == 1
    assert await store.claim_jobs("w", limit=1, lease_seconds=10, now=2.0) == []


async def test_concurrent_claims_take_each_job_once(store: Store) -> None:
    """Many workers claiming at once never get the same job twice."""
    for i in range(30):
        await receive(store, f"g{i}", [job(f"k{i}", target=f"r#{i}")], now=0.0)
    batches = await asyncio.gather(
        *(store.claim_jobs(f"w{i}", limit=3, lease_seconds=30, now=1.0) for i in range(15))
    )
    ids = [j.id for batch in batches for j in batch]
    assert len(ids) == 30 and len(set(ids)) == 30


async def test_run_is_created_once_per_job_and_updated(store: Store) -> None:
    """A retried job finds the run it created; updates keep JSON documents."""
    spec = RunIn(
        job_id=42,
        repository="acme/widgets",
        installation_id=7,
        target_kind="issue",
        target_number=12,
        trigger={"event": "issues"},
        sender="octo",
        role="km",
    )
    run = await store.get_or_create_run(spec, now=1.0)
    same = await store.get_or_create_run(spec, now=2.0)
    assert same.id == run.id and run.state == "accepted"
    updated = await store.update_run(run.id, now=3.0, state="diagnosed", diagnosis={"a": [1]})
    assert updated.diagnosis == {"a": [1]} and updated.state == "diagnosed"
    with pytest.raises(ValueError, match="cannot be updated"):
        await store.update_run(run.id, now=3.0, repository="evil/repo")


async def test_runs_page_newest_first(store: Store) -> None:
    """Runs list newest first, with has_next, and filter by repository."""
    for i in range(5):
        await store.get_or_create_run(
            RunIn(i, "acme/a" if i % 2 else "acme/b", 1, "issue", i + 1, {}, "x", "km"), now=i
        )
    page1, more = await store.list_runs(page=1, per_page=2)
    assert [r.job_id for r in page1] == [4, 3] and more
    page3, more3 = await store.list_runs(page=3, per_page=2)
    assert [r.job_id for r in page3] == [0] and not more3
    only_a, _ = await store.list_runs(page=1, per_page=10, repository="acme/a")
    assert [r.job_id for r in only_a] == [3, 1]
    found = await store.find_runs(repository="acme/b", target_number=3)
    assert [r.job_id for r in found] == [2]


async def test_audit_is_append_only_and_ordered(store: Store) -> None:
    """Audit events come back in the order they were written."""
    for name in ("run.self_improve.triggered", "run.self_improve.diagnosis_ready"):
        await store.append_audit(
            name, run_id=1, repository="acme/w", target="#1", actor="octo", data={"n": 1}, now=1.0
        )
    events = await store.list_audit(run_id=1)
    assert [e.name for e in events] == [
        "run.self_improve.triggered",
        "run.self_improve.diagnosis_ready",
    ]
    assert not hasattr(store, "delete_audit")


async def test_installations_and_meta(store: Store) -> None:
    """Installation state and meta values are upserted."""
    await store.set_installation(7, account="acme", state="active", now=1.0)
    await store.set_installation(7, account=None, state="suspended", now=2.0)
    assert await store.installation_state(7) == "suspended"
    assert await store.get_meta("last_sweep") is None
    await store.set_meta("last_sweep", "1")
    await store.set_meta("last_sweep", "2")
    assert await store.get_meta("last_sweep") == "2"
    assert await store.ping()


async def test_payloads_are_stored_packed_and_route_back_whole(store: Store) -> None:
    """The intake stores each payload as an lz4 frame; routing reads it back byte for byte (bodies
    that are not UTF-8 as text with replacement characters). Rows stored before packing (text in
    `payload`) still route, and a damaged frame fails only its own delivery, saying why."""
    big = json.dumps({"action": "labeled", "body": "é ✓ " * 20_000}, ensure_ascii=False)
    bodies = {"big": big.encode(), "not-utf8": b'{"x": "\xff"}'}
    for guid, body in bodies.items():
        new = DeliveryIn(guid=guid, event="issues", hook_id="1", payload=body)
        assert await store.accept_delivery(new, now=1.0) is Accepted.NEW
    [packed] = await _raw(
        store, q._all("SELECT payload, payload_lz4 FROM deliveries WHERE guid = ?", "big")
    )
    assert packed["payload"] == "" and len(packed["payload_lz4"]) < len(big.encode()) / 10
    await _raw(  # a row as stored before packing
        store,
        q._run(
            "INSERT INTO deliveries (guid, event, state, payload, received_at, updated_at)"
            " VALUES ('before', 'issues', 'pending', '{\"old\": true}', 2.0, 2.0)"
        ),
    )
    damaged = DeliveryIn(guid="damaged", event="issues", hook_id="1", payload=b"{}")
    await store.accept_delivery(damaged, now=0.5)
    await _raw(
        store,
        q._run(
            "UPDATE deliveries SET payload_lz4 = ? WHERE guid = 'damaged'",
            b"\x04\x22\x4d\x18 not a frame",
        ),
    )
    read: list[str] = []

    def router(event: str, body: str) -> Routing:
        read.append(body)
        return Routing()

    routed = await store.route_deliveries(router, limit=10, now=3.0)
    assert [(r.guid, r.outcome) for r in routed] == [
        ("damaged", Routed.FAILED),
        ("big", Routed.IGNORED),
        ("not-utf8", Routed.IGNORED),
        ("before", Routed.IGNORED),
    ]
    assert sorted(read) == sorted([big, '{"x": "\ufffd"}', '{"old": true}'])
    failed = await store.get_delivery("damaged")
    assert failed is not None and failed.state is DeliveryState.FAILED
    assert failed.error is not None
    assert failed.error.startswith("the stored payload cannot be unpacked: LZ4F_")


async def _raw(store: Store, stmt: q.Stmt) -> Any:
    """One statement through the store's own driver: a test's way to look at or damage rows."""
    assert isinstance(store, OpStore)

    def op() -> q.Op[Any]:
        return (yield stmt)

    return await store._write_op(op())


@pytest.mark.postgres
async def test_postgres_keeps_packed_payloads_as_they_are() -> None:
    """PostgreSQL does not try to compress the packed payloads again (STORAGE EXTERNAL), also in a
    store made before that setting."""
    schema = await postgres_schema()
    conn = await asyncpg.connect(POSTGRES_URL, server_settings={"search_path": schema})
    stores: list[PostgresStore] = []

    async def opened() -> PostgresStore:
        stores.append(PostgresStore(POSTGRES_URL, schema=schema, min_size=1, max_size=2))
        await stores[-1].open()
        return stores[-1]

    try:
        await opened()
        assert await payload_storage(conn) == "external"
        await conn.execute("ALTER TABLE deliveries ALTER COLUMN payload_lz4 SET STORAGE EXTENDED")
        await opened()
        assert await payload_storage(conn) == "external"
    finally:
        for store in stores:
            await store.close()
        await conn.close()
        await drop_schema(schema)


class _RoundTrips:
    """A loopback TCP proxy in front of PostgreSQL that counts round trips on the wire: every
    simple query and every extended-protocol Sync ends with one ReadyForQuery ('Z') message."""

    def __init__(self) -> None:
        self.count = 0
        self.dsn = ""
        self._upstream = urllib.parse.urlsplit(POSTGRES_URL)
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> _RoundTrips:
        self._server = await asyncio.start_server(self._pipe, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        user = f"{self._upstream.username}@" if self._upstream.username else ""
        self.dsn = f"postgresql://{user}127.0.0.1:{port}{self._upstream.path}?sslmode=disable"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()

    async def _pipe(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        server_r, server_w = await asyncio.open_connection(
            self._upstream.hostname, self._upstream.port or 5432
        )

        async def upstream() -> None:
            while data := await client_r.read(65536):
                server_w.write(data)
            server_w.close()

        async def downstream() -> None:  # server messages: a type byte, then a length with itself
            pending = b""
            while data := await server_r.read(65536):
                client_w.write(data)
                pending += data
                while len(pending) >= 5 and len(pending) > (
                    size := int.from_bytes(pending[1:5], "big")
                ):
                    self.count += pending[:1] == b"Z"
                    pending = pending[1 + size :]
            client_w.close()

        await asyncio.gather(upstream(), downstream(), return_exceptions=True)


@pytest.mark.postgres
async def test_postgres_writes_a_batch_of_new_deliveries_in_one_round_trip() -> None:
    """The intake's batch is its one insert: no BEGIN and COMMIT around it (the statement commits
    on its own) and no session reset when the connection goes back to the pool."""
    schema = await postgres_schema()
    async with _RoundTrips() as wire:
        store = PostgresStore(wire.dsn, schema=schema, min_size=1, max_size=1)
        await store.open()
        try:
            # the first batch prepares the insert and learns the array types
            assert await store.accept_delivery(delivery("warm"), now=0.0) is Accepted.NEW
            wire.count = 0
            outcomes = await asyncio.gather(
                *(store.accept_delivery(delivery(f"d{i}"), now=1.0) for i in range(10))
            )
            assert outcomes == [Accepted.NEW] * 10
            assert wire.count == 1
            # committed for everyone, not just inside that connection
            conn = await asyncpg.connect(POSTGRES_URL, server_settings={"search_path": schema})
            try:
                assert await conn.fetchval("SELECT count(*) FROM deliveries") == 11
            finally:
                await conn.close()
        finally:
            await store.close()
            await drop_schema(schema)
