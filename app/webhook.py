"""Webhook intake: verify the signature on the raw bytes, store the delivery, then answer; and the
router that later turns a stored delivery into jobs.

The acknowledgement path does no more than the signature check and one durable insert (group
committed), so GitHub's 10-second limit is never at risk and a routing bug cannot lose a delivery: the
raw body is kept, and the worker routes it (`route_delivery`) after the 202."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from typing import Any

from aiohttp import web

from app.policy import check_sender
from app.routing import Trigger, route
from app.store.base import Accepted, DeliveryIn, JobIn, Routing

log = logging.getLogger(__name__)

MAX_BODY = 25 * 1024 * 1024  # GitHub caps payloads at 25 MB; aiohttp's default limit is 1 MiB


def signature_for(secret: bytes, body: bytes) -> str:
    return "sha256=" + hmac.digest(secret, body, hashlib.sha256).hex()


def verify_signature(secret: bytes, body: bytes, header: str | None) -> bool:
    """`X-Hub-Signature-256` over the raw body, compared in constant time. The SHA-1 header never counts."""
    if not header or not header.startswith("sha256="):
        return False
    return hmac.compare_digest(signature_for(secret, body), header)


def job_for(trigger: Trigger, *, max_attempts: int) -> JobIn:
    return JobIn(
        kind=trigger.kind,
        idempotency_key=trigger.idempotency_key,
        target_key=trigger.target_key,
        payload=trigger.to_payload(),
        installation_id=trigger.installation_id,
        repository=trigger.repository,
        max_attempts=max_attempts,
        coalesce_key=trigger.coalesce_key,
    )


def route_delivery(
    event: str, body: str, *, app_id: int | None, app_slug: str | None, max_attempts: int
) -> Routing:
    """The jobs a stored delivery asks for (a `Router`: pure, run by the worker after the 202)."""
    try:
        payload: Any = json.loads(body)
    except json.JSONDecodeError as exc:
        return Routing(error=f"body is not valid JSON: {exc}")
    if not isinstance(payload, dict):
        return Routing(error=f"body must be a JSON object, not {type(payload).__name__}")
    triggers = route(event, payload, app_id=app_id, app_slug=app_slug)
    sender_type = (payload.get("sender") or {}).get("type")
    # Bots (this app included) never start a diagnosis or an approval: no work, no reply, no loops.
    # Their PRs still get the guardrails check, and installation events are always recorded.
    jobs = [
        job_for(t, max_attempts=max_attempts)
        for t in triggers
        if t.kind not in {"self_improve", "approve"}
        or check_sender(t, sender_type=sender_type, app_slug=app_slug) is None
    ]
    return Routing(
        action=payload.get("action"),
        installation_id=(payload.get("installation") or {}).get("id"),
        repository=(payload.get("repository") or {}).get("full_name"),
        jobs=jobs,
    )


# The intake's two answers, encoded once: each delivery otherwise pays for a JSON encoding of a constant.
_ACCEPTED = json.dumps({"status": "accepted"}).encode()
_DUPLICATE = json.dumps({"status": "duplicate"}).encode()


def _answer(body: bytes, status: int) -> web.Response:
    return web.Response(body=body, status=status, content_type="application/json")


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"message": message}, status=status)


async def receive_webhook(request: web.Request) -> web.Response:
    from app.deps import DEPS  # the app key lives with the composition root

    deps = request.app[DEPS]
    settings, metrics = deps.settings, deps.metrics
    body = await request.read()  # over MAX_BODY aiohttp answers 413 itself
    secret = settings.webhook_secret
    event = request.headers.get("X-GitHub-Event")
    if secret is None or not verify_signature(
        secret.get_secret_value().encode(), body, request.headers.get("X-Hub-Signature-256")
    ):
        metrics.deliveries.labels(event or "unknown", "bad_signature").inc()
        log.warning("webhook refused: missing or wrong X-Hub-Signature-256", extra={"event": event})
        return _error(401, "missing or invalid X-Hub-Signature-256")
    guid = request.headers.get("X-GitHub-Delivery")
    if not event or not guid:
        metrics.deliveries.labels(event or "unknown", "bad_request").inc()
        return _error(400, "X-GitHub-Event and X-GitHub-Delivery headers are required")
    hook = {
        "guid": guid,
        "event": event,
        "hook_id": request.headers.get("X-GitHub-Hook-ID"),
        "target_type": request.headers.get("X-GitHub-Hook-Installation-Target-Type"),
        "target_id": request.headers.get("X-GitHub-Hook-Installation-Target-ID"),
    }
    if settings.app_id is not None and hook["target_id"] not in (None, str(settings.app_id)):
        metrics.hook_target_mismatch.inc()
        log.warning("delivery for another hook target", extra=hook)
        if settings.reject_hook_target_mismatch:
            return _error(403, "X-GitHub-Hook-Installation-Target-ID is not this App")
    if event == "ping":
        metrics.deliveries.labels(event, "ping").inc()
        log.info("ping", extra=hook)
        return web.json_response({"ok": True})
    # Durable first, then the 202; the body is parsed and routed by the worker, off this path.
    delivery = DeliveryIn(guid=guid, event=event, hook_id=hook["hook_id"], payload=body)
    outcome = await deps.store.accept_delivery(delivery, now=deps.clock())
    if outcome is Accepted.DUPLICATE:
        metrics.deliveries.labels(event, "duplicate").inc()
        log.info("duplicate delivery: not queued again", extra=hook)
        return _answer(_DUPLICATE, 200)
    metrics.deliveries.labels(event, "accepted").inc()
    log.info("delivery accepted", extra={**hook, "redelivery": outcome is Accepted.RETRY})
    return _answer(_ACCEPTED, 202)
