"""`python -m app snapshot OWNER/REPO#N --out FILE`: a snapshot file from the double, or one clear error."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.__main__ import main as app_main
from app.evidence.cli import main, parse_target
from app.evidence.gather import EvidenceError
from app.fake_github import FakeGitHub
from app.snapshot import load_snapshot


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, fake_github: FakeGitHub) -> Path:
    """A clean environment pointing at the double, in an empty directory (no stray .env)."""
    for name in ("APP_ID", "PRIVATE_KEY", "PRIVATE_KEY_PATH", "GITHUB_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GITHUB_API_URL", fake_github.url)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_token_writes_a_snapshot_and_a_summary(
    env: Path, fake_github: FakeGitHub, capsys: pytest.CaptureFixture[str]
) -> None:
    """With --token the snapshot is written and one summary line names counts, gaps and requests."""
    out = env / "snap.json"
    token = fake_github.installation_token()
    assert app_main(["snapshot", "acme/widgets#12", "--out", str(out), "--token", token]) == 0
    snapshot = load_snapshot(out)
    assert snapshot.target.number == 12 and snapshot.pull_requests
    [line] = capsys.readouterr().out.splitlines()
    assert line.startswith(f"wrote {out}: acme/widgets issue #12: 1 issues, 1 pull requests")
    assert "; 0 gaps;" in line and "requests (0 answered 304)" in line
    assert token not in line


def test_app_credentials_find_the_installation(
    env: Path,
    fake_github: FakeGitHub,
    app_key_pem: bytes,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Without a token the App's key is used and the installation is looked up for the repository."""
    monkeypatch.setenv("APP_ID", str(fake_github.app_id))
    monkeypatch.setenv("PRIVATE_KEY", app_key_pem.decode())
    out = env / "snap.json"
    assert main(["https://github.com/acme/widgets/pull/13", "--out", str(out)]) == 0
    snapshot = load_snapshot(out)
    assert snapshot.target.kind == "pull_request" and snapshot.installation == {"id": 42}
    paths = [r["path"] for r in fake_github.requests()]
    assert "/repos/acme/widgets/installation" in paths
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["acme/widgets", "--out", "x.json", "--token", "t"], "expected OWNER/REPO#N"),
        (["acme/widgets#12", "--out", "x.json"], "give --token"),
        (["acme/nothing#12", "--out", "x.json", "--token", "@token"], "GitHub answered 40"),
        (["acme/widgets#999", "--out", "x.json", "--token", "@token"], "GitHub answered 404"),
        (["acme/widgets#12", "--out", "no/such/dir/x.json", "--token", "@token"], "cannot write"),
    ],
)
def test_errors_are_one_line_and_exit_2(
    env: Path,
    fake_github: FakeGitHub,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    message: str,
) -> None:
    """Bad targets, missing credentials, GitHub refusals and unwritable files: one line, exit 2."""
    token = fake_github.installation_token()
    argv = [token if a == "@token" else a for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("snapshot: ") and message in err
    assert token not in err
    assert not (env / "x.json").exists()


@pytest.mark.parametrize(
    ("text", "repository", "number", "kind"),
    [
        ("acme/widgets#12", "acme/widgets", 12, None),
        ("https://github.com/acme/widgets/issues/12", "acme/widgets", 12, "issue"),
        (
            "https://github.com/acme/widgets/pull/13#discussion_r1",
            "acme/widgets",
            13,
            "pull_request",
        ),
    ],
)
def test_parse_target(text: str, repository: str, number: int, kind: str | None) -> None:
    """Targets are OWNER/REPO#N or an issue/PR URL; a URL also tells the kind."""
    ref = parse_target(text)
    assert (ref.repository, ref.number, ref.kind) == (repository, number, kind)


def test_parse_target_refuses_junk() -> None:
    """Anything else is an error that quotes what was given."""
    with pytest.raises(EvidenceError, match="'widgets#12'"):
        parse_target("widgets#12")
