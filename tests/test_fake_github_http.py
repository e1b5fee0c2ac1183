"""The GitHub double over real HTTP: routes vs OpenAPI, auth, reads, pagination, ETags, limits, blobs."""

from __future__ import annotations

import base64
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from app.fake_github import FakeGitHub, FakeGitHubError
from app.fake_github.double import identity_for
from app.fake_github.runtime import Config, Runtime
from app.fake_github.server import build_app
from app.fake_github.state import World
from app.fake_github.testing import DoubleClient, FakeFactory
from app.snapshot import load_snapshot

FIXTURES = Path(__file__).parent / "fixtures"
SMALL = FIXTURES / "snapshots" / "small.json"
R = "/repos/acme/widgets"
HEAD_REF = "agent/issue-12-empty-csv"


def small() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(SMALL.read_text(encoding="utf-8"))
    return data


# --- routes ----------------------------------------------------------------------------------------
def test_every_registered_route_is_a_github_route() -> None:
    """Each method + path template the double registers exists in GitHub's OpenAPI description."""
    openapi: dict[str, list[str]] = json.loads((FIXTURES / "openapi" / "paths.json").read_text())
    snapshot = load_snapshot(SMALL)
    app = identity_for(snapshot, 1, "self-improve")
    runtime = Runtime(snapshot, app, None, Config(), World.from_snapshot(snapshot, app))
    walked = 0
    for route in build_app(runtime).router.routes():
        template = route.resource.canonical if route.resource else ""
        if template.startswith(("/_fake/", "/_blobs/")):
            continue
        assert template in openapi, f"{route.method} {template} is not in GitHub's OpenAPI"
        assert route.method in openapi[template], (
            f"{route.method} {template}: GitHub has {openapi[template]}"
        )
        walked += 1
    assert walked >= 60


async def test_unknown_paths_answer_github_404(fake_github_client: DoubleClient) -> None:
    """A path GitHub does not have answers 404 with GitHub's JSON error shape."""
    reply = await fake_github_client("GET", "/repos/acme/widgets/frobnicate")
    assert reply.status == 404
    assert reply.json()["message"] == "Not Found"
    assert "documentation_url" in reply.json()


# --- App authentication ----------------------------------------------------------------------------
async def test_app_route_takes_a_jwt_and_returns_the_app(
    fake_github: FakeGitHub, fake_github_client: DoubleClient
) -> None:
    """`GET /app` with a valid JWT returns id, slug, name, owner, permissions and events."""
    reply = await fake_github_client(
        "GET", "/app", headers={"Authorization": f"Bearer {fake_github.app_jwt()}"}
    )
    assert reply.status == 200
    body = reply.json()
    assert (body["id"], body["slug"]) == (fake_github.app_id, fake_github.app_slug)
    assert {"name", "owner", "permissions", "events"} <= set(body)


@pytest.mark.parametrize(
    ("jwt_args", "message"),
    [
        ({"iat_offset": -900}, "'Expiration time' claim ('exp') must be"),
        ({"iat_offset": 300}, "'Issued at' claim ('iat')"),
        ({"lifetime": 700}, "too far in the future"),
        ({"iss": "999"}, "could not be decoded"),
    ],
)
async def test_bad_jwts_get_401(
    fake_github: FakeGitHub,
    fake_github_client: DoubleClient,
    jwt_args: dict[str, Any],
    message: str,
) -> None:
    """Expired, future, too-long-lived or foreign JWTs are refused with GitHub's 401 messages."""
    token = fake_github.app_jwt(**jwt_args)
    reply = await fake_github_client("GET", "/app", headers={"Authorization": f"Bearer {token}"})
    assert reply.status == 401
    assert message in reply.json()["message"]


async def test_jwt_signed_with_another_key_is_refused(
    fake_github_factory: FakeFactory, fake_github_client: DoubleClient
) -> None:
    """The double verifies the signature against the App's key: another key's JWT gets 401."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    forger = FakeGitHub(SMALL, app_key_pem=other)  # only used to sign with the wrong key
    reply = await fake_github_client(
        "GET", "/app", headers={"Authorization": f"Bearer {forger.app_jwt()}"}
    )
    assert reply.status == 401
    assert reply.json()["message"] == "A JSON web token could not be decoded"


@pytest.mark.parametrize(
    ("path", "auth", "status"),
    [
        ("/app", "token", 401),
        ("/app", None, 401),
        (R, "jwt", 401),
        (R, None, 401),
        (R, "bogus", 401),
    ],
)
async def test_routes_demand_the_right_credential(
    fake_github: FakeGitHub,
    fake_github_client: DoubleClient,
    path: str,
    auth: str | None,
    status: int,
) -> None:
    """App routes need a JWT, repository routes an installation token; neither stands in for the other."""
    headers = {
        "token": {"Authorization": f"token {fake_github_client.token}"},
        "jwt": {"Authorization": f"Bearer {fake_github.app_jwt()}"},
        "bogus": {"Authorization": "token ghs_not_a_real_token"},
        None: {},
    }[auth]
    reply = await fake_github_client("GET", path, token=None, headers=headers)
    assert reply.status == status
    if path == R:
        assert reply.json()["message"] == "Bad credentials"


async def test_minted_token_works_until_it_expires(
    fake_github: FakeGitHub, fake_github_client: DoubleClient
) -> None:
    """POST access_tokens returns 201 with token and expiry; the token reads until its TTL passes."""
    jwt_header = {"Authorization": f"Bearer {fake_github.app_jwt()}"}
    minted = await fake_github_client("POST", f"/app/installations/{fake_github.installation_id}/access_tokens",
                                      headers=jwt_header)  # fmt: skip
    assert minted.status == 201
    body = minted.json()
    assert {"token", "expires_at", "permissions", "repository_selection"} <= set(body)
    assert (await fake_github_client("GET", R, token=body["token"])).status == 200
    fake_github.advance_clock(3601)
    expired = await fake_github_client("GET", R, token=body["token"])
    assert expired.status == 401
    assert expired.json()["message"] == "Bad credentials"


async def test_token_ttl_is_settable(fake_github_factory: FakeFactory) -> None:
    """`token_ttl` shortens token life, so expiry tests need not wait an hour."""
    fake = fake_github_factory(token_ttl=5)
    token = fake.installation_token()
    async with aiohttp.ClientSession() as session:
        client = DoubleClient(session, fake.url, token)
        assert (await client("GET", R)).status == 200
        fake.advance_clock(6)
        assert (await client("GET", R)).status == 401


async def test_unknown_installation_gets_404(
    fake_github: FakeGitHub, fake_github_client: DoubleClient
) -> None:
    """Minting a token for an installation the App does not have answers 404."""
    reply = await fake_github_client("POST", "/app/installations/999/access_tokens",
                                     headers={"Authorization": f"Bearer {fake_github.app_jwt()}"})  # fmt: skip
    assert reply.status == 404


async def test_scoped_token_reaches_only_its_repositories(
    fake_github: FakeGitHub, fake_github_client: DoubleClient
) -> None:
    """A token down-scoped to `widgets` reads it; a request for another repository is Not Found."""
    jwt_header = {"Authorization": f"Bearer {fake_github.app_jwt()}"}
    minted = await fake_github_client("POST", f"/app/installations/{fake_github.installation_id}/access_tokens",
                                      json={"repositories": ["widgets"]}, headers=jwt_header)  # fmt: skip
    assert minted.status == 201
    assert minted.json()["repository_selection"] == "selected"
    assert [r["full_name"] for r in minted.json()["repositories"]] == ["acme/widgets"]
    token = minted.json()["token"]
    assert (await fake_github_client("GET", R, token=token)).status == 200
    assert (await fake_github_client("GET", "/repos/acme/other", token=token)).status == 404
    refused = await fake_github_client("POST", f"/app/installations/{fake_github.installation_id}/access_tokens",
                                       json={"repositories": ["other"]}, headers=jwt_header)  # fmt: skip
    assert refused.status == 422


async def test_missing_permission_is_403_naming_the_permission(
    fake_github: FakeGitHub, fake_github_client: DoubleClient
) -> None:
    """A token without checks:write cannot create a check run; the answer names what is needed."""
    token = fake_github.installation_token(permissions={"issues": "write"})
    reply = await fake_github_client("POST", f"{R}/check-runs", token=token,
                                     json={"name": "x", "head_sha": "main"})  # fmt: skip
    assert reply.status == 403
    assert reply.json()["message"] == "Resource not accessible by integration"
    assert reply.headers["X-Accepted-GitHub-Permissions"] == "checks=write"
    assert (await fake_github_client("GET", f"{R}/issues/12", token=token)).status == 200


async def test_repository_installation_takes_a_jwt(
    fake_github: FakeGitHub, fake_github_client: DoubleClient
) -> None:
    """`GET /repos/{o}/{r}/installation` answers the installation id for the App's JWT."""
    reply = await fake_github_client("GET", f"{R}/installation", token=None,
                                     headers={"Authorization": f"Bearer {fake_github.app_jwt()}"})  # fmt: skip
    assert reply.status == 200
    assert reply.json()["id"] == fake_github.installation_id == 42
    assert reply.json()["app_id"] == fake_github.app_id


@pytest.mark.parametrize(
    ("user", "permission", "role"),
    [
        ("octo-owner", "admin", "admin"),
        ("octo-dev", "write", "write"),
        ("stranger", "read", "read"),
    ],
)
async def test_collaborator_permission_comes_from_the_snapshot(
    fake_github_client: DoubleClient, user: str, permission: str, role: str
) -> None:
    """Collaborator permission is the snapshot's `permissions` entry, `read` for anyone else."""
    reply = await fake_github_client("GET", f"{R}/collaborators/{user}/permission")
    assert reply.status == 200
    body = reply.json()
    assert (body["permission"], body["role_name"], body["user"]["login"]) == (
        permission,
        role,
        user,
    )


async def test_maintain_role_reads_as_write(fake_github_factory: FakeFactory) -> None:
    """GitHub's legacy `permission` folds maintain into write; `role_name` keeps maintain."""
    data = small()
    data["permissions"]["keeper"] = "maintain"
    fake = fake_github_factory(data)
    async with aiohttp.ClientSession() as session:
        reply = await DoubleClient(session, fake.url, fake.installation_token())(
            "GET", f"{R}/collaborators/keeper/permission"
        )
    assert (reply.json()["permission"], reply.json()["role_name"]) == ("write", "maintain")


# --- rate limits and ETags -------------------------------------------------------------------------
async def test_etag_304_is_free_and_changes_with_the_resource(
    fake_github_client: DoubleClient,
) -> None:
    """A matching If-None-Match gets an empty 304 that costs nothing; a change gives a new ETag."""
    first = await fake_github_client("GET", f"{R}/issues/12/comments")
    etag = first.headers["ETag"]
    remaining = int(first.headers["x-ratelimit-remaining"])
    cached = await fake_github_client(
        "GET", f"{R}/issues/12/comments", headers={"If-None-Match": etag}
    )
    assert cached.status == 304
    assert cached.body == b""
    assert int(cached.headers["x-ratelimit-remaining"]) == remaining
    await fake_github_client("POST", f"{R}/issues/12/comments", json={"body": "new"})
    changed = await fake_github_client(
        "GET", f"{R}/issues/12/comments", headers={"If-None-Match": etag}
    )
    assert changed.status == 200
    assert changed.headers["ETag"] != etag
    assert int(changed.headers["x-ratelimit-remaining"]) == remaining - 2


async def test_rate_limit_headers_count_down_and_run_out(fake_github_factory: FakeFactory) -> None:
    """Each request uses one of the token's quota; at zero GitHub answers 403 with remaining 0."""
    fake = fake_github_factory(rate_limit=3)
    async with aiohttp.ClientSession() as session:
        client = DoubleClient(session, fake.url, fake.installation_token())
        seen = [(await client("GET", R)).headers["x-ratelimit-remaining"] for _ in range(3)]
        assert seen == ["2", "1", "0"]
        over = await client("GET", R)
    assert over.status == 403
    assert "API rate limit exceeded" in over.json()["message"]
    assert over.headers["x-ratelimit-remaining"] == "0"
    assert over.headers["x-ratelimit-limit"] == "3"
    assert over.headers["x-ratelimit-resource"] == "core"
    assert int(over.headers["x-ratelimit-reset"]) > 0


async def test_each_token_has_its_own_quota(
    fake_github: FakeGitHub, fake_github_client: DoubleClient
) -> None:
    """Rate limits are per token: a second token starts with its own full quota."""
    await fake_github_client("GET", R)
    used = await fake_github_client("GET", R)
    fresh = await fake_github_client("GET", R, token=fake_github.installation_token())
    assert (
        int(fresh.headers["x-ratelimit-remaining"])
        == int(used.headers["x-ratelimit-remaining"]) + 1
    )


# --- pagination ------------------------------------------------------------------------------------
async def test_pages_and_link_headers(fake_github_client: DoubleClient) -> None:
    """per_page/page slice the list; Link names next/last, then prev/first, absolute on this host."""
    first = await fake_github_client("GET", f"{R}/issues/12/comments?per_page=2")
    assert [c["id"] for c in first.json()] == [3600000101, 3600000102]
    link = first.headers["Link"]
    assert (
        f'<{fake_github_client.base}{R}/issues/12/comments?per_page=2&page=2>; rel="next"' in link
    )
    assert 'rel="last"' in link
    second = await fake_github_client("GET", f"{R}/issues/12/comments?per_page=2&page=2")
    assert [c["id"] for c in second.json()] == [3600000103]
    assert 'rel="prev"' in second.headers["Link"]
    assert 'rel="first"' in second.headers["Link"]
    assert 'rel="next"' not in second.headers["Link"]
    whole = await fake_github_client("GET", f"{R}/issues/12/comments")
    assert "Link" not in whole.headers


async def test_per_page_is_capped_at_100(fake_github_client: DoubleClient) -> None:
    """Asking for more than 100 per page gets 100, with a next page."""
    for i in range(99):
        await fake_github_client("POST", f"{R}/issues/13/comments", json={"body": f"n{i}"})
    reply = await fake_github_client("GET", f"{R}/issues/13/comments?per_page=500")
    assert len(reply.json()) == 100
    assert "page=2" in reply.headers["Link"]


async def test_wrapped_lists_are_paged_inside_the_wrapper(fake_github_client: DoubleClient) -> None:
    """Wrapped lists (workflow runs) keep total_count of all items while paging the array."""
    reply = await fake_github_client("GET", f"{R}/actions/runs?per_page=1")
    assert reply.json()["total_count"] == 4
    assert len(reply.json()["workflow_runs"]) == 1
    assert 'rel="last"' in reply.headers["Link"]


# --- reads -----------------------------------------------------------------------------------------
async def test_issue_comments_and_timeline_read_as_captured(
    fake_github_client: DoubleClient,
) -> None:
    """The issue, its comments and its timeline come back as the snapshot holds them."""
    data = small()["issues"][0]
    assert (await fake_github_client("GET", f"{R}/issues/12")).json() == data["issue"]
    assert (await fake_github_client("GET", f"{R}/issues/12/comments")).json() == data["comments"]
    assert (await fake_github_client("GET", f"{R}/issues/12/timeline")).json() == data["timeline"]


async def test_pull_request_reads(fake_github_client: DoubleClient) -> None:
    """Pull, reviews, review comments, files and commits read back as the snapshot holds them."""
    data = small()["pull_requests"][0]
    assert (await fake_github_client("GET", f"{R}/pulls/13")).json() == data["pull"]
    for tail, key in [
        ("reviews", "reviews"),
        ("comments", "review_comments"),
        ("files", "files"),
        ("commits", "commits"),
    ]:
        assert (await fake_github_client("GET", f"{R}/pulls/13/{tail}")).json() == data[key], tail
    as_issue = (await fake_github_client("GET", f"{R}/issues/13")).json()
    assert as_issue["pull_request"]["html_url"] == data["pull"]["html_url"]
    assert (await fake_github_client("GET", f"{R}/issues/13/comments")).json() == data["comments"]


@pytest.mark.parametrize(
    ("query", "numbers"),
    [("", [13]), ("?state=closed", []), (f"?head=acme:{HEAD_REF}", [13]), ("?head=acme:other", []),
     ("?base=main", [13]), ("?base=dev", [])],
)  # fmt: skip
async def test_pulls_list_filters(
    fake_github_client: DoubleClient, query: str, numbers: list[int]
) -> None:
    """The pulls list filters by state, `owner:branch` head and base."""
    reply = await fake_github_client("GET", f"{R}/pulls{query}")
    assert [p["number"] for p in reply.json()] == numbers


async def test_check_runs_for_a_ref(fake_github_client: DoubleClient) -> None:
    """Check runs for a branch or sha come wrapped with total_count; annotations and by-id reads work."""
    sha_c1 = small()["pull_requests"][0]["commits"][0]["sha"]
    runs = (await fake_github_client("GET", f"{R}/commits/{sha_c1}/check-runs")).json()
    assert runs["total_count"] == 2
    assert {r["conclusion"] for r in runs["check_runs"]} == {"failure", "success"}
    by_branch = (await fake_github_client("GET", f"{R}/commits/{HEAD_REF}/check-runs")).json()
    assert {r["conclusion"] for r in by_branch["check_runs"]} == {"success"}
    lint = next(r for r in runs["check_runs"] if r["name"] == "lint")
    assert (await fake_github_client("GET", f"{R}/check-runs/{lint['id']}")).json() == lint
    annotations = (
        await fake_github_client("GET", f"{R}/check-runs/{lint['id']}/annotations")
    ).json()
    assert [a["title"] for a in annotations] == ["F401", ""]
    unknown = await fake_github_client("GET", f"{R}/commits/{'f' * 40}/check-runs")
    assert unknown.status == 422


async def test_latest_filter_keeps_the_newest_run_per_name(
    fake_github_factory: FakeFactory,
) -> None:
    """filter=latest (the default) hides a re-run's older attempt; filter=all shows both."""
    data = small()
    pr = data["pull_requests"][0]
    rerun = json.loads(json.dumps(pr["check_runs"][0]))
    rerun["check_run"]["id"] = 53000000999
    rerun["check_run"]["started_at"] = "2026-11-10T12:00:00Z"
    pr["check_runs"].append(rerun)
    fake = fake_github_factory(data)
    sha = rerun["check_run"]["head_sha"]
    async with aiohttp.ClientSession() as session:
        client = DoubleClient(session, fake.url, fake.installation_token())
        latest = (await client("GET", f"{R}/commits/{sha}/check-runs")).json()
        every = (await client("GET", f"{R}/commits/{sha}/check-runs?filter=all")).json()
    assert latest["total_count"] == 2
    assert 53000000999 in [r["id"] for r in latest["check_runs"]]
    assert every["total_count"] == 3


@pytest.mark.parametrize(
    ("query", "count"),
    [("", 4), ("?event=issues", 1), ("?event=pull_request", 3), ("?branch=main", 1), ("?status=failure", 2),
     ("?head_sha=1159c503e3a45c7754ff763834474f4463a6e431", 0)],
)  # fmt: skip
async def test_workflow_runs_filter(
    fake_github_client: DoubleClient, query: str, count: int
) -> None:
    """Workflow runs filter by event, branch, status/conclusion and head_sha, newest first."""
    reply = (await fake_github_client("GET", f"{R}/actions/runs{query}")).json()
    assert reply["total_count"] == count
    ids = [r["id"] for r in reply["workflow_runs"]]
    assert ids == sorted(ids, reverse=True)


async def test_runs_jobs_and_artifacts_read(fake_github_client: DoubleClient) -> None:
    """A run, its jobs and artifacts (wrapped), and a job by id read as captured."""
    wr = small()["pull_requests"][0]["workflow_runs"][0]
    run_id = wr["run"]["id"]
    assert (await fake_github_client("GET", f"{R}/actions/runs/{run_id}")).json() == wr["run"]
    jobs = (await fake_github_client("GET", f"{R}/actions/runs/{run_id}/jobs")).json()
    assert jobs == {"total_count": 1, "jobs": [wr["jobs"][0]["job"]]}
    job_id = wr["jobs"][0]["job"]["id"]
    assert (await fake_github_client("GET", f"{R}/actions/jobs/{job_id}")).json() == wr["jobs"][0][
        "job"
    ]
    artifacts = (await fake_github_client("GET", f"{R}/actions/runs/{run_id}/artifacts")).json()
    assert artifacts == {"total_count": 1, "artifacts": [wr["artifacts"][0]["artifact"]]}
    missing = await fake_github_client("GET", f"{R}/actions/runs/1")
    assert (missing.status, missing.json()["message"]) == (404, "Not Found")


async def test_job_log_redirects_to_a_short_lived_blob(
    fake_github: FakeGitHub, fake_github_client: DoubleClient
) -> None:
    """Logs answer 302 to a signed URL on the double that serves text/plain without auth, for ~60 s."""
    job = small()["pull_requests"][0]["workflow_runs"][1]["jobs"][0]
    reply = await fake_github_client("GET", f"{R}/actions/jobs/{job['job']['id']}/logs")
    assert reply.status == 302
    location = reply.headers["Location"]
    assert location.startswith(f"{fake_github.url}/_blobs/")
    blob = await fake_github_client("GET", location, token=None)
    assert blob.status == 200
    assert blob.headers["Content-Type"].startswith("text/plain")
    assert blob.body.decode() == job["log"]
    recorded = [r for r in fake_github.requests() if r["path"].startswith("/_blobs/")]
    assert recorded[-1]["authorization"] == "none"
    fake_github.advance_clock(61)
    assert (await fake_github_client("GET", location, token=None)).status == 403


async def test_blob_requests_record_a_leaked_authorization(
    fake_github: FakeGitHub, fake_github_client: DoubleClient
) -> None:
    """The blob host ignores Authorization but the double records it, so a leak can be asserted."""
    job_id = small()["pull_requests"][0]["workflow_runs"][1]["jobs"][0]["job"]["id"]
    location = (await fake_github_client("GET", f"{R}/actions/jobs/{job_id}/logs")).headers[
        "Location"
    ]
    leaked = await fake_github_client("GET", location)
    assert leaked.status == 200
    assert fake_github.requests()[-1]["authorization"] == "token"


async def test_artifact_zip_unzips_to_the_snapshot_files(fake_github_client: DoubleClient) -> None:
    """The artifact download is a real zip holding the snapshot artifact's files."""
    art = small()["pull_requests"][0]["workflow_runs"][0]["artifacts"][0]
    reply = await fake_github_client("GET", f"{R}/actions/artifacts/{art['artifact']['id']}/zip")
    assert reply.status == 302
    blob = await fake_github_client("GET", reply.headers["Location"], token=None)
    assert blob.headers["Content-Type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(blob.body)) as archive:
        assert {name: archive.read(name).decode() for name in archive.namelist()} == art["files"]


async def test_expired_artifact_is_gone(fake_github_factory: FakeFactory) -> None:
    """An artifact marked expired answers 410 instead of a download."""
    data = small()
    art = data["pull_requests"][0]["workflow_runs"][0]["artifacts"][0]["artifact"]
    art["expired"] = True
    fake = fake_github_factory(data)
    async with aiohttp.ClientSession() as session:
        reply = await DoubleClient(session, fake.url, fake.installation_token())(
            "GET", f"{R}/actions/artifacts/{art['id']}/zip"
        )
    assert reply.status == 410


async def test_contents_base64_raw_listing_and_missing(fake_github_client: DoubleClient) -> None:
    """Contents give base64 JSON, raw text on the raw media type, a directory listing, 404s."""
    agents = small()["files"]["AGENTS.md"]
    item = (await fake_github_client("GET", f"{R}/contents/AGENTS.md")).json()
    assert (item["type"], item["encoding"], item["path"]) == ("file", "base64", "AGENTS.md")
    assert base64.b64decode(item["content"]).decode() == agents
    raw = await fake_github_client("GET", f"{R}/contents/AGENTS.md?ref=main",
                                   headers={"Accept": "application/vnd.github.raw"})  # fmt: skip
    assert raw.body.decode() == agents
    assert raw.headers["Content-Type"].startswith("application/vnd.github.raw")
    listing = (await fake_github_client("GET", f"{R}/contents/prompt_seeds")).json()
    assert [entry["path"] for entry in listing] == ["prompt_seeds/dev-work.md"]
    root = (await fake_github_client("GET", f"{R}/contents/")).json()
    assert {(e["name"], e["type"]) for e in root} == {
        ("AGENTS.md", "file"),
        ("docker", "dir"),
        ("prompt_seeds", "dir"),
    }
    assert (await fake_github_client("GET", f"{R}/contents/NOPE.md")).status == 404
    assert (
        await fake_github_client("GET", f"{R}/contents/AGENTS.md?ref=no-such-branch")
    ).status == 404


async def test_branch_head_is_learned_three_ways(fake_github_client: DoubleClient) -> None:
    """git/ref, commits/{ref} and branches/{branch} agree on the default branch head."""
    ref = (await fake_github_client("GET", f"{R}/git/ref/heads/main")).json()
    commit = (await fake_github_client("GET", f"{R}/commits/main")).json()
    branch = (await fake_github_client("GET", f"{R}/branches/main")).json()
    assert ref["object"]["sha"] == commit["sha"] == branch["commit"]["sha"]
    git_commit = (await fake_github_client("GET", f"{R}/git/commits/{commit['sha']}")).json()
    tree = (
        await fake_github_client("GET", f"{R}/git/trees/{git_commit['tree']['sha']}?recursive=1")
    ).json()
    assert {e["path"] for e in tree["tree"] if e["type"] == "blob"} == set(small()["files"])
    assert (await fake_github_client("GET", f"{R}/git/ref/heads/nope")).status == 404
    assert (await fake_github_client("GET", f"{R}/commits/{'e' * 40}")).status == 422


async def test_snapshot_commits_read_by_sha(fake_github_client: DoubleClient) -> None:
    """A PR commit from the snapshot reads back by sha as the snapshot holds it."""
    commit = small()["pull_requests"][0]["commits"][1]
    assert (await fake_github_client("GET", f"{R}/commits/{commit['sha']}")).json() == commit


async def test_requests_are_recorded_with_credential_kind(
    fake_github: FakeGitHub, fake_github_client: DoubleClient
) -> None:
    """The request log names method, path, query, status, conditional flag and credential kind."""
    await fake_github_client("GET", f"{R}/issues/12?x=1", headers={"If-None-Match": '"abc"'})
    entry = fake_github.requests()[-1]
    assert entry["method"] == "GET"
    assert entry["path"] == f"{R}/issues/12"
    assert entry["query"] == {"x": "1"}
    assert entry["route"] == "/repos/{owner}/{repo}/issues/{issue_number}"
    assert (entry["status"], entry["if_none_match"], entry["authorization"]) == (200, True, "token")
    assert fake_github_client.token not in json.dumps(fake_github.requests())
    fake_github.reset()
    assert fake_github.requests() == []


async def test_missing_user_agent_is_refused(fake_github: FakeGitHub) -> None:
    """Like GitHub, the double refuses API requests that carry no User-Agent."""
    async with aiohttp.ClientSession(skip_auto_headers={"User-Agent"}) as session:
        client = DoubleClient(session, fake_github.url, fake_github.installation_token())
        reply = await client("GET", R)
    assert reply.status == 403
    assert "User-Agent" in reply.json()["message"]


# --- the Python API on the caller's loop, and the smaller routes -------------------------------------
async def test_same_loop_start_serves_and_stop_closes() -> None:
    """`await start()` serves on the caller's loop; control calls work directly; `stop()` closes."""
    fake = FakeGitHub(SMALL)
    url = await fake.start()
    try:
        async with aiohttp.ClientSession() as session:
            reply = await DoubleClient(session, url, fake.installation_token())("GET", R)
            assert reply.status == 200
            assert [r["path"] for r in fake.requests()] == [R]
            with pytest.raises(FakeGitHubError, match="asend_webhook"):
                fake.send_webhook("issues", {})
    finally:
        await fake.stop()
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientConnectionError):
            await DoubleClient(session, url, None)("GET", R)


async def test_rate_limit_route_is_free_and_reports_the_bucket(
    fake_github_client: DoubleClient,
) -> None:
    """`GET /rate_limit` reports the token's core bucket and does not use it up."""
    await fake_github_client("GET", R)
    first = (await fake_github_client("GET", "/rate_limit")).json()["resources"]["core"]
    second = (await fake_github_client("GET", "/rate_limit")).json()["resources"]["core"]
    assert first["remaining"] == second["remaining"] == first["limit"] - 1


async def test_installation_repositories_and_token_revocation(
    fake_github_client: DoubleClient,
) -> None:
    """The token lists its repository; `DELETE /installation/token` revokes it at once."""
    repos = (await fake_github_client("GET", "/installation/repositories")).json()
    assert [r["full_name"] for r in repos["repositories"]] == ["acme/widgets"]
    assert (await fake_github_client("DELETE", "/installation/token")).status == 204
    assert (await fake_github_client("GET", R)).status == 401


async def test_run_attempts_read_by_number(fake_github_client: DoubleClient) -> None:
    """A run's attempt reads by its number, with that attempt's jobs; other numbers are 404."""
    run = small()["pull_requests"][0]["workflow_runs"][1]
    path = f"{R}/actions/runs/{run['run']['id']}/attempts"
    assert (await fake_github_client("GET", f"{path}/1")).json() == run["run"]
    jobs = (await fake_github_client("GET", f"{path}/1/jobs")).json()
    assert [j["id"] for j in jobs["jobs"]] == [j["job"]["id"] for j in run["jobs"]]
    assert (await fake_github_client("GET", f"{path}/2")).status == 404


async def test_issue_list_includes_pull_requests(fake_github_client: DoubleClient) -> None:
    """The issues list holds issues and PRs (as GitHub's does), newest number first."""
    listed = (await fake_github_client("GET", f"{R}/issues?state=all")).json()
    assert [(i["number"], "pull_request" in i) for i in listed] == [(13, True), (12, False)]
