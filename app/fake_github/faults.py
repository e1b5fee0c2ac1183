"""Faults on demand: which request fails how, decided by a seeded generator so runs repeat."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from typing import Any, Literal, cast

FaultKind = Literal["502", "503", "reset", "secondary", "primary", "slow"]
KINDS: tuple[str, ...] = ("502", "503", "reset", "secondary", "primary", "slow")
EXEMPT_PREFIXES = ("/_fake/", "/_blobs/")


class FaultRuleError(ValueError):
    """A fault rule that cannot be used: names the rule's index and the field at fault."""


@dataclass(frozen=True)
class FaultRule:
    kind: FaultKind
    rate: float = 1.0
    method: str | None = None  # None = any method
    path: str | None = None  # a template ("{x}" = one segment; matches whole paths) or a prefix
    count: int | None = None  # the rule looks at the first N matching requests only
    retry_after: int = 60
    reset_in: int = 60
    delay_ms: int = 1000

    def names(self, path: str) -> bool:
        """True when the rule's route names this path explicitly (control and blob routes)."""
        return (
            self.path is not None and path.startswith(EXEMPT_PREFIXES) and self.matches_path(path)
        )

    def matches_path(self, path: str) -> bool:
        if self.path is None:
            return True
        if "{" in self.path:
            pattern = re.sub(r"\\\{[^/]*?\\\}", "[^/]+", re.escape(self.path))
            return re.fullmatch(pattern, path) is not None
        # without placeholders the path is a prefix, whole segments only
        return path == self.path or path.startswith(self.path.rstrip("/") + "/")

    def matches(self, method: str, path: str, template: str | None) -> bool:
        if self.method is not None and self.method != method.upper():
            return False
        if path.startswith(EXEMPT_PREFIXES) and not self.names(path):
            return False
        return self.matches_path(path) or (template is not None and self.path == template)


def parse_rules(data: Any) -> list[FaultRule]:
    """`{"rules": [...]}` items -> rules, or a FaultRuleError naming the bad rule and field."""
    if not isinstance(data, list):
        raise FaultRuleError("rules: expected a list of rule objects")
    rules = []
    for index, raw in enumerate(data):
        where = f"rules[{index}]"
        if not isinstance(raw, dict):
            raise FaultRuleError(f"{where}: expected an object")
        unknown = set(raw) - {
            "kind",
            "rate",
            "route",
            "count",
            "retry_after",
            "reset_in",
            "delay_ms",
        }
        if unknown:
            raise FaultRuleError(f"{where}: unknown field(s) {sorted(unknown)}")
        kind = str(raw.get("kind"))
        if kind not in KINDS:
            raise FaultRuleError(f"{where}.kind: {raw.get('kind')!r} is not one of {list(KINDS)}")
        rate = raw.get("rate", 1.0)
        if not isinstance(rate, int | float) or not 0 <= rate <= 1:
            raise FaultRuleError(f"{where}.rate: {rate!r} is not a number from 0 to 1")
        method, path = None, None
        route = raw.get("route")
        if route is not None:
            if not isinstance(route, str) or not route.strip():
                raise FaultRuleError(f"{where}.route: expected '<METHOD> <path>' or '<path>'")
            head, _, tail = route.strip().partition(" ")
            method, path = (head.upper(), tail.strip()) if tail else (None, head)
            if not path.startswith("/"):
                raise FaultRuleError(f"{where}.route: the path {path!r} must start with '/'")
        numbers = {}
        for name in ("count", "retry_after", "reset_in", "delay_ms"):
            value = raw.get(name)
            if value is not None and (not isinstance(value, int) or value < 0):
                raise FaultRuleError(f"{where}.{name}: {value!r} is not a non-negative integer")
            if value is not None:
                numbers[name] = value
        rules.append(
            FaultRule(
                kind=cast(FaultKind, kind), rate=float(rate), method=method, path=path, **numbers
            )
        )
    return rules


def mix_rules(rate: float) -> list[FaultRule]:
    """`--fault-rate F`: half 502s and half dropped connections, F of all requests in total."""
    if not 0 <= rate <= 1:
        raise FaultRuleError(f"fault rate {rate!r} is not a number from 0 to 1")
    half = rate / 2
    # the second rule only sees requests the first let through, hence the conditional rate
    second = half / (1 - half) if half < 1 else 1.0
    return [FaultRule(kind="502", rate=half), FaultRule(kind="reset", rate=second)]


@dataclass
class FaultPlan:
    """The active rules, their remaining counts and the seeded generator that decides."""

    rules: list[FaultRule] = field(default_factory=list)
    seed: int = 0
    used: dict[int, int] = field(default_factory=dict)  # rule index -> matching requests seen
    rng: random.Random = field(default_factory=random.Random)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)  # noqa: S311  # fault injection, not cryptography

    def decide(self, method: str, path: str, template: str | None) -> FaultRule | None:
        for index, rule in enumerate(self.rules):
            if not rule.matches(method, path, template):
                continue
            seen = self.used.get(index, 0)
            if rule.count is not None and seen >= rule.count:
                continue
            self.used[index] = seen + 1
            # draw even when rate is 1, so adding a certain rule does not shift later draws
            if self.rng.random() < rule.rate:
                return rule
        return None
