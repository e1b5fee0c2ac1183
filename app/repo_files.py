"""Reading a repository's own files through the contents API: its config and the files we may edit."""

from __future__ import annotations

import base64
import binascii
from typing import Any
from urllib.parse import quote

from app.github.errors import NotFound
from app.repo_config import CONFIG_PATH, RepoConfig, RepoConfigError, parse_repo_config


class FileUnreadable(ValueError):
    """A file that cannot be read safely as text (too large for the API, not UTF-8, not a file)."""


def file_text(path: str, data: Any) -> str:
    """The text of a contents-API file answer, or FileUnreadable naming the path and why.

    Above 1 MB the API answers with an empty `content`; taking that for an empty file would make an
    edit replace the whole file.
    """
    if not isinstance(data, dict) or data.get("type", "file") != "file":
        raise FileUnreadable(f"{path}: not a file")
    if data.get("encoding") != "base64":
        raise FileUnreadable(f"{path}: too large for the contents API (over 1 MB); edit it by hand")
    try:
        raw = base64.b64decode(str(data.get("content") or ""), validate=False)
        text = raw.decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise FileUnreadable(
            f"{path}: not UTF-8 text; self-improve edits only text files"
        ) from None
    size = data.get("size")
    if isinstance(size, int) and size != len(raw):
        raise FileUnreadable(f"{path}: the API returned {len(raw)} of {size} bytes")
    return text


async def read_text(gh: Any, repository: str, path: str, *, ref: str | None = None) -> str | None:
    """A file's text at `ref` (default branch when None); None when it does not exist there.

    Raises FileUnreadable when it exists but cannot be read safely as text."""
    url = f"/repos/{repository}/contents/{quote(path, safe='/')}"
    if ref:
        url += f"?ref={quote(ref, safe='')}"
    try:
        data = await gh.getitem(url)
    except NotFound:
        return None
    return file_text(path, data)


async def read_repo_config(gh: Any, repository: str) -> RepoConfig:
    """`.github/self-improve.yml` from the default branch; defaults when absent. Raises RepoConfigError."""
    try:
        text = await read_text(gh, repository, CONFIG_PATH)
    except FileUnreadable as exc:
        raise RepoConfigError(str(exc)) from None
    return parse_repo_config(text, source=CONFIG_PATH)
