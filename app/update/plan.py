"""From approved action items to an update plan: new file texts, refusals, the diff, the PR's title and body."""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from app.repo_config import RepoConfig
from app.update.dockerfile import DockerfileError, add_tool
from app.update.managed_block import (
    ManagedBlockError,
    Rule,
    clean_rule_text,
    merge_rules,
    safe_urls,
)

DIAGNOSIS_FORMAT = "self-improve-diagnosis/1"
BODY_LIMIT = 65_000  # GitHub refuses a body over 65,536 characters
CELL_LIMIT = 300
RUNS_LIMIT = 20
MARKDOWN_SUFFIXES = (".md", ".markdown", ".mdx")
WORKFLOWS_DIR = ".github/workflows/"
TRAILER = "Self-improve-run"

Category = Literal["docs", "prompts", "instructions", "tooling"]
Outcome = Literal["added", "present", "refused", "follow-up"]
SourceKind = Literal["issue", "pr"]

CATEGORY_NOUNS: dict[str, str] = {
    "instructions": "agent instructions",
    "prompts": "prompt seeds",
    "docs": "docs",
    "tooling": "agent image",
}
RUN_KINDS = frozenset({"workflow_run", "job_log", "check_run", "annotation", "session_event"})

# A rule is text an agent will obey; one that tells it to drop its other instructions is an injection
# carried over from the evidence, whatever the engine that worded it.
_INJECTION = re.compile(
    r"\b(?:ignore|disregard|forget)\b[^.]{0,40}?\b(?:previous|prior|above|earlier|preceding|all|other"
    r"|your)\b[^.]{0,20}?\b(?:instructions?|rules?|prompts?|guidelines?|polic(?:y|ies))\b"
    r"|\b(?:ignore|disregard|forget)\b[^.]{0,20}?\b(?:instructions?|rules?|prompts?|guidelines?)"
    r"\s+(?:above|before|so\s+far)\b"
    r"|(?:игнорируй|проигнорируй|забудь|не\s+соблюдай)\w*[^.]{0,40}?(?:инструкци|правил|указани)",
    re.IGNORECASE,
)
# "Never ignore the rules above" is a rule, not an injection: a negation just before lets it pass.
_NEGATED = re.compile(r"(?:\bnever|\bnot|n't|\bникогда|\bне)\s*$", re.IGNORECASE)
_PROPOSAL_LEAD = re.compile(
    r"^(?:add|append|write|put|insert|document|note)\b[^:\n]{0,80}:\s*", re.IGNORECASE
)
_RUN_URL = re.compile(r"(https://[^\s/]+/[^\s/]+/[^\s/]+/actions/runs/\d+)")
# A tool gap can name a registry host ("npm.example.dev") rather than a package: never an install.
_HOST = re.compile(r"(?:[a-z0-9-]+\.){2,}[a-z]{2,}|[a-z0-9-]+\.(?:com|org|net|dev)")
# https://docs.github.com/en/issues/tracking-your-work-with-issues/using-issues/linking-a-pull-request-to-an-issue
_CLOSING = re.compile(
    r"\b(clos|fix|resolv)(es|ed|e)?(?=:?\s+(?:[\w.-]+/[\w.-]+)?#\d)", re.IGNORECASE
)
_TRAILER_VALUE = re.compile(r"[^A-Za-z0-9._:-]")
_ROW_ITEM = re.compile(r"\| [^|\s]+ \((\w+)\) \|")
TABLE_HEADER = "| Item | Source | Problem | Change |"
RUNS_HEADING = "### Runs analysed"


class PlanError(ValueError):
    """The diagnosis or the inputs cannot make a plan; the message names the field and what is wrong."""


# --- the diagnosis, read at the trust boundary -------------------------------------------------------


class _Loose(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class ToolSpec(_Loose):
    """The `tool` extension of a tooling item: the package (pinned or not) and, optionally, its manager."""

    package: str
    manager: str | None = None


class ActionItem(_Loose):
    id: str
    category: Category
    title: str = ""
    problem: str = ""
    proposal: str = ""
    target_path: str = ""
    evidence_refs: tuple[str, ...] = ()
    confidence: float = 0.0
    rule: str | None = None  # extension: the rule as the engine worded it
    tool: ToolSpec | None = None  # extension: the missing tool of a tooling item

    @field_validator("tool", mode="before")
    @classmethod
    def _tool_shape(cls, value: Any) -> Any:
        if isinstance(value, str):
            return {"package": value}
        if isinstance(value, dict) and "package" not in value and "name" in value:
            return {**value, "package": value["name"]}
        return value


class EvidenceRef(_Loose):
    id: str
    kind: str = ""
    url: str = ""


class ToolGap(_Loose):
    tool: str
    reason: str = ""
    evidence_refs: tuple[str, ...] = ()


class Target(_Loose):
    repository: str
    kind: Literal["issue", "pull_request"]
    number: int
    url: str = ""


class Diagnosis(_Loose):
    format: Literal["self-improve-diagnosis/1"]
    target: Target
    engine: str = ""
    action_items: tuple[ActionItem, ...] = ()
    evidence_refs: tuple[EvidenceRef, ...] = ()
    tool_gaps: tuple[ToolGap, ...] = ()


def read_diagnosis(data: Mapping[str, Any]) -> Diagnosis:
    """Validate a stored diagnosis; a bad one raises PlanError naming every wrong field."""
    try:
        return Diagnosis.model_validate(dict(data))
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(p) for p in err['loc']) or '(top level)'}: {err['msg']}"
            for err in exc.errors()
        ]
        raise PlanError("diagnosis: " + "; ".join(problems)) from None


# --- the plan ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    """The issue or PR whose diagnosis the plan carries out."""

    repository: str
    kind: SourceKind
    number: int
    url: str = ""

    @property
    def key(self) -> str:
        return f"{self.kind}-{self.number}"


@dataclass(frozen=True)
class PlannedItem:
    """One approved action item and what the plan does with it."""

    item_id: str
    category: str
    title: str
    problem: str
    path: str | None
    change: str  # the rule text, or the install
    evidence_urls: tuple[str, ...]
    outcome: Outcome
    reason: str = ""  # why refused, why a follow-up, where it already is


@dataclass(frozen=True)
class FileChange:
    """One file's text before (None: the file is new) and after the plan."""

    path: str
    before: str | None
    after: str


@dataclass(frozen=True)
class PlanInputs:
    """What a plan was made from, so it can be made again over newer file texts."""

    diagnosis: Diagnosis
    approved: tuple[str, ...] | None
    config: RepoConfig
    run_id: str


@dataclass(frozen=True)
class UpdatePlan:
    """Everything the PR needs, decided before any write."""

    source: Source
    run_id: str
    items: tuple[PlannedItem, ...]
    changes: tuple[FileChange, ...]
    diff: str
    title: str
    body: str
    commit_message: str
    runs: tuple[str, ...]
    inputs: PlanInputs = field(repr=False)

    @property
    def branch(self) -> str:
        return branch_name(self.source.kind, self.source.number)

    @property
    def marker(self) -> str:
        return pr_marker(self.source.kind, self.source.number)

    @property
    def files(self) -> dict[str, str]:
        return {c.path: c.after for c in self.changes}

    @property
    def before(self) -> dict[str, str]:
        """The old texts of changed files (new files absent), as the guardrails check reads them."""
        return {c.path: c.before for c in self.changes if c.before is not None}

    @property
    def refused(self) -> tuple[PlannedItem, ...]:
        return tuple(i for i in self.items if i.outcome == "refused")

    @property
    def follow_ups(self) -> tuple[PlannedItem, ...]:
        return tuple(i for i in self.items if i.outcome == "follow-up")

    @property
    def has_changes(self) -> bool:
        return bool(self.changes)

    def body_over(self, previous: str | None) -> str:
        """The body for a PR that already has `previous`: earlier rows and runs are kept."""
        runs = tuple(dict.fromkeys([*listed_runs(previous), *self.runs]))
        return pr_body(
            self.source,
            self.items,
            runs,
            run_id=self.run_id,
            close=self.inputs.config.close_source_issue,
            earlier_rows=table_rows(previous),
        )

    def title_over(self, previous: str | None) -> str:
        """The title naming the categories of this approval and of the earlier ones in `previous`."""
        earlier = [c for c in map(_row_category, table_rows(previous)) if c]
        return pr_title(self.source, self.items, earlier)


def source_kind(kind: str) -> SourceKind:
    """`issue`, or `pr` for a pull request (`pull_request` as the diagnosis names it)."""
    if kind == "issue":
        return "issue"
    if kind in ("pr", "pull_request"):
        return "pr"
    raise PlanError(f"source kind: {kind!r} is not issue, pr or pull_request")


def branch_name(kind: str, number: int) -> str:
    """The one branch per source: `self-improve/issue-7`, `self-improve/pr-12`."""
    return f"self-improve/{source_kind(kind)}-{int(number)}"


def pr_marker(kind: str, number: int) -> str:
    """The hidden marker by which the PR of a source is found again."""
    return f"<!-- self-improve:pr source={source_kind(kind)}-{int(number)} -->"


def _norm_path(path: str) -> str:
    return path.strip().removeprefix("./").lstrip("/")


def _selected(
    diagnosis: Diagnosis, approved: Collection[str] | None
) -> tuple[list[ActionItem], list[str]]:
    """The approved items in diagnosis order, and the approved ids the diagnosis does not have."""
    by_id: dict[str, ActionItem] = {}
    for item in diagnosis.action_items:
        by_id.setdefault(item.id.upper(), item)
    if approved is None:
        return list(by_id.values()), []
    wanted = [a.strip().upper() for a in approved if a.strip()]
    unknown = [a for a in dict.fromkeys(wanted) if a not in by_id]
    return [item for key, item in by_id.items() if key in wanted], unknown


def rule_text(item: ActionItem) -> str:
    """The rule to write: the engine's wording when given, else the proposal without "Add to X:"."""
    if item.rule and item.rule.strip():
        return clean_rule_text(item.rule)
    proposal = _PROPOSAL_LEAD.sub("", item.proposal.strip())
    return clean_rule_text(proposal or item.title)


def _target_path(item: ActionItem, config: RepoConfig) -> str:
    if item.target_path.strip():
        return _norm_path(item.target_path)
    if item.category == "prompts":
        return config.prompt_seed_path()
    return config.paths.docs if item.category == "docs" else config.paths.instructions


def _path_refusal(path: str, config: RepoConfig) -> str | None:
    if path.startswith(WORKFLOWS_DIR) or path.startswith(".github/workflows"):
        return (
            f"`{path}` is a workflow file; self-improve never changes workflows (they run with the"
            " repository's secrets and need the `workflows` permission)"
        )
    if not config.allows(path):
        allowed = ", ".join(f"`{p}`" for p in config.effective_allowed_paths())
        return (
            f"`{path}` is not an allowed path (allowed: {allowed}); self-improve changes only the"
            " agent's instructions"
        )
    if not path.lower().endswith(MARKDOWN_SUFFIXES):
        return f"`{path}` is not a markdown file; rules are written into markdown instructions only"
    return None


def _tool_for(item: ActionItem, diagnosis: Diagnosis) -> ToolSpec | None:
    if item.tool is not None:
        return item.tool
    refs = set(item.evidence_refs)
    gaps = [g for g in diagnosis.tool_gaps if refs & set(g.evidence_refs)]
    if not gaps and len(diagnosis.tool_gaps) == 1:
        gaps = list(diagnosis.tool_gaps)
    return ToolSpec(package=gaps[0].tool.strip()) if gaps else None


def plan_paths(
    diagnosis: Mapping[str, Any] | Diagnosis,
    *,
    approved: Collection[str] | None,
    config: RepoConfig,
) -> tuple[str, ...]:
    """The files the plan will read: allowed markdown targets, and the agent Dockerfile for tooling."""
    diag = diagnosis if isinstance(diagnosis, Diagnosis) else read_diagnosis(diagnosis)
    items, _ = _selected(diag, approved)
    paths: list[str] = []
    for item in items:
        if item.category == "tooling":
            if config.paths.agent_dockerfile:
                paths.append(_norm_path(config.paths.agent_dockerfile))
            continue
        path = _target_path(item, config)
        if _path_refusal(path, config) is None:
            paths.append(path)
    return tuple(dict.fromkeys(paths))


def _urls_of(item: ActionItem, diagnosis: Diagnosis) -> tuple[str, ...]:
    by_id = {e.id: e.url for e in diagnosis.evidence_refs}
    return safe_urls([by_id[r] for r in item.evidence_refs if r in by_id])


def runs_analysed(diagnosis: Diagnosis) -> tuple[str, ...]:
    """The workflow runs (and earlier self-improve runs) the diagnosis drew on, as links."""
    runs: list[str] = []
    for ref in diagnosis.evidence_refs:
        if ref.kind in RUN_KINDS:
            found = _RUN_URL.match(ref.url)
            if found:
                runs.append(found.group(1))
        elif ref.kind == "previous_run" and ref.url.startswith("https://"):
            runs.append(ref.url)
    return safe_urls(list(dict.fromkeys(runs)))[:RUNS_LIMIT] if runs else ()


def build_plan(
    diagnosis: Mapping[str, Any] | Diagnosis,
    *,
    approved: Collection[str] | None,
    files: Mapping[str, str | None],
    config: RepoConfig,
    run_id: str,
) -> UpdatePlan:
    """Decide every change: `files` holds the current text of each of `plan_paths` (None: absent)."""
    diag = diagnosis if isinstance(diagnosis, Diagnosis) else read_diagnosis(diagnosis)
    current = {_norm_path(p): t for p, t in files.items()}
    missing = [p for p in plan_paths(diag, approved=approved, config=config) if p not in current]
    if missing:
        raise PlanError(
            f"files: {', '.join(missing)} not read; pass None for a file that is absent"
        )
    items, unknown = _selected(diag, approved)
    texts: dict[str, str | None] = dict(current)
    planned: list[PlannedItem] = []
    for item in items:
        urls = _urls_of(item, diag)
        if item.category == "tooling":
            planned.append(_plan_tool(item, diag, urls, texts, config))
        else:
            planned.append(_plan_rule(item, urls, texts, config))
    planned += [
        PlannedItem(u, "", "", "", None, "", (), "refused", "no such action item in the diagnosis")
        for u in unknown
    ]
    changes = tuple(
        FileChange(path, current.get(path), text)
        for path, text in sorted(texts.items())
        if text is not None and text != current.get(path)
    )
    target = diag.target
    source = Source(target.repository, source_kind(target.kind), target.number, target.url)
    runs = runs_analysed(diag)
    title = pr_title(source, planned)
    return UpdatePlan(
        source=source,
        run_id=run_id,
        items=tuple(planned),
        changes=changes,
        diff=unified_diff(changes),
        title=title,
        body=pr_body(source, planned, runs, run_id=run_id, close=config.close_source_issue),
        commit_message=commit_message(source, title, planned, run_id),
        runs=runs,
        inputs=PlanInputs(diag, tuple(approved) if approved is not None else None, config, run_id),
    )


def replan(plan: UpdatePlan, files: Mapping[str, str | None]) -> UpdatePlan:
    """The same approval over other file texts (the branch's, or a newer base)."""
    inputs = plan.inputs
    return build_plan(
        inputs.diagnosis,
        approved=inputs.approved,
        files=files,
        config=inputs.config,
        run_id=inputs.run_id,
    )


def screen_rule(text: str) -> str | None:
    """Why a rule must not be written (it reads as an order to drop the agent's rules), or None."""
    for found in _INJECTION.finditer(text):
        if not _NEGATED.search(text[: found.start()].rstrip()):
            return "the rule reads as an instruction to ignore the agent's other rules"
    return None


def _plan_rule(
    item: ActionItem, urls: tuple[str, ...], texts: dict[str, str | None], config: RepoConfig
) -> PlannedItem:
    path = _target_path(item, config)
    rule = rule_text(item)

    def result(outcome: Outcome, reason: str = "", where: str | None = path) -> PlannedItem:
        return PlannedItem(
            item.id, item.category, item.title, item.problem, where, rule, urls, outcome, reason
        )

    refusal = _path_refusal(path, config)
    if refusal is not None:
        return result("refused", refusal)
    if not rule:
        return result("refused", "the item has no rule, proposal or title to write")
    screened = screen_rule(rule) or screen_rule(item.rule or "")
    if screened is not None:
        return result("refused", screened)
    try:
        merged = merge_rules(
            texts.get(path) or "",
            [Rule(rule, (item.id,), urls)],
            heading=config.managed_heading,
            path=path,
        )
    except ManagedBlockError as exc:
        return result("refused", str(exc))
    if merged.added:
        texts[path] = merged.text
        return result("added")
    if merged.changed:
        texts[path] = merged.text
    return result("present", f"already in `{path}`")


def _plan_tool(
    item: ActionItem,
    diagnosis: Diagnosis,
    urls: tuple[str, ...],
    texts: dict[str, str | None],
    config: RepoConfig,
) -> PlannedItem:
    tool = _tool_for(item, diagnosis)
    host = tool is not None and _HOST.fullmatch(tool.package.strip().lower()) is not None
    if tool is not None and not host:
        wanted = f"install `{tool.package}` in the agent's environment"
    else:
        wanted = rule_text(item) or item.title
    aimed = _norm_path(item.target_path) if item.target_path.strip() else ""
    dockerfile = _norm_path(config.paths.agent_dockerfile or "")

    def result(outcome: Outcome, change: str, reason: str, where: str | None) -> PlannedItem:
        return PlannedItem(
            item.id, item.category, item.title, item.problem, where, change, urls, outcome, reason
        )

    if tool is not None and host:
        reason = (
            f"`{tool.package}` is a host, not a package: the agent's environment needs access to it"
        )
        return result("follow-up", wanted, reason, None)
    if not dockerfile:
        note = "no agent Dockerfile is configured (`paths.agent_dockerfile`)"
        if aimed and _path_refusal(aimed, config) is not None:
            note += f"; the diagnosis pointed at `{aimed}`, which self-improve does not edit"
        return result("follow-up", wanted, note, None)
    if tool is None:
        return result("follow-up", wanted, "the item names no tool to install", dockerfile)
    if not config.allows(dockerfile):
        return result("refused", wanted, f"`{dockerfile}` is not an allowed path", dockerfile)
    text = texts.get(dockerfile)
    if text is None:
        return result("follow-up", wanted, f"`{dockerfile}` does not exist", dockerfile)
    try:
        install = add_tool(
            text, tool.package, manager=tool.manager, item_id=item.id, path=dockerfile
        )
    except DockerfileError as exc:
        return result("follow-up", wanted, str(exc), dockerfile)
    change = f"install `{install.package}` with {install.manager}"
    if not install.changed:
        return result("present", change, f"already installed in `{dockerfile}`", dockerfile)
    texts[dockerfile] = install.text
    return result("added", change, "", dockerfile)


# --- rendering -----------------------------------------------------------------------------------------


def unified_diff(changes: Sequence[FileChange]) -> str:
    """A git-style unified diff of the changes (`a/` and `b/` paths, `/dev/null` for new files)."""
    out: list[str] = []
    for change in changes:
        old = (change.before or "").splitlines(keepends=True)
        new = change.after.splitlines(keepends=True)
        out.append(f"diff --git a/{change.path} b/{change.path}\n")
        if change.before is None:
            out.append("new file mode 100644\n")
        fromfile = f"a/{change.path}" if change.before is not None else "/dev/null"
        for line in difflib.unified_diff(old, new, fromfile, f"b/{change.path}", n=3):
            out.append(line)
            if not line.endswith("\n"):
                out.append("\n\\ No newline at end of file\n")
    return "".join(out)


def defuse_keywords(text: str) -> str:
    """Break "fixes #12"-style closing keywords in quoted text: merging our PR must close nothing else."""
    return _CLOSING.sub("\\1\u200b\\2", text)


def escape_cell(text: str, limit: int = CELL_LIMIT) -> str:
    """Untrusted text as one table cell: one line, no pipes, no HTML comments, no @-mentions."""
    flat = " ".join(text.split())
    if len(flat) > limit:
        flat = flat[: limit - 1].rstrip() + "…"
    flat = flat.replace("\\", "\\\\").replace("|", "\\|")
    flat = flat.replace("<!--", "&lt;!--").replace("-->", "--&gt;")  # no marker can be forged
    return defuse_keywords(re.sub(r"@(?=[A-Za-z0-9])", "@\u200b", flat))


def _changed_categories(items: Sequence[PlannedItem]) -> list[str]:
    cats = [i.category for i in items if i.outcome == "added"]
    cats = cats or [i.category for i in items if i.outcome in ("present", "follow-up")]
    order = list(CATEGORY_NOUNS)
    return sorted(dict.fromkeys(c for c in cats if c in CATEGORY_NOUNS), key=order.index)


def _source_label(source: Source) -> str:
    return f"{'issue' if source.kind == 'issue' else 'PR'} #{source.number}"


def pr_title(source: Source, items: Sequence[PlannedItem], earlier: Sequence[str] = ()) -> str:
    """`self-improve: agent instructions and agent image learned from issue #7`."""
    order = list(CATEGORY_NOUNS)
    cats = {*_changed_categories(items), *(c for c in earlier if c in CATEGORY_NOUNS)}
    nouns = [CATEGORY_NOUNS[c] for c in sorted(cats, key=order.index)] or ["agent instructions"]
    joined = nouns[0] if len(nouns) == 1 else ", ".join(nouns[:-1]) + " and " + nouns[-1]
    return f"self-improve: {joined} learned from {_source_label(source)}"


def _links(urls: Sequence[str]) -> str:
    return " ".join(f"[{n}]({u})" for n, u in enumerate(urls, 1)) or "—"


def _row(item: PlannedItem) -> str:
    where = f"`{item.path}`: " if item.path else ""
    return (
        f"| {item.item_id} ({item.category}) | {_links(item.evidence_urls)} | "
        f"{escape_cell(item.problem or item.title)} | {where}{escape_cell(item.change)} |"
    )


def pr_body(
    source: Source,
    items: Sequence[PlannedItem],
    runs: Sequence[str],
    *,
    run_id: str,
    close: bool,
    earlier_rows: Sequence[str] = (),
) -> str:
    """The PR body: marker, link to the source, a table item → source → problem → change, the rest.

    `earlier_rows` are table rows of earlier approvals whose changes the branch still carries.
    """
    keyword = "Closes" if close and source.kind == "issue" else "Refs"
    lines = [
        pr_marker(source.kind, source.number),
        f"Approved action items from the self-improve diagnosis of {_source_label(source)}"
        f" (run `{_TRAILER_VALUE.sub('', run_id)}`). Every change sits inside the"
        " `self-improve` managed block or is an install in the agent image; review it like any"
        " other change. self-improve never merges.",
        "",
        f"{keyword} #{source.number}",
        "",
    ]
    added = [_row(i) for i in items if i.outcome == "added"]
    added_keys = {_row_key(r) for r in added}
    carried = [r for r in earlier_rows if _row_key(r) not in added_keys]
    carried_keys = {_row_key(r) for r in carried}
    if carried or added:
        lines += [TABLE_HEADER, "| --- | --- | --- | --- |", *carried, *added, ""]
    present = [i for i in items if i.outcome == "present" and _row_key(_row(i)) not in carried_keys]
    if present:
        lines += ["### Already in place", ""]
        lines += [
            f"- {i.item_id}: {escape_cell(i.change)} ({escape_cell(i.reason)})" for i in present
        ]
        lines.append("")
    follow_ups = [i for i in items if i.outcome == "follow-up"]
    if follow_ups:
        lines += ["### Follow-ups (not changed by this PR)", ""]
        lines += [
            f"- {i.item_id}: {escape_cell(i.change)}: {escape_cell(i.reason)}."
            f" Evidence: {_links(i.evidence_urls)}"
            for i in follow_ups
        ]
        lines.append("")
    refused = [i for i in items if i.outcome == "refused"]
    if refused:
        lines += ["### Not applied", ""]
        lines += [f"- {i.item_id}: {escape_cell(i.reason, 500)}" for i in refused]
        lines.append("")
    if runs:
        lines += [RUNS_HEADING, ""]
        lines += [f"- {run}" for run in runs]
        lines.append("")
    body = "\n".join(lines)
    if len(body) > BODY_LIMIT:
        body = (
            body[: BODY_LIMIT - 80].rsplit("\n", 1)[0] + "\n\n…(truncated: the list is too long)\n"
        )
    return body


def table_rows(body: str | None) -> list[str]:
    """The rows of the change table in a PR body self-improve wrote."""
    lines = (body or "").splitlines()
    if TABLE_HEADER not in lines:
        return []
    rows = []
    for line in lines[lines.index(TABLE_HEADER) + 2 :]:
        if not line.startswith("| "):
            break
        rows.append(line)
    return rows


def listed_runs(body: str | None) -> list[str]:
    """The links under "Runs analysed" in a PR body self-improve wrote."""
    lines = (body or "").splitlines()
    if RUNS_HEADING not in lines:
        return []
    runs = []
    for line in lines[lines.index(RUNS_HEADING) + 2 :]:
        if not line.startswith("- https://"):
            break
        runs.append(line[2:])
    return runs


def _row_key(row: str) -> str:
    change = row.rstrip().rstrip("|").rsplit(" | ", 1)[-1]
    return " ".join(change.split()).casefold()


def _row_category(row: str) -> str | None:
    found = _ROW_ITEM.match(row)
    return found.group(1) if found else None


def commit_message(source: Source, title: str, items: Sequence[PlannedItem], run_id: str) -> str:
    """The commit message: title, the items applied, the source, and the trailer marking it ours."""
    applied = [i for i in items if i.outcome == "added"]
    lines = [title, ""]
    lines += [
        f"- {i.item_id} ({i.category}): {defuse_keywords(' '.join(i.title.split())[:120])}"
        for i in applied
    ]
    lines += [
        "",
        f"Refs #{source.number}",
        "",
        f"{TRAILER}: {_TRAILER_VALUE.sub('', run_id) or '-'}",
    ]
    return "\n".join(lines) + "\n"
