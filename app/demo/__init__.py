"""The demo: the whole flow on this machine, with the GitHub double playing GitHub (no network, no keys)."""

from __future__ import annotations

import argparse
import asyncio
import base64
import difflib
import logging
import socket
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from app.deps import Deps
from app.fake_github import FakeGitHub, events
from app.fake_github.identity import generate_app_key
from app.logs import configure_logging
from app.routing import GUARDRAILS_CHECK_NAME
from app.server import running
from app.settings import load_settings
from app.snapshot import load_snapshot

EXAMPLE = Path(__file__).with_name("example-snapshot.json")
WEBHOOK_SECRET = "demo-webhook-secret"  # noqa: S105 - a throwaway secret between the demo's two servers
RULE = "─" * 78


def _step(message: str) -> None:
    print(f"▸ {message}", file=sys.stderr, flush=True)


def _section(title: str, body: str) -> None:
    print(f"\n{RULE}\n{title}\n{RULE}\n{body.rstrip()}\n")


async def _until(check: Callable[[], Awaitable[Any]], what: str, within: float = 60.0) -> Any:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if found := await check():
            return found
        await asyncio.sleep(0.1)
    raise TimeoutError(f"the demo waited {within:.0f} s for {what}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def run_demo(snapshot_path: Path, port: int) -> int:
    snapshot = load_snapshot(snapshot_path)
    port = port or _free_port()
    number, kind = snapshot.target.number, snapshot.target.kind
    admin = next((u for u, p in snapshot.permissions.items() if p == "admin"), "octo-owner")
    key = generate_app_key()
    _step("starting the GitHub double on 127.0.0.1 with the example snapshot")
    with (
        tempfile.TemporaryDirectory(prefix="self-improve-demo-") as tmp,
        FakeGitHub(snapshot, app_key_pem=key, emit_events=True).running_in_thread() as fake,
    ):
        settings = load_settings(
            None,
            app_id=fake.app_id,
            private_key=key.decode(),
            webhook_secret=WEBHOOK_SECRET,
            github_api_url=fake.url,
            database_url=f"sqlite:///{tmp}/demo.db",
            host="127.0.0.1",
            port=port,
            github_write_spacing_seconds=0,
            poll_interval_seconds=0.05,
            recovery_interval_seconds=0,
            log_level="WARNING",
            log_format="pretty",
        )
        _step(f"starting self-improve against it (SQLite in {tmp}, a throwaway App key)")
        async with running(settings) as deps:
            fake.configure(
                webhook_url=f"http://127.0.0.1:{port}{settings.webhook_path}",
                webhook_secret=WEBHOOK_SECRET,
            )
            return await _play(deps, fake, number, kind == "pull_request", admin)


async def _job_idle(deps: Deps) -> bool:
    if await deps.store.pending_deliveries():
        return False
    counts = await deps.store.job_counts()
    return counts["queued"] == 0 and counts["running"] == 0


async def _play(deps: Deps, fake: FakeGitHub, number: int, is_pr: bool, admin: str) -> int:
    repo = fake.repo_full_name
    assert deps.github is not None
    gh = deps.github.installation_client(
        fake.installation_id, repository=repo.split("/")[1], purpose="gather"
    )

    _step(f"{admin} labels {repo}#{number} run:self-improve (a signed webhook from the double)")
    await asyncio.to_thread(
        fake.send_webhook, *events.labeled(fake, number, sender=admin, pull_request=is_pr)
    )
    await _until(lambda: _job_idle(deps), "the diagnosis")
    [run] = [
        r for r in await deps.store.find_runs(repository=repo, target_number=number) if r.diagnosis
    ]
    _step(f"run {run.id} finished: {run.state} ({run.detail})")
    check = await gh.getitem(f"/repos/{repo}/check-runs/{run.effects['check_run_id']}")
    _section(
        f"Check run “{check['name']}”: {check['conclusion']} — {check['output']['title']}",
        check["output"]["summary"],
    )
    sticky = await gh.getitem(f"/repos/{repo}/issues/comments/{run.effects['comment_id']}")
    _section(f"The sticky comment on #{number}", sticky["body"])

    _step(f"{admin} comments “/self-improve apply” on #{number}")
    await asyncio.to_thread(
        fake.send_webhook,
        *events.comment(fake, number, "/self-improve apply", sender=admin, pull_request=is_pr),
    )
    await _until(lambda: _job_idle(deps), "the improvement PR")
    approvals = [
        r
        for r in await deps.store.find_runs(repository=repo, target_number=number)
        if r.trigger.get("kind") == "approve"
    ]
    approval = approvals[0]
    if approval.state != "pr_opened":
        _section("No PR", f"the approval ended {approval.state}: {approval.detail}")
        return 1
    pr = await gh.getitem(f"/repos/{repo}/pulls/{approval.effects['pr_number']}")
    _section(f"Improvement PR #{pr['number']}: {pr['title']}", pr["body"])
    _section("Its diff", await _diff(gh, repo, pr))

    _step("GitHub announces the new PR; the guardrails check runs on it")
    guard = await _until(
        lambda: _guardrails_check(gh, repo, pr["head"]["sha"]), "the guardrails check"
    )
    _section(
        f"Guardrails (check run “{GUARDRAILS_CHECK_NAME}”): {guard['conclusion']}",
        guard["output"]["summary"],
    )
    _step("done: nothing was merged; a maintainer reviews the PR as usual")
    return 0


async def _guardrails_check(gh: Any, repo: str, sha: str) -> dict[str, Any] | None:
    runs = await gh.getitem(f"/repos/{repo}/commits/{sha}/check-runs")
    for check in runs.get("check_runs", []):
        if check["name"] == GUARDRAILS_CHECK_NAME and check.get("status") == "completed":
            return dict(check)
    return None


async def _text(gh: Any, repo: str, path: str, ref: str) -> str:
    data = await gh.getitem(f"/repos/{repo}/contents/{path}?ref={ref}")
    return base64.b64decode(data["content"]).decode()


async def _diff(gh: Any, repo: str, pr: dict[str, Any]) -> str:
    files = (await gh.paginate(f"/repos/{repo}/pulls/{pr['number']}/files")).items
    out: list[str] = []
    for f in files:
        before = (
            ""
            if f["status"] == "added"
            else await _text(gh, repo, f["filename"], pr["base"]["ref"])
        )
        after = await _text(gh, repo, f["filename"], pr["head"]["ref"])
        out += difflib.unified_diff(
            before.splitlines(keepends=True),
            after.splitlines(keepends=True),
            f"a/{f['filename']}",
            f"b/{f['filename']}",
        )
    return "".join(out) or "(no changes)"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m app demo", description=__doc__)
    parser.add_argument(
        "--snapshot", type=Path, default=EXAMPLE, help="the example the double serves"
    )
    parser.add_argument(
        "--port", type=int, default=0, help="the app's port (default: any free one)"
    )
    args = parser.parse_args(argv)
    configure_logging("WARNING", "pretty")
    logging.getLogger("app").setLevel(logging.WARNING)
    try:
        return asyncio.run(run_demo(args.snapshot, args.port))
    except (TimeoutError, OSError, ValueError) as exc:
        print(f"demo failed: {exc}", file=sys.stderr)
        return 1
