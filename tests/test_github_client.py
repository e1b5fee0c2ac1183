"""The GitHub client and factory against the GitHub double: real HTTP on 127.0.0.1, injected clock and sleep."""

from __future__ import annotations

import asyncio
import io
import logging
import time
import zipfile
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import aiohttp
import jwt
import pytest
from multidict import CIMultiDict

from app.fake_github import FakeGitHub
from app.github.apps import GitHubApps
from app.github.auth import PERMISSIONS, token_request_body
from app.github.client import GitHubClient
from app.github.errors import (
    Forbidden,
    NotFound,
    RateLimited,
    ServerError,
    Unauthorized,
    ValidationFailed,
)
from app.github.retry import RetryPolicy
from app.metrics import Metrics
from app.settings import Settings

REPO = "/repos/acme/widgets"
ISSUE = f"{REPO}/issues/12"
JOB_ID = 53000000001
ARTIFACT_ID = 4100000001
TOKENS = "/app/installations/42/access_tokens"


@dataclass
class FakeTime:
    """The injected clock and sleep: sleeping is recorded and moves the clock, never waits."""

    now: float = field(default_factory=time.time)
    sleeps: list[float] = field(default_factory=list)
    others: list[FakeGitHub] = field(default_factory=list)  # clocks that move with ours

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        for other in self.others:
            other.advance_clock(seconds)
        await asyncio.sleep(0)


@dataclass
class Sent:
    """What left our session, seen by an aiohttp trace: headers per request, and concurrency."""

    requests: list[tuple[str, str, CIMultiDict[str]]] = field(default_factory=list)
    active: int = 0
    peak: int = 0


def _trace(sent: Sent) -> aiohttp.TraceConfig:
    trace = aiohttp.TraceConfig()

    async def start(_: Any, __: Any, params: aiohttp.TraceRequestStartParams) -> None:
        sent.requests.append((params.method, params.url.path, CIMultiDict(params.headers)))
        sent.active += 1
        sent.peak = max(sent.peak, sent.active)

    async def end(_: Any, __: Any, ___: Any) -> None:
        sent.active -= 1

    trace.on_request_start.append(start)
    trace.on_request_end.append(end)
    trace.on_request_exception.append(end)
    return trace


@dataclass
class Rig:
    fake: FakeGitHub
    apps: GitHubApps
    time: FakeTime
    metrics: Metrics
    sent: Sent

    def gather(self) -> GitHubClient:
        return self.apps.installation_client(42, repository="widgets", purpose="gather")

    def publish(self) -> GitHubClient:
        return self.apps.installation_client(42, repository="widgets", purpose="publish")

    def calls(self, path: str, method: str = "GET") -> list[dict[str, Any]]:
        return [r for r in self.fake.requests() if r["path"] == path and r["method"] == method]

    def mints(self) -> list[dict[str, Any]]:
        return [w for w in self.fake.writes() if w["path"] == TOKENS]

    def metric(self, name: str, **labels: str) -> float | None:
        return self.metrics.registry.get_sample_value(name, labels)


RigFactory = Callable[..., Any]


@pytest.fixture
async def rig_for(
    fake_github_factory: Callable[..., FakeGitHub], app_key_pem: bytes
) -> AsyncIterator[RigFactory]:
    """Build a double plus a GitHubApps wired to it, with fake time and a tracing session."""
    sessions: list[aiohttp.ClientSession] = []

    async def build(
        *, spacing: float = 0.0, retry: RetryPolicy | None = None, **fake_kwargs: Any
    ) -> Rig:
        fake = fake_github_factory(**fake_kwargs)
        sent = Sent()
        session = aiohttp.ClientSession(trace_configs=[_trace(sent)])
        sessions.append(session)
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]  # pydantic-settings init kwarg
            app_id=fake.app_id,
            private_key=app_key_pem.decode(),
            github_api_url=fake.url,
        )
        fake_time, metrics = FakeTime(others=[fake]), Metrics()
        apps = GitHubApps(
            settings,
            session,
            metrics,
            clock=fake_time.clock,
            sleep=fake_time.sleep,
            jitter=lambda: 0.5,
            mutation_spacing=spacing,
            retry=retry or RetryPolicy(),
        )
        return Rig(fake, apps, fake_time, metrics, sent)

    yield build
    for session in sessions:
        await session.close()


@pytest.fixture
async def rig(rig_for: RigFactory) -> Rig:
    rig: Rig = await rig_for()
    return rig


# Authentication. --------------------------------------------------------------------------------


async def test_app_jwt_is_accepted_and_claims_are_right(rig: Rig, app_key_pem: bytes) -> None:
    """GET /app with our JWT succeeds; the JWT sent is RS256 with iat -60 s, exp +540 s, iss = app id."""
    info = await rig.apps.app_info()
    assert info["slug"] == rig.fake.app_slug
    (_, _, headers) = next(r for r in rig.sent.requests if r[1] == "/app")
    scheme, token = headers["Authorization"].split(" ", 1)
    assert scheme == "Bearer"
    assert jwt.get_unverified_header(token)["alg"] == "RS256"
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["iss"] == str(rig.fake.app_id)
    assert claims["iat"] == int(rig.time.now) - 60
    assert claims["exp"] == int(rig.time.now) + 540
    assert [r["authorization"] for r in rig.calls("/app")] == ["jwt"]


async def test_app_info_is_fetched_once_and_names_the_user_agent(rig: Rig) -> None:
    """GET /app happens once; clients made afterwards send the slug as User-Agent."""
    await asyncio.gather(rig.apps.app_info(), rig.apps.app_info())
    assert len(rig.calls("/app")) == 1
    await rig.gather().getitem(ISSUE)
    (_, _, headers) = next(r for r in rig.sent.requests if r[1] == ISSUE)
    assert headers["User-Agent"] == rig.fake.app_slug
    assert headers["X-GitHub-Api-Version"] == "2022-11-28"


async def test_installation_id_for_a_repository(rig: Rig) -> None:
    """The installation covering acme/widgets is looked up with the JWT, then remembered."""
    assert await rig.apps.installation_id_for("acme", "widgets") == 42
    assert await rig.apps.installation_id_for("Acme", "Widgets") == 42
    assert len(rig.calls(f"{REPO}/installation")) == 1


async def test_twenty_concurrent_callers_mint_one_token(rig: Rig) -> None:
    """Twenty jobs starting at once for the same repository and purpose share one minted token."""
    clients = [rig.gather() for _ in range(20)]
    issues = await asyncio.gather(*(c.getitem(ISSUE) for c in clients))
    assert {i["number"] for i in issues} == {12}
    assert len(rig.mints()) == 1


@pytest.mark.parametrize("purpose", ["gather", "publish", "update"])
async def test_token_request_body_matches_the_permission_matrix(rig: Rig, purpose: str) -> None:
    """The recorded mint body is scoped to the one repository with exactly the purpose's permissions."""
    client = rig.apps.installation_client(42, repository="widgets", purpose=purpose)
    await client.getitem(REPO)
    (mint,) = rig.mints()
    assert mint["body"] == token_request_body("widgets", PERMISSIONS[purpose])  # type: ignore[index]
    assert mint["authorization"] == "jwt"


async def test_token_refreshed_five_minutes_before_expiry(rig: Rig) -> None:
    """At 54 minutes the token is reused; at 56 minutes a new one is minted; GitHub never sees it expired."""
    client = rig.gather()
    await client.getitem(ISSUE)
    minted = rig.time.now

    def move_to(minutes: int) -> None:  # both clocks, ours and GitHub's, move together
        shift = minted + minutes * 60 - rig.time.now
        rig.time.now += shift
        rig.fake.advance_clock(shift)

    move_to(54)
    await client.getitem(f"{ISSUE}/comments")
    assert len(rig.mints()) == 1
    move_to(56)
    await client.getitem(f"{ISSUE}/comments")
    assert len(rig.mints()) == 2
    assert all(r["status"] != 401 for r in rig.fake.requests())


async def test_refused_token_is_reminted_once_and_retried_once(rig_for: RigFactory) -> None:
    """A 401 on an installation token mints a new token once and retries the request once."""
    rig: Rig = await rig_for(token_ttl=310)
    client = rig.gather()
    await client.getitem(ISSUE)
    # GitHub's clock passes the token's expiry while ours (frozen) still holds it fresh.
    rig.fake.advance_clock(400)
    comments = await client.getitem(f"{ISSUE}/comments")
    assert isinstance(comments, list)
    assert [r["status"] for r in rig.calls(f"{ISSUE}/comments")] == [401, 200]
    assert len(rig.mints()) == 2


async def test_a_static_token_refused_is_not_retried(rig: Rig) -> None:
    """A personal token GitHub refuses raises Unauthorized after one request: nothing to renew."""
    client = rig.apps.token_client("ghp_not_a_real_token")
    with pytest.raises(Unauthorized) as caught:
        await client.getitem(ISSUE)
    assert caught.value.status == 401
    assert len(rig.calls(ISSUE)) == 1
    assert "ghp_not_a_real_token" not in str(caught.value)


async def test_invalidate_installation_mints_anew(rig: Rig) -> None:
    """After the installation is invalidated, the next call mints a new token."""
    await rig.gather().getitem(ISSUE)
    rig.apps.invalidate_installation(42)
    await rig.gather().getitem(ISSUE)
    assert len(rig.mints()) == 2


async def test_mint_falls_back_to_the_permissions_the_installation_has(rig: Rig) -> None:
    """When the installation lacks an asked permission, the token is minted with what it grants."""
    # The double has no public knob for installation permissions yet: narrow them in place.
    rig.fake._rt.app.permissions.pop("actions")
    issue = await rig.gather().getitem(ISSUE)
    assert issue["number"] == 12
    first, second = rig.mints()
    assert first["status"] == 422 and "actions" in first["body"]["permissions"]
    assert second["status"] == 201 and "actions" not in second["body"]["permissions"]


# Caching and metrics. ---------------------------------------------------------------------------


async def test_second_get_is_conditional_and_served_from_cache(rig: Rig) -> None:
    """A repeated GET sends If-None-Match, gets a free 304, and returns the same body."""
    client = rig.gather()
    first = await client.getitem(ISSUE)
    second = await client.getitem(ISSUE)
    assert first == second
    assert [(r["if_none_match"], r["status"]) for r in rig.calls(ISSUE)] == [
        (False, 200),
        (True, 304),
    ]
    assert rig.metric("self_improve_github_requests_total", method="GET", status="304") == 1


async def test_etag_cache_is_shared_by_clients_of_one_installation_only(rig: Rig) -> None:
    """Another client of the same installation reuses the ETag; a personal-token client does not."""
    await rig.gather().getitem(REPO)
    await rig.publish().getitem(REPO)
    token = rig.fake.installation_token(repositories=["widgets"])
    await rig.apps.token_client(token).getitem(REPO)
    assert [r["if_none_match"] for r in rig.calls(REPO)] == [False, True, False]


async def test_metrics_count_responses_and_track_remaining(rig: Rig) -> None:
    """Every response is counted by method and status; x-ratelimit-remaining is kept per installation."""
    client = rig.gather()
    await client.getitem(ISSUE)
    with pytest.raises(NotFound):
        await client.getitem(f"{REPO}/issues/99999")
    assert rig.metric("self_improve_github_requests_total", method="GET", status="200") == 1
    assert rig.metric("self_improve_github_requests_total", method="GET", status="404") == 1
    assert rig.metric("self_improve_github_requests_total", method="POST", status="201") == 1
    remaining = rig.metric("self_improve_github_rate_limit_remaining", installation="42")
    assert remaining is not None and 0 < remaining < 5000
    assert rig.metric("self_improve_github_rate_limit_remaining", installation="app") is not None


async def test_low_budget_is_known_per_installation(rig_for: RigFactory) -> None:
    """Under a tenth of the hourly budget left, the installation's state says so (optional reads wait)."""
    rig: Rig = await rig_for(rate_limit=20)
    client = rig.gather()
    for n in range(10):
        await client.getitem(f"{ISSUE}/comments?page={n}")
    assert (client.state.rate_remaining, client.state.rate_limit) == (10, 20)
    assert not client.state.low_on_budget()
    for n in range(10, 19):
        await client.getitem(f"{ISSUE}/comments?page={n}")
    assert client.state.rate_remaining == 1 and client.state.low_on_budget()
    assert rig.apps.state("app").low_on_budget() is False


# Retries. ---------------------------------------------------------------------------------------


async def test_two_502s_then_success(rig: Rig) -> None:
    """Two 502s are retried with exponential backoff (1 s, 2 s); the third try succeeds."""
    client = rig.gather()
    await client.getitem(REPO)  # mint first, so the fault hits the issue read only
    rig.fake.set_faults([{"kind": "502", "route": f"GET {ISSUE}", "count": 2}])
    issue = await client.getitem(ISSUE)
    assert issue["number"] == 12
    assert [r["status"] for r in rig.calls(ISSUE)] == [502, 502, 200]
    assert rig.time.sleeps == [1.0, 2.0]


async def test_a_reset_connection_is_retried(rig: Rig) -> None:
    """A dropped connection counts as no response and is tried again after a backoff."""
    client = rig.gather()
    await client.getitem(REPO)
    # aiohttp itself re-sends an idempotent request once when a kept-alive connection drops
    # (RFC 9112 section 9.3.1), so the second reset is the one our retry sees.
    rig.fake.set_faults([{"kind": "reset", "route": f"GET {ISSUE}", "count": 2}])
    issue = await client.getitem(ISSUE)
    assert issue["number"] == 12
    assert [r["status"] for r in rig.calls(ISSUE)] == [0, 0, 200]
    assert rig.time.sleeps == [1.0]
    assert rig.metric("self_improve_github_requests_total", method="GET", status="0") == 1


async def test_persistent_5xx_gives_up_after_three_retries(rig: Rig) -> None:
    """Four 503s in a row end in ServerError after three retries."""
    client = rig.gather()
    await client.getitem(REPO)
    rig.fake.set_faults([{"kind": "503", "route": f"GET {ISSUE}"}])
    with pytest.raises(ServerError) as caught:
        await client.getitem(ISSUE)
    assert caught.value.status == 503
    assert len(rig.calls(ISSUE)) == 4
    assert rig.time.sleeps == [1.0, 2.0, 4.0]


async def test_secondary_limit_honours_retry_after(rig: Rig) -> None:
    """A secondary rate limit waits exactly retry-after, then succeeds."""
    client = rig.gather()
    await client.getitem(REPO)
    rig.fake.set_faults(
        [{"kind": "secondary", "route": f"GET {ISSUE}", "count": 1, "retry_after": 7}]
    )
    assert (await client.getitem(ISSUE))["number"] == 12
    assert [r["status"] for r in rig.calls(ISSUE)] == [403, 200]
    assert rig.time.sleeps == [7.0]


async def test_primary_limit_exhausted_waits_until_reset(rig: Rig) -> None:
    """With remaining 0, the client waits until x-ratelimit-reset plus a second."""
    client = rig.gather()
    await client.getitem(REPO)
    rig.fake.set_faults([{"kind": "primary", "route": f"GET {ISSUE}", "count": 1, "reset_in": 30}])
    assert (await client.getitem(ISSUE))["number"] == 12
    (slept,) = rig.time.sleeps
    assert 29.0 <= slept <= 32.0


async def test_a_rate_limit_pauses_the_whole_installation(rig: Rig) -> None:
    """While one request waits out a rate limit, other requests of the installation wait too."""
    client = rig.gather()
    await client.getitem(REPO)
    rig.fake.set_faults(
        [{"kind": "secondary", "route": f"GET {ISSUE}", "count": 1, "retry_after": 9}]
    )
    await client.getitem(ISSUE)
    # Another job of the same installation starts 4 s into the 9 s pause: it waits the other 5 s.
    rig.time.now = client.state.paused_until - 5
    await rig.gather().getitem(f"{ISSUE}/comments")
    assert rig.time.sleeps == [9.0, 5.0]


async def test_rate_limit_gives_up_after_five_tries(rig_for: RigFactory) -> None:
    """A secondary limit that never lifts ends in RateLimited after five tries, waits doubling from 60 s."""
    rig: Rig = await rig_for()
    client = rig.gather()
    await client.getitem(REPO)
    rig.fake.set_faults([{"kind": "secondary", "route": f"GET {ISSUE}"}])
    with pytest.raises(RateLimited):
        await client.getitem(ISSUE)
    assert len(rig.calls(ISSUE)) == 5
    assert rig.time.sleeps == [60.0] * 4  # the double always says retry-after: 60


async def test_validation_error_is_not_retried(rig: Rig) -> None:
    """A 422 is raised at once with GitHub's errors, and sent only once."""
    client = rig.publish()
    actions = [{"label": f"a{i}", "description": "d", "identifier": f"i{i}"} for i in range(4)]
    with pytest.raises(ValidationFailed) as caught:
        await client.post(
            f"{REPO}/check-runs",
            data={
                "name": "self-improve",
                "head_sha": "1159c503e3a45c7754ff763834474f44631c7563",
                "actions": actions,
            },
        )
    assert caught.value.status == 422
    assert len(rig.calls(f"{REPO}/check-runs", "POST")) == 1
    assert rig.time.sleeps == []


async def test_forbidden_names_the_missing_permission(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    """Writing with a read-only token is a 403 whose error and log name the accepted permission."""
    client = rig.gather()
    caplog.set_level(logging.INFO, logger="app.github.client")
    with pytest.raises(Forbidden) as caught:
        await client.post(f"{ISSUE}/comments", data={"body": "hello"})
    assert caught.value.accepted_permissions is not None
    assert "issues" in caught.value.accepted_permissions
    assert any("accepts permissions" in r.getMessage() for r in caplog.records)
    assert len(rig.calls(f"{ISSUE}/comments", "POST")) == 1


# Limits. ----------------------------------------------------------------------------------------


async def test_at_most_eight_requests_in_flight_per_installation(rig_for: RigFactory) -> None:
    """Thirty concurrent reads never have more than eight requests open at once."""
    rig: Rig = await rig_for(latency_ms=40)
    client = rig.gather()
    await client.getitem(REPO)
    paths = [f"{ISSUE}/comments?page={n}" for n in range(30)]
    await asyncio.gather(*(client.getitem(p) for p in paths))
    assert rig.sent.peak == 8
    assert client.state.peak_in_flight == 8
    # GitHub's side agrees: with 40 ms per answer, no 40 ms window sees more than eight arrivals.
    times = sorted(r["time"] for r in rig.calls(f"{ISSUE}/comments"))
    assert max(sum(1 for t in times if s <= t < s + 0.035) for s in times) <= 8


async def test_mutations_run_one_at_a_time_with_spacing(rig_for: RigFactory) -> None:
    """Concurrent writes of one installation go one by one, a spacing apart (sleeps recorded)."""
    rig: Rig = await rig_for(spacing=1.0)
    client = rig.publish()
    await client.getitem(REPO)
    await asyncio.gather(
        *(client.post(f"{ISSUE}/comments", data={"body": f"c{n}"}) for n in range(3))
    )
    assert rig.time.sleeps == [1.0, 1.0]
    bodies = [w["body"]["body"] for w in rig.fake.writes() if w["path"] == f"{ISSUE}/comments"]
    assert sorted(bodies) == ["c0", "c1", "c2"]


# Pagination. ------------------------------------------------------------------------------------


async def test_paginate_fans_out_after_page_one_and_keeps_order(rig: Rig) -> None:
    """With Link naming the last page, pages 2..n are fetched at once and items come back in order."""
    writer = rig.publish()
    for n in range(9):
        await writer.post(f"{ISSUE}/comments", data={"body": f"extra {n}"})
    rig.fake.reset()
    client = rig.gather()
    page = await client.paginate(f"{ISSUE}/comments", per_page=2)
    expected = await client.getitem(f"{ISSUE}/comments?per_page=100")
    assert [c["id"] for c in page.items] == [c["id"] for c in expected]
    assert len(page.items) == 12 and page.truncated is False
    fetched = [r["query"].get("page") for r in rig.calls(f"{ISSUE}/comments")][:6]
    assert fetched[0] is None and sorted(fetched[1:]) == ["2", "3", "4", "5", "6"]


async def test_paginate_caps_pages_and_reports_truncation(rig: Rig) -> None:
    """Hitting max_pages stops fetching and sets truncated."""
    page = await rig.gather().paginate(f"{ISSUE}/comments", per_page=1, max_pages=2)
    assert len(page.items) == 2 and page.truncated is True
    assert len(rig.calls(f"{ISSUE}/comments")) == 2


async def test_paginate_wrapped_lists_use_items_key(rig: Rig) -> None:
    """Wrapped answers ({total_count, check_runs}) are unwrapped by items_key across pages."""
    sha = "1159c503e3a45c7754ff763834474f44631c7563"
    url = f"{REPO}/commits/{sha}/check-runs"
    whole = await rig.gather().getitem(url + "?per_page=100")
    page = await rig.gather().paginate(url, per_page=1, items_key="check_runs")
    assert [r["id"] for r in page.items] == [r["id"] for r in whole["check_runs"]]
    assert whole["total_count"] == len(page.items) > 1


async def test_paginate_refuses_a_wrapped_answer_without_items_key(rig: Rig) -> None:
    """An object where a list was expected fails with a message naming its keys."""
    sha = "1159c503e3a45c7754ff763834474f44631c7563"
    with pytest.raises(Exception, match=r"check_runs, total_count\); pass items_key"):
        await rig.gather().paginate(f"{REPO}/commits/{sha}/check-runs")


async def test_paginate_follows_cursor_links_one_by_one(rig: Rig) -> None:
    """A cursor-paginated list (no page numbers) is followed through `next`, capped by max_pages."""
    async with aiohttp.ClientSession() as control:
        for n in range(5):
            body = {"event": "ping", "payload": {"zen": str(n)}, "deliver": False}
            async with control.post(f"{rig.fake.url}/_fake/webhooks", json=body) as resp:
                assert resp.status == 200
    client = rig.apps.app_client()
    page = await client.paginate("/app/hook/deliveries", per_page=2)
    assert len(page.items) == 5 and page.truncated is False
    assert len({d["id"] for d in page.items}) == 5
    queries = [r["query"] for r in rig.calls("/app/hook/deliveries")]
    assert len(queries) == 3 and all("page" not in q for q in queries)
    capped = await client.paginate("/app/hook/deliveries", per_page=2, max_pages=2)
    assert len(capped.items) == 4 and capped.truncated is True


# Downloads. -------------------------------------------------------------------------------------


async def test_download_follows_the_redirect_without_authorization(rig: Rig) -> None:
    """A job log is fetched from the 302 Location at once, with no Authorization sent to that host."""
    log = await rig.gather().download(f"{REPO}/actions/jobs/{JOB_ID}/logs", max_bytes=10_000_000)
    assert log.truncated is False and log.data and log.size == len(log.data)
    blobs = [r for r in rig.fake.requests() if r["path"].startswith("/_blobs/")]
    assert [b["authorization"] for b in blobs] == ["none"]
    (api,) = rig.calls(f"{REPO}/actions/jobs/{JOB_ID}/logs")
    assert api["status"] == 302 and api["authorization"] == "token"
    sent_blob = [h for (_, path, h) in rig.sent.requests if path.startswith("/_blobs/")]
    assert all("Authorization" not in h for h in sent_blob)


async def test_download_caps_head_or_tail(rig: Rig) -> None:
    """A byte cap keeps the head by default, or the end with tail=True, and says it truncated."""
    client = rig.gather()
    url = f"{REPO}/actions/jobs/{JOB_ID}/logs"
    whole = await client.download(url, max_bytes=10_000_000)
    head = await client.download(url, max_bytes=100)
    tail = await client.download(url, max_bytes=100, tail=True)
    assert head.data == whole.data[:100] and head.truncated
    assert tail.data == whole.data[-100:] and tail.truncated and tail.size == len(whole.data)


async def test_download_artifact_zip_unzips(rig: Rig) -> None:
    """An artifact zip comes through intact."""
    blob = await rig.gather().download(
        f"{REPO}/actions/artifacts/{ARTIFACT_ID}/zip", max_bytes=50_000_000
    )
    names = zipfile.ZipFile(io.BytesIO(blob.data)).namelist()
    assert names


async def test_download_of_missing_log_is_not_found(rig: Rig) -> None:
    """A log that does not exist (or is past retention) raises NotFound."""
    with pytest.raises(NotFound):
        await rig.gather().download(f"{REPO}/actions/jobs/999/logs", max_bytes=1000)


async def test_download_retries_a_failed_blob_with_a_fresh_redirect(rig: Rig) -> None:
    """A 502 from the blob host asks GitHub for a new Location and tries again."""
    client = rig.gather()
    await client.getitem(REPO)
    rig.fake.set_faults([{"kind": "502", "route": "GET /_blobs/", "count": 1}])
    log = await client.download(f"{REPO}/actions/jobs/{JOB_ID}/logs", max_bytes=10_000_000)
    assert log.data
    assert len(rig.calls(f"{REPO}/actions/jobs/{JOB_ID}/logs")) == 2
    assert rig.time.sleeps == [1.0]


async def test_download_gives_up_when_the_blob_host_keeps_dropping(rig: Rig) -> None:
    """A blob host that never answers ends in ServerError (status 0) after three fresh redirects."""
    client = rig.gather()
    await client.getitem(REPO)
    rig.fake.set_faults([{"kind": "reset", "route": "GET /_blobs/"}])
    with pytest.raises(ServerError) as caught:
        await client.download(f"{REPO}/actions/jobs/{JOB_ID}/logs", max_bytes=1000)
    assert caught.value.status == 0
    assert "?" not in caught.value.url  # the signed query stays out of the error
    assert len(rig.calls(f"{REPO}/actions/jobs/{JOB_ID}/logs")) == 4
    assert rig.time.sleeps == [1.0, 2.0, 4.0]


def test_reprs_hold_no_secrets(app_key_pem: bytes) -> None:
    """Neither the factory nor a client shows key material or tokens in its repr."""
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]  # pydantic-settings init kwarg
        app_id=1,
        private_key=app_key_pem.decode(),
    )
    apps = GitHubApps(settings, SimpleNamespace())  # type: ignore[arg-type]  # no request is made
    client = apps.token_client("ghp_secret_value")
    text = repr(apps) + repr(client) + repr(apps.tokens) + repr(settings)
    assert "ghp_secret_value" not in text and "PRIVATE KEY" not in text
