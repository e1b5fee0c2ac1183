"""The double's own API under /_fake/ (no auth) and its blob host under /_blobs/."""

from __future__ import annotations

import secrets

from aiohttp import web

from app.fake_github.faults import FaultPlan, FaultRuleError, parse_rules
from app.fake_github.outbox import deliver
from app.fake_github.runtime import Call, Reply, Route, json_response


async def serve_blob(call: Call) -> Reply:
    blob = call.rt.blobs.get(call.params["key"])
    if blob is None:
        return web.Response(status=404, text="BlobNotFound", content_type="text/plain")
    if blob.expires_at <= call.rt.now():
        return web.Response(
            status=403,
            text="AuthenticationFailed: Signed expiry time has passed",
            content_type="text/plain",
        )
    response = web.Response(body=blob.data, headers={"Content-Type": blob.content_type})
    if blob.filename:
        response.headers["Content-Disposition"] = f"attachment; filename={blob.filename}"
    return response


# --- control API ----------------------------------------------------------------------------------
async def control_requests(call: Call) -> Reply:
    return json_response(list(call.rt.requests))


async def control_writes(call: Call) -> Reply:
    return json_response(list(call.rt.writes))


async def control_reset(call: Call) -> Reply:
    body = call.body if isinstance(call.body, dict) else {}
    call.rt.requests.clear()
    call.rt.writes.clear()
    if body.get("state"):
        call.rt.reload()
    return json_response({"ok": True})


async def control_faults(call: Call) -> Reply:
    body = call.body if isinstance(call.body, dict) else {}
    try:
        rules = parse_rules(body.get("rules", []))
    except FaultRuleError as exc:
        return json_response({"message": str(exc)}, status=400)
    seed = body.get("seed", 0)
    if not isinstance(seed, int):
        return json_response({"message": f"seed: {seed!r} is not an integer"}, status=400)
    call.rt.faults = FaultPlan(rules=rules, seed=seed)
    return json_response({"rules": len(rules), "seed": seed})


async def control_webhooks(call: Call) -> Reply:
    body = call.body if isinstance(call.body, dict) else {}
    event, payload = body.get("event"), body.get("payload")
    if not isinstance(event, str) or not isinstance(payload, dict):
        return json_response(
            {"message": "expected {event: str, payload: object, guid?: str}"}, status=400
        )
    send = bool(body.get("deliver", True))
    if send and not call.rt.config.webhook_url:
        return json_response(
            {"message": "no webhook_url configured (POST /_fake/config)"}, status=409
        )
    guid = body.get("guid") if isinstance(body.get("guid"), str) else None
    delivery = await deliver(call.rt, event, payload, guid=guid, send=send)
    return json_response(delivery.summary())


async def control_manifest_codes(call: Call) -> Reply:
    body = call.body if isinstance(call.body, dict) else {}
    code = body.get("code") if isinstance(body.get("code"), str) else secrets.token_hex(10)
    call.rt.manifest_codes[str(code)] = body
    return json_response({"code": code}, status=201)


CONFIG_FIELDS: dict[str, tuple[type, ...]] = {
    "webhook_url": (str, type(None)),
    "webhook_secret": (str, type(None)),
    "token_ttl": (int, float),
    "rate_limit": (int,),
    "emit_events": (bool,),
    "latency_ms": (int,),
}


async def control_config(call: Call) -> Reply:
    body = call.body if isinstance(call.body, dict) else {}
    for key, value in body.items():
        kinds = CONFIG_FIELDS.get(key)
        if kinds is None:
            return json_response(
                {"message": f"{key}: unknown setting; known: {sorted(CONFIG_FIELDS)}"}, status=400
            )
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            return json_response({"message": f"{key}: {value!r} has the wrong type"}, status=400)
    for key, value in body.items():
        setattr(call.rt.config, key, value)
    if "rate_limit" in body:
        call.rt.limits.limit = int(body["rate_limit"])
        call.rt.limits.buckets.clear()
    config = call.rt.config
    return json_response(
        {
            "webhook_url": config.webhook_url,
            "webhook_secret_set": config.webhook_secret is not None,
            "token_ttl": config.token_ttl,
            "rate_limit": config.rate_limit,
            "emit_events": config.emit_events,
            "latency_ms": config.latency_ms,
        }
    )


async def control_clock(call: Call) -> Reply:
    body = call.body if isinstance(call.body, dict) else {}
    advance = body.get("advance", 0)
    if not isinstance(advance, int | float):
        return json_response(
            {"message": f"advance: {advance!r} is not a number of seconds"}, status=400
        )
    call.rt.clock_offset += float(advance)
    return json_response({"now": call.rt.now(), "offset": call.rt.clock_offset})


CONTROL_ROUTES: tuple[Route, ...] = (
    Route("GET", "/_blobs/{key}", serve_blob, "blob"),
    Route("GET", "/_fake/requests", control_requests, "control"),
    Route("GET", "/_fake/writes", control_writes, "control"),
    Route("POST", "/_fake/reset", control_reset, "control"),
    Route("POST", "/_fake/faults", control_faults, "control"),
    Route("POST", "/_fake/webhooks", control_webhooks, "control"),
    Route("POST", "/_fake/manifest-codes", control_manifest_codes, "control"),
    Route("POST", "/_fake/config", control_config, "control"),
    Route("POST", "/_fake/clock", control_clock, "control"),
)
