"""Evidence: a snapshot normalised into citeable items, each with a URL a person can open.

Every reference a diagnosis cites is the URL of one of these items (spec/snapshot.md,
"Evidence references"), so nothing can be cited that the snapshot does not contain. Texts are
redacted here, once, before any detector, renderer or model sees them.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from app.diagnosis.language import clean
from app.redaction import redact_text
from app.sessions import parse_session
from app.snapshot import Snapshot

Trust = Literal["trusted", "untrusted", "agent", "bot"]

TRUSTED_ASSOCIATIONS = frozenset({"OWNER", "MEMBER", "COLLABORATOR"})
WRITE_PERMISSIONS = frozenset({"admin", "maintain", "write"})
_AGENT_LOGIN = re.compile(
    r"(?i)copilot|claude|codex|devin|openhands|open-hands|sweep|jules|aider|cursor|gemini|amazon-q|"
    r"agent|autofix|coding"
)
_NOT_AGENTS = re.compile(
    r"(?i)^(?:dependabot|renovate|github-actions|codecov|vercel|netlify|sonarcloud|changeset-bot|"
    r"coderabbitai|sourcery-ai|linear|mergify|allcontributors|imgbot|pre-commit-ci)(?:\[bot\])?$"
)
_AGENT_RUN = re.compile(r"(?i)agent|copilot|codex|claude|devin|openhands|aider|jules|gemini")
INJECTION = re.compile(
    r"(?i)ignore (?:all |any )?(?:the |your )?(?:previous|prior|above|earlier|preceding) "
    r"(?:instructions|rules|prompts?|directions)"
    r"|disregard (?:all |any )?(?:the |your )?(?:previous|prior|above|earlier) "
    r"|(?:remove|delete|drop|strip) (?:the )?security (?:section|rules|part)"
    r"|(?:print|paste|post|reveal|share|show|dump) (?:me )?(?:your|the)? ?(?:value of )?"
    r"(?:aws |api |openai |anthropic )?(?:credentials|secrets?|api[ _-]?keys?|tokens?|system prompt|"
    r"[A-Z][A-Z0-9]*_(?:API_)?(?:KEY|TOKEN|SECRET))"
    r"|you are now |new instructions:|system prompt"
    r"|игнорируй (?:все )?(?:предыдущие|прошлые)|удали (?:раздел|секцию) (?:про |о )?безопасност"
)
# A `uses:` step ("Run actions/setup-node@v4", "Run ./.github/actions/x"): an action, not a command
# anyone could run before pushing.
_ACTION_REF = re.compile(r"^(?:[\w.-]+/[\w./-]+@\S+|docker://\S+|\./\.github/actions/\S+)$")
_STEP_START = re.compile(r"^\S+Z ##\[group\]Run ")
_POST_START = re.compile(r"^\S+Z Post job cleanup\.$")
_DONE_START = re.compile(r"^\S+Z Cleaning up orphan processes$")
_TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT[\d:.]+Z ?")
_LOG_SIGNAL = re.compile(
    r"##\[error\]|\berror\b|\bfail|✖|×|✘|\bnot found\b|no module named|enoent|enotfound|eai_again|err!|"
    r"err_|\bblocked\b|denied|rejected|traceback|panic:|\[warn\]|newsfragment|missing|exited \d|"
    r"exit code [1-9]|call to |exec bash|^tool: |would reformat|diff in|reformatted|timed out|"
    r"budget|externally.managed|could not|cannot|can't|unable to",
    re.IGNORECASE,
)
_AGENT_CALL = re.compile(
    r"^(?:Call to (?P<copilot_tool>[\w ]+?) tool: (?P<copilot>.+)"
    r"|\[[\d\-T:.Z]+\] exec (?P<codex>.+?) in \S+$"
    r"|Tool: (?P<claude_tool>Bash) (?P<claude>.+)"
    r"|Call to (?P<edit_tool>str_replace_editor|report_progress|\w+): (?P<edit>.+)"
    r"|Tool: (?P<other_tool>\w+) (?P<other>.+))$"
)
_AGENT_EXIT = re.compile(
    r"<exited with exit code (?P<a>-?\d+)>|\.\.\. exited (?P<b>-?\d+) in|\.\.\. (?P<ok>succeeded) in"
)
_CLOSES = re.compile(
    r"(?i)\b(?:fix(?:es|ed)?|close[sd]?|resolve[sd]?|refs?)\s+(?:[\w.-]+/[\w.-]+)?#(\d+)"
)
MAX_LOG_ITEMS_PER_JOB = 400
MAX_SESSION_ITEMS = 4000


@dataclass(frozen=True)
class EvidenceItem:
    """One citeable thing. `key` is its URL; `round` counts the agent's pushes/runs before it."""

    key: str
    kind: str
    author: str | None
    author_association: str | None
    created_at: str | None
    text: str
    round: int
    trust: Trust
    thread: str | None = None
    path: str | None = None
    commit: str | None = None
    check: str | None = None
    conclusion: str | None = None
    command: str | None = None
    exit_code: int | None = None
    failed: bool = False
    run: str | None = None
    label: str | None = None
    event: str | None = None
    line: int | None = None
    injection: bool = False

    @property
    def url(self) -> str:
        return self.key

    @property
    def supports(self) -> bool:
        """May this item support an action item? Outsiders and injected text never do."""
        return self.trust in ("trusted", "agent") and not self.injection


@dataclass(frozen=True)
class CiJob:
    """A CI check (an Actions job or a third-party check run) on one commit."""

    url: str
    name: str
    check: str
    head_sha: str
    head_branch: str | None
    event: str | None
    conclusion: str | None
    started_at: str | None
    agent_commit: bool
    pr: int | None
    lines: tuple[str, ...]
    signals: tuple[str, ...]  # evidence keys of the log's signal lines, in log order
    output: str
    annotations: tuple[tuple[str, str], ...]  # (path, message)
    step_commands: Mapping[int, str] = field(
        default_factory=dict
    )  # failing step line -> its Run command

    @property
    def failed(self) -> bool:
        return self.conclusion in ("failure", "timed_out", "startup_failure")


@dataclass(frozen=True)
class AgentRun:
    """One run of the agent: a session transcript, or an agent job's log when no transcript exists."""

    key: str
    started_at: str | None
    events: tuple[EvidenceItem, ...]
    job_url: str | None = None


@dataclass(frozen=True)
class Commit:
    sha: str
    url: str
    message: str
    author: str | None
    is_agent: bool
    date: str | None
    pr: int | None


@dataclass(frozen=True)
class PullInfo:
    number: int
    url: str
    base: str  # the base branch it has now (after any retargeting)
    by_agent: bool


@dataclass(frozen=True)
class IssueInfo:
    number: int
    url: str
    title: str
    labels: tuple[str, ...]
    text: str  # body and comments, redacted


@dataclass(frozen=True)
class Evidence:
    items: tuple[EvidenceItem, ...]
    index: Mapping[str, EvidenceItem]
    repository: str
    repo_url: str
    default_branch: str
    target_url: str
    target_number: int
    agents: frozenset[str]
    files: Mapping[str, str]
    ci_jobs: tuple[CiJob, ...]
    runs: tuple[AgentRun, ...]
    commits: tuple[Commit, ...]
    issues: tuple[IssueInfo, ...]
    pulls: tuple[PullInfo, ...]
    own_numbers: frozenset[int]
    work_times: tuple[str, ...]
    injections: tuple[str, ...]  # keys of items that tried to instruct the agent or the app

    def get(self, key: str) -> EvidenceItem | None:
        return self.index.get(key)

    def of_kind(self, *kinds: str) -> Iterable[EvidenceItem]:
        return (i for i in self.items if i.kind in kinds)

    def file_url(self, path: str, line: int | None = None) -> str:
        base = f"{self.repo_url}/blob/{self.default_branch}/{path}"
        return f"{base}#L{line}" if line else base


# ---------------------------------------------------------------- helpers


def _login(user: Any) -> str | None:
    if isinstance(user, dict) and isinstance(user.get("login"), str):
        return str(user["login"])
    return None


def _is_bot(user: Any) -> bool:
    login = _login(user) or ""
    return login.endswith("[bot]") or (isinstance(user, dict) and user.get("type") == "Bot")


def normalise_check(name: str) -> str:
    """`test (ubuntu-latest, 3.12)` and `Test` are one check."""
    base = re.sub(r"\s*\(.*\)\s*$", "", name or "").strip().lower()
    return base or (name or "").lower()


def step_segments(job: Mapping[str, Any], lines: list[str]) -> list[tuple[int, int]] | None:
    """(first line index, step number) per step, as github.com numbers them; None if they disagree."""
    starts = [0]
    # One scan over the joined text finds the step headers; a regex call per line is slow on big logs.
    text = "\n".join(lines)
    offsets = _line_offsets(lines)
    for m in _STEP_BOUNDARY.finditer(text):
        i = bisect.bisect_right(offsets, m.start()) - 1
        if i and i != starts[-1]:
            starts.append(i)
    steps = [s for s in job.get("steps") or [] if s.get("conclusion") != "skipped"]
    if len(steps) != len(starts) or not all(isinstance(s.get("number"), int) for s in steps):
        return None
    return [(start, int(step["number"])) for start, step in zip(starts, steps, strict=True)]


# For scanning whole logs: every alternative starts with a literal, which lets the regex engine
# skip ahead by first character (`\b` or `^` in front would disable that and cost 15x).
_LOG_SIGNAL_LOWER = re.compile(
    r"##\[error\]|error|fail|✖|×|✘|not found|no module named|enoent|enotfound|eai_again|err!|err_|blocked|"
    r"denied|rejected|traceback|panic:|\[warn\]|newsfragment|missing|exited \d|exit code [1-9]|call to |"
    r"exec bash|would reformat|diff in|reformatted|timed out|budget|externally.managed|could not|cannot|"
    r"can't|unable to"
)
_STEP_BOUNDARY = re.compile(
    r"^\S+Z (?:##\[group\]Run |Post job cleanup\.$|Cleaning up orphan processes$)", re.MULTILINE
)


def _line_offsets(lines: list[str]) -> list[int]:
    offsets = []
    pos = 0
    for ln in lines:
        offsets.append(pos)
        pos += len(ln) + 1
    return offsets


def signal_lines(lines: list[str]) -> list[int]:
    """Indices of log lines that may say what went wrong, found in one scan of the whole log."""
    # Lower-cased text with a case-sensitive pattern is several times faster than IGNORECASE;
    # offsets come from the lowered lines, since lowering can change a line's length.
    low_lines = [ln.lower() for ln in lines]
    text = "\n".join(low_lines)
    offsets = _line_offsets(low_lines)
    found: list[int] = []
    for m in _LOG_SIGNAL_LOWER.finditer(text):
        i = bisect.bisect_right(offsets, m.start()) - 1
        if not found or found[-1] != i:
            found.append(i)
    return found


def log_line_url(job_url: str, segments: list[tuple[int, int]] | None, index: int) -> str:
    """The reference of 0-based log line `index`: `#step:S:L` when the step is known, else `#L{n}`."""
    if segments:
        pos = bisect.bisect_right([s for s, _ in segments], index) - 1
        start, number = segments[max(pos, 0)]
        return f"{job_url}#step:{number}:{index - start + 1}"
    return f"{job_url}#L{index + 1}"


def log_lines(log: str | None) -> list[str]:
    if not log:
        return []
    lines = log.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def strip_timestamp(line: str) -> str:
    return _TIMESTAMP.sub("", line, count=1)


# ---------------------------------------------------------------- building


class _Builder:
    def __init__(self, snapshot: Snapshot) -> None:
        self.s = snapshot
        self.items: dict[str, EvidenceItem] = {}
        self.order: list[str] = []
        self.repo_url = snapshot.html_url
        self.perms = {k: v.lower() for k, v in snapshot.permissions.items()}
        self.agents = self._find_agents()
        self.commits = self._commits()
        self.work_times: list[str] = []
        self.runs: list[AgentRun] = []
        self.ci_jobs: list[CiJob] = []

    # -- identities

    def _find_agents(self) -> frozenset[str]:
        found: set[str] = set()
        for bundle in self.s.pull_requests:
            author = bundle.pull.get("user")
            login = _login(author)
            if (
                login
                and (_is_bot(author) or _AGENT_LOGIN.search(login))
                and not _NOT_AGENTS.match(login)
            ):
                found.add(login)
            for c in bundle.commits:
                for who in (c.get("author"), c.get("committer")):
                    name = _login(who)
                    if name and _is_bot(who) and not _NOT_AGENTS.match(name) and name != "web-flow":
                        found.add(name)
                raw_name = ((c.get("commit") or {}).get("author") or {}).get("name")
                # A git identity with no GitHub account behind it ("openhands") is known only
                # by its name.
                unlinked = c.get("author") is None and bool(_AGENT_LOGIN.search(raw_name or ""))
                if (
                    isinstance(raw_name, str)
                    and (raw_name.endswith("[bot]") or unlinked)
                    and not _NOT_AGENTS.match(raw_name)
                ):
                    found.add(raw_name)
        for comments in self._all_comment_lists():
            for c in comments:
                login = _login(c.get("user"))
                if (
                    login
                    and _is_bot(c.get("user"))
                    and _AGENT_LOGIN.search(login)
                    and not _NOT_AGENTS.match(login)
                ):
                    found.add(login)
        return frozenset(found)

    def _all_comment_lists(self) -> Iterable[list[dict[str, Any]]]:
        for ib in self.s.issues:
            yield ib.comments
        for pb in self.s.pull_requests:
            yield pb.comments
            yield pb.reviews
            yield pb.review_comments

    def trust_of(self, user: Any, association: str | None) -> Trust:
        login = _login(user)
        if login and login in self.agents:
            return "agent"
        if _is_bot(user):
            return "bot"
        if login and self.perms.get(login) in WRITE_PERMISSIONS:
            return "trusted"
        if login and login in self.perms:
            return "untrusted"  # the permission answer wins over the association
        if (association or "").upper() in TRUSTED_ASSOCIATIONS:
            return "trusted"
        return "untrusted"

    def _commits(self) -> list[Commit]:
        out: list[Commit] = []
        seen: set[str] = set()
        for bundle in self.s.pull_requests:
            number = bundle.pull.get("number")
            for c in bundle.commits:
                sha = c.get("sha")
                if not isinstance(sha, str) or sha in seen:
                    continue
                seen.add(sha)
                detail = c.get("commit") or {}
                author = _login(c.get("author")) or ((detail.get("author") or {}).get("name"))
                is_agent = bool(author and author in self.agents)
                out.append(
                    Commit(
                        sha=sha,
                        url=str(c.get("html_url") or f"{self.repo_url}/commit/{sha}"),
                        message=redact_text(str(detail.get("message") or "")),
                        author=author if isinstance(author, str) else None,
                        is_agent=is_agent,
                        date=(detail.get("author") or {}).get("date")
                        or (detail.get("committer") or {}).get("date"),
                        pr=number if isinstance(number, int) else None,
                    )
                )
        return out

    # -- items

    def add(self, item: EvidenceItem) -> None:
        if not item.key:
            return
        if item.key in self.items:
            old = self.items[item.key]
            if item.text and item.text not in old.text:
                merged = f"{old.text}\n{item.text}"[:20_000]
                self.items[item.key] = _replace(old, text=merged, failed=old.failed or item.failed)
            return
        self.items[item.key] = item
        self.order.append(item.key)

    def round_of(self, ts: str | None) -> int:
        norm = timestamp(ts)
        if not norm:
            return 0
        return bisect.bisect_left(self.work_times, norm)

    def build(self) -> Evidence:
        self._collect_work_times()
        target_url = self.s.target_url()
        injections: list[str] = []
        issues: list[IssueInfo] = []
        for ib in self.s.issues:
            issue = ib.issue
            url = str(issue.get("html_url") or "")
            body = redact_text(str(issue.get("body") or ""))
            title = redact_text(str(issue.get("title") or ""))
            self._conversation(url, "issue", issue, f"{title}\n\n{body}", thread=url)
            texts = [title, body]
            for c in ib.comments:
                text = redact_text(str(c.get("body") or ""))
                texts.append(text)
                self._conversation(
                    str(c.get("html_url") or ""), "issue_comment", c, text, thread=url
                )
            self._timeline(url, ib.timeline)
            labels = tuple(
                str(lb.get("name"))
                for lb in issue.get("labels") or []
                if isinstance(lb, dict) and lb.get("name")
            )
            number = issue.get("number")
            if isinstance(number, int):
                issues.append(IssueInfo(number, url, title, labels, "\n".join(texts)))
        for pb in self.s.pull_requests:
            pull = pb.pull
            url = str(pull.get("html_url") or "")
            title = redact_text(str(pull.get("title") or ""))
            body = redact_text(str(pull.get("body") or ""))
            self._conversation(url, "pull_request", pull, f"{title}\n\n{body}", thread=url)
            for c in pb.comments:
                self._conversation(
                    str(c.get("html_url") or ""),
                    "issue_comment",
                    c,
                    redact_text(str(c.get("body") or "")),
                    thread=url,
                )
            for r in pb.reviews:
                self._conversation(
                    str(r.get("html_url") or ""),
                    "review",
                    r,
                    redact_text(str(r.get("body") or "")),
                    thread=url,
                    created=r.get("submitted_at"),
                    commit=r.get("commit_id"),
                    extra=str(r.get("state") or ""),
                )
            for c in pb.review_comments:
                self._conversation(
                    str(c.get("html_url") or ""),
                    "review_comment",
                    c,
                    redact_text(str(c.get("body") or "")),
                    thread=url,
                    path=c.get("path"),
                    commit=c.get("commit_id"),
                )
            self._timeline(url, pb.timeline)
        for commit in self.commits:
            self.add(
                EvidenceItem(
                    key=commit.url,
                    kind="commit",
                    author=commit.author,
                    author_association=None,
                    created_at=commit.date,
                    text=commit.message,
                    round=self.round_of(commit.date),
                    trust="agent"
                    if commit.is_agent
                    else ("trusted" if commit.author else "untrusted"),
                    commit=commit.sha,
                )
            )
        self._ci()
        self._sessions()
        self._files()
        self._previous_runs()
        for key in self.order:
            item = self.items[key]
            if item.injection:
                injections.append(key)
        items = tuple(self.items[k] for k in self.order)
        pulls = tuple(
            PullInfo(
                number=int(pb.pull["number"]),
                url=str(pb.pull.get("html_url") or ""),
                base=str((pb.pull.get("base") or {}).get("ref") or ""),
                by_agent=_login(pb.pull.get("user")) in self.agents,
            )
            for pb in self.s.pull_requests
            if isinstance(pb.pull.get("number"), int)
        )
        own = {self.s.target.number}
        own.update(c.pr for c in self.commits if c.is_agent and c.pr)
        own.update(p.number for p in pulls if p.by_agent)
        return Evidence(
            items=items,
            index=dict(self.items),
            repository=self.s.full_name,
            repo_url=self.repo_url,
            default_branch=self.s.default_branch,
            target_url=target_url,
            target_number=self.s.target.number,
            agents=self.agents,
            files=dict(self.s.files),
            ci_jobs=tuple(self.ci_jobs),
            runs=tuple(self.runs),
            commits=tuple(self.commits),
            issues=tuple(issues),
            pulls=pulls,
            own_numbers=frozenset(own),
            work_times=tuple(self.work_times),
            injections=tuple(injections),
        )

    def _collect_work_times(self) -> None:
        candidates: list[Any] = [c.date for c in self.commits if c.is_agent]
        for pb in self.s.pull_requests:
            if _login(pb.pull.get("user")) in self.agents:
                candidates.append(pb.pull.get("created_at"))
            for wr in pb.workflow_runs:
                if self._is_agent_run(wr.run, [j.job for j in wr.jobs]):
                    candidates.append(wr.run.get("run_started_at") or wr.run.get("created_at"))
        candidates.extend(_first_timestamp(s.content) for s in self.s.agent_sessions)
        self.work_times = sorted({t for c in candidates if (t := timestamp(c))})

    def _is_agent_run(self, run: Mapping[str, Any], jobs: Sequence[Mapping[str, Any]]) -> bool:
        if run.get("event") == "dynamic":
            return True
        names = " ".join(
            str(x)
            for x in (
                run.get("name"),
                run.get("path"),
                run.get("display_title"),
                *(j.get("name") for j in jobs),
            )
        )
        if re.search(
            r"(?i)\bci\b|lint|test|build|check", str(run.get("name") or "")
        ) and not _AGENT_RUN.search(str(run.get("name") or "")):
            return False
        return bool(_AGENT_RUN.search(names))

    def _conversation(
        self,
        url: str,
        kind: str,
        obj: Mapping[str, Any],
        text: str,
        *,
        thread: str,
        created: Any = None,
        path: Any = None,
        commit: Any = None,
        extra: str = "",
    ) -> None:
        user = obj.get("user")
        created_at = created or obj.get("created_at")
        assoc = obj.get("author_association")
        trust = self.trust_of(user, assoc if isinstance(assoc, str) else None)
        self.add(
            EvidenceItem(
                key=url,
                kind=kind,
                author=_login(user),
                author_association=assoc if isinstance(assoc, str) else None,
                created_at=created_at if isinstance(created_at, str) else None,
                text=text,
                round=self.round_of(created_at if isinstance(created_at, str) else None),
                trust=trust,
                thread=thread,
                path=path if isinstance(path, str) else None,
                commit=commit if isinstance(commit, str) else None,
                event=extra or None,
                injection=bool(INJECTION.search(clean(text))) and trust != "agent",
            )
        )

    def _timeline(self, thread: str, events: list[dict[str, Any]]) -> None:
        for e in events:
            if e.get("html_url") or e.get("id") is None:
                continue  # comments and commits are items already; events without an id cannot be cited
            name = str(e.get("event") or "")
            label = (e.get("label") or {}).get("name") if isinstance(e.get("label"), dict) else None
            actor = e.get("actor")
            created = e.get("created_at") if isinstance(e.get("created_at"), str) else None
            trust = self.trust_of(actor, None)
            if (
                name == "base_ref_changed"
                and trust == "untrusted"
                and _login(actor) not in self.perms
            ):
                # GitHub lets only a PR's author and people with write access change its base; on
                # the agent's PRs (the only ones read for it) anyone else who did holds write access.
                trust = "trusted"
            self.add(
                EvidenceItem(
                    key=f"{thread}#event-{e['id']}",
                    kind="timeline_event",
                    author=_login(actor),
                    author_association=None,
                    created_at=created,
                    text=f"{name} {label}" if label else name,
                    round=self.round_of(created),
                    trust=trust,
                    thread=thread,
                    label=label if isinstance(label, str) else None,
                    event=name,
                )
            )

    # -- CI and agent runs

    def _ci(self) -> None:
        agent_shas = {c.sha for c in self.commits if c.is_agent}
        human_shas = {c.sha for c in self.commits if not c.is_agent}
        session_artifacts = {
            m.group(1)
            for s in self.s.agent_sessions
            if (m := re.match(r"artifact:(\d+)/", s.source))
        }
        seen_jobs: set[str] = set()
        for pb in self.s.pull_requests:
            number = pb.pull.get("number")
            pr = number if isinstance(number, int) else None
            for wr in pb.workflow_runs:
                run = wr.run
                run_url = str(run.get("html_url") or "")
                jobs = [j.job for j in wr.jobs]
                agent_run = self._is_agent_run(run, jobs) or any(
                    str(a.artifact.get("id")) in session_artifacts for a in wr.artifacts
                )
                created = run.get("run_started_at") or run.get("created_at")
                self.add(
                    EvidenceItem(
                        key=run_url,
                        kind="workflow_run",
                        author=_login(run.get("actor")),
                        author_association=None,
                        created_at=created if isinstance(created, str) else None,
                        text=f"{run.get('name')} {run.get('event')} {run.get('conclusion')}",
                        round=self.round_of(created if isinstance(created, str) else None),
                        trust="agent" if agent_run else "bot",
                        conclusion=run.get("conclusion"),
                    )
                )
                has_session = any(
                    str(a.artifact.get("id")) in session_artifacts for a in wr.artifacts
                )
                for je in wr.jobs:
                    job = je.job
                    url = str(job.get("html_url") or "")
                    if not url:
                        continue
                    lines = log_lines(redact_text(je.log or ""))
                    segments = step_segments(job, lines)
                    sha = str(job.get("head_sha") or run.get("head_sha") or "")
                    if agent_run:
                        self._agent_log(url, job, lines, segments, with_session=has_session)
                        continue
                    seen_jobs.add(url)
                    signals, step_cmds = self._log_signals(
                        url, job, lines, segments, sha, trust="bot"
                    )
                    self.ci_jobs.append(
                        CiJob(
                            url=url,
                            name=str(job.get("name") or ""),
                            check=normalise_check(str(job.get("name") or "")),
                            head_sha=sha,
                            head_branch=job.get("head_branch") or run.get("head_branch"),
                            event=run.get("event"),
                            conclusion=job.get("conclusion"),
                            started_at=job.get("started_at"),
                            agent_commit=sha in agent_shas
                            or (sha not in human_shas and pr in self._agent_prs()),
                            pr=pr,
                            lines=tuple(lines),
                            signals=tuple(signals),
                            output="",
                            annotations=(),
                            step_commands=step_cmds,
                        )
                    )
            for cre in pb.check_runs:
                cr = cre.check_run
                url = str(cr.get("html_url") or "")
                if not url:
                    continue
                raw_output = cr.get("output")
                output: dict[str, Any] = raw_output if isinstance(raw_output, dict) else {}
                out_text = redact_text(
                    "\n".join(
                        str(output.get(k) or "") for k in ("title", "summary", "text")
                    ).strip()
                )
                annotations = tuple(
                    (str(a.get("path") or ""), redact_text(str(a.get("message") or "")))
                    for a in cre.annotations
                )
                created = cr.get("started_at") or cr.get("completed_at")
                sha = str(cr.get("head_sha") or "")
                self.add(
                    EvidenceItem(
                        key=url,
                        kind="check_run",
                        author=_login(cr.get("app"))
                        or str((cr.get("app") or {}).get("slug") or "")
                        or None,
                        author_association=None,
                        created_at=created if isinstance(created, str) else None,
                        text=f"{cr.get('name')}: {cr.get('conclusion')}\n{out_text}".strip(),
                        round=self.round_of(created if isinstance(created, str) else None),
                        trust="bot",
                        commit=sha,
                        check=normalise_check(str(cr.get("name") or "")),
                        conclusion=cr.get("conclusion"),
                    )
                )
                for a in cre.annotations:
                    href = a.get("blob_href")
                    if isinstance(href, str) and href:
                        self.add(
                            EvidenceItem(
                                key=href,
                                kind="annotation",
                                author=None,
                                author_association=None,
                                created_at=created if isinstance(created, str) else None,
                                text=redact_text(str(a.get("message") or "")),
                                round=self.round_of(created if isinstance(created, str) else None),
                                trust="bot",
                                path=a.get("path"),
                                commit=sha,
                                check=normalise_check(str(cr.get("name") or "")),
                            )
                        )
                existing = [j for j in self.ci_jobs if j.url == url]
                if existing:
                    job0 = existing[0]
                    self.ci_jobs[self.ci_jobs.index(job0)] = _replace_job(
                        job0,
                        output=out_text,
                        annotations=annotations,
                        conclusion=cr.get("conclusion") or job0.conclusion,
                    )
                elif url not in seen_jobs:
                    pr = pb.pull.get("number") if isinstance(pb.pull.get("number"), int) else None
                    self.ci_jobs.append(
                        CiJob(
                            url=url,
                            name=str(cr.get("name") or ""),
                            check=normalise_check(str(cr.get("name") or "")),
                            head_sha=sha,
                            head_branch=None,
                            event=None,
                            conclusion=cr.get("conclusion"),
                            started_at=created if isinstance(created, str) else None,
                            agent_commit=sha in agent_shas
                            or (sha not in human_shas and pr in self._agent_prs()),
                            pr=pr,
                            lines=(),
                            signals=(),
                            output=out_text,
                            annotations=annotations,
                        )
                    )

    def _agent_prs(self) -> set[int]:
        return {
            int(pb.pull["number"])
            for pb in self.s.pull_requests
            if isinstance(pb.pull.get("number"), int) and _login(pb.pull.get("user")) in self.agents
        }

    def _job_item(self, url: str, job: Mapping[str, Any], trust: Trust) -> None:
        created = job.get("started_at")
        self.add(
            EvidenceItem(
                key=url,
                kind="check_run",
                author=None,
                author_association=None,
                created_at=created if isinstance(created, str) else None,
                text=f"{job.get('name')}: {job.get('conclusion')}",
                round=self.round_of(created if isinstance(created, str) else None),
                trust=trust,
                check=normalise_check(str(job.get("name") or "")),
                conclusion=job.get("conclusion"),
                commit=job.get("head_sha"),
            )
        )

    def _log_signals(
        self,
        url: str,
        job: Mapping[str, Any],
        lines: list[str],
        segments: list[tuple[int, int]] | None,
        sha: str,
        trust: Trust,
    ) -> tuple[list[str], dict[int, str]]:
        self._job_item(url, job, trust)
        created = job.get("started_at") if isinstance(job.get("started_at"), str) else None
        rnd = self.round_of(created)
        signals: list[str] = []
        step_cmds: dict[int, str] = {}
        headers = [
            (i, "" if _ACTION_REF.match(cmd) else cmd)
            for i in (range(len(lines)) if segments is None else (s for s, _ in segments))
            if _STEP_START.match(ln := lines[i])
            and (cmd := strip_timestamp(ln).removeprefix("##[group]Run ").strip()) is not None
        ]
        header_at = [i for i, _ in headers]
        for i in signal_lines(lines):
            if len(signals) >= MAX_LOG_ITEMS_PER_JOB:
                break
            if _STEP_START.match(lines[i]):
                continue
            pos = bisect.bisect_right(header_at, i) - 1
            current_cmd = headers[pos][1] if pos >= 0 else ""
            key = log_line_url(url, segments, i)
            context = "\n".join(strip_timestamp(x) for x in lines[i : i + 4])
            self.add(
                EvidenceItem(
                    key=key,
                    kind="job_log",
                    author=None,
                    author_association=None,
                    created_at=created,
                    text=context,
                    round=rnd,
                    trust=trust,
                    commit=sha,
                    check=normalise_check(str(job.get("name") or "")),
                    command=current_cmd or None,
                    failed=True,
                    run=url,
                    line=i + 1,
                )
            )
            signals.append(key)
            step_cmds[i] = current_cmd
        return signals, step_cmds

    def _agent_log(
        self,
        url: str,
        job: Mapping[str, Any],
        lines: list[str],
        segments: list[tuple[int, int]] | None,
        *,
        with_session: bool,
    ) -> None:
        """Tool calls an agent printed in its job log become session-like events."""
        self._job_item(url, job, "agent")
        created = job.get("started_at") if isinstance(job.get("started_at"), str) else None
        rnd = self.round_of(created)
        events: list[EvidenceItem] = []
        i = 0
        while i < len(lines):
            text = strip_timestamp(lines[i])
            m = _AGENT_CALL.match(text)
            if not m:
                if _LOG_SIGNAL.search(text) and len(events) < MAX_LOG_ITEMS_PER_JOB:
                    key = log_line_url(url, segments, i)
                    item = EvidenceItem(
                        key=key,
                        kind="job_log",
                        author=None,
                        author_association=None,
                        created_at=created,
                        text="\n".join(strip_timestamp(x) for x in lines[i : i + 3]),
                        round=rnd,
                        trust="agent",
                        run=url,
                        line=i + 1,
                        failed=bool(
                            re.search(r"(?i)error|fail|blocked|denied|rejected|not found", text)
                        ),
                    )
                    self.add(item)
                    events.append(self.items[key])
                i += 1
                continue
            command = next(
                (g for g in (m.group("copilot"), m.group("codex"), m.group("claude")) if g), None
            )
            if command:
                command = command.strip()
                if m.group("codex"):
                    command = command.strip()
            j = i + 1
            output: list[str] = []
            code: int | None = None
            while j < len(lines):
                nxt = strip_timestamp(lines[j])
                if (
                    _AGENT_CALL.match(nxt)
                    or _STEP_START.match(lines[j])
                    or (re.match(r"^\[[\d\-T:.Z]+\] ", nxt) and not (_AGENT_EXIT.search(nxt)))
                ):
                    break
                em = _AGENT_EXIT.search(nxt)
                if em:
                    code = int(em.group("a") or em.group("b") or 0) if not em.group("ok") else 0
                else:
                    output.append(nxt)
                j += 1
                if len(output) > 40:
                    break
            key = log_line_url(url, segments, i)
            body = "\n".join([text, *output[:15]])
            failed = (code not in (None, 0)) or bool(
                re.search(
                    r"(?i)\bERR|not found|No module named|blocked|ENOTFOUND|error:",
                    "\n".join(output[:15]),
                )
            )
            item = EvidenceItem(
                key=key,
                kind="job_log",
                author=None,
                author_association=None,
                created_at=created,
                text=body,
                round=rnd,
                trust="agent",
                command=command,
                exit_code=code,
                failed=failed,
                run=url,
                line=i + 1,
            )
            self.add(item)
            events.append(self.items[key])
            # The error lines of the output are citeable on their own too.
            for k in range(i + 1, min(j, i + 16)):
                line_text = strip_timestamp(lines[k])
                if re.search(
                    r"(?i)\bERR|not found|No module named|blocked|ENOTFOUND|error", line_text
                ):
                    self.add(
                        EvidenceItem(
                            key=log_line_url(url, segments, k),
                            kind="job_log",
                            author=None,
                            author_association=None,
                            created_at=created,
                            text=line_text,
                            round=rnd,
                            trust="agent",
                            command=command,
                            failed=True,
                            run=url,
                            line=k + 1,
                        )
                    )
            i = max(j, i + 1)
        if not with_session:
            self.runs.append(
                AgentRun(key=url, started_at=created, events=tuple(events), job_url=url)
            )

    def _sessions(self) -> None:
        artifacts: dict[str, tuple[Mapping[str, Any], Mapping[str, Any]]] = {}
        for pb in self.s.pull_requests:
            for wr in pb.workflow_runs:
                for a in wr.artifacts:
                    artifacts[str(a.artifact.get("id"))] = (a.artifact, wr.run)
        for session in self.s.agent_sessions:
            base = session.source
            m = re.match(r"artifact:(\d+)/(.+)$", session.source)
            job_url = None
            if m and m.group(1) in artifacts:
                art, run = artifacts[m.group(1)]
                if art.get("url"):
                    base = f"{art['url']}/{m.group(2)}"
                job_url = run.get("html_url")
            parsed = parse_session(session.content, session.format, ref_base=base)
            events: list[EvidenceItem] = []
            for ev in parsed.events:
                if len(events) >= MAX_SESSION_ITEMS:
                    break
                if ev.kind == "message" and ev.role not in ("assistant",):
                    continue
                text = redact_text(ev.text[:4000])
                item = EvidenceItem(
                    key=ev.ref,
                    kind="session_event",
                    author=None,
                    author_association=None,
                    created_at=ev.timestamp,
                    text=text,
                    round=self.round_of(ev.timestamp),
                    trust="agent",
                    command=redact_text(ev.command) if ev.command else None,
                    exit_code=ev.exit_code,
                    failed=ev.is_error,
                    run=base,
                    line=ev.line,
                    event=ev.kind,
                    path=ev.tool,
                )
                self.add(item)
                events.append(item)
            self.runs.append(
                AgentRun(
                    key=base,
                    started_at=_first_timestamp(session.content),
                    events=tuple(events),
                    job_url=job_url if isinstance(job_url, str) else None,
                )
            )

    def _files(self) -> None:
        for path, text in self.s.files.items():
            for n, line in enumerate(text.split("\n"), start=1):
                if not line.strip():
                    continue
                self.add(
                    EvidenceItem(
                        key=f"{self.repo_url}/blob/{self.s.default_branch}/{path}#L{n}",
                        kind="file",
                        author=None,
                        author_association=None,
                        created_at=None,
                        text=redact_text(line),
                        round=0,
                        trust="trusted",
                        path=path,
                        line=n,
                    )
                )

    def _previous_runs(self) -> None:
        for r in self.s.previous_runs:
            url = next(
                (
                    r.get(k)
                    for k in ("html_url", "url", "pr_url", "check_run_url")
                    if isinstance(r.get(k), str)
                ),
                None,
            )
            if not url:
                continue
            created = r.get("created_at") if isinstance(r.get("created_at"), str) else None
            self.add(
                EvidenceItem(
                    key=url,
                    kind="previous_run",
                    author=None,
                    author_association=None,
                    created_at=created,
                    text=redact_text(str(r.get("diagnosis") or r.get("summary") or "")[:4000]),
                    round=self.round_of(created),
                    trust="bot",
                )
            )


def _first_timestamp(content: str) -> str | None:
    m = re.search(r'"timestamp"\s*:\s*"([^"]+)"', content[:4000])
    return timestamp(m.group(1)) if m else None


def _replace(item: EvidenceItem, **changes: Any) -> EvidenceItem:
    return replace(item, **changes)


def _replace_job(job: CiJob, **changes: Any) -> CiJob:
    return replace(job, **changes)


def timestamp(value: Any) -> str | None:
    """An ISO timestamp cut to whole seconds (`…T10:00:00Z`), so strings compare in time order."""
    if not isinstance(value, str) or len(value) < 19:
        return None
    return value[:19] + "Z"


def collect_evidence(snapshot: Snapshot) -> Evidence:
    """Normalise a snapshot into citeable, redacted evidence items plus the structures detectors read."""
    return _Builder(snapshot).build()
