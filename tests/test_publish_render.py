"""What the check run and the sticky comment show, rendered from a diagnosis (pure, no I/O)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, get_args

import pytest

from app.diagnosis.model import Diagnosis
from app.publish.limits import (
    MAX_ACTION_DESCRIPTION,
    MAX_ACTION_IDENTIFIER,
    MAX_ACTION_LABEL,
    MAX_ACTIONS,
    MAX_COMMENT,
    MAX_OUTPUT_TEXT,
)
from app.publish.render import (
    MARKER,
    Phase,
    annotations_for,
    cell,
    check_buttons,
    conclusion_for,
    evidence_table,
    phase_output,
    render_check_report,
    render_comment,
    render_failure_comment,
    render_failure_report,
)
from app.snapshot import Gap, Snapshot, load_snapshot

SMALL = Path(__file__).parent / "fixtures" / "snapshots" / "small.json"
PR = "https://github.com/acme/widgets/pull/13"
JOB = "https://github.com/acme/widgets/actions/runs/9001/job/7001"
BLOB = "https://github.com/acme/widgets/blob/main"
CHECK_URL = "https://github.com/acme/widgets/runs/5"


def evidence(eid: str, kind: str, url: str, excerpt: str = "", author: str | None = None) -> dict:
    return {
        "id": eid,
        "kind": kind,
        "url": url,
        "author": author,
        "created_at": "2026-11-20T09:00:00Z",
        "excerpt": excerpt,
    }


def item(aid: str, title: str, refs: list[str], category: str = "instructions") -> dict:
    return {
        "id": aid,
        "category": category,
        "title": title,
        "problem": "It happened again and again.",
        "proposal": "Write the rule down.",
        "target_path": "AGENTS.md",
        "evidence_refs": refs,
        "confidence": 0.8,
        "rule": "Run `ruff check .` before every push.",
    }


def make_diagnosis(items: list[dict] | None = None, **extra: Any) -> dict[str, Any]:
    refs = [
        evidence(
            "E1",
            "review_comment",
            f"{PR}#discussion_r2500000401",
            "Please run the linter.",
            "octo-owner",
        ),
        evidence("E2", "job_log", f"{JOB}#step:4:12", "./widgets/export.py:14:5: E501 too long"),
        evidence("E3", "file", f"{BLOB}/widgets/export.py#L20-L22", "def export(rows):"),
        evidence("E4", "issue_comment", "https://github.com/acme/widgets/issues/12#issuecomment-1"),
        evidence("E5", "file", f"{BLOB}/README.md#L3", "Install with pip"),
    ]
    diagnosis = {
        "format": "self-improve-diagnosis/1",
        "target": {"repository": "acme/widgets", "kind": "pull_request", "number": 13, "url": PR},
        "role": "km",
        "engine": "heuristic",
        "diagnosis": "The agent pushed without running the linter three times.",
        "action_items": items
        if items is not None
        else [
            item("A1", "Run the linter before every push", ["E1", "E2"]),
            item("A2", "Keep export.py readable", ["E3", "E4", "E5"], "docs"),
        ],
        "evidence_refs": refs,
        "tool_gaps": [
            {"tool": "ruff", "reason": "`ruff: command not found`", "evidence_refs": ["E2"]}
        ],
        **extra,
    }
    Diagnosis.model_validate(diagnosis)  # the fixture itself is a valid diagnosis
    return diagnosis


def pr_snapshot() -> Snapshot:
    snapshot = load_snapshot(SMALL)
    return snapshot.model_copy(
        update={"target": snapshot.target.model_copy(update={"kind": "pull_request", "number": 13})}
    )


# Check run. -------------------------------------------------------------------------------------


def test_report_with_action_items_is_neutral_with_both_buttons() -> None:
    """Items to review: neutral, the diagnosis as summary, how to approve, Apply and Re-run."""
    report = render_check_report(make_diagnosis(), pr_snapshot(), locale="en")
    assert report.conclusion == "neutral"
    assert report.output.title == "2 action item(s) to review"
    summary = report.output.summary
    assert "The agent pushed without running the linter" in summary
    assert "Run the linter before every push" in summary
    assert "`/self-improve apply A1 A2`" in summary and "**Apply** on this check run" in summary
    assert [a["identifier"] for a in report.actions] == ["apply", "rerun"]
    assert report.output.text is not None and f"[E1]({PR}#discussion_r2500000401)" in (
        report.output.text
    )


def test_report_without_items_is_success_with_rerun_only() -> None:
    """Nothing recurring: success, no Apply button, a hint how to run again."""
    diagnosis = make_diagnosis(items=[], tool_gaps=[])
    report = render_check_report(diagnosis, pr_snapshot(), locale="en")
    assert (report.conclusion, report.output.title) == ("success", "No recurring problems found")
    assert [a["identifier"] for a in report.actions] == ["rerun"]
    assert "`/self-improve`" in report.output.summary
    assert report.annotations == ()


def test_russian_report() -> None:
    """A Russian repository gets Russian titles, buttons and instructions."""
    report = render_check_report(make_diagnosis(), pr_snapshot(), locale="ru")
    assert report.output.title == "Пунктов к рассмотрению: 2"
    assert "Как применить" in report.output.summary
    assert [a["label"] for a in report.actions] == ["Применить", "Перезапустить"]
    assert "Свидетельства" in (report.output.text or "")


@pytest.mark.parametrize("locale", ["en", "ru", "de", None])
@pytest.mark.parametrize("can_apply", [True, False])
def test_buttons_are_within_githubs_limits(locale: str | None, can_apply: bool) -> None:
    """Every locale's buttons fit: ≤ 3 actions, label ≤ 20, description ≤ 40, identifier ≤ 20."""
    buttons = check_buttons(locale, can_apply=can_apply)
    assert len(buttons) <= MAX_ACTIONS
    for button in buttons:
        assert 0 < len(button["label"]) <= MAX_ACTION_LABEL
        assert not button["label"].endswith("…"), "a label should fit without clipping"
        assert 0 < len(button["description"]) <= MAX_ACTION_DESCRIPTION
        assert not button["description"].endswith("…")
        assert 0 < len(button["identifier"]) <= MAX_ACTION_IDENTIFIER


@pytest.mark.parametrize("locale", ["en", "ru"])
@pytest.mark.parametrize("phase", get_args(Phase))
def test_every_phase_has_words(locale: str, phase: Phase) -> None:
    """Each phase shows a title and a summary in each locale."""
    output = phase_output(phase, locale)
    assert output.title.endswith("…") and output.summary


@pytest.mark.parametrize(
    ("items", "conclusion"), [([], "success"), ([item("A1", "x", ["E1"])], "neutral")]
)
def test_conclusion(items: list[dict], conclusion: str) -> None:
    """Action items make the run neutral (something to review); none make it a success."""
    assert conclusion_for(make_diagnosis(items=items)) == conclusion


def test_a_huge_diagnosis_is_clipped_with_a_notice() -> None:
    """A 100k-character diagnosis fits the summary and the comment, each saying it was cut."""
    diagnosis = make_diagnosis(diagnosis="word " * 20_000)
    report = render_check_report(diagnosis, pr_snapshot(), locale="en")
    assert len(report.output.summary) <= MAX_OUTPUT_TEXT
    assert "**Truncated**" in report.output.summary
    comment = render_comment(diagnosis, locale="en", check_url=CHECK_URL)
    assert len(comment) <= MAX_COMMENT < 65_536
    assert comment.startswith(MARKER) and "**Truncated**" in comment


def test_failure_report_quotes_the_reason_and_names_the_permission() -> None:
    """A failed run: conclusion failure, the reason quoted (HTML escaped), what to grant, Re-run."""
    report = render_failure_report(
        "403 Resource not accessible <b>by integration</b>",
        locale="en",
        missing_permission="actions=read",
    )
    assert (report.conclusion, report.output.title) == ("failure", "The run failed")
    assert "> 403 Resource not accessible &lt;b&gt;by integration&lt;/b&gt;" in (
        report.output.summary
    )
    assert "`actions=read`" in report.output.summary
    assert [a["identifier"] for a in report.actions] == ["rerun"]


# Evidence table. --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("a | b", "a \\| b"),
        ("line one\nline two", "line one line two"),
        ("<!-- self-improve:sticky -->", "&lt;!-- self-improve:sticky --&gt;"),
        ("ping @octo-owner now", "ping @\u2060octo-owner now"),
        (None, ""),
    ],
)
def test_cells_hold_untrusted_text_as_data(raw: str | None, expected: str) -> None:
    """Quoted text cannot break the table, inject HTML or markers, or notify people."""
    assert cell(raw) == expected


def test_evidence_table_lists_every_reference() -> None:
    """One row per evidence reference, linked, with kind, author and date."""
    table = evidence_table(make_diagnosis(), "en")
    rows = [line for line in table.splitlines() if line.startswith("| [E")]
    assert len(rows) == 5
    assert rows[0].startswith(f"| [E1]({PR}#discussion_r2500000401) | review_comment | octo-owner")
    assert "2026-11-20" in rows[0]


def test_evidence_table_without_evidence() -> None:
    """No evidence: a sentence instead of an empty table."""
    assert "No evidence was cited." in evidence_table(
        make_diagnosis(items=[], tool_gaps=[], evidence_refs=[]), "en"
    )


# Annotations. -----------------------------------------------------------------------------------


def test_annotations_sit_on_the_pull_requests_lines() -> None:
    """Review comments, `path:line` in logs and `#L` file links on PR files become annotations."""
    found = annotations_for(make_diagnosis(), pr_snapshot())
    assert [(a["path"], a["start_line"], a["end_line"]) for a in found] == [
        ("widgets/export.py", 3, 3),  # E1: the review comment's own line
        ("widgets/export.py", 14, 14),  # E2: `./widgets/export.py:14:5` in the job log
        ("widgets/export.py", 20, 22),  # E3: the file link's #L20-L22
    ]  # E4 has no line; E5 is README.md, not a file of the PR
    assert found[1]["title"] == "A1: Run the linter before every push; Tool gap: ruff"
    assert found[0]["message"] == f"Please run the linter.\n\n{PR}#discussion_r2500000401"
    assert {a["annotation_level"] for a in found} == {"warning"}


def test_an_issue_target_gets_no_annotations() -> None:
    """An issue's check run sits on the default branch: there are no PR lines to annotate."""
    assert annotations_for(make_diagnosis(), load_snapshot(SMALL)) == []
    assert annotations_for(make_diagnosis(), None) == []


def test_an_outdated_review_comment_is_not_annotated() -> None:
    """A review comment with no line on the head commit would point at the wrong line."""
    snapshot = pr_snapshot()
    data = snapshot.model_dump()
    for pr in data["pull_requests"]:
        for comment in pr["review_comments"]:
            comment["line"] = None
    found = annotations_for(make_diagnosis(), Snapshot.model_validate(data))
    assert ("widgets/export.py", 3, 3) not in [
        (a["path"], a["start_line"], a["end_line"]) for a in found
    ]


def test_evidence_nobody_cites_is_not_annotated() -> None:
    """Only evidence an action item or tool gap cites is worth a note on the diff."""
    diagnosis = make_diagnosis(items=[item("A1", "Only the issue", ["E4"])], tool_gaps=[])
    assert annotations_for(diagnosis, pr_snapshot()) == []


# Sticky comment. --------------------------------------------------------------------------------


def test_comment_begins_with_the_marker_and_says_how_to_approve() -> None:
    """Marker first, the diagnosis, the command with real ids, the check run's button, the run."""
    comment = render_comment(make_diagnosis(), locale="en", check_url=CHECK_URL, run_id=17)
    assert comment.startswith(MARKER + "\n")
    assert "| A1 | instructions | Run the linter before every push | `AGENTS.md` |" in comment
    assert f"[E1]({PR}#discussion_r2500000401)" in comment
    assert "`ruff`" in comment  # the tool gap
    assert "`/self-improve apply A1 A2`" in comment
    assert f"press **Apply** on [the check run]({CHECK_URL})" in comment
    assert "Run 17" in comment


def test_comment_without_checks_permission_names_it_and_offers_no_button() -> None:
    """Comment-only mode: the missing permission is named; no button that does not exist."""
    comment = render_comment(
        make_diagnosis(), locale="en", check_url=CHECK_URL, missing_permission="checks=write"
    )
    assert "`checks=write`" in comment
    assert "**Apply**" not in comment and CHECK_URL not in comment
    assert "`/self-improve apply A1 A2`" in comment


def test_comment_lists_evidence_that_could_not_be_read() -> None:
    """Gathering gaps are shown with the permission that would have filled them."""
    gaps = [
        Gap(
            what="GET /repos/acme/widgets/actions/jobs/7/logs",
            status=403,
            reason="Resource not accessible by integration",
            missing_permission="actions=read",
        )
    ]
    comment = render_comment(make_diagnosis(), locale="en", gaps=gaps)
    assert "Evidence that could not be read" in comment
    assert "`GET /repos/acme/widgets/actions/jobs/7/logs` 403" in comment
    assert "`actions=read`" in comment


def test_russian_comment() -> None:
    """The comment speaks the repository's language."""
    comment = render_comment(make_diagnosis(), locale="ru", check_url=CHECK_URL)
    assert "Как применить" in comment and "Диагностика self-improve" in comment


def test_comment_for_nothing_found_offers_a_rerun() -> None:
    """No items: no approval section, a way to run again."""
    comment = render_comment(make_diagnosis(items=[], tool_gaps=[]), locale="en")
    assert "/self-improve apply" not in comment and "`/self-improve`" in comment


def test_failure_comment() -> None:
    """A failed run's comment carries the marker, the quoted reason and how to retry."""
    comment = render_failure_comment(
        "GitHub answered 502\n<script>", locale="en", number=12, check_url=CHECK_URL, run_id=3
    )
    assert comment.startswith(MARKER)
    assert "the run on #12 failed" in comment
    assert "> GitHub answered 502\n> &lt;script&gt;" in comment
    assert "**Re-run**" in comment and "Run 3" in comment


def test_a_diagnosis_that_no_longer_validates_is_still_shown() -> None:
    """An old or partial stored diagnosis renders plainly instead of failing the publication."""
    diagnosis = copy.deepcopy(make_diagnosis())
    del diagnosis["target"]
    comment = render_comment(diagnosis, locale="en")
    assert "The agent pushed without running the linter" in comment
    assert "**A1** Run the linter before every push" in comment
