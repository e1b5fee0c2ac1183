"""How the agent handles its branches, read from what GitHub records rather than from words, so
it holds in any language:

- the wrong base branch: the agent's PRs opened against (or updated from) the default branch where
  the repository works on another one (`develop`), so maintainers retarget them by hand: their
  `base_ref_changed` events, and the agent's merges of the default branch into such a PR;
- force-pushes over a review: the agent rewriting its PR's history after people reviewed it
  (`head_ref_force_pushed` events), which reviewers then complain about.
"""

from __future__ import annotations

import re

from app.diagnosis.evidence import Evidence
from app.diagnosis.findings import Finding

_MERGE_FROM = re.compile(r"^Merge (?:remote-tracking )?branch '(?:origin/)?(?P<branch>[^']+)'")
# A branch name plain enough to write into a rule (git also allows backticks, `*`, `<`…).
_PLAIN_BRANCH = re.compile(r"[\w][\w./-]{0,99}")
# What a complaint about a rewritten history says, in a few languages ("force-gepusht", "форс-пуш").
_REWRITE = re.compile(r"(?i)force|forç|forz|форс|перезапис|amend")


def detect_base_branch(ev: Evidence) -> list[Finding]:
    default = ev.default_branch
    retargets: dict[str, list[str]] = {}  # PR URL -> the maintainers' base_ref_changed events
    merges: dict[str, list[str]] = {}  # PR URL -> the agent's merges of the default branch
    bases: dict[str, str] = {}
    for pull in ev.pulls:
        if not pull.by_agent or not pull.base or pull.base == default:
            continue  # GitHub itself moves a stacked PR to the default branch; that is no complaint
        events = [
            i.key
            for i in ev.of_kind("timeline_event")
            if i.thread == pull.url and i.event == "base_ref_changed" and i.trust == "trusted"
        ]
        pulled = [
            c.url
            for c in ev.commits
            if c.pr == pull.number
            and c.is_agent
            and (m := _MERGE_FROM.match(c.message))
            and m["branch"] == default
        ]
        if events or pulled:
            retargets[pull.url], merges[pull.url], bases[pull.url] = events, pulled, pull.base
    if len(bases) < 2:
        return []  # once is a slip; the same correction on two PRs is a missing rule
    targets = set(bases.values())
    base = targets.pop() if len(targets) == 1 else ""  # several branches: name none of them
    if not _PLAIN_BRANCH.fullmatch(base):
        base = ""
    named = re.compile(rf"(?<![\w/.-]){re.escape(base)}(?![\w/-])")
    evidence: list[str] = []
    for url in bases:
        said = [
            i.key
            for i in ev.of_kind("issue_comment", "review", "review_comment")
            if base  # several branches: no name to look for
            and i.thread == url
            and i.trust == "trusted"
            and not i.injection
            and named.search(i.text)
        ]
        evidence.extend([*said[:1], *retargets[url][:1], *merges[url][:1]])
    for url in bases:
        evidence.extend([*retargets[url][1:], *merges[url][1:]])
    return [
        Finding(
            kind="base_branch",
            keys=frozenset({f"branch:{base or '*'}"}),
            tags=frozenset({"base_branch"}),
            evidence=tuple(dict.fromkeys(evidence)),
            standalone=True,
            strength=min(1.0, 0.5 + 0.15 * len(bases)),
            count=len(bases),
            rounds=len(bases),
            details=(
                ("base", base),
                ("retargeted", str(sum(1 for u in bases if retargets[u]))),
                ("merged_default", str(sum(1 for u in bases if merges[u]))),
            ),
        )
    ]


def detect_force_push(ev: Evidence) -> list[Finding]:
    """Force-pushes by the agent after a person reviewed the PR, at least twice, and a maintainer
    objecting to them: without the objection a rebase workflow may be exactly what is wanted."""
    pushes: list[str] = []
    complaints: list[str] = []
    for pull in ev.pulls:
        if not pull.by_agent:
            continue
        said = [
            i
            for i in ev.of_kind("review", "review_comment", "issue_comment")
            if i.thread == pull.url and i.trust == "trusted" and not i.injection and i.created_at
        ]
        if not said:
            continue
        first_review = min(i.created_at or "" for i in said)
        forced = sorted(
            (i.created_at, i.key)
            for i in ev.of_kind("timeline_event")
            if i.thread == pull.url
            and i.event == "head_ref_force_pushed"
            and i.trust == "agent"
            and i.created_at
            and i.created_at > first_review
        )
        if not forced:
            continue
        pushes.extend(key for _, key in forced)
        complaints.extend(
            i.key for i in said if (i.created_at or "") > forced[0][0] and _REWRITE.search(i.text)
        )
    if len(pushes) < 2 or not complaints:
        return []
    return [
        Finding(
            kind="force_push",
            keys=frozenset({"git:force-push"}),
            tags=frozenset({"force_push"}),
            evidence=tuple(
                dict.fromkeys([*complaints[:2], *pushes[:2], *complaints[2:], *pushes[2:]])
            ),
            standalone=True,
            strength=min(1.0, 0.4 + 0.15 * len(pushes) + 0.1 * len(complaints)),
            count=len(pushes),
            rounds=len(pushes),
        )
    ]
