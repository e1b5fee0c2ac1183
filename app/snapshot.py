"""The evidence snapshot (`self-improve-snapshot/1`): the one format gathering, diagnosis and the double share.

REST objects stay plain dicts in GitHub's own shapes; every model keeps unknown fields, so reading a
snapshot and writing it back loses nothing (spec/snapshot.md).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

FORMAT = "self-improve-snapshot/1"

Json = dict[str, Any]


class _Open(BaseModel):
    """A model that keeps fields it does not know (lossless round trip)."""

    model_config = ConfigDict(extra="allow")


class Target(_Open):
    kind: Literal["issue", "pull_request"]
    number: int = Field(gt=0)


class IssueEvidence(_Open):
    issue: Json
    comments: list[Json] = Field(default_factory=list)
    timeline: list[Json] = Field(default_factory=list)


class CheckRunEvidence(_Open):
    check_run: Json
    annotations: list[Json] = Field(default_factory=list)


class JobEvidence(_Open):
    job: Json
    log: str | None = None


class ArtifactEvidence(_Open):
    artifact: Json
    files: dict[str, str] = Field(default_factory=dict)


class WorkflowRunEvidence(_Open):
    run: Json
    jobs: list[JobEvidence] = Field(default_factory=list)
    artifacts: list[ArtifactEvidence] = Field(default_factory=list)


class PullRequestEvidence(_Open):
    pull: Json
    comments: list[Json] = Field(default_factory=list)
    timeline: list[Json] = Field(default_factory=list)
    reviews: list[Json] = Field(default_factory=list)
    review_comments: list[Json] = Field(default_factory=list)
    files: list[Json] = Field(default_factory=list)
    commits: list[Json] = Field(default_factory=list)
    check_runs: list[CheckRunEvidence] = Field(default_factory=list)
    workflow_runs: list[WorkflowRunEvidence] = Field(default_factory=list)


class AgentSession(_Open):
    source: str
    format: str = "unknown"  # "codex-rollout" | "claude-code" | "unknown"
    content: str = ""


class Gap(_Open):
    """Something gathering could not get (extension: spec/snapshot.md has no place for it)."""

    what: str  # e.g. "GET /repos/o/r/actions/jobs/7/logs"
    status: int | None = None
    reason: str
    missing_permission: str | None = None


class Snapshot(_Open):
    format: Literal["self-improve-snapshot/1"] = "self-improve-snapshot/1"
    captured_at: str | None = None
    repository: Json
    installation: Json | None = None
    target: Target
    trigger: Json | None = None
    issues: list[IssueEvidence] = Field(default_factory=list)
    pull_requests: list[PullRequestEvidence] = Field(default_factory=list)
    agent_sessions: list[AgentSession] = Field(default_factory=list)
    previous_runs: list[Json] = Field(default_factory=list)
    permissions: dict[str, str] = Field(default_factory=dict)
    files: dict[str, str] = Field(default_factory=dict)
    gaps: list[Gap] = Field(default_factory=list)
    truncated: list[str] = Field(default_factory=list)  # extension: what a GitHub cap cut short
    expected: list[Json] = Field(default_factory=list)

    @property
    def full_name(self) -> str:
        return str(self.repository["full_name"])

    @property
    def html_url(self) -> str:
        return str(
            self.repository.get("html_url") or f"https://github.com/{self.repository['full_name']}"
        )

    @property
    def default_branch(self) -> str:
        return str(self.repository.get("default_branch") or "main")

    def target_url(self) -> str:
        path = "pull" if self.target.kind == "pull_request" else "issues"
        return f"{self.html_url}/{path}/{self.target.number}"


class SnapshotError(ValueError):
    """A snapshot file that cannot be read: names the file and what is wrong with it."""


def parse_snapshot(data: Any, *, where: str = "snapshot") -> Snapshot:
    if not isinstance(data, dict):
        raise SnapshotError(f"{where}: a snapshot is a JSON object, got {type(data).__name__}")
    if data.get("format") != FORMAT:
        raise SnapshotError(f"{where}: format is {data.get('format')!r}, expected {FORMAT!r}")
    try:
        return Snapshot.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise SnapshotError(f"{where}: {loc}: {first['msg']}") from None


def load_snapshot(path: str | Path) -> Snapshot:
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SnapshotError(f"{p}: no such file") from None
    except json.JSONDecodeError as exc:
        raise SnapshotError(
            f"{p}: not JSON: line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None
    return parse_snapshot(data, where=str(p))


def dump_snapshot(snapshot: Snapshot) -> str:
    return json.dumps(
        snapshot.model_dump(mode="json", exclude_defaults=False), ensure_ascii=False, indent=1
    )
