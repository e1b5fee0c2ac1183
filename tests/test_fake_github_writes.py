"""Writes to the GitHub double read back exactly as on GitHub: comments, reactions, labels, checks, git, PRs."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from app.fake_github import FakeGitHub
from app.fake_github.testing import DoubleClient

R = "/repos/acme/widgets"


# --- issue comments --------------------------------------------------------------------------------
async def test_comment_is_authored_by_the_app_bot_and_reads_back(
    fake_github: FakeGitHub, fake_github_client: DoubleClient
) -> None:
    """A comment made with an installation token is the App's bot's, and every read shows it."""
    created = await fake_github_client(
        "POST", f"{R}/issues/12/comments", json={"body": "diagnosis"}
    )
    assert created.status == 201
    comment = created.json()
    assert comment["user"]["login"] == f"{fake_github.app_slug}[bot]"
    assert comment["user"]["type"] == "Bot"
    assert (
        comment["html_url"]
        == f"https://github.com/acme/widgets/issues/12#issuecomment-{comment['id']}"
    )
    assert {"url", "id", "author_association", "created_at", "updated_at", "body"} <= set(comment)
    assert (
        await fake_github_client("GET", f"{R}/issues/comments/{comment['id']}")
    ).json() == comment
    listed = (await fake_github_client("GET", f"{R}/issues/12/comments")).json()
    assert listed[-1] == comment
    timeline = (await fake_github_client("GET", f"{R}/issues/12/timeline")).json()
    assert timeline[-1]["event"] == "commented"
    assert timeline[-1]["body"] == "diagnosis"
    assert (await fake_github_client("GET", f"{R}/issues/12")).json()["comments"] == 4


async def test_edit_keeps_one_comment_and_updates_everywhere(
    fake_github_client: DoubleClient,
) -> None:
    """PATCH edits the comment in place: the list, the comment and the timeline show the new body."""
    comment = (
        await fake_github_client("POST", f"{R}/issues/13/comments", json={"body": "v1"})
    ).json()
    edited = await fake_github_client(
        "PATCH", f"{R}/issues/comments/{comment['id']}", json={"body": "v2"}
    )
    assert edited.status == 200
    assert edited.json()["id"] == comment["id"]
    bodies = [
        c["body"] for c in (await fake_github_client("GET", f"{R}/issues/13/comments")).json()
    ]
    assert bodies.count("v2") == 1
    assert "v1" not in bodies
    timeline = (await fake_github_client("GET", f"{R}/issues/13/timeline")).json()
    assert [e["body"] for e in timeline if e.get("id") == comment["id"]] == ["v2"]


async def test_comments_on_a_pull_live_in_its_issue_comments(
    fake_github_client: DoubleClient,
) -> None:
    """A comment posted to a PR number appears in that PR's issue comments, not in its reviews."""
    made = (
        await fake_github_client("POST", f"{R}/issues/13/comments", json={"body": "on the PR"})
    ).json()
    assert made["html_url"].startswith("https://github.com/acme/widgets/pull/13#issuecomment-")
    assert made["id"] in [
        c["id"] for c in (await fake_github_client("GET", f"{R}/issues/13/comments")).json()
    ]
    assert made["id"] not in [
        c["id"] for c in (await fake_github_client("GET", f"{R}/pulls/13/comments")).json()
    ]


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [({}, 422, '"body" wasn\'t supplied'), ({"body": "x" * 65537}, 422, "Validation Failed")],
)
async def test_bad_comment_bodies_are_refused(
    fake_github_client: DoubleClient, body: dict[str, Any], status: int, fragment: str
) -> None:
    """A missing body or one over 65536 characters answers 422 and creates nothing."""
    reply = await fake_github_client("POST", f"{R}/issues/12/comments", json=body)
    assert reply.status == status
    assert fragment in reply.json()["message"]
    assert len((await fake_github_client("GET", f"{R}/issues/12/comments")).json()) == 3


async def test_bad_json_is_a_400(fake_github_client: DoubleClient) -> None:
    """A body that is not JSON answers 400 "Problems parsing JSON"."""
    async with fake_github_client.session.post(
        f"{fake_github_client.base}{R}/issues/12/comments",
        data=b"{oops",
        headers={"Authorization": f"token {fake_github_client.token}"},
    ) as response:
        assert response.status == 400
        assert (await response.json())["message"] == "Problems parsing JSON"


async def test_writes_are_recorded_with_their_bodies(
    fake_github: FakeGitHub, fake_github_client: DoubleClient
) -> None:
    """The write log holds each mutating request with its JSON body."""
    await fake_github_client("POST", f"{R}/issues/12/comments", json={"body": "logged"})
    writes = fake_github.writes()
    assert writes[-1]["method"] == "POST"
    assert writes[-1]["route"] == "/repos/{owner}/{repo}/issues/{issue_number}/comments"
    assert writes[-1]["body"] == {"body": "logged"}
    assert writes[-1]["status"] == 201


# --- reactions and labels --------------------------------------------------------------------------
async def test_reaction_is_new_once_then_already_there(fake_github_client: DoubleClient) -> None:
    """The first reaction answers 201; the same user and content again answers 200, same reaction."""
    path = f"{R}/issues/comments/3600000101/reactions"
    first = await fake_github_client("POST", path, json={"content": "eyes"})
    again = await fake_github_client("POST", path, json={"content": "eyes"})
    assert (first.status, again.status) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    listed = (await fake_github_client("GET", path)).json()
    assert [r["content"] for r in listed] == ["eyes"]
    rollup = (await fake_github_client("GET", f"{R}/issues/comments/3600000101")).json()[
        "reactions"
    ]
    assert (rollup["eyes"], rollup["total_count"]) == (1, 1)
    assert (await fake_github_client("POST", path, json={"content": "meh"})).status == 422
    on_issue = await fake_github_client(
        "POST", f"{R}/issues/12/reactions", json={"content": "rocket"}
    )
    assert on_issue.status == 201


async def test_labels_add_and_remove(fake_github_client: DoubleClient) -> None:
    """Labels are added (both body forms), removed, shown on the issue and its PR, with timeline events."""
    added = await fake_github_client(
        "POST", f"{R}/issues/13/labels", json={"labels": ["self-improve:diagnosed"]}
    )
    assert added.status == 200
    assert [label["name"] for label in added.json()] == ["self-improve:diagnosed"]
    await fake_github_client("POST", f"{R}/issues/13/labels", json=["bug"])
    pull = (await fake_github_client("GET", f"{R}/pulls/13")).json()
    assert [label["name"] for label in pull["labels"]] == ["self-improve:diagnosed", "bug"]
    removed = await fake_github_client("DELETE", f"{R}/issues/13/labels/bug")
    assert [label["name"] for label in removed.json()] == ["self-improve:diagnosed"]
    assert (await fake_github_client("DELETE", f"{R}/issues/13/labels/bug")).status == 404
    events = [
        e["event"] for e in (await fake_github_client("GET", f"{R}/issues/13/timeline")).json()
    ]
    assert events[-3:] == ["labeled", "labeled", "unlabeled"]


# --- check runs ------------------------------------------------------------------------------------
async def _main_sha(client: DoubleClient) -> str:
    return str((await client("GET", f"{R}/git/ref/heads/main")).json()["object"]["sha"])


async def test_check_run_lifecycle(
    fake_github: FakeGitHub, fake_github_client: DoubleClient
) -> None:
    """Create queued, move to in_progress, complete with output; annotations append per PATCH."""
    ann = {
        "path": "AGENTS.md",
        "start_line": 1,
        "end_line": 1,
        "annotation_level": "notice",
        "message": "m",
    }
    created = await fake_github_client(
        "POST",
        f"{R}/check-runs",
        json={"name": "self-improve", "head_sha": await _main_sha(fake_github_client)},
    )
    assert created.status == 201
    run = created.json()
    assert (run["status"], run["conclusion"], run["app"]["id"]) == (
        "queued",
        None,
        fake_github.app_id,
    )
    head = (await fake_github_client("GET", f"{R}/git/ref/heads/main")).json()["object"]["sha"]
    assert run["head_sha"] == head
    assert run["html_url"].startswith("https://github.com/acme/widgets/runs/")
    path = f"{R}/check-runs/{run['id']}"
    await fake_github_client("PATCH", path, json={"status": "in_progress",
                                                  "output": {"title": "t", "summary": "s", "annotations": [ann] * 2}})  # fmt: skip
    actions = [
        {"label": "Open PR", "description": "Open the improvement PR", "identifier": "approve"}
    ]
    done = await fake_github_client("PATCH", path, json={"conclusion": "neutral", "actions": actions,
                                                         "output": {"title": "T", "summary": "S", "text": "body",
                                                                    "annotations": [ann]}})  # fmt: skip
    assert done.status == 200
    final = (await fake_github_client("GET", path)).json()
    assert (final["status"], final["conclusion"]) == ("completed", "neutral")
    assert final["completed_at"] is not None
    assert (final["output"]["title"], final["output"]["summary"], final["output"]["text"]) == (
        "T",
        "S",
        "body",
    )
    assert final["output"]["annotations_count"] == 3
    assert final["actions"] == actions
    assert len((await fake_github_client("GET", f"{path}/annotations")).json()) == 3
    listed = (
        await fake_github_client("GET", f"{R}/commits/main/check-runs?check_name=self-improve")
    ).json()
    assert [r["id"] for r in listed["check_runs"]] == [run["id"]]


async def test_check_run_over_the_limits_is_refused_and_unchanged(
    fake_github_client: DoubleClient,
) -> None:
    """More than 50 annotations in one PATCH answers 422 and leaves the run as it was."""
    run = (
        await fake_github_client(
            "POST",
            f"{R}/check-runs",
            json={"name": "x", "head_sha": await _main_sha(fake_github_client)},
        )
    ).json()
    ann = {
        "path": "a",
        "start_line": 1,
        "end_line": 1,
        "annotation_level": "notice",
        "message": "m",
    }
    refused = await fake_github_client("PATCH", f"{R}/check-runs/{run['id']}",
                                       json={"output": {"title": "t", "summary": "s", "annotations": [ann] * 51}})  # fmt: skip
    assert refused.status == 422
    assert "No more than 50 items" in refused.json()["message"]
    after = (await fake_github_client("GET", f"{R}/check-runs/{run['id']}")).json()
    assert after["output"]["annotations_count"] == 0


async def test_another_apps_check_run_cannot_be_changed(fake_github_client: DoubleClient) -> None:
    """A GitHub Actions check run from the snapshot refuses our PATCH with GitHub's 403."""
    reply = await fake_github_client(
        "PATCH", f"{R}/check-runs/53000000111", json={"conclusion": "success"}
    )
    assert reply.status == 403
    assert "can only be modified by the GitHub App that created it" in reply.json()["message"]


@pytest.mark.parametrize("head_sha", ["0" * 40, "main", "short"])
async def test_check_run_needs_a_known_full_sha(
    fake_github_client: DoubleClient, head_sha: str
) -> None:
    """A head_sha that is unknown, a branch name or not a full sha answers 422."""
    reply = await fake_github_client(
        "POST", f"{R}/check-runs", json={"name": "x", "head_sha": head_sha}
    )
    assert reply.status == 422
    assert reply.json()["message"] == f"No commit found for SHA: {head_sha}"


# --- git data --------------------------------------------------------------------------------------
async def _commit_on_main(
    client: DoubleClient, files: dict[str, Any], **extra: Any
) -> tuple[str, str]:
    """Blob/tree/commit on top of main; returns (old head, new commit sha)."""
    head = (await client("GET", f"{R}/git/ref/heads/main")).json()["object"]["sha"]
    base_tree = (await client("GET", f"{R}/git/commits/{head}")).json()["tree"]["sha"]
    entries = [
        {"path": path, "mode": "100644", "type": "blob", **spec} for path, spec in files.items()
    ]
    tree = await client("POST", f"{R}/git/trees", json={"base_tree": base_tree, "tree": entries})
    assert tree.status == 201, tree.json()
    commit = await client("POST", f"{R}/git/commits",
                          json={"message": "self-improve: update", "tree": tree.json()["sha"], "parents": [head], **extra})  # fmt: skip
    assert commit.status == 201, commit.json()
    return head, commit.json()["sha"]


async def test_commit_and_ref_update_change_what_contents_reads(
    fake_github_client: DoubleClient,
) -> None:
    """After blob + tree + commit + new branch, contents at that branch return the new text."""
    text = "# AGENTS.md\n\nRun `make lint` before every push.\n"
    blob = await fake_github_client(
        "POST", f"{R}/git/blobs", json={"content": text, "encoding": "utf-8"}
    )
    assert blob.status == 201
    head, sha = await _commit_on_main(
        fake_github_client, {"AGENTS.md": {"sha": blob.json()["sha"]}}
    )
    made = await fake_github_client(
        "POST", f"{R}/git/refs", json={"ref": "refs/heads/self-improve/12", "sha": sha}
    )
    assert made.status == 201
    assert made.json()["ref"] == "refs/heads/self-improve/12"
    raw = await fake_github_client("GET", f"{R}/contents/AGENTS.md?ref=self-improve/12",
                                   headers={"Accept": "application/vnd.github.raw"})  # fmt: skip
    assert raw.body.decode() == text
    untouched = await fake_github_client("GET", f"{R}/contents/AGENTS.md?ref=main",
                                         headers={"Accept": "application/vnd.github.raw"})  # fmt: skip
    assert untouched.body.decode() != text
    commit = (await fake_github_client("GET", f"{R}/git/commits/{sha}")).json()
    assert [p["sha"] for p in commit["parents"]] == [head]
    assert (await fake_github_client("POST", f"{R}/git/refs",
                                     json={"ref": "refs/heads/self-improve/12", "sha": sha})).status == 422  # fmt: skip


async def test_base64_blob_and_content_entries_and_deletion(
    fake_github_client: DoubleClient,
) -> None:
    """Trees take base64 blobs, inline content and `sha: null` deletions on top of base_tree."""
    encoded = base64.b64encode(b"FROM python:3.12\n").decode()
    blob = (
        await fake_github_client(
            "POST", f"{R}/git/blobs", json={"content": encoded, "encoding": "base64"}
        )
    ).json()
    _, sha = await _commit_on_main(fake_github_client, {
        "docker/agent.Dockerfile": {"sha": blob["sha"]},
        "docs/new.md": {"content": "new\n"},
        "prompt_seeds/dev-work.md": {"sha": None},
    })  # fmt: skip
    await fake_github_client("PATCH", f"{R}/git/refs/heads/main", json={"sha": sha})
    docker = await fake_github_client("GET", f"{R}/contents/docker/agent.Dockerfile",
                                      headers={"Accept": "application/vnd.github.raw"})  # fmt: skip
    assert docker.body == b"FROM python:3.12\n"
    assert (await fake_github_client("GET", f"{R}/contents/docs/new.md")).status == 200
    assert (await fake_github_client("GET", f"{R}/contents/prompt_seeds/dev-work.md")).status == 404


@pytest.mark.parametrize(
    ("extra", "verified"), [({}, True), ({"author": {"name": "a", "email": "a@x.io"}}, False)]
)
async def test_commit_is_verified_only_without_custom_identity(
    fake_github: FakeGitHub, fake_github_client: DoubleClient, extra: dict[str, Any], verified: bool
) -> None:
    """An App commit with no author, committer or signature is verified; a custom author is not."""
    _, sha = await _commit_on_main(fake_github_client, {"x.md": {"content": "x"}}, **extra)
    commit = (await fake_github_client("GET", f"{R}/git/commits/{sha}")).json()
    assert commit["verification"]["verified"] is verified
    if verified:
        assert commit["author"]["name"] == f"{fake_github.app_slug}[bot]"


async def test_ref_update_refuses_non_fast_forward_unless_forced(
    fake_github_client: DoubleClient,
) -> None:
    """Moving a branch to a commit that does not contain its head is 422 unless `force: true`."""
    head, ahead = await _commit_on_main(fake_github_client, {"a.md": {"content": "a"}})
    _, sideways = await _commit_on_main(fake_github_client, {"b.md": {"content": "b"}})
    assert (
        await fake_github_client("PATCH", f"{R}/git/refs/heads/main", json={"sha": ahead})
    ).status == 200
    refused = await fake_github_client("PATCH", f"{R}/git/refs/heads/main", json={"sha": sideways})
    assert (refused.status, refused.json()["message"]) == (422, "Update is not a fast forward")
    forced = await fake_github_client(
        "PATCH", f"{R}/git/refs/heads/main", json={"sha": sideways, "force": True}
    )
    assert forced.status == 200
    assert (await fake_github_client("GET", f"{R}/git/ref/heads/main")).json()["object"][
        "sha"
    ] == sideways
    assert head != sideways


# --- pull requests ---------------------------------------------------------------------------------
async def _branch_with_change(client: DoubleClient, branch: str) -> str:
    _, sha = await _commit_on_main(client, {"AGENTS.md": {"content": "# AGENTS.md\n\nnew rule\n"}})
    await client("POST", f"{R}/git/refs", json={"ref": f"refs/heads/{branch}", "sha": sha})
    return sha


async def test_pull_request_create_read_list_and_update(
    fake_github: FakeGitHub, fake_github_client: DoubleClient
) -> None:
    """A PR opens with 201, lists by `owner:branch`, shows computed files and commits, and updates."""
    sha = await _branch_with_change(fake_github_client, "self-improve/12")
    body = {
        "title": "self-improve: lint before push",
        "head": "self-improve/12",
        "base": "main",
        "body": "Refs #12",
    }
    created = await fake_github_client("POST", f"{R}/pulls", json=body)
    assert created.status == 201
    pull = created.json()
    assert (pull["number"], pull["state"], pull["head"]["sha"], pull["base"]["ref"]) == (
        14,
        "open",
        sha,
        "main",
    )
    assert pull["user"]["login"] == f"{fake_github.app_slug}[bot]"
    assert pull["html_url"] == "https://github.com/acme/widgets/pull/14"
    listed = (await fake_github_client("GET", f"{R}/pulls?head=acme:self-improve/12")).json()
    assert [p["number"] for p in listed] == [14]
    files = (await fake_github_client("GET", f"{R}/pulls/14/files")).json()
    assert [(f["filename"], f["status"]) for f in files] == [("AGENTS.md", "modified")]
    assert "+new rule" in files[0]["patch"]
    assert [
        c["sha"] for c in (await fake_github_client("GET", f"{R}/pulls/14/commits")).json()
    ] == [sha]
    updated = await fake_github_client(
        "PATCH", f"{R}/pulls/14", json={"title": "new title", "body": "Refs #12 (v2)"}
    )
    assert updated.json()["title"] == "new title"
    assert (await fake_github_client("GET", f"{R}/issues/14")).json()["title"] == "new title"


async def test_duplicate_pull_request_is_422(fake_github_client: DoubleClient) -> None:
    """A second PR for the same head answers GitHub's "already exists" 422."""
    await _branch_with_change(fake_github_client, "self-improve/dup")
    body = {"title": "t", "head": "self-improve/dup", "base": "main"}
    assert (await fake_github_client("POST", f"{R}/pulls", json=body)).status == 201
    again = await fake_github_client("POST", f"{R}/pulls", json=body)
    assert again.status == 422
    assert (
        again.json()["errors"][0]["message"]
        == "A pull request already exists for acme:self-improve/dup."
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"title": "t", "head": "nope", "base": "main"}, "head"),
        ({"title": "t", "head": "x", "base": "nope"}, "base"),
    ],
)
async def test_pull_request_needs_existing_branches(
    fake_github_client: DoubleClient, body: dict[str, str], field: str
) -> None:
    """An unknown head or base branch answers 422 naming the field."""
    await _branch_with_change(fake_github_client, "x")
    reply = await fake_github_client("POST", f"{R}/pulls", json=body)
    assert reply.status == 422
    assert reply.json()["errors"][0]["field"] == field


async def test_pushing_to_a_pr_branch_moves_its_head(fake_github_client: DoubleClient) -> None:
    """Fast-forwarding a PR's branch updates the PR's head sha and its files."""
    first = await _branch_with_change(fake_github_client, "self-improve/move")
    await fake_github_client(
        "POST", f"{R}/pulls", json={"title": "t", "head": "self-improve/move", "base": "main"}
    )
    tree = (await fake_github_client("GET", f"{R}/git/commits/{first}")).json()["tree"]["sha"]
    new_tree = (await fake_github_client("POST", f"{R}/git/trees",
                                         json={"base_tree": tree, "tree": [{"path": "z.md", "mode": "100644", "content": "z"}]})).json()  # fmt: skip
    second = (await fake_github_client("POST", f"{R}/git/commits",
                                       json={"message": "m", "tree": new_tree["sha"], "parents": [first]})).json()  # fmt: skip
    await fake_github_client(
        "PATCH", f"{R}/git/refs/heads/self-improve/move", json={"sha": second["sha"]}
    )
    pull = (await fake_github_client("GET", f"{R}/pulls/14")).json()
    assert pull["head"]["sha"] == second["sha"]
    assert {
        f["filename"] for f in (await fake_github_client("GET", f"{R}/pulls/14/files")).json()
    } == {"AGENTS.md", "z.md"}


async def test_reset_with_state_reloads_the_snapshot(
    fake_github: FakeGitHub, fake_github_client: DoubleClient
) -> None:
    """`reset(state=True)` forgets writes; a plain reset only clears the request log."""
    await fake_github_client("POST", f"{R}/issues/12/comments", json={"body": "temp"})
    fake_github.reset()
    assert len((await fake_github_client("GET", f"{R}/issues/12/comments")).json()) == 4
    fake_github.reset(state=True)
    assert len((await fake_github_client("GET", f"{R}/issues/12/comments")).json()) == 3
    assert fake_github.writes() == []
