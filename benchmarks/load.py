"""Webhook intake under load, side by side in one run: our `serve` on SQLite and on PostgreSQL (one
process, and `--processes` of them sharing the port), the floor (bare aiohttp + one SQLite insert per
request, synchronous=FULL) and Probot 14 with a no-op handler.

50 concurrent senders post signed, realistic `issues.labeled` deliveries (octokit's example, a fresh GUID
and issue number each). All servers run side by side; each round sends the same load to every one of
them in turn (rotating who goes first), and every ratio is taken within a round, so a machine whose
speed drifts moves both sides of a ratio together. Prints the medians of throughput, ACK latency
p50/p99 and the server's CPU time per delivery (all its threads and processes), the ratios the targets name, the disk
and memory a stored delivery costs, and, after the servers stop, how fast the worker's router turns the
stored deliveries into jobs and what a queued job costs on disk.

The senders share the machine with the servers, so they are kept cheap: by default pre-serialised
requests on raw keep-alive sockets (30 to 70 µs of CPU per request here, as the machine varies).
`--client aiohttp` sends through aiohttp's client instead, which costs several times that, close to
what a server under test spends.

    .venv/bin/python benchmarks/load.py [--requests 6000] [--rounds 3] [--concurrency 50]
                                        [--client raw|aiohttp] [--processes 2]
                                        [--skip-probot] [--skip-postgres]

Probot is installed from the npm registry into benchmarks/.probot on first use (needs node and npm).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import hashlib
import hmac
import itertools
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
SECRET = "load-benchmark-secret"  # noqa: S105 - a throwaway secret shared by sender and servers
PAYLOAD = json.loads((ROOT / "tests/fixtures/webhooks/issues/labeled.json").read_text())
PAYLOAD["label"]["name"] = "run:self-improve"
PG_URL = os.environ.get("DATABASE_TEST_URL", "postgresql://127.0.0.1:5432/test")
FLOOR = "floor (aiohttp + SQLite FULL)"
OURS_SQLITE = "self-improve serve, SQLite"
OURS_POSTGRES = "self-improve serve, PostgreSQL"
PROBOT = "Probot 14, no-op handler"


@dataclass
class Result:
    name: str
    requests: int
    seconds: float
    latencies: list[float]
    errors: int
    cpu_seconds: float  # the server process's user + system CPU time (all its threads) in the round

    @property
    def throughput(self) -> float:
        return self.requests / self.seconds

    @property
    def cpu_us(self) -> float:
        return self.cpu_seconds / self.requests * 1e6

    def pct(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


_ISSUE_NUMBERS = itertools.count(100_000)
Work = list[tuple[str, bytes, str]]  # (delivery GUID, body, signature header)


def bodies(n: int) -> Work:
    out = []
    for i in range(n):
        PAYLOAD["issue"]["number"] = next(_ISSUE_NUMBERS)
        PAYLOAD["issue"]["updated_at"] = f"2026-11-21T10:{i // 60 % 60:02d}:{i % 60:02d}Z"
        body = json.dumps(PAYLOAD).encode()
        sig = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        out.append((str(uuid.uuid4()), body, sig))
    return out


HEADERS = {
    "Content-Type": "application/json",
    "X-GitHub-Event": "issues",
    "User-Agent": "GitHub-Hookshot/bench",
}


async def blast_aiohttp(url: str, work: Work, concurrency: int) -> tuple[float, list[float], int]:
    """The load through aiohttp's client: 160 to 180 µs of the sender's CPU per request."""
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
                headers = {**HEADERS, "X-GitHub-Delivery": guid, "X-Hub-Signature-256": sig}
                t0 = time.perf_counter()
                async with session.post(url, data=body, headers=headers) as r:
                    await r.read()
                    if r.status >= 300:
                        errors += 1
                latencies.append(time.perf_counter() - t0)

        start = time.perf_counter()
        await asyncio.gather(*(sender() for _ in range(concurrency)))
        return time.perf_counter() - start, latencies, errors


async def blast_raw(url: str, work: Work, concurrency: int) -> tuple[float, list[float], int]:
    """The same load from pre-serialised HTTP/1.1 requests on keep-alive sockets, reading only the
    status line, the headers and a Content-Length or chunked body: a fraction of aiohttp's client
    cost, so the sender does not take the CPU the servers under test need."""
    parsed = urllib.parse.urlsplit(url)
    host, port = parsed.hostname or "127.0.0.1", parsed.port or 80
    head = f"POST {parsed.path} HTTP/1.1\r\nHost: {host}:{port}\r\n" + "".join(
        f"{k}: {v}\r\n" for k, v in HEADERS.items()
    )
    requests = [
        (
            head
            + f"X-GitHub-Delivery: {guid}\r\nX-Hub-Signature-256: {sig}\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        + body
        for guid, body, sig in work
    ]
    requests.reverse()  # popped from the end, so sent in order
    latencies: list[float] = []
    errors = 0

    async def sender() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while requests:
                t0 = time.perf_counter()
                writer.write(requests.pop())
                answer = await reader.readuntil(b"\r\n\r\n")
                status = int(answer[9:12])
                lines = answer.lower().split(b"\r\n")
                length = next(
                    (int(x.split(b":", 1)[1]) for x in lines if x.startswith(b"content-length:")),
                    None,
                )
                if length is not None:
                    await reader.readexactly(length)
                elif b"transfer-encoding: chunked" in lines:
                    while size := int((await reader.readuntil(b"\r\n"))[:-2], 16):
                        await reader.readexactly(size + 2)
                    await reader.readuntil(b"\r\n")
                latencies.append(time.perf_counter() - t0)
                errors += status >= 300
                if b"connection: close" in lines:
                    writer.close()
                    reader, writer = await asyncio.open_connection(host, port)
        finally:
            writer.close()

    start = time.perf_counter()
    await asyncio.gather(*(sender() for _ in range(concurrency)))
    return time.perf_counter() - start, latencies, errors


BLASTERS = {"raw": blast_raw, "aiohttp": blast_aiohttp}


def listeners(port: int) -> int:
    """Sockets listening on 127.0.0.1:`port` (one per process when they share it with SO_REUSEPORT)."""
    lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
    local = f"0100007F:{port:04X}"
    return sum(1 for line in lines if line.split()[1] == local and line.split()[3] == "0A")


def wait_port(
    port: int, proc: subprocess.Popen[bytes], timeout: float = 60, processes: int = 1
) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"server exited with {proc.returncode}: {proc.stderr.read().decode()[-2000:] if proc.stderr else ''}"
            )
        if listeners(port) >= processes:
            return
        time.sleep(0.1)
    raise RuntimeError("server did not start")


def family(pid: int) -> list[int]:
    """`pid` and its descendants (a supervised server's processes)."""
    pids = [pid]
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            for child in (task / "children").read_text().split():
                pids += family(int(child))
    return pids


def cpu_seconds(pid: int, *, with_children: bool = False) -> float:
    """User + system CPU time of `pid` (all its threads), and of its live descendants if asked."""
    total = 0
    for member in family(pid) if with_children else [pid]:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime + stime
    return total / os.sysconf("SC_CLK_TCK")


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


@dataclass
class Server:
    name: str
    url: str
    proc: subprocess.Popen[bytes]
    rounds: list[Result]


@contextlib.contextmanager
def started(
    name: str,
    cmd: list[str],
    env: dict[str, str],
    port: int,
    path: str = "/api/github/webhooks",
    processes: int = 1,
) -> Iterator[Server]:
    proc = subprocess.Popen(
        cmd, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT
    )
    try:
        wait_port(port, proc, processes=processes)
        yield Server(name, f"http://127.0.0.1:{port}{path}", proc, [])
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def probot_command(workdir: Path) -> list[str] | None:
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


def throwaway_key() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    return (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
        .decode()
    )


def route_stored(db: str) -> tuple[int, int, float, int]:
    """What the worker does next with the stored deliveries: route them into jobs with the real
    router. Returns (deliveries routed, jobs queued, seconds, bytes on disk added)."""
    sys.path.insert(0, str(ROOT))
    from app.store.sqlite import SQLiteStore
    from app.webhook import route_delivery

    def size() -> int:
        return sum(Path(p).stat().st_size for p in (db, db + "-wal") if Path(p).exists())

    async def run() -> tuple[int, int, float, int]:
        store = SQLiteStore(db)
        await store.open()
        before = size()
        router = functools.partial(route_delivery, app_id=None, app_slug=None, max_attempts=5)
        routed = queued = 0
        start = time.perf_counter()
        while batch := await store.route_deliveries(router, limit=100, now=time.time()):
            routed += len(batch)
            queued += sum(r.jobs_queued for r in batch)
        seconds = time.perf_counter() - start
        await store.close()
        return routed, queued, seconds, size() - before

    return asyncio.run(run())


def median(values: list[float]) -> float:
    return statistics.median(values)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--requests", type=int, default=6000, help="deliveries per server per round"
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument(
        "--client",
        choices=sorted(BLASTERS),
        default="raw",
        help="the senders: pre-serialised requests on raw sockets (default) or aiohttp's client",
    )
    parser.add_argument(
        "--processes",
        type=int,
        default=2,
        help="also run `serve` on PostgreSQL with this many processes (WEB_CONCURRENCY; 1: skip)",
    )
    parser.add_argument("--skip-probot", action="store_true")
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args()
    blast = BLASTERS[args.client]
    py = sys.executable
    serve_env = {
        "WEBHOOK_SECRET": SECRET,
        "HOST": "127.0.0.1",
        "LOG_LEVEL": "WARNING",
        "APP_ID": "",
        "PRIVATE_KEY": "",
    }
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        servers: list[Server] = []
        port = free_port()
        servers.append(
            stack.enter_context(
                started(
                    FLOOR,
                    [py, "benchmarks/floor_server.py", str(port), f"{tmp}/floor.db"],
                    {"WEBHOOK_SECRET": SECRET},
                    port,
                )
            )
        )
        db = f"{tmp}/serve.db"
        port = free_port()
        ours = stack.enter_context(
            started(
                OURS_SQLITE,
                [py, "-m", "app", "serve", "--no-worker"],
                {**serve_env, "PORT": str(port), "DATABASE_URL": f"sqlite:///{db}"},
                port,
            )
        )
        servers.append(ours)
        if not args.skip_postgres:
            subprocess.run(["psql", "-q", PG_URL, "-c", f'CREATE SCHEMA "{schema}"'], check=True)
            stack.callback(
                subprocess.run,
                ["psql", "-q", PG_URL, "-c", f'DROP SCHEMA "{schema}" CASCADE'],
                check=False,
            )
            port = free_port()
            servers.append(
                stack.enter_context(
                    started(
                        OURS_POSTGRES,
                        [py, "-m", "app", "serve", "--no-worker"],
                        {
                            **serve_env,
                            "PORT": str(port),
                            "DATABASE_URL": f"{PG_URL}?options=-csearch_path%3D{schema}",
                        },
                        port,
                    )
                )
            )
            if args.processes > 1:  # a registered App: GitHub (unreachable here) is never needed
                port = free_port()
                servers.append(
                    stack.enter_context(
                        started(
                            f"{OURS_POSTGRES}, {args.processes} processes",
                            [py, "-m", "app", "serve", "--no-worker"],
                            {
                                **serve_env,
                                "PORT": str(port),
                                "DATABASE_URL": f"{PG_URL}?options=-csearch_path%3D{schema}",
                                "WEB_CONCURRENCY": str(args.processes),
                                "APP_ID": "1",
                                "PRIVATE_KEY": throwaway_key(),
                                "GITHUB_API_URL": "http://127.0.0.1:9",
                                "GITHUB_RETRY_BASE_SECONDS": "0",
                            },
                            port,
                            processes=args.processes,
                        )
                    )
                )
        if not args.skip_probot:
            cmd = probot_command(Path(tmp))
            if cmd is None:
                print("probot: skipped (node/npm not found)")
            else:
                port = free_port()
                env = {
                    "APP_ID": "1",
                    "PRIVATE_KEY": throwaway_key(),
                    "WEBHOOK_SECRET": SECRET,
                    "PORT": str(port),
                    "HOST": "127.0.0.1",
                    "LOG_LEVEL": "warn",
                    "NODE_ENV": "production",
                }
                servers.append(stack.enter_context(started(PROBOT, cmd, env, port)))
        for server in servers:  # warm-up: imports, caches, JIT
            asyncio.run(blast(server.url, bodies(min(500, args.requests)), args.concurrency))
        rss_before = rss_kb(ours.proc.pid)
        sender_cpu: list[float] = []
        for round_no in range(args.rounds):
            # each round visits every server once, starting one further along, so no server always
            # runs first or last on a machine whose speed drifts
            order = servers[round_no % len(servers) :] + servers[: round_no % len(servers)]
            for server in order:
                work = bodies(args.requests)
                cpu_before = cpu_seconds(server.proc.pid, with_children=True)
                sender_before = cpu_seconds(os.getpid())
                seconds, latencies, errors = asyncio.run(blast(server.url, work, args.concurrency))
                cpu = cpu_seconds(server.proc.pid, with_children=True) - cpu_before
                sender_cpu.append(cpu_seconds(os.getpid()) - sender_before)
                server.rounds.append(
                    Result(server.name, args.requests, seconds, latencies, errors, cpu)
                )
        rss_after = rss_kb(ours.proc.pid)
        stack.close()  # servers stopped: the stored deliveries are routed with the real router
        accepted = args.requests * args.rounds + min(500, args.requests)
        stored = sum(Path(p).stat().st_size for p in (db, db + "-wal") if Path(p).exists())
        routed, queued, route_seconds, job_bytes = route_stored(db)

    print(
        f"\n{args.requests} signed deliveries per server per round, {args.rounds} rounds,"
        f" {args.concurrency} concurrent senders ({args.client} client, {median(sender_cpu) / args.requests * 1e6:.0f} µs"
        f" of its CPU per request), {os.cpu_count()}-core machine; medians over rounds\n"
    )
    print(
        f"{'server':38} {'deliveries/s':>12} {'p50 ms':>8} {'p99 ms':>8} {'CPU µs':>8} {'errors':>7}"
    )
    for server in servers:
        r = server.rounds
        print(
            f"{server.name:38} {median([x.throughput for x in r]):12,.0f}"
            f" {median([x.pct(0.5) for x in r]):8.1f} {median([x.pct(0.99) for x in r]):8.1f}"
            f" {median([x.cpu_us for x in r]):8.0f} {sum(x.errors for x in r):7d}"
        )
    floor = servers[0]

    def ratios(a: Server, b: Server) -> tuple[list[float], list[float]]:
        pairs = list(zip(a.rounds, b.rounds, strict=True))
        return (
            [x.throughput / y.throughput for x, y in pairs],
            [x.pct(0.99) / y.pct(0.99) for x, y in pairs],
        )

    print("\nratios, each measured within one round (median, then every round):")
    for server in servers[1:]:
        tput, p99 = ratios(server, floor)
        print(
            f"  {server.name}: throughput {median(tput):.2f} × floor ({', '.join(f'{v:.2f}' for v in tput)}),"
            f" p99 {median(p99):.2f} × floor ({', '.join(f'{v:.2f}' for v in p99)})"
        )
    probot = next((s for s in servers if s.name == PROBOT), None)
    if probot:
        for server in servers[1:]:
            if server is probot:
                continue
            tput, p99 = ratios(server, probot)
            print(
                f"  {server.name} vs Probot (not durable): throughput {median(tput):.2f}×"
                f" ({', '.join(f'{v:.2f}' for v in tput)}), p99 {median(p99):.2f}×"
            )
    print(
        f"\nour SQLite intake: {stored / accepted:,.0f} bytes on disk per stored delivery;"
        f" RSS {rss_after - rss_before:+,d} KiB over {args.requests * args.rounds:,} deliveries"
        f" ({max(rss_after - rss_before, 0) * 1024 / (args.requests * args.rounds):,.1f} bytes each:"
        " deliveries and jobs wait in the store, not in memory)"
    )
    print(
        f"routing afterwards (what the worker does): {routed:,} deliveries into {queued:,} jobs in"
        f" {route_seconds:.2f} s ({routed / route_seconds:,.0f}/s), {job_bytes / max(queued, 1):,.0f}"
        " bytes on disk per queued job"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
