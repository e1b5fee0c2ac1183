"""The floor for the intake benchmark: a bare aiohttp handler that verifies the signature, inserts the
delivery into SQLite (WAL, synchronous=FULL) and answers 202. Nothing else: no routing, no jobs."""

from __future__ import annotations

import hashlib
import hmac
import os
import sqlite3
import sys

from aiohttp import web


def main() -> None:
    port, db_path = int(sys.argv[1]), sys.argv[2]
    secret = os.environ["WEBHOOK_SECRET"].encode()
    db = sqlite3.connect(db_path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute(
        "CREATE TABLE IF NOT EXISTS deliveries (guid TEXT PRIMARY KEY, event TEXT, payload TEXT)"
    )

    async def hook(request: web.Request) -> web.Response:
        body = await request.read()
        expected = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, request.headers.get("X-Hub-Signature-256", "")):
            return web.Response(status=401)
        db.execute(
            "INSERT OR IGNORE INTO deliveries VALUES (?, ?, ?)",
            (
                request.headers["X-GitHub-Delivery"],
                request.headers["X-GitHub-Event"],
                body.decode(),
            ),
        )
        return web.Response(status=202)

    app = web.Application(client_max_size=25 * 1024 * 1024)
    app.router.add_post("/api/github/webhooks", hook)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


if __name__ == "__main__":
    main()
