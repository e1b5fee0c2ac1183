"""`python -m app snapshot OWNER/REPO#N --out FILE`: gather a target's evidence into a snapshot file."""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from app.evidence.gather import EvidenceError, TargetKind, gather_evidence
from app.github.apps import GitHubApps
from app.github.auth import CredentialsError
from app.github.errors import GitHubError
from app.metrics import Metrics
from app.repo_config import RepoConfigError
from app.repo_files import read_repo_config
from app.settings import Settings, SettingsError, load_settings
from app.snapshot import Snapshot, dump_snapshot

_TARGET = re.compile(r"^(?P<repo>[\w.-]+/[\w.-]+)#(?P<number>\d+)$")
_TARGET_URL = re.compile(
    r"^https?://[^/]+/(?P<repo>[\w.-]+/[\w.-]+)/(?P<kind>issues|pull)/(?P<number>\d+)/?(?:[#?].*)?$"
)


@dataclass(frozen=True)
class TargetRef:
    repository: str
    number: int
    kind: TargetKind | None


def parse_target(text: str) -> TargetRef:
    """`OWNER/REPO#N`, or an issue or pull request URL (which also tells the kind)."""
    m = _TARGET.match(text.strip())
    if m:
        return TargetRef(m.group("repo"), int(m.group("number")), None)
    m = _TARGET_URL.match(text.strip())
    if m:
        kind: TargetKind = "pull_request" if m.group("kind") == "pull" else "issue"
        return TargetRef(m.group("repo"), int(m.group("number")), kind)
    raise EvidenceError(f"target: expected OWNER/REPO#N or an issue/PR URL, got {text!r}")


@dataclass(frozen=True)
class Traffic:
    requests: int
    not_modified: int


def traffic(metrics: Metrics) -> Traffic:
    """Responses counted by the client's metrics (every status, blob downloads included)."""
    total = not_modified = 0
    for family in metrics.github_requests.collect():
        for sample in family.samples:
            if sample.name.endswith("_total"):
                total += int(sample.value)
                if sample.labels.get("status") == "304":
                    not_modified += int(sample.value)
    return Traffic(total, not_modified)


def summary(snapshot: Snapshot, out: Path, seen: Traffic) -> str:
    """One line: what the snapshot holds, what is missing, what it cost."""
    pulls = snapshot.pull_requests
    comments = sum(len(i.comments) for i in snapshot.issues) + sum(len(p.comments) for p in pulls)
    runs = [w for p in pulls for w in p.workflow_runs]
    jobs = [j for w in runs for j in w.jobs]
    parts = [
        f"{len(snapshot.issues)} issues",
        f"{len(pulls)} pull requests",
        f"{comments} comments",
        f"{sum(len(p.reviews) for p in pulls)} reviews",
        f"{sum(len(p.review_comments) for p in pulls)} review comments",
        f"{sum(len(p.files) for p in pulls)} files",
        f"{sum(len(p.commits) for p in pulls)} commits",
        f"{sum(len(p.check_runs) for p in pulls)} check runs",
        f"{len(runs)} workflow runs",
        f"{len(jobs)} jobs ({sum(1 for j in jobs if j.log is not None)} logs)",
        f"{len(snapshot.agent_sessions)} sessions",
        f"{len(snapshot.files)} repository files",
    ]
    cut = f", {len(snapshot.truncated)} truncated" if snapshot.truncated else ""
    return (
        f"wrote {out}: {snapshot.full_name} {snapshot.target.kind} #{snapshot.target.number}: "
        + ", ".join(parts)
        + f"; {len(snapshot.gaps)} gaps{cut}; {seen.requests} requests ({seen.not_modified} answered 304)"
    )


def _configured_token(settings: Settings) -> str | None:
    # GITHUB_TOKEN belongs in Settings (env reads live there); read it if the field exists.
    secret = settings.github_token
    if secret is None:
        return None
    value = secret.get_secret_value() if hasattr(secret, "get_secret_value") else str(secret)
    return value or None


async def snapshot_of(
    target: TargetRef, settings: Settings, token: str | None
) -> tuple[Snapshot, Traffic]:
    """Gather with a personal token, or as the App through the installation covering the repository."""
    owner, name = target.repository.split("/", 1)
    metrics = Metrics()
    async with aiohttp.ClientSession() as session:
        apps = GitHubApps(settings, session, metrics)
        installation_id: int | None = None
        if token:
            gh = apps.token_client(token)
        else:
            if not settings.registered:
                raise SettingsError(
                    "APP_ID/PRIVATE_KEY: not set; give --token (or GITHUB_TOKEN) to use a personal token"
                )
            installation_id = await apps.installation_id_for(owner, name)
            gh = apps.installation_client(installation_id, repository=name, purpose="gather")
        config = await read_repo_config(gh, target.repository)
        snapshot = await gather_evidence(
            gh,
            repository=target.repository,
            target_kind=target.kind,
            number=target.number,
            config=config,
            installation_id=installation_id,
        )
    return snapshot, traffic(metrics)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m app snapshot",
        description="Gather the evidence of an issue or pull request into a snapshot file.",
    )
    parser.add_argument("target", help="OWNER/REPO#N, or the issue or pull request URL")
    parser.add_argument("--out", required=True, type=Path, help="the snapshot file to write")
    parser.add_argument(
        "--token",
        help="a personal access token (default: GITHUB_TOKEN; without one, the App's credentials)",
    )
    args = parser.parse_args(argv)
    try:
        target = parse_target(args.target)
        settings = load_settings()
        token = args.token or _configured_token(settings)
        snapshot, seen = asyncio.run(snapshot_of(target, settings, token))
    except (EvidenceError, SettingsError, RepoConfigError, CredentialsError) as exc:
        print(f"snapshot: {exc}", file=sys.stderr)
        return 2
    except GitHubError as exc:
        print(f"snapshot: GitHub answered {exc}", file=sys.stderr)
        return 2
    except aiohttp.ClientError as exc:
        print(f"snapshot: cannot reach GitHub: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    try:
        args.out.write_text(dump_snapshot(snapshot), encoding="utf-8")
    except OSError as exc:
        print(f"snapshot: cannot write {args.out}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    print(summary(snapshot, args.out, seen))
    return 0
