"""One running double: its state, its settings, and the vocabulary its handlers share."""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import aiohttp
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from app.fake_github.auth import RateLimits, Token
from app.fake_github.errors import ApiError, not_found
from app.fake_github.faults import FaultPlan
from app.fake_github.identity import AppIdentity
from app.fake_github.state import World
from app.fake_github.webhooks import HookLog
from app.snapshot import Snapshot

Json = dict[str, Any]
Reply = web.StreamResponse | Json | list[Any] | None
Auth = Literal["token", "jwt", "none", "blob", "control"]
Handler = Callable[["Call"], Awaitable[Reply]]

BLOB_TTL = 60.0  # signed log and artifact URLs expire after a minute (docs: workflow jobs)


@dataclass
class Config:
    """What `/_fake/config` can change while the double runs."""

    latency_ms: int = 0
    webhook_url: str | None = None
    webhook_secret: str | None = field(default=None, repr=False)
    token_ttl: float = 3600.0
    rate_limit: int = 5000
    emit_events: bool = False


@dataclass(frozen=True)
class Blob:
    data: bytes
    content_type: str
    expires_at: float
    filename: str | None = None


@dataclass
class Runtime:
    """Everything the server changes; touched only on the server's event loop."""

    snapshot: Snapshot
    app: AppIdentity
    key: RSAPublicKey | None
    config: Config
    world: World
    seed: int = 0
    tokens: dict[str, Token] = field(default_factory=dict, repr=False)
    limits: RateLimits = field(default_factory=RateLimits)
    faults: FaultPlan = field(default_factory=FaultPlan)
    hooks: HookLog = field(default_factory=HookLog)
    blobs: dict[str, Blob] = field(default_factory=dict, repr=False)
    requests: list[Json] = field(default_factory=list)
    writes: list[Json] = field(default_factory=list)
    manifest_codes: dict[str, Json] = field(default_factory=dict, repr=False)
    clock_offset: float = 0.0
    session: aiohttp.ClientSession | None = None
    pending: set[asyncio.Task[Any]] = field(default_factory=set)

    def now(self) -> float:
        return time.time() + self.clock_offset

    def reload(self) -> None:
        self.world = World.from_snapshot(self.snapshot, self.app)
        self.limits = RateLimits(limit=self.config.rate_limit)
        self.faults = FaultPlan(seed=self.seed)
        self.hooks = HookLog()
        self.blobs.clear()


RUNTIME = web.AppKey("runtime", Runtime)
JSON_BODY = web.RequestKey("json_body", object)


@dataclass
class Call:
    """One request as a handler sees it: parameters, query, JSON body, the caller, the runtime."""

    request: web.Request
    rt: Runtime
    params: dict[str, str]
    query: dict[str, str]
    body: Any
    token: Token | None

    @property
    def world(self) -> World:
        return self.rt.world

    def int_param(self, name: str) -> int:
        try:
            return int(self.params[name])
        except ValueError:
            raise not_found() from None

    def absolute(self, path: str) -> str:
        return str(self.request.url.with_path(path).with_query(None))


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: Handler
    auth: Auth = "token"
    # alternatives, any one suffices: (("issues", "write"), ("pull_requests", "write"))
    needs: tuple[tuple[str, str], ...] = ()
    counts: bool = True  # False where GitHub does not charge the primary rate limit


# --- responses ------------------------------------------------------------------------------------
def json_response(
    data: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    body = json.dumps(data, ensure_ascii=False).encode("utf-8")
    response = web.Response(
        body=body, status=status, content_type="application/json", charset="utf-8", headers=headers
    )
    response.headers["X-GitHub-Media-Type"] = "github.v3; format=json"
    return response


def error_response(error: ApiError) -> web.Response:
    return json_response(error.body(), status=error.status, headers=error.headers)


def per_page_of(query: dict[str, str]) -> int:
    try:
        value = int(query.get("per_page", "30"))
    except ValueError:
        return 30
    return 30 if value < 1 else min(value, 100)


def page_of(query: dict[str, str]) -> int:
    try:
        return max(1, int(query.get("page", "1")))
    except ValueError:
        return 1


def link_header(url: Any, page: int, last: int, per_page: int) -> str | None:
    """GitHub's Link header (rel order prev, next, last, first); absent on a single page."""
    if last <= 1 and page <= 1:
        return None

    def at(number: int) -> str:
        query = dict(url.query)
        query["per_page"] = str(per_page)
        query["page"] = str(number)
        return f"<{url.with_query(query)}>"

    parts = []
    if page > 1:
        parts.append(f'{at(min(page - 1, max(last, 1)))}; rel="prev"')
    if page < last:
        parts.append(f'{at(page + 1)}; rel="next"')
        parts.append(f'{at(last)}; rel="last"')
    if page > 1:
        parts.append(f'{at(1)}; rel="first"')
    return ", ".join(parts) if parts else None


def paginate(call: Call, items: list[Any], wrap: str | None = None) -> web.Response:
    per_page, page = per_page_of(call.query), page_of(call.query)
    last = max(1, math.ceil(len(items) / per_page))
    chunk = items[(page - 1) * per_page : page * per_page]
    data: Any = {"total_count": len(items), wrap: chunk} if wrap else chunk
    response = json_response(data)
    link = link_header(call.request.url, page, last, per_page)
    if link:
        response.headers["Link"] = link
    return response


def etag_of(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def matches_etag(header: str | None, etag: str) -> bool:
    if not header:
        return False
    wanted = {t.strip().removeprefix("W/") for t in header.split(",")}
    return "*" in wanted or etag in wanted
