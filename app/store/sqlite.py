"""The SQLite store: WAL, synchronous=FULL, and group commit through one writer thread.

Every write is a function run inside a transaction on the writer thread. The thread takes all writes
waiting at that moment and commits them together, so one fsync makes many deliveries durable, and each
caller's future resolves only after that commit. A write that raises is rolled back to its own savepoint
and does not disturb the others in the batch. Reads use a second connection (WAL lets it read while the
writer writes).
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from app.store import queries as q
from app.store.base import migrations, split_statements
from app.store.ops_store import OpStore

T = TypeVar("T")
_MAX_BATCH = 256
_STOP = object()


class SQLiteStore(OpStore):
    """`Store` on one SQLite file."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._writes: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._writer: threading.Thread | None = None
        self._read_lock = threading.Lock()
        self._reader: sqlite3.Connection | None = None
        self.commits = (
            0  # transactions committed; with `writes` it shows how much group commit batched
        )
        self.writes = 0

    @classmethod
    def from_url(cls, url: str) -> SQLiteStore:
        return cls(url.removeprefix("sqlite:///") or ":memory:")

    # -- lifecycle ---------------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA busy_timeout=30000")
        return conn

    async def open(self) -> None:
        if self._writer is not None:
            return
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        conn = await asyncio.to_thread(self._connect)
        await asyncio.to_thread(self._migrate, conn)
        self._reader = await asyncio.to_thread(self._connect)
        self._writer = threading.Thread(target=self._write_loop, args=(conn,), daemon=True)
        self._writer.start()

    async def close(self) -> None:
        if self._writer is None:
            return
        self._writes.put(_STOP)
        await asyncio.to_thread(self._writer.join)
        self._writer = None
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    @staticmethod
    def _migrate(conn: sqlite3.Connection) -> None:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at REAL)"
        )
        done = {r[0] for r in conn.execute("SELECT version FROM schema_migrations")}
        for version, sql in migrations("INTEGER PRIMARY KEY AUTOINCREMENT", "BLOB"):
            if version in done:
                continue
            conn.execute("BEGIN IMMEDIATE")
            try:
                for statement in split_statements(sql):
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO schema_migrations VALUES (?, strftime('%s','now'))", (version,)
                )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    # -- the writer thread -------------------------------------------------------------------------

    def _write_loop(self, conn: sqlite3.Connection) -> None:
        try:
            while True:
                first = self._writes.get()
                if first is _STOP:
                    return
                batch = [first]
                while len(batch) < _MAX_BATCH:
                    try:
                        nxt = self._writes.get_nowait()
                    except queue.Empty:
                        break
                    if nxt is _STOP:
                        self._writes.put(_STOP)
                        break
                    batch.append(nxt)
                self._commit_batch(conn, batch)
        finally:
            conn.close()

    def _commit_batch(self, conn: sqlite3.Connection, batch: list[Any]) -> None:
        outcomes: list[tuple[bool, Any]] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            for fn, _, _ in batch:
                conn.execute("SAVEPOINT op")
                try:
                    outcomes.append((True, fn(conn)))
                    conn.execute("RELEASE op")
                except Exception as exc:  # one caller's failure must not sink the batch
                    conn.execute("ROLLBACK TO op")
                    conn.execute("RELEASE op")
                    outcomes.append((False, exc))
            conn.execute("COMMIT")
            self.commits += 1
            self.writes += len(batch)
        except Exception as exc:  # the commit itself failed: nobody's write is durable
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            outcomes = [(False, exc)] * len(batch)
        # One wake-up per event loop for the whole batch, not one per caller.
        settled: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], bool, Any]]] = {}
        for (_, fut, loop), (ok, value) in zip(batch, outcomes, strict=True):
            settled.setdefault(loop, []).append((fut, ok, value))
        for loop, results in settled.items():
            with contextlib.suppress(RuntimeError):  # that loop is closed: nobody is waiting
                loop.call_soon_threadsafe(_settle_all, results)

    async def _write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._writer is None:
            raise RuntimeError("the store is not open")
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[T] = loop.create_future()
        self._writes.put((fn, fut, loop))
        return await fut

    async def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        def run() -> T:
            assert self._reader is not None, "the store is not open"
            with self._read_lock:
                return fn(self._reader)

        return await asyncio.to_thread(run)

    async def ping(self) -> bool:
        try:
            return await self._read(lambda c: c.execute("SELECT 1").fetchone()[0] == 1)
        except (sqlite3.Error, AssertionError):
            return False

    async def _write_op(self, op: q.Op[T]) -> T:
        return await self._write(lambda c: q.drive(_Sqlite(c), op))

    async def _read_op(self, op: q.Op[T]) -> T:
        return await self._read(lambda c: q.drive(_Sqlite(c), op))


def _settle_all(results: list[tuple[asyncio.Future[Any], bool, Any]]) -> None:
    for fut, ok, value in results:
        if fut.done():  # the caller was cancelled; the write is durable all the same
            continue
        if ok:
            fut.set_result(value)
        else:
            fut.set_exception(value)


class _Sqlite:
    """The tiny cursor interface `queries` is written against, for a sqlite3 connection."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def all(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        return [dict(r) for r in self.conn.execute(sql, args).fetchall()]

    def one(self, sql: str, *args: Any) -> dict[str, Any] | None:
        row = self.conn.execute(sql, args).fetchone()
        return dict(row) if row is not None else None

    def run(self, sql: str, *args: Any) -> int:
        return self.conn.execute(sql, args).rowcount
