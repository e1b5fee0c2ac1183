"""Publishing against the GitHub double: check run lifecycle, 403 fallback, sticky comment, reactions."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from app.fake_github.double import FakeGitHub
from app.github.apps import GitHubApps
from app.github.client import GitHubClient
from app.github.errors import GitHubError
from app.publish.checks import CheckRunPublisher
from app.publish.comment import find_sticky_comments, react, upsert_sticky_comment
from app.publish.head import head_sha_for
from app.publish.render import MARKER, CheckOutput, render_failure_report
from app.routing import check_external_id
from app.settings import load_settings

# The double's fixtures: fake_github, fake_github_factory, app_key_pem.
pytest_plugins = ["app.fake_github.pytest_plugin"]

SMALL = Path(__file__).parent / "fixtures" / "snapshots" / "small.json"
REPO = "acme/widgets"
BOT = "self-improve[bot]"
PR_HEAD = "1159c503e3a45c7754ff763834474f44631c7563"
EXTERNAL_ID = check_external_id("pull_request", 13, 7)


class GitHub:
    """Clients of the App under test on the double: `client()` is a fresh worker's publish client."""

    def __init__(self, fake: FakeGitHub, pem: bytes, session: aiohttp.ClientSession) -> None:
        self.fake, self._pem, self._session = fake, pem, session
        self.gh = self.client()

    def client(self) -> GitHubClient:
        settings = load_settings(
            None,
            app_id=self.fake.app_id,
            private_key=self._pem.decode(),
            github_api_url=self.fake.url,
        )
        apps = GitHubApps(settings, self._session, mutation_spacing=0.0)
        return apps.installation_client(
            self.fake.installation_id, repository="widgets", purpose="publish"
        )

    def limited_client(self, permissions: dict[str, str]) -> GitHubClient:
        """A client on a token with only `permissions` (an installation that never granted more)."""
        settings = load_settings(None, github_api_url=self.fake.url)
        apps = GitHubApps(settings, self._session, mutation_spacing=0.0)
        return apps.token_client(self.fake.installation_token(["widgets"], permissions))

    def writes(self, method: str, fragment: str) -> list[dict[str, Any]]:
        return [w for w in self.fake.writes() if w["method"] == method and fragment in w["path"]]

    def bot_comments(self, number: int) -> list[dict[str, Any]]:
        return [
            c
            for c in self.fake.world.issue_comments(number)
            if c["user"]["login"] == BOT and MARKER in c["body"]
        ]


async def _github(fake: FakeGitHub, pem: bytes) -> AsyncIterator[GitHub]:
    async with aiohttp.ClientSession() as session:
        yield GitHub(fake, pem, session)


@pytest.fixture
async def github(fake_github: FakeGitHub, app_key_pem: bytes) -> AsyncIterator[GitHub]:
    async for g in _github(fake_github, app_key_pem):
        yield g


def report_output(summary: str = "All good.") -> CheckOutput:
    return CheckOutput("No recurring problems found", summary, "## Evidence")


def annotation(n: int) -> dict[str, Any]:
    return {
        "path": "widgets/export.py",
        "start_line": n,
        "end_line": n,
        "annotation_level": "warning",
        "title": f"A1: evidence {n}",
        "message": f"excerpt {n}",
    }


# Check run. -------------------------------------------------------------------------------------


async def test_check_run_moves_from_in_progress_to_completed(github: GitHub) -> None:
    """start → phase → complete: the double holds one completed run with our output and buttons."""
    checks = CheckRunPublisher(github.gh, REPO)
    run_id = await checks.start(PR_HEAD, EXTERNAL_ID)
    assert run_id is not None
    started = github.fake.world.check_run(run_id)
    assert (started["status"], started["head_sha"], started["external_id"]) == (
        "in_progress",
        PR_HEAD,
        EXTERNAL_ID,
    )
    assert started["name"] == "self-improve"
    await checks.phase("gathering")
    assert github.fake.world.check_run(run_id)["output"]["title"] == "Gathering evidence…"
    actions = [{"label": "Re-run", "description": "Diagnose again", "identifier": "rerun"}]
    assert await checks.complete("neutral", report_output(), actions=actions)
    done = github.fake.world.check_run(run_id)
    assert (done["status"], done["conclusion"]) == ("completed", "neutral")
    assert done["output"]["title"] == "No recurring problems found"
    assert done["output"]["text"] == "## Evidence"
    assert done["actions"] == actions
    assert checks.completed and checks.html_url == done["html_url"]
    assert len(github.writes("POST", "/check-runs")) == 1


async def test_phases_after_completion_do_not_touch_the_run(github: GitHub) -> None:
    """Once completed, a late phase update is skipped (it would overwrite the report)."""
    checks = CheckRunPublisher(github.gh, REPO)
    run_id = await checks.start(PR_HEAD, EXTERNAL_ID)
    await checks.complete("success", report_output("done"))
    await checks.phase("diagnosing")
    assert github.fake.world.check_run(run_id or 0)["output"]["summary"] == "done"


async def test_120_annotations_take_three_patches(github: GitHub) -> None:
    """Annotations go 50 per request: 120 need the completing PATCH and two more, all kept."""
    checks = CheckRunPublisher(github.gh, REPO)
    run_id = await checks.start(PR_HEAD, EXTERNAL_ID)
    assert run_id is not None
    github.fake.reset()
    await checks.complete("neutral", report_output(), [annotation(n) for n in range(1, 121)])
    patches = github.writes("PATCH", f"/check-runs/{run_id}")
    assert [len(p["body"]["output"]["annotations"]) for p in patches] == [50, 50, 20]
    assert patches[0]["body"]["conclusion"] == "neutral"
    kept = github.fake.world.check_annotations(run_id)
    assert [a["start_line"] for a in kept] == list(range(1, 121))


async def test_failed_job_still_completes_its_check_run(github: GitHub) -> None:
    """An exception mid-run ends, through `finally`, in a completed `failure` naming the reason."""
    checks = CheckRunPublisher(github.gh, REPO)
    run_id = await checks.start(PR_HEAD, EXTERNAL_ID)

    async def job() -> None:
        try:
            await checks.phase("gathering")
            raise RuntimeError("GitHub 502 on the job logs")
        finally:
            await checks.publish(render_failure_report("GitHub 502 on the job logs", locale="en"))

    with pytest.raises(RuntimeError):
        await job()
    done = github.fake.world.check_run(run_id or 0)
    assert (done["status"], done["conclusion"]) == ("completed", "failure")
    assert "GitHub 502 on the job logs" in done["output"]["summary"]
    assert [a["identifier"] for a in done["actions"]] == ["rerun"]


async def test_a_report_github_refuses_still_completes_the_run(github: GitHub) -> None:
    """An annotation GitHub rejects (422) falls back to a short report; the run is not left stale."""
    checks = CheckRunPublisher(github.gh, REPO)
    run_id = await checks.start(PR_HEAD, EXTERNAL_ID)
    broken = {"path": "widgets/export.py", "annotation_level": "warning", "message": "no lines"}
    assert await checks.complete("neutral", report_output(), [broken])
    done = github.fake.world.check_run(run_id or 0)
    assert (done["status"], done["conclusion"]) == ("completed", "neutral")
    assert "refused" in done["output"]["summary"]


async def test_a_retried_job_resets_its_earlier_run(github: GitHub) -> None:
    """`start(existing_id=…)` puts the earlier run back in progress instead of creating another."""
    first = CheckRunPublisher(github.gh, REPO)
    run_id = await first.start(PR_HEAD, EXTERNAL_ID)
    await first.complete("failure", report_output("crashed"))
    again = CheckRunPublisher(github.gh, REPO)
    assert await again.start(PR_HEAD, EXTERNAL_ID, existing_id=run_id) == run_id
    assert github.fake.world.check_run(run_id or 0)["status"] == "in_progress"
    assert len(github.writes("POST", "/check-runs")) == 1


async def test_a_vanished_earlier_run_is_replaced(github: GitHub) -> None:
    """An `existing_id` GitHub does not know is replaced by a new run."""
    checks = CheckRunPublisher(github.gh, REPO)
    run_id = await checks.start(PR_HEAD, EXTERNAL_ID, existing_id=987654)
    assert run_id is not None and run_id != 987654
    assert github.fake.world.check_run(run_id)["status"] == "in_progress"


async def test_without_checks_permission_the_publisher_names_it_and_stands_down(
    github: GitHub,
) -> None:
    """403 on creation: disabled, the permission GitHub named remembered, no further check writes."""
    gh = github.limited_client({"issues": "write", "metadata": "read"})
    checks = CheckRunPublisher(gh, REPO)
    assert await checks.start(PR_HEAD, EXTERNAL_ID) is None
    assert checks.disabled and checks.missing_permission == "checks=write"
    await checks.phase("gathering")
    assert not await checks.complete("neutral", report_output())
    assert len(github.writes("POST", "/check-runs")) == 1  # the refused one
    assert github.writes("PATCH", "/check-runs") == []
    assert all(r["name"] != "self-improve" for r in github.fake.world.check_runs.values())


async def test_unknown_conclusion_is_a_programming_error(github: GitHub) -> None:
    """Only GitHub's conclusions are accepted, before anything is sent."""
    checks = CheckRunPublisher(github.gh, REPO)
    await checks.start(PR_HEAD, EXTERNAL_ID)
    with pytest.raises(ValueError, match="conclusion"):
        await checks.complete("stale", report_output())


# Head commit. -----------------------------------------------------------------------------------


async def test_head_of_a_pull_request_is_its_head_commit(github: GitHub) -> None:
    """A PR target hangs the check run on the PR's head sha."""
    assert await head_sha_for(github.gh, REPO, "pull_request", 13) == PR_HEAD


async def test_head_of_an_issue_is_the_default_branch_head(github: GitHub) -> None:
    """An issue target uses the default branch's head, read from the repository or given."""
    expected = github.fake.world.ref_object("heads/main")["object"]["sha"]
    assert await head_sha_for(github.gh, REPO, "issue", 12) == expected
    assert await head_sha_for(github.gh, REPO, "issue", 12, default_branch="main") == expected


async def test_head_of_a_missing_pull_request_is_an_error(github: GitHub) -> None:
    """A PR that does not exist is GitHub's 404, not a made-up sha."""
    with pytest.raises(GitHubError):
        await head_sha_for(github.gh, REPO, "pull_request", 999)


# Sticky comment. --------------------------------------------------------------------------------


async def test_sticky_comment_is_created_once_then_edited_in_place(github: GitHub) -> None:
    """The first run posts; the second finds the comment by its marker and edits it."""
    first = await upsert_sticky_comment(github.gh, REPO, 12, f"{MARKER}\nround 1", bot_login=BOT)
    second = await upsert_sticky_comment(github.gh, REPO, 12, f"{MARKER}\nround 2", bot_login=BOT)
    assert first == second
    ours = github.bot_comments(12)
    assert [c["id"] for c in ours] == [first]
    assert ours[0]["body"].endswith("round 2")
    assert len(github.writes("POST", "/issues/12/comments")) == 1
    assert len(github.writes("PATCH", f"/issues/comments/{first}")) == 1


async def test_body_without_marker_gets_one(github: GitHub) -> None:
    """A body the caller forgot to mark is marked, so the next run still finds it."""
    first = await upsert_sticky_comment(github.gh, REPO, 12, "plain", bot_login=BOT)
    assert github.fake.world.comment(first)["body"].startswith(MARKER)
    assert await upsert_sticky_comment(github.gh, REPO, 12, "plain 2", bot_login=BOT) == first


async def test_known_id_is_edited_without_listing(github: GitHub) -> None:
    """With the id from an earlier run the comment is edited directly (no listing of the thread)."""
    first = await upsert_sticky_comment(github.gh, REPO, 12, "one", bot_login=BOT)
    github.fake.reset()
    again = await upsert_sticky_comment(github.gh, REPO, 12, "two", bot_login=BOT, known_id=first)
    assert again == first
    assert not any(r["path"].endswith("/issues/12/comments") for r in github.fake.requests())


async def test_a_deleted_known_comment_is_replaced(github: GitHub) -> None:
    """A known id that was deleted meanwhile leads to a search, then a new comment."""
    first = await upsert_sticky_comment(github.gh, REPO, 12, "one", bot_login=BOT)
    await github.gh.delete(f"/repos/{REPO}/issues/comments/{first}")
    again = await upsert_sticky_comment(github.gh, REPO, 12, "two", bot_login=BOT, known_id=first)
    assert again != first
    assert [c["id"] for c in github.bot_comments(12)] == [again]


async def test_a_marker_pasted_by_someone_else_is_not_ours(
    fake_github_factory: Any, app_key_pem: bytes
) -> None:
    """A person's comment holding our marker is neither edited nor counted; ours is posted."""
    snapshot = json.loads(SMALL.read_text())
    thread = snapshot["issues"][0]["comments"]
    pasted = {**thread[0], "id": 555001, "body": f"{MARKER}\nI am the sticky comment now"}
    pasted["html_url"] = pasted["html_url"].rsplit("-", 1)[0] + "-555001"
    thread.append(pasted)
    fake = fake_github_factory(snapshot=snapshot)
    async for github in _github(fake, app_key_pem):
        mine = await upsert_sticky_comment(github.gh, REPO, 12, "report", bot_login=BOT)
        assert mine != 555001
        assert fake.world.comment(555001)["body"].endswith("I am the sticky comment now")
        assert [c["id"] for c in github.bot_comments(12)] == [mine]


async def test_concurrent_upserts_leave_one_comment(github: GitHub) -> None:
    """Two workers publishing on one target at once converge on a single sticky comment."""
    one, two = github.client(), github.client()
    ids = await asyncio.gather(
        upsert_sticky_comment(one, REPO, 13, "from worker one", bot_login=BOT),
        upsert_sticky_comment(two, REPO, 13, "from worker two", bot_login=BOT),
    )
    ours = github.bot_comments(13)
    assert len(ours) == 1
    assert ids[0] == ids[1] == ours[0]["id"]
    assert len(github.writes("POST", "/issues/13/comments")) == 2  # both posted; one was removed


async def test_duplicates_left_by_an_earlier_race_are_cleaned_up(github: GitHub) -> None:
    """Two marked comments of ours already there: the oldest is edited, the other deleted."""
    older = await github.gh.post(
        f"/repos/{REPO}/issues/12/comments", data={"body": f"{MARKER}\nold"}
    )
    newer = await github.gh.post(
        f"/repos/{REPO}/issues/12/comments", data={"body": f"{MARKER}\nnewer"}
    )
    kept = await upsert_sticky_comment(github.gh, REPO, 12, "fresh", bot_login=BOT)
    assert kept == older["id"]
    remaining = await find_sticky_comments(github.gh, REPO, 12, bot_login=BOT)
    assert [c["id"] for c in remaining] == [older["id"]]
    assert remaining[0]["body"].endswith("fresh")
    with pytest.raises(GitHubError):
        await github.gh.getitem(f"/repos/{REPO}/issues/comments/{newer['id']}")


async def test_an_oversized_body_is_clipped_under_githubs_limit(github: GitHub) -> None:
    """A 100k-character report is posted (no 422), under 65,536 characters, with the notice."""
    comment_id = await upsert_sticky_comment(
        github.gh, REPO, 12, MARKER + "\n" + "x" * 100_000, bot_login=BOT
    )
    body = github.fake.world.comment(comment_id)["body"]
    assert len(body) <= 65_000 and "Truncated" in body


# Reactions. -------------------------------------------------------------------------------------


async def test_reactions_mark_a_command_and_repeat_harmlessly(github: GitHub) -> None:
    """`eyes` then `rocket`; the same reaction again (GitHub's 200) still counts as done."""
    command = github.fake.world.issue_comments(12)[0]["id"]
    assert await react(github.gh, REPO, command, "eyes")
    assert await react(github.gh, REPO, command, "eyes")
    assert await react(github.gh, REPO, command, "rocket")
    reactions = github.fake.world.reactions_of("comment", command, None)
    assert sorted(r["content"] for r in reactions if r["user"]["login"] == BOT) == [
        "eyes",
        "rocket",
    ]


async def test_reacting_to_a_missing_comment_is_reported_not_raised(github: GitHub) -> None:
    """A reaction that cannot be added answers False (it must not fail the job)."""
    assert not await react(github.gh, REPO, 424242, "confused")


async def test_unknown_reaction_is_refused(github: GitHub) -> None:
    """Only GitHub's reaction names are sent."""
    with pytest.raises(ValueError, match="reaction"):
        await react(github.gh, REPO, 1, "party")
