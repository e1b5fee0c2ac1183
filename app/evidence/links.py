"""How the threads of one target hang together: pure decisions over REST objects, no I/O.

Which pull requests an issue links to, which issues a pull request closes or its maintainers point
to, which workflow runs an issue event started, and which pull request a run belongs with. Text from
GitHub is only matched against fixed patterns here; nothing in it is followed as an instruction.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

Json = Mapping[str, Any]

# https://docs.github.com/en/issues/tracking-your-work-with-issues/using-issues/linking-a-pull-request-to-an-issue
_CLOSING = re.compile(
    r"(?i)(?<![\w-])(?:close[sd]?|fix(?:e[sd])?|resolve[sd]?)\s*:?\s+"
    r"(?:(?P<repo>[\w.-]+/[\w.-]+))?#(?P<number>\d+)\b"
)
_REFERENCE = re.compile(r"(?<![\w/#&])(?:(?P<repo>[\w.-]+/[\w.-]+))?#(?P<number>\d+)\b")
# People whose pointers we follow: an outsider's "#N" must not make us fetch arbitrary threads.
MAINTAINERS = frozenset({"OWNER", "MEMBER", "COLLABORATOR"})
# Runs that people start on a thread by labelling or commenting: how agent orchestrators, the
# Claude Code action and similar bots are invoked. Copilot's own sessions are `dynamic` runs.
ISSUE_EVENTS = ("issues", "issue_comment")
AGENT_EVENTS = frozenset({"dynamic", *ISSUE_EVENTS})
FAILED = frozenset({"failure", "timed_out", "startup_failure"})
_TRIGGER_WINDOW = 180.0  # seconds between a label and the run it started


def _same_repo(named: str | None, repository: str) -> bool:
    return named is None or named.lower() == repository.lower()


def closing_issue_numbers(body: str | None, repository: str) -> list[int]:
    """Issues a pull request body closes with a keyword (`Fixes #12`, `closes acme/widgets#12`)."""
    found: list[int] = []
    for m in _CLOSING.finditer(body or ""):
        number = int(m.group("number"))
        if _same_repo(m.group("repo"), repository) and number not in found:
            found.append(number)
    return found


def referenced_numbers(texts: Iterable[str | None], repository: str) -> list[int]:
    """Every `#N` / `owner/repo#N` of this repository in the texts, in order of first mention."""
    found: list[int] = []
    for text in texts:
        for m in _REFERENCE.finditer(text or ""):
            number = int(m.group("number"))
            if _same_repo(m.group("repo"), repository) and number not in found:
                found.append(number)
    return found


def maintainer_texts(objects: Iterable[Json]) -> list[str]:
    """Bodies written by the repository's maintainers (owner, members, collaborators)."""
    return [
        str(o.get("body") or "")
        for o in objects
        if str(o.get("author_association") or "").upper() in MAINTAINERS
    ]


def _repo_of_issue_url(url: str) -> str | None:
    # https://api.github.com/repos/OWNER/REPO/issues/N -> OWNER/REPO
    m = re.search(r"/repos/([^/]+/[^/]+)/(?:issues|pulls)/\d+$", url)
    return m.group(1) if m else None


def _source_issue(event: Json) -> Json | None:
    source = event.get("source")
    if not isinstance(source, Mapping):
        return None
    issue = source.get("issue")
    return issue if isinstance(issue, Mapping) else None


def _issue_repository(issue: Json) -> str | None:
    repo = issue.get("repository")
    if isinstance(repo, Mapping) and repo.get("full_name"):
        return str(repo["full_name"])
    repo_url = issue.get("repository_url")
    if isinstance(repo_url, str) and "/repos/" in repo_url:
        return repo_url.split("/repos/", 1)[1].strip("/")
    return _repo_of_issue_url(str(issue.get("url") or ""))


def linked_pull_numbers(timeline: Sequence[Json], repository: str) -> list[int]:
    """Pull requests of this repository that the timeline links: cross-references from a PR."""
    found: list[int] = []
    for event in timeline:
        if event.get("event") not in {"cross-referenced", "connected"}:
            continue
        issue = _source_issue(event)
        if issue is None or not issue.get("pull_request") or issue.get("number") is None:
            continue
        named = _issue_repository(issue)
        if named is not None and named.lower() != repository.lower():
            continue
        number = int(issue["number"])
        if number not in found:
            found.append(number)
    return found


def linked_issue_numbers(timeline: Sequence[Json], repository: str) -> list[int]:
    """Issues of this repository that a pull request's timeline says it was `connected` to.

    (An issue that merely mentions the PR shows up as `cross-referenced`; that is not a link.)
    """
    found: list[int] = []
    for event in timeline:
        if event.get("event") != "connected":
            continue
        issue = _source_issue(event) or event.get("subject")
        if (
            not isinstance(issue, Mapping)
            or issue.get("pull_request")
            or issue.get("number") is None
        ):
            continue
        named = _issue_repository(issue)
        if named is not None and named.lower() != repository.lower():
            continue
        number = int(issue["number"])
        if number not in found:
            found.append(number)
    return found


def epoch(stamp: Any) -> float | None:
    """Seconds since the epoch of GitHub's `2026-01-01T00:00:00Z`, or None for anything else."""
    if not isinstance(stamp, str) or not stamp:
        return None
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _mentions(title: str, number: int) -> bool:
    return re.search(rf"(?<![\w&])#{number}(?!\d)", title) is not None


def run_thread(
    run: Json, threads: Mapping[int, Json], timelines: Mapping[int, Sequence[Json]]
) -> int | None:
    """The thread (issue or PR number) an issue-event run was started on, or None.

    GitHub puts no issue number on a run, so the run is matched by its title (`agent: dev #88`, or
    the issue's own title, GitHub's default for issue events) or by starting within minutes of a
    label that the same person put on the thread.
    """
    if run.get("event") not in ISSUE_EVENTS:
        return None
    title = str(run.get("display_title") or "")
    for number in sorted(threads):
        if _mentions(title, number):
            return number
    for number, thread in sorted(threads.items()):
        if title and title == str(thread.get("title") or ""):
            return number
    started = epoch(run.get("run_started_at") or run.get("created_at"))
    actor = (run.get("triggering_actor") or run.get("actor") or {}).get("login")
    if started is None or actor is None:
        return None
    for number in sorted(timelines):
        for event in timelines[number]:
            if event.get("event") != "labeled" or (event.get("actor") or {}).get("login") != actor:
                continue
            at = epoch(event.get("created_at"))
            if at is not None and 0 <= started - at <= _TRIGGER_WINDOW:
                return number
    return None


def pull_for_run(run: Json, pulls: Sequence[Json]) -> int | None:
    """Which pull request an issue's agent run belongs with: the first one opened after the run
    started (the run opened it), else the newest one (the run worked on it); None without pulls."""
    if not pulls:
        return None
    started = epoch(run.get("run_started_at") or run.get("created_at")) or 0.0
    dated = sorted(pulls, key=lambda p: (epoch(p.get("created_at")) or 0.0, int(p["number"])))
    for pull in dated:
        if (epoch(pull.get("created_at")) or 0.0) >= started:
            return int(pull["number"])
    return int(dated[-1]["number"])


def wants_log(job: Json, run: Json) -> bool:
    """A job's log is worth downloading when the job failed, or when an agent ran in it."""
    if job.get("status") != "completed" and job.get("conclusion") is None:
        return False
    return job.get("conclusion") in FAILED or run.get("event") in AGENT_EVENTS


def check_run_failed(check_run: Json) -> bool:
    return check_run.get("conclusion") in FAILED or check_run.get("conclusion") == "action_required"


def has_annotations(check_run: Json) -> bool:
    """Whether listing annotations can return anything (`output.annotations_count`, when known)."""
    output = check_run.get("output")
    if not isinstance(output, Mapping) or "annotations_count" not in output:
        return True
    return int(output.get("annotations_count") or 0) > 0
