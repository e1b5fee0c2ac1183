"""`python -m app fake-github`: serve a snapshot as GitHub's REST API until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path

from app.fake_github.double import FakeGitHub, FakeGitHubError
from app.fake_github.faults import FaultRuleError, mix_rules
from app.snapshot import SnapshotError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m app fake-github",
        description="Serve an evidence snapshot as GitHub's REST API on 127.0.0.1.",
    )
    parser.add_argument("--snapshot", required=True, type=Path, help="self-improve-snapshot/1 file")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument(
        "--app-key", type=Path, help="the App's private key PEM: JWT signatures are verified"
    )
    parser.add_argument("--app-id", type=int, default=1)
    parser.add_argument("--latency-ms", type=int, default=0, help="delay every API response")
    parser.add_argument("--fault-rate", type=float, default=0.0, help="share of 502s and resets")
    parser.add_argument("--seed", type=int, default=0, help="seed for the fault generator")
    parser.add_argument("--webhook-url")
    parser.add_argument("--webhook-secret")
    parser.add_argument("--emit-events", action="store_true", help="send webhooks after writes")
    return parser


async def _serve(fake: FakeGitHub, host: str, port: int) -> None:
    url = await fake.start(host, port)
    print(url, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await fake.stop()


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    if (args.webhook_url is None) != (args.webhook_secret is None):
        print("fake-github: --webhook-url and --webhook-secret go together", file=sys.stderr)
        return 2
    try:
        key = args.app_key.read_bytes() if args.app_key else None
        rules = (
            [{"kind": r.kind, "rate": r.rate} for r in mix_rules(args.fault_rate)]
            if args.fault_rate
            else []
        )
        fake = FakeGitHub(
            args.snapshot,
            app_id=args.app_id,
            app_key_pem=key,
            latency_ms=args.latency_ms,
            seed=args.seed,
            webhook_url=args.webhook_url,
            webhook_secret=args.webhook_secret,
            emit_events=args.emit_events,
            fault_rules=rules,
        )
    except (SnapshotError, FakeGitHubError, FaultRuleError) as exc:
        print(f"fake-github: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"fake-github: {exc.filename}: {exc.strerror}", file=sys.stderr)
        return 2
    try:
        asyncio.run(_serve(fake, args.host, args.port))
    except OSError as exc:
        print(
            f"fake-github: cannot listen on {args.host}:{args.port}: {exc.strerror}",
            file=sys.stderr,
        )
        return 1
    return 0
