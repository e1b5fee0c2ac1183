"""The run history API over real HTTP on 127.0.0.1: token, switch, pagination, lookup, session."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from app.api import (
    OFF_MESSAGE,
    QueryError,
    add_api_routes,
    bearer_token,
    parse_page,
    parse_target,
    require_repository,
    token_matches,
)
from app.deps import DEPS, Deps, build_deps
from app.settings import load_settings
from app.store.base import RunIn, Store

TOKEN = "api-token-for-tests"


class Api:
    def __init__(self, deps: Deps, url: str, session: aiohttp.ClientSession) -> None:
        self.deps, self.url, self.session = deps, url, session

    @property
    def store(self) -> Store:
        return self.deps.store

    async def get(self, path: str, token: str | None = TOKEN) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        async with self.session.get(self.url + path, headers=headers) as r:
            assert r.headers["Content-Type"].startswith("application/json")
            return r.status, await r.json()


async def _serve(tmp_path: Path, port: int, **settings: Any) -> AsyncIterator[Api]:
    config = load_settings(None, database_url=f"sqlite:///{tmp_path}/api.db", **settings)
    async with build_deps(config) as deps:
        app = web.Application()
        app[DEPS] = deps
        add_api_routes(app)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        try:
            async with aiohttp.ClientSession() as session:
                yield Api(deps, f"http://127.0.0.1:{port}", session)
        finally:
            await runner.cleanup()


@pytest.fixture
async def api(tmp_path: Path, unused_tcp_port: int) -> AsyncIterator[Api]:
    async for served in _serve(tmp_path, unused_tcp_port, api_token=TOKEN):
        yield served


async def add_run(
    store: Store,
    repository: str = "acme/widgets",
    number: int = 12,
    kind: str = "issue",
    *,
    now: float = 1000.0,
    **fields: Any,
) -> int:
    run = await store.get_or_create_run(
        RunIn(
            job_id=None,
            repository=repository,
            installation_id=42,
            target_kind=kind,
            target_number=number,
            trigger={"event": "issues", "action": "labeled"},
            sender="octo-owner",
            role="km",
        ),
        now=now,
    )
    if fields:
        await store.update_run(run.id, now=now, **fields)
    return run.id


# Pure parts. ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "token"),
    [
        ("Bearer abc", "abc"),
        ("bearer abc", "abc"),
        ("  Bearer   abc  ", "abc"),
        ("Basic abc", None),
        ("Bearer", None),
        ("Bearer ", None),
        ("", None),
        (None, None),
        ("token abc", None),
    ],
)
def test_bearer_token_parsing(header: str | None, token: str | None) -> None:
    """Only the Bearer scheme yields a token; anything else is no token at all."""
    assert bearer_token(header) == token


@pytest.mark.parametrize(
    ("given", "ok"), [(TOKEN, True), (TOKEN + "x", False), ("", False), (None, False)]
)
def test_token_comparison(given: str | None, ok: bool) -> None:
    """The token must match exactly; a missing one never matches."""
    assert token_matches(given, TOKEN) is ok


@pytest.mark.parametrize(
    ("raw", "page"), [(None, 1), ("", 1), ("1", 1), ("7", 7), (3, 3), ("1000000", 1_000_000)]
)
def test_page_accepted(raw: str | int | None, page: int) -> None:
    """A missing page is page 1; digits are taken as they are."""
    assert parse_page(raw) == page


@pytest.mark.parametrize("raw", ["0", "-1", "x", "1.5", "١", "1000001", "  2", 0])
def test_page_refused(raw: str | int) -> None:
    """Zero, negatives, non-digits (even other scripts' digits) and absurd pages are a 400."""
    with pytest.raises(QueryError) as caught:
        parse_page(raw)
    assert caught.value.status == 400 and "page" in caught.value.message


@pytest.mark.parametrize(
    ("issue", "pull", "expected"),
    [("5", None, ("issue", 5)), (None, "9", ("pull_request", 9)), (3, None, ("issue", 3))],
)
def test_target_accepted(
    issue: str | int | None, pull: str | int | None, expected: tuple[str, int]
) -> None:
    """Exactly one of issue and pull_request names the target."""
    assert parse_target(issue, pull) == expected


@pytest.mark.parametrize(("issue", "pull"), [(None, None), ("1", "2"), ("", ""), ("x", None)])
def test_target_refused(issue: str | None, pull: str | None) -> None:
    """Neither, both, or a non-number is a 400."""
    with pytest.raises(QueryError) as caught:
        parse_target(issue, pull)
    assert caught.value.status == 400


@pytest.mark.parametrize("raw", ["acme", "acme/", "/widgets", "a b/c", "acme/widgets/x", ""])
def test_repository_refused(raw: str) -> None:
    """A repository must be owner/name."""
    with pytest.raises(QueryError):
        require_repository(raw)


# Over HTTP. -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("token", [None, "wrong", ""])
async def test_missing_or_wrong_token_is_401(api: Api, token: str | None) -> None:
    """Without the right bearer token every route answers 401 and reveals nothing."""
    await add_run(api.store)
    for path in ("/api/runs", "/api/runs/1", "/api/runs/1/session", "/api/runs/lookup"):
        status, body = await api.get(path, token=token)
        assert status == 401, path
        assert "items" not in body and "run" not in body


async def test_api_is_off_without_a_token(tmp_path: Path, unused_tcp_port: int) -> None:
    """With API_TOKEN unset the routes answer 404 saying how to turn the API on."""
    async for api in _serve(tmp_path, unused_tcp_port, api_token=None):
        await add_run(api.store)
        for path in ("/api/runs", "/api/runs/1"):
            status, body = await api.get(path, token="anything")
            assert (status, body) == (404, {"message": OFF_MESSAGE})


async def test_runs_are_paged_fifty_at_a_time_newest_first(api: Api) -> None:
    """120 runs: pages of 50, 50 and 20, newest first, has_next until the last page."""
    ids = [await add_run(api.store, number=n, now=1000.0 + n) for n in range(1, 121)]
    status, first = await api.get("/api/runs")
    assert status == 200
    assert (first["page"], first["per_page"], first["has_next"]) == (1, 50, True)
    assert [r["id"] for r in first["items"]] == ids[::-1][:50]
    _, second = await api.get("/api/runs?page=2")
    assert [r["id"] for r in second["items"]] == ids[::-1][50:100] and second["has_next"]
    _, third = await api.get("/api/runs?page=3")
    assert [r["id"] for r in third["items"]] == ids[::-1][100:] and not third["has_next"]
    _, beyond = await api.get("/api/runs?page=4")
    assert (beyond["items"], beyond["has_next"]) == ([], False)


async def test_run_summaries_leave_the_large_documents_out(api: Api) -> None:
    """A listed run says whether it has a snapshot and diagnosis, without carrying them."""
    await add_run(api.store, snapshot={"big": "x" * 1000}, diagnosis={"action_items": []})
    _, page = await api.get("/api/runs")
    item = page["items"][0]
    assert item["has_snapshot"] and item["has_diagnosis"]
    assert "snapshot" not in item and "diagnosis" not in item
    assert item["target"] == {"kind": "issue", "number": 12}
    assert (item["sender"], item["role"], item["state"]) == ("octo-owner", "km", "accepted")


async def test_runs_filter_by_repository(api: Api) -> None:
    """`repository=o/r` lists only that repository's runs."""
    mine = await add_run(api.store, "acme/widgets")
    await add_run(api.store, "acme/gadgets")
    _, page = await api.get("/api/runs?repository=acme/widgets")
    assert [r["id"] for r in page["items"]] == [mine]


@pytest.mark.parametrize(
    "query", ["page=0", "page=abc", "page=-2", "repository=nope", "page=99999999999"]
)
async def test_bad_list_parameters_are_400(api: Api, query: str) -> None:
    """A bad page or repository is a 400 whose message names the parameter."""
    status, body = await api.get(f"/api/runs?{query}")
    assert status == 400
    assert query.split("=")[0] in body["message"]


async def test_lookup_finds_the_runs_of_one_target(api: Api) -> None:
    """Lookup by issue or pull request returns that target's runs only, newest first."""
    a = await add_run(api.store, number=12, kind="issue")
    b = await add_run(api.store, number=12, kind="issue")
    pr = await add_run(api.store, number=13, kind="pull_request")
    await add_run(api.store, "acme/gadgets", number=12)
    status, found = await api.get("/api/runs/lookup?repository=acme/widgets&issue=12")
    assert status == 200
    assert found["target"] == {"kind": "issue", "number": 12}
    assert [r["id"] for r in found["items"]] == [b, a]
    _, found_pr = await api.get("/api/runs/lookup?repository=acme/widgets&pull_request=13")
    assert [r["id"] for r in found_pr["items"]] == [pr]
    _, none = await api.get("/api/runs/lookup?repository=acme/widgets&pull_request=12")
    assert none["items"] == []


@pytest.mark.parametrize(
    "query",
    ["issue=12", "repository=acme/widgets", "repository=acme/widgets&issue=1&pull_request=2"],
)
async def test_lookup_needs_a_repository_and_one_target(api: Api, query: str) -> None:
    """Lookup without a repository, or without exactly one target, is a 400."""
    status, body = await api.get(f"/api/runs/lookup?{query}")
    assert status == 400 and body["message"]


async def test_get_run_and_unknown_run(api: Api) -> None:
    """A run by id carries its ids; an unknown or malformed id is a JSON 404 or 400."""
    run_id = await add_run(api.store)
    status, run = await api.get(f"/api/runs/{run_id}")
    assert status == 200
    assert (run["id"], run["installation_id"], run["job_id"]) == (run_id, 42, None)
    status, body = await api.get("/api/runs/999")
    assert (status, body) == (404, {"message": "no run 999"})
    status, body = await api.get("/api/runs/abc")
    assert status == 400 and "id" in body["message"]


async def test_session_returns_snapshot_and_diagnosis(api: Api) -> None:
    """The session route returns the stored snapshot and diagnosis as they were kept."""
    snapshot = {"format": "self-improve-snapshot/1", "target": {"kind": "issue", "number": 12}}
    diagnosis = {"format": "self-improve-diagnosis/1", "action_items": [{"id": "A1"}]}
    run_id = await add_run(api.store, snapshot=snapshot, diagnosis=diagnosis, state="diagnosed")
    status, session = await api.get(f"/api/runs/{run_id}/session")
    assert status == 200
    assert session["snapshot"] == snapshot and session["diagnosis"] == diagnosis
    assert session["run"]["state"] == "diagnosed"


@pytest.mark.parametrize(
    ("state", "detail", "words"),
    [
        ("rejected", "label-not-configured", ["rejected", "label-not-configured"]),
        ("failed", "GitHub 502", ["failed", "GitHub 502"]),
        ("gathering", None, ["gathering"]),
    ],
)
async def test_session_of_a_run_without_one_is_404_with_the_reason(
    api: Api, state: str, detail: str | None, words: list[str]
) -> None:
    """A run with neither snapshot nor diagnosis answers 404 and says why."""
    run_id = await add_run(api.store, state=state, detail=detail)
    status, body = await api.get(f"/api/runs/{run_id}/session")
    assert status == 404
    assert all(w in body["message"] for w in words), body


async def test_responses_are_not_cacheable(api: Api) -> None:
    """Run records may hold private evidence: every answer says Cache-Control: no-store."""
    async with api.session.get(
        api.url + "/api/runs", headers={"Authorization": f"Bearer {TOKEN}"}
    ) as r:
        assert r.headers["Cache-Control"] == "no-store"
