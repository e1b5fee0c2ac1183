"""Per-repository configuration: `.github/self-improve.yml` on the default branch, validated, with defaults."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

CONFIG_PATH = ".github/self-improve.yml"

DEFAULT_ALLOWED_PATHS: tuple[str, ...] = (
    "AGENTS.md",
    "**/AGENTS.md",
    "CLAUDE.md",
    "prompt_seeds/**",
    "docs/**/*.md",
)
DEFAULT_ARTIFACT_GLOBS: tuple[str, ...] = ("*session*", "*transcript*", "codex-*", "claude-*")


class _Strict(BaseModel):
    # A typo in a key is an error that names the key, never silently ignored.
    model_config = ConfigDict(extra="forbid", frozen=True)


class Paths(_Strict):
    """Where each category of action item lands in the repository."""

    instructions: str = "AGENTS.md"
    prompts_dir: str = "prompt_seeds"
    docs: str = "docs/agents.md"
    agent_dockerfile: str | None = None


class Gathering(_Strict):
    artifact_globs: tuple[str, ...] = DEFAULT_ARTIFACT_GLOBS
    max_commits: int = Field(default=30, ge=1, le=250)
    max_log_bytes: int = Field(default=2 * 1024 * 1024, ge=1024)
    max_artifact_bytes: int = Field(default=50 * 1024 * 1024, ge=1024)
    extra_files: tuple[str, ...] = ()


class RepoConfig(_Strict):
    """The validated `.github/self-improve.yml`; every field has a default, so an absent file is valid."""

    trigger_label: str = "run:self-improve"
    approve_label: str = "self-improve:approved"
    locale: Literal["en", "ru"] = "en"
    engine: Literal["heuristic", "llm"] = "heuristic"
    stage: str = "dev"  # the stage whose prompt seed a "prompts" item targets
    paths: Paths = Paths()
    allowed_paths: tuple[str, ...] = DEFAULT_ALLOWED_PATHS
    managed_heading: str = "## Learned rules"
    close_source_issue: bool = False
    gathering: Gathering = Gathering()

    @field_validator("trigger_label", "approve_label")
    @classmethod
    def _label_shape(cls, value: str) -> str:
        # The intake routes labels before it can read this file (no API calls on the webhook's hot
        # path), so it recognises `run:self-improve` and the `self-improve…` family only.
        if not value.strip() or len(value) > 50:
            raise ValueError("a label is 1 to 50 characters")
        if value != "run:self-improve" and not value.startswith("self-improve"):
            raise ValueError("must be run:self-improve or start with self-improve")
        return value

    def effective_allowed_paths(self) -> tuple[str, ...]:
        """The allowed-path patterns, with the configured agent Dockerfile added."""
        extra = (self.paths.agent_dockerfile,) if self.paths.agent_dockerfile else ()
        return (*self.allowed_paths, *extra)

    def allows(self, path: str) -> bool:
        """Whether the updater may change `path` (gitignore-style patterns, anchored at the root)."""
        return path_allowed(path, self.effective_allowed_paths())

    def prompt_seed_path(self, stage: str | None = None, locale: str | None = None) -> str:
        loc = locale or self.locale
        suffix = "" if loc == "en" else f"_{loc}"
        return f"{self.paths.prompts_dir}/{stage or self.stage}-work{suffix}.md"


@lru_cache(maxsize=256)
def _pattern_regex(pattern: str) -> re.Pattern[str]:
    """`**` spans directories, `*` and `?` stay inside one path segment, a trailing `/` means a folder."""
    pat = pattern.strip().lstrip("/")
    if pat.endswith("/"):
        pat += "**"
    out, i = [], 0
    while i < len(pat):
        if pat.startswith("**/", i):
            out.append("(?:[^/]+/)*")
            i += 3
        elif pat.startswith("**", i):
            out.append(".*")
            i += 2
        elif pat[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pat[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pat[i]))
            i += 1
    return re.compile("".join(out) + r"\Z")


def path_allowed(path: str, patterns: tuple[str, ...]) -> bool:
    norm = path.strip().lstrip("/")
    if not norm or any(part in {"", ".", ".."} for part in norm.split("/")):
        return False  # "a/../b" and empty segments never name an allowed file
    return any(_pattern_regex(p).match(norm) for p in patterns if p.strip())


class RepoConfigError(ValueError):
    """An invalid `.github/self-improve.yml`; the message names the file, the key and what is wrong."""


def parse_repo_config(text: str | None, *, source: str = CONFIG_PATH) -> RepoConfig:
    """Parse the config file's text; `None` (no file) gives the defaults."""
    if text is None or not text.strip():
        return RepoConfig()
    try:
        data: Any = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise RepoConfigError(f"{source}:{where} is not valid YAML") from None
    if data is None:
        return RepoConfig()
    if not isinstance(data, dict):
        raise RepoConfigError(
            f"{source}: the top level must be a mapping of keys, got {type(data).__name__}"
        )
    try:
        return RepoConfig.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            key = ".".join(str(p) for p in err["loc"]) or "(top level)"
            msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
            msg = msg.removeprefix("Value error, ")
            problems.append(f"{key}: {msg}")
        raise RepoConfigError(f"{source}: " + "; ".join(problems)) from None
