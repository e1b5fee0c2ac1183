"""The container image, checked without a Docker engine: the files the Dockerfile copies, the package
built and installed the way its build stage does it, and the app run from the image's working
directory with no source tree in reach."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def dockerfile_copies(text: str) -> list[list[str]]:
    """Per stage, the build-context paths its `COPY` lines take (copies from another stage left out)."""
    stages: list[list[str]] = []
    for line in text.splitlines():
        words = line.split()
        if words[:1] == ["FROM"]:
            stages.append([])
        elif words[:1] == ["COPY"] and not any(w.startswith("--from=") for w in words):
            stages[-1].extend(words[1:-1])
    return stages


def _imported_from(cwd: Path, env: dict[str, str] | None = None) -> str:
    """Where this Python imports the app from, run in `cwd` (outside the source tree)."""
    return subprocess.run(
        [sys.executable, "-c", "import app; print(app.__file__)"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def test_dockerfile_copies_are_read_per_stage() -> None:
    text = "FROM a AS b\nCOPY x y ./\nRUN z\nFROM c\nCOPY --from=b /i /j\nCOPY w ./\n"
    assert dockerfile_copies(text) == [["x", "y"], ["w"]]


def test_the_images_layout_runs_the_demo(tmp_path: Path) -> None:
    build, final = dockerfile_copies((ROOT / "Dockerfile").read_text(encoding="utf-8"))
    src, srv, prefix = tmp_path / "src", tmp_path / "srv", tmp_path / "install"
    for dest, names in ((src, build), (srv, final)):
        dest.mkdir()
        for name in names:
            origin = ROOT / name
            if origin.is_dir():
                shutil.copytree(origin, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy2(origin, dest / name)
    ours = _imported_from(tmp_path)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            # without it pip first uninstalls the project from the environment running the tests
            "--ignore-installed",
            "--prefix",
            str(prefix),
            ".",
        ],
        cwd=src,
        check=True,
        capture_output=True,
    )
    site = (
        prefix
        / "lib"
        / f"python{sys.version_info.major}.{sys.version_info.minor}"
        / "site-packages"
    )
    env = {**os.environ, "PYTHONPATH": str(site)}
    where = _imported_from(srv, env)
    assert where.startswith(str(site)), "the installed copy must be the one that runs"
    assert _imported_from(tmp_path) == ours, "the test environment's own install must be left alone"
    demo = subprocess.run(
        [sys.executable, "-m", "app", "demo"],
        cwd=srv,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert demo.returncode == 0, demo.stderr[-3000:]
    assert "Improvement PR #" in demo.stdout
    assert "Guardrails (check run “self-improve/guardrails”): success" in demo.stdout
