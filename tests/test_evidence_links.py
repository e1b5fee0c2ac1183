"""Which threads belong together and which runs and logs matter: pure decisions over REST objects."""

from __future__ import annotations

from typing import Any

import pytest

from app.evidence import links
from app.evidence.gather import artifact_wanted

REPO = "acme/widgets"


@pytest.mark.parametrize(
    ("body", "numbers"),
    [
        ("Fixes #12", [12]),
        ("closes acme/widgets#7 and Resolves #8", [7, 8]),
        ("fixed: #3", [3]),
        ("Fixes other/repo#5", []),
        ("Refs #12 (does not close)", []),
        ("prefixes #12", []),
        ("Fixes #12, fixes #12", [12]),
        (None, []),
    ],
)
def test_closing_keywords(body: str | None, numbers: list[int]) -> None:
    """GitHub's closing keywords link same-repository issues; `Refs` and other repos do not."""
    assert links.closing_issue_numbers(body, REPO) == numbers


def test_references_keep_order_and_skip_other_repos() -> None:
    """`#N` mentions of this repository come out once each, in order; anchors and other repos do not."""
    texts = ["see #497 and other/x#1", "again #497, then ACME/widgets#508", "color: &#35; page#3"]
    assert links.referenced_numbers(texts, REPO) == [497, 508]


def test_only_maintainers_texts_are_followed() -> None:
    """An outsider's comment cannot make us fetch threads: only OWNER/MEMBER/COLLABORATOR bodies."""
    objects: list[dict[str, Any]] = [
        {"author_association": "MEMBER", "body": "#1"},
        {"author_association": "NONE", "body": "#2"},
        {"author_association": "CONTRIBUTOR", "body": "#3"},
        {"author_association": "owner", "body": "#4"},
    ]
    assert links.maintainer_texts(objects) == ["#1", "#4"]


def _xref(
    number: int, *, pull: bool, repo: str = REPO, event: str = "cross-referenced"
) -> dict[str, Any]:
    issue: dict[str, Any] = {
        "number": number,
        "repository_url": f"https://api.github.com/repos/{repo}",
    }
    if pull:
        issue["pull_request"] = {"url": f"https://api.github.com/repos/{repo}/pulls/{number}"}
    return {"event": event, "source": {"type": "issue", "issue": issue}}


def test_linked_pulls_from_cross_references() -> None:
    """Cross-references from PRs of this repository link them; issues and other repos do not."""
    timeline = [
        {"event": "labeled"},
        _xref(13, pull=True),
        _xref(14, pull=False),
        _xref(15, pull=True, repo="someone/fork"),
        _xref(13, pull=True),
        _xref(16, pull=True, event="connected"),
    ]
    assert links.linked_pull_numbers(timeline, REPO) == [13, 16]


def test_connected_issues_link_but_mentions_do_not() -> None:
    """A PR's `connected` issue is linked; an issue that merely cross-references the PR is not."""
    timeline = [_xref(12, pull=False, event="connected"), _xref(20, pull=False)]
    assert links.linked_issue_numbers(timeline, REPO) == [12]


def _run(**fields: Any) -> dict[str, Any]:
    base = {
        "id": 1,
        "event": "issues",
        "display_title": "agent",
        "created_at": "2026-11-03T08:30:25Z",
    }
    return {**base, **fields}


THREADS = {88: {"title": "Money.parse ignores minor units"}, 90: {"title": "feat: money"}}


@pytest.mark.parametrize(
    ("run", "thread"),
    [
        (_run(display_title="agent: dev #88"), 88),
        (_run(display_title="agent: dev #880"), None),
        (_run(display_title="Money.parse ignores minor units"), 88),
        (_run(event="issue_comment", display_title="claude #90"), 90),
        (_run(event="pull_request", display_title="agent: dev #88"), None),
    ],
)
def test_issue_event_runs_match_their_thread(run: dict[str, Any], thread: int | None) -> None:
    """An issue-event run is matched by `#N` in its title or the thread's title; other events never."""
    assert links.run_thread(run, THREADS, {}) == thread


def test_issue_event_run_matched_by_a_label_minutes_before() -> None:
    """Without a title match, a label by the same person shortly before the run links it."""
    timeline = {
        88: [
            {
                "event": "labeled",
                "actor": {"login": "priya"},
                "created_at": "2026-11-03T08:30:02Z",
            }
        ]
    }
    run = _run(triggering_actor={"login": "priya"})
    assert links.run_thread(run, THREADS, timeline) == 88
    late = _run(triggering_actor={"login": "priya"}, created_at="2026-11-03T09:30:00Z")
    assert links.run_thread(late, THREADS, timeline) is None
    other = _run(triggering_actor={"login": "mallory"})
    assert links.run_thread(other, THREADS, timeline) is None


PULLS = [
    {"number": 90, "created_at": "2026-11-03T08:58:40Z"},
    {"number": 93, "created_at": "2026-11-03T14:05:12Z"},
]


@pytest.mark.parametrize(
    ("started", "pull"),
    [
        ("2026-11-03T08:30:25Z", 90),  # opened PR 90
        ("2026-11-03T13:42:40Z", 93),  # opened PR 93
        ("2026-11-04T09:00:00Z", 93),  # after every PR: worked on the newest
    ],
)
def test_issue_runs_go_with_the_pull_they_opened(started: str, pull: int) -> None:
    """A run on an issue goes with the first PR opened after it started, else the newest PR."""
    assert links.pull_for_run({"created_at": started}, PULLS) == pull
    assert links.pull_for_run({"created_at": started}, []) is None


@pytest.mark.parametrize(
    ("job", "event", "wanted"),
    [
        ({"status": "completed", "conclusion": "failure"}, "pull_request", True),
        ({"status": "completed", "conclusion": "timed_out"}, "push", True),
        ({"status": "completed", "conclusion": "success"}, "pull_request", False),
        ({"status": "completed", "conclusion": "success"}, "dynamic", True),
        ({"status": "completed", "conclusion": "success"}, "issues", True),
        ({"status": "in_progress", "conclusion": None}, "dynamic", False),
        ({"status": "completed", "conclusion": "skipped"}, "pull_request", False),
    ],
)
def test_which_logs_are_downloaded(job: dict[str, Any], event: str, wanted: bool) -> None:
    """Logs of failed jobs and of agent runs (Copilot `dynamic`, issue events) are downloaded."""
    assert links.wants_log(job, {"event": event}) is wanted


@pytest.mark.parametrize(
    ("check_run", "fetch"),
    [
        ({"conclusion": "failure", "output": {"annotations_count": 2}}, True),
        ({"conclusion": "failure", "output": {"annotations_count": 0}}, False),
        ({"conclusion": "failure", "output": {}}, True),
        ({"conclusion": "success", "output": {"annotations_count": 3}}, False),
    ],
)
def test_annotations_only_where_they_can_exist(check_run: dict[str, Any], fetch: bool) -> None:
    """Annotations are listed for failed runs whose count is not known to be zero."""
    assert (links.check_run_failed(check_run) and links.has_annotations(check_run)) is fetch


@pytest.mark.parametrize(
    ("name", "wanted"),
    [
        ("codex-session-88", True),
        ("Claude-Transcript", True),
        ("coverage", False),
        ("codex-x", True),
    ],
)
def test_artifact_globs_match_names_case_insensitively(name: str, wanted: bool) -> None:
    """Artifact names are matched against the configured globs without regard to case."""
    globs = ("*session*", "*transcript*", "codex-*", "claude-*")
    assert artifact_wanted(name, globs) is wanted


@pytest.mark.parametrize(
    ("stamp", "expected"),
    [("2026-01-01T00:00:00Z", 1767225600.0), ("nonsense", None), (None, None), ("", None)],
)
def test_epoch(stamp: Any, expected: float | None) -> None:
    """GitHub timestamps parse to epoch seconds; anything else is None."""
    assert links.epoch(stamp) == expected
