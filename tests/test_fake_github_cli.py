"""`python -m app fake-github`: prints its URL, serves until SIGTERM, refuses bad input with exit 2."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from app.fake_github.cli import main

SMALL = Path(__file__).parent / "fixtures" / "snapshots" / "small.json"
ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (None, "no such file"),
        ("{not json", "not JSON"),
        ('{"format": "other/1"}', "format is 'other/1'"),
    ],
)
def test_bad_snapshot_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | None, fragment: str
) -> None:
    """A missing, broken or foreign snapshot file gives one clear error line and exit status 2."""
    path = tmp_path / "snap.json"
    if content is not None:
        path.write_text(content)
    assert main(["--snapshot", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert fragment in err
    assert str(path) in err


def test_bad_app_key_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An --app-key that is not a PEM private key is refused with exit 2."""
    key = tmp_path / "key.pem"
    key.write_text("not a key")
    assert main(["--snapshot", str(SMALL), "--app-key", str(key)]) == 2
    assert "app key" in capsys.readouterr().err


@pytest.mark.slow
def test_serves_until_sigterm(tmp_path: Path) -> None:
    """The command prints one base URL line, serves the snapshot, and exits 0 on SIGTERM."""
    process = subprocess.Popen(
        [sys.executable, "-m", "app", "fake-github", "--snapshot", str(SMALL), "--latency-ms", "1"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(f"{url}/_fake/requests", timeout=10) as response:  # noqa: S310  # our own local server
            assert json.loads(response.read()) == []
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=10)
        assert process.returncode == 0, err
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
