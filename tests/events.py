"""Webhook payloads for the double's repository, built on octokit's recorded examples."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from app.fake_github import FakeGitHub

WEBHOOKS = Path(__file__).parent / "fixtures" / "webhooks"


def _example(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((WEBHOOKS / name).read_text())
    return data


def _user(login: str, kind: str = "User") -> dict[str, Any]:
    return {"login": login, "id": abs(hash(login)) % 10_000_000, "type": kind}


def _context(
    fake: FakeGitHub, data: dict[str, Any], sender: str, sender_type: str
) -> dict[str, Any]:
    owner, name = fake.repo_full_name.split("/")
    data["repository"] = {
        **data.get("repository", {}),
        "full_name": fake.repo_full_name,
        "name": name,
        "owner": _user(owner, "Organization"),
        "html_url": f"https://github.com/{fake.repo_full_name}",
    }
    data["installation"] = {"id": fake.installation_id, "node_id": "MDIz"}
    data["sender"] = _user(sender, sender_type)
    return data


def labeled(
    fake: FakeGitHub,
    number: int,
    *,
    label: str = "run:self-improve",
    sender: str = "octo-owner",
    pull_request: bool = False,
    stamp: str = "2026-11-21T10:00:00Z",
) -> tuple[str, dict[str, Any]]:
    if pull_request:
        data = copy.deepcopy(_example("pull_request/labeled.json"))
        data["pull_request"].update(number=number, updated_at=stamp)
        event = "pull_request"
    else:
        data = copy.deepcopy(_example("issues/labeled.json"))
        data["issue"].update(number=number, updated_at=stamp)
        data["issue"].pop("pull_request", None)
        event = "issues"
    data["label"] = {"name": label, "id": 1, "color": "ededed"}
    return event, _context(fake, data, sender, "User")


def comment(
    fake: FakeGitHub,
    number: int,
    body: str,
    *,
    sender: str = "octo-owner",
    comment_id: int = 9001,
    pull_request: bool = False,
    sender_type: str = "User",
) -> tuple[str, dict[str, Any]]:
    data = copy.deepcopy(_example("issue_comment/created.json"))
    data["issue"]["number"] = number
    if pull_request:
        data["issue"]["pull_request"] = {
            "url": f"https://api.github.com/repos/{fake.repo_full_name}/pulls/{number}"
        }
    else:
        data["issue"].pop("pull_request", None)
    data["comment"].update(id=comment_id, body=body, user=_user(sender, sender_type))
    return "issue_comment", _context(fake, data, sender, sender_type)


def pull_request(
    fake: FakeGitHub,
    number: int,
    head_sha: str,
    *,
    action: str = "opened",
    sender: str = "octo-dev",
) -> tuple[str, dict[str, Any]]:
    data = copy.deepcopy(
        _example(f"pull_request/{'synchronize' if action == 'synchronize' else 'opened'}.json")
    )
    data["action"] = action
    data["number"] = number
    data["pull_request"].update(number=number)
    data["pull_request"]["head"]["sha"] = head_sha
    return "pull_request", _context(fake, data, sender, "User")
