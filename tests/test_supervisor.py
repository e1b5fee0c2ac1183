"""`serve --processes N` / WEB_CONCURRENCY: what it refuses, and why (the processes themselves run in
tests/test_replicas.py, on PostgreSQL)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.settings import load_settings
from app.supervisor import processes_problem

POSTGRES = "postgresql://127.0.0.1:5432/test"
REGISTERED = {"app_id": 1, "private_key": "-----BEGIN RSA PRIVATE KEY-----\nx\n-----END RSA"}


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"database_url": "sqlite:///x.db"}, "several processes need DATABASE_URL=postgresql://"),
        ({"database_url": POSTGRES, "port": 0}, "PORT: several processes share one fixed port"),
        ({"database_url": POSTGRES, "app_id": None}, "register the App with one process first"),
    ],
)
def test_what_several_processes_refuse(overrides: dict[str, object], expected: str) -> None:
    settings = load_settings(env_file=None, **{**REGISTERED, **overrides})
    problem = processes_problem(settings, 2)
    assert problem is not None and expected in problem


def test_one_process_is_always_fine_and_postgres_with_a_port_takes_several() -> None:
    sqlite = load_settings(env_file=None, database_url="sqlite:///x.db")
    assert processes_problem(sqlite, 1) is None
    assert (
        processes_problem(load_settings(env_file=None, database_url=POSTGRES, **REGISTERED), 4)
        is None
    )


@pytest.mark.parametrize("how", ["flag", "env"])
def test_serve_refuses_several_processes_on_sqlite_and_starts_none(
    tmp_path: Path, how: str
) -> None:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "DATABASE_URL": f"sqlite:///{tmp_path}/app.db",
        "APP_ID": "1",
        "PRIVATE_KEY": "not read before the refusal",
        "WEBHOOK_SECRET": "s3cret-for-the-test",
        "PORT": "3999",
    }
    argv = [sys.executable, "-m", "app", "serve"]
    if how == "flag":
        argv += ["--processes", "2"]
    else:
        env["WEB_CONCURRENCY"] = "2"
    done = subprocess.run(argv, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "WEB_CONCURRENCY: several processes need DATABASE_URL=postgresql://" in done.stderr
    assert not (tmp_path / "app.db").exists()  # refused before anything was opened


def test_processes_must_be_positive(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "app", "serve", "--processes", "0"],
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "--processes: at least 1" in done.stderr
