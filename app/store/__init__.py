"""Durable state: deliveries, jobs, runs and audit events, behind one `Store` protocol."""

from __future__ import annotations

from app.store.base import Store


def open_store(database_url: str) -> Store:
    """The backend named by DATABASE_URL (not yet opened: call `await store.open()`)."""
    if database_url.startswith("sqlite:///"):
        from app.store.sqlite import SQLiteStore

        return SQLiteStore.from_url(database_url)
    if database_url.startswith(("postgresql://", "postgres://")):
        from app.store.postgres import PostgresStore

        return PostgresStore(database_url)
    raise ValueError("DATABASE_URL must be sqlite:///PATH or postgresql://…")


__all__ = ["Store", "open_store"]
