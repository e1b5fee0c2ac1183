"""Findings: what one detector saw, before findings about the same problem are merged into an action item."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

FindingKind = Literal[
    "ci",  # the same check failing on several of the agent's pushes
    "feedback",  # reviewers asking for the same thing in several rounds
    "tool_gap",  # the agent's environment lacks a tool or cannot reach a registry
    "wrong_command",  # the agent runs a command other than the documented one, and it fails
    "loop",  # the agent repeats the same failing command
    "stage_labels",  # two stage labels on the issue at once
    "base_branch",  # the agent's PRs retargeted by maintainers, or updated from the default branch
    "force_push",  # the agent rewriting a PR's history after it was reviewed
    "flaky",  # a failure that is not the agent's: also on the default branch, known flaky
    "infra",  # runner/network outages in CI
]

# Key prefixes that identify one concrete thing (a command, a check, a file), so two findings
# sharing such a key talk about the same problem.
MERGE_KEY_PREFIXES = ("cmd:", "check:", "tool:", "path:", "file:", "test:", "ref:")


@dataclass(frozen=True)
class Finding:
    kind: FindingKind
    keys: frozenset[str]
    tags: frozenset[str]
    evidence: tuple[str, ...]  # evidence keys, most telling first
    standalone: bool  # strong enough to be an action item without corroboration
    strength: float  # 0..1
    count: int = 0  # failures, occurrences or overlap episodes
    rounds: int = 0  # distinct agent rounds involved
    commands: tuple[str, ...] = ()  # the commands the fix should name (the right ones first)
    wrong_commands: tuple[str, ...] = ()
    tools: tuple[str, ...] = ()
    hosts: tuple[str, ...] = ()
    checks: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    quote: str = ""  # a representative reviewer request, redacted
    note: str = ""  # for flaky/infra findings: what failed and why it is not the agent's doing
    details: tuple[tuple[str, str], ...] = field(default_factory=tuple)

    def merge_keys(self) -> frozenset[str]:
        return frozenset(k for k in self.keys if k.startswith(MERGE_KEY_PREFIXES))
