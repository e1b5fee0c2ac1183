"""Which commit the check run is attached to: the PR's head, or for an issue the default branch's head."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from gidgethub.abc import GitHubAPI

from app.github.errors import GitHubError


def _sha(answer: Any, *path: str) -> str | None:
    """The string at `path` inside a JSON answer, when it looks like a commit sha."""
    node = answer
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
    if (
        isinstance(node, str)
        and len(node) in (40, 64)
        and all(c in "0123456789abcdef" for c in node)
    ):
        return node
    return None


async def head_sha_for(
    gh: GitHubAPI,
    repository: str,
    target_kind: str,
    number: int,
    *,
    default_branch: str | None = None,
) -> str:
    """The sha to hang the check run on; a `GitHubError` when GitHub does not say.

    A pull request: its head. An issue: the head of the default branch (read from the repository
    unless the caller already knows it), since an issue has no commit of its own.
    """
    if target_kind == "pull_request":
        url = f"/repos/{repository}/pulls/{number}"
        sha = _sha(await gh.getitem(url), "head", "sha")
    elif target_kind == "issue":
        if default_branch is None:
            repo = await gh.getitem(f"/repos/{repository}")
            branch = repo.get("default_branch") if isinstance(repo, dict) else None
            if not isinstance(branch, str) or not branch:
                raise GitHubError(200, "the repository names no default branch", url=repository)
            default_branch = branch
        # A branch name may hold slashes; they stay, everything else is escaped.
        url = f"/repos/{repository}/git/ref/heads/{quote(default_branch, safe='/')}"
        sha = _sha(await gh.getitem(url), "object", "sha")
    else:
        raise ValueError(f"target_kind: {target_kind!r} is not issue or pull_request")
    if sha is None:
        raise GitHubError(200, "the answer holds no commit sha", url=url)
    return sha
