"""Webhooks the double sends: after writes (if asked), from the control API, as redeliveries."""

from __future__ import annotations

import asyncio

import aiohttp

from app.fake_github.identity import iso, node_id
from app.fake_github.runtime import Json, Runtime
from app.fake_github.webhooks import (
    Delivery,
    Outcome,
    delivery_headers,
    encode_payload,
    new_guid,
    post,
)


def _with_context(rt: Runtime, payload: Json) -> Json:
    full = dict(payload)
    full.setdefault("repository", rt.world.repo)
    full.setdefault(
        "installation",
        {
            "id": rt.app.installation_id,
            "node_id": node_id("MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9u", rt.app.installation_id),
        },
    )
    full.setdefault("sender", rt.world.bot())
    return full


def emit(rt: Runtime, event: str, payload: Json) -> None:
    """Send an event the way GitHub does after a write: in the background, logged as a delivery."""
    if not rt.config.webhook_url:
        return
    task = asyncio.get_running_loop().create_task(deliver(rt, event, _with_context(rt, payload)))
    rt.pending.add(task)
    task.add_done_callback(rt.pending.discard)


async def deliver(
    rt: Runtime,
    event: str,
    payload: Json,
    *,
    guid: str | None = None,
    redelivery: bool = False,
    send: bool = True,
) -> Delivery:
    guid = guid or new_guid()
    body = encode_payload(payload)
    headers = delivery_headers(
        event=event, guid=guid, body=body, secret=rt.config.webhook_secret, app_id=rt.app.id
    )
    url = rt.config.webhook_url
    if not send:
        outcome = Outcome("failed to connect to host", 0, 0.0)
    elif url is None:
        outcome = Outcome("No webhook URL configured", 0, 0.0)
    else:
        if rt.session is None:
            rt.session = aiohttp.ClientSession()
        outcome = await post(rt.session, url, headers, body)
    repository = payload.get("repository") if isinstance(payload.get("repository"), dict) else {}
    installation = (
        payload.get("installation") if isinstance(payload.get("installation"), dict) else {}
    )
    delivery = Delivery(
        id=rt.hooks.new_id(),
        guid=guid,
        delivered_at=iso(rt.now()),
        redelivery=redelivery,
        event=event,
        action=payload.get("action") if isinstance(payload.get("action"), str) else None,
        installation_id=(installation or {}).get("id"),
        repository_id=(repository or {}).get("id"),
        url=url,
        request_headers=headers,
        payload=payload,
        outcome=outcome,
    )
    rt.hooks.add(delivery)
    return delivery
