"""Effects counted from what the GitHub double saw: comments, check runs and PRs, for "exactly once" tests."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from app.fake_github import FakeGitHub
from app.publish.render import MARKER

CHECK_NAME = "self-improve"


_COMMENTS = re.compile(r"/issues/(\d+)/comments$")


@dataclass(frozen=True)
class Effects:
    """Creations GitHub applied (2xx only: a faulted write never reaches the double's state)."""

    sticky_comments: Counter[int]  # target number -> POSTs of our sticky comment
    check_runs: Counter[str]  # external_id -> POSTs of a self-improve check run
    pulls: int


def applied(writes: Iterable[dict[str, Any]], method: str) -> list[dict[str, Any]]:
    return [w for w in writes if w["method"] == method and 200 <= int(w["status"]) < 300]


def effects_of(writes: list[dict[str, Any]]) -> Effects:
    posts = applied(writes, "POST")
    sticky: Counter[int] = Counter()
    checks: Counter[str] = Counter()
    pulls = 0
    for w in posts:
        body = w.get("body") or {}
        found = _COMMENTS.search(w["path"])
        if found and MARKER in str(body.get("body", "")):
            sticky[int(found.group(1))] += 1
        elif w["path"].endswith("/check-runs") and body.get("name") == CHECK_NAME:
            checks[str(body.get("external_id"))] += 1
        elif w["path"].endswith("/pulls"):
            pulls += 1
    return Effects(sticky, checks, pulls)


def our_comments(fake: FakeGitHub, number: int) -> list[dict[str, Any]]:
    bot = f"{fake.app_slug}[bot]"
    return [
        c
        for c in fake.world.issue_comments(number)
        if MARKER in str(c.get("body")) and (c.get("user") or {}).get("login") == bot
    ]


def our_check_runs(fake: FakeGitHub) -> list[dict[str, Any]]:
    return [r for r in fake.world.check_runs.values() if r.get("name") == CHECK_NAME]
