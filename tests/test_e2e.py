"""The whole app against the GitHub double: label → diagnosis → approval → PR, as a maintainer sees it."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

import app.runs
from app.fake_github import FakeGitHub
from app.routing import GUARDRAILS_CHECK_NAME
from tests.app_harness import Harness, start_app
from tests.events import comment, labeled, pull_request

ISSUE = 12


def check_runs(app: Harness, name: str = "self-improve") -> list[dict[str, Any]]:
    return [w for w in app.writes("POST", "/check-runs") if w["body"].get("name") == name]


async def diagnose_issue(app: Harness, stamp: str = "2026-11-21T10:00:00Z") -> None:
    await app.asend(*labeled(app.fake, ISSUE, stamp=stamp))
    await app.idle()


async def test_label_gives_one_completed_check_run_and_one_comment(
    fake_github: FakeGitHub, app_key_pem: bytes, tmp_path: Path
) -> None:
    """run:self-improve → a check run moved to completed, one sticky comment, run and audit recorded."""
    async with start_app(fake_github, app_key_pem, tmp_path) as app:
        await diagnose_issue(app)
        [created] = check_runs(app)
        assert created["body"]["status"] == "in_progress"
        final = app.writes("PATCH", "/check-runs/")[-1]["body"]
        assert final.get("conclusion") in {"neutral", "success"}
        comments = app.writes("POST", f"/issues/{ISSUE}/comments")
        assert len(comments) == 1
        assert "<!-- self-improve:sticky -->" in comments[0]["body"]["body"]
        [run] = await app.store.find_runs(
            repository=fake_github.repo_full_name, target_number=ISSUE
        )
        assert run.state == "diagnosed"
        assert run.snapshot is not None and run.diagnosis is not None
        assert run.diagnosis["format"] == "self-improve-diagnosis/1"
        names = [e.name for e in await app.store.list_audit(run_id=run.id)]
        assert names == ["run.self_improve.triggered", "run.self_improve.diagnosis_ready"]


async def test_second_label_edits_the_same_comment_and_adds_a_check_run(
    fake_github: FakeGitHub, app_key_pem: bytes, tmp_path: Path
) -> None:
    """A later run edits the sticky comment in place and creates a new check run."""
    async with start_app(fake_github, app_key_pem, tmp_path) as app:
        await diagnose_issue(app)
        await diagnose_issue(app, stamp="2026-11-21T12:00:00Z")
        assert len(app.writes("POST", f"/issues/{ISSUE}/comments")) == 1
        assert len(app.writes("PATCH", "/issues/comments/")) >= 1
        assert len(check_runs(app)) == 2
        runs = await app.store.find_runs(repository=fake_github.repo_full_name, target_number=ISSUE)
        assert [r.state for r in runs] == ["diagnosed", "diagnosed"]


async def test_redelivered_label_runs_once(
    fake_github: FakeGitHub, app_key_pem: bytes, tmp_path: Path
) -> None:
    """The same delivery twice (same GUID) gives one run, one check run, one comment."""
    async with start_app(fake_github, app_key_pem, tmp_path) as app:
        event, payload = labeled(fake_github, ISSUE)
        await app.asend(event, payload, guid="same-guid")
        await app.asend(event, payload, guid="same-guid")
        await app.idle()
        assert len(check_runs(app)) == 1
        assert len(app.writes("POST", f"/issues/{ISSUE}/comments")) == 1


async def test_diagnosis_that_raises_still_completes_the_check_run(
    fake_github: FakeGitHub, app_key_pem: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An exception in the diagnosis ends the check run as failure with the reason, and the run failed."""

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("detector exploded")

    monkeypatch.setattr(app.runs, "diagnose", broken)  # the one fault injected into our own code
    async with start_app(fake_github, app_key_pem, tmp_path) as harness:
        await diagnose_issue(harness)
        final = harness.writes("PATCH", "/check-runs/")[-1]["body"]
        assert final["conclusion"] == "failure"
        assert "detector exploded" in final["output"]["summary"]
        [run] = await harness.store.find_runs(
            repository=fake_github.repo_full_name, target_number=ISSUE
        )
        assert run.state == "failed"
        names = [e.name for e in await harness.store.list_audit(run_id=run.id)]
        assert names[-1] == "run.self_improve.failed"


async def test_outsider_command_gets_one_refusal_and_no_run(
    fake_github: FakeGitHub, app_key_pem: bytes, tmp_path: Path
) -> None:
    """`/self-improve` from someone without write permission: one reply, no check run, no diagnosis."""
    async with start_app(fake_github, app_key_pem, tmp_path) as app:
        await app.asend(*comment(fake_github, ISSUE, "/self-improve", sender="drive-by-user"))
        await app.idle()
        assert check_runs(app) == []
        [reply] = app.writes("POST", f"/issues/{ISSUE}/comments")
        assert "write or admin permission" in reply["body"]["body"]
        [run] = await app.store.find_runs(
            repository=fake_github.repo_full_name, target_number=ISSUE
        )
        assert run.state == "rejected" and run.diagnosis is None
        events = await app.store.list_audit()
        rejected = [e.data["precondition"] for e in events if e.name == "run.self_improve.rejected"]
        assert rejected == ["sender-permission"]


async def test_command_comment_gets_eyes_then_rocket(
    fake_github: FakeGitHub, app_key_pem: bytes, tmp_path: Path
) -> None:
    """A command comment is acknowledged with eyes, and rocket when the run is done."""
    async with start_app(fake_github, app_key_pem, tmp_path) as app:
        await app.asend(*comment(fake_github, ISSUE, "/self-improve", comment_id=7))
        await app.idle()
        reactions = [
            w["body"]["content"] for w in app.writes("POST", "/issues/comments/7/reactions")
        ]
        assert reactions == ["eyes", "rocket"]


async def read_file(app: Harness, path: str, ref: str) -> str:
    client = app.deps.github.installation_client(
        app.fake.installation_id, repository=app.fake.repo_full_name.split("/")[1], purpose="gather"
    )  # type: ignore[union-attr]
    data = await client.getitem(f"/repos/{app.fake.repo_full_name}/contents/{path}?ref={ref}")
    return base64.b64decode(data["content"]).decode()


SCENARIO = (
    Path(__file__).parent / "fixtures" / "scenarios" / "01-copilot-lint-private-registry.json"
)
SCENARIO_PR, SCENARIO_ADMIN = 215, "dana-okafor"


async def test_approval_opens_one_pr_and_updates_it_next_time(
    fake_github_factory: Any, app_key_pem: bytes, tmp_path: Path
) -> None:
    """apply → branch, verified commit, PR with Refs #N, new text readable; apply again → same PR."""
    fake = fake_github_factory(snapshot=SCENARIO)
    async with start_app(fake, app_key_pem, tmp_path) as app:
        await app.asend(*labeled(fake, SCENARIO_PR, sender=SCENARIO_ADMIN, pull_request=True))
        await app.idle()
        [run] = await app.store.find_runs(repository=fake.repo_full_name, target_number=SCENARIO_PR)
        assert run.state == "diagnosed"
        assert run.diagnosis is not None and run.diagnosis["action_items"]
        body = "/self-improve apply"
        await app.asend(
            *comment(
                fake, SCENARIO_PR, body, sender=SCENARIO_ADMIN, comment_id=501, pull_request=True
            )
        )
        await app.idle()
        [pr] = app.writes("POST", "/pulls")
        branch = f"self-improve/pr-{SCENARIO_PR}"
        assert pr["body"]["head"] == branch
        assert f"Refs #{SCENARIO_PR}" in pr["body"]["body"]
        [commit] = app.writes("POST", "/git/commits")
        assert "author" not in commit["body"] and "committer" not in commit["body"]
        written = {
            w["body"]["path"]
            for w in app.writes("POST", "/git/trees")
            for w in [{"body": e} for e in w["body"]["tree"]]
        }
        assert written, "the commit changes at least one file"
        path = sorted(written)[0]
        text = await read_file(app, path, branch)
        assert "<!-- self-improve:begin -->" in text
        runs = await app.store.find_runs(repository=fake.repo_full_name, target_number=SCENARIO_PR)
        [approval] = [r for r in runs if r.state == "pr_opened"]
        names = [e.name for e in await app.store.list_audit(run_id=approval.id)]
        assert names[-2:] == ["run.self_improve.approved", "run.self_improve.pr_opened"]

        await app.asend(
            *comment(
                fake, SCENARIO_PR, body, sender=SCENARIO_ADMIN, comment_id=502, pull_request=True
            )
        )
        await app.idle()
        assert len(app.writes("POST", "/pulls")) == 1  # never a second PR for the same source
        again = await read_file(app, path, branch)
        assert again.count("<!-- self-improve:begin -->") == 1


async def test_approval_by_a_reader_is_refused(
    fake_github: FakeGitHub, app_key_pem: bytes, tmp_path: Path
) -> None:
    """Only write or admin may approve; a reader's apply writes nothing."""
    async with start_app(fake_github, app_key_pem, tmp_path) as app:
        await diagnose_issue(app)
        await app.asend(
            *comment(
                fake_github, ISSUE, "/self-improve apply", sender="drive-by-user", comment_id=601
            )
        )
        await app.idle()
        assert app.writes("POST", "/git/commits") == []
        assert app.writes("POST", "/pulls") == []


async def test_pr_deleting_the_security_section_fails_the_guardrails_check(
    fake_github: FakeGitHub, app_key_pem: bytes, tmp_path: Path
) -> None:
    """A PR that deletes AGENTS.md's Security section gets self-improve/guardrails failure on that line."""
    async with start_app(fake_github, app_key_pem, tmp_path) as app:
        gh = app.deps.github.installation_client(
            fake_github.installation_id, repository="widgets", purpose="update"
        )  # type: ignore[union-attr]
        repo = fake_github.repo_full_name
        main = await gh.getitem(f"/repos/{repo}/git/ref/heads/main")
        base_sha = main["object"]["sha"]
        agents = await read_file(app, "AGENTS.md", "main")
        weakened = agents.split("## Security")[0].rstrip() + "\n"
        security_line = agents.splitlines().index("## Security") + 1
        tree = await gh.post(
            f"/repos/{repo}/git/trees",
            data={
                "base_tree": (await gh.getitem(f"/repos/{repo}/git/commits/{base_sha}"))["tree"][
                    "sha"
                ],
                "tree": [
                    {"path": "AGENTS.md", "mode": "100644", "type": "blob", "content": weakened}
                ],
            },
        )
        commit = await gh.post(
            f"/repos/{repo}/git/commits",
            data={"message": "docs: tidy", "tree": tree["sha"], "parents": [base_sha]},
        )
        await gh.post(
            f"/repos/{repo}/git/refs", data={"ref": "refs/heads/tidy", "sha": commit["sha"]}
        )
        pr = await gh.post(
            f"/repos/{repo}/pulls", data={"title": "tidy", "head": "tidy", "base": "main"}
        )
        await app.asend(*pull_request(fake_github, pr["number"], commit["sha"]))
        await app.idle()
        [check] = check_runs(app, GUARDRAILS_CHECK_NAME)
        assert check["body"]["conclusion"] == "failure"
        annotations = check["body"]["output"]["annotations"]
        # Annotations point into the PR's head: a deleted section is marked where it stood, or on the
        # last surviving line when it ran to the end of the file.
        where = min(security_line, len(weakened.splitlines()))
        assert any(a["path"] == "AGENTS.md" and a["start_line"] == where for a in annotations)
