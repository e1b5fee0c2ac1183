"""The heuristic engine: run the detectors, merge findings about one problem, and write the diagnosis.

Pure and deterministic: the same snapshot and config give the same diagnosis, byte for byte.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from app.diagnosis.detectors.branches import detect_base_branch, detect_force_push
from app.diagnosis.detectors.ci import detect_ci
from app.diagnosis.detectors.feedback import detect_feedback
from app.diagnosis.detectors.loops import detect_loops
from app.diagnosis.detectors.stages import detect_stage_labels, stage_prefix
from app.diagnosis.detectors.tooling import detect_tooling
from app.diagnosis.evidence import Evidence, EvidenceItem, collect_evidence
from app.diagnosis.findings import Finding
from app.diagnosis.language import (
    TAGS,
    code_spans,
    command_key,
    excerpt,
    looks_like_command,
    tools_in,
)
from app.diagnosis.model import ActionItem, Category, Diagnosis, EvidenceRef, TargetRef, ToolGap
from app.diagnosis.wording import Facts, word
from app.redaction import redact_text
from app.repo_config import CONFIG_PATH, RepoConfig, RepoConfigError, parse_repo_config
from app.snapshot import Snapshot

MAX_ITEMS = 6
MAX_REFS_PER_ITEM = 8
_NOTE_KINDS = frozenset({"flaky", "infra"})
# Finding kinds that may be merged when they share a concrete key; two recurring feedback groups
# are never merged here (the clustering already decided they are different requests).
_MERGEABLE = {
    frozenset({"ci", "feedback"}),
    frozenset({"ci", "loop"}),
    frozenset({"ci", "wrong_command"}),
    frozenset({"feedback", "loop"}),
    frozenset({"feedback", "wrong_command"}),
    frozenset({"loop", "wrong_command"}),
    frozenset({"ci"}),
}
# A red check and reviewers' requests about the same kind of check are one problem even when
# nobody quotes the check's name or command ("lint is red again, run the linter first").
_CHECK_TOPICS = frozenset({"lint", "format", "typecheck", "changelog", "i18n", "commit_format"})
_INSTRUCTION_FILE = re.compile(
    r"(?i)(?:^|/)(?:agents|claude|contributing|copilot-instructions|gemini|conventions)\.md$"
)


@dataclass(frozen=True)
class Problem:
    """Findings merged into one problem: the unit that becomes one action item."""

    findings: tuple[Finding, ...]

    @property
    def kinds(self) -> frozenset[str]:
        return frozenset(f.kind for f in self.findings)

    def of(self, kind: str) -> list[Finding]:
        return [f for f in self.findings if f.kind == kind]

    @property
    def tags(self) -> frozenset[str]:
        return frozenset().union(*(f.tags for f in self.findings))

    @property
    def keys(self) -> frozenset[str]:
        return frozenset().union(*(f.keys for f in self.findings))

    @property
    def standalone(self) -> bool:
        if any(f.standalone for f in self.findings):
            return True
        # corroboration: a reviewer's request plus what CI, a session or the agent's commands show
        return "feedback" in self.kinds and len(self.kinds) >= 2

    @property
    def confidence(self) -> float:
        miss = 1.0
        for f in self.findings:
            miss *= 1.0 - 0.8 * f.strength
        return round(min(0.95, 1.0 - miss), 2)


def resolve_config(snapshot: Snapshot, config: RepoConfig | None) -> RepoConfig:
    """The given config, else the repository's `.github/self-improve.yml` from the snapshot, else defaults."""
    if config is not None:
        return config
    try:
        return parse_repo_config(snapshot.files.get(CONFIG_PATH))
    except RepoConfigError:
        return RepoConfig()  # a broken config file must not stop the diagnosis; defaults are safe


def find_problems(ev: Evidence, config: RepoConfig) -> tuple[list[Problem], list[Finding]]:
    """All findings merged into problems; returns (problems, not-the-agent notes)."""
    findings: list[Finding] = [
        *detect_ci(ev),
        *detect_feedback(ev),
        *detect_tooling(ev),
        *detect_loops(ev),
        *detect_stage_labels(ev, config.trigger_label, config.approve_label),
        *detect_base_branch(ev),
        *detect_force_push(ev),
    ]
    notes = [f for f in findings if f.kind in _NOTE_KINDS]
    work = [f for f in findings if f.kind not in _NOTE_KINDS]
    parent = list(range(len(work)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for a in range(len(work)):
        for b in range(a + 1, len(work)):
            fa, fb = work[a], work[b]
            pair = frozenset({fa.kind, fb.kind})
            same_topic = pair == {"ci", "feedback"} and bool(fa.tags & fb.tags & _CHECK_TOPICS)
            if not (fa.merge_keys() & fb.merge_keys()) and not same_topic:
                continue
            both_recurring_feedback = (
                fa.kind == fb.kind == "feedback" and fa.standalone and fb.standalone
            )
            if pair in _MERGEABLE or (
                fa.kind == fb.kind == "feedback" and not both_recurring_feedback
            ):
                parent[root(b)] = root(a)
    groups: dict[int, list[Finding]] = {}
    for i, f in enumerate(work):
        groups.setdefault(root(i), []).append(f)
    problems = [Problem(tuple(g)) for g in groups.values()]
    return [p for p in problems if p.standalone], notes


# ---------------------------------------------------------------- classification


def topic_of(problem: Problem) -> str:
    kinds, tags = problem.kinds, _topic_tags(problem)
    # What a detector saw directly names the problem, before the topic words of the comments.
    for kind in ("tool_gap", "stage_labels", "base_branch", "force_push", "loop", "wrong_command"):
        if kind in kinds:
            return kind
    for tag in (
        "generated",
        "upgrades",
        "regression_test",
        "scope",
        "docs",
        "i18n",
        "changelog",
        "commit_format",
    ):
        if tag in tags:
            return tag
    if "ci" in kinds:
        return "check"
    return "feedback"


def _topic_tags(problem: Problem) -> frozenset[str]:
    """Tags of the reviewers' requests weigh more than tags of a check's name."""
    feedback = [f for f in problem.findings if f.kind == "feedback"]
    return frozenset().union(*(f.tags for f in feedback)) if feedback else problem.tags


@dataclass(frozen=True)
class Convention:
    path: str
    line: int
    text: str
    stated: bool  # the line names the problem's command, tool or check (not just its topic)


def convention_for(problem: Problem, topic: str, ev: Evidence) -> Convention | None:
    """The line of an instruction file or prompt seed that governs this problem, if there is one."""
    keys = problem.keys
    cmd_keys = {k[4:] for k in keys if k.startswith("cmd:")}
    tools = {k[5:] for k in keys if k.startswith("tool:")}
    checks = {k[6:] for k in keys if k.startswith("check:")}
    topic_tags = set(_topic_tags(problem)) & set(TAGS)
    base = _branch_details(problem).get("base")
    if topic == "scope":
        topic_tags.add(
            "ci_green"
        )  # "make CI green, fix every failing check" is what invites the detour
    best: tuple[int, int, str, int] | None = None
    for path, text in ev.files.items():
        if not (_INSTRUCTION_FILE.search(path) or path.startswith(("prompt_seeds/", "prompts/"))):
            continue
        for n, line in enumerate(text.split("\n"), start=1):
            low = line.lower()
            if not low.strip():
                continue
            specific = 0
            for span in code_spans(line):
                if looks_like_command(span) and command_key(span) in cmd_keys:
                    specific += 3
                elif span.lower() in checks:
                    specific += 1
                elif base and span == base:
                    specific += 2  # "`develop` is the integration branch"
            specific += 2 * len(tools & tools_in(low))
            general = sum(1 for t in topic_tags if TAGS[t].search(low))
            score = specific + general
            on_topic = topic in TAGS and TAGS[topic].search(low) is not None
            relevant = score >= 2 or on_topic or (topic == "scope" and TAGS["ci_green"].search(low))
            if relevant and (best is None or (score, specific) > (best[0], best[1])):
                best = (score, specific, path, n)
    if best is None:
        return None
    _, specific, path, n = best
    return Convention(path, n, ev.files[path].split("\n")[n - 1].strip(), stated=specific >= 2)


def category_for(
    topic: str, convention: Convention | None, config: RepoConfig, ev: Evidence
) -> Category:
    seed = config.prompt_seed_path(locale=config.locale)
    seed_exists = seed in ev.files
    if topic == "tool_gap":
        return "tooling"
    if topic == "docs":
        return "docs"
    if topic == "loop":
        return "prompts" if seed_exists else "instructions"
    if convention and seed_exists:
        offending_seed = convention.path == seed and topic == "scope"
        # Written in the instructions and still ignored: the stage's checklist (the seed) needs the step.
        if offending_seed or (convention.stated and _INSTRUCTION_FILE.search(convention.path)):
            return "prompts"
    return "instructions"


def target_for(category: Category, config: RepoConfig) -> str:
    match category:
        case "instructions":
            return config.paths.instructions
        case "prompts":
            return config.prompt_seed_path(locale=config.locale)
        case "docs":
            return config.paths.docs
        case "tooling":
            return config.paths.agent_dockerfile or config.paths.instructions


# ---------------------------------------------------------------- facts and evidence


def facts_for(
    problem: Problem, topic: str, ev: Evidence, config: RepoConfig, notes: Sequence[Finding]
) -> Facts:
    ci = problem.of("ci")
    feedback = problem.of("feedback")
    wrong = problem.of("wrong_command")
    loops = problem.of("loop")
    gaps = problem.of("tool_gap")
    stages = problem.of("stage_labels")
    branches = _branch_details(problem)
    forced = problem.of("force_push")
    commands: list[str] = []
    for f in (*wrong, *feedback, *ci, *loops):
        commands.extend(c for c in f.commands if c)
    command = _best_command(commands, topic, problem)
    flaky = ""
    if topic == "scope":
        scope_keys = problem.keys
        for n in notes:
            if n.kind == "flaky" and (
                n.keys & scope_keys
                or any(f"file:{p.rsplit('/', 1)[-1]}" in scope_keys for p in n.paths)
            ):
                flaky = n.note
        if not flaky:
            flaky = next((n.note for n in notes if n.kind == "flaky"), "")
    return Facts(
        topic=topic,
        command=command,
        wrong_command=wrong[0].wrong_commands[0] if wrong and wrong[0].wrong_commands else "",
        check=ci[0].checks[0] if ci and ci[0].checks else "",
        ci_failures=max((f.count for f in ci), default=0),
        feedback_rounds=max((f.rounds for f in feedback), default=0),
        feedback_comments=sum(f.count for f in feedback),
        loops=tuple((cmd, int(n)) for f in loops for cmd, n in f.details),
        tool=gaps[0].tools[0] if gaps and gaps[0].tools else "",
        host=gaps[0].hosts[0] if gaps and gaps[0].hosts else "",
        tools=tuple(t for t in (gaps[0].tools[1:] if gaps else ()) if t),
        tool_hits=sum(f.count for f in gaps),
        labels=stages[0].labels if stages else (),
        episodes=sum(f.count for f in stages),
        episode_labels=tuple(v for f in stages for k, v in f.details if k == "episode"),
        paths=_topic_paths(problem, topic, ev),
        quote=_quote(feedback),
        wrong_runs=max((f.rounds for f in wrong), default=0),
        default_branch=ev.default_branch,
        base_branch=branches.get("base", ""),
        retargeted=int(branches.get("retargeted", 0)),
        merged_default=int(branches.get("merged_default", 0)),
        force_pushes=sum(f.count for f in forced),
        stage_prefix=stage_prefix(config.trigger_label),
        flaky_note=flaky,
    )


def _branch_details(problem: Problem) -> dict[str, str]:
    return dict(d for f in problem.of("base_branch") for d in f.details)


def _best_command(commands: list[str], topic: str, problem: Problem) -> str:
    if not commands:
        return ""
    if topic == "generated":
        gen = [c for c in commands if re.search(r"(?i)codegen|generat|gen\b", c)]
        if gen:
            return gen[0]
    checks = {k[6:] for k in problem.keys if k.startswith("check:")}
    for c in commands:
        if any(ch in c for ch in checks):
            return c
    return commands[0]


def _topic_paths(problem: Problem, topic: str, ev: Evidence) -> tuple[str, ...]:
    found = [k[5:] for k in sorted(problem.keys) if k.startswith("path:")]
    if topic == "generated":
        # the files reviewers commented on count too (a review comment sits on the generated file)
        commented = [
            i.path
            for f in problem.of("feedback")
            for k in f.evidence
            if (i := ev.get(k)) is not None and i.kind == "review_comment" and i.path
        ]
        found = [
            p for p in dict.fromkeys([*commented, *found]) if "generated" in p or "gen/" in p
        ] or found
    if topic == "docs":
        found = [p for p in found if p.startswith("docs") or p.endswith(".md")] or found
    return tuple(found[:4])


def _quote(feedback: list[Finding]) -> str:
    for f in feedback:
        if f.quote:
            return f.quote
    return ""


_KIND_ORDER = {
    "feedback": 0,
    "wrong_command": 1,
    "loop": 1,
    "stage_labels": 1,
    "base_branch": 1,
    "force_push": 1,
    "tool_gap": 1,
    "ci": 2,
}


def evidence_for(
    problem: Problem, ev: Evidence, convention: Convention | None, notes: Sequence[Finding] = ()
) -> list[str]:
    """The item's references: a few of each finding's best, supporters only, no duplicates."""
    lists = sorted(problem.findings, key=lambda f: _KIND_ORDER.get(f.kind, 3))
    ordered: list[str] = []
    depth = 0
    while len(ordered) < MAX_REFS_PER_ITEM - 1 and any(depth < len(f.evidence) for f in lists):
        for f in lists:
            if depth < len(f.evidence):
                key = f.evidence[depth]
                item = ev.get(key)
                if item is not None and _may_cite(item) and key not in ordered:
                    ordered.append(key)
        depth += 1
    extra = related_work(problem, ev, notes) if topic_of(problem) == "scope" else []
    for key in extra[:3]:
        if key not in ordered:
            ordered.insert(min(len(ordered), 4), key)
    ordered = ordered[: MAX_REFS_PER_ITEM - 1]
    if convention is not None:
        url = ev.file_url(convention.path, convention.line)
        if ev.get(url) is not None and url not in ordered:
            ordered.append(url)
    return ordered[:MAX_REFS_PER_ITEM]


def related_work(problem: Problem, ev: Evidence, notes: Sequence[Finding]) -> list[str]:
    """For a scope problem: the agent's commits and edits that touched what reviewers asked to revert."""
    paths = {k.split(":", 1)[1] for k in problem.keys if k.startswith(("path:", "file:"))}
    names = {p.rsplit("/", 1)[-1] for p in paths}
    stems = {n.rsplit(".", 1)[0] for n in names if len(n.rsplit(".", 1)[0]) >= 6}
    for n in notes:
        if n.kind == "flaky" and any(p.rsplit("/", 1)[-1] in names for p in n.paths):
            stems.update(k[5:] for k in n.keys if k.startswith("test:"))
    if not stems:
        return []
    pattern = re.compile(
        "|".join(re.escape(s) for s in sorted(stems, key=len, reverse=True)), re.IGNORECASE
    )
    commits = [
        c.url
        for c in ev.commits
        if pattern.search(c.message) and (c.is_agent or c.message.startswith("Revert"))
    ]
    edits = [
        i.key
        for i in ev.items
        if i.kind in ("job_log", "session_event")
        and i.trust == "agent"
        and pattern.search(i.text)
        and re.search(r"(?i)edit|str_replace|apply_patch|update file|write|skip", i.text)
    ]
    return [*commits[:2], *edits[:1], *commits[2:]]


def _may_cite(item: EvidenceItem) -> bool:
    return not item.injection and item.trust != "untrusted"


# ---------------------------------------------------------------- the diagnosis


def diagnose(
    snapshot: Snapshot,
    config: RepoConfig | None = None,
    *,
    locale: str | None = None,
    role: str = "km",
) -> Diagnosis:
    """Diagnose the recurring problems of the agent's work in `snapshot` (pure, deterministic)."""
    cfg = resolve_config(snapshot, config)
    loc = locale or cfg.locale
    ev = collect_evidence(snapshot)
    problems, notes = find_problems(ev, cfg)
    drafts = []
    for problem in problems:
        topic = topic_of(problem)
        convention = convention_for(problem, topic, ev)
        category = category_for(topic, convention, cfg, ev)
        target = target_for(category, cfg)
        if not cfg.allows(target):
            category, target = "instructions", cfg.paths.instructions
            if not cfg.allows(target):
                continue
        facts = facts_for(problem, topic, ev, cfg, notes)
        if convention and convention.stated:
            facts = _with_convention(facts, convention)
        refs = evidence_for(problem, ev, convention, notes)
        if not refs or not any(ev.index[r].supports for r in refs):
            continue
        dockerfile = category == "tooling" and target == cfg.paths.agent_dockerfile
        wording = word(facts, target, loc, dockerfile=dockerfile)
        drafts.append((problem, category, target, wording, refs, facts))
    drafts.sort(key=lambda d: (-d[0].confidence, d[3].title))
    drafts = drafts[:MAX_ITEMS]
    return assemble(
        snapshot,
        ev,
        [
            DraftItem(
                category=category,
                title=w.title,
                problem=w.problem,
                proposal=w.proposal,
                target_path=target,
                refs=refs,
                confidence=problem.confidence,
                rule=w.rule,
                tool=(facts.host or facts.tool) if category == "tooling" else None,
            )
            for problem, category, target, w, refs, facts in drafts
        ],
        _tool_gaps(problems, ev),
        [*_notes(notes, ev, loc), *_gathering_notes(snapshot, loc)],
        locale=loc,
        role=role,
        engine="heuristic",
    )


def _with_convention(facts: Facts, convention: Convention) -> Facts:
    from dataclasses import replace

    return replace(facts, convention=f"`{convention.path}` (line {convention.line})")


@dataclass(frozen=True)
class DraftItem:
    """An action item before evidence ids are assigned; refs are evidence keys (URLs)."""

    category: Category
    title: str
    problem: str
    proposal: str
    target_path: str
    refs: list[str]
    confidence: float
    rule: str
    tool: str | None = None


@dataclass(frozen=True)
class DraftGap:
    tool: str
    reason: str
    refs: list[str]


def _tool_gaps(problems: Iterable[Problem], ev: Evidence) -> list[DraftGap]:
    gaps: list[DraftGap] = []
    for p in problems:
        for f in p.of("tool_gap"):
            refs = [
                k
                for k in f.evidence
                if (i := ev.get(k)) is not None and i.kind != "file" and _may_cite(i)
            ][:3]
            if not refs:
                continue
            for host in f.hosts:
                gaps.append(
                    DraftGap(host, f"`{host}` is unreachable from the agent's environment", refs)
                )
            for tool in f.tools:
                if tool in f.hosts:
                    continue
                reason = (
                    f"`{tool}` is not available because dependencies could not be installed"
                    if f.hosts
                    else f"`{tool}` is missing in the agent's environment"
                )
                gaps.append(DraftGap(tool, reason, refs))
    return gaps


def _notes(notes: Sequence[Finding], ev: Evidence, locale: str) -> list[str]:
    out = [n.note for n in notes if n.note]
    outsiders = [
        k for k in ev.injections if (i := ev.get(k)) is not None and i.trust == "untrusted"
    ]
    if ev.injections:
        count = len(ev.injections)
        if locale == "ru":
            out.append(
                f"Комментарии с попытками дать инструкции агенту или приложению ({count}, из них от посторонних: "
                f"{len(outsiders)}) рассмотрены как данные и проигнорированы."
            )
        else:
            out.append(
                f"{count} comment(s) tried to give the agent or this app instructions ({len(outsiders)} from people "
                "without write access); they were treated as data and ignored."
            )
    return out


def _gathering_notes(snapshot: Snapshot, locale: str) -> list[str]:
    """What gathering could not get: the diagnosis may miss problems hidden there."""
    out: list[str] = []
    for gap in snapshot.gaps[:3]:
        perm = f"; needs `{gap.missing_permission}`" if gap.missing_permission else ""
        if locale == "ru":
            out.append(f"Не удалось получить: {gap.what} ({redact_text(gap.reason)}{perm}).")
        else:
            out.append(f"Not gathered: {gap.what} ({redact_text(gap.reason)}{perm}).")
    if snapshot.truncated:
        what = ", ".join(snapshot.truncated[:3])
        out.append(
            f"Обрезано лимитами GitHub: {what}."
            if locale == "ru"
            else f"Cut short by GitHub limits: {what}."
        )
    return out


def assemble(
    snapshot: Snapshot,
    ev: Evidence,
    drafts: Sequence[DraftItem],
    gaps: Sequence[DraftGap],
    notes: Sequence[str],
    *,
    locale: str,
    role: str,
    engine: str,
    fallback_reason: str | None = None,
) -> Diagnosis:
    """Number the cited evidence (E1… in order of first use) and build the validated diagnosis."""
    ids: dict[str, str] = {}

    def ref(key: str) -> str:
        if key not in ids:
            ids[key] = f"E{len(ids) + 1}"
        return ids[key]

    items: list[ActionItem] = []
    for n, d in enumerate(drafts, start=1):
        refs = [ref(k) for k in d.refs if ev.get(k) is not None]
        if not refs:
            continue
        items.append(
            ActionItem(
                id=f"A{len(items) + 1}",
                category=d.category,
                title=d.title,
                problem=d.problem,
                proposal=d.proposal,
                target_path=d.target_path,
                evidence_refs=refs,
                confidence=d.confidence,
                rule=d.rule,
                tool=d.tool,
            )
        )
        del n
    tool_gaps = [
        ToolGap(tool=g.tool, reason=g.reason, evidence_refs=[ref(k) for k in g.refs])
        for g in gaps
        if g.refs
    ]
    evidence_refs = [_evidence_ref(ev.index[key], eid) for key, eid in ids.items()]
    target = TargetRef(
        repository=snapshot.full_name,
        kind=snapshot.target.kind,
        number=snapshot.target.number,
        url=snapshot.target_url(),
    )
    return Diagnosis(
        target=target,
        role=role,
        engine=engine,
        diagnosis=summary_text(items, notes, locale),
        action_items=items,
        evidence_refs=evidence_refs,
        tool_gaps=tool_gaps,
        notes=list(notes),
        fallback_reason=fallback_reason,
    )


def _evidence_ref(item: EvidenceItem, eid: str) -> EvidenceRef:
    return EvidenceRef(
        id=eid,
        kind=item.kind,
        url=item.url,
        author=item.author,
        created_at=item.created_at,
        excerpt=excerpt(item.text, 300),
    )


def summary_text(items: Sequence[ActionItem], notes: Sequence[str], locale: str) -> str:
    ru = locale == "ru"
    lines: list[str] = []
    if items:
        lines.append(
            "Повторяющиеся проблемы в прошлых запусках агента:"
            if ru
            else "Recurring problems in the agent's earlier runs:"
        )
        lines.append("")
        for item in items:
            lines.append(f"{item.id[1:]}. **{item.title}** — {item.problem}")
    else:
        lines.append(
            "Повторяющихся проблем не найдено."
            if ru
            else "No recurring problems found in the agent's earlier runs."
        )
    if notes:
        lines.append("")
        lines.append(
            "Примечания (не по вине агента, проигнорировано, не собрано):"
            if ru
            else "Notes (not the agent's fault, ignored, or not gathered):"
        )
        lines.append("")
        lines.extend(f"- {n}" for n in notes)
    return "\n".join(lines)
