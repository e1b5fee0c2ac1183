"""The PostgreSQL store (asyncpg): the same operations and migrations, for several replicas on one queue.

Replicas claim jobs with `FOR UPDATE SKIP LOCKED` under leases, so each job runs once; concurrent
transactions on separate connections let PostgreSQL's own WAL flushing group their commits.
"""

from __future__ import annotations

import functools
import re
from typing import Any, TypeVar

import asyncpg

from app.store import queries as q
from app.store.base import migrations, split_statements
from app.store.ops_store import OpStore

T = TypeVar("T")
_PLACEHOLDER = re.compile(r"\?")
_MIGRATION_LOCK = 0x5E1F1A9  # advisory lock id: one replica migrates, the others wait


async def _store_packed_payloads_as_they_are(conn: asyncpg.Connection) -> None:
    """`payload_lz4` arrives compressed: PostgreSQL is told not to try again (STORAGE EXTERNAL), which
    saves it about 8 µs of CPU per delivery over its default attempt with pglz. Large rows still go
    out of line."""
    if await payload_storage(conn) != "external":
        await conn.execute("ALTER TABLE deliveries ALTER COLUMN payload_lz4 SET STORAGE EXTERNAL")


async def payload_storage(conn: asyncpg.Connection) -> str:
    """How PostgreSQL stores `payload_lz4`: `external` (as it is) or `extended` (compressing)."""
    code = await conn.fetchval(
        "SELECT attstorage::text FROM pg_attribute"
        " WHERE attrelid = 'deliveries'::regclass AND attname = 'payload_lz4'"
    )
    return {"e": "external", "x": "extended", "m": "main", "p": "plain"}[code]


@functools.lru_cache(maxsize=256)  # a few dozen shapes in all; the intake's insert runs per batch
def to_postgres(sql: str) -> str:
    """`?` placeholders to `$1…$n`, and the claim marker to row locks that skip what others hold."""
    counter = iter(range(1, 10_000))
    sql = _PLACEHOLDER.sub(lambda _: f"${next(counter)}", sql)
    return sql.replace(q.LOCK_FOR_CLAIM, "FOR UPDATE SKIP LOCKED")


async def _keep_session(conn: asyncpg.Connection) -> None:
    """A connection goes back to the pool as it is: the store leaves no session state behind (no
    LISTEN, no session locks or settings; asyncpg still rolls back an open transaction), so the
    default reset, a round trip on every release, buys nothing."""


class PostgresStore(OpStore):
    """`Store` on PostgreSQL, chosen by DATABASE_URL=postgresql://…"""

    ARRAY_PARAMETERS = True

    def __init__(
        self, dsn: str, *, schema: str | None = None, min_size: int = 2, max_size: int = 10
    ) -> None:
        self.dsn = dsn
        self.schema = (
            schema  # a schema of its own (tests, side-by-side benchmarks); None: the default
        )
        self._pool: asyncpg.Pool | None = None
        self._sizes = (min_size, max_size)

    async def open(self) -> None:
        if self._pool is not None:
            return
        settings = {"search_path": self.schema} if self.schema else {}
        self._pool = await asyncpg.create_pool(
            self.dsn,
            min_size=self._sizes[0],
            max_size=self._sizes[1],
            command_timeout=60,
            server_settings=settings,
            reset=_keep_session,
        )
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations"
                " (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ DEFAULT now())"
            )
            done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
            for version, sql in migrations("BIGSERIAL PRIMARY KEY", "BYTEA"):
                if version in done:
                    continue
                for statement in split_statements(sql):
                    await conn.execute(statement)
                await conn.execute("INSERT INTO schema_migrations (version) VALUES ($1)", version)
            await _store_packed_payloads_as_they_are(conn)

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    def _require_pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("the store is not open")
        return self._pool

    async def ping(self) -> bool:
        try:
            async with self._require_pool().acquire() as conn:
                return bool(await conn.fetchval("SELECT 1") == 1)
        except (OSError, asyncpg.PostgresError, RuntimeError):
            return False

    async def _drive(self, conn: Any, op: q.Op[T]) -> T:
        try:
            stmt = next(op)
            while True:
                sql = to_postgres(stmt.sql)
                result: Any
                if stmt.fetch == "all":
                    result = [dict(r) for r in await conn.fetch(sql, *stmt.args)]
                elif stmt.fetch == "one":
                    row = await conn.fetchrow(sql, *stmt.args)
                    result = dict(row) if row is not None else None
                else:
                    status = await conn.execute(sql, *stmt.args)
                    result = int(status.rsplit(" ", 1)[-1]) if status[-1:].isdigit() else 0
                stmt = op.send(result)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]  # the generator's declared return type

    async def _write_op(self, op: q.Op[T]) -> T:
        async with self._require_pool().acquire() as conn, conn.transaction():
            return await self._drive(conn, op)

    async def _read_op(self, op: q.Op[T]) -> T:
        async with self._require_pool().acquire() as conn:
            return await self._drive(conn, op)

    async def _write_each_op(self, op: q.Op[T]) -> T:
        """No BEGIN and COMMIT around it: each statement commits, durably, on its own, so the
        intake's usual batch (one insert) is one round trip instead of three."""
        return await self._read_op(op)
