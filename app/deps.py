"""The composition root: settings, store, metrics, clock and the GitHub client factory, built once."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web

from app.evidence.cache import EvidenceCache
from app.github.apps import GitHubApps
from app.github.retry import RetryPolicy
from app.metrics import Metrics
from app.settings import Settings
from app.store import Store, open_store

log = logging.getLogger(__name__)


@dataclass
class Deps:
    settings: Settings
    store: Store
    metrics: Metrics
    http: aiohttp.ClientSession
    github: GitHubApps | None  # None until the App is registered (APP_ID and a key)
    clock: Callable[[], float] = time.time
    app_slug: str | None = None
    # Finished job logs and artifacts never change: a later run on the same target reuses them.
    evidence_cache: EvidenceCache = field(default_factory=EvidenceCache)


# Typed aiohttp app state (STYLE: `web.AppKey`), so handlers reach the deps without globals.
DEPS = web.AppKey("deps", Deps)


@contextlib.asynccontextmanager
async def build_deps(
    settings: Settings, *, clock: Callable[[], float] = time.time
) -> AsyncIterator[Deps]:
    """Open everything the service needs and close it again, in reverse order."""
    store = open_store(settings.database_url)
    await store.open()
    metrics = Metrics()
    timeout = aiohttp.ClientTimeout(total=60, sock_connect=10)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        github = None
        if settings.registered:
            github = GitHubApps(
                settings,
                http,
                metrics,
                mutation_spacing=settings.github_write_spacing_seconds,
                retry=RetryPolicy(
                    server_backoff=settings.github_retry_base_seconds,
                    rate_limit_min=settings.github_rate_limit_min_seconds,
                ),
            )
        deps = Deps(settings, store, metrics, http, github, clock)
        if github is not None:
            deps.app_slug = await _learn_slug(github)
        try:
            yield deps
        finally:
            await store.close()


async def _learn_slug(github: GitHubApps) -> str | None:
    """GET /app once at startup: the slug tells our own bot's events apart. Failing it is not fatal."""
    try:
        info = await github.app_info()
    except Exception as exc:  # GitHub down at startup must not stop the webhook intake
        log.warning("could not read the App's slug at startup", extra={"error": str(exc)})
        return None
    slug = info.get("slug")
    return str(slug) if slug else None
