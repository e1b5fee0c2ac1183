"""`serve` as several processes on one port (`--processes N` or WEB_CONCURRENCY=N).

Each process is a whole replica (intake, worker, sweeps) on the shared PostgreSQL store, exactly as
separate replicas are, and binds the port with SO_REUSEPORT, so the kernel spreads connections across
them and each uses a core of its own. This parent only supervises: it forwards SIGTERM and SIGINT, and
when a process exits on its own it stops the others and exits with a failure, so whatever runs the
service (systemd, Kubernetes, Docker's restart policy) starts it again whole. The processes count into
one set of metrics: prometheus_client's multiprocess mode, in a directory that lives as long as the
parent.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from types import FrameType

from app.settings import Settings

log = logging.getLogger(__name__)

# Set in each process the parent starts: it serves, and never supervises in turn.
CHILD = "SELF_IMPROVE_SERVE_PROCESS"
METRICS_DIR = "PROMETHEUS_MULTIPROC_DIR"  # read by prometheus_client when it is imported


def is_child() -> bool:
    return CHILD in os.environ


def processes_problem(settings: Settings, processes: int) -> str | None:
    """Why `processes` processes cannot serve with these settings, or None."""
    if processes <= 1:
        return None
    if not settings.uses_postgres:
        return (
            "WEB_CONCURRENCY: several processes need DATABASE_URL=postgresql://…"
            " (SQLite admits one writing process at a time)"
        )
    if settings.port == 0:
        return "PORT: several processes share one fixed port; 0 would give each its own"
    if not settings.registered:
        return "WEB_CONCURRENCY: register the App with one process first (APP_ID is not set)"
    if not hasattr(socket, "SO_REUSEPORT"):
        return "WEB_CONCURRENCY: this platform has no SO_REUSEPORT; run one process per replica"
    return None


def supervise(argv: list[str], processes: int, *, poll_seconds: float = 0.2) -> int:
    """Run `processes` copies of `python -m app serve ARGV` until a signal or until one exits."""
    from prometheus_client import multiprocess

    metrics_dir = tempfile.mkdtemp(prefix="self-improve-metrics-")
    children: list[subprocess.Popen[bytes]] = []
    stopping = False

    def stop(signum: int, frame: FrameType | None = None) -> None:
        nonlocal stopping
        stopping = True
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    exit_code = 0
    try:
        for index in range(processes):
            env = {**os.environ, CHILD: str(index), METRICS_DIR: metrics_dir}
            command = [sys.executable, "-m", "app", "serve", *argv]  # our own argv, re-run as is
            child = subprocess.Popen(command, env=env)  # noqa: S603
            children.append(child)
            log.info("serve process started", extra={"index": index, "pid": child.pid})
        running = list(children)
        while running:
            time.sleep(poll_seconds)
            for child in [c for c in running if c.poll() is not None]:
                running.remove(child)
                multiprocess.mark_process_dead(child.pid, metrics_dir)  # type: ignore[no-untyped-call]
                if not stopping:
                    log.error(
                        "a serve process exited on its own: stopping the others",
                        extra={"pid": child.pid, "exit_code": child.returncode},
                    )
                    exit_code = child.returncode if child.returncode > 0 else 1
                    stop(signal.SIGTERM)
        return exit_code
    finally:
        stop(signal.SIGTERM)  # an exception in here must not leave processes behind
        for child in children:
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        shutil.rmtree(metrics_dir, ignore_errors=True)
