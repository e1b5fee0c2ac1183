"""Prometheus metrics, one registry per app instance (no global registry, so tests and replicas stay apart).

Under `serve --processes N` (PROMETHEUS_MULTIPROC_DIR set by the parent) each process writes its values
to that directory and `/metrics`, whichever process answers, reports them all: counters summed, the
gauges as last set by any process (they are sampled from the shared store or from GitHub's headers)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector


@dataclass
class Metrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.deliveries = Counter(
            "self_improve_webhook_deliveries",
            "Webhook deliveries by event and outcome",
            ["event", "outcome"],
            registry=r,
        )
        self.jobs = Gauge(
            "self_improve_jobs",
            "Jobs in the store by state (sampled at scrape)",
            ["state"],
            registry=r,
            multiprocess_mode="mostrecent",
        )
        self.deliveries_pending = Gauge(
            "self_improve_deliveries_pending",
            "Deliveries stored and acknowledged but not routed into jobs yet (sampled at scrape)",
            registry=r,
            multiprocess_mode="mostrecent",
        )
        self.job_runs = Counter(
            "self_improve_job_runs",
            "Job executions by kind and outcome",
            ["kind", "outcome"],
            registry=r,
        )
        self.github_requests = Counter(
            "self_improve_github_requests",
            "GitHub API responses by method and status (0 = no response)",
            ["method", "status"],
            registry=r,
        )
        self.rate_limit_remaining = Gauge(
            "self_improve_github_rate_limit_remaining",
            "x-ratelimit-remaining last seen, per installation ('app' for JWT calls)",
            ["installation"],
            registry=r,
            multiprocess_mode="mostrecent",
        )
        self.hook_target_mismatch = Counter(
            "self_improve_hook_target_mismatch",
            "Deliveries whose X-GitHub-Hook-Installation-Target-ID is not our App ID",
            registry=r,
        )

    def render(self) -> bytes:
        shared = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        if not shared:
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=shared)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
