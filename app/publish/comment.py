"""The sticky comment: one per issue or PR, found again by its hidden marker, edited in place; reactions.

Only comments written by our own bot count: anyone can paste the marker into a comment of theirs.
Two jobs racing on one target (redelivery, concurrent triggers) may both POST; each then lists again,
the oldest of ours wins, and every other copy is deleted, so the thread converges on one comment.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping
from typing import Any

from app.github.client import GitHubClient
from app.github.errors import Forbidden, GitHubError, NotFound
from app.publish.limits import MAX_COMMENT, clip_markdown
from app.publish.render import MARKER

log = logging.getLogger(__name__)

REACTIONS = frozenset({"+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes"})


def is_ours(comment: Mapping[str, Any], bot_login: str, marker: str = MARKER) -> bool:
    """Written by our bot and carrying the marker (pure, for tests and the listing below)."""
    user = comment.get("user") or {}
    login = user.get("login") if isinstance(user, Mapping) else None
    body = comment.get("body")
    return (
        isinstance(login, str)
        and login.lower() == bot_login.lower()
        and isinstance(body, str)
        and marker in body
    )


def sticky_body(body: str, marker: str = MARKER) -> str:
    """`body` with the marker first (so later runs find it) and within GitHub's comment limit."""
    if marker not in body:
        body = f"{marker}\n{body}"
    return clip_markdown(body, MAX_COMMENT)


async def find_sticky_comments(
    gh: GitHubClient, repository: str, number: int, *, bot_login: str, marker: str = MARKER
) -> list[dict[str, Any]]:
    """Our marked comments on an issue or PR, oldest first (all pages)."""
    page = await gh.paginate(f"/repos/{repository}/issues/{number}/comments")
    if page.truncated:
        log.warning(
            "the thread has more comments than we read; the sticky comment may be missed",
            extra={"repository": repository, "number": number},
        )
    ours = [c for c in page.items if isinstance(c, dict) and is_ours(c, bot_login, marker)]
    return sorted(ours, key=lambda c: int(c.get("id") or 0))


async def _delete_quietly(gh: GitHubClient, repository: str, comment_id: int) -> None:
    with contextlib.suppress(NotFound):  # a concurrent job may have removed it already
        await gh.delete(f"/repos/{repository}/issues/comments/{comment_id}")


async def upsert_sticky_comment(
    gh: GitHubClient,
    repository: str,
    number: int,
    body: str,
    *,
    bot_login: str,
    known_id: int | None = None,
    marker: str = MARKER,
) -> int:
    """Edit our comment on `repository#number` in place, or create it; returns its id.

    `known_id` (a comment this run or an earlier one wrote) is edited directly; if it is gone, the
    thread is searched. `bot_login` is `<app-slug>[bot]`.
    """
    text = sticky_body(body, marker)
    if known_id is not None:
        try:
            await gh.patch(f"/repos/{repository}/issues/comments/{known_id}", data={"body": text})
            return known_id
        except (NotFound, Forbidden):
            log.info(
                "the known sticky comment is gone; searching the thread", extra={"id": known_id}
            )
    ours = await find_sticky_comments(gh, repository, number, bot_login=bot_login, marker=marker)
    if ours:
        keeper = int(ours[0]["id"])
        await gh.patch(f"/repos/{repository}/issues/comments/{keeper}", data={"body": text})
        for extra in ours[1:]:
            await _delete_quietly(gh, repository, int(extra["id"]))
        return keeper
    created = await gh.post(f"/repos/{repository}/issues/{number}/comments", data={"body": text})
    mine = int(created["id"])
    # Another job may have posted at the same moment: the oldest of ours stays, the rest go.
    ours = await find_sticky_comments(gh, repository, number, bot_login=bot_login, marker=marker)
    ids = [int(c["id"]) for c in ours]
    keeper = min([*ids, mine])
    for other in ids:
        if other != keeper:
            await _delete_quietly(gh, repository, other)
    if keeper != mine:
        await _delete_quietly(gh, repository, mine)
        await gh.patch(f"/repos/{repository}/issues/comments/{keeper}", data={"body": text})
    return keeper


async def post_once(
    gh: GitHubClient,
    repository: str,
    number: int,
    body: str,
    *,
    marker: str,
    bot_login: str | None = None,
) -> int:
    """Post a reply led by `marker` on `repository#number`; returns its id.

    With `bot_login` (a retried attempt), our comment carrying that marker is looked for first: the
    attempt before may have died after GitHub took the reply and before its id was recorded. The marker
    names the run, so another run's reply never counts.
    """
    if bot_login is not None:
        ours = await find_sticky_comments(
            gh, repository, number, bot_login=bot_login, marker=marker
        )
        if ours:
            return int(ours[0]["id"])
    text = body if marker in body else f"{marker}\n{body}"
    created = await gh.post(f"/repos/{repository}/issues/{number}/comments", data={"body": text})
    return int(created["id"])


async def react(gh: GitHubClient, repository: str, comment_id: int, content: str) -> bool:
    """Add a reaction to an issue comment; already there (200) counts as done. False on failure.

    A reaction is an acknowledgement, not the work: failing to add one is logged, never raised.
    """
    if content not in REACTIONS:
        raise ValueError(f"reaction: {content!r} is not one of {sorted(REACTIONS)}")
    try:
        await gh.post(
            f"/repos/{repository}/issues/comments/{comment_id}/reactions",
            data={"content": content},
        )
    except GitHubError as exc:
        log.warning(
            "could not react to the command comment",
            extra={"comment": comment_id, "reaction": content, "error": str(exc)},
        )
        return False
    return True
