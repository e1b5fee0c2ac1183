"""Webhooks from the GitHub double: signed deliveries, the App's delivery log, redelivery, emitted events."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import jwt
import pytest
from aiohttp import web

from app.fake_github import FakeGitHub
from app.fake_github.testing import DoubleClient, FakeFactory
from app.fake_github.webhooks import signature_256

R = "/repos/acme/widgets"
SECRET = "It's a Secret to Everybody"


@dataclass
class Receiver:
    """A tiny real webhook endpoint in its own thread; answers `status` and keeps what it got."""

    status: int = 202
    got: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    url: str = ""

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(body) for _, body in self.got]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    box = Receiver()
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    runner: list[web.AppRunner] = []

    async def handle(request: web.Request) -> web.Response:
        box.got.append((dict(request.headers), await request.read()))
        return web.Response(status=box.status, text="ok")

    async def start() -> None:
        app = web.Application()
        app.router.add_post("/webhook", handle)
        run = web.AppRunner(app, access_log=None)
        await run.setup()
        site = web.TCPSite(run, "127.0.0.1", 0)
        await site.start()
        runner.append(run)
        port = run.addresses[0][1]
        box.url = f"http://127.0.0.1:{port}/webhook"

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(start())
        ready.set()
        loop.run_forever()
        loop.run_until_complete(runner[0].cleanup())
        loop.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    ready.wait(10)
    yield box
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)


def _jwt(fake: FakeGitHub) -> dict[str, str]:
    return {"Authorization": f"Bearer {fake.app_jwt()}"}


async def _wait_for(receiver: Receiver, count: int) -> None:
    for _ in range(200):
        if len(receiver.got) >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"expected {count} deliveries, got {len(receiver.got)}")


def test_signature_matches_githubs_documented_vector() -> None:
    """The double signs exactly as GitHub's docs show for their test vector."""
    expected = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    assert signature_256(SECRET, b"Hello, World!") == expected


async def test_sent_webhook_is_signed_and_logged(
    fake_github_factory: FakeFactory, receiver: Receiver
) -> None:
    """send_webhook POSTs with GitHub's headers and a verifiable signature; the log says OK."""
    fake = fake_github_factory(webhook_url=receiver.url, webhook_secret=SECRET)
    payload = {
        "action": "labeled",
        "issue": {"number": 12},
        "installation": {"id": 42},
        "repository": {"id": 7},
    }
    delivery = await asyncio.to_thread(fake.send_webhook, "issues", payload, "guid-1")
    headers, body = receiver.got[0]
    expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["X-Hub-Signature-256"], expected)
    assert json.loads(body) == payload
    assert headers["X-GitHub-Event"] == "issues"
    assert headers["X-GitHub-Delivery"] == "guid-1"
    assert headers["X-GitHub-Hook-Installation-Target-Type"] == "integration"
    assert headers["X-GitHub-Hook-Installation-Target-ID"] == str(fake.app_id)
    assert headers["User-Agent"].startswith("GitHub-Hookshot/")
    assert "X-GitHub-Hook-ID" in headers
    assert (delivery["status"], delivery["status_code"], delivery["guid"]) == ("OK", 202, "guid-1")
    assert (delivery["event"], delivery["action"], delivery["installation_id"], delivery["repository_id"]) == (
        "issues", "labeled", 42, 7,
    )  # fmt: skip


async def test_delivery_log_pages_newest_first_and_redelivers(
    fake_github_factory: FakeFactory, receiver: Receiver
) -> None:
    """GET /app/hook/deliveries pages by cursor, newest first; an attempt re-sends the same GUID."""
    fake = fake_github_factory(webhook_url=receiver.url, webhook_secret=SECRET)
    receiver.status = 500
    failed = await asyncio.to_thread(fake.send_webhook, "issues", {"action": "opened"}, "g-a")
    assert (failed["status"], failed["status_code"]) == ("Invalid HTTP Response: 500", 500)
    receiver.status = 200
    for guid in ("g-b", "g-c"):
        await asyncio.to_thread(fake.send_webhook, "issues", {"action": "opened"}, guid)
    async with aiohttp.ClientSession() as session:
        client = DoubleClient(session, fake.url, None)
        first = await client("GET", "/app/hook/deliveries?per_page=2", headers=_jwt(fake))
        assert [d["guid"] for d in first.json()] == ["g-c", "g-b"]
        next_url = first.headers["Link"].split(">")[0].lstrip("<")
        assert 'rel="next"' in first.headers["Link"]
        second = await client("GET", next_url, headers=_jwt(fake))
        assert [d["guid"] for d in second.json()] == ["g-a"]
        assert "Link" not in second.headers
        attempt = await client(
            "POST", f"/app/hook/deliveries/{failed['id']}/attempts", headers=_jwt(fake)
        )
        assert attempt.status == 202
        latest = (
            await client("GET", "/app/hook/deliveries?per_page=1", headers=_jwt(fake))
        ).json()[0]
        detail = (
            await client("GET", f"/app/hook/deliveries/{latest['id']}", headers=_jwt(fake))
        ).json()
        token_refused = await client("GET", "/app/hook/deliveries", token=fake.installation_token())
    assert (latest["guid"], latest["redelivery"], latest["status"]) == ("g-a", True, "OK")
    assert receiver.got[-1][0]["X-GitHub-Delivery"] == "g-a"
    assert detail["request"]["payload"] == {"action": "opened"}
    assert token_refused.status == 401


async def test_control_webhook_without_delivery_records_a_failure(
    fake_github: FakeGitHub, fake_github_client: DoubleClient
) -> None:
    """`deliver: false` logs a failed delivery without sending, for recovery tests."""
    reply = await fake_github_client("POST", "/_fake/webhooks", token=None,
                                     json={"event": "issue_comment", "payload": {"action": "created"}, "deliver": False})  # fmt: skip
    assert reply.status == 200
    assert reply.json()["status"] != "OK"
    assert [d["guid"] for d in fake_github.deliveries()] == [reply.json()["guid"]]
    no_url = await fake_github_client("POST", "/_fake/webhooks", token=None,
                                      json={"event": "issues", "payload": {}})  # fmt: skip
    assert no_url.status == 409


async def test_control_webhook_sends_when_configured(
    fake_github: FakeGitHub, fake_github_client: DoubleClient, receiver: Receiver
) -> None:
    """POST /_fake/config sets the receiver; POST /_fake/webhooks then delivers, signed."""
    config = await fake_github_client("POST", "/_fake/config", token=None,
                                      json={"webhook_url": receiver.url, "webhook_secret": SECRET})  # fmt: skip
    assert config.status == 200
    assert "It's a Secret" not in json.dumps(config.json())
    sent = await fake_github_client("POST", "/_fake/webhooks", token=None,
                                    json={"event": "ping", "payload": {"zen": "Keep it logically awesome."}, "guid": "p-1"})  # fmt: skip
    assert sent.json()["status"] == "OK"
    assert receiver.got[0][0]["X-GitHub-Delivery"] == "p-1"
    bad = await fake_github_client("POST", "/_fake/config", token=None, json={"token_ttl": "soon"})
    assert bad.status == 400


async def test_writes_emit_events_when_asked(
    fake_github_factory: FakeFactory, receiver: Receiver
) -> None:
    """With emit_events on, a new PR, a push to its branch and a new comment send their webhooks."""
    fake = fake_github_factory(webhook_url=receiver.url, webhook_secret=SECRET, emit_events=True)
    async with aiohttp.ClientSession() as session:
        client = DoubleClient(session, fake.url, fake.installation_token())
        head = (await client("GET", f"{R}/git/ref/heads/main")).json()["object"]["sha"]
        tree = (await client("GET", f"{R}/git/commits/{head}")).json()["tree"]["sha"]

        async def commit(parent: str, text: str) -> str:
            new_tree = (await client("POST", f"{R}/git/trees", json={"base_tree": tree,
                        "tree": [{"path": "AGENTS.md", "mode": "100644", "content": text}]})).json()  # fmt: skip
            return str((await client("POST", f"{R}/git/commits",
                                     json={"message": "m", "tree": new_tree["sha"], "parents": [parent]})).json()["sha"])  # fmt: skip

        first = await commit(head, "one")
        await client("POST", f"{R}/git/refs", json={"ref": "refs/heads/si", "sha": first})
        await client("POST", f"{R}/pulls", json={"title": "t", "head": "si", "base": "main"})
        second = await commit(first, "two")
        await client("PATCH", f"{R}/git/refs/heads/si", json={"sha": second})
        await client("POST", f"{R}/issues/12/comments", json={"body": "hello"})
    await _wait_for(receiver, 3)
    # GitHub does not promise delivery order, and the double's outbox sends concurrently.
    by_kind = {
        (h["X-GitHub-Event"], json.loads(b)["action"]): json.loads(b) for h, b in receiver.got
    }
    assert sorted(by_kind) == [
        ("issue_comment", "created"),
        ("pull_request", "opened"),
        ("pull_request", "synchronize"),
    ]
    sync = by_kind[("pull_request", "synchronize")]
    assert (sync["before"], sync["after"], sync["number"]) == (first, second, 14)
    comment = by_kind[("issue_comment", "created")]
    assert comment["comment"]["body"] == "hello"
    assert comment["installation"]["id"] == fake.installation_id
    assert comment["sender"]["type"] == "Bot"


async def test_manifest_code_converts_once_into_a_working_app(
    fake_github: FakeGitHub, fake_github_client: DoubleClient
) -> None:
    """A registered manifest code converts once (201 with pem, secrets); then 404; the pem signs JWTs."""
    registered = await fake_github_client("POST", "/_fake/manifest-codes", token=None,
                                          json={"code": "abc123", "manifest": {"name": "Self Improve",
                                                "default_permissions": {"issues": "write", "checks": "write"}}})  # fmt: skip
    assert registered.status == 201
    converted = await fake_github_client("POST", "/app-manifests/abc123/conversions", token=None)
    assert converted.status == 201
    app = converted.json()
    assert {"id", "slug", "pem", "webhook_secret", "client_id", "client_secret"} <= set(app)
    assert app["slug"] == "self-improve"
    assert app["permissions"] == {"issues": "write", "checks": "write"}
    assert (
        await fake_github_client("POST", "/app-manifests/abc123/conversions", token=None)
    ).status == 404
    now = int(time.time())
    token = jwt.encode(
        {"iat": now - 60, "exp": now + 500, "iss": str(app["id"])}, app["pem"], algorithm="RS256"
    )
    me = await fake_github_client(
        "GET", "/app", token=None, headers={"Authorization": f"Bearer {token}"}
    )
    assert (me.status, me.json()["client_id"]) == (200, app["client_id"])


async def test_unreachable_receiver_is_a_failed_delivery(fake_github_factory: FakeFactory) -> None:
    """A receiver nobody listens on is logged as "failed to connect to host", status code 0."""
    fake = fake_github_factory(webhook_url="http://127.0.0.1:9/nowhere", webhook_secret=SECRET)
    delivery = await asyncio.to_thread(fake.send_webhook, "issues", {"action": "opened"})
    assert (delivery["status"], delivery["status_code"]) == ("failed to connect to host", 0)
    assert fake.deliveries() == [delivery]
