"""Agent loops: the same command failing the same way three or more times in one run."""

from __future__ import annotations

import re
from collections import defaultdict

from app.diagnosis.evidence import AgentRun, Evidence, EvidenceItem
from app.diagnosis.findings import Finding
from app.diagnosis.language import command_key, normalise_error, paths, strip_shell, tags

LOOP_THRESHOLD = 3
_GENERIC_STEPS = frozenset(
    {"build", "test", "tests", "lint", "check", "install", "start", "serve", "compile"}
)
_ERRORISH = re.compile(
    r"(?i)error|fail|×|✖|✘|not found|exception|traceback|panic|denied|rejected|expected"
)
_GAVE_UP = re.compile(
    r"(?i)timed out|time ?out|token budget|budget|exhausted|stopped|gave up|giving up|failed|aborted|"
    r"max(?:imum)? (?:turns|iterations|attempts)|не удалось|остановлен"
)
_REPEATS = re.compile(
    r"(?i)\b(?:\d+|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve)\s*(?:×|x|times)\b|"
    r"same failing|over and over|again and again|in a row|re-?run\w* the same|loop|снова и снова|раз подряд"
)


def _signature(item: EvidenceItem) -> str:
    lines = [ln for ln in item.text.split("\n") if _ERRORISH.search(ln)]
    if lines:
        return " | ".join(normalise_error(ln) for ln in lines[:2])
    return f"exit {item.exit_code}"


def _failed_results(run: AgentRun) -> list[EvidenceItem]:
    return [
        e
        for e in run.events
        if e.command and e.failed and not (e.kind == "session_event" and e.event == "tool_call")
    ]


def loops_in(run: AgentRun) -> list[tuple[str, list[EvidenceItem]]]:
    """(command, occurrences) for each command that failed the same way ≥ 3 times in the run."""
    groups: dict[tuple[str, str], list[EvidenceItem]] = defaultdict(list)
    for e in _failed_results(run):
        cmd = " ".join(strip_shell(e.command or "").split())
        if not cmd or cmd.startswith(("git push", "git commit", "git add")):
            continue  # a rejected push repeats for reasons of its own; it is not a retry loop
        groups[(cmd, _signature(e))].append(e)
    return [(cmd, items) for (cmd, _), items in groups.items() if len(items) >= LOOP_THRESHOLD]


def detect_loops(ev: Evidence) -> list[Finding]:
    """All loops of all runs become one finding: the agent's habit, not one incident."""
    found: list[tuple[AgentRun, str, list[EvidenceItem]]] = []
    for run in ev.runs:
        for cmd, items in loops_in(run):
            found.append((run, cmd, items))
    if not found:
        return []
    evidence: list[str] = []
    keys: set[str] = set()
    commands: list[str] = []
    counts: list[int] = []
    later: list[str] = []
    for _run, cmd, items in found:
        evidence.append(items[0].key)
        later.extend(p.key for p in (items[len(items) // 2], items[-1]))
        keys.add(f"cmd:{command_key(cmd)}")
        keys.update(f"path:{p}" for p in paths(cmd))
        commands.append(cmd)
        counts.append(len(items))
    evidence.extend(_reports(ev, commands))
    evidence.extend(later)
    return [
        Finding(
            kind="loop",
            keys=frozenset(keys),
            tags=tags(" ".join(commands)) | {"loop"},
            evidence=tuple(dict.fromkeys(evidence)),
            standalone=True,
            strength=min(1.0, 0.55 + 0.05 * max(counts) + 0.1 * (len(found) - 1)),
            count=max(counts),
            rounds=len({r.key for r, _, _ in found}),
            commands=tuple(dict.fromkeys(commands)),
            details=tuple((cmd, str(n)) for cmd, n in zip(commands, counts, strict=True)),
        )
    ]


def _reports(ev: Evidence, commands: list[str]) -> list[str]:
    """The agent's own "gave up" reports and maintainers' remarks that name a looping command."""
    keys = {command_key(c) for c in commands}
    full = {c.lower() for c in commands}
    # the tool a looping command runs ("vitest"), when it is specific enough to name the loop
    tools = {
        k.split()[-1]
        for k in keys
        if k and len(k.split()[-1]) >= 5 and k.split()[-1] not in _GENERIC_STEPS
    }
    own: list[str] = []
    human: list[str] = []
    for item in ev.of_kind("issue_comment", "pull_request", "review", "review_comment"):
        if item.injection:
            continue
        low = " ".join(item.text.lower().split())
        names = any(c in low for c in full) or any(k and k in low for k in keys)
        if item.trust == "agent" and names and _GAVE_UP.search(low):
            own.append(item.key)
        elif (
            item.trust == "trusted"
            and (names or any(t in low for t in tools))
            and _REPEATS.search(low)
        ):
            human.append(item.key)
    final = [
        k
        for k in own
        if re.search(r"(?i)timed out|budget|exhausted|stopped|gave up|aborted", ev.index[k].text)
    ]
    return [*(final or own)[-3:], *human[:2]]
