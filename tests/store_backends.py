"""Both store backends as one parametrized fixture: every store test runs on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from app.store.base import Store
from app.store.postgres import PostgresStore
from app.store.sqlite import SQLiteStore

POSTGRES_URL = os.environ.get("DATABASE_TEST_URL", "postgresql://127.0.0.1:5432/test")


async def postgres_schema() -> str:
    """A fresh schema; fails loudly (never skips) when PostgreSQL cannot be reached."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    try:
        conn = await asyncpg.connect(POSTGRES_URL, timeout=5)
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.fail(
            f"PostgreSQL is not reachable at {POSTGRES_URL} ({exc}); start it (.ci/postgres) "
            "or set DATABASE_TEST_URL",
            pytrace=False,
        )
    try:
        await conn.execute(f'CREATE SCHEMA "{name}"')
    finally:
        await conn.close()
    return name


async def drop_schema(name: str) -> None:
    conn = await asyncpg.connect(POSTGRES_URL, timeout=5)
    try:
        await conn.execute(f'DROP SCHEMA "{name}" CASCADE')
    finally:
        await conn.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    backend: Store
    schema = None
    if request.param == "sqlite":
        backend = SQLiteStore(tmp_path / "store.db")
    else:
        schema = await postgres_schema()
        backend = PostgresStore(POSTGRES_URL, schema=schema, min_size=1, max_size=4)
    await backend.open()
    try:
        yield backend
    finally:
        await backend.close()
        if schema is not None:
            await drop_schema(schema)
