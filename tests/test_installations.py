"""Installation events through the running app: recorded, and an uninstall drops queued work."""

from __future__ import annotations

from pathlib import Path

from app.fake_github import FakeGitHub
from app.store.base import JobIn
from tests.app_harness import Harness, start_app


def installation_event(fake: FakeGitHub, action: str) -> tuple[str, dict[str, object]]:
    owner = fake.repo_full_name.split("/")[0]
    return "installation", {
        "action": action,
        "installation": {
            "id": fake.installation_id,
            "account": {"login": owner},
            "updated_at": action,
        },
        "sender": {"login": owner, "type": "User"},
    }


async def test_uninstall_cancels_queued_jobs_and_is_recorded(
    fake_github: FakeGitHub, app_key_pem: bytes, tmp_path: Path
) -> None:
    """`installation.deleted` marks the installation deleted and cancels its waiting jobs."""
    async with start_app(fake_github, app_key_pem, tmp_path, worker_concurrency=1) as app:
        await app.asend(*installation_event(fake_github, "created"))
        await app.idle()
        assert await app.store.installation_state(fake_github.installation_id) == "active"
        waiting = JobIn(
            kind="self_improve",
            idempotency_key="later",
            target_key=f"{fake_github.repo_full_name}#12",
            payload={},
            installation_id=fake_github.installation_id,
        )
        # A job due in an hour stands for work still queued when the uninstall arrives.
        await app.store.enqueue_job(waiting, now=app.deps.clock() + 3600)
        await app.asend(*installation_event(fake_github, "deleted"))
        await app.wait_for(lambda: _state_is(app, "deleted"), what="the uninstall")
        counts = await app.store.job_counts()
        assert counts["cancelled"] == 1
        assert counts["queued"] == 0


async def _state_is(app: Harness, state: str) -> bool:
    return await app.store.installation_state(app.fake.installation_id) == state
