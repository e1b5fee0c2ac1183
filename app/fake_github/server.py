"""The double's HTTP pipeline: faults, latency, credentials, rate limits, ETags, the request log."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from app.fake_github.auth import Credential, Token, read_credential, verify_jwt
from app.fake_github.control import CONTROL_ROUTES
from app.fake_github.errors import ApiError, not_found
from app.fake_github.faults import FaultRule
from app.fake_github.rest import REST_ROUTES
from app.fake_github.runtime import (
    JSON_BODY,
    RUNTIME,
    Call,
    Route,
    Runtime,
    error_response,
    etag_of,
    json_response,
    matches_etag,
)

RESET_STATUS = 599  # marks a dropped connection inside the server
MUTATING = {"POST", "PATCH", "PUT", "DELETE"}
SECONDARY_MESSAGE = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. "
    "If you reach out to GitHub Support for help, please include the request ID {rid}."
)
RATE_DOCS = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"


# --- the request pipeline -------------------------------------------------------------------------
async def dispatch(request: web.Request, route: Route) -> web.StreamResponse:
    rt = request.app[RUNTIME]
    started = rt.now()
    credential = read_credential(request.headers.get("Authorization"))
    template = route.path
    status = 0
    try:
        response = await _answer(request, route, rt, credential)
        status = 0 if response.status == RESET_STATUS else response.status
        return response
    finally:
        # the control API is the test talking to the double, not traffic GitHub would see
        if route.auth != "control":
            _record(rt, request, template, status, credential, started)


def _record(
    rt: Runtime,
    request: web.Request,
    template: str | None,
    status: int,
    credential: Credential,
    started: float,
) -> None:
    entry = {
        "method": request.method,
        "path": request.path,
        "query": dict(request.query),
        "route": template,
        "status": status,
        "if_none_match": "If-None-Match" in request.headers,
        "authorization": credential.kind,
        "time": started,
    }
    rt.requests.append(entry)
    if request.method in MUTATING:
        rt.writes.append({**entry, "body": request.get(JSON_BODY)})


async def _answer(
    request: web.Request, route: Route, rt: Runtime, credential: Credential
) -> web.StreamResponse:
    control = route.auth == "control"
    fault = (
        None
        if control and route.path == "/_fake/faults"
        else rt.faults.decide(request.method, request.path, route.path)
    )
    if fault is not None:
        early = await _apply_fault(request, fault, rt, credential)
        if early is not None:
            return early
    if rt.config.latency_ms and not control:
        await asyncio.sleep(rt.config.latency_ms / 1000)
    bucket = None
    try:
        if route.auth in {"token", "jwt", "none"}:
            _check_headers(request)
        body = await _read_body(request)
        token = None
        if route.auth == "jwt":
            _require_jwt(credential, rt)
            bucket = f"app:{rt.app.id}"
        elif route.auth == "token":
            token = _require_token(credential, rt)
            bucket = f"token:{token.value}"
        elif route.auth == "none":
            bucket = f"anonymous:{request.remote}"
        if bucket is not None and rt.limits.exhausted(bucket, rt.now(), _limit_for(route, rt)):
            raise _primary_limit_error(rt, bucket)
        if token is not None:
            _authorize(token, rt, request, route)
        call = Call(request, rt, dict(request.match_info), dict(request.query), body, token)
        reply = await route.handler(call)
        response = reply if isinstance(reply, web.StreamResponse) else json_response(reply)
    except ApiError as error:
        response = error_response(error)
        if error.status == 401:
            bucket = f"anonymous:{request.remote}"
    if bucket is None:
        return response
    charge = route.counts
    if request.method == "GET" and response.status == 200 and isinstance(response, web.Response):
        etag = etag_of(response.body if isinstance(response.body, bytes) else b"")
        response.headers["ETag"] = etag
        if matches_etag(request.headers.get("If-None-Match"), etag):
            # a 304 costs nothing against the primary limit (docs: conditional requests)
            response = web.Response(status=304, headers={"ETag": etag})
            charge = False
    limit = 60 if bucket.startswith("anonymous:") else _limit_for(route, rt)
    response.headers.update(rt.limits.count(bucket, rt.now(), charge=charge, limit=limit))
    response.headers["X-GitHub-Request-Id"] = secrets.token_hex(8).upper()
    response.headers["X-GitHub-Api-Version-Selected"] = "2022-11-28"
    response.headers["Vary"] = "Accept, Authorization, Cookie, X-GitHub-OTP"
    return response


API_VERSIONS = {"2022-11-28", "2026-03-10"}


def _check_headers(request: web.Request) -> None:
    if not request.headers.get("User-Agent"):
        # GitHub refuses requests without a User-Agent (docs: troubleshooting the REST API)
        raise ApiError(
            403,
            "Request forbidden by administrative rules. Please make sure your request has a "
            "User-Agent header (https://docs.github.com/en/rest/overview/resources-in-the-rest-api"
            "#user-agent-required). Check https://developer.github.com for other possible causes.",
        )
    version = request.headers.get("X-GitHub-Api-Version")
    if version is not None and version not in API_VERSIONS:
        raise ApiError(400, f"API version {version} not supported.")


def _limit_for(route: Route, rt: Runtime) -> int:
    return 60 if route.auth == "none" else rt.config.rate_limit


async def _read_body(request: web.Request) -> Any:
    if request.method not in MUTATING or not request.can_read_body:
        return None
    raw = await request.read()
    if not raw.strip():
        return None
    try:
        body = json.loads(raw)
    except ValueError:
        raise ApiError(400, "Problems parsing JSON") from None
    request[JSON_BODY] = body
    return body


def _require_jwt(credential: Credential, rt: Runtime) -> None:
    if credential.kind == "none":
        raise ApiError(
            401, "You must authenticate with a JSON Web Token (JWT) to access this endpoint."
        )
    if credential.kind != "jwt":
        raise ApiError(401, "A JSON web token could not be decoded")
    verify_jwt(credential.secret, app=rt.app, key=rt.key, now=rt.now())


def _require_token(credential: Credential, rt: Runtime) -> Token:
    token = rt.tokens.get(credential.secret) if credential.kind == "token" else None
    if token is None or token.expires_at <= rt.now():
        raise ApiError(401, "Bad credentials")
    return token


def _authorize(token: Token, rt: Runtime, request: web.Request, route: Route) -> None:
    owner, repo = request.match_info.get("owner"), request.match_info.get("repo")
    if owner is not None and repo is not None:
        full = f"{owner}/{repo}"
        # an installation sees only its repositories; anything else is "Not Found" (docs: 404)
        if full.lower() != rt.world.full_name.lower() or not token.reaches(rt.world.full_name):
            raise not_found()
    if route.needs and not any(token.allows(name, level) for name, level in route.needs):
        accepted = "; ".join(f"{name}={level}" for name, level in route.needs)
        raise ApiError(
            403,
            "Resource not accessible by integration",
            headers={"X-Accepted-GitHub-Permissions": accepted},
        )


def _primary_limit_error(rt: Runtime, bucket: str) -> ApiError:
    who = f"installation ID {rt.app.installation_id}" if bucket.startswith("token:") else "app"
    headers = rt.limits.count(bucket, rt.now(), charge=False)
    return ApiError(
        403,
        f"API rate limit exceeded for {who}. If you reach out to GitHub Support for help, please "
        "include the request ID.",
        headers=headers,
        documentation_url=f"{RATE_DOCS}#about-the-primary-rate-limit",
    )


async def _apply_fault(
    request: web.Request, fault: FaultRule, rt: Runtime, credential: Credential
) -> web.StreamResponse | None:
    if fault.kind == "slow":
        await asyncio.sleep(fault.delay_ms / 1000)
        return None
    if fault.kind == "reset":
        transport = request.transport
        if transport is not None:
            transport.abort()
        # the status is only for the request log: nothing reaches the client
        return web.Response(status=RESET_STATUS)
    if fault.kind == "502":
        return json_response({"message": "Server Error"}, status=502)
    if fault.kind == "503":
        response = json_response({"message": "Service Unavailable"}, status=503)
        response.headers["Retry-After"] = str(fault.retry_after)
        return response
    if fault.kind == "secondary":
        rid = secrets.token_hex(8).upper()
        body = {
            "message": SECONDARY_MESSAGE.format(rid=rid),
            "documentation_url": f"{RATE_DOCS}#about-secondary-rate-limits",
        }
        return json_response(body, status=403, headers={"Retry-After": str(fault.retry_after)})
    # primary: the caller's bucket is emptied until the reset time
    key = f"token:{credential.secret}" if credential.kind == "token" else f"app:{rt.app.id}"
    headers = rt.limits.drain(key, rt.now(), fault.reset_in)
    who = f"installation ID {rt.app.installation_id}"
    body = {
        "message": f"API rate limit exceeded for {who}.",
        "documentation_url": f"{RATE_DOCS}#about-the-primary-rate-limit",
    }
    return json_response(body, status=403, headers=headers)


@web.middleware
async def unknown_routes(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Paths and methods GitHub does not have answer 404 JSON, as GitHub does, and are recorded."""
    if request.match_info.http_exception is None:
        return await handler(request)
    rt = request.app[RUNTIME]
    credential = read_credential(request.headers.get("Authorization"))
    _record(rt, request, None, 404, credential, rt.now())
    return error_response(not_found())


# placeholders whose values hold slashes (file paths, refs, branch names)
GREEDY = {"path": ".*", "ref": ".+", "branch": ".+"}


def _aiohttp_path(path: str) -> str:
    for name, pattern in GREEDY.items():
        if path.endswith(f"{{{name}}}") or f"{{{name}}}/" in path:
            path = path.replace(f"{{{name}}}", f"{{{name}:{pattern}}}")
    return path


def _bind(route: Route) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handle(request: web.Request) -> web.StreamResponse:
        return await dispatch(request, route)

    return handle


def build_app(rt: Runtime) -> web.Application:
    application = web.Application(middlewares=[unknown_routes], client_max_size=64 * 1024**2)
    application[RUNTIME] = rt
    # more specific templates first: aiohttp matches in registration order and `{ref:.+}` is greedy
    ordered = sorted(REST_ROUTES + CONTROL_ROUTES, key=lambda r: r.path.endswith("{ref}"))
    for route in ordered:
        application.router.add_route(route.method, _aiohttp_path(route.path), _bind(route))

    async def close_session(_: web.Application) -> None:
        if rt.pending:
            await asyncio.gather(*rt.pending, return_exceptions=True)
        if rt.session is not None:
            await rt.session.close()
            rt.session = None

    application.on_cleanup.append(close_session)
    return application
