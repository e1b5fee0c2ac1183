"""Missed-delivery recovery against the double: what GitHub could not deliver is asked for again."""

from __future__ import annotations

import time
from pathlib import Path

from app.fake_github import FakeGitHub
from app.recovery import LAST_SWEEP_KEY, missing_guids, sweep_missed_deliveries
from tests.app_harness import free_port, start_app
from tests.events import labeled


def test_missing_guids_table() -> None:
    """A GUID needs a redelivery only when no attempt was OK and we do not hold it; the newest is resent."""
    attempts = [
        {
            "id": 1,
            "guid": "a",
            "status": "Invalid HTTP Response: 503",
            "delivered_at": "2026-11-20T10:00:00Z",
        },
        {"id": 2, "guid": "a", "status": "OK", "delivered_at": "2026-11-20T10:05:00Z"},
        {
            "id": 3,
            "guid": "b",
            "status": "failed to connect",
            "delivered_at": "2026-11-20T10:00:00Z",
        },
        {"id": 4, "guid": "b", "status": "timed out", "delivered_at": "2026-11-20T11:00:00Z"},
        {
            "id": 5,
            "guid": "c",
            "status": "failed to connect",
            "delivered_at": "2026-11-20T10:00:00Z",
        },
    ]
    assert missing_guids(attempts, known={"c": "done"}) == {"b": 4}


async def test_failed_delivery_is_redelivered_and_processed(
    fake_github: FakeGitHub, app_key_pem: bytes, tmp_path: Path
) -> None:
    """A delivery that never reached us is redelivered by the sweep and stored with its GUID."""
    fake_github.configure(webhook_url=f"http://127.0.0.1:{free_port()}/nowhere", webhook_secret="x")
    missed = fake_github.send_webhook(*labeled(fake_github, 12))
    assert missed["status"] != "OK"
    async with start_app(fake_github, app_key_pem, tmp_path) as app:
        await app.asend(*labeled(fake_github, 12, stamp="2026-11-21T11:00:00Z"))  # arrives
        assert app.fake.deliveries()[-1]["status"] == "OK"
        client = app.github_app_client()
        result = await sweep_missed_deliveries(client, app.store, now=time.time())
        assert result.redelivered == (missed["guid"],)
        stored = await app.wait_for(
            lambda: app.store.get_delivery(missed["guid"]), what="the redelivery"
        )
        assert stored.guid == missed["guid"]
        assert await app.store.get_meta(LAST_SWEEP_KEY) is not None
        again = await sweep_missed_deliveries(client, app.store, now=time.time())
        assert again.redelivered == ()
