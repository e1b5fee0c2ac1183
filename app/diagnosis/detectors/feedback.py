"""Recurring review feedback: maintainers asking for the same thing in more than one round.

Comments are cut into request-sized segments. Segments are grouped when they name the same
concrete thing (a command, a file, a tool, a CI check, an issue) or share a topic and enough
words; a group spanning two or more of the agent's rounds is recurring. A segment may sit in
several groups; groups merge only when they mostly hold the same segments, so one comment that
mentions two problems does not glue them together.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from app.diagnosis.evidence import Evidence, EvidenceItem
from app.diagnosis.findings import Finding
from app.diagnosis.language import (
    command_key,
    commands,
    content_stems,
    excerpt,
    has_repeat,
    has_request,
    is_acknowledgement,
    issue_refs,
    jaccard,
    paths,
    segments,
    tag_terms,
    tags,
    tools_in,
)

_INSTRUCTION_FILES = re.compile(
    r"(?i)(?:^|/)(?:agents|claude|contributing|copilot-instructions|gemini|conventions)\.md$"
)
# Words that tie an issue comment to the agent's work (not to the feature's design discussion).
_ABOUT_THE_WORK = re.compile(
    r"(?i)\bagent|\bbot\b|copilot|claude|codex|devin|\bpr\b|pull request|\bci\b|\bcheck|commit|push|"
    r"\brun\b|session|\blog\b|again|агент|бот|коммит|пуш|запуск|снова|опять|`"
)
# File names too common to say which file is meant.
_COMMON_FILES = frozenset(
    [
        "index.ts",
        "index.js",
        "index.tsx",
        "main.go",
        "main.py",
        "main.rs",
        "lib.rs",
        "mod.rs",
        "__init__.py",
        "package.json",
        "readme.md",
        "go.mod",
        "go.sum",
        "cargo.toml",
        "pyproject.toml",
        "setup.py",
        "makefile",
        "dockerfile",
        "config.yml",
        "settings.py",
    ]
)
# Tags specific enough to group paraphrased requests on.
_GROUPING_TAGS = frozenset(
    {
        "docs",
        "changelog",
        "i18n",
        "scope",
        "generated",
        "lint",
        "format",
        "typecheck",
        "commit_format",
    }
)
# Topics narrow enough that two requests naming one are the same request, however they are worded
# ("no version upgrades in feature work" / "leave the catalog alone, Renovate does upgrades").
_CONCEPT_TAGS = frozenset({"upgrades", "regression_test"})
# A short request that only points back at the sentence before it.
_POINTS_BACK = re.compile(
    r"(?i)^(?:(?:can|could|would) you|please)\b[^.?!]{0,30}\b(?:that|this|it|one)\b[^.?!]{0,30}[.?!]?$"
)
_TAG_SIMILARITY = 0.2
_PAIR_CAP = 40
_TEXT_SIMILARITY = 0.5


@dataclass(frozen=True)
class Segment:
    item: EvidenceItem
    text: str
    keys: frozenset[str]
    tags: frozenset[str]
    stems: frozenset[str]
    request: bool
    repeat: bool
    commands: tuple[str, ...]
    terms: frozenset[str] = frozenset()  # "docs:readme": which word made a topic tag


def _names_check(name: str, low: str) -> bool:
    """`lint` in backticks or next to job/check/CI names the CI check; the bare word does not."""
    n = re.escape(name)
    return bool(
        re.search(
            rf"`{n}`|(?:\bci|job|check|workflow)\s+`?{n}\b"
            rf"|\b{n}`?\s+(?:job|check|run|is red|was red|is failing|failed|fails|broke|is broken)\b",
            low,
        )
    )


def segment_keys(text: str, ev: Evidence, check_names: frozenset[str]) -> frozenset[str]:
    keys: set[str] = set()
    for cmd in commands(text):
        k = command_key(cmd)
        if k:
            keys.add(f"cmd:{k}")
    for p in paths(text):
        if _INSTRUCTION_FILES.search(p) or p.startswith(("prompt_seeds/", ".github/workflows")):
            continue  # every reviewer cites AGENTS.md; naming it says nothing about the topic
        if "." in p.rsplit("/", 1)[-1] or p.endswith("/") or p.count("/") >= 2:
            keys.add(f"path:{p}")
            base = p.rstrip("/").rsplit("/", 1)[-1]
            if (
                base
                and base.lower() not in _COMMON_FILES
                and (len(base) >= 10 or "_" in base or "-" in base)
            ):
                keys.add(f"file:{base}")
    keys.update(f"tool:{t}" for t in tools_in(text))
    if check_names:
        low = text.lower()
        keys.update(
            f"check:{name}" for name in check_names if name in low and _names_check(name, low)
        )
    keys.update(f"ref:#{n}" for n in issue_refs(text) if n not in ev.own_numbers)
    return frozenset(keys)


def feedback_segments(ev: Evidence) -> list[Segment]:
    """Requests from trusted people about the agent's work (after it started)."""
    checks = frozenset(j.check for j in ev.ci_jobs if j.check and len(j.check) <= 40)
    out: list[Segment] = []
    for item in ev.of_kind("review", "review_comment", "issue_comment"):
        if item.trust != "trusted" or item.injection or item.round < 1 or not item.text.strip():
            continue
        on_issue = item.kind == "issue_comment" and "/issues/" in (item.thread or "")
        if on_issue and not _ABOUT_THE_WORK.search(item.text) and not has_repeat(item.text):
            continue  # design discussion on the issue, not feedback on the agent's work
        pieces = segments(item.text)
        for n, seg in enumerate(pieces):
            if is_acknowledgement(seg):
                continue
            stems = content_stems(seg)
            request, repeat = has_request(seg), has_repeat(seg)
            # "… would have caught it. Can you add that?": the request points back at this one.
            request = request or (n + 1 < len(pieces) and bool(_POINTS_BACK.search(pieces[n + 1])))
            keys = segment_keys(seg, ev, checks)
            if len(stems) + len(keys) < 2 or not (request or repeat):
                continue
            out.append(
                Segment(
                    item=item,
                    text=seg,
                    keys=keys,
                    tags=tags(seg),
                    stems=stems,
                    request=request,
                    repeat=repeat,
                    commands=tuple(commands(seg)),
                    terms=tag_terms(seg, _GROUPING_TAGS),
                )
            )
    return out


def _groups(segs: list[Segment]) -> list[set[int]]:
    groups: list[set[int]] = []
    by_key: dict[str, set[int]] = {}
    for i, s in enumerate(segs):
        for k in s.keys:
            by_key.setdefault(k, set()).add(i)
    for tag in _CONCEPT_TAGS:
        by_key[f"concept:{tag}"] = {i for i, s in enumerate(segs) if tag in s.tags}
    groups.extend(g for g in by_key.values() if len({segs[i].item.key for i in g}) >= 2)
    tag_members: dict[str, set[int]] = {}
    similar = _UnionFind(len(segs))
    for i, j in _candidate_pairs(segs):
        a, b = segs[i], segs[j]
        if a.item.key == b.item.key:
            continue
        sim = jaccard(a.stems, b.stems)
        for tag in a.tags & b.tags & _GROUPING_TAGS:
            if sim >= _TAG_SIMILARITY:
                tag_members.setdefault(tag, set()).update((i, j))
        if sim >= _TEXT_SIMILARITY and len(a.stems & b.stems) >= 3:
            similar.union(i, j)
    # Two requests on one file under review about the same kind of thing (a generated file, say)
    # are one topic even when worded apart; so are two that name a topic with the same word
    # ("README", "lint") when one of them says it happened again.
    by_path: dict[str, list[int]] = {}
    for i, s in enumerate(segs):
        if s.item.path:
            by_path.setdefault(s.item.path, []).append(i)
    cap = _PAIR_CAP  # a word or file in more requests than this is too common to tie two of them
    pairs = [
        (i, j)
        for members in by_path.values()
        if len(members) <= cap
        for x, i in enumerate(members)
        for j in members[x + 1 :]
    ]
    by_term: dict[str, list[int]] = {}
    for i, s in enumerate(segs):
        for term in s.terms:
            by_term.setdefault(term, []).append(i)
    for members in by_term.values():
        if len(members) > cap:
            continue
        for x, i in enumerate(members):
            for j in members[x + 1 :]:
                if segs[i].repeat or segs[j].repeat:
                    pairs.append((i, j))
    for i, j in pairs:
        a, b = segs[i], segs[j]
        if a.item.key != b.item.key:
            for tag in a.tags & b.tags & _GROUPING_TAGS:
                same_file = bool(a.item.path) and a.item.path == b.item.path
                if same_file or f"{tag}:" in " ".join(a.terms & b.terms):
                    tag_members.setdefault(tag, set()).update((i, j))
    groups.extend(tag_members.values())
    groups.extend(g for g in similar.groups() if len(g) >= 2)
    return _merge_overlapping(groups)


def _candidate_pairs(segs: list[Segment]) -> list[tuple[int, int]]:
    """Pairs sharing a word few segments use: comparing every pair is quadratic in long threads,
    and a word most segments use says nothing about the topic anyway."""
    df: dict[str, int] = {}
    for s in segs:
        for st in s.stems:
            df[st] = df.get(st, 0) + 1
    limit = max(15, min(40, len(segs) // 25))
    index: dict[str, list[int]] = {}
    for i, s in enumerate(segs):
        for st in s.stems:
            if df[st] <= limit:
                index.setdefault(st, []).append(i)
    pairs: set[tuple[int, int]] = set()
    for members in index.values():
        for x in range(len(members)):
            for y in range(x + 1, len(members)):
                pairs.add((members[x], members[y]))
    return sorted(pairs)


class _UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, a: int, b: int) -> None:
        self.parent[self.find(b)] = self.find(a)

    def groups(self) -> list[set[int]]:
        out: dict[int, set[int]] = {}
        for i in range(len(self.parent)):
            out.setdefault(self.find(i), set()).add(i)
        return list(out.values())


def _merge_overlapping(groups: list[set[int]]) -> list[set[int]]:
    """Merge groups that mostly hold the same segments (overlap more than half of the smaller one)."""
    current = [set(g) for g in groups]
    while True:
        owners: dict[int, list[int]] = {}
        for gi, g in enumerate(current):
            for seg in g:
                owners.setdefault(seg, []).append(gi)
        shared: dict[tuple[int, int], int] = {}
        for gis in owners.values():
            for x in range(len(gis)):
                for y in range(x + 1, len(gis)):
                    pair = (gis[x], gis[y])
                    shared[pair] = shared.get(pair, 0) + 1
        uf = _UnionFind(len(current))
        merged_any = False
        for (a, b), n in sorted(shared.items()):
            if n * 2 > min(len(current[a]), len(current[b])):
                uf.union(a, b)
                merged_any = True
        if not merged_any:
            break
        current = [set().union(*(current[gi] for gi in members)) for members in uf.groups()]
    unique: list[set[int]] = []
    for g in current:
        if g not in unique:
            unique.append(g)
    return unique


def detect_feedback(ev: Evidence) -> list[Finding]:
    """One finding per group of related requests; recurring groups (≥ 2 rounds) stand alone."""
    segs = feedback_segments(ev)
    findings: list[Finding] = []
    groups = _groups(segs)
    covered = set().union(*groups) if groups else set()
    # A lone request that names a command or a check can still corroborate a CI failure.
    groups += [{i} for i, seg in enumerate(segs) if i not in covered and seg.keys and seg.request]
    for group in groups:
        members = sorted(
            (segs[i] for i in group), key=lambda s: (s.item.created_at or "", s.item.key)
        )
        if not any(s.request for s in members):
            continue
        rounds = {s.item.round for s in members}
        items = list(dict.fromkeys(s.item.key for s in members))
        keys = _shared_keys(members)
        group_tags = _shared_tags(members)
        recurring = len(rounds) >= 2 and len(items) >= 2
        quote_seg = _representative(members)
        cmds = tuple(dict.fromkeys(c for s in members for c in s.commands))
        findings.append(
            Finding(
                kind="feedback",
                keys=keys,
                tags=group_tags,
                evidence=tuple(items),
                standalone=recurring,
                strength=min(1.0, 0.35 + 0.2 * len(rounds) + 0.1 * any(s.repeat for s in members)),
                count=len(items),
                rounds=len(rounds),
                commands=cmds,
                paths=tuple(sorted({k[5:] for k in keys if k.startswith("path:")})),
                quote=excerpt(quote_seg.text, 200),
                details=(("repeat", "yes" if any(s.repeat for s in members) else "no"),),
            )
        )
    return findings


def _shared_keys(members: list[Segment]) -> frozenset[str]:
    """Keys at least two segments name: a passing mention in one summary comment must not tie
    this group to another problem."""
    counts: dict[str, int] = {}
    for s in members:
        for k in s.keys:
            counts[k] = counts.get(k, 0) + 1
    need = 2 if len(members) >= 2 else 1
    return frozenset(k for k, n in counts.items() if n >= need)


def _shared_tags(members: list[Segment]) -> frozenset[str]:
    """Tags that at least two segments (or the only one) carry: the topic, not a passing word."""
    counts: dict[str, int] = {}
    for s in members:
        for t in s.tags:
            counts[t] = counts.get(t, 0) + 1
    need = 2 if len(members) >= 2 else 1
    return frozenset(t for t, n in counts.items() if n >= need)


def _representative(members: list[Segment]) -> Segment:
    """The request that names the most of what the group shares, shortest first among equals."""

    freq: dict[str, int] = {}
    for m in members:
        for k in (*m.keys, *m.stems):
            freq[k] = freq.get(k, 0) + 1

    def score(s: Segment) -> tuple[int, int, int, str]:
        shared = sum(freq[k] - 1 for k in (*s.keys, *s.stems))
        return (int(s.request), shared + len(s.keys), -len(s.text), s.item.key)

    return max(members, key=score)
