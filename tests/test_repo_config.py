"""The repository's config and its files: validation that names the key, and allowed-path patterns."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from app.repo_config import RepoConfig, RepoConfigError, parse_repo_config, path_allowed
from app.repo_files import FileUnreadable, file_text, read_repo_config


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        ("AGENTS.md", True),
        ("services/api/AGENTS.md", True),
        ("CLAUDE.md", True),
        ("sub/CLAUDE.md", False),  # patterns are anchored at the root
        ("prompt_seeds/dev-work_ru.md", True),
        ("docs/agents.md", True),
        ("docs/deep/er/guide.md", True),
        ("docs/diagram.png", False),
        (".github/workflows/ci.yml", False),
        ("src/app.py", False),
        ("docs/../src/app.md", False),
        ("/AGENTS.md", True),
        ("", False),
    ],
)
def test_default_allowed_paths(path: str, allowed: bool) -> None:
    """The default patterns admit instruction files only; workflows and source code are refused."""
    assert RepoConfig().allows(path) is allowed


def test_agent_dockerfile_joins_the_allowed_paths() -> None:
    """A configured agent Dockerfile may be edited; without it, it may not."""
    assert not RepoConfig().allows("docker/agent.Dockerfile")
    configured = parse_repo_config("paths:\n  agent_dockerfile: docker/agent.Dockerfile\n")
    assert configured.allows("docker/agent.Dockerfile")


@pytest.mark.parametrize(
    ("pattern", "path", "allowed"),
    [
        ("docs/", "docs/a/b.txt", True),
        ("*.md", "README.md", True),
        ("*.md", "docs/README.md", False),
        ("prompt_seeds/?ev-work.md", "prompt_seeds/dev-work.md", True),
        ("**/x.md", "x.md", True),
    ],
)
def test_pattern_table(pattern: str, path: str, allowed: bool) -> None:
    """`**` spans folders, `*` and `?` stay in one segment, a trailing slash means the whole folder."""
    assert path_allowed(path, (pattern,)) is allowed


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("lokale: ru\n", "lokale: unknown key"),
        ("locale: de\n", "locale:"),
        ("gathering:\n  max_commits: 0\n", "gathering.max_commits:"),
        ("- a\n- b\n", "the top level must be a mapping"),
        ("locale: [unclosed\n", "is not valid YAML"),
        (
            "trigger_label: run:learn\n",
            "trigger_label: must be run:self-improve or start with self-improve",
        ),
        ("approve_label: approved\n", "approve_label:"),
    ],
)
def test_invalid_config_names_the_key(text: str, message: str) -> None:
    """A broken config is an error naming the file and the key, never a silent fallback."""
    with pytest.raises(RepoConfigError, match=r"\.github/self-improve\.yml") as caught:
        parse_repo_config(text)
    assert message in str(caught.value)


def test_absent_or_empty_config_gives_defaults() -> None:
    """No file, or an empty one, means the documented defaults."""
    assert parse_repo_config(None) == RepoConfig()
    assert parse_repo_config("\n") == RepoConfig()
    assert RepoConfig().trigger_label == "run:self-improve"
    assert parse_repo_config("trigger_label: self-improve:go\n").trigger_label == "self-improve:go"


def _answer(text: str, **changes: Any) -> dict[str, Any]:
    raw = text.encode()
    data = {
        "type": "file",
        "encoding": "base64",
        "size": len(raw),
        "content": base64.b64encode(raw).decode(),
    }
    return {**data, **changes}


def test_file_text_refuses_what_it_cannot_read_whole() -> None:
    """Above 1 MB the API sends no content: that is unreadable, never an empty file."""
    assert file_text("AGENTS.md", _answer("# rules\n")) == "# rules\n"
    with pytest.raises(FileUnreadable, match="too large"):
        file_text("AGENTS.md", _answer("", encoding="none", content="", size=2_000_000))
    with pytest.raises(FileUnreadable, match="not UTF-8"):
        file_text(
            "AGENTS.md",
            {**_answer(""), "content": base64.b64encode(b"\xff\xfe").decode(), "size": 2},
        )


class _OneAnswer:
    def __init__(self, answer: dict[str, Any]) -> None:
        self.answer = answer

    async def getitem(self, url: str) -> dict[str, Any]:
        return self.answer


async def test_an_unreadable_config_is_a_config_error() -> None:
    """A config the API cannot hand over as text is reported as a config problem, not as defaults."""
    huge = _OneAnswer(_answer("", encoding="none", content="", size=2_000_000))
    with pytest.raises(RepoConfigError, match="too large"):
        await read_repo_config(huge, "acme/widgets")
