"""The worker: claims jobs under a lease, runs them, retries with backoff, and records failures."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import socket
import traceback
import uuid
from collections.abc import Awaitable, Callable, Mapping

from app.deps import Deps
from app.github.errors import RateLimited
from app.store.base import Job, retry_delay
from app.webhook import route_delivery

log = logging.getLogger(__name__)

Handler = Callable[[Job, Deps], Awaitable[None]]


class PermanentError(Exception):
    """A failure retrying cannot fix (invalid input, a refused precondition): the job fails at once."""


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Worker:
    """Runs up to `settings.worker_concurrency` jobs at a time; several workers may share one store."""

    def __init__(
        self, deps: Deps, handlers: Mapping[str, Handler], *, name: str | None = None
    ) -> None:
        self.deps = deps
        self.handlers = dict(handlers)
        self.name = name or worker_id()
        self._running: set[asyncio.Task[None]] = set()

    async def run(self, stop: asyncio.Event) -> None:
        """Poll until `stop` is set, then let running jobs finish."""
        settings = self.deps.settings
        log.info("worker started", extra={"worker": self.name})
        try:
            while not stop.is_set():
                started = await self.run_once(wait=False)
                if started == 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), settings.poll_interval_seconds)
        finally:
            if self._running:
                await asyncio.gather(*self._running, return_exceptions=True)
            log.info("worker stopped", extra={"worker": self.name})

    async def run_once(self, *, wait: bool = True) -> int:
        """Route stored deliveries into jobs, claim what is due and start it; with `wait`, return after
        those jobs end (tests, CLI). The count is of deliveries routed and jobs started."""
        routed = await self.route_deliveries()
        free = self.deps.settings.worker_concurrency - len(self._running)
        if free <= 0:
            return routed
        jobs = await self.deps.store.claim_jobs(
            self.name,
            limit=free,
            lease_seconds=self.deps.settings.job_lease_seconds,
            now=self.deps.clock(),
        )
        tasks = []
        for job in jobs:
            task = asyncio.create_task(self._execute(job), name=f"job-{job.id}")
            self._running.add(task)
            task.add_done_callback(self._running.discard)
            tasks.append(task)
        if wait and tasks:
            await asyncio.gather(*tasks)
        return routed + len(jobs)

    async def route_deliveries(self, *, limit: int = 100) -> int:
        """Turn deliveries the intake stored into jobs (`webhook.route_delivery`)."""
        deps = self.deps
        router = functools.partial(
            route_delivery,
            app_id=deps.settings.app_id,
            app_slug=deps.app_slug,
            max_attempts=deps.settings.job_max_attempts,
        )
        routed = await deps.store.route_deliveries(router, limit=limit, now=deps.clock())
        for r in routed:
            deps.metrics.deliveries.labels(r.event, r.outcome.value).inc()
            context = {"guid": r.guid, "event": r.event, "outcome": r.outcome.value}
            if r.error:
                log.warning("delivery could not be routed", extra={**context, "error": r.error})
            else:
                log.info(
                    "delivery routed",
                    extra={
                        **context,
                        "jobs_queued": r.jobs_queued,
                        "jobs_coalesced": r.jobs_coalesced,
                    },
                )
        return len(routed)

    async def drain(self, *, max_rounds: int = 100) -> None:
        """Run jobs until none is due (tests and the demo); jobs a handler enqueues run too."""
        for _ in range(max_rounds):
            if await self.run_once(wait=True) == 0:
                return

    async def _heartbeat(self, job: Job) -> None:
        lease = self.deps.settings.job_lease_seconds
        while True:
            await asyncio.sleep(lease / 3)
            ok = await self.deps.store.extend_lease(
                job.id, self.name, lease_until=self.deps.clock() + lease
            )
            if not ok:
                log.warning("lease lost", extra={"job": job.id})
                return

    async def _execute(self, job: Job) -> None:
        store, metrics, clock = self.deps.store, self.deps.metrics, self.deps.clock
        handler = self.handlers.get(job.kind)
        context = {
            "job": job.id,
            "kind": job.kind,
            "target": job.target_key,
            "attempt": job.attempts,
        }
        if handler is None:
            await store.fail_job(
                job.id, self.name, error=f"no handler for {job.kind!r}", retry_at=None, now=clock()
            )
            return
        heartbeat = asyncio.create_task(self._heartbeat(job))
        try:
            await handler(job, self.deps)
        except PermanentError as exc:
            metrics.job_runs.labels(job.kind, "failed").inc()
            log.warning("job failed for good", extra={**context, "error": str(exc)})
            await store.fail_job(job.id, self.name, error=str(exc), retry_at=None, now=clock())
        except Exception as exc:
            final = job.attempts >= job.max_attempts
            metrics.job_runs.labels(job.kind, "failed" if final else "retry").inc()
            delay = retry_delay(job.attempts, self.deps.settings.job_retry_base_seconds)
            if isinstance(exc, RateLimited) and exc.retry_at is not None:
                # trying before the limit resets would only spend another attempt on a 403
                delay = max(delay, exc.retry_at - clock())
            log.error(
                "job raised" + (" (last attempt)" if final else f"; retry in {delay:.0f}s"),
                extra={
                    **context,
                    "error": f"{type(exc).__name__}: {exc}",
                    "trace": traceback.format_exc(limit=8),
                },
            )
            await store.fail_job(
                job.id,
                self.name,
                error=f"{type(exc).__name__}: {exc}",
                retry_at=clock() + delay,
                now=clock(),
            )
        else:
            metrics.job_runs.labels(job.kind, "done").inc()
            if not await store.finish_job(job.id, self.name, now=clock()):
                log.warning("job finished after its lease was lost", extra=context)
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
