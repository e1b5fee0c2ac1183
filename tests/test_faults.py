"""The whole app against a flaky GitHub: 5xx, dropped connections and rate limits, still one effect each."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from app.fake_github import FakeGitHub
from app.store.base import Run
from tests.app_harness import Harness, start_app
from tests.effects import applied, effects_of, our_check_runs, our_comments
from tests.events import comment, labeled

ISSUE, PULL = 12, 13  # the issue and the PR of tests/fixtures/snapshots/small.json
SCENARIO = (
    Path(__file__).parent / "fixtures" / "scenarios" / "01-copilot-lint-private-registry.json"
)
SCENARIO_PR, SCENARIO_ADMIN = 215, "dana-okafor"

# Every fault plan answers a share of all requests (token minting included) with the fault.
FAULT_PLANS: dict[str, list[dict[str, Any]]] = {
    # 20 % in all: half 502s, half dropped connections (the second rule sees what the first let by).
    "502-or-reset-20pct": [{"kind": "502", "rate": 0.1}, {"kind": "reset", "rate": 0.1 / 0.9}],
    "503-retry-after": [{"kind": "503", "rate": 0.1, "retry_after": 0}],
    "secondary-limit": [{"kind": "secondary", "rate": 0.1, "count": 30, "retry_after": 1}],
    # The token's whole budget spent mid-run: every request 403s until the reset a second later.
    "primary-exhausted": [
        {
            "kind": "primary",
            "route": "GET /repos/{owner}/{repo}/issues/{issue_number}/timeline",
            "count": 1,
            "reset_in": 1,
        }
    ],
}


FAST = {
    "github_retry_base_seconds": 0.01,  # GitHub's 1 s doubling per 5xx retry, shrunk to milliseconds
    "github_rate_limit_min_seconds": 0.2,
    "job_retry_base_seconds": 0.05,
    "job_max_attempts": 8,
}


# --- what the double saw: effects counted from its write log and its final state ---------------


async def all_runs(app: Harness) -> list[Run]:
    runs, _ = await app.store.list_runs(page=1, per_page=500)
    return runs


def assert_each_run_once(fake: FakeGitHub, runs: list[Run], targets: Iterable[int]) -> None:
    """Every run finished; one completed check run per run; one sticky comment per target."""
    effects = effects_of(fake.writes())
    diagnoses = [r for r in runs if r.trigger.get("kind", "self_improve") == "self_improve"]
    assert diagnoses and all(r.state == "diagnosed" for r in diagnoses), [
        (r.id, r.state, r.detail) for r in diagnoses
    ]
    for run in diagnoses:
        external_id = f"self-improve:{run.target_kind}:{run.target_number}:{run.id}"
        assert effects.check_runs[external_id] == 1, external_id
    assert sum(effects.check_runs.values()) == len(diagnoses)
    stale = [r["id"] for r in our_check_runs(fake) if r.get("status") != "completed"]
    assert stale == []
    for number in targets:
        assert effects.sticky_comments[number] == 1, number
        assert len(our_comments(fake, number)) == 1, number


# --- the tests -----------------------------------------------------------------------------------


@pytest.mark.parametrize("plan", list(FAULT_PLANS))
async def test_runs_complete_once_through_faults(
    plan: str, fake_github: FakeGitHub, app_key_pem: bytes, tmp_path: Path
) -> None:
    """Under each fault plan, four triggers on two targets: four finished runs, four completed check
    runs (one each), one sticky comment per target."""
    async with start_app(fake_github, app_key_pem, tmp_path, **FAST) as app:
        fake_github.set_faults(FAULT_PLANS[plan], seed=7)
        await app.asend(*labeled(fake_github, ISSUE))
        await app.asend(*labeled(fake_github, PULL, pull_request=True))
        await app.asend(*comment(fake_github, ISSUE, "/self-improve", sender="octo-dev"))
        await app.idle(within=60)
        await app.asend(
            *labeled(fake_github, PULL, pull_request=True, stamp="2026-11-21T12:00:00Z")
        )
        await app.idle(within=60)
        faulted = [r for r in fake_github.requests() if r["status"] in {0, 403, 502, 503}]
        fake_github.set_faults([])
        runs = await all_runs(app)
        assert len(runs) == 4
        assert_each_run_once(fake_github, runs, [ISSUE, PULL])
        assert faulted, "the plan injected at least one fault"
        if plan == "502-or-reset-20pct":
            share = len(faulted) / len(fake_github.requests())
            assert 0.1 < share < 0.3, share


async def test_faults_on_every_write_still_give_one_effect(
    fake_github: FakeGitHub, app_key_pem: bytes, tmp_path: Path
) -> None:
    """Half of all writes fail (502 or reset): the run still ends with one check run and one comment."""
    rules = [
        {"kind": kind, "rate": 0.35, "route": f"{method} /repos/"}
        for kind in ("502", "reset")
        for method in ("POST", "PATCH")
    ]
    async with start_app(fake_github, app_key_pem, tmp_path, **FAST) as app:
        fake_github.set_faults(rules, seed=5)
        await app.asend(*labeled(fake_github, ISSUE))
        await app.idle(within=60)
        fake_github.set_faults([])
        runs = await all_runs(app)
        assert_each_run_once(fake_github, runs, [ISSUE])
        failed_writes = [w for w in fake_github.writes() if not 200 <= int(w["status"]) < 300]
        assert failed_writes, "some writes were refused on the way"


async def test_write_failing_past_the_client_retries_is_retried_by_the_worker(
    fake_github: FakeGitHub, app_key_pem: bytes, tmp_path: Path
) -> None:
    """The comment POST 502s through all the client's tries: the job's second attempt reuses the check
    run and posts the comment, so there is still one of each."""
    rules = [
        {
            "kind": "502",
            "route": "POST /repos/{owner}/{repo}/issues/{issue_number}/comments",
            "count": 4,  # the first try and the client's three retries
        }
    ]
    async with start_app(fake_github, app_key_pem, tmp_path, **FAST) as app:
        fake_github.set_faults(rules)
        await app.asend(*labeled(fake_github, ISSUE))
        await app.idle(within=60)
        [run] = await all_runs(app)
        assert_each_run_once(fake_github, [run], [ISSUE])
        job = await app.store.get_job(run.job_id)
        assert job is not None and job.attempts == 2
        restarted = [
            w["body"]["status"]
            for w in applied(fake_github.writes(), "PATCH")
            if w["path"].endswith(f"/check-runs/{run.effects['check_run_id']}")
            and "status" in w["body"]
        ]
        # the first attempt completed it before the comment failed; the retry reopened and completed it
        assert restarted == ["completed", "in_progress", "completed"]


async def test_long_secondary_limit_is_waited_out_not_failed(
    fake_github: FakeGitHub, app_key_pem: bytes, tmp_path: Path
) -> None:
    """A secondary limit outlasting the client's tries fails the attempt, not the run: it completes later."""
    rules = [
        {
            "kind": "secondary",
            "route": "GET /repos/{owner}/{repo}/issues/{issue_number}/timeline",
            "count": 6,
            "retry_after": 0,
        }
    ]
    async with start_app(fake_github, app_key_pem, tmp_path, **FAST) as app:
        fake_github.set_faults(rules)
        await app.asend(*labeled(fake_github, ISSUE))
        await app.idle(within=60)
        assert_each_run_once(fake_github, await all_runs(app), [ISSUE])


APPROVAL_PLANS: dict[str, list[dict[str, Any]]] = {
    "502-or-reset-20pct": FAULT_PLANS["502-or-reset-20pct"],
    # GitHub's secondary limits mostly answer bursts of content creation: here, a third of writes
    "secondary-on-writes": [
        {"kind": "secondary", "rate": 0.3, "route": f"{method} /repos/", "retry_after": 0}
        for method in ("POST", "PATCH")
    ],
}


@pytest.mark.parametrize("plan", list(APPROVAL_PLANS))
async def test_approval_opens_one_pr_through_faults(
    plan: str, fake_github_factory: Any, app_key_pem: bytes, tmp_path: Path
) -> None:
    """Diagnosis, then two approvals, with requests failing: one PR, both approvals finished."""
    fake = fake_github_factory(snapshot=SCENARIO)
    async with start_app(fake, app_key_pem, tmp_path, **FAST) as app:
        fake.set_faults(APPROVAL_PLANS[plan], seed=11)
        await app.asend(*labeled(fake, SCENARIO_PR, sender=SCENARIO_ADMIN, pull_request=True))
        await app.idle(within=60)
        for comment_id in (501, 502):
            apply = comment(
                fake,
                SCENARIO_PR,
                "/self-improve apply",
                sender=SCENARIO_ADMIN,
                comment_id=comment_id,
                pull_request=True,
            )
            await app.asend(*apply)
            await app.idle(within=60)
        faulted = [r for r in fake.requests() if r["status"] in {0, 403, 502, 503}]
        fake.set_faults([])
        assert faulted, "the plan injected at least one fault"
        runs = await all_runs(app)
        approvals = [r for r in runs if r.trigger.get("kind") != "self_improve"]
        assert [r.state for r in approvals] == ["pr_opened", "pr_opened"], [
            (r.state, r.detail) for r in approvals
        ]
        assert effects_of(fake.writes()).pulls == 1
        assert len(fake.world.created_pulls) == 1
        assert_each_run_once(fake, runs, [SCENARIO_PR])


async def test_slug_unknown_at_startup_still_finds_the_sticky_comment(
    fake_github: FakeGitHub, app_key_pem: bytes, tmp_path: Path
) -> None:
    """GET /app failing while the service starts leaves the slug unknown: two runs on one issue still
    share one sticky comment (our bot is recognised by its real login, learnt when first needed)."""
    fake_github.set_faults([{"kind": "502", "route": "GET /app", "count": 4}])
    async with start_app(fake_github, app_key_pem, tmp_path, **FAST) as app:
        assert app.deps.app_slug is None
        await app.asend(*labeled(fake_github, ISSUE))
        await app.idle(within=60)
        await app.asend(*labeled(fake_github, ISSUE, stamp="2026-11-21T12:00:00Z"))
        await app.idle(within=60)
        runs = await all_runs(app)
        assert len(runs) == 2
        assert_each_run_once(fake_github, runs, [ISSUE])


async def test_comment_failing_on_the_last_attempt_ends_the_run_as_failed(
    fake_github: FakeGitHub, app_key_pem: bytes, tmp_path: Path
) -> None:
    """The comment POST fails on every try of every attempt: the run ends failed (never left
    "publishing"), the job fails, and the one check run is completed."""
    post = {"kind": "502", "route": "POST /repos/{owner}/{repo}/issues/{issue_number}/comments"}
    settings = FAST | {"job_max_attempts": 2}
    async with start_app(fake_github, app_key_pem, tmp_path, **settings) as app:
        fake_github.set_faults([post])
        await app.asend(*labeled(fake_github, ISSUE))
        await app.idle(within=60)
        [run] = await all_runs(app)
        assert run.state == "failed" and run.finished_at is not None
        assert run.detail is not None and "publishing failed" in run.detail
        job = await app.store.get_job(run.job_id)
        assert job is not None and job.state == "failed" and job.attempts == 2
        assert [r["status"] for r in our_check_runs(fake_github)] == ["completed"]
        names = [e.name for e in await app.store.list_audit(run_id=run.id)]
        assert names[-1] == "run.self_improve.failed"
