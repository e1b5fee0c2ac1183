"""The improvement PR against the GitHub double: branch, verified commit, one PR per source, never over a person."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from app.fake_github import FakeGitHub
from app.github import GitHubApps
from app.repo_config import Paths, RepoConfig
from app.repo_files import FileUnreadable, file_text
from app.settings import load_settings
from app.update.plan import build_plan, plan_paths
from app.update.pr import (
    PrResult,
    is_own_commit,
    open_improvement_pr,
    propose_improvement,
    read_files,
    recorded_head,
    with_head,
)

SMALL = Path(__file__).parent / "fixtures" / "snapshots" / "small.json"
R = "/repos/acme/widgets"
BRANCH = "self-improve/issue-12"
DOCKERFILE = "docker/agent.Dockerfile"
CONFIG = RepoConfig(paths=Paths(agent_dockerfile=DOCKERFILE))
E1 = "https://github.com/acme/widgets/issues/12#issuecomment-2001"
E2 = "https://github.com/acme/widgets/actions/runs/9001/job/9101#step:4:7"
SHA = "a" * 40
BOT_EMAIL = "1001+self-improve[bot]@users.noreply.github.com"

TEST_RULE = "Run `make test` before every push and paste its summary into the PR body."
SEED_RULE = "Write a changelog fragment in `changes/` for every user-visible change."
ITEMS: dict[str, dict[str, Any]] = {
    "A1": {"category": "instructions", "rule": TEST_RULE, "target_path": "AGENTS.md"},
    "A2": {"category": "prompts", "rule": SEED_RULE, "target_path": "prompt_seeds/dev-work.md"},
    "A3": {"category": "tooling", "tool": "ruff", "target_path": DOCKERFILE},
    "A4": {
        "category": "instructions",
        "rule": "Cache pip.",
        "target_path": ".github/workflows/ci.yml",
    },
    "A5": {
        "category": "instructions",
        "rule": "Keep each commit to one concern.",
        "target_path": "AGENTS.md",
    },
    "W1": {
        "category": "instructions",
        "rule": "You may skip `make lint` when the change is small.",
        "target_path": "AGENTS.md",
    },
}


def diagnosis(*ids: str) -> dict[str, Any]:
    return {
        "format": "self-improve-diagnosis/1",
        "target": {"repository": "acme/widgets", "kind": "issue", "number": 12},
        "role": "dev",
        "engine": "heuristic",
        "diagnosis": "…",
        "action_items": [
            {
                "id": i,
                "title": f"title {i}",
                "problem": f"problem {i}",
                "evidence_refs": ["E1", "E2"],
                **ITEMS[i],
            }
            for i in ids
        ],
        "evidence_refs": [
            {"id": "E1", "kind": "issue_comment", "url": E1},
            {"id": "E2", "kind": "job_log", "url": E2},
        ],
        "tool_gaps": [],
    }


@dataclass
class World:
    fake: FakeGitHub
    gh: Any

    async def get(self, url: str) -> Any:
        return await self.gh.getitem(url)

    async def head(self, branch: str = BRANCH) -> str:
        return str((await self.get(f"{R}/git/ref/heads/{branch}"))["object"]["sha"])

    async def text(self, path: str, ref: str = BRANCH) -> str:
        data = await self.get(f"{R}/contents/{path}?ref={ref}")
        return base64.b64decode(data["content"]).decode()

    async def pulls(self) -> list[dict[str, Any]]:
        return [p async for p in self.gh.getiter(f"{R}/pulls?state=all&head=acme:{BRANCH}")]

    async def comments(self, number: int) -> list[str]:
        return [c["body"] async for c in self.gh.getiter(f"{R}/issues/{number}/comments")]

    def repo_writes(self) -> list[str]:
        return [f"{w['method']} {w['path']}" for w in self.fake.writes() if w["path"].startswith(R)]

    async def approve(self, *ids: str, run_id: str = "run-1", gh: Any = None) -> PrResult:
        _, result = await propose_improvement(
            gh or self.gh,
            repository="acme/widgets",
            diagnosis=diagnosis(*ids),
            approved=list(ids),
            config=CONFIG,
            run_id=run_id,
            default_branch="main",
        )
        return result

    async def push_as_person(self, path: str, text: str) -> str:
        """A maintainer's commit on the branch: custom author, so neither ours nor verified."""
        head = await self.head()
        tree = (await self.get(f"{R}/git/commits/{head}"))["tree"]["sha"]
        new_tree = await self.gh.post(
            f"{R}/git/trees",
            data={
                "base_tree": tree,
                "tree": [{"path": path, "mode": "100644", "type": "blob", "content": text}],
            },
        )
        person = {
            "name": "Octo Dev",
            "email": "octo-dev@example.com",
            "date": "2026-11-21T10:00:00Z",
        }
        commit = await self.gh.post(
            f"{R}/git/commits",
            data={
                "message": "Tweak by hand",
                "tree": new_tree["sha"],
                "parents": [head],
                "author": person,
            },
        )
        await self.gh.patch(
            f"{R}/git/refs/heads/{BRANCH}", data={"sha": commit["sha"], "force": False}
        )
        return str(commit["sha"])


@pytest.fixture
async def world(fake_github_factory: Any, app_key_pem: bytes) -> AsyncIterator[World]:
    snapshot = json.loads(SMALL.read_text())
    snapshot["files"]["src/widgets/export.py"] = "def export():\n    return []\n"
    fake = fake_github_factory(snapshot=snapshot)
    settings = load_settings(
        None, app_id=fake.app_id, private_key=app_key_pem.decode(), github_api_url=fake.url
    )
    async with aiohttp.ClientSession() as session:
        apps = GitHubApps(settings, session, mutation_spacing=0.0)
        # the production client: a token down-scoped to the repository and the "update" permissions
        gh = apps.installation_client(fake.installation_id, repository="widgets", purpose="update")
        yield World(fake, gh)


async def test_approval_opens_one_pr_with_a_verified_commit_and_readable_contents(
    world: World,
) -> None:
    """Branch from main, one verified commit on main's tree, PR with `Refs #12`, label, issue comment."""
    main_before = await world.head("main")
    result = await world.approve("A1", "A2", "A3", "A4")
    assert (result.created, result.updated, result.blocked_reason) == (True, False, None)
    assert result.branch == BRANCH and result.commit_sha == await world.head()

    commit = await world.get(f"{R}/git/commits/{result.commit_sha}")
    assert commit["verification"]["verified"] is True
    assert [p["sha"] for p in commit["parents"]] == [main_before]
    assert commit["message"].endswith("Self-improve-run: run-1\n")

    agents = await world.text("AGENTS.md")
    main_agents = await world.text("AGENTS.md", "main")
    assert agents.startswith(main_agents) and agents.count(TEST_RULE) == 1
    assert SEED_RULE in await world.text("prompt_seeds/dev-work.md")
    assert "RUN pip install --no-cache-dir ruff\n" in await world.text(DOCKERFILE)
    assert (
        await world.text("src/widgets/export.py") == "def export():\n    return []\n"
    )  # base_tree kept it
    assert await world.head("main") == main_before

    (pr,) = await world.pulls()
    assert (pr["number"], pr["html_url"]) == (result.number, result.html_url)
    assert (pr["base"]["ref"], pr["head"]["ref"], pr["state"]) == ("main", BRANCH, "open")
    assert pr["body"].startswith("<!-- self-improve:pr source=issue-12 -->\n")
    assert "\nRefs #12\n" in pr["body"] and "Closes" not in pr["body"]
    assert recorded_head(pr["body"]) == result.commit_sha
    assert "- A4: `.github/workflows/ci.yml` is a workflow file" in pr["body"]
    assert (
        pr["title"]
        == "self-improve: agent instructions, prompt seeds and agent image learned from issue #12"
    )
    labels = [
        label["name"] async for label in world.gh.getiter(f"{R}/issues/{pr['number']}/labels")
    ]
    assert labels == ["self-improve"]
    links = [c for c in await world.comments(12) if "self-improve:pr-link" in c]
    assert len(links) == 1 and str(result.html_url) in links[0]
    writes = world.repo_writes()
    assert not any(".github/workflows" in w for w in writes)
    assert sum(w.startswith("POST /repos/acme/widgets/git/commits") for w in writes) == 1


async def test_approving_again_updates_the_same_pr_without_duplicating_rules(world: World) -> None:
    """A second approval commits on top of the first; one PR, one copy of each rule, one link comment."""
    first = await world.approve("A1", "A3")
    second = await world.approve("A1", "A5", run_id="run-2")
    assert (second.number, second.created, second.updated) == (first.number, False, True)
    commit = await world.get(f"{R}/git/commits/{second.commit_sha}")
    assert [p["sha"] for p in commit["parents"]] == [first.commit_sha]
    agents = await world.text("AGENTS.md")
    assert agents.count(TEST_RULE) == 1 and agents.count("Keep each commit to one concern.") == 1
    assert (await world.text(DOCKERFILE)).count("RUN pip install --no-cache-dir ruff") == 1
    (pr,) = await world.pulls()
    assert recorded_head(pr["body"]) == second.commit_sha
    rows = [line.split(" | ")[0] for line in pr["body"].splitlines() if line.startswith("| A")]
    assert rows == [
        "| A1 (instructions)",
        "| A3 (tooling)",
        "| A5 (instructions)",
    ]  # run 1's rows are kept
    assert pr["title"] == "self-improve: agent instructions and agent image learned from issue #12"
    assert pr["body"].count("\n- https://github.com/acme/widgets/actions/runs/9001\n") == 1
    assert len([c for c in await world.comments(12) if "self-improve:pr-link" in c]) == 1

    third = await world.approve("A1", "A5", run_id="run-3")
    assert (third.number, third.updated, third.commit_sha) == (first.number, True, None)
    assert (
        await world.head() == second.commit_sha
    )  # nothing new to commit, the PR body is refreshed


async def test_an_item_aimed_at_a_workflow_is_refused_and_nothing_is_written(world: World) -> None:
    """Only a workflow item approved: no branch, no commit, no PR; the plan says why."""
    plan, result = await propose_improvement(
        world.gh, repository="acme/widgets", diagnosis=diagnosis("A4"), approved=["A4"],
        config=CONFIG, run_id="run-1", default_branch="main",
    )  # fmt: skip
    assert plan.refused[0].reason.startswith("`.github/workflows/ci.yml` is a workflow file")
    assert result.blocked_reason is not None and result.blocked_reason.startswith(
        "nothing to change"
    )
    assert (result.number, result.commit_sha) == (None, None)
    assert world.repo_writes() == []
    assert await world.pulls() == []


async def test_a_weakening_rule_stops_the_pr_before_any_write(world: World) -> None:
    """The guardrails refuse a rule that lets the agent skip the lint; nothing reaches GitHub."""
    result = await world.approve("W1")
    assert result.blocked_reason is not None and result.blocked_reason.startswith(
        "the guardrails refused the change: AGENTS.md:"
    )
    assert result.violations and {v.path for v in result.violations} == {"AGENTS.md"}
    assert world.repo_writes() == []


async def test_a_persons_push_is_never_overwritten_and_the_pr_says_so(world: World) -> None:
    """After a maintainer pushes to the branch, approvals stop updating it and comment once on the PR."""
    first = await world.approve("A1")
    theirs = await world.push_as_person("AGENTS.md", "# mine now\n")
    blocked = await world.approve("A1", "A5", run_id="run-2")
    assert blocked.blocked_reason is not None and "did not make" in blocked.blocked_reason
    assert (blocked.number, blocked.created, blocked.updated, blocked.commit_sha) == (
        first.number,
        False,
        False,
        None,
    )
    assert await world.head() == theirs
    assert await world.text("AGENTS.md") == "# mine now\n"
    notes = [c for c in await world.comments(int(first.number or 0)) if "self-improve:blocked" in c]
    assert len(notes) == 1 and f"`{BRANCH}`" in notes[0] and theirs[:7] in notes[0]
    await world.approve("A1", "A5", run_id="run-3")
    assert (
        len(
            [c for c in await world.comments(int(first.number or 0)) if "self-improve:blocked" in c]
        )
        == 1
    )


async def test_a_closed_pr_is_followed_by_a_fresh_pr_that_still_fast_forwards(world: World) -> None:
    """Once the PR is closed, the next approval starts from main (old rules dropped) without force."""
    first = await world.approve("A1")
    await world.gh.patch(f"{R}/pulls/{first.number}", data={"state": "closed"})
    second = await world.approve("A5", run_id="run-2")
    assert second.created and second.number != first.number
    commit = await world.get(f"{R}/git/commits/{second.commit_sha}")
    assert [p["sha"] for p in commit["parents"]] == [await world.head("main"), first.commit_sha]
    agents = await world.text("AGENTS.md")
    assert TEST_RULE not in agents and "Keep each commit to one concern." in agents


class RacingClient:
    """The real client, but before each ref update another self-improve run moves the branch first."""

    def __init__(self, gh: Any, races: int) -> None:
        self.gh = gh
        self.races = races
        self.raced = 0

    async def getitem(self, url: str, *args: Any, **kwargs: Any) -> Any:
        return await self.gh.getitem(url, *args, **kwargs)

    def getiter(self, url: str, *args: Any, **kwargs: Any) -> Any:
        return self.gh.getiter(url, *args, **kwargs)

    async def post(self, url: str, *args: Any, **kwargs: Any) -> Any:
        return await self.gh.post(url, *args, **kwargs)

    async def patch(self, url: str, *args: Any, **kwargs: Any) -> Any:
        if url.endswith(f"/git/refs/heads/{BRANCH}") and self.raced < self.races:
            self.raced += 1
            await self._other_run(self.raced)
        return await self.gh.patch(url, *args, **kwargs)

    async def _other_run(self, n: int) -> None:
        head = (await self.gh.getitem(f"{R}/git/ref/heads/{BRANCH}"))["object"]["sha"]
        tree = (await self.gh.getitem(f"{R}/git/commits/{head}"))["tree"]["sha"]
        entry = {
            "path": f"docs/race-{n}.md",
            "mode": "100644",
            "type": "blob",
            "content": f"race {n}\n",
        }
        new_tree = await self.gh.post(f"{R}/git/trees", data={"base_tree": tree, "tree": [entry]})
        message = f"self-improve: another run\n\nSelf-improve-run: other-{n}\n"
        commit = await self.gh.post(
            f"{R}/git/commits",
            data={"message": message, "tree": new_tree["sha"], "parents": [head]},
        )
        await self.gh.patch(
            f"{R}/git/refs/heads/{BRANCH}", data={"sha": commit["sha"], "force": False}
        )


async def test_a_non_fast_forward_is_rebuilt_on_the_new_head(world: World) -> None:
    """Another run moved the branch between read and write: the commit is rebuilt on top of it."""
    await world.approve("A1")
    racing = RacingClient(world.gh, races=1)
    result = await world.approve("A1", "A5", run_id="run-2", gh=racing)
    assert result.blocked_reason is None and result.updated
    commit = await world.get(f"{R}/git/commits/{result.commit_sha}")
    other = commit["parents"][0]["sha"]
    assert (await world.get(f"{R}/git/commits/{other}"))["message"].endswith(
        "Self-improve-run: other-1\n"
    )
    assert await world.text("docs/race-1.md") == "race 1\n"
    assert "Keep each commit to one concern." in await world.text("AGENTS.md")


async def test_a_branch_that_keeps_moving_is_given_up_after_three_attempts(world: World) -> None:
    """Three lost races in a row end the run with a reason instead of a loop."""
    await world.approve("A1")
    result = await world.approve("A1", "A5", run_id="run-2", gh=RacingClient(world.gh, races=5))
    assert result.blocked_reason == f"the branch `{BRANCH}` kept moving; gave up after 3 attempts"
    assert not result.updated


async def test_the_source_must_match_the_plan(world: World) -> None:
    """Opening issue 13's PR with issue 12's plan is a programming error, named."""
    paths = plan_paths(diagnosis("A1"), approved=None, config=CONFIG)
    files = await read_files(world.gh, repository="acme/widgets", paths=paths, ref="main")
    plan = build_plan(diagnosis("A1"), approved=None, files=files, config=CONFIG, run_id="r")
    with pytest.raises(ValueError, match="source: issue #13 is not the plan's issue-12"):
        await open_improvement_pr(
            world.gh, repository="acme/widgets", plan=plan, source_kind="issue",
            source_number=13, default_branch="main",
        )  # fmt: skip


@pytest.mark.parametrize(
    ("commit", "recorded", "ours"),
    [
        ({"sha": SHA}, SHA, True),
        (
            {
                "sha": SHA,
                "message": "x\n\nSelf-improve-run: r1\n",
                "author": {"email": BOT_EMAIL},
                "verification": {"verified": True},
            },
            None,
            True,
        ),
        (
            {
                "sha": SHA,
                "message": "x\n\nSelf-improve-run: r1\n",
                "author": {"email": BOT_EMAIL},
                "verification": {"verified": True},
            },
            "b" * 40,
            True,
        ),
        (
            {
                "sha": SHA,
                "message": "x\n\nSelf-improve-run: r1\n",
                "author": {"email": BOT_EMAIL},
                "verification": {"verified": False},
            },
            None,
            False,
        ),
        (
            {
                "sha": SHA,
                "message": "x\n\nSelf-improve-run: r1\n",
                "author": {"email": "dev@example.com"},
                "verification": {"verified": True},
            },
            None,
            False,
        ),
        (
            {
                "sha": SHA,
                "message": "hand edit",
                "author": {"email": BOT_EMAIL},
                "verification": {"verified": True},
            },
            None,
            False,
        ),
        (
            {
                "sha": SHA,
                "message": "x\n\nSelf-improve-run: r1\n",
                "author": {"email": "self-improve[bot]@example.com"},
                "verification": {"verified": True},
            },
            None,
            False,
        ),
    ],
    ids=[
        "recorded",
        "own-verified",
        "own-after-crash",
        "unverified",
        "person",
        "no-trailer",
        "fake-bot-email",
    ],
)
def test_a_branch_head_is_ours_only_when_recorded_or_verifiably_ours(
    commit: dict[str, Any], recorded: str | None, ours: bool
) -> None:
    """The recorded head, or a verified commit by the App's bot with our trailer; nothing else."""
    assert is_own_commit(commit, recorded) is ours


def test_the_recorded_head_is_replaced_not_stacked() -> None:
    """Writing the head into a body twice keeps one marker, the newest."""
    body = with_head(with_head("text\n", SHA), "b" * 40)
    assert body.count("self-improve:head") == 1
    assert recorded_head(body) == "b" * 40
    assert recorded_head("no marker") is None


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (
            {"type": "file", "encoding": "none", "content": "", "size": 2_000_000},
            "AGENTS.md: too large for the contents API",
        ),
        (
            {"type": "file", "encoding": "base64", "content": b64(b"\xff\xfe"), "size": 2},
            "AGENTS.md: not UTF-8 text",
        ),
        ({"type": "dir"}, "AGENTS.md: not a file"),
        ([{"type": "file"}], "AGENTS.md: not a file"),
        (
            {"type": "file", "encoding": "base64", "content": b64(b"abc"), "size": 5},
            "AGENTS.md: the API returned 3 of 5 bytes",
        ),
    ],
)
def test_a_file_that_cannot_be_read_whole_is_never_taken_for_empty(answer: Any, error: str) -> None:
    """An over-1-MB, binary or odd answer is an error naming the file, not a text to overwrite."""
    with pytest.raises(FileUnreadable, match="^" + error):
        file_text("AGENTS.md", answer)


def test_a_file_answer_is_decoded_as_utf8() -> None:
    """A normal answer (base64 with line breaks, as GitHub wraps it) gives the exact text."""
    text = "# Правила\n- one\n"
    wrapped = "\n".join(b64(text.encode())[i : i + 8] for i in range(0, 40, 8))
    answer = {"type": "file", "encoding": "base64", "content": wrapped, "size": len(text.encode())}
    assert file_text("AGENTS.md", answer) == text


async def test_an_open_pr_on_the_branch_without_our_marker_is_left_alone(world: World) -> None:
    """If the marker was edited out of the PR, the next approval writes nothing and says why."""
    first = await world.approve("A1")
    await world.gh.patch(f"{R}/pulls/{first.number}", data={"body": "rewritten by a maintainer"})
    head = await world.head()
    world.fake.reset()
    result = await world.approve("A5", run_id="run-2")
    assert (
        result.blocked_reason
        == f"an open PR #{first.number} from `{BRANCH}` lacks the self-improve marker; not touching it"
    )
    assert (await world.head(), world.repo_writes()) == (head, [])
