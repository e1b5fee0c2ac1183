"""Artifacts unzipped in memory under caps: hostile archives are refused or lose their bad entries."""

from __future__ import annotations

import io
import random
import stat
import zipfile

import pytest

from app.evidence.artifacts import (
    ArchiveLimits,
    ArchiveRefused,
    entry_problem,
    unpack_artifact,
)

ROLLOUT = '{"type":"session_meta","payload":{"id":"s1"}}\n'


def _zip(entries: list[tuple[str | zipfile.ZipInfo, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries:
            archive.writestr(name, data)
    return buffer.getvalue()


def _symlink(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


def test_text_files_come_out_by_path() -> None:
    """An ordinary artifact yields its text files keyed by their path inside the zip."""
    data = _zip([("codex/rollout-1.jsonl", ROLLOUT.encode()), ("notes/readme.md", b"hi")])
    unpacked = unpack_artifact(data)
    assert unpacked.files == {"codex/rollout-1.jsonl": ROLLOUT, "notes/readme.md": "hi"}
    assert unpacked.skipped == ()


@pytest.mark.parametrize(
    "data",
    [b"", b"<html>502 Bad Gateway</html>", b"PK\x03\x04 truncated", b"\x1f\x8b\x08gzip"],
)
def test_not_a_zip_is_refused_with_a_reason(data: bytes) -> None:
    """Bytes that are not a zip archive are refused with a message saying so, never a crash."""
    with pytest.raises(ArchiveRefused, match="zip"):
        unpack_artifact(data)


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("../../etc/passwd", "climbs out"),
        ("a/../../b.txt", "climbs out"),
        ("/etc/shadow", "absolute path"),
        ("C:/Windows/win.ini", "absolute path"),
        ("..\\evil.txt", "climbs out"),
    ],
)
def test_dangerous_names_are_skipped_and_the_rest_kept(name: str, reason: str) -> None:
    """Traversal and absolute paths are refused entry by entry; the safe files already read stay."""
    data = _zip([("ok.jsonl", ROLLOUT.encode()), (name, b"x")])
    unpacked = unpack_artifact(data)
    assert unpacked.files == {"ok.jsonl": ROLLOUT}
    assert [(s.path, reason in s.reason) for s in unpacked.skipped] == [(name, True)]


def test_symlinks_are_refused() -> None:
    """A symlink entry (which would point outside on extraction) is skipped as such."""
    data = _zip([(_symlink("link"), b"/etc/passwd"), ("ok.txt", b"ok")])
    unpacked = unpack_artifact(data)
    assert unpacked.files == {"ok.txt": "ok"}
    assert unpacked.skipped[0].reason == "symbolic link"


def test_zip_bomb_by_declared_ratio_is_refused_whole() -> None:
    """Highly compressible megabytes beyond the ratio cap refuse the archive before inflating it."""
    data = _zip([("bomb.txt", b"\0" * (8 * 1024 * 1024))])
    with pytest.raises(ArchiveRefused, match="zip bomb"):
        unpack_artifact(data, ArchiveLimits(max_ratio=50))


def test_entry_inflating_past_its_ratio_is_skipped() -> None:
    """One over-compressed entry among honest ones is skipped; its neighbours are kept."""
    honest = random.Random(0).randbytes(4 * 1024 * 1024)  # does not compress at all
    data = _zip([("a.txt", b"a" * 3 * 1024 * 1024), ("noise.bin.txt", honest), ("z.txt", b"z")])
    unpacked = unpack_artifact(data, ArchiveLimits(max_ratio=100))
    assert "z.txt" in unpacked.files
    assert [s.path for s in unpacked.skipped if "zip bomb" in s.reason] == ["a.txt"]


def test_lying_header_cannot_inflate_more_than_declared() -> None:
    """An entry whose header understates its size fails its CRC instead of growing unbounded."""
    data = bytearray(_zip([("big.txt", b"A" * 100_000), ("ok.txt", b"fine")]))
    # Rewrite the declared size in both headers of the first entry to 10 bytes.
    archive = zipfile.ZipFile(io.BytesIO(bytes(data)))
    first = archive.infolist()[0]
    local = first.header_offset
    data[local + 22 : local + 26] = (10).to_bytes(4, "little")
    central = bytes(data).index(b"PK\x01\x02")
    data[central + 24 : central + 28] = (10).to_bytes(4, "little")
    unpacked = unpack_artifact(bytes(data))
    assert "big.txt" not in unpacked.files
    assert unpacked.files.get("ok.txt") == "fine"
    assert "corrupt" in unpacked.skipped[0].reason


def test_too_many_entries_refuse_the_archive() -> None:
    """More entries than `max_files` refuse the archive (a directory walk bomb)."""
    data = _zip([(f"f{i}.txt", b"x") for i in range(11)])
    with pytest.raises(ArchiveRefused, match="11 entries"):
        unpack_artifact(data, ArchiveLimits(max_files=10))


def test_total_declared_size_over_cap_is_refused() -> None:
    """Declared uncompressed bytes over the total cap refuse the archive up front."""
    data = _zip([("a.txt", bytes(range(256)) * 100)])
    with pytest.raises(ArchiveRefused, match="uncompressed"):
        unpack_artifact(data, ArchiveLimits(max_total_bytes=1000, max_file_bytes=1000))


def test_oversized_file_and_binaries_are_skipped() -> None:
    """A file over `max_file_bytes` and a binary (NUL bytes) are left out with their reason."""
    data = _zip([("big.log", b"y" * 5000), ("shot.png", b"\x89PNG\r\n\x1a\n\0\0"), ("s.txt", b"s")])
    unpacked = unpack_artifact(data, ArchiveLimits(max_file_bytes=1000))
    assert unpacked.files == {"s.txt": "s"}
    reasons = {s.path: s.reason for s in unpacked.skipped}
    assert (
        "more than the 1000 allowed" in reasons["big.log"] and reasons["shot.png"] == "binary file"
    )


def test_directories_and_dot_segments_normalise() -> None:
    """Directory entries are ignored and `./a//b` is stored as `a/b`."""
    data = _zip([("dir/", b""), ("./dir//x.txt", b"x")])
    assert unpack_artifact(data).files == {"dir/x.txt": "x"}


def test_entry_problem_accepts_plain_names() -> None:
    """An ordinary relative name has no problem."""
    assert entry_problem(zipfile.ZipInfo("2026/11/03/rollout.jsonl")) is None


def test_limits_scale_with_the_download_cap() -> None:
    """The unpack caps follow `max_artifact_bytes` (4x for inflation), with a floor."""
    assert ArchiveLimits.for_download(10 * 1024 * 1024).max_total_bytes == 40 * 1024 * 1024
    assert ArchiveLimits.for_download(1024).max_total_bytes == 1024 * 1024
