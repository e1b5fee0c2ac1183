"""Benchmark the heuristic diagnosis on a synthetic 5,000-item snapshot; prints time and peak memory.

    .venv/bin/python benchmarks/diagnose.py [--items 5000]

Targets: under 2 s and under 300 MB on a 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.diagnosis import diagnose
from app.redaction import redact_text
from app.snapshot import parse_snapshot

REPO = "https://github.com/bench/big"
BASE_WORDS = [
    "please",
    "run",
    "the",
    "linter",
    "before",
    "pushing",
    "again",
    "docs",
    "update",
    "tests",
    "flaky",
    "build",
    "schema",
]


def vocabulary(size: int, rng: random.Random) -> list[str]:
    """Review-ish words plus invented ones, so comments share some words and not others."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    made = {"".join(rng.choice(letters) for _ in range(rng.randint(4, 9))) for _ in range(size)}
    return BASE_WORDS + sorted(made)


def _user(login: str, bot: bool = False) -> dict[str, Any]:
    return {"login": login, "type": "Bot" if bot else "User"}


def _ts(n: int) -> str:
    return f"2026-11-{1 + n // 1440 % 28:02d}T{n // 60 % 24:02d}:{n % 60:02d}:00Z"


def _log(rng: random.Random, lines: int, fail: bool) -> str:
    out = ["2026-11-01T10:00:00.0000000Z Current runner version: '2.329.0'"]
    out.append("2026-11-01T10:00:01.0000000Z ##[group]Run actions/checkout@v5")
    out.append("2026-11-01T10:00:02.0000000Z ##[group]Run uv run pytest -q")
    for i in range(lines):
        out.append(
            f"2026-11-01T10:01:{i % 60:02d}.0000000Z tests/test_{i}.py {'.' * rng.randint(5, 60)} [{i % 100}%]"
        )
    if fail:
        out.append(
            "2026-11-01T10:02:00.0000000Z FAILED tests/test_money.py::test_round - AssertionError"
        )
        out.append("2026-11-01T10:02:01.0000000Z ##[error]Process completed with exit code 1.")
    out.append("2026-11-01T10:02:02.0000000Z Post job cleanup.")
    out.append("2026-11-01T10:02:03.0000000Z Cleaning up orphan processes")
    return "\n".join(out) + "\n"


def _session(rng: random.Random, events: int) -> str:
    rows = [
        {"timestamp": "2026-11-02T08:00:00.000Z", "type": "session_meta", "payload": {"id": "s"}}
    ]
    for i in range(events):
        cmd = "npm run build" if i % 7 == 0 else f"cat src/file_{i}.ts"
        rows.append(
            {
                "timestamp": "2026-11-02T08:00:01.000Z",
                "type": "response_item",
                "payload": {
                    "type": "function_call",
                    "name": "shell",
                    "call_id": f"c{i}",
                    "arguments": json.dumps({"command": ["bash", "-lc", cmd]}),
                },
            }
        )
        code = 2 if i % 7 == 0 else 0
        out = (
            "error TS2339: Property 'x' does not exist on type 'Y'."
            if code
            else "x" * rng.randint(20, 400)
        )
        rows.append(
            {
                "timestamp": "2026-11-02T08:00:02.000Z",
                "type": "response_item",
                "payload": {
                    "type": "function_call_output",
                    "call_id": f"c{i}",
                    "output": json.dumps({"output": out, "metadata": {"exit_code": code}}),
                },
            }
        )
    return "\n".join(json.dumps(r) for r in rows) + "\n"


def synthetic(items: int, seed: int = 7, vocab: int = 3000) -> dict[str, Any]:
    """A snapshot with about `items` citeable objects: comments, reviews, commits, checks, events."""
    rng = random.Random(seed)
    words = vocabulary(vocab, rng)
    agent = _user("bench-agent[bot]", bot=True)
    people = [_user(f"dev{i}") for i in range(8)]
    pr_url = f"{REPO}/pull/2"
    n_comments, n_rcomments, n_commits, n_jobs, n_events = (
        int(items * 0.4),
        int(items * 0.3),
        int(items * 0.05),
        int(items * 0.05),
        int(items * 0.1),
    )
    comments = [
        {
            "id": 10_000 + i,
            "html_url": f"{pr_url}#issuecomment-{10_000 + i}",
            "user": rng.choice(people),
            "author_association": "MEMBER",
            "created_at": _ts(100 + i),
            "body": " ".join(rng.choice(words) for _ in range(rng.randint(5, 40))),
        }
        for i in range(n_comments)
    ]
    review_comments = [
        {
            "id": 50_000 + i,
            "html_url": f"{pr_url}#discussion_r{50_000 + i}",
            "user": rng.choice(people),
            "author_association": "COLLABORATOR",
            "created_at": _ts(100 + i),
            "path": f"src/f{i % 50}.ts",
            "commit_id": f"{i % n_commits:040x}",
            "body": "Please run `npm run lint` before pushing. " + " ".join(rng.sample(words, 6)),
        }
        for i in range(n_rcomments)
    ]
    commits = [
        {
            "sha": f"{i:040x}",
            "html_url": f"{REPO}/commit/{i:040x}",
            "author": agent,
            "committer": agent,
            "commit": {
                "message": f"change {i}",
                "author": {"name": agent["login"], "date": _ts(90 + i * 10)},
            },
        }
        for i in range(n_commits)
    ]
    runs = []
    checks = []
    for i in range(n_jobs):
        job_id = 700_000 + i
        url = f"{REPO}/actions/runs/{600_000 + i}/job/{job_id}"
        fail = i % 3 == 0
        steps = [
            {"name": n, "number": k + 1, "conclusion": "success"}
            for k, n in enumerate(["Set up job", "checkout", "test", "Post", "Complete"])
        ]
        sha = f"{i % n_commits:040x}"
        job = {
            "id": job_id,
            "name": "test",
            "html_url": url,
            "head_sha": sha,
            "head_branch": "agent/b",
            "conclusion": "failure" if fail else "success",
            "started_at": _ts(95 + i * 10),
            "steps": steps,
        }
        runs.append(
            {
                "run": {
                    "id": 600_000 + i,
                    "name": "CI",
                    "event": "pull_request",
                    "head_branch": "agent/b",
                    "head_sha": sha,
                    "html_url": f"{REPO}/actions/runs/{600_000 + i}",
                    "conclusion": job["conclusion"],
                    "created_at": _ts(95 + i * 10),
                },
                "jobs": [{"job": job, "log": _log(rng, 80, fail)}],
                "artifacts": [],
            }
        )
        checks.append(
            {
                "check_run": {
                    "id": job_id,
                    "name": "test",
                    "head_sha": sha,
                    "html_url": url,
                    "conclusion": job["conclusion"],
                    "started_at": job["started_at"],
                },
                "annotations": [],
            }
        )
    timeline = [
        {
            "id": 900_000 + i,
            "event": "labeled" if i % 2 == 0 else "unlabeled",
            "label": {"name": f"run:{['dev', 'qa'][i % 4 // 2]}"},
            "actor": people[0],
            "created_at": _ts(50 + i),
        }
        for i in range(n_events)
    ]
    return {
        "format": "self-improve-snapshot/1",
        "repository": {"full_name": "bench/big", "default_branch": "main", "html_url": REPO},
        "target": {"kind": "pull_request", "number": 2},
        "issues": [],
        "pull_requests": [
            {
                "pull": {
                    "number": 2,
                    "html_url": pr_url,
                    "user": agent,
                    "title": "big",
                    "body": "Fixes #1",
                    "head": {"ref": "agent/b", "sha": "0" * 40},
                    "created_at": _ts(80),
                },
                "comments": comments,
                "review_comments": review_comments,
                "reviews": [],
                "timeline": timeline,
                "commits": commits,
                "check_runs": checks,
                "workflow_runs": runs,
                "files": [],
            }
        ],
        "agent_sessions": [
            {
                "source": f"artifact:{k}/s{k}.jsonl",
                "format": "codex-rollout",
                "content": _session(rng, 200),
            }
            for k in range(3)
        ],
        "files": {"AGENTS.md": "# Agents\n\n- Lint: `npm run lint`\n- Build: `npm run build`\n"},
        "permissions": {p["login"]: "write" for p in people},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=5000)
    parser.add_argument(
        "--vocab", type=int, default=3000, help="distinct invented words in comments"
    )
    args = parser.parse_args()
    data = synthetic(args.items, vocab=args.vocab)
    size = len(json.dumps(data))
    t0 = time.perf_counter()
    snapshot = parse_snapshot(data)
    t1 = time.perf_counter()
    result = diagnose(snapshot)
    t2 = time.perf_counter()
    # Memory in a second run: tracemalloc slows Python down, so it never runs under the clock.
    tracemalloc.start()
    diagnose(parse_snapshot(data))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    log = "2026-11-03T08:31:23Z Installed 38 packages in 211ms token budget ok error: x\n" * 30_000
    t3 = time.perf_counter()
    redact_text(log)
    t4 = time.perf_counter()
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"snapshot: {args.items} items requested, {args.vocab} invented words, {size / 1e6:.1f} MB of JSON"
    )
    print(f"parse:    {t1 - t0:.3f} s")
    print(
        f"diagnose: {t2 - t1:.3f} s  ({len(result.action_items)} action items, {len(result.evidence_refs)} refs)"
    )
    print(f"peak traced memory: {peak / 1e6:.1f} MB; max RSS: {rss_mb:.1f} MB")
    print(
        f"redact_text: {len(log) / 1e6:.1f} MB of log in {t4 - t3:.3f} s ({len(log) / 1e6 / (t4 - t3):.1f} MB/s)"
    )
    print(
        f"target: diagnose < 2 s -> {'ok' if t2 - t1 < 2 else 'MISSED'}; memory < 300 MB -> "
        f"{'ok' if max(peak / 1e6, rss_mb) < 300 else 'MISSED'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
