"""Every `Store` method written once over the shared operations; a backend supplies two drivers."""

from __future__ import annotations

import abc
import asyncio
import functools
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

from app.store import queries as q
from app.store.base import (
    Accepted,
    AuditEvent,
    Delivery,
    DeliveryIn,
    Job,
    JobIn,
    RoutedDelivery,
    Router,
    Run,
    RunIn,
)

T = TypeVar("T")
ItemT = TypeVar("ItemT")
ResultT = TypeVar("ResultT")


class OpStore(abc.ABC):
    """A `Store` whose backend runs `queries` operations: writes in a transaction, reads without."""

    ARRAY_PARAMETERS = False  # the driver binds lists as SQL arrays (`?::text[]`, `unnest`)

    @abc.abstractmethod
    async def open(self) -> None: ...

    @abc.abstractmethod
    async def close(self) -> None: ...

    @abc.abstractmethod
    async def ping(self) -> bool: ...

    @abc.abstractmethod
    async def _write_op(self, op: q.Op[T]) -> T: ...

    @abc.abstractmethod
    async def _read_op(self, op: q.Op[T]) -> T: ...

    async def _write_each_op(self, op: q.Op[T]) -> T:
        """A write whose statements may each commit on their own: the op stays correct if it stops
        between two of them. One transaction unless the backend saves round trips without it."""
        return await self._write_op(op)

    @functools.cached_property
    def _accepts(self) -> _GroupCommit[tuple[DeliveryIn, float], Accepted]:
        return _GroupCommit(
            lambda batch: self._write_each_op(
                q.accept_deliveries(batch, arrays=self.ARRAY_PARAMETERS)
            )
        )

    async def accept_delivery(self, delivery: DeliveryIn, *, now: float) -> Accepted:
        return await self._accepts.submit((delivery, now))

    async def route_deliveries(
        self, router: Router, *, limit: int, now: float
    ) -> list[RoutedDelivery]:
        return await self._write_op(q.route_deliveries(router, limit, now))

    async def get_delivery(self, guid: str) -> Delivery | None:
        return await self._read_op(q.get_delivery(guid))

    async def deliveries_since(self, since: float) -> list[Delivery]:
        return await self._read_op(q.deliveries_since(since))

    async def enqueue_job(self, job: JobIn, *, now: float) -> Job | None:
        return await self._write_op(q.enqueue_job(job, None, now))

    async def claim_jobs(
        self, worker_id: str, *, limit: int, lease_seconds: float, now: float
    ) -> list[Job]:
        return await self._write_op(q.claim_jobs(worker_id, limit, lease_seconds, now))

    async def extend_lease(self, job_id: int, worker_id: str, *, lease_until: float) -> bool:
        return await self._write_op(q.extend_lease(job_id, worker_id, lease_until))

    async def finish_job(self, job_id: int, worker_id: str, *, now: float) -> bool:
        return await self._write_op(q.finish_job(job_id, worker_id, now))

    async def fail_job(
        self, job_id: int, worker_id: str, *, error: str, retry_at: float | None, now: float
    ) -> bool:
        return await self._write_op(q.fail_job(job_id, worker_id, error, retry_at, now))

    async def cancel_installation_jobs(self, installation_id: int, *, now: float) -> int:
        return await self._write_op(q.cancel_installation_jobs(installation_id, now))

    async def get_job(self, job_id: int) -> Job | None:
        return await self._read_op(q.get_job(job_id))

    async def job_counts(self) -> dict[str, int]:
        return await self._read_op(q.job_counts())

    async def pending_deliveries(self) -> int:
        return await self._read_op(q.pending_deliveries())

    async def prune_deliveries(self, *, before: float, limit: int = 1000) -> int:
        return await self._write_op(q.prune_deliveries(before, limit))

    async def prune_jobs(self, *, before: float, limit: int = 1000) -> int:
        return await self._write_op(q.prune_jobs(before, limit))

    async def get_or_create_run(self, run: RunIn, *, now: float) -> Run:
        return await self._write_op(q.get_or_create_run(run, now))

    async def update_run(self, run_id: int, *, now: float, **fields: Any) -> Run:
        return await self._write_op(q.update_run(run_id, now, fields))

    async def get_run(self, run_id: int) -> Run | None:
        return await self._read_op(q.get_run(run_id))

    async def list_runs(
        self, *, page: int, per_page: int, repository: str | None = None
    ) -> tuple[list[Run], bool]:
        return await self._read_op(q.list_runs(page, per_page, repository))

    async def find_runs(
        self, *, repository: str, target_number: int, target_kind: str | None = None
    ) -> list[Run]:
        return await self._read_op(q.find_runs(repository, target_number, target_kind))

    async def append_audit(
        self,
        name: str,
        *,
        run_id: int | None,
        repository: str | None,
        target: str | None,
        actor: str | None,
        data: dict[str, Any],
        now: float,
    ) -> AuditEvent:
        return await self._write_op(
            q.append_audit(name, run_id, repository, target, actor, data, now)
        )

    async def list_audit(self, *, run_id: int | None = None) -> list[AuditEvent]:
        return await self._read_op(q.list_audit(run_id))

    async def set_installation(
        self, installation_id: int, *, account: str | None, state: str, now: float
    ) -> None:
        await self._write_op(q.set_installation(installation_id, account, state, now))

    async def installation_state(self, installation_id: int) -> str | None:
        return await self._read_op(q.installation_state(installation_id))

    async def get_meta(self, key: str) -> str | None:
        return await self._read_op(q.get_meta(key))

    async def set_meta(self, key: str, value: str) -> None:
        await self._write_op(q.set_meta(key, value))


class _GroupCommit(Generic[ItemT, ResultT]):
    """Group commit for the intake: what arrives while one batch is being written goes together in
    the next, so N concurrent deliveries cost one transaction (one fsync, one round trip) and each
    caller still hears back only once its own row is durable. One batch is in flight at a time."""

    MAX_BATCH = 256

    def __init__(self, write: Callable[[list[ItemT]], Awaitable[list[ResultT]]]) -> None:
        self._write = write
        self._waiting: list[tuple[ItemT, asyncio.Future[ResultT]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def submit(self, item: ItemT) -> ResultT:
        fut: asyncio.Future[ResultT] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, fut))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        return await fut

    async def _flush(self) -> None:
        while self._waiting:
            batch = self._waiting[: self.MAX_BATCH]
            del self._waiting[: self.MAX_BATCH]
            try:
                results = await self._write([item for item, _ in batch])
            except asyncio.CancelledError:
                for _, fut in batch + self._waiting:
                    fut.cancel()
                self._waiting.clear()
                raise
            except Exception as exc:  # nobody in this batch is durable: each caller hears why
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(exc)
                continue
            for (_, fut), result in zip(batch, results, strict=True):
                if not fut.done():  # a caller that went away: its row is stored all the same
                    fut.set_result(result)
