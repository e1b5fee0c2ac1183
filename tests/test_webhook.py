"""Webhook intake over real HTTP on 127.0.0.1: signature first, store then acknowledge, dedup by GUID;
then the worker's routing of what was stored."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from app.deps import Deps, build_deps
from app.server import make_app
from app.settings import load_settings
from app.store.base import DeliveryState
from app.webhook import signature_for, verify_signature
from app.worker import Worker

SECRET = "webhook-secret-for-tests"
WEBHOOKS = Path(__file__).parent / "fixtures" / "webhooks"


def test_github_published_test_vector() -> None:
    """GitHub's documented vector: secret and payload give the published sha256 signature."""
    expected = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    assert signature_for(b"It's a Secret to Everybody", b"Hello, World!") == expected
    assert verify_signature(b"It's a Secret to Everybody", b"Hello, World!", expected)
    assert not verify_signature(b"It's a Secret to Everybody", b"Hello, World!!", expected)
    assert not verify_signature(b"other", b"Hello, World!", expected)
    assert not verify_signature(b"It's a Secret to Everybody", b"Hello, World!", None)
    assert not verify_signature(b"x", b"Hello", "sha1=0a0b")


class Intake:
    def __init__(self, deps: Deps, url: str, session: aiohttp.ClientSession) -> None:
        self.deps, self.url, self.session = deps, url, session

    async def post(
        self,
        event: str | None,
        body: bytes,
        *,
        guid: str | None = None,
        signature: str | None = "auto",
        extra: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        headers = {"Content-Type": "application/json"}
        if event is not None:
            headers["X-GitHub-Event"] = event
        if guid != "":
            headers["X-GitHub-Delivery"] = guid or str(uuid.uuid4())
        if signature == "auto":
            headers["X-Hub-Signature-256"] = signature_for(SECRET.encode(), body)
        elif signature is not None:
            headers["X-Hub-Signature-256"] = signature
        headers.update(extra or {})
        async with self.session.post(
            self.url + "/api/github/webhooks", data=body, headers=headers
        ) as r:
            text = await r.text()
            return r.status, (json.loads(text) if text.startswith("{") else text)

    async def route(self) -> int:
        """What the worker does next: route the stored deliveries into jobs."""
        return await Worker(self.deps, {}).route_deliveries()


@pytest.fixture
async def intake(tmp_path: Path, unused_tcp_port: int) -> AsyncIterator[Intake]:
    settings = load_settings(
        None, webhook_secret=SECRET, database_url=f"sqlite:///{tmp_path}/app.db", app_id=2
    )
    async with build_deps(settings) as deps:
        runner = web.AppRunner(make_app(deps))
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", unused_tcp_port).start()
        async with aiohttp.ClientSession() as session:
            yield Intake(deps, f"http://127.0.0.1:{unused_tcp_port}", session)
        await runner.cleanup()


def labeled(label: str = "run:self-improve") -> bytes:
    data = json.loads((WEBHOOKS / "issues" / "labeled.json").read_text())
    data["label"]["name"] = label
    return json.dumps(data).encode()


async def test_signed_trigger_is_stored_then_acknowledged_then_routed(intake: Intake) -> None:
    """The delivery is in the store by the time 202 arrives; routing then queues its job."""
    status, body = await intake.post("issues", labeled(), guid="g-1")
    assert (status, body) == (202, {"status": "accepted"})
    stored = await intake.deps.store.get_delivery("g-1")
    assert stored is not None and stored.state is DeliveryState.PENDING
    assert await intake.deps.store.pending_deliveries() == 1
    assert (await intake.deps.store.job_counts())["queued"] == 0
    assert await intake.route() == 1
    routed = await intake.deps.store.get_delivery("g-1")
    assert routed is not None and routed.state is DeliveryState.RECEIVED
    assert (routed.action, routed.repository) == ("labeled", "Codertocat/Hello-World")
    assert await intake.deps.store.pending_deliveries() == 0
    assert (await intake.deps.store.job_counts())["queued"] == 1
    assert await intake.route() == 0


@pytest.mark.parametrize(
    "signature",
    [None, "sha256=" + "0" * 64, "sha256=", "garbage"],
    ids=["missing", "wrong", "empty", "malformed"],
)
async def test_bad_signature_is_401_and_nothing_stored(
    intake: Intake, signature: str | None
) -> None:
    """No signature or a wrong one: 401 and no trace in the store."""
    status, _ = await intake.post("issues", labeled(), guid="g-bad", signature=signature)
    assert status == 401
    assert await intake.deps.store.get_delivery("g-bad") is None


async def test_sha1_header_alone_is_refused(intake: Intake) -> None:
    """The legacy X-Hub-Signature (SHA-1) is never accepted."""
    import hashlib
    import hmac

    body = labeled()
    sha1 = "sha1=" + hmac.new(SECRET.encode(), body, hashlib.sha1).hexdigest()
    status, _ = await intake.post("issues", body, signature=None, extra={"X-Hub-Signature": sha1})
    assert status == 401


@pytest.mark.parametrize(("event", "guid"), [(None, None), ("issues", "")], ids=["event", "guid"])
async def test_signed_without_a_required_header_is_400(
    intake: Intake, event: str | None, guid: str | None
) -> None:
    """Signed, but without X-GitHub-Event or X-GitHub-Delivery: 400 with the reason, nothing stored."""
    status, reply = await intake.post(event, b"{}", guid=guid)
    assert status == 400
    assert "X-GitHub-Event and X-GitHub-Delivery" in reply["message"]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "body is not valid JSON"),
        (b"[1, 2]", "body must be a JSON object, not list"),
        (b"\xff\xfe", "body is not valid JSON"),
    ],
    ids=["malformed", "array", "not-utf8"],
)
async def test_signed_but_unreadable_body_is_kept_and_fails_routing(
    intake: Intake, body: bytes, reason: str
) -> None:
    """A signed body that is not a JSON object is acknowledged and kept (the intake never parses),
    then fails in routing with the reason on the delivery; the deliveries behind it still route."""
    status, _ = await intake.post("issues", body, guid="g-bad-body")
    await intake.post("issues", labeled(), guid="g-after")
    assert status == 202
    assert await intake.route() == 2
    failed = await intake.deps.store.get_delivery("g-bad-body")
    assert failed is not None and failed.state is DeliveryState.FAILED
    assert failed.error is not None and failed.error.startswith(reason)
    after = await intake.deps.store.get_delivery("g-after")
    assert after is not None and after.state is DeliveryState.RECEIVED


async def test_get_is_405(intake: Intake) -> None:
    """The webhook path takes POST only."""
    async with intake.session.get(intake.url + "/api/github/webhooks") as r:
        assert r.status == 405


async def test_ping_is_200(intake: Intake) -> None:
    """`ping` is answered 200."""
    body = (WEBHOOKS / "ping" / "with-app_id.json").read_bytes()
    status, reply = await intake.post("ping", body)
    assert (status, reply) == (200, {"ok": True})


async def test_unknown_event_is_202_and_nothing_queued(intake: Intake) -> None:
    """Events and actions we do not handle: 202, then routed to nothing and kept as ignored."""
    status, _ = await intake.post("issues", labeled("bug"), guid="g-bug")
    assert status == 202
    body = json.dumps({"action": "frobnicated", "repository": {"full_name": "a/b"}}).encode()
    status, _ = await intake.post("star", body, guid="g-star")
    assert status == 202
    assert await intake.route() == 2
    for guid in ("g-bug", "g-star"):
        stored = await intake.deps.store.get_delivery(guid)
        assert stored is not None and stored.state is DeliveryState.IGNORED
    assert (await intake.deps.store.job_counts())["queued"] == 0


async def test_redelivery_of_a_guid_is_not_queued_again(intake: Intake) -> None:
    """The same GUID twice: the second answer is 2xx and queues nothing."""
    first, _ = await intake.post("issues", labeled(), guid="g-dup")
    second, reply = await intake.post("issues", labeled(), guid="g-dup")
    assert (first, second, reply["status"]) == (202, 200, "duplicate")
    assert await intake.route() == 1
    third, _ = await intake.post("issues", labeled(), guid="g-dup")
    assert third == 200
    assert await intake.route() == 0
    assert (await intake.deps.store.job_counts())["queued"] == 1


# The test client warns about sending large raw bytes; that is the client's concern, not the server's.
@pytest.mark.filterwarnings("ignore:Sending a large body:ResourceWarning")
async def test_large_payload_accepted_and_oversized_is_413(intake: Intake) -> None:
    """A 5 MB signed payload is accepted (aiohttp's 1 MiB default is raised); over 25 MiB is 413."""
    data = json.loads(labeled())
    data["issue"]["body"] = "x" * (5 * 1024 * 1024)
    status, _ = await intake.post("issues", json.dumps(data).encode())
    assert status == 202
    status, _ = await intake.post("issues", b"{" + b" " * (25 * 1024 * 1024 + 10) + b"}")
    assert status == 413


async def test_bot_comments_never_queue_work(intake: Intake) -> None:
    """A command posted by a bot (this app included) queues nothing."""
    data = json.loads((WEBHOOKS / "issue_comment" / "created.json").read_text())
    data["comment"]["body"] = "/self-improve"
    data["sender"].update(login="self-improve[bot]", type="Bot")
    status, _ = await intake.post("issue_comment", json.dumps(data).encode(), guid="g-bot")
    assert status == 202
    assert await intake.route() == 1
    stored = await intake.deps.store.get_delivery("g-bot")
    assert stored is not None and stored.state is DeliveryState.IGNORED
    assert (await intake.deps.store.job_counts())["queued"] == 0


async def test_health_ready_and_metrics(intake: Intake) -> None:
    """healthz answers, readyz checks the store, metrics count deliveries by event and outcome (at
    intake, then at routing) and show the routing backlog."""
    await intake.post("issues", labeled(), guid="g-m")
    await intake.post("issues", labeled(), guid="g-m")
    await intake.post("issues", labeled(), signature=None)
    async with intake.session.get(intake.url + "/healthz") as r:
        assert r.status == 200
    async with intake.session.get(intake.url + "/readyz") as r:
        assert r.status == 200

    async def scrape() -> str:
        async with intake.session.get(intake.url + "/metrics") as r:
            return await r.text()

    text = await scrape()
    assert 'self_improve_webhook_deliveries_total{event="issues",outcome="accepted"} 1.0' in text
    assert 'self_improve_webhook_deliveries_total{event="issues",outcome="duplicate"} 1.0' in text
    assert (
        'self_improve_webhook_deliveries_total{event="issues",outcome="bad_signature"} 1.0' in text
    )
    assert "self_improve_deliveries_pending 1.0" in text
    await intake.route()
    text = await scrape()
    assert 'self_improve_webhook_deliveries_total{event="issues",outcome="queued"} 1.0' in text
    assert "self_improve_deliveries_pending 0.0" in text
    assert 'self_improve_jobs{state="queued"} 1.0' in text


async def test_readyz_fails_when_the_store_is_gone(intake: Intake) -> None:
    """readyz says 503 when the store cannot be reached."""
    await intake.deps.store.close()
    async with intake.session.get(intake.url + "/readyz") as r:
        assert r.status == 503
    await intake.deps.store.open()
