"""Stage ambiguity: two stage labels (`run:dev` + `run:qa`) on one issue at the same time."""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass

from app.diagnosis.evidence import Evidence, EvidenceItem, timestamp
from app.diagnosis.findings import Finding

_ORCHESTRATOR_NOTE = re.compile(
    r"(?i)accepted|starting|started|present|both|two|several|multiple|conflict|rejected|already running|"
    r"одновременно|запуска"
)
_TOGETHER = re.compile(
    r"(?i)same time|at once|together|simultaneous|clash|both|two (?:stage )?labels|one stage|"
    r"одновременно|вместе|две метки|оба"
)
_COLLISION = re.compile(
    r"(?i)rejected|non-fast-forward|fetch first|conflict|does not exist|couldn't find|not found"
)


@dataclass(frozen=True)
class Episode:
    thread: str
    started: str
    ended: str
    labels: tuple[str, ...]
    events: tuple[str, ...]  # the labeled events that made the overlap


def stage_prefix(trigger_label: str) -> str:
    """`run:self-improve` -> `run:`; stage labels share the trigger label's prefix."""
    head, sep, _ = trigger_label.partition(":")
    return f"{head}{sep}" if sep else "run:"


def overlaps(ev: Evidence, prefix: str, exclude: frozenset[str]) -> list[Episode]:
    by_thread: dict[str, list[EvidenceItem]] = defaultdict(list)
    for item in ev.of_kind("timeline_event"):
        stage = item.label and item.label.startswith(prefix) and item.label not in exclude
        if item.event in ("labeled", "unlabeled") and stage and item.thread:
            by_thread[item.thread].append(item)
    episodes: list[Episode] = []
    for thread, events in by_thread.items():
        events.sort(key=lambda e: (timestamp(e.created_at) or "", e.key))
        active: dict[str, EvidenceItem] = {}
        open_episodes: list[tuple[set[str], list[str], str]] = []
        for e in events:
            label = e.label or ""
            if e.event == "labeled":
                if active and label not in active:
                    others = list(active.values())
                    open_episodes.append(
                        (
                            {label, *active},
                            [*(o.key for o in others), e.key],
                            timestamp(e.created_at) or "",
                        )
                    )
                active[label] = e
            else:
                active.pop(label, None)
                still_open = []
                for labels, keys, start in open_episodes:
                    if label in labels:
                        episodes.append(
                            Episode(
                                thread,
                                start,
                                timestamp(e.created_at) or start,
                                tuple(sorted(labels)),
                                tuple(keys),
                            )
                        )
                    else:
                        still_open.append((labels, keys, start))
                open_episodes = still_open
        for labels, keys, start in open_episodes:
            episodes.append(Episode(thread, start, "9999", tuple(sorted(labels)), tuple(keys)))
    return episodes


def detect_stage_labels(ev: Evidence, trigger_label: str, approve_label: str) -> list[Finding]:
    prefix = stage_prefix(trigger_label)
    episodes = overlaps(ev, prefix, frozenset({trigger_label, approve_label}))
    if not episodes:
        return []
    evidence: list[str] = []
    for ep in episodes:
        # the label that arrived while another was active is the telling event
        evidence.append(ep.events[-1])
    for ep in episodes:
        evidence.extend(ep.events[:-1])
    notes: list[str] = []
    complaints: list[str] = []
    collisions: list[str] = []
    all_labels = {lb for ep in episodes for lb in ep.labels}
    for item in ev.of_kind("issue_comment", "review", "review_comment"):
        if item.injection or not item.created_at:
            continue
        ts = timestamp(item.created_at) or ""
        named = [lb for lb in all_labels if lb in item.text]
        if item.trust in ("agent", "bot"):
            if any(
                ep.thread == item.thread
                and ep.started <= ts <= ep.ended
                and set(named) & set(ep.labels)
                for ep in episodes
            ) and _ORCHESTRATOR_NOTE.search(item.text):
                notes.append(item.key)
        elif (
            item.trust == "trusted"
            and (len(named) >= 2 or (named and _TOGETHER.search(item.text)))
            and any(ts >= ep.started for ep in episodes)
        ):
            complaints.append(item.key)
    for item in ev.of_kind("job_log"):
        if item.trust == "agent" and item.failed and _COLLISION.search(item.text):
            ts = timestamp(item.created_at) or ""
            if any(ep.started <= ts <= ep.ended for ep in episodes):
                collisions.append(item.key)
    # The overlapping label events, then what people said about it, then what the orchestrator did.
    evidence[len(episodes) : len(episodes)] = complaints[:2]
    evidence.extend(notes[:4])
    evidence.extend(collisions[:1])
    evidence.extend(complaints[2:3])
    standalone = len(episodes) >= 2 or bool(complaints) or len(notes) >= 2
    return [
        Finding(
            kind="stage_labels",
            keys=frozenset({f"label:{lb}" for lb in all_labels}),
            tags=frozenset({"stage_labels"}),
            evidence=tuple(dict.fromkeys(evidence)),
            standalone=standalone,
            strength=min(1.0, 0.5 + 0.2 * len(episodes) + 0.1 * bool(complaints)),
            count=len(episodes),
            labels=tuple(sorted(all_labels)),
            details=tuple(("episode", " + ".join(ep.labels)) for ep in episodes),
        )
    ]
