"""Faults the GitHub double injects on demand over HTTP: seeded, scoped, and shaped as GitHub's."""

from __future__ import annotations

import time

import aiohttp
import pytest

from app.fake_github import FakeGitHub
from app.fake_github.testing import DoubleClient, FakeFactory

R = "/repos/acme/widgets"


async def _statuses(client: DoubleClient, count: int) -> list[int]:
    out = []
    for i in range(count):
        try:
            out.append((await client("GET", f"{R}/issues/12/comments?page={i % 3 + 1}")).status)
        except aiohttp.ClientError:
            out.append(0)
    return out


async def test_seeded_faults_repeat_exactly_over_http(
    fake_github: FakeGitHub, fake_github_client: DoubleClient
) -> None:
    """The same rules and seed give the same statuses for the same request sequence."""
    rules = [{"kind": "502", "rate": 0.25}, {"kind": "503", "rate": 0.25, "retry_after": 1}]
    fake_github.set_faults(rules, seed=11)
    first = await _statuses(fake_github_client, 30)
    fake_github.set_faults(rules, seed=11)
    again = await _statuses(fake_github_client, 30)
    assert first == again
    assert {200, 502, 503} <= set(first)
    fake_github.set_faults(rules, seed=12)
    assert await _statuses(fake_github_client, 30) != first


async def test_fault_rules_over_the_control_api(fake_github_client: DoubleClient) -> None:
    """POST /_fake/faults sets rules (and refuses bad ones with 400); an empty list clears them."""
    bad = await fake_github_client(
        "POST", "/_fake/faults", token=None, json={"rules": [{"kind": "boom"}]}
    )
    assert bad.status == 400
    assert "rules[0].kind" in bad.json()["message"]
    ok = await fake_github_client("POST", "/_fake/faults", token=None,
                                  json={"rules": [{"kind": "502", "route": f"GET {R}/issues/{{issue_number}}"}], "seed": 1})  # fmt: skip
    assert ok.status == 200
    assert (await fake_github_client("GET", f"{R}/issues/12")).status == 502
    assert (await fake_github_client("GET", f"{R}/issues/12/comments")).status == 200
    assert (await fake_github_client("GET", "/_fake/requests", token=None)).status == 200
    await fake_github_client("POST", "/_fake/faults", token=None, json={"rules": []})
    assert (await fake_github_client("GET", f"{R}/issues/12")).status == 200


async def test_reset_drops_the_connection(
    fake_github: FakeGitHub, fake_github_client: DoubleClient
) -> None:
    """A `reset` fault closes the TCP connection with no response; the log records status 0."""
    fake_github.set_faults([{"kind": "reset", "count": 1}])
    # a POST: aiohttp itself retries a GET once when the connection drops
    with pytest.raises(aiohttp.ClientError):
        await fake_github_client("POST", f"{R}/issues/12/comments", json={"body": "lost"})
    assert (await fake_github_client("GET", R)).status == 200
    assert [r["status"] for r in fake_github.requests()] == [0, 200]
    bodies = [
        c["body"] for c in (await fake_github_client("GET", f"{R}/issues/12/comments")).json()
    ]
    assert "lost" not in bodies


async def test_secondary_limit_is_403_with_retry_after(
    fake_github: FakeGitHub, fake_github_client: DoubleClient
) -> None:
    """A `secondary` fault answers 403 with Retry-After and GitHub's secondary-limit message."""
    fake_github.set_faults([{"kind": "secondary", "retry_after": 7, "count": 1}])
    reply = await fake_github_client("POST", f"{R}/issues/12/comments", json={"body": "x"})
    assert reply.status == 403
    assert reply.headers["Retry-After"] == "7"
    assert "secondary rate limit" in reply.json()["message"]


async def test_primary_limit_empties_the_bucket_until_reset(
    fake_github: FakeGitHub, fake_github_client: DoubleClient
) -> None:
    """A `primary` fault answers 403 with remaining 0 and a reset N s ahead; later calls stay limited."""
    fake_github.set_faults([{"kind": "primary", "reset_in": 120, "count": 1}])
    reply = await fake_github_client("GET", R)
    assert reply.status == 403
    assert reply.headers["x-ratelimit-remaining"] == "0"
    assert int(reply.headers["x-ratelimit-reset"]) >= int(time.time()) + 110
    assert (await fake_github_client("GET", R)).status == 403
    fake_github.advance_clock(121)
    assert (await fake_github_client("GET", R)).status == 200


async def test_slow_and_latency_delay_responses(fake_github_factory: FakeFactory) -> None:
    """`slow` delays matching requests by delay_ms; `latency_ms` delays every API response."""
    fake = fake_github_factory(latency_ms=50)
    fake.set_faults(
        [{"kind": "slow", "delay_ms": 150, "route": f"GET {R}/issues/{{issue_number}}"}]
    )
    async with aiohttp.ClientSession() as session:
        client = DoubleClient(session, fake.url, fake.installation_token())
        started = time.monotonic()
        assert (await client("GET", R)).status == 200
        plain = time.monotonic() - started
        started = time.monotonic()
        assert (await client("GET", f"{R}/issues/12")).status == 200
        slow = time.monotonic() - started
    assert plain >= 0.05
    assert slow >= 0.2


async def test_503_carries_retry_after(
    fake_github: FakeGitHub, fake_github_client: DoubleClient
) -> None:
    """A `503` fault answers Service Unavailable with the rule's Retry-After."""
    fake_github.set_faults([{"kind": "503", "retry_after": 3, "count": 1}])
    reply = await fake_github_client("GET", R)
    assert (reply.status, reply.headers["Retry-After"]) == (503, "3")
