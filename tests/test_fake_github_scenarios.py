"""The GitHub double serves the real-shaped scenario snapshots: every object reads back as captured."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import aiohttp
import pytest

from app.fake_github.testing import DoubleClient, FakeFactory
from app.snapshot import Snapshot, load_snapshot

SCENARIOS = Path("/work/shared/scenarios")
SCENARIO_FILES = sorted(SCENARIOS.glob("*.json")) if SCENARIOS.is_dir() else []


@pytest.mark.skipif(
    not SCENARIO_FILES,
    reason="the shared scenario files live outside the repository (/work/shared/scenarios)",
)
async def test_every_scenario_is_served(fake_github_factory: FakeFactory) -> None:
    """Each scenario's issues, pulls, check runs, runs, jobs, logs and artifacts read back as captured."""
    for path in SCENARIO_FILES:
        snapshot = load_snapshot(path)
        fake = fake_github_factory(snapshot)
        async with aiohttp.ClientSession() as session:
            await _check(
                DoubleClient(session, fake.url, fake.installation_token()), snapshot, path.name
            )


async def _check(client: DoubleClient, snapshot: Snapshot, name: str) -> None:
    repo = f"/repos/{snapshot.full_name}"

    async def get(path: str) -> object:
        reply = await client("GET", repo + path)
        assert reply.status == 200, f"{name}: GET {path} -> {reply.status}"
        return reply.json()

    async def all_pages(path: str, key: str | None = None) -> list[object]:
        items: list[object] = []
        page = 1
        while True:
            sep = "&" if "?" in path else "?"
            body = await get(f"{path}{sep}per_page=100&page={page}")
            chunk = body[key] if key else body  # type: ignore[index]  # a wrapper object when key is given
            items += chunk
            if len(chunk) < 100:
                return items
            page += 1

    for issue in snapshot.issues:
        number = issue.issue["number"]
        assert await get(f"/issues/{number}") == issue.issue, name
        assert await all_pages(f"/issues/{number}/comments") == issue.comments, name
        assert await all_pages(f"/issues/{number}/timeline") == issue.timeline, name
    for pr in snapshot.pull_requests:
        number = pr.pull["number"]
        assert await get(f"/pulls/{number}") == pr.pull, name
        assert await all_pages(f"/pulls/{number}/comments") == pr.review_comments, name
        assert await all_pages(f"/pulls/{number}/files") == pr.files, name
        wanted = {c.check_run["id"] for c in pr.check_runs}
        served: set[int] = set()
        for sha in {c.check_run["head_sha"] for c in pr.check_runs}:
            runs = await all_pages(f"/commits/{sha}/check-runs?filter=all", "check_runs")
            served |= {r["id"] for r in runs}  # type: ignore[index]  # check-run objects
        assert wanted <= served, name
        for wr in pr.workflow_runs:
            run_id = wr.run["id"]
            jobs = await all_pages(f"/actions/runs/{run_id}/jobs?filter=all", "jobs")
            assert {j.job["id"] for j in wr.jobs} <= {j["id"] for j in jobs}, name  # type: ignore[index]  # job objects
            for job in wr.jobs[:1]:
                logs = await client("GET", f"{repo}/actions/jobs/{job.job['id']}/logs")
                blob = await client("GET", logs.headers["Location"], token=None)
                assert blob.body.decode() == job.log, name
            for art in wr.artifacts:
                moved = await client("GET", f"{repo}/actions/artifacts/{art.artifact['id']}/zip")
                archive = zipfile.ZipFile(
                    io.BytesIO((await client("GET", moved.headers["Location"], token=None)).body)
                )
                assert {n: archive.read(n).decode() for n in archive.namelist()} == art.files, name
    for path, text in snapshot.files.items():
        raw = await client(
            "GET", f"{repo}/contents/{path}", headers={"Accept": "application/vnd.github.raw"}
        )
        assert raw.body.decode() == text, f"{name}: {path}"
