"""Gathering one target's evidence into a snapshot: every request once, independent requests at once.

The shape of the work (each arrow waits for what it needs, nothing else):

    target issue/PR ─┬─ comments, timeline, reviews, review comments, files ─ closing/linked threads
                     └─ commits ─ per commit: check runs ─ annotations of failed runs
                                              workflow runs ─ jobs ─ logs of failed and agent jobs
                                                            └ artifacts ─ zip ─ files, sessions
    linked threads ─ runs started by issue events (agent orchestrators) ─ jobs, artifacts as above
    repository, instruction files (default branch): alongside everything

Every fetch is a memoised task keyed by what it asks, so a commit shared by two PRs, a run found
through two commits or an issue both closed and mentioned is requested once. A piece GitHub refuses
or no longer has (403, 404, 410) becomes a `Gap` and gathering goes on; the repository and the
target itself are required, and any other error (5xx after the client's retries, rate limits)
propagates so the job is retried. Secrets are redacted as each object, log or file arrives.
"""

from __future__ import annotations

import asyncio
import base64
import fnmatch
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar
from urllib.parse import quote, urlencode

from app.evidence import links
from app.evidence.artifacts import ArchiveLimits, ArchiveRefused, unpack_artifact
from app.evidence.cache import CachedArtifact, CachedLog, EvidenceCache
from app.evidence.logs import LogPolicy, drop_partial_first_line, trim_log
from app.github.client import GitHubClient
from app.github.errors import Forbidden, GitHubError, NotFound
from app.redaction import redact_json, redact_text
from app.repo_config import RepoConfig
from app.sessions import detect_session_format
from app.snapshot import Gap, Snapshot, parse_snapshot

TargetKind = Literal["issue", "pull_request"]
Json = dict[str, Any]
T = TypeVar("T")

PER_PAGE = 100
LIST_PAGES = 50  # any list: 5000 items is past what a diagnosis reads (R-DATA-1)
FILES_PAGES = 30  # GitHub lists at most 3000 files of a pull request
COMMITS_PAGES = 3  # and at most 250 of its commits
RUN_PAGES = 10  # GitHub answers at most 1000 runs for a filtered list
MAX_LINKED_PULLS = 10
INLINE_REDACTION = 10  # items; longer lists are redacted in a worker thread
MAX_REFERENCED_ISSUES = 5
INSTRUCTION_FILES = ("AGENTS.md", "CLAUDE.md", ".github/copilot-instructions.md")
RAW = "application/vnd.github.raw+json"


DEFAULT_LOG_POLICY = LogPolicy()


class EvidenceError(ValueError):
    """A request for evidence that cannot be made: a malformed repository name or target number."""


@dataclass
class _Attempt:
    run: Json
    jobs: list[Json] = field(default_factory=list)
    artifacts: list[Json] = field(default_factory=list)


@dataclass(frozen=True)
class _Threads:
    """The target and the threads that belong with it."""

    kind: TargetKind
    work_issues: tuple[int, ...]  # the target issue, issues the PR closes or is connected to
    referenced: tuple[int, ...]  # issues the maintainers pointed to (context only)
    pulls: tuple[int, ...]


def captured_at(now: float) -> str:
    return datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _split_repository(repository: str) -> tuple[str, str]:
    owner, _, name = repository.partition("/")
    if not owner or not name or "/" in name:
        raise EvidenceError(f"repository: expected OWNER/NAME, got {repository!r}")
    return owner, name


def artifact_wanted(name: str, globs: Sequence[str]) -> bool:
    """Whether an artifact's name matches one of the configured globs (case-insensitive)."""
    lowered = name.lower()
    return any(fnmatch.fnmatchcase(lowered, g.lower()) for g in globs)


def _sha(commit: Mapping[str, Any]) -> str:
    return str(commit.get("sha") or "")


def _number(obj: Mapping[str, Any]) -> int:
    return int(obj.get("number") or 0)


class _Gathering:
    """One gathering run: the memoised fetches, the gaps and truncations met on the way."""

    def __init__(
        self,
        gh: GitHubClient,
        repository: str,
        config: RepoConfig,
        log_policy: LogPolicy,
        archive_limits: ArchiveLimits,
        cache: EvidenceCache | None,
    ) -> None:
        self._gh = gh
        self._cache = cache
        self.repository = repository
        self._base = f"/repos/{repository}"
        self._config = config
        self._log_policy = log_policy
        self._archive_limits = archive_limits
        self.gaps: list[Gap] = []
        self.truncated: list[str] = []
        self._gap_keys: set[str] = set()
        self._tasks: dict[str, asyncio.Future[Any]] = {}

    # --- plumbing -------------------------------------------------------------------------------

    def _once(self, key: str, make: Callable[[], Coroutine[Any, Any, T]]) -> asyncio.Future[T]:
        """The task for `key`, started on first use; later callers share its result."""
        task = self._tasks.get(key)
        if task is None:
            task = asyncio.ensure_future(make())
            self._tasks[key] = task
        return task

    async def close(self) -> None:
        """Stop what is still running (after a failure) and collect every outcome."""
        pending = list(self._tasks.values())
        for task in pending:
            if not task.done():
                task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    def gap(
        self, what: str, reason: str, status: int | None = None, permission: str | None = None
    ) -> None:
        if what in self._gap_keys:
            return
        self._gap_keys.add(what)
        self.gaps.append(
            Gap(what=what, status=status, reason=reason, missing_permission=permission)
        )

    def _gap_from(self, what: str, exc: GitHubError) -> None:
        reason = exc.message
        if exc.status == 410:
            reason = f"gone (past retention?): {exc.message}"
        elif exc.status == 403 and exc.accepted_permissions:
            reason = f"forbidden: the installation lacks {exc.accepted_permissions}"
        self.gap(what, reason, exc.status or None, exc.accepted_permissions)

    async def _optional(self, what: str, call: Awaitable[T]) -> T | None:
        """`call`'s result, or None with a gap when GitHub refuses it or no longer has it."""
        try:
            return await call
        except (NotFound, Forbidden) as exc:
            self._gap_from(what, exc)
            return None

    def _what(self, path: str, params: Mapping[str, Any] | None = None) -> str:
        query = f"?{urlencode(params)}" if params else ""
        return f"GET {self._base}{path}{query}"

    async def _get(self, path: str) -> Json:
        data = await self._gh.getitem(self._base + path)
        if not isinstance(data, dict):
            raise GitHubError(200, "answer is not a JSON object", url=self._base + path)
        return dict(redact_json(data))

    async def _list(
        self,
        path: str,
        params: Mapping[str, str | int] | None = None,
        *,
        items_key: str | None = None,
        max_pages: int = LIST_PAGES,
    ) -> list[Json]:
        """Every item of a list, redacted; a refused list is empty with a gap; a capped one is noted."""
        raw = await self._raw_list(path, params, items_key=items_key, max_pages=max_pages)
        return await _redacted(raw)

    async def _raw_list(
        self,
        path: str,
        params: Mapping[str, str | int] | None = None,
        *,
        items_key: str | None = None,
        max_pages: int = LIST_PAGES,
    ) -> list[Json]:
        """The list as GitHub sent it: only for decisions (which threads link), never stored."""
        what = self._what(path, params)
        try:
            page = await self._gh.paginate(
                self._base + path,
                params,
                per_page=PER_PAGE,
                max_pages=max_pages,
                items_key=items_key,
            )
        except (NotFound, Forbidden) as exc:
            self._gap_from(what, exc)
            return []
        if page.truncated:
            self.truncated.append(f"{what}: stopped after {max_pages} pages of {PER_PAGE}")
        return [item for item in page.items if isinstance(item, dict)]

    # --- single fetches (memoised) --------------------------------------------------------------

    def repo(self) -> asyncio.Future[Json]:
        return self._once("repo", lambda: self._get(""))

    def issue(self, number: int) -> asyncio.Future[Json]:
        return self._once(f"issue:{number}", lambda: self._get(f"/issues/{number}"))

    def pull(self, number: int) -> asyncio.Future[Json]:
        return self._once(f"pull:{number}", lambda: self._get(f"/pulls/{number}"))

    def comments(self, number: int) -> asyncio.Future[list[Json]]:
        return self._once(f"comments:{number}", lambda: self._list(f"/issues/{number}/comments"))

    def _raw_and_redacted(
        self,
        key: str,
        path: str,
        params: Mapping[str, str | int] | None = None,
        *,
        items_key: str | None = None,
        max_pages: int = LIST_PAGES,
    ) -> tuple[asyncio.Future[list[Json]], asyncio.Future[list[Json]]]:
        """One list as GitHub sent it (for deciding what to fetch next) and redacted (to keep).

        The next requests of a chain go out from the raw list at once; redaction, which takes a
        while on long lists, happens while they are in flight, and only the redacted list is stored.
        """
        raw = self._once(
            f"raw:{key}",
            lambda: self._raw_list(path, params, items_key=items_key, max_pages=max_pages),
        )

        async def redacted() -> list[Json]:
            return await _redacted(await raw)

        return raw, self._once(key, redacted)

    def raw_timeline(self, number: int) -> asyncio.Future[list[Json]]:
        return self._raw_and_redacted(f"timeline:{number}", f"/issues/{number}/timeline")[0]

    def timeline(self, number: int) -> asyncio.Future[list[Json]]:
        return self._raw_and_redacted(f"timeline:{number}", f"/issues/{number}/timeline")[1]

    def reviews(self, number: int) -> asyncio.Future[list[Json]]:
        return self._once(f"reviews:{number}", lambda: self._list(f"/pulls/{number}/reviews"))

    def review_comments(self, number: int) -> asyncio.Future[list[Json]]:
        return self._once(
            f"review_comments:{number}", lambda: self._list(f"/pulls/{number}/comments")
        )

    def pr_files(self, number: int) -> asyncio.Future[list[Json]]:
        return self._once(
            f"files:{number}", lambda: self._list(f"/pulls/{number}/files", max_pages=FILES_PAGES)
        )

    def _commits(
        self, number: int
    ) -> tuple[asyncio.Future[list[Json]], asyncio.Future[list[Json]]]:
        return self._raw_and_redacted(
            f"commits:{number}", f"/pulls/{number}/commits", max_pages=COMMITS_PAGES
        )

    def pr_commits(self, number: int) -> asyncio.Future[list[Json]]:
        return self._commits(number)[1]

    def check_runs(self, sha: str) -> tuple[asyncio.Future[list[Json]], asyncio.Future[list[Json]]]:
        # filter=all: a re-run replaces a check run by name; the failed first try is evidence too.
        return self._raw_and_redacted(
            f"check_runs:{sha}",
            f"/commits/{sha}/check-runs",
            {"filter": "all"},
            items_key="check_runs",
        )

    def annotations(self, check_run_id: int) -> asyncio.Future[list[Json]]:
        return self._once(
            f"annotations:{check_run_id}",
            lambda: self._list(f"/check-runs/{check_run_id}/annotations"),
        )

    def runs_for_sha(self, sha: str) -> asyncio.Future[list[Json]]:
        # Raw: a run is redacted where it is kept, in `_run_evidence`.
        return self._once(
            f"runs:{sha}",
            lambda: self._raw_list(
                "/actions/runs", {"head_sha": sha}, items_key="workflow_runs", max_pages=RUN_PAGES
            ),
        )

    def event_runs(self, event: str, params: Mapping[str, str]) -> asyncio.Future[list[Json]]:
        query = {"event": event, **params}
        return self._once(
            f"runs:{urlencode(query)}",
            lambda: self._raw_list(
                "/actions/runs", query, items_key="workflow_runs", max_pages=RUN_PAGES
            ),
        )

    def _event_listings(self, since: float | None) -> list[asyncio.Future[list[Json]]]:
        """The runs issue events started since the first thread opened (GitHub filters by date)."""
        params = {"created": ">=" + captured_at(since)[:10]} if since is not None else {}
        return [self.event_runs(event, params) for event in links.ISSUE_EVENTS]

    def log_of(self, job: Json) -> asyncio.Future[str | None]:
        return self._once(f"log:{job['id']}", lambda: self._log(job))

    def run_evidence(self, run: Json) -> asyncio.Future[list[_Attempt]]:
        return self._once(f"run:{run['id']}", lambda: self._run_evidence(run))

    # --- repository files -----------------------------------------------------------------------

    async def _file(self, path: str) -> str | None:
        """A file's text at the default branch; None when absent (404 is not a gap here)."""
        url = f"{self._base}/contents/{quote(path, safe='/')}"
        try:
            data = await self._gh.getitem(url, accept=RAW)
        except NotFound:
            return None
        except Forbidden as exc:
            self._gap_from(f"GET {url}", exc)
            return None
        if isinstance(data, str):
            return redact_text(data)
        if isinstance(data, dict) and data.get("type") == "file" and data.get("content"):
            raw = base64.b64decode(str(data["content"]))
            return redact_text(raw.decode("utf-8", errors="replace"))
        return None  # a directory or a submodule: not a file we can edit

    async def _seed_paths(self) -> list[str]:
        folder = self._config.paths.prompts_dir.strip("/")
        url = f"{self._base}/contents/{quote(folder, safe='/')}"
        try:
            listing = await self._gh.getitem(url)
        except NotFound:
            return []
        except Forbidden as exc:
            self._gap_from(f"GET {url}", exc)
            return []
        if not isinstance(listing, list):
            return []
        return sorted(
            str(item["path"])
            for item in listing
            if isinstance(item, dict)
            and item.get("type") == "file"
            and str(item.get("name", "")).endswith(".md")
        )

    async def repository_files(self) -> dict[str, str]:
        """Instruction files, prompt seeds, docs and the agent Dockerfile that exist on the default branch."""
        paths = self._config.paths
        wanted = [
            paths.instructions,
            *INSTRUCTION_FILES,
            paths.docs,
            *([paths.agent_dockerfile] if paths.agent_dockerfile else []),
            *self._config.gathering.extra_files,
        ]
        fixed = list(dict.fromkeys(p.strip("/") for p in wanted if p.strip("/")))

        async def seeds() -> list[tuple[str, str | None]]:
            found = [p for p in await self._seed_paths() if p not in fixed]
            texts = await asyncio.gather(*(self._file(p) for p in found))
            return list(zip(found, texts, strict=True))

        async def fixed_files() -> list[tuple[str, str | None]]:
            texts = await asyncio.gather(*(self._file(p) for p in fixed))
            return list(zip(fixed, texts, strict=True))

        found, seeded = await asyncio.gather(fixed_files(), seeds())
        pairs = found + seeded
        return {path: text for path, text in pairs if text is not None}

    # --- CI -------------------------------------------------------------------------------------

    async def _log(self, job: Json) -> str | None:
        """A job's log: the tail within `max_log_bytes`, redacted, trimmed to what explains it."""
        key = EvidenceCache.log_key(self.repository, job)
        cached = self._cache.get_log(key) if self._cache is not None else None
        if cached is None:
            cached = await self._download_log(job)
            if cached is None:
                return None
            if self._cache is not None:
                self._cache.put(key, cached)
        if cached.note is not None:
            self.truncated.append(cached.note)
        return cached.text

    async def _download_log(self, job: Json) -> CachedLog | None:
        url = f"{self._base}/actions/jobs/{job['id']}/logs"
        limit = self._config.gathering.max_log_bytes
        download = await self._optional(
            f"GET {url}", self._gh.download(url, max_bytes=limit, tail=True)
        )
        if download is None:
            return None
        text = download.data.decode("utf-8", errors="replace")
        note = None
        if download.truncated:
            text, _ = drop_partial_first_line(text)
            missing = (download.size or 0) - len(download.data)
            size = f" of {download.size}" if download.size else ""
            note = (
                f"GET {url}: kept the last {len(download.data)} bytes{size}"
                + (f"; the first {missing} bytes were not downloaded" if missing > 0 else "")
                + " (line numbers count from the cut)"
            )
        trimmed = await asyncio.to_thread(trim_log, text, self._log_policy, redact=redact_text)
        return CachedLog(trimmed.text, note)

    async def _artifact(self, artifact: Json) -> Json:
        """The artifact with its text files (redacted); a refused or oversized archive becomes a gap."""
        url = f"{self._base}/actions/artifacts/{artifact['id']}/zip"
        if artifact.get("expired"):
            self.gap(f"GET {url}", "artifact expired (past retention)", 410)
            return {"artifact": redact_json(artifact), "files": {}}
        key = EvidenceCache.artifact_key(self.repository, artifact)
        cached = self._cache.get_artifact(key) if self._cache is not None else None
        if cached is None:
            cached = await self._download_artifact(artifact, url)
            if cached is None:
                return {"artifact": redact_json(artifact), "files": {}}
            if self._cache is not None:
                self._cache.put(key, cached)
        for what, reason in cached.problems:
            self.gap(what, reason)
        return {"artifact": redact_json(artifact), "files": dict(cached.files)}

    async def _download_artifact(self, artifact: Json, url: str) -> CachedArtifact | None:
        limit = self._config.gathering.max_artifact_bytes
        download = await self._optional(f"GET {url}", self._gh.download(url, max_bytes=limit))
        if download is None:
            return None
        if download.truncated:
            size = f"{download.size} bytes" if download.size else "larger"
            reason = f"artifact is {size}, over max_artifact_bytes ({limit}); not unpacked"
            return CachedArtifact({}, ((f"GET {url}", reason),))
        return await asyncio.to_thread(
            _open_artifact, download.data, self._archive_limits, int(artifact["id"]), url
        )

    async def _run_evidence(self, run: Json) -> list[_Attempt]:
        """Each attempt of a run (oldest first) with its jobs and logs; artifacts on the latest."""
        run_id = int(run["id"])
        latest = int(run.get("run_attempt") or 1)
        globs = self._config.gathering.artifact_globs

        async def earlier(attempt: int) -> Json | None:
            path = f"/actions/runs/{run_id}/attempts/{attempt}"
            return await self._optional(self._what(path), self._get(path))

        async def jobs() -> list[Json]:
            listed = await self._raw_list(
                f"/actions/runs/{run_id}/jobs",
                {"filter": "all"},
                items_key="jobs",
                max_pages=RUN_PAGES,
            )
            # Every attempt of a run shares its event, so the latest run object decides for all.
            logs = [self.log_of(j) if links.wants_log(j, run) else None for j in listed]
            stored = await _redacted(listed)  # while the logs download
            return [
                {"job": job, "log": await log if log is not None else None}
                for job, log in zip(stored, logs, strict=True)
            ]

        async def artifacts() -> list[Json]:
            listed = await self._raw_list(
                f"/actions/runs/{run_id}/artifacts", items_key="artifacts", max_pages=RUN_PAGES
            )
            chosen = [a for a in listed if artifact_wanted(str(a.get("name", "")), globs)]
            return list(await asyncio.gather(*(self._artifact(a) for a in chosen)))

        found, all_jobs, kept = await asyncio.gather(
            asyncio.gather(*(earlier(k) for k in range(1, latest))), jobs(), artifacts()
        )
        by_attempt = {k: _Attempt(run=r) for k, r in enumerate(found, start=1) if r is not None}
        by_attempt[latest] = _Attempt(run=redact_json(run), artifacts=kept)
        for job in all_jobs:
            k = int(job["job"].get("run_attempt") or latest)
            (by_attempt.get(k) or by_attempt[latest]).jobs.append(job)
        return [by_attempt[k] for k in sorted(by_attempt)]

    async def _check_runs_with_annotations(self, sha: str) -> list[Json]:
        raw, redacted = self.check_runs(sha)
        notes = [
            self.annotations(int(r["id"]))
            if links.check_run_failed(r) and links.has_annotations(r)
            else None
            for r in await raw
        ]
        return [
            {"check_run": run, "annotations": await note if note is not None else []}
            for run, note in zip(await redacted, notes, strict=True)
        ]

    async def _runs_with_evidence(self, sha: str) -> list[tuple[Json, list[_Attempt]]]:
        runs = await self.runs_for_sha(sha)
        found = await asyncio.gather(*(self.run_evidence(r) for r in runs))
        return list(zip(runs, found, strict=True))

    async def pull_ci(self, number: int) -> tuple[list[Json], list[tuple[Json, list[_Attempt]]]]:
        """Check runs (with annotations of failed ones) and workflow runs of the PR's last commits."""
        commits, pull = await asyncio.gather(self._commits(number)[0], self.pull(number))
        shas = [_sha(c) for c in commits if _sha(c)]
        cap = self._config.gathering.max_commits
        if len(shas) > cap:
            self.truncated.append(
                f"pull #{number}: check runs and workflow runs of the last {cap} of {len(shas)} commits"
            )
            shas = shas[-cap:]
        head = str((pull.get("head") or {}).get("sha") or "")
        if head and head not in shas:
            shas.append(head)  # past 250 commits the list stops short of the head
        checks, runs = await asyncio.gather(
            asyncio.gather(*(self._check_runs_with_annotations(s) for s in shas)),
            asyncio.gather(*(self._runs_with_evidence(s) for s in shas)),
        )
        check_runs: list[Json] = []
        seen: set[int] = set()
        for per_sha in checks:
            for entry in per_sha:
                if int(entry["check_run"]["id"]) not in seen:
                    seen.add(int(entry["check_run"]["id"]))
                    check_runs.append(entry)
        return check_runs, [pair for per_sha in runs for pair in per_sha]

    # --- threads --------------------------------------------------------------------------------

    def start_pull(self, number: int) -> None:
        """Start every fetch of a pull request now, so its chain runs alongside the others."""
        for fetch in (
            self.pull,
            self.comments,
            self.timeline,
            self.reviews,
            self.review_comments,
            self.pr_files,
            self.pr_commits,
        ):
            fetch(number)
        self._once(f"ci:{number}", lambda: self.pull_ci(number))

    def ci(
        self, number: int
    ) -> asyncio.Future[tuple[list[Json], list[tuple[Json, list[_Attempt]]]]]:
        return self._once(f"ci:{number}", lambda: self.pull_ci(number))

    async def _issues_among(self, numbers: Iterable[int], *, quiet: bool) -> list[int]:
        """Which numbers are existing issues (not pull requests); their threads are fetched on the way.

        Closing references are issues almost always, so their comments and timeline go out with the
        issue itself; a maintainer's `#N` may be anything, so it is looked at first (`quiet`: a
        missing one is no gap, since nothing said it had to exist).
        """
        chosen = list(dict.fromkeys(numbers))
        if not quiet:
            for n in chosen:
                self.comments(n)
                self.timeline(n)

        async def probe(n: int) -> Json | None:
            if not quiet:
                return await self._optional(self._what(f"/issues/{n}"), self.issue(n))
            try:
                issue = await self.issue(n)
            except (NotFound, Forbidden):
                return None
            if not issue.get("pull_request"):
                await asyncio.gather(self.comments(n), self.timeline(n))
            return issue

        found = await asyncio.gather(*(probe(n) for n in chosen))
        return [
            n
            for n, issue in zip(chosen, found, strict=True)
            if issue is not None and not issue.get("pull_request")
        ]

    async def discover(self, kind: TargetKind | None, number: int) -> _Threads:
        """The target's kind and the threads that belong with it.

        An "issue" that GitHub says is a pull request is gathered as one (the issues API serves
        both, and a label or comment on a PR arrives through it); a "pull_request" is taken at its
        word, so a number that is no PR fails with GitHub's 404.
        """
        self.comments(number)
        self.timeline(number)
        if kind != "pull_request":
            kind = "pull_request" if (await self.issue(number)).get("pull_request") else "issue"
        if kind == "pull_request":
            self.start_pull(number)
            pull, timeline = await asyncio.gather(self.pull(number), self.raw_timeline(number))
            closing = [
                n
                for n in links.closing_issue_numbers(pull.get("body"), self.repository)
                + links.linked_issue_numbers(timeline, self.repository)
                if n != number
            ]
            said = await asyncio.gather(
                self.comments(number), self.reviews(number), self.review_comments(number)
            )
            texts = links.maintainer_texts([pull, *said[0], *said[1], *said[2]])
            pointed = [
                n
                for n in links.referenced_numbers(texts, self.repository)
                if n != number and n not in closing
            ][:MAX_REFERENCED_ISSUES]
            work, referenced = await asyncio.gather(
                self._issues_among(closing, quiet=False), self._issues_among(pointed, quiet=True)
            )
            return _Threads(kind, tuple(work), tuple(referenced), (number,))
        issue = await self.issue(number)
        self._event_listings(_since([issue]))  # its agent runs came after it: list them now
        timeline = await self.raw_timeline(number)
        linked = links.linked_pull_numbers(timeline, self.repository)
        if len(linked) > MAX_LINKED_PULLS:
            self.truncated.append(
                f"issue #{number}: the last {MAX_LINKED_PULLS} of {len(linked)} linked pull requests"
            )
            linked = linked[-MAX_LINKED_PULLS:]
        for n in linked:
            self.start_pull(n)
        found = await asyncio.gather(
            *(self._optional(self._what(f"/pulls/{n}"), self.pull(n)) for n in linked)
        )
        pulls = [n for n, pull in zip(linked, found, strict=True) if pull is not None]
        comments = await self.comments(number)
        texts = links.maintainer_texts([issue, *comments])
        pointed = [
            n
            for n in links.referenced_numbers(texts, self.repository)
            if n != number and n not in pulls
        ][:MAX_REFERENCED_ISSUES]
        referenced = await self._issues_among(pointed, quiet=True)
        return _Threads(kind, (number,), tuple(referenced), tuple(pulls))

    async def issue_event_runs(self, threads: _Threads) -> list[tuple[int, Json]]:
        """Runs that labels and comments on the threads started (agent orchestrators), by thread."""
        numbers = [*threads.work_issues, *threads.pulls]
        heads = await asyncio.gather(
            *(self.issue(n) for n in threads.work_issues), *(self.pull(n) for n in threads.pulls)
        )
        objects = dict(zip(numbers, heads, strict=True))
        timelines = dict(
            zip(
                numbers, await asyncio.gather(*(self.raw_timeline(n) for n in numbers)), strict=True
            )
        )
        since = _since(heads[: len(threads.work_issues)] or heads)
        listed = await asyncio.gather(*self._event_listings(since))
        matched: list[tuple[int, Json]] = []
        for run in (r for runs in listed for r in runs):
            started = links.epoch(run.get("created_at"))
            if since is not None and started is not None and started < since:
                continue
            thread = links.run_thread(run, objects, timelines)
            if thread is not None:
                matched.append((thread, run))
                self.run_evidence(run)
        return matched


def _open_artifact(
    data: bytes, limits: ArchiveLimits, artifact_id: int, url: str
) -> CachedArtifact:
    """Unzip under the caps and redact the texts (in a worker thread: it is CPU work)."""
    try:
        unpacked = unpack_artifact(data, limits)
    except ArchiveRefused as exc:
        return CachedArtifact({}, ((f"GET {url}", f"artifact refused: {exc}"),))
    problems = tuple(
        (f"artifact:{artifact_id}/{s.path}", f"entry refused: {s.reason}")
        for s in unpacked.skipped
        if s.reason != "binary file"  # screenshots and traces are not evidence we read
    )
    files = {path: redact_text(text) for path, text in unpacked.files.items()}
    return CachedArtifact(files, problems)


def _redact_all(items: Sequence[Any]) -> list[Json]:
    return [redact_json(i) for i in items if isinstance(i, dict)]


async def _redacted(items: Sequence[Any]) -> list[Json]:
    """The dict items, redacted; a long list in a worker thread.

    Redaction is the gathering's main CPU cost. In the event loop it would hold up every chain of
    requests waiting for its next step; in a thread it takes the time the loop spends waiting on
    the network (the regex work holds the GIL only in short slices).
    """
    if len(items) <= INLINE_REDACTION:
        return _redact_all(items)
    return await asyncio.to_thread(_redact_all, items)


def _since(threads: Sequence[Json]) -> float | None:
    starts = [links.epoch(t.get("created_at")) for t in threads]
    return min((s for s in starts if s is not None), default=None)


def _run_entries(attempts: list[_Attempt]) -> list[Json]:
    return [{"run": a.run, "jobs": a.jobs, "artifacts": a.artifacts} for a in attempts]


def _run_order(entry: Json) -> tuple[str, int, int]:
    run = entry["run"]
    return (
        str(run.get("created_at") or ""),
        int(run.get("id") or 0),
        int(run.get("run_attempt") or 1),
    )


def sessions_of(runs: Iterable[Json]) -> list[Json]:
    """Agent transcripts among the artifacts' files, in run order: `artifact:{id}/{path}`."""
    found: list[Json] = []
    for entry in runs:
        for artifact in entry.get("artifacts", []):
            for path, text in artifact.get("files", {}).items():
                fmt = detect_session_format(text)
                if fmt != "unknown":
                    source = f"artifact:{artifact['artifact']['id']}/{path}"
                    found.append({"source": source, "format": fmt, "content": text})
    return found


async def gather_evidence(
    gh: GitHubClient,
    *,
    repository: str,
    target_kind: TargetKind | None,
    number: int,
    config: RepoConfig,
    previous_runs: Sequence[Json] = (),
    trigger: Json | None = None,
    installation_id: int | None = None,
    now: Callable[[], float] = time.time,
    log_policy: LogPolicy = DEFAULT_LOG_POLICY,
    archive_limits: ArchiveLimits | None = None,
    cache: EvidenceCache | None = None,
) -> Snapshot:
    """The evidence snapshot of issue or pull request `number` in `repository` ("owner/name").

    `target_kind` None asks GitHub which it is. `previous_runs` (the app's own run records) and
    `trigger` are carried into the snapshot as given. `cache`, shared between gatherings, spares
    downloading finished logs and artifacts again. Raises `EvidenceError` for a malformed request,
    `GitHubError` when the repository or the target cannot be read or GitHub fails.
    """
    _split_repository(repository)
    if number <= 0:
        raise EvidenceError(
            f"number: expected a positive issue or pull request number, got {number}"
        )
    limits = archive_limits or ArchiveLimits.for_download(config.gathering.max_artifact_bytes)
    work = _Gathering(gh, repository, config, log_policy, limits, cache)
    try:
        return await _gather(
            work, target_kind, number, previous_runs, trigger, installation_id, now
        )
    finally:
        await work.close()


async def _gather(
    work: _Gathering,
    target_kind: TargetKind | None,
    number: int,
    previous_runs: Sequence[Json],
    trigger: Json | None,
    installation_id: int | None,
    now: Callable[[], float],
) -> Snapshot:
    stamp = captured_at(now())
    repo_future = work.repo()
    files_future = work._once("files", work.repository_files)
    threads_future = work._once("threads", lambda: work.discover(target_kind, number))
    repository = await repo_future  # an unreachable repository fails the job before the rest
    threads = await threads_future
    event_runs = await work.issue_event_runs(threads)

    issues: list[Json] = []
    for n in (*threads.work_issues, *threads.referenced):
        issue, comments, timeline = await asyncio.gather(
            work.issue(n), work.comments(n), work.timeline(n)
        )
        issues.append({"issue": issue, "comments": comments, "timeline": timeline})

    pulls: list[Json] = []
    placed: set[int] = set()
    for n in threads.pulls:
        # Every one of these is already under way; awaiting them in turn costs no time.
        pull = await work.pull(n)
        files, commits = await work.pr_files(n), await work.pr_commits(n)
        check_runs, runs = await work.ci(n)
        _note_caps(work, pull, files, commits)
        entries: list[Json] = []
        for run, attempts in runs:
            if int(run["id"]) not in placed:
                placed.add(int(run["id"]))
                entries.extend(_run_entries(attempts))
        pulls.append(
            {
                "pull": pull,
                "comments": await work.comments(n),
                "timeline": await work.timeline(n),
                "reviews": await work.reviews(n),
                "review_comments": await work.review_comments(n),
                "files": files,
                "commits": commits,
                "check_runs": check_runs,
                "workflow_runs": entries,
            }
        )

    # Runs an issue event started carry no PR: each goes with the PR it opened or worked on.
    by_number = {int(p["pull"]["number"]): p for p in pulls}
    issue_runs: dict[int, list[Json]] = {}
    for thread, run in event_runs:
        if int(run["id"]) in placed:
            continue
        placed.add(int(run["id"]))
        attempts = await work.run_evidence(run)
        home = (
            thread if thread in by_number else links.pull_for_run(run, [p["pull"] for p in pulls])
        )
        if home is not None:
            by_number[home]["workflow_runs"].extend(_run_entries(attempts))
        else:
            issue_runs.setdefault(thread, []).extend(_run_entries(attempts))
    for pull_entry in pulls:
        pull_entry["workflow_runs"].sort(key=_run_order)
    for issue_entry in issues:
        extra = issue_runs.get(_number(issue_entry["issue"]))
        if extra:
            # Extension: an issue whose agent runs opened no PR keeps them here (same shape as a PR's).
            issue_entry["workflow_runs"] = sorted(extra, key=_run_order)

    every_run = [r for p in pulls for r in p["workflow_runs"]] + [
        r for i in issues for r in i.get("workflow_runs", [])
    ]
    data: Json = {
        "format": "self-improve-snapshot/1",
        "captured_at": stamp,
        "repository": repository,
        "target": {"kind": threads.kind, "number": number},
        "issues": issues,
        "pull_requests": pulls,
        "agent_sessions": sessions_of(every_run),
        "previous_runs": [redact_json(dict(r)) for r in previous_runs],
        "files": await files_future,
        "gaps": [g.model_dump() for g in work.gaps],
        "truncated": list(dict.fromkeys(work.truncated)),
    }
    if installation_id is not None:
        data["installation"] = {"id": installation_id}
    if trigger is not None:
        data["trigger"] = redact_json(dict(trigger))
    return parse_snapshot(data, where=f"gathered {work.repository}#{number}")


def _note_caps(work: _Gathering, pull: Json, files: list[Json], commits: list[Json]) -> None:
    """GitHub's own list caps (3000 files, 250 commits) cut silently: compare with the PR's counts."""
    number = _number(pull)
    changed = int(pull.get("changed_files") or 0)
    if changed > len(files):
        work.truncated.append(f"pull #{number}: {len(files)} of {changed} changed files listed")
    total = int(pull.get("commits") or 0)
    if total > len(commits):
        work.truncated.append(f"pull #{number}: {len(commits)} of {total} commits listed")
