"""The run history as MCP tools: listed, called, and served by `python -m app mcp` over stdio."""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client

from app.mcp_server import build_mcp_server
from app.store.base import RunIn, Store
from app.store.sqlite import SQLiteStore

ROOT = Path(__file__).resolve().parents[1]
TOOLS = {"self_improve_runs_list", "self_improve_run_lookup", "self_improve_session_get"}


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[Store]:
    backend = SQLiteStore(tmp_path / "mcp.db")
    await backend.open()
    try:
        yield backend
    finally:
        await backend.close()


async def add_run(store: Store, number: int = 12, kind: str = "issue", **fields: Any) -> int:
    run = await store.get_or_create_run(
        RunIn(None, "acme/widgets", 42, kind, number, {"event": "issues"}, "octo-owner", "km"),
        now=1000.0,
    )
    if fields:
        await store.update_run(run.id, now=1000.0, **fields)
    return run.id


def payload(result: Any) -> Any:
    """The JSON a tool answered, read from its text content (what every MCP client sees)."""
    assert not result.is_error, result.content
    return json.loads(result.content[0].text)


async def test_three_read_only_tools_are_listed(sqlite_store: Store) -> None:
    """The server lists exactly the three run-history tools, each marked read-only."""
    async with Client(build_mcp_server(sqlite_store)) as client:
        listed = (await client.list_tools()).tools
    assert {t.name for t in listed} == TOOLS
    for tool in listed:
        assert tool.annotations is not None and tool.annotations.read_only_hint is True
        assert tool.description


async def test_runs_list_pages_and_filters(sqlite_store: Store) -> None:
    """`self_improve_runs_list` answers the API's page shape, newest first."""
    ids = [await add_run(sqlite_store, number=n) for n in range(1, 4)]
    async with Client(build_mcp_server(sqlite_store)) as client:
        page = payload(await client.call_tool("self_improve_runs_list", {}))
        filtered = payload(
            await client.call_tool("self_improve_runs_list", {"repository": "acme/gadgets"})
        )
    assert (page["page"], page["per_page"], page["has_next"]) == (1, 50, False)
    assert [r["id"] for r in page["items"]] == ids[::-1]
    assert filtered["items"] == []


async def test_lookup_and_session(sqlite_store: Store) -> None:
    """Lookup finds a target's runs; the session tool returns its snapshot and diagnosis."""
    diagnosis = {"format": "self-improve-diagnosis/1", "action_items": []}
    run_id = await add_run(sqlite_store, 13, "pull_request", snapshot={"s": 1}, diagnosis=diagnosis)
    async with Client(build_mcp_server(sqlite_store)) as client:
        found = payload(
            await client.call_tool(
                "self_improve_run_lookup", {"repository": "acme/widgets", "pull_request": 13}
            )
        )
        session = payload(await client.call_tool("self_improve_session_get", {"run_id": run_id}))
    assert [r["id"] for r in found["items"]] == [run_id]
    assert session["diagnosis"] == diagnosis and session["snapshot"] == {"s": 1}


@pytest.mark.parametrize(
    ("tool", "arguments", "words"),
    [
        ("self_improve_session_get", {"run_id": 404}, "no run 404"),
        ("self_improve_runs_list", {"page": 0}, "page"),
        ("self_improve_runs_list", {"repository": "not-a-repo"}, "repository"),
        ("self_improve_run_lookup", {"repository": "acme/widgets"}, "exactly one"),
    ],
)
async def test_bad_calls_are_tool_errors_that_say_why(
    sqlite_store: Store, tool: str, arguments: dict[str, Any], words: str
) -> None:
    """A call the history cannot answer is an MCP tool error whose text names the cause."""
    async with Client(build_mcp_server(sqlite_store)) as client:
        result = await client.call_tool(tool, arguments)
    assert result.is_error
    assert words in result.content[0].text


async def test_session_of_a_rejected_run_says_why(sqlite_store: Store) -> None:
    """A run that never gathered evidence answers an error with its state and detail."""
    run_id = await add_run(sqlite_store, state="rejected", detail="sender-not-allowed")
    async with Client(build_mcp_server(sqlite_store)) as client:
        result = await client.call_tool("self_improve_session_get", {"run_id": run_id})
    assert result.is_error
    assert "rejected" in result.content[0].text and "sender-not-allowed" in result.content[0].text


@pytest.mark.slow
async def test_python_m_app_mcp_serves_over_stdio(tmp_path: Path) -> None:
    """`python -m app mcp` in a subprocess answers the SDK's own stdio client from DATABASE_URL."""
    db = tmp_path / "stdio.db"
    seeded = SQLiteStore(db)
    await seeded.open()
    run_id = await add_run(seeded, 12, diagnosis={"action_items": []})
    await seeded.close()
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "app", "mcp"],
        env={"DATABASE_URL": f"sqlite:///{db}", "PYTHONPATH": str(ROOT)},
        cwd=tmp_path,  # no .env here: the settings come from the environment given above
    )
    with (tmp_path / "stderr.txt").open("w") as errlog:
        async with Client(stdio_client(params, errlog=errlog)) as client:
            names = {t.name for t in (await client.list_tools()).tools}
            page = payload(await client.call_tool("self_improve_runs_list", {"page": 1}))
    assert names == TOOLS
    assert [r["id"] for r in page["items"]] == [run_id]
