"""Webhook intake under load, side by side in one run: our `serve` on SQLite and on PostgreSQL, the floor
(bare aiohttp + one SQLite insert per request, synchronous=FULL) and Probot 14 with a no-op handler.

50 concurrent senders post signed, realistic `issues.labeled` deliveries (octokit's example, a fresh GUID
and issue number each). Prints throughput and ACK latency p50/p99 per server, the ratios the targets
name, and the disk and memory cost per queued job.

    .venv/bin/python benchmarks/load.py [--requests 6000] [--concurrency 50] [--skip-probot]

Probot is installed from the npm registry into benchmarks/.probot on first use (needs node and npm).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import hmac
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
SECRET = "load-benchmark-secret"  # noqa: S105 - a throwaway secret shared by sender and servers
PAYLOAD = json.loads((ROOT / "tests/fixtures/webhooks/issues/labeled.json").read_text())
PAYLOAD["label"]["name"] = "run:self-improve"
PG_URL = os.environ.get("DATABASE_TEST_URL", "postgresql://127.0.0.1:5432/test")


@dataclass
class Result:
    name: str
    requests: int
    seconds: float
    latencies: list[float]
    errors: int

    @property
    def throughput(self) -> float:
        return self.requests / self.seconds

    def pct(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bodies(n: int) -> list[tuple[str, bytes, str]]:
    out = []
    for i in range(n):
        PAYLOAD["issue"]["number"] = 100_000 + i
        PAYLOAD["issue"]["updated_at"] = f"2026-11-21T10:{i // 60 % 60:02d}:{i % 60:02d}Z"
        body = json.dumps(PAYLOAD).encode()
        sig = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        out.append((str(uuid.uuid4()), body, sig))
    return out


async def blast(url: str, n: int, concurrency: int) -> tuple[float, list[float], int]:
    work = bodies(n)
    latencies: list[float] = []
    errors = 0
    queue: asyncio.Queue[tuple[str, bytes, str]] = asyncio.Queue()
    for item in work:
        queue.put_nowait(item)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def sender() -> None:
            nonlocal errors
            while not queue.empty():
                guid, body, sig = queue.get_nowait()
                headers = {
                    "Content-Type": "application/json",
                    "X-GitHub-Event": "issues",
                    "X-GitHub-Delivery": guid,
                    "X-Hub-Signature-256": sig,
                    "User-Agent": "GitHub-Hookshot/bench",
                }
                t0 = time.perf_counter()
                async with session.post(url, data=body, headers=headers) as r:
                    await r.read()
                    if r.status >= 300:
                        errors += 1
                latencies.append(time.perf_counter() - t0)

        start = time.perf_counter()
        await asyncio.gather(*(sender() for _ in range(concurrency)))
        return time.perf_counter() - start, latencies, errors


def wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"server exited with {proc.returncode}: {proc.stderr.read().decode()[-2000:] if proc.stderr else ''}"
            )
        with (
            contextlib.suppress(OSError),
            socket.create_connection(("127.0.0.1", port), timeout=0.2),
        ):
            return
        time.sleep(0.1)
    raise RuntimeError("server did not start")


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def measure(
    name: str,
    cmd: list[str],
    env: dict[str, str],
    port: int,
    args: argparse.Namespace,
    path: str = "/api/github/webhooks",
) -> tuple[Result, int, int]:
    proc = subprocess.Popen(
        cmd, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT
    )
    try:
        wait_port(port, proc)
        url = f"http://127.0.0.1:{port}{path}"
        asyncio.run(blast(url, min(500, args.requests), args.concurrency))  # warm-up
        before = rss_kb(proc.pid)
        seconds, latencies, errors = asyncio.run(blast(url, args.requests, args.concurrency))
        after = rss_kb(proc.pid)
        return Result(name, args.requests, seconds, latencies, errors), before, after
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def probot_command(port: int, workdir: Path) -> list[str] | None:
    if shutil.which("npm") is None or shutil.which("node") is None:
        return None
    target = ROOT / "benchmarks" / ".probot"
    if not (target / "node_modules" / "probot").exists():
        target.mkdir(parents=True, exist_ok=True)
        (target / "package.json").write_text('{"name": "probot-floor", "private": true}')
        subprocess.run(
            ["npm", "install", "--silent", "--no-audit", "--no-fund", "probot@14"],
            cwd=target,
            check=True,
        )
    (target / "noop.cjs").write_text(
        "module.exports = (app) => { app.on('issues.labeled', async () => {}); };\n"
    )
    return [str(target / "node_modules" / ".bin" / "probot"), "run", str(target / "noop.cjs")]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=6000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--skip-probot", action="store_true")
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args()
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
        .decode()
    )
    results: list[tuple[Result, int, int]] = []
    extra: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as tmp:
        py = sys.executable
        port = free_port()
        results.append(
            measure(
                "floor (aiohttp + SQLite FULL)",
                [py, "benchmarks/floor_server.py", str(port), f"{tmp}/floor.db"],
                {"WEBHOOK_SECRET": SECRET},
                port,
                args,
            )
        )
        serve_env = {
            "WEBHOOK_SECRET": SECRET,
            "HOST": "127.0.0.1",
            "LOG_LEVEL": "WARNING",
            "APP_ID": "",
            "PRIVATE_KEY": "",
        }
        port = free_port()
        db = f"{tmp}/serve.db"
        results.append(
            measure(
                "self-improve serve, SQLite",
                [py, "-m", "app", "serve", "--no-worker"],
                {**serve_env, "PORT": str(port), "DATABASE_URL": f"sqlite:///{db}"},
                port,
                args,
            )
        )
        size = sum(Path(p).stat().st_size for p in (db, db + "-wal") if Path(p).exists())
        jobs = args.requests + min(500, args.requests)
        extra["sqlite bytes on disk per queued job"] = f"{size / jobs:,.0f}"
        if not args.skip_postgres:
            schema = f"bench_{uuid.uuid4().hex[:8]}"
            subprocess.run(["psql", "-q", PG_URL, "-c", f'CREATE SCHEMA "{schema}"'], check=True)
            try:
                port = free_port()
                results.append(
                    measure(
                        "self-improve serve, PostgreSQL",
                        [py, "-m", "app", "serve", "--no-worker"],
                        {
                            **serve_env,
                            "PORT": str(port),
                            "DATABASE_URL": f"{PG_URL}?options=-csearch_path%3D{schema}",
                        },
                        port,
                        args,
                    )
                )
            finally:
                subprocess.run(
                    ["psql", "-q", PG_URL, "-c", f'DROP SCHEMA "{schema}" CASCADE'], check=False
                )
        if not args.skip_probot:
            port = free_port()
            cmd = probot_command(port, Path(tmp))
            if cmd is None:
                print("probot: skipped (node/npm not found)")
            else:
                env = {
                    "APP_ID": "1",
                    "PRIVATE_KEY": key,
                    "WEBHOOK_SECRET": SECRET,
                    "PORT": str(port),
                    "HOST": "127.0.0.1",
                    "LOG_LEVEL": "warn",
                    "NODE_ENV": "production",
                }
                results.append(measure("Probot 14, no-op handler", cmd, env, port, args))
    print(
        f"\n{args.requests} signed deliveries, {args.concurrency} concurrent senders, 2-core machine\n"
    )
    print(
        f"{'server':34} {'deliveries/s':>12} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} {'RSS +KiB':>9}"
    )
    for r, before, after in results:
        print(
            f"{r.name:34} {r.throughput:12,.0f} {r.pct(0.5):8.1f} {r.pct(0.99):8.1f} {r.errors:7d} {after - before:9,d}"
        )
    floor = results[0][0]
    for r, _, _ in results[1:]:
        print(
            f"{r.name}: throughput {r.throughput / floor.throughput:.2f} × floor, p99 {r.pct(0.99) / floor.pct(0.99):.2f} × floor"
        )
    probot = next((r for r, _, _ in results if r.name.startswith("Probot")), None)
    ours = next(r for r, _, _ in results if "SQLite" in r.name and "serve" in r.name)
    if probot:
        print(
            f"self-improve (SQLite, durable) vs Probot (not durable): {ours.throughput / probot.throughput:.2f} × throughput"
        )
    for k, v in extra.items():
        print(f"{k}: {v}")
    _, before, after = next(x for x in results if x[0] is ours)
    print(
        f"serve RSS growth per queued job: {max(after - before, 0) * 1024 / args.requests:,.0f} bytes (jobs wait in the store, not in memory)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
