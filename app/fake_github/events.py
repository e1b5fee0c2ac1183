"""Webhook payloads as GitHub sends them for the double's repository: labels, commands, PR pushes.

Built from the double's own objects (repository, issue, pull request), so a payload names things the
double serves. Used by the demo and the tests to play GitHub's part.
"""

from __future__ import annotations

import copy
import zlib
from typing import Any

from app.fake_github.double import FakeGitHub

Json = dict[str, Any]


def _user(login: str, kind: str = "User") -> Json:
    return {"login": login, "id": zlib.crc32(login.encode()), "type": kind}


def _envelope(fake: FakeGitHub, action: str, sender: str, sender_type: str = "User") -> Json:
    repo = copy.deepcopy(fake.world.repo)
    repo.setdefault("full_name", fake.repo_full_name)
    return {
        "action": action,
        "repository": repo,
        "installation": {
            "id": fake.installation_id,
            "node_id": "MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9u",
        },
        "sender": _user(sender, sender_type),
    }


def _issue(fake: FakeGitHub, number: int, *, pull_request: bool) -> Json:
    world = fake.world
    found = world.pulls.get(number) if pull_request else world.issues.get(number)
    if found is None:
        found = world.issues.get(number) or world.pulls.get(number)
    item = copy.deepcopy(found) if found is not None else {}
    item.setdefault("number", number)
    item.setdefault(
        "html_url",
        f"https://github.com/{fake.repo_full_name}/{'pull' if pull_request else 'issues'}/{number}",
    )
    return item


def labeled(
    fake: FakeGitHub,
    number: int,
    *,
    label: str = "run:self-improve",
    sender: str,
    pull_request: bool = False,
    stamp: str = "2026-11-21T10:00:00Z",
) -> tuple[str, Json]:
    """`issues.labeled` (or `pull_request.labeled`) for `number`, by `sender`."""
    data = _envelope(fake, "labeled", sender)
    item = _issue(fake, number, pull_request=pull_request)
    item["updated_at"] = stamp
    data["label"] = {
        "id": zlib.crc32(label.encode()),
        "name": label,
        "color": "ededed",
        "default": False,
    }
    if pull_request:
        data["number"] = number
        data["pull_request"] = item
        return "pull_request", data
    item.pop("pull_request", None)
    data["issue"] = item
    return "issues", data


def comment(
    fake: FakeGitHub,
    number: int,
    body: str,
    *,
    sender: str,
    comment_id: int | None = None,
    pull_request: bool = False,
    sender_type: str = "User",
) -> tuple[str, Json]:
    """`issue_comment.created` on `number` (a PR's conversation when `pull_request`).

    Without `comment_id` the comment is first made in the double, so reactions to it work."""
    data = _envelope(fake, "created", sender, sender_type)
    issue = _issue(fake, number, pull_request=pull_request)
    if pull_request:
        issue["pull_request"] = {
            "url": f"https://api.github.com/repos/{fake.repo_full_name}/pulls/{number}"
        }
    else:
        issue.pop("pull_request", None)
    data["issue"] = issue
    if comment_id is None:
        data["comment"] = fake.add_comment(number, body, sender)
        return "issue_comment", data
    data["comment"] = {
        "id": comment_id,
        "body": body,
        "user": _user(sender, sender_type),
        "author_association": "MEMBER",
        "html_url": f"{issue['html_url']}#issuecomment-{comment_id}",
        "created_at": "2026-11-21T10:05:00Z",
        "updated_at": "2026-11-21T10:05:00Z",
    }
    return "issue_comment", data


def pull_request(
    fake: FakeGitHub, number: int, head_sha: str, *, action: str = "opened", sender: str
) -> tuple[str, Json]:
    """`pull_request.opened` or `.synchronize` for a PR whose head is `head_sha`."""
    data = _envelope(fake, action, sender)
    pull = _issue(fake, number, pull_request=True)
    pull.setdefault("head", {})["sha"] = head_sha
    data["number"] = number
    data["pull_request"] = pull
    return "pull_request", data
