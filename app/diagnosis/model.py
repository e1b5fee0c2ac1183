"""The diagnosis format (`self-improve-diagnosis/1`, spec/diagnosis.md) as validated pydantic models.

Extensions to the spec, all optional for readers:

- `ActionItem.rule`: the exact one-line rule the updater adds to `target_path` (no leading "- ");
- `ActionItem.tool`: for tooling items, the tool or host the agent's environment lacks;
- `Diagnosis.fallback_reason`: set when the LLM engine was asked for but the heuristic engine
  answered (timeout, HTTP error, invalid output, refusal, not configured);
- `Diagnosis.notes`: failures seen that are not the agent's fault (flaky tests, CI outages) and
  ignored instructions from outsiders, one line each, for people; never action items.

Evidence ids `E1…` are given to cited evidence only, in order of first use.
"""

from __future__ import annotations

from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

FORMAT: Final = "self-improve-diagnosis/1"
Category = Literal["docs", "prompts", "instructions", "tooling"]
CATEGORIES: tuple[Category, ...] = ("docs", "prompts", "instructions", "tooling")
EvidenceKind = Literal[
    "issue",
    "issue_comment",
    "pull_request",
    "review",
    "review_comment",
    "check_run",
    "annotation",
    "job_log",
    "workflow_run",
    "commit",
    "timeline_event",
    "session_event",
    "file",
    "previous_run",
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TargetRef(_Model):
    repository: str
    kind: Literal["issue", "pull_request"]
    number: int = Field(gt=0)
    url: str


class EvidenceRef(_Model):
    id: str = Field(pattern=r"^E\d+$")
    kind: EvidenceKind
    url: str
    author: str | None = None
    created_at: str | None = None
    excerpt: str = Field(default="", max_length=300)


class ActionItem(_Model):
    id: str = Field(pattern=r"^A\d+$")
    category: Category
    title: str = Field(min_length=1, max_length=200)
    problem: str = Field(min_length=1, max_length=2000)
    proposal: str = Field(min_length=1, max_length=2000)
    target_path: str = Field(min_length=1)
    evidence_refs: list[str] = Field(min_length=1)
    confidence: float = Field(ge=0.0, le=1.0)
    rule: str = Field(min_length=1, max_length=500)
    tool: str | None = None


class ToolGap(_Model):
    tool: str = Field(min_length=1)
    reason: str
    evidence_refs: list[str] = Field(min_length=1)


class Diagnosis(_Model):
    format: Literal["self-improve-diagnosis/1"] = FORMAT
    target: TargetRef
    role: str = "km"
    engine: str = "heuristic"
    diagnosis: str
    action_items: list[ActionItem] = Field(default_factory=list)
    evidence_refs: list[EvidenceRef] = Field(default_factory=list)
    tool_gaps: list[ToolGap] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    fallback_reason: str | None = None

    @model_validator(mode="after")
    def _references_resolve(self) -> Diagnosis:
        ids = [e.id for e in self.evidence_refs]
        if len(set(ids)) != len(ids):
            raise ValueError("evidence_refs: duplicate ids")
        known = set(ids)
        for item in self.action_items:
            missing = [r for r in item.evidence_refs if r not in known]
            if missing:
                raise ValueError(f"action item {item.id}: unknown evidence ids {missing}")
        for gap in self.tool_gaps:
            missing = [r for r in gap.evidence_refs if r not in known]
            if missing:
                raise ValueError(f"tool gap {gap.tool}: unknown evidence ids {missing}")
        item_ids = [i.id for i in self.action_items]
        if len(set(item_ids)) != len(item_ids):
            raise ValueError("action_items: duplicate ids")
        return self

    def cited_urls(self, item: ActionItem) -> list[str]:
        by_id = {e.id: e.url for e in self.evidence_refs}
        return [by_id[r] for r in item.evidence_refs if r in by_id]
