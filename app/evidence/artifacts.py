"""Workflow artifacts opened in memory under caps: a hostile zip costs a refusal, never a crash or a bomb.

An artifact is written by whatever ran in the workflow, including an agent that an outsider can steer,
so its archive is untrusted: sizes in the zip headers may lie, names may climb out of the folder or be
symlinks, and a few kilobytes may inflate to gigabytes. Nothing is written to disk; entries are read in
chunks and counted as they inflate, so a lying header cannot make us hold more than the caps.
"""

from __future__ import annotations

import io
import stat
import zipfile
import zlib
from dataclasses import dataclass, field

_CHUNK = 64 * 1024


class ArchiveRefused(ValueError):
    """The whole archive is refused (not a zip, too many entries, declared sizes over the caps)."""


@dataclass(frozen=True)
class ArchiveLimits:
    """Caps for one artifact; `max_ratio` is uncompressed/compressed per entry and overall."""

    max_total_bytes: int = 200 * 1024 * 1024
    max_file_bytes: int = 32 * 1024 * 1024
    max_files: int = 2000
    max_ratio: float = 200.0  # text deflates 5-20x; deflate itself cannot pass ~1030x

    @classmethod
    def for_download(cls, max_artifact_bytes: int) -> ArchiveLimits:
        """Limits that scale with the configured download cap (the compressed size)."""
        total = max(4 * max_artifact_bytes, 1024 * 1024)
        return cls(max_total_bytes=total, max_file_bytes=min(total, 32 * 1024 * 1024))


@dataclass(frozen=True)
class Skipped:
    """One entry left out, and why (traversal, symlink, too big, binary, encrypted, corrupt)."""

    path: str
    reason: str


@dataclass(frozen=True)
class Unpacked:
    """The text files of an archive (path -> text) and the entries that were left out."""

    files: dict[str, str] = field(default_factory=dict)
    skipped: tuple[Skipped, ...] = ()


def entry_problem(info: zipfile.ZipInfo) -> str | None:
    """Why an entry's name or kind makes it unusable, or None: a pure check on the header alone."""
    name = info.filename
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        return "symbolic link"
    if info.flag_bits & 0x1:
        return "encrypted entry"
    unified = name.replace("\\", "/")
    if unified.startswith("/") or (len(unified) > 1 and unified[1] == ":"):
        return "absolute path"
    parts = unified.split("/")
    if ".." in parts:
        return "path climbs out of the archive (..)"
    if "\x00" in name or any(ord(c) < 32 for c in name):
        return "control character in the name"
    return None


def _normal_path(name: str) -> str:
    return "/".join(p for p in name.replace("\\", "/").split("/") if p not in ("", "."))


def _inflate(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> bytes | None:
    """The entry's bytes, or None once more than `limit` came out (whatever the header claimed)."""
    out = bytearray()
    with archive.open(info) as stream:
        while True:
            chunk = stream.read(_CHUNK)
            if not chunk:
                return bytes(out)
            out += chunk
            if len(out) > limit:
                return None


def _as_text(data: bytes) -> str | None:
    if b"\x00" in data[:8192]:
        return None  # screenshots, traces and other binaries carry no transcript
    return data.decode("utf-8", errors="replace")


def unpack_artifact(data: bytes, limits: ArchiveLimits = ArchiveLimits()) -> Unpacked:
    """The text files in a zip, under `limits`; raises `ArchiveRefused` when the archive as a whole is."""
    if not zipfile.is_zipfile(io.BytesIO(data)):
        head = data[:4]
        raise ArchiveRefused(f"not a zip archive ({len(data)} bytes, starting {head!r})")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError) as exc:
        raise ArchiveRefused(f"unreadable zip archive: {exc}") from None
    with archive:
        entries = [i for i in archive.infolist() if not i.is_dir()]
        if len(entries) > limits.max_files:
            raise ArchiveRefused(
                f"{len(entries)} entries, more than the {limits.max_files} allowed"
            )
        declared = sum(i.file_size for i in entries)
        if declared > limits.max_total_bytes:
            raise ArchiveRefused(
                f"{declared} bytes uncompressed, more than the {limits.max_total_bytes} allowed"
            )
        compressed = max(1, sum(i.compress_size for i in entries))
        if declared > 1024 * 1024 and declared / compressed > limits.max_ratio:
            raise ArchiveRefused(
                f"compression ratio {declared / compressed:.0f}:1 exceeds {limits.max_ratio:.0f}:1"
                " (zip bomb)"
            )
        files: dict[str, str] = {}
        skipped: list[Skipped] = []
        inflated = 0
        for info in entries:
            problem = entry_problem(info)
            path = _normal_path(info.filename)
            if problem is None and not path:
                problem = "empty name"
            if problem is None and info.file_size > limits.max_file_bytes:
                problem = f"{info.file_size} bytes, more than the {limits.max_file_bytes} allowed"
            if problem is None and path in files:
                problem = "duplicate name"
            if problem is not None:
                skipped.append(Skipped(info.filename, problem))
                continue
            # The header's sizes are the writer's word: count what actually inflates.
            room = min(limits.max_file_bytes, limits.max_total_bytes - inflated)
            ratio_cap = max(1024 * 1024, int(max(1, info.compress_size) * limits.max_ratio))
            try:
                content = _inflate(archive, info, min(room, ratio_cap))
            except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError) as exc:
                skipped.append(Skipped(info.filename, f"corrupt entry: {exc}"))
                continue
            if content is None:
                # One hostile entry costs that entry; what was already read stays.
                reason = (
                    f"inflates past {ratio_cap} bytes ({limits.max_ratio:.0f}:1; zip bomb)"
                    if ratio_cap < room
                    else f"the archive's {limits.max_total_bytes} uncompressed bytes are used up"
                )
                skipped.append(Skipped(info.filename, reason))
                continue
            inflated += len(content)
            text = _as_text(content)
            if text is None:
                skipped.append(Skipped(info.filename, "binary file"))
                continue
            files[path] = text
        return Unpacked(files=files, skipped=tuple(skipped))
