"""Downloads that never change, kept between gatherings: finished job logs and artifact contents.

API reads are revalidated by the client's ETag cache (a 304 is free), but logs and artifacts come
from signed blob URLs with no validators, so a second gathering would fetch megabytes again. A
completed job's log and an artifact (named by id and digest) are immutable, so their processed form
(redacted, trimmed, unpacked) is kept here, bounded in bytes. Keys carry the repository, so a body
never answers for another repository's object; a cached entry is consulted only after the listing
that names it was allowed, so a token without `actions: read` never sees cached logs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cachetools import LRUCache


@dataclass(frozen=True)
class CachedLog:
    text: str
    note: str | None  # the truncation note the first download produced


@dataclass(frozen=True)
class CachedArtifact:
    files: dict[str, str]
    problems: tuple[tuple[str, str], ...]  # (what, reason) gaps the first unpacking recorded


def _size(value: Any) -> int:
    if isinstance(value, CachedLog):
        return len(value.text) + 256
    if isinstance(value, CachedArtifact):
        return sum(len(k) + len(v) for k, v in value.files.items()) + 256
    return 256


@dataclass
class EvidenceCache:
    """A byte-bounded LRU of processed downloads; one per process, shared by every gathering."""

    max_bytes: int = 256 * 1024 * 1024
    _entries: LRUCache[tuple[str, ...], CachedLog | CachedArtifact] = field(init=False)

    def __post_init__(self) -> None:
        self._entries = LRUCache(maxsize=self.max_bytes, getsizeof=_size)

    def __len__(self) -> int:
        return len(self._entries)

    @staticmethod
    def log_key(repository: str, job: dict[str, Any]) -> tuple[str, ...] | None:
        """A finished job's log never changes; an unfinished one is never cached."""
        if job.get("status") != "completed" or not job.get("completed_at"):
            return None
        return ("log", repository.lower(), str(job["id"]), str(job["completed_at"]))

    @staticmethod
    def artifact_key(repository: str, artifact: dict[str, Any]) -> tuple[str, ...] | None:
        version = artifact.get("digest") or artifact.get("updated_at")
        if not version:
            return None
        return ("artifact", repository.lower(), str(artifact["id"]), str(version))

    def get_log(self, key: tuple[str, ...] | None) -> CachedLog | None:
        found = self._entries.get(key) if key is not None else None
        return found if isinstance(found, CachedLog) else None

    def get_artifact(self, key: tuple[str, ...] | None) -> CachedArtifact | None:
        found = self._entries.get(key) if key is not None else None
        return found if isinstance(found, CachedArtifact) else None

    def put(self, key: tuple[str, ...] | None, value: CachedLog | CachedArtifact) -> None:
        if key is not None and _size(value) <= self.max_bytes // 4:
            self._entries[key] = value
