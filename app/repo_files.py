"""Reading a repository's own files through the contents API: its config and the files we may edit."""

from __future__ import annotations

import base64
from typing import Any

from app.github.errors import NotFound
from app.repo_config import CONFIG_PATH, RepoConfig, parse_repo_config


async def read_text(gh: Any, repository: str, path: str, *, ref: str | None = None) -> str | None:
    """A file's text at `ref` (default branch when None); None when the file does not exist."""
    url = f"/repos/{repository}/contents/{path}"
    if ref:
        url += f"?ref={ref}"
    try:
        data = await gh.getitem(url)
    except NotFound:
        return None
    if not isinstance(data, dict) or data.get("type", "file") != "file":
        return None
    content = data.get("content") or ""
    return base64.b64decode(content).decode("utf-8", errors="replace")


async def read_repo_config(gh: Any, repository: str) -> RepoConfig:
    """`.github/self-improve.yml` from the default branch; defaults when absent. Raises RepoConfigError."""
    return parse_repo_config(await read_text(gh, repository, CONFIG_PATH), source=CONFIG_PATH)
