"""Gathering against the GitHub double: everything it serves, redacted, with gaps for what it refuses."""

from __future__ import annotations

import copy
import io
import json
import zipfile
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from app.evidence import EvidenceCache, EvidenceError, gather_evidence
from app.evidence.logs import OMITTED
from app.fake_github import FakeGitHub
from app.github.apps import GitHubApps
from app.github.client import GitHubClient
from app.github.errors import NotFound, ServerError
from app.redaction import redact_text
from app.repo_config import Gathering, Paths, RepoConfig
from app.settings import load_settings
from app.snapshot import Snapshot, dump_snapshot, load_snapshot

FIXTURES = Path(__file__).parent / "fixtures"
SMALL = FIXTURES / "snapshots" / "small.json"
SCENARIO = FIXTURES / "evidence" / "02-codex-changelog-two-prs.json"
CONFIG = RepoConfig(paths=Paths(agent_dockerfile="docker/agent.Dockerfile"))
FakeFactory = Callable[..., FakeGitHub]
Json = dict[str, Any]
READ_ALL_BUT_ACTIONS = {
    "checks": "read",
    "contents": "read",
    "issues": "read",
    "metadata": "read",
    "pull_requests": "read",
}


@asynccontextmanager
async def github_for(
    fake: FakeGitHub, pem: bytes, *, token: str | None = None
) -> AsyncIterator[GitHubClient]:
    """A client as the app makes it: the installation's down-scoped token, or a given token."""
    settings = load_settings(
        env_file=None, app_id=fake.app_id, private_key=pem.decode(), github_api_url=fake.url
    )
    async with aiohttp.ClientSession() as session:
        apps = GitHubApps(settings, session)
        if token is not None:
            yield apps.token_client(token)
        else:
            name = fake.repo_full_name.split("/")[1]
            yield apps.installation_client(fake.installation_id, repository=name, purpose="gather")


async def gather(
    fake: FakeGitHub, pem: bytes, number: int, *, config: RepoConfig = CONFIG, **kw: Any
) -> Snapshot:
    async with github_for(fake, pem) as gh:
        return await gather_evidence(
            gh,
            repository=fake.repo_full_name,
            target_kind=kw.pop("target_kind", None),
            number=number,
            config=config,
            **kw,
        )


def holdings(snapshot: Snapshot) -> dict[str, set[Any]]:
    """What a snapshot holds, as comparable sets of ids."""
    pulls = snapshot.pull_requests
    runs = [w for p in pulls for w in p.workflow_runs]
    return {
        "issues": {i.issue["number"] for i in snapshot.issues},
        "pulls": {p.pull["number"] for p in pulls},
        "comments": {c["id"] for i in snapshot.issues for c in i.comments}
        | {c["id"] for p in pulls for c in p.comments},
        "timeline": {(i.issue["number"], len(i.timeline)) for i in snapshot.issues}
        | {(p.pull["number"], len(p.timeline)) for p in pulls},
        "reviews": {r["id"] for p in pulls for r in p.reviews},
        "review_comments": {c["id"] for p in pulls for c in p.review_comments},
        "files": {(p.pull["number"], f["filename"]) for p in pulls for f in p.files},
        "commits": {c["sha"] for p in pulls for c in p.commits},
        "check_runs": {c.check_run["id"] for p in pulls for c in p.check_runs},
        "annotations": {
            (c.check_run["id"], len(c.annotations))
            for p in pulls
            for c in p.check_runs
            if c.annotations
        },
        "workflow_runs": {(w.run["id"], w.run.get("run_attempt")) for w in runs},
        "jobs": {j.job["id"] for w in runs for j in w.jobs},
        "artifact_files": {
            (a.artifact["id"], path) for w in runs for a in w.artifacts for path in a.files
        },
        "sessions": {(s.source, redact_text(s.content)) for s in snapshot.agent_sessions},
    }


def assert_holds_everything(served: Snapshot, gathered: Snapshot) -> None:
    want, got = holdings(served), holdings(gathered)
    for key in want:
        assert got[key] == want[key], key
    assert gathered.gaps == []
    # Logs downloaded (failed and agent jobs) are the served ones, redacted; short logs stay whole.
    served_logs = {
        j.job["id"]: j.log for p in served.pull_requests for w in p.workflow_runs for j in w.jobs
    }
    kept = [j for p in gathered.pull_requests for w in p.workflow_runs for j in w.jobs if j.log]
    assert kept
    for job in kept:
        assert job.log == redact_text(served_logs[job.job["id"]] or "")


async def test_gathers_everything_the_double_holds(
    fake_github: FakeGitHub, app_key_pem: bytes
) -> None:
    """Issue #12 of small.json comes back whole: threads, CI, the session, the repository files."""
    served = load_snapshot(SMALL)
    gathered = await gather(fake_github, app_key_pem, 12, installation_id=42)
    assert gathered.target.kind == "issue" and gathered.installation == {"id": 42}
    assert_holds_everything(served, gathered)
    assert gathered.files == served.files
    assert gathered.repository["full_name"] == "acme/widgets"


async def test_scenario_with_two_prs_and_issue_runs(
    fake_github_factory: FakeFactory, app_key_pem: bytes
) -> None:
    """A real-shaped scenario: both PRs, the `issues`-event agent runs and their Codex rollouts."""
    served = load_snapshot(SCENARIO)
    fake = fake_github_factory(SCENARIO)
    gathered = await gather(fake, app_key_pem, 88)
    assert_holds_everything(served, gathered)
    # Each agent run goes with the PR it opened, as in the scenario.
    for want, got in zip(served.pull_requests, gathered.pull_requests, strict=True):
        assert {w.run["id"] for w in got.workflow_runs} == {w.run["id"] for w in want.workflow_runs}


async def test_secrets_are_redacted_at_ingestion(
    fake_github_factory: FakeFactory, app_key_pem: bytes
) -> None:
    """The fake `ghp_…` token printed in an agent's job log never reaches the snapshot."""
    raw = json.loads(SCENARIO.read_text(encoding="utf-8"))
    secrets = raw["evaluation"]["secrets"]
    assert secrets and any(s in json.dumps(raw) for s in secrets)
    gathered = await gather(fake_github_factory(raw), app_key_pem, 88)
    text = dump_snapshot(gathered)
    assert not [s for s in secrets if s in text]
    assert "[REDACTED:" in text


async def test_pr_target_finds_the_issue_it_closes(
    fake_github: FakeGitHub, app_key_pem: bytes
) -> None:
    """PR #13 ("Fixes #12") is recognised as a pull request and brings issue #12 along."""
    gathered = await gather(fake_github, app_key_pem, 13)
    assert gathered.target.kind == "pull_request"
    assert [p.pull["number"] for p in gathered.pull_requests] == [13]
    assert [i.issue["number"] for i in gathered.issues] == [12]
    assert gathered.issues[0].comments


async def test_every_request_is_made_once(fake_github: FakeGitHub, app_key_pem: bytes) -> None:
    """No URL is requested twice in one gathering (shared commits, runs and threads included)."""
    await gather(fake_github, app_key_pem, 12)
    seen = Counter(
        (r["method"], r["path"], tuple(sorted(r["query"].items()))) for r in fake_github.requests()
    )
    assert [key for key, count in seen.items() if count > 1] == []


async def test_missing_permission_is_a_gap_naming_it(
    fake_github: FakeGitHub, app_key_pem: bytes
) -> None:
    """Without `actions: read` the Actions reads are gaps naming the permission; the rest is there."""
    token = fake_github.installation_token(permissions=READ_ALL_BUT_ACTIONS)
    async with github_for(fake_github, app_key_pem, token=token) as gh:
        gathered = await gather_evidence(
            gh, repository="acme/widgets", target_kind=None, number=12, config=CONFIG
        )
    assert gathered.gaps
    for gap in gathered.gaps:
        assert gap.status == 403 and gap.missing_permission == "actions=read"
        assert gap.what.startswith("GET /repos/acme/widgets/actions/runs")
        assert "actions=read" in gap.reason
    pull = gathered.pull_requests[0]
    assert pull.check_runs and pull.review_comments and not pull.workflow_runs


def _small_with(change: Callable[[Json], None]) -> Json:
    data = json.loads(SMALL.read_text(encoding="utf-8"))
    change(data)
    return data


def _jobs(data: Json) -> list[Json]:
    return [j for p in data["pull_requests"] for w in p["workflow_runs"] for j in w["jobs"]]


def _artifacts(data: Json) -> list[Json]:
    return [a for p in data["pull_requests"] for w in p["workflow_runs"] for a in w["artifacts"]]


async def test_expired_log_and_artifact_are_gaps(
    fake_github_factory: FakeFactory, app_key_pem: bytes
) -> None:
    """A log past retention (404) and an expired artifact (410) are gaps; gathering goes on."""

    def expire(data: Json) -> None:
        failed = next(j for j in _jobs(data) if j["job"]["conclusion"] == "failure")
        failed["log"] = None
        _artifacts(data)[0]["artifact"]["expired"] = True

    data = _small_with(expire)
    fake = fake_github_factory(data)
    gathered = await gather(fake, app_key_pem, 12)
    by_status = {g.status: g for g in gathered.gaps}
    assert set(by_status) == {404, 410}
    assert by_status[404].what.endswith("/logs")
    assert by_status[410].what.endswith("/zip") and "expired" in by_status[410].reason
    assert not any(r["path"].endswith("/zip") for r in fake.requests())  # not even asked
    assert gathered.agent_sessions == [] and gathered.pull_requests[0].comments


async def test_long_log_is_trimmed_with_line_numbers_kept(
    fake_github_factory: FakeFactory, app_key_pem: bytes
) -> None:
    """A 300 KB failing log keeps its error line at the same line number and its step header."""
    lines = [f"2026-11-10T09:00:00.0000000Z progress {i} " + "." * 80 for i in range(3000)]
    lines[5] = "2026-11-10T09:00:00.0000000Z ##[group]Run pytest -q"
    lines[2499] = "2026-11-10T09:00:00.0000000Z E   AssertionError: header missing"
    log = "\n".join(lines) + "\n"

    def grow(data: Json) -> None:
        next(j for j in _jobs(data) if j["job"]["conclusion"] == "failure")["log"] = log

    fake = fake_github_factory(_small_with(grow))
    gathered = await gather(fake, app_key_pem, 12)
    kept = next(
        j.log
        for p in gathered.pull_requests
        for w in p.workflow_runs
        for j in w.jobs
        if j.log and len(j.log.split("\n")) == 3001
    )
    out = kept.split("\n")
    assert out[2499] == lines[2499] and out[5] == lines[5]
    assert out[10] == "" and out[6] == OMITTED.format(count=2487)
    assert len(kept) < len(log) // 5


async def test_log_over_the_cap_keeps_its_tail(
    fake_github_factory: FakeFactory, app_key_pem: bytes
) -> None:
    """A log beyond `max_log_bytes` is downloaded from the end and the cut is noted."""
    lines = [f"line {i:05d}" for i in range(2000)]
    lines[-3] = "##[error]Process completed with exit code 1."

    def grow(data: Json) -> None:
        next(j for j in _jobs(data) if j["job"]["conclusion"] == "failure")["log"] = "\n".join(
            lines
        )

    fake = fake_github_factory(_small_with(grow))
    config = RepoConfig(gathering=Gathering(max_log_bytes=1024))
    gathered = await gather(fake, app_key_pem, 12, config=config)
    logs = [j.log for p in gathered.pull_requests for w in p.workflow_runs for j in w.jobs]
    cut = next(log for log in logs if log and "exit code 1" in log)
    assert len(cut) <= 1024 and cut.endswith(lines[-1]) and not cut.startswith("ine")
    assert any("first" in t and "not downloaded" in t for t in gathered.truncated)


def _zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("archive", "gap_on", "reason", "kept"),
    [
        (b"<html>not a zip</html>", "/zip", "not a zip archive", set()),
        (_zip({"bomb.txt": b"\0" * (300 * 1024 * 1024 // 100)}), "/zip", "zip bomb", set()),
        (
            _zip({"../../escape.jsonl": b"{}", "ok.md": b"fine"}),
            "/../../escape.jsonl",
            "climbs out",
            {"ok.md"},
        ),
    ],
)
async def test_hostile_artifacts_become_gaps(
    fake_github: FakeGitHub,
    app_key_pem: bytes,
    monkeypatch: pytest.MonkeyPatch,
    archive: bytes,
    gap_on: str,
    reason: str,
    kept: set[str],
) -> None:
    """Not-a-zip, a zip bomb and a path-traversal entry are refused with a gap, never a crash."""
    monkeypatch.setattr(fake_github.world, "artifact_zip", lambda artifact_id: archive)
    config = RepoConfig(gathering=Gathering(max_artifact_bytes=1024 * 1024))
    gathered = await gather(fake_github, app_key_pem, 12, config=config)
    [gap] = gathered.gaps
    assert gap.what.endswith(gap_on) and reason in gap.reason
    artifacts = [a for p in gathered.pull_requests for w in p.workflow_runs for a in w.artifacts]
    assert set(artifacts[0].files) == kept


async def test_token_is_never_sent_to_the_blob_host(
    fake_github: FakeGitHub, app_key_pem: bytes
) -> None:
    """Logs and artifacts are fetched from their signed URL without our Authorization header."""
    await gather(fake_github, app_key_pem, 12)
    blobs = [r for r in fake_github.requests() if r["path"].startswith("/_blobs/")]
    assert len(blobs) == 4  # three logs (two failed jobs, one agent job) and one artifact
    assert {r["authorization"] for r in blobs} == {"none"}


async def test_second_gathering_is_answered_304(
    fake_github: FakeGitHub, app_key_pem: bytes
) -> None:
    """Gathering again with the same client and cache: every read revalidates to 304 or is skipped."""
    cache = EvidenceCache()
    async with github_for(fake_github, app_key_pem) as gh:
        first = await gather_evidence(
            gh, repository="acme/widgets", target_kind=None, number=12, config=CONFIG, cache=cache
        )
        fake_github.reset()
        second = await gather_evidence(
            gh, repository="acme/widgets", target_kind=None, number=12, config=CONFIG, cache=cache
        )
    requests = [r for r in fake_github.requests() if r["path"].startswith("/repos/")]
    statuses = Counter(r["status"] for r in requests)
    # Only absent instruction files (a 404 has no ETag) are asked in full again.
    assert set(statuses) == {304, 404}
    assert statuses[304] / len(requests) >= 0.85
    assert not any(r["path"].startswith("/_blobs/") for r in fake_github.requests())
    strip = lambda s: s.model_copy(update={"captured_at": None})  # noqa: E731 - a one-off projection
    assert dump_snapshot(strip(first)) == dump_snapshot(strip(second))


async def test_missing_target_propagates(fake_github: FakeGitHub, app_key_pem: bytes) -> None:
    """A target that does not exist is not a gap: the error reaches the caller."""
    with pytest.raises(NotFound):
        await gather(fake_github, app_key_pem, 999)


@pytest.mark.parametrize(
    ("repository", "number", "message"),
    [
        ("widgets", 12, "OWNER/NAME"),
        ("acme/widgets/x", 12, "OWNER/NAME"),
        ("acme/widgets", 0, "positive"),
    ],
)
async def test_malformed_request_is_refused(
    fake_github: FakeGitHub, app_key_pem: bytes, repository: str, number: int, message: str
) -> None:
    """A malformed repository name or number is refused before any request, naming the field."""
    async with github_for(fake_github, app_key_pem) as gh:
        with pytest.raises(EvidenceError, match=message):
            await gather_evidence(
                gh, repository=repository, target_kind=None, number=number, config=CONFIG
            )
    assert [r for r in fake_github.requests() if r["path"].startswith("/repos/")] == []


async def test_issue_kind_for_a_pull_request_is_gathered_as_one(
    fake_github: FakeGitHub, app_key_pem: bytes
) -> None:
    """Asked for "issue" #13 when GitHub says #13 is a pull request, the PR is gathered."""
    gathered = await gather(fake_github, app_key_pem, 13, target_kind="issue")
    assert gathered.target.kind == "pull_request"
    assert [p.pull["number"] for p in gathered.pull_requests] == [13]


async def test_previous_runs_and_trigger_are_carried(
    fake_github: FakeGitHub, app_key_pem: bytes
) -> None:
    """previous_runs and trigger go into the snapshot as given (redacted); captured_at from `now`."""
    runs = [{"id": 1, "outcome": "published", "note": "token=ghp_" + "a" * 36}]
    trigger = {"event": "issues", "action": "labeled", "label": "run:self-improve"}
    gathered = await gather(
        fake_github, app_key_pem, 12, previous_runs=copy.deepcopy(runs), trigger=trigger,
        now=lambda: 1767225600.0,
    )  # fmt: skip
    assert gathered.captured_at == "2026-01-01T00:00:00Z"
    assert gathered.trigger == trigger
    assert gathered.previous_runs[0]["id"] == 1 and "ghp_" not in str(gathered.previous_runs)


async def test_server_errors_after_retries_propagate(
    fake_github: FakeGitHub, app_key_pem: bytes
) -> None:
    """A 5xx that outlasts the client's retries is not a gap: it fails the gathering (the job retries)."""
    fake_github.set_faults(
        [{"kind": "502", "route": "GET /repos/{owner}/{repo}/pulls/{pull_number}/files"}]
    )
    settings = load_settings(
        env_file=None, app_id=fake_github.app_id, private_key=app_key_pem.decode(),
        github_api_url=fake_github.url,
    )  # fmt: skip

    async def no_wait(_: float) -> None:
        return None

    async with aiohttp.ClientSession() as session:
        gh = GitHubApps(settings, session, sleep=no_wait).installation_client(
            fake_github.installation_id, repository="widgets", purpose="gather"
        )
        with pytest.raises(ServerError) as failed:
            await gather_evidence(
                gh, repository="acme/widgets", target_kind=None, number=12, config=CONFIG
            )
    assert failed.value.status == 502
    tries = [r for r in fake_github.requests() if r["path"].endswith("/pulls/13/files")]
    assert len(tries) == 4  # the first try and the client's three retries, then no more
