"""The store's vocabulary: records, the `Store` protocol every backend implements, and shared rules."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from importlib import resources
from typing import Any, Protocol


class DeliveryState(StrEnum):
    PENDING = "pending"  # stored and acknowledged, not routed yet
    RECEIVED = "received"  # routed, its jobs not finished
    DONE = "done"
    FAILED = "failed"  # a redelivery (same GUID) may run it again
    IGNORED = "ignored"  # verified, but routes to no work


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


class Accepted(StrEnum):
    """What `accept_delivery` did with a delivery."""

    NEW = "new"
    RETRY = "retry"  # the GUID had failed before; it is routed again and its failed jobs rerun
    DUPLICATE = "duplicate"  # already stored and not failed: nothing to do


@dataclass(frozen=True)
class DeliveryIn:
    """A verified delivery as the intake stores it: the raw body, unparsed (routing reads it later)."""

    guid: str
    event: str
    hook_id: str | None
    payload: bytes


@dataclass(frozen=True)
class JobIn:
    kind: str
    idempotency_key: str
    target_key: str
    payload: dict[str, Any]
    installation_id: int | None = None
    repository: str | None = None
    max_attempts: int = 5
    coalesce_key: str | None = None  # a job waiting with the same key absorbs this one


@dataclass(frozen=True)
class Routing:
    """What a stored delivery asks for, read from its payload by a `Router`."""

    action: str | None = None
    installation_id: int | None = None
    repository: str | None = None
    jobs: Sequence[JobIn] = ()
    error: str | None = None  # the payload could not be read: the delivery fails with this


Router = Callable[[str, str], Routing]  # (event, payload text) -> Routing; pure, no I/O


class Routed(StrEnum):
    QUEUED = "queued"  # at least one new job
    COALESCED = "coalesced"  # every job joined one already waiting or done
    IGNORED = "ignored"  # verified, but asks for no work
    FAILED = "failed"  # the payload could not be routed


@dataclass(frozen=True)
class RoutedDelivery:
    guid: str
    event: str
    outcome: Routed
    jobs_queued: int  # new job rows
    jobs_coalesced: int  # joined a job already waiting, or a trigger already handled
    error: str | None = None


@dataclass(frozen=True)
class Job:
    id: int
    kind: str
    idempotency_key: str
    target_key: str
    delivery_guid: str | None
    installation_id: int | None
    repository: str | None
    payload: dict[str, Any]
    state: JobState
    attempts: int
    max_attempts: int
    lease_owner: str | None
    lease_until: float | None
    run_after: float
    last_error: str | None
    coalesced: int
    created_at: float


@dataclass(frozen=True)
class Delivery:
    guid: str
    event: str
    action: str | None
    installation_id: int | None
    repository: str | None
    state: DeliveryState
    received_at: float
    attempts: int
    error: str | None


@dataclass(frozen=True)
class RunIn:
    job_id: int | None
    repository: str
    installation_id: int | None
    target_kind: str
    target_number: int
    trigger: dict[str, Any]
    sender: str | None
    role: str


@dataclass(frozen=True)
class Run:
    id: int
    job_id: int | None
    repository: str
    installation_id: int | None
    target_kind: str
    target_number: int
    trigger: dict[str, Any]
    sender: str | None
    role: str
    state: str
    detail: str | None
    created_at: float
    started_at: float | None
    finished_at: float | None
    snapshot: dict[str, Any] | None
    diagnosis: dict[str, Any] | None
    effects: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """The run without its large documents, as the run history API lists it."""
        return {
            "id": self.id,
            "repository": self.repository,
            "target": {"kind": self.target_kind, "number": self.target_number},
            "trigger": self.trigger,
            "sender": self.sender,
            "role": self.role,
            "state": self.state,
            "detail": self.detail,
            "created_at": self.created_at,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "has_snapshot": self.snapshot is not None,
            "has_diagnosis": self.diagnosis is not None,
            "effects": self.effects,
        }


@dataclass(frozen=True)
class AuditEvent:
    id: int
    name: str
    run_id: int | None
    repository: str | None
    target: str | None
    actor: str | None
    data: dict[str, Any]
    created_at: float


class Store(Protocol):
    """Durable state. Every method is one transaction; backends: SQLite (default) and PostgreSQL."""

    async def open(self) -> None: ...
    async def close(self) -> None: ...
    async def ping(self) -> bool: ...

    # Deliveries and jobs.
    async def accept_delivery(self, delivery: DeliveryIn, *, now: float) -> Accepted: ...
    async def route_deliveries(
        self, router: Router, *, limit: int, now: float
    ) -> list[RoutedDelivery]: ...
    async def get_delivery(self, guid: str) -> Delivery | None: ...
    async def deliveries_since(self, since: float) -> list[Delivery]: ...
    async def enqueue_job(self, job: JobIn, *, now: float) -> Job | None: ...
    async def claim_jobs(
        self, worker_id: str, *, limit: int, lease_seconds: float, now: float
    ) -> list[Job]: ...
    async def extend_lease(self, job_id: int, worker_id: str, *, lease_until: float) -> bool: ...
    async def finish_job(self, job_id: int, worker_id: str, *, now: float) -> bool: ...
    async def fail_job(
        self, job_id: int, worker_id: str, *, error: str, retry_at: float | None, now: float
    ) -> bool: ...
    async def cancel_installation_jobs(self, installation_id: int, *, now: float) -> int: ...
    async def get_job(self, job_id: int) -> Job | None: ...
    async def job_counts(self) -> dict[str, int]: ...
    async def pending_deliveries(self) -> int: ...  # stored, not routed yet
    async def prune_deliveries(self, *, before: float, limit: int = 1000) -> int: ...
    async def prune_jobs(self, *, before: float, limit: int = 1000) -> int: ...  # ended ones

    # Runs and audit events.
    async def get_or_create_run(self, run: RunIn, *, now: float) -> Run: ...
    async def update_run(self, run_id: int, *, now: float, **fields: Any) -> Run: ...
    async def get_run(self, run_id: int) -> Run | None: ...
    async def list_runs(
        self, *, page: int, per_page: int, repository: str | None = None
    ) -> tuple[list[Run], bool]: ...
    async def find_runs(
        self, *, repository: str, target_number: int, target_kind: str | None = None
    ) -> list[Run]: ...
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
    ) -> AuditEvent: ...
    async def list_audit(self, *, run_id: int | None = None) -> list[AuditEvent]: ...

    # Installations and small state.
    async def set_installation(
        self, installation_id: int, *, account: str | None, state: str, now: float
    ) -> None: ...
    async def installation_state(self, installation_id: int) -> str | None: ...
    async def get_meta(self, key: str) -> str | None: ...
    async def set_meta(self, key: str, value: str) -> None: ...


RUN_UPDATABLE = frozenset(
    {"state", "detail", "started_at", "finished_at", "snapshot", "diagnosis", "effects"}
)
RUN_JSON_FIELDS = frozenset({"snapshot", "diagnosis", "effects"})


def migrations(id_column: str, bytes_column: str) -> list[tuple[int, str]]:
    """The numbered migrations, with `{{id}}` and `{{bytes}}` spelled in the backend's dialect."""
    folder = resources.files("app.store") / "migrations"
    found = []
    for entry in folder.iterdir():
        name = entry.name
        if name.endswith(".sql") and name[:3].isdigit():
            found.append(
                (
                    int(name[:3]),
                    entry.read_text(encoding="utf-8")
                    .replace("{{id}}", id_column)
                    .replace("{{bytes}}", bytes_column),
                )
            )
    return sorted(found)


def split_statements(sql: str) -> list[str]:
    # Our migrations hold no string literal with "--" or ";", so comments and statements split plainly.
    lines = [ln.split("--", 1)[0] for ln in sql.splitlines()]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def retry_delay(attempts: int, base: float) -> float:
    """Exponential backoff for a failed job: base, 2·base, 4·base … capped at one hour."""
    return float(min(base * (2 ** max(attempts - 1, 0)), 3600.0))
