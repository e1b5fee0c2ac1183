"""The read-only run history: queries over the store, served as JSON over HTTP behind a bearer token.

The same queries back the MCP tools (`app.mcp_server`), so both surfaces answer alike.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web

from app.deps import DEPS, Deps
from app.store.base import Run, Store

PER_PAGE = 50
MAX_PAGE = 1_000_000  # beyond this the offset is nonsense; refusing it keeps SQL integers small
_REPOSITORY = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}")
OFF_MESSAGE = "the run history API is off: set API_TOKEN"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class QueryError(Exception):
    """A request the run history cannot answer: `status` (400 or 404) and a message naming the cause."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


# Parameters. ----------------------------------------------------------------------------------------


def parse_positive(name: str, raw: str | int | None, *, default: int | None = None) -> int:
    """A positive integer parameter, or a `QueryError` naming it."""
    if raw is None or raw == "":
        if default is None:
            raise QueryError(400, f"{name}: required")
        return default
    if isinstance(raw, bool):
        raise QueryError(400, f"{name}: expected a positive integer")
    if isinstance(raw, int):
        value = raw
    elif raw.isascii() and raw.isdigit():
        value = int(raw)
    else:
        raise QueryError(400, f"{name}: {raw[:40]!r} is not a positive integer")
    if value < 1:
        raise QueryError(400, f"{name}: must be 1 or more")
    return value


def parse_page(raw: str | int | None) -> int:
    page = parse_positive("page", raw, default=1)
    if page > MAX_PAGE:
        raise QueryError(400, f"page: must be at most {MAX_PAGE}")
    return page


def parse_repository(raw: str | None) -> str | None:
    """An optional `owner/name` filter."""
    if raw is None or raw == "":
        return None
    return require_repository(raw)


def require_repository(raw: str | None) -> str:
    if raw is None or raw == "":
        raise QueryError(400, "repository: required, as owner/name")
    if not _REPOSITORY.fullmatch(raw):
        raise QueryError(400, f"repository: {raw[:140]!r} is not owner/name")
    return raw


def parse_target(issue: str | int | None, pull_request: str | int | None) -> tuple[str, int]:
    """Exactly one of `issue` and `pull_request`: the target kind and number."""
    given = [
        (k, v) for k, v in (("issue", issue), ("pull_request", pull_request)) if v not in (None, "")
    ]
    if len(given) != 1:
        raise QueryError(400, "give exactly one of issue=N or pull_request=N")
    kind, raw = given[0]
    return kind, parse_positive(kind, raw)


# Queries (the same for HTTP and MCP). ---------------------------------------------------------------


def run_detail(run: Run) -> dict[str, Any]:
    """One run without its large documents, with the ids a maintainer needs to trace it."""
    return {**run.summary(), "job_id": run.job_id, "installation_id": run.installation_id}


async def list_page(store: Store, *, page: int, repository: str | None) -> dict[str, Any]:
    runs, has_next = await store.list_runs(page=page, per_page=PER_PAGE, repository=repository)
    return {
        "page": page,
        "per_page": PER_PAGE,
        "has_next": has_next,
        "items": [run.summary() for run in runs],
    }


async def lookup(store: Store, *, repository: str, kind: str, number: int) -> dict[str, Any]:
    """Every run on one issue or pull request, newest first (an empty list when there is none)."""
    runs = await store.find_runs(repository=repository, target_number=number, target_kind=kind)
    return {
        "repository": repository,
        "target": {"kind": kind, "number": number},
        "items": [run.summary() for run in runs],
    }


async def get_run(store: Store, run_id: int) -> dict[str, Any]:
    run = await store.get_run(run_id)
    if run is None:
        raise QueryError(404, f"no run {run_id}")
    return run_detail(run)


def no_session_reason(run: Run) -> str:
    """Why a run has neither a snapshot nor a diagnosis, in words a maintainer can act on."""
    detail = f" ({run.detail})" if run.detail else ""
    if run.state == "rejected":
        return f"run {run.id} has no session: it was rejected before gathering evidence{detail}"
    if run.state == "failed":
        return f"run {run.id} has no session: it failed before gathering evidence{detail}"
    return f"run {run.id} has no session yet: it is {run.state}{detail}"


async def get_session(store: Store, run_id: int) -> dict[str, Any]:
    """The evidence snapshot and the diagnosis of a run; 404 with the reason when it has neither."""
    run = await store.get_run(run_id)
    if run is None:
        raise QueryError(404, f"no run {run_id}")
    if run.snapshot is None and run.diagnosis is None:
        raise QueryError(404, no_session_reason(run))
    return {"run": run_detail(run), "snapshot": run.snapshot, "diagnosis": run.diagnosis}


# HTTP. ----------------------------------------------------------------------------------------------


def bearer_token(header: str | None) -> str | None:
    """The token of an `Authorization: Bearer …` header (scheme case-insensitive), else None."""
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def token_matches(given: str | None, expected: str) -> bool:
    """Constant-time comparison, so response timing tells nothing about the token."""
    if given is None:
        return False
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def _json(data: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    # Run records hold evidence from private repositories: no cache may keep them.
    return web.json_response(
        data, status=status, headers={"Cache-Control": "no-store", **(headers or {})}
    )


def _guarded(
    deps_key: web.AppKey[Deps], answer: Callable[[web.Request, Store], Awaitable[dict[str, Any]]]
) -> Handler:
    """A handler behind the API switch and the bearer token, with `QueryError` turned into JSON."""

    async def handle(request: web.Request) -> web.StreamResponse:
        deps = request.app[deps_key]
        secret = deps.settings.api_token
        if secret is None:
            return _json({"message": OFF_MESSAGE}, status=404)
        given = bearer_token(request.headers.get("Authorization"))
        if not token_matches(given, secret.get_secret_value()):
            return _json(
                {"message": "a valid bearer token is required (Authorization: Bearer <API_TOKEN>)"},
                status=401,
                headers={"WWW-Authenticate": 'Bearer realm="self-improve"'},
            )
        try:
            return _json(await answer(request, deps.store))
        except QueryError as exc:
            return _json({"message": exc.message}, status=exc.status)

    return handle


async def _runs(request: web.Request, store: Store) -> dict[str, Any]:
    query = request.query
    return await list_page(
        store,
        page=parse_page(query.get("page")),
        repository=parse_repository(query.get("repository")),
    )


async def _lookup(request: web.Request, store: Store) -> dict[str, Any]:
    query = request.query
    repository = require_repository(query.get("repository"))
    kind, number = parse_target(query.get("issue"), query.get("pull_request"))
    return await lookup(store, repository=repository, kind=kind, number=number)


async def _run(request: web.Request, store: Store) -> dict[str, Any]:
    return await get_run(store, parse_positive("id", request.match_info["id"]))


async def _session(request: web.Request, store: Store) -> dict[str, Any]:
    return await get_session(store, parse_positive("id", request.match_info["id"]))


def add_api_routes(app: web.Application, deps_key: web.AppKey[Deps] = DEPS) -> None:
    """Mount `/api/runs…` on `app`; handlers find the store and the token through `app[deps_key]`."""
    # `lookup` before `{id}`: aiohttp matches routes in the order they were added.
    app.router.add_get("/api/runs", _guarded(deps_key, _runs))
    app.router.add_get("/api/runs/lookup", _guarded(deps_key, _lookup))
    app.router.add_get("/api/runs/{id}", _guarded(deps_key, _run))
    app.router.add_get("/api/runs/{id}/session", _guarded(deps_key, _session))
