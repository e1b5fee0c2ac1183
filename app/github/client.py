"""The GitHub REST client: gidgethub on one shared aiohttp session, with ETags, limits, retries and errors."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from cachetools import LRUCache
from gidgethub import sansio
from gidgethub.abc import GitHubAPI
from yarl import URL

from app.github.auth import Credentials
from app.github.errors import GitHubError, error_for, error_message, no_response
from app.github.pagination import parse_link, plan_fan_out
from app.github.retry import DEFAULT_POLICY, RetryPolicy, decide_retry, is_rate_limited
from app.metrics import Metrics

log = logging.getLogger(__name__)

MUTATING = frozenset({"POST", "PATCH", "PUT", "DELETE"})
REDIRECTS = frozenset({301, 302, 303, 307, 308})
ACCEPT_JSON = "application/vnd.github+json"
_NO_RESPONSE = (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, TimeoutError)
_CHUNK = 64 * 1024


@dataclass(frozen=True)
class ClientConfig:
    """How one client talks to GitHub; `GitHubApps` builds it from the settings."""

    base_url: str = "https://api.github.com"
    user_agent: str = "self-improve"  # GitHub rejects requests without one
    api_version: str = "2022-11-28"
    max_in_flight: int = 8  # per installation, against GitHub's 100 concurrent (R-RL-1)
    # https://docs.github.com/en/rest/using-the-rest-api/best-practices-for-using-the-rest-api
    # "wait at least one second between each request" that mutates.
    mutation_spacing: float = 1.0
    connect_timeout: float = 10.0
    read_timeout: float = 30.0  # GitHub itself gives up on a request after 10 s
    retry: RetryPolicy = DEFAULT_POLICY
    etag_cache_bytes: int = 16 * 1024 * 1024


@dataclass(frozen=True)
class Reply:
    """An HTTP answer as read off the wire; `headers` is case-insensitive."""

    status: int
    headers: Mapping[str, str]
    body: bytes


@dataclass(frozen=True)
class Page:
    """Every item of a list endpoint, and whether the page cap cut it short."""

    items: list[Any]
    truncated: bool


@dataclass(frozen=True)
class Download:
    """A downloaded log or artifact, capped; `size` is the whole source's length when known."""

    data: bytes
    truncated: bool
    size: int | None


def _reply_size(reply: Reply) -> int:
    return len(reply.body) + 512  # the headers' share, roughly


@dataclass
class ClientState:
    """What all clients of one installation share: ETag cache, in-flight cap, mutation pacing, pauses.

    One object per installation (and one for the App, one for static tokens), so limits hold across
    every job of an installation, and a cached body never crosses to another installation.
    """

    label: str
    max_in_flight: int = 8
    etag_cache_bytes: int = 16 * 1024 * 1024
    total: asyncio.Semaphore | None = None  # the cap across all installations, when shared
    slots: asyncio.Semaphore = field(init=False)
    mutations: asyncio.Lock = field(init=False, default_factory=asyncio.Lock)
    etags: LRUCache[tuple[str, str], Reply] = field(init=False)
    last_mutation: float = -math.inf
    paused_until: float = 0.0
    in_flight: int = 0
    peak_in_flight: int = 0
    rate_remaining: int | None = None  # x-ratelimit-remaining / -limit as last seen
    rate_limit: int | None = None
    warned: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.slots = asyncio.Semaphore(self.max_in_flight)
        self.etags = LRUCache(maxsize=self.etag_cache_bytes, getsizeof=_reply_size)

    def remember(self, key: tuple[str, str], reply: Reply) -> None:
        """Keep a body with its validator; one too big for a quarter of the cache is not worth keeping."""
        if _reply_size(reply) <= self.etag_cache_bytes // 4:
            self.etags[key] = reply

    def low_on_budget(self, fraction: float = 0.1) -> bool:
        """True when under `fraction` of the hourly budget is left: time to skip optional reads (R-RL-6)."""
        if self.rate_remaining is None or not self.rate_limit:
            return False
        return self.rate_remaining < self.rate_limit * fraction

    def pause(self, until: float) -> None:
        """Hold every request of this installation until `until` (a rate limit applies to all of them)."""
        self.paused_until = max(self.paused_until, until)


class GitHubClient(GitHubAPI):
    """A gidgethub client whose `_request` adds what production needs.

    - credentials from a provider (App JWT, installation token, static token); one re-mint and one
      retry after a 401;
    - an ETag cache per installation, keyed by URL and Accept: repeated GETs are conditional and a
      304 (free against the rate limit) returns the cached body;
    - retries: 5xx, resets and timeouts 3 times with jittered backoff; rate limits as GitHub advises
      (`decide_retry`), pausing every request of the installation meanwhile; other 4xx never;
    - at most `max_in_flight` requests per installation, mutations one at a time and spaced;
    - metrics per response, `x-ratelimit-remaining` per installation, warnings on Deprecation/Sunset;
    - failures raised as the `app.github.errors` tree.

    Mutations are retried on 5xx and timeouts too, and GitHub may have applied one that timed out:
    writers find-before-create (the sticky comment's marker, the PR's head) so a repeat is harmless.
    The shared aiohttp session must carry no default Authorization: downloads rely on sending none to
    the blob host.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        credentials: Credentials,
        *,
        state: ClientState | None = None,
        config: ClientConfig = ClientConfig(),
        metrics: Metrics | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        super().__init__(config.user_agent, base_url=config.base_url)
        self._session = session
        self._credentials = credentials
        self._config = config
        self.state = state or ClientState(
            credentials.label,
            max_in_flight=config.max_in_flight,
            etag_cache_bytes=config.etag_cache_bytes,
        )
        self._metrics = metrics
        self._clock = clock
        self._sleep = sleep
        self._jitter = jitter
        self._api_timeout = aiohttp.ClientTimeout(
            total=config.read_timeout * 2,
            sock_connect=config.connect_timeout,
            sock_read=config.read_timeout,
        )
        self._blob_timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=config.connect_timeout, sock_read=config.read_timeout
        )

    def __repr__(self) -> str:
        return f"GitHubClient({self._config.base_url!r}, {self.state.label!r})"

    async def sleep(self, seconds: float) -> None:
        await self._sleep(seconds)

    async def _request(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes = b""
    ) -> tuple[int, Mapping[str, str], bytes]:
        reply = await self._call(method, url, headers, body)
        if reply.status >= 300:
            # Only a 304 the caller asked for by its own If-None-Match gets here.
            raise error_for(reply.status, reply.headers, reply.body, url=url, rate_limited=False)
        return reply.status, reply.headers, reply.body

    # The exchange: auth, ETag, retries. ---------------------------------------------------------

    async def _call(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes,
        *,
        redirects: bool = True,
        cache: bool = True,
    ) -> Reply:
        """One logical request: tried until it succeeds, or raised as a `GitHubError`."""
        sent = {k.lower(): v for k, v in headers.items()}
        sent.setdefault("x-github-api-version", self._config.api_version)
        own_auth = "authorization" not in sent
        if own_auth:
            sent["authorization"] = await self._credentials.authorization()
        key: tuple[str, str] | None = None
        cached: Reply | None = None
        conditional = "if-none-match" in sent or "if-modified-since" in sent
        if cache and method == "GET" and not body and not conditional:
            # Keyed by URL *and* Accept: a PR as JSON and as a diff are different bodies.
            key = (url, sent.get("accept", ""))
            cached = self.state.etags.get(key)
            if cached is not None:
                etag, modified = cached.headers.get("etag"), cached.headers.get("last-modified")
                if etag:
                    sent["if-none-match"] = etag
                if modified:
                    sent["if-modified-since"] = modified
        attempt = 0
        renewed = False
        while True:
            attempt += 1
            reply, failure = await self._exchange(method, url, sent, body, redirects=redirects)
            if reply is not None:
                if reply.status == 304 and cached is not None:
                    return cached  # a 304 costs no rate limit
                if reply.status == 401 and own_auth and not renewed:
                    renewed = True
                    fresh = await self._credentials.authorization(renew_from=sent["authorization"])
                    if fresh != sent["authorization"]:
                        sent["authorization"] = fresh
                        attempt -= 1  # a refused token is not a failed try
                        continue
                if reply.status < 400:
                    if key is not None and reply.status == 200 and _has_validator(reply):
                        self.state.remember(key, reply)
                    return reply
                status: int | None = reply.status
                reply_headers: Mapping[str, str] = reply.headers
                message = error_message(reply.body, reply.status)[0]
            else:
                status, reply_headers, message = None, {}, failure
            limited = is_rate_limited(status, reply_headers, message)
            delay = decide_retry(
                status,
                reply_headers,
                attempt,
                self._clock(),
                message=message,
                policy=self._config.retry,
                jitter=self._jitter(),
            )
            if delay is None:
                if reply is None:
                    raise no_response(url, failure)
                raise error_for(
                    reply.status, reply.headers, reply.body, url=url, rate_limited=limited
                )
            log.warning(
                "GitHub %s %s answered %s; trying again in %.1f s (try %d)",
                method,
                url,
                status or failure,
                delay,
                attempt + 1,
                extra={"installation": self.state.label, "status": status, "delay": delay},
            )
            if limited:
                self.state.pause(
                    self._clock() + delay
                )  # _exchange waits, and so does every other call
            else:
                await self._sleep(delay)

    async def _exchange(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes, *, redirects: bool
    ) -> tuple[Reply | None, str]:
        """One HTTP round trip within the installation's limits; no response comes back as (None, cause)."""
        state = self.state
        mutating = method in MUTATING
        async with state.mutations if mutating else contextlib.nullcontext():
            wait = state.paused_until - self._clock()
            if wait > 0:
                await self._sleep(wait)
            if mutating:
                wait = state.last_mutation + self._config.mutation_spacing - self._clock()
                if wait > 0:
                    await self._sleep(wait)
            async with state.slots, state.total or contextlib.nullcontext():
                state.in_flight += 1
                state.peak_in_flight = max(state.peak_in_flight, state.in_flight)
                try:
                    async with self._session.request(
                        method,
                        url,
                        headers=headers,
                        data=body or None,
                        allow_redirects=redirects,
                        timeout=self._api_timeout,
                    ) as resp:
                        reply = Reply(resp.status, resp.headers, await resp.read())
                except _NO_RESPONSE as exc:
                    self._count(method, 0)
                    return None, _cause(exc)
                finally:
                    state.in_flight -= 1
                    if mutating:
                        state.last_mutation = self._clock()
        self._observe(method, url, reply)
        return reply, ""

    def _count(self, method: str, status: int) -> None:
        if self._metrics is not None:
            self._metrics.github_requests.labels(method, str(status)).inc()

    def _observe(self, method: str, url: str, reply: Reply) -> None:
        """Metrics and the warnings a maintainer needs: deprecations, and which permission was lacking."""
        self._count(method, reply.status)
        headers = reply.headers
        remaining, limit = headers.get("x-ratelimit-remaining"), headers.get("x-ratelimit-limit")
        if remaining is not None and remaining.isdigit():
            self.state.rate_remaining = int(remaining)
            if limit is not None and limit.isdigit():
                self.state.rate_limit = int(limit)
            if self._metrics is not None:
                self._metrics.rate_limit_remaining.labels(self.state.label).set(int(remaining))
        if "deprecation" in headers or "sunset" in headers:
            where = f"{method} {URL(url).path}"
            if where not in self.state.warned:
                self.state.warned.add(where)
                log.warning(
                    "GitHub marks %s deprecated (Deprecation: %s, Sunset: %s)",
                    where,
                    headers.get("deprecation"),
                    headers.get("sunset"),
                )
        accepted = headers.get("x-accepted-github-permissions")
        if reply.status in (403, 404) and accepted is not None:
            log.info(
                "GitHub %d on %s %s; the endpoint accepts permissions: %s",
                reply.status,
                method,
                URL(url).path,
                accepted,
                extra={"installation": self.state.label, "accepted_permissions": accepted},
            )

    # Lists. -------------------------------------------------------------------------------------

    async def paginate(
        self,
        url: str,
        params: Mapping[str, str | int] | None = None,
        *,
        per_page: int = 100,
        max_pages: int = 50,
        items_key: str | None = None,
        accept: str = ACCEPT_JSON,
    ) -> Page:
        """Every item of a list: page 1, then pages 2..last at once when Link names them, else `next`."""
        first = URL(sansio.format_url(url, {}, base_url=self.base_url))
        first = first.update_query({**(params or {}), "per_page": per_page})
        data, links = await self._page(str(first), accept)
        items = _items(data, items_key, str(first))
        plan = plan_fan_out(links.get("next"), links.get("last"), max_pages)
        if plan is not None:
            try:
                async with asyncio.TaskGroup() as group:
                    tasks = [group.create_task(self._page(u, accept)) for u in plan.urls]
            except BaseExceptionGroup as failed:
                raise failed.exceptions[0] from None
            for page_url, task in zip(plan.urls, tasks, strict=True):
                items.extend(_items(task.result()[0], items_key, page_url))
            return Page(items, plan.truncated)
        pages, next_url = 1, links.get("next")
        while next_url is not None:
            if pages >= max_pages:
                return Page(items, truncated=True)
            data, links = await self._page(next_url, accept)
            items.extend(_items(data, items_key, next_url))
            pages, next_url = pages + 1, links.get("next")
        return Page(items, truncated=False)

    async def _page(self, url: str, accept: str) -> tuple[Any, dict[str, str]]:
        reply = await self._call(
            "GET", url, sansio.create_headers(self.requester, accept=accept), b""
        )
        try:
            data = json.loads(reply.body) if reply.body else []
        except ValueError:
            raise GitHubError(reply.status, "answer is not JSON", url=url) from None
        return data, parse_link(reply.headers.get("link"))

    # Downloads. ---------------------------------------------------------------------------------

    async def download(self, url: str, *, max_bytes: int, tail: bool = False) -> Download:
        """A job log or artifact zip, at most `max_bytes` of it (the head, or with `tail` the end).

        GitHub answers 302 with a short-lived signed URL: it is fetched at once, without our
        Authorization (that host must never see the token) and outside the ETag cache.
        404/410 (expired, past retention) raise `NotFound`.
        """
        api_url = sansio.format_url(url, {}, base_url=self.base_url)
        headers = sansio.create_headers(self.requester, accept=ACCEPT_JSON)
        attempt = 0
        while True:
            attempt += 1
            reply = await self._call("GET", api_url, headers, b"", redirects=False, cache=False)
            if reply.status not in REDIRECTS:
                # GitHub always redirects; a server that answers directly is taken at its word.
                return _capped(reply.body, max_bytes, tail, len(reply.body))
            location = reply.headers.get("location")
            if not location:
                raise GitHubError(reply.status, "redirect without a Location", url=api_url)
            try:
                return await self._fetch_blob(
                    str(URL(api_url).join(URL(location))), max_bytes, tail
                )
            except GitHubError as exc:
                # The signed URL lives a minute: a retry asks GitHub for a new one.
                status = exc.status or None
                if status is not None and status < 500:
                    raise
                delay = decide_retry(
                    status,
                    {},
                    attempt,
                    self._clock(),
                    policy=self._config.retry,
                    jitter=self._jitter(),
                )
                if delay is None:
                    raise
                await self._sleep(delay)

    async def _fetch_blob(self, location: str, max_bytes: int, tail: bool) -> Download:
        # The query holds the signature: keep it out of errors and logs.
        shown = str(URL(location).with_query(None))
        headers = {"user-agent": self._config.user_agent}
        try:
            async with self._session.get(
                location, headers=headers, timeout=self._blob_timeout
            ) as resp:
                self._count("GET", resp.status)
                if resp.status >= 400:
                    body = await resp.content.read(4096)
                    raise error_for(resp.status, resp.headers, body, url=shown, rate_limited=False)
                return await _read_capped(resp, max_bytes, tail)
        except _NO_RESPONSE as exc:
            self._count("GET", 0)
            raise no_response(shown, _cause(exc)) from None


def _has_validator(reply: Reply) -> bool:
    return "etag" in reply.headers or "last-modified" in reply.headers


def _cause(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _items(data: Any, items_key: str | None, url: str) -> list[Any]:
    """The list in a page: the page itself, or the list under `items_key` for wrapped answers."""
    if items_key is not None:
        if isinstance(data, dict) and isinstance(data.get(items_key), list):
            return list(data[items_key])
        raise GitHubError(200, f"answer has no list under {items_key!r}", url=url)
    if isinstance(data, list):
        return data
    keys = ", ".join(sorted(data)) if isinstance(data, dict) else type(data).__name__
    raise GitHubError(200, f"answer is not a list ({keys}); pass items_key", url=url)


def _capped(data: bytes, max_bytes: int, tail: bool, size: int | None) -> Download:
    """`data` cut to `max_bytes` (its head, or with `tail` its end); `size` is the source's full length."""
    if len(data) <= max_bytes and (size is None or size <= max_bytes):
        return Download(data, truncated=False, size=size)
    return Download(data[-max_bytes:] if tail else data[:max_bytes], truncated=True, size=size)


async def _read_capped(resp: aiohttp.ClientResponse, max_bytes: int, tail: bool) -> Download:
    """Stream a body, keeping the first (or last) `max_bytes`; the head mode stops reading at the cap."""
    kept: deque[bytes] = deque()
    held = seen = 0
    async for chunk in resp.content.iter_chunked(_CHUNK):
        seen += len(chunk)
        kept.append(chunk)
        held += len(chunk)
        if tail:
            while kept and held - len(kept[0]) >= max_bytes:
                held -= len(kept.popleft())
        elif held > max_bytes:
            return _capped(b"".join(kept), max_bytes, tail, resp.content_length)
    return _capped(b"".join(kept), max_bytes, tail, seen)
