"""Webhook intake: verify the signature on the raw bytes, store the delivery with its jobs, then answer."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import logging
from typing import Any

from aiohttp import web

from app.policy import check_sender
from app.routing import Trigger, route
from app.store.base import Accepted, DeliveryIn, JobIn

log = logging.getLogger(__name__)

MAX_BODY = 25 * 1024 * 1024  # GitHub caps payloads at 25 MB; aiohttp's default limit is 1 MiB


def signature_for(secret: bytes, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def verify_signature(secret: bytes, body: bytes, header: str | None) -> bool:
    """`X-Hub-Signature-256` over the raw body, compared in constant time. The SHA-1 header never counts."""
    if not header or not header.startswith("sha256="):
        return False
    return hmac.compare_digest(signature_for(secret, body), header)


def job_for(trigger: Trigger, *, max_attempts: int) -> JobIn:
    payload = dataclasses.asdict(trigger)
    payload["role"] = trigger.role.value
    return JobIn(
        kind=trigger.kind,
        idempotency_key=trigger.idempotency_key,
        target_key=trigger.target_key,
        payload=payload,
        installation_id=trigger.installation_id,
        repository=trigger.repository,
        max_attempts=max_attempts,
        coalesce_key=trigger.coalesce_key,
    )


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
    try:
        payload: Any = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        metrics.deliveries.labels(event, "bad_request").inc()
        return _error(400, f"body is not valid JSON: {exc}")
    if not isinstance(payload, dict):
        metrics.deliveries.labels(event, "bad_request").inc()
        return _error(400, "body must be a JSON object")

    hook = {
        "guid": guid,
        "event": event,
        "action": payload.get("action"),
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

    triggers = route(event, payload, app_id=settings.app_id, app_slug=deps.app_slug)
    sender_type = (payload.get("sender") or {}).get("type")
    # Bots (this app included) never start a diagnosis or an approval: no work, no reply, no loops.
    # Their PRs still get the guardrails check, and installation events are always recorded.
    triggers = [
        t
        for t in triggers
        if t.kind not in {"self_improve", "approve"}
        or check_sender(t, sender_type=sender_type, app_slug=deps.app_slug) is None
    ]
    delivery = DeliveryIn(
        guid=guid,
        event=event,
        action=payload.get("action"),
        installation_id=(payload.get("installation") or {}).get("id"),
        repository=(payload.get("repository") or {}).get("full_name"),
        hook_id=hook["hook_id"],
        payload=body,
    )
    jobs = [job_for(t, max_attempts=settings.job_max_attempts) for t in triggers]
    result = await deps.store.accept_delivery(delivery, jobs, now=deps.clock())
    if result.outcome is Accepted.DUPLICATE:
        metrics.deliveries.labels(event, "duplicate").inc()
        log.info("duplicate delivery: not queued again", extra=hook)
        return web.json_response({"status": "duplicate"}, status=200)
    outcome = "queued" if jobs else "ignored"
    metrics.deliveries.labels(event, outcome).inc()
    log.info(
        f"delivery {outcome}",
        extra={**hook, "jobs_queued": result.jobs_queued, "jobs_coalesced": result.jobs_coalesced},
    )
    return web.json_response(
        {
            "status": outcome,
            "jobs_queued": result.jobs_queued,
            "jobs_coalesced": result.jobs_coalesced,
        },
        status=202,
    )
