"""Webhook payloads for tests: `app.fake_github.events` with the small snapshot's people as defaults."""

from __future__ import annotations

from typing import Any

from app.fake_github import FakeGitHub, events

MAINTAINER, DEVELOPER = (
    "octo-owner",
    "octo-dev",
)  # admin and write in tests/fixtures/snapshots/small.json


def labeled(
    fake: FakeGitHub, number: int, *, sender: str = MAINTAINER, **kw: Any
) -> tuple[str, dict[str, Any]]:
    return events.labeled(fake, number, sender=sender, **kw)


def comment(
    fake: FakeGitHub,
    number: int,
    body: str,
    *,
    sender: str = MAINTAINER,
    comment_id: int = 9001,
    **kw: Any,
) -> tuple[str, dict[str, Any]]:
    return events.comment(fake, number, body, sender=sender, comment_id=comment_id, **kw)


def pull_request(
    fake: FakeGitHub, number: int, head_sha: str, *, sender: str = DEVELOPER, **kw: Any
) -> tuple[str, dict[str, Any]]:
    return events.pull_request(fake, number, head_sha, sender=sender, **kw)
