"""How well gathering uses GitHub: requests vs the minimum, wall time vs its bounds, memory, 304s.

Serves a large target (benchmarks/make_large_snapshot.py) from the GitHub double in its own process
with 50 ms latency per response, gathers it as the app does (App JWT -> installation token -> reads),
and prints one table. Figures are ratios measured in one run; nothing here asserts.

    .venv/bin/python benchmarks/gather.py [--latency-ms 50] [--commits 24] [--comments 320]

Bounds: the critical path is the longest chain of requests that each need the previous answer
(token -> timeline -> PR commits -> runs of a commit -> jobs -> log redirect -> log), times the
latency. With at most 8 API requests in flight per installation (R-RL-1), N of them also need at
least N x latency / 8 (blob downloads are outside that cap); the wall time is compared with the
larger of the two, and a second cold run with the cap lifted shows how close the orchestration
itself gets to the critical path. The gathering's own CPU (HTTP client, JSON, redaction) and the
machine's load are printed too: at 50 ms latency they are of the same order as the network.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from make_large_snapshot import build_large  # noqa: E402 - the benchmark runs as a script

from app.evidence import EvidenceCache, gather_evidence, links  # noqa: E402
from app.evidence.gather import INSTRUCTION_FILES, artifact_wanted  # noqa: E402
from app.github.apps import GitHubApps  # noqa: E402
from app.repo_config import RepoConfig  # noqa: E402
from app.settings import load_settings  # noqa: E402
from app.snapshot import Snapshot, parse_snapshot  # noqa: E402

PER_PAGE = 100


def pages(n: int) -> int:
    return max(1, math.ceil(n / PER_PAGE))


def minimum_requests(snap: Snapshot, config: RepoConfig) -> int:
    """The pages and downloads the evidence needs, counted from the snapshot's sizes."""
    total = 1 + 1  # the installation token, the repository
    issue = snap.issues[0]
    total += 1 + pages(len(issue.comments)) + pages(len(issue.timeline))  # target kind unknown: GET
    issue_events = Counter(w.run.get("event") for p in snap.pull_requests for w in p.workflow_runs)
    total += sum(pages(issue_events[e]) for e in links.ISSUE_EVENTS)
    candidates = {config.paths.instructions, *INSTRUCTION_FILES, config.paths.docs}
    candidates |= set(config.gathering.extra_files)
    if config.paths.agent_dockerfile:
        candidates.add(config.paths.agent_dockerfile)
    seeds = [
        p for p in snap.files if p.startswith(config.paths.prompts_dir + "/") and p.endswith(".md")
    ]
    total += len(candidates) + 1 + len(set(seeds) - candidates)
    for pr in snap.pull_requests:
        total += 1 + sum(
            pages(len(x))
            for x in (
                pr.comments,
                pr.timeline,
                pr.reviews,
                pr.review_comments,
                pr.files,
                pr.commits,
            )
        )
        shas = [c["sha"] for c in pr.commits][-config.gathering.max_commits :]
        by_sha = Counter(c.check_run["head_sha"] for c in pr.check_runs)
        runs_by_sha = Counter(
            w.run["head_sha"]
            for w in pr.workflow_runs
            if w.run.get("event") not in links.ISSUE_EVENTS
        )
        total += sum(pages(by_sha[s]) + pages(runs_by_sha[s]) for s in shas)
        total += sum(
            pages(len(c.annotations))
            for c in pr.check_runs
            if links.check_run_failed(c.check_run) and links.has_annotations(c.check_run)
        )
        for w in pr.workflow_runs:
            total += pages(len(w.jobs)) + pages(len(w.artifacts))
            total += 2 * sum(
                1 for j in w.jobs if j.log is not None and links.wants_log(j.job, w.run)
            )
            total += 2 * sum(
                1
                for a in w.artifacts
                if artifact_wanted(a.artifact["name"], config.gathering.artifact_globs)
                and not a.artifact.get("expired")
            )
    return total


def critical_path(snap: Snapshot) -> int:
    """The longest chain of requests that each wait for the previous answer."""
    issue, pr = snap.issues[0], snap.pull_requests[0]
    timeline = 1 + (len(issue.timeline) > PER_PAGE)  # page 1 tells `last`, the rest go at once
    commits = 1 + (len(pr.commits) > PER_PAGE)
    ci = 1 + 1 + 2  # runs of a commit, their jobs, the log's redirect and the log itself
    via_commits = 1 + timeline + commits + ci
    via_issue_events = 1 + 1 + 1 + ci - 1  # token, issue, event runs, jobs, redirect, log
    return max(via_commits, via_issue_events)


def start_double(
    snapshot_path: Path, key_path: Path, latency_ms: int
) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "app", "fake-github", "--snapshot", str(snapshot_path),
         "--latency-ms", str(latency_ms), "--app-key", str(key_path), "--app-id", "1"],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    if not url.startswith("http"):
        proc.kill()
        raise SystemExit(f"the double did not start: {url!r}")
    return proc, url


async def control(session: aiohttp.ClientSession, url: str, path: str, method: str = "GET") -> Any:
    async with session.request(method, url + path, json={} if method == "POST" else None) as r:
        return await r.json()


def process_cpu(pid: int) -> float | None:
    """User + system CPU seconds of a process (Linux /proc), None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def run_gather(
    apps: GitHubApps, snap: Snapshot, config: RepoConfig, cache: EvidenceCache | None
) -> float:
    gh = apps.installation_client(42, repository=snap.full_name.split("/")[1], purpose="gather")
    started = time.perf_counter()
    await gather_evidence(
        gh, repository=snap.full_name, target_kind=None, number=snap.target.number,
        config=config, cache=cache,
    )  # fmt: skip
    return time.perf_counter() - started


async def measure(
    url: str, pem: bytes, snap: Snapshot, latency: float, double_pid: int
) -> list[tuple[str, str, str]]:
    config = RepoConfig()
    settings = load_settings(env_file=None, app_id=1, private_key=pem.decode(), github_api_url=url)
    rows: list[tuple[str, str, str]] = []
    async with aiohttp.ClientSession() as session:

        async def requests_since_reset() -> list[dict[str, Any]]:
            got = await control(session, url, "/_fake/requests")
            items = got["requests"] if isinstance(got, dict) else got
            await control(session, url, "/_fake/reset", "POST")
            return [r for r in items if not r["path"].startswith("/_fake/")]

        await requests_since_reset()
        apps = GitHubApps(settings, session)
        cache = EvidenceCache()
        cpu_before, double_before = time.process_time(), process_cpu(double_pid)
        cold = await run_gather(apps, snap, config, cache)
        cpu = time.process_time() - cpu_before
        double_after = process_cpu(double_pid)
        made = await requests_since_reset()
        warm = await run_gather(apps, snap, config, cache)
        again = await requests_since_reset()

        wide = GitHubApps(settings, session, max_in_flight=64, max_total_in_flight=64)
        cold_wide = await run_gather(wide, snap, config, None)
        await requests_since_reset()

        tracemalloc.start()
        await run_gather(GitHubApps(settings, session), snap, config, None)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        await requests_since_reset()

    minimum = minimum_requests(snap, config)
    repeats = Counter((r["method"], r["path"], tuple(sorted(r["query"].items()))) for r in made)
    path_len = critical_path(snap)
    bound_path = path_len * latency
    # Blob downloads (signed URLs) go around the installation's slots; API requests share 8.
    capped = [r for r in made if not r["path"].startswith("/_blobs/")]
    bound_throughput = len(capped) * latency / 8
    not_modified = sum(1 for r in again if r["status"] == 304)
    rows += [
        ("requests made (cold run)", f"{len(made)}", ""),
        ("minimum (pages + downloads)", f"{minimum}", ""),
        ("requests / minimum", f"{len(made) / minimum:.2f}", "<= 1.10"),
        ("requests repeated in one run", f"{sum(c - 1 for c in repeats.values())}", "0"),
        ("critical path", f"{path_len} requests = {bound_path:.2f} s", ""),
        (
            "throughput bound, 8 in flight",
            f"{len(capped)} API x {latency * 1000:.0f} ms / 8 = {bound_throughput:.2f} s",
            "",
        ),
        ("wall, cold, 8 in flight", f"{cold:.2f} s", ""),
        ("wall / max(bounds)", f"{cold / max(bound_path, bound_throughput):.2f}", "<= 1.5"),
        ("wall / critical path, 8 in flight", f"{cold / bound_path:.2f}", "(cap-bound)"),
        ("wall, cold, 64 in flight", f"{cold_wide:.2f} s", ""),
        ("wall / critical path, 64 in flight", f"{cold_wide / bound_path:.2f}", "<= 1.5"),
        ("CPU of the gathering (cold run)", f"{cpu:.2f} s", ""),
        (
            "CPU of the double (cold run)",
            f"{double_after - double_before:.2f} s"
            if double_after is not None and double_before is not None
            else "n/a",
            "",
        ),
        ("load average when run", f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores", ""),
        ("peak Python heap while gathering", f"{peak / 2**20:.1f} MiB", ""),
        ("second run: requests", f"{len(again)}", ""),
        ("second run: answered 304", f"{not_modified / max(1, len(again)):.0%}", ">= 90 %"),
        ("second run: wall", f"{warm:.2f} s", ""),
    ]
    other = Counter(r["status"] for r in again if r["status"] != 304)
    if other:
        rows.append(
            (
                "second run: other statuses",
                ", ".join(f"{k}: {v}" for k, v in sorted(other.items())),
                "",
            )
        )
    return rows


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--comments", type=int, default=320)
    parser.add_argument("--review-comments", type=int, default=320)
    parser.add_argument("--files", type=int, default=120)
    parser.add_argument("--commits", type=int, default=24)
    args = parser.parse_args(argv)
    data = build_large(
        comments=args.comments, review_comments=args.review_comments, files=args.files,
        commits=args.commits,
    )  # fmt: skip
    snap = parse_snapshot(data)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    with tempfile.TemporaryDirectory() as tmp:
        snapshot_path, key_path = Path(tmp) / "large.json", Path(tmp) / "app.pem"
        snapshot_path.write_text(__import__("json").dumps(data), encoding="utf-8")
        key_path.write_bytes(pem)
        os.chmod(key_path, 0o600)
        proc, url = start_double(snapshot_path, key_path, args.latency_ms)
        try:
            rows = asyncio.run(measure(url, pem, snap, args.latency_ms / 1000, proc.pid))
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    pr = snap.pull_requests[0]
    print(
        f"target: issue #{snap.target.number} with {len(snap.issues[0].comments)} comments; PR "
        f"#{pr.pull['number']} with {len(pr.comments)} comments, {len(pr.review_comments)} review "
        f"comments, {len(pr.files)} files, {len(pr.commits)} commits, {len(pr.check_runs)} check "
        f"runs, {len(pr.workflow_runs)} workflow runs; latency {args.latency_ms} ms"
    )
    width = max(len(r[0]) for r in rows)
    value_width = max(len(r[1]) for r in rows)
    print(f"{'figure'.ljust(width)}  {'value'.ljust(value_width)}  target")
    for name, value, target in rows:
        print(f"{name.ljust(width)}  {value.ljust(value_width)}  {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
