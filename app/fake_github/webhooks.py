"""Webhook deliveries as GitHub makes them: signed POSTs, the App's delivery log, redelivery."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from app.fake_github.errors import ApiError

Json = dict[str, Any]

HOOK_ID = 9_876_543
USER_AGENT = "GitHub-Hookshot/fake"
DELIVERY_TIMEOUT = 10.0  # GitHub gives up on a receiver after 10 s (docs: best practices)


def signature_256(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_1(secret: str, body: bytes) -> str:
    return "sha1=" + hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()


def delivery_headers(
    *, event: str, guid: str, body: bytes, secret: str | None, app_id: int
) -> dict[str, str]:
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": guid,
        "X-GitHub-Hook-ID": str(HOOK_ID),
        "X-GitHub-Hook-Installation-Target-Type": "integration",
        "X-GitHub-Hook-Installation-Target-ID": str(app_id),
    }
    if secret:
        headers["X-Hub-Signature"] = signature_1(secret, body)
        headers["X-Hub-Signature-256"] = signature_256(secret, body)
    return headers


def encode_payload(payload: Json) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


@dataclass(frozen=True)
class Outcome:
    status: str
    status_code: int
    duration: float
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""


@dataclass(frozen=True)
class Delivery:
    """One attempt to deliver one event, as `GET /app/hook/deliveries/{id}` shows it."""

    id: int
    guid: str
    delivered_at: str
    redelivery: bool
    event: str
    action: str | None
    installation_id: int | None
    repository_id: int | None
    url: str | None
    request_headers: dict[str, str]
    payload: Json
    outcome: Outcome

    def summary(self) -> Json:
        return {
            "id": self.id,
            "guid": self.guid,
            "delivered_at": self.delivered_at,
            "redelivery": self.redelivery,
            "duration": round(self.outcome.duration, 3),
            "status": self.outcome.status,
            "status_code": self.outcome.status_code,
            "event": self.event,
            "action": self.action,
            "installation_id": self.installation_id,
            "repository_id": self.repository_id,
            "throttled_at": None,
        }

    def detail(self) -> Json:
        return {
            **self.summary(),
            "url": self.url or "",
            "request": {"headers": self.request_headers, "payload": self.payload},
            "response": {"headers": self.outcome.headers, "payload": self.outcome.body},
        }


@dataclass
class HookLog:
    """The App's delivery log: newest first, cursor-paginated like `GET /app/hook/deliveries`."""

    deliveries: list[Delivery] = field(default_factory=list)
    next_id: int = 12_000_000_000

    def add(self, delivery: Delivery) -> None:
        self.deliveries.append(delivery)

    def new_id(self) -> int:
        self.next_id += 1
        return self.next_id

    def get(self, delivery_id: int) -> Delivery:
        for delivery in self.deliveries:
            if delivery.id == delivery_id:
                return delivery
        raise ApiError(404, "Not Found")

    def page(self, per_page: int, cursor: str | None) -> tuple[list[Delivery], str | None]:
        newest_first = sorted(self.deliveries, key=lambda d: d.id, reverse=True)
        if cursor:
            try:
                below = int(cursor.removeprefix("v1_"))
            except ValueError:
                raise ApiError(422, f"Invalid cursor: {cursor}") from None
            newest_first = [d for d in newest_first if d.id < below]
        page = newest_first[:per_page]
        more = len(newest_first) > per_page
        return page, (f"v1_{page[-1].id}" if more and page else None)


def new_guid() -> str:
    return str(uuid.uuid4())


async def post(
    session: aiohttp.ClientSession, url: str, headers: dict[str, str], body: bytes
) -> Outcome:
    """Send one delivery and describe the result in the words GitHub's delivery log uses."""
    started = time.monotonic()
    try:
        async with session.post(
            url, data=body, headers=headers, timeout=aiohttp.ClientTimeout(total=DELIVERY_TIMEOUT)
        ) as response:
            text = await response.text(errors="replace")
            duration = time.monotonic() - started
            ok = 200 <= response.status < 300
            return Outcome(
                status="OK" if ok else f"Invalid HTTP Response: {response.status}",
                status_code=response.status,
                duration=duration,
                headers={k: v for k, v in response.headers.items()},
                body=text[:10_000],
            )
    except TimeoutError:
        return Outcome("timed out", 0, time.monotonic() - started)
    except (aiohttp.ClientError, OSError):
        return Outcome("failed to connect to host", 0, time.monotonic() - started)
