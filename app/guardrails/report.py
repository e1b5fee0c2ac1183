"""What the guardrail reports: violations with where to annotate them, and whether the diff may go ahead."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal


@dataclass(frozen=True)
class Violation:
    """A change that weakens a rule; `line` is on the `side` ("old" or "new") of `path`."""

    path: str
    line: int
    side: Literal["old", "new"]
    rule: str
    message: str
    excerpt: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class GuardrailReport:
    violations: tuple[Violation, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.violations

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "violations": [v.as_dict() for v in self.violations]}
