"""What people see (pure): the check run's output, buttons and annotations, and the sticky comment.

Everything here is a function of a diagnosis dict (`self-improve-diagnosis/1`), the snapshot it came
from and a locale. Text quoted from GitHub is shown as data: escaped in tables, never followed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

from pydantic import ValidationError

from app.diagnosis.model import Diagnosis
from app.diagnosis.render import render_markdown
from app.publish.limits import (
    MAX_COMMENT,
    MAX_OUTPUT_TEXT,
    MAX_OUTPUT_TITLE,
    check_action,
    clip_annotation,
    clip_markdown,
    clip_text,
)
from app.snapshot import Gap, Snapshot

MARKER = "<!-- self-improve:sticky -->"
APPLY, RERUN = "apply", "rerun"

Locale = Literal["en", "ru"]
Phase = Literal["starting", "gathering", "diagnosing", "publishing"]
Conclusion = Literal["success", "neutral", "failure"]

# Vocabulary: every phrase a person reads, per locale. -------------------------------------------

TEXT: Mapping[str, Mapping[str, str]] = {
    "en": {
        "title.items": "{n} action item(s) to review",
        "title.none": "No recurring problems found",
        "title.failed": "The run failed",
        "phase.starting": "Starting…",
        "phase.starting.summary": "Checking the preconditions.",
        "phase.gathering": "Gathering evidence…",
        "phase.gathering.summary": "Reading the thread, reviews, CI runs, job logs and agent sessions.",
        "phase.diagnosing": "Diagnosing…",
        "phase.diagnosing.summary": "Looking for problems that recur across the agent's runs.",
        "phase.publishing": "Publishing…",
        "phase.publishing.summary": "Writing the report.",
        "button.apply": "Apply",
        "button.apply.description": "Open a PR with every action item",
        "button.rerun": "Re-run",
        "button.rerun.description": "Diagnose this target again",
        "heading.failed": "self-improve: the run on #{number} failed",
        "approve.heading": "How to apply",
        "approve.body": "Reply with `/self-improve apply {example}` naming the action items you "
        "approve (or `/self-improve apply` for all of them){button}. The app then opens one pull "
        "request that changes the files named above.",
        "approve.button": ", or press **Apply** on {check}",
        "check": "the check run",
        "check.this": "this check run",
        "rerun": "To diagnose again, comment `/self-improve`{button}.",
        "rerun.button": " or press **Re-run** on {check}",
        "failed.body": "The run stopped before it could publish a diagnosis. The reason:",
        "permission.checks": "The app could not write a check run: it lacks the `{permission}` "
        "permission, so this comment is the whole report. Grant the permission in the App's "
        "installation settings to get the check run and its buttons.",
        "permission.generic": "The app lacks the `{permission}` permission; grant it in the App's "
        "installation settings.",
        "gaps.heading": "Evidence that could not be read",
        "gaps.permission": " (missing permission: `{permission}`)",
        "evidence.heading": "Evidence",
        "evidence.columns": "| Id | Kind | Author | Date | Excerpt |",
        "evidence.none": "No evidence was cited.",
        "footer.norun": "This comment is updated in place by every run.",
        "footer.run": "Run {run} · this comment is updated in place by every run.",
        "annotation.gap": "Tool gap: {tool}",
        "report.refused": "GitHub refused the full report; it is in the issue's self-improve "
        "comment and in the run history.",
    },
    "ru": {
        "title.items": "Пунктов к рассмотрению: {n}",
        "title.none": "Повторяющихся проблем не найдено",
        "title.failed": "Запуск завершился ошибкой",
        "phase.starting": "Запуск…",
        "phase.starting.summary": "Проверка условий запуска.",
        "phase.gathering": "Сбор данных…",
        "phase.gathering.summary": "Читаю обсуждение, ревью, запуски CI, логи заданий и сессии агента.",
        "phase.diagnosing": "Диагностика…",
        "phase.diagnosing.summary": "Ищу проблемы, которые повторяются в работе агента.",
        "phase.publishing": "Публикация…",
        "phase.publishing.summary": "Пишу отчёт.",
        "button.apply": "Применить",
        "button.apply.description": "Открыть PR со всеми пунктами",
        "button.rerun": "Перезапустить",
        "button.rerun.description": "Заново провести диагностику",
        "heading.failed": "self-improve: запуск для #{number} завершился ошибкой",
        "approve.heading": "Как применить",
        "approve.body": "Ответьте `/self-improve apply {example}`, перечислив одобренные пункты "
        "(или `/self-improve apply` для всех){button}. Приложение откроет один pull request с "
        "изменениями в указанных файлах.",
        "approve.button": ", либо нажмите **Применить** в {check}",
        "check": "проверке",
        "check.this": "этой проверке",
        "rerun": "Чтобы провести диагностику заново, напишите `/self-improve`{button}.",
        "rerun.button": " или нажмите **Перезапустить** в {check}",
        "failed.body": "Запуск остановился, не успев опубликовать диагностику. Причина:",
        "permission.checks": "Приложение не смогло создать проверку (check run): у него нет "
        "разрешения `{permission}`, поэтому весь отчёт — в этом комментарии. Выдайте разрешение в "
        "настройках установки приложения, чтобы получить проверку и её кнопки.",
        "permission.generic": "У приложения нет разрешения `{permission}`; выдайте его в настройках "
        "установки приложения.",
        "gaps.heading": "Данные, которые не удалось прочитать",
        "gaps.permission": " (нет разрешения `{permission}`)",
        "evidence.heading": "Свидетельства",
        "evidence.columns": "| Id | Вид | Автор | Дата | Фрагмент |",
        "evidence.none": "Свидетельств не приведено.",
        "footer.norun": "Комментарий обновляется при каждом запуске.",
        "footer.run": "Запуск {run} · комментарий обновляется при каждом запуске.",
        "annotation.gap": "Не хватает инструмента: {tool}",
        "report.refused": "GitHub не принял полный отчёт; он есть в комментарии self-improve и в "
        "истории запусков.",
    },
}


def locale_of(locale: str | None) -> Locale:
    return "ru" if locale == "ru" else "en"


def phrase(locale: str | None, key: str, **values: Any) -> str:
    return TEXT[locale_of(locale)][key].format(**values)


# Check run. -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckOutput:
    """A check run's `output` without annotations (those go in batches, see `app.publish.checks`)."""

    title: str
    summary: str
    text: str | None = None

    def as_api(self, annotations: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any]:
        """The `output` object of a create/update body, clipped to GitHub's limits."""
        body: dict[str, Any] = {
            "title": clip_text(self.title, MAX_OUTPUT_TITLE),
            "summary": clip_markdown(self.summary, MAX_OUTPUT_TEXT),
        }
        if self.text is not None:
            body["text"] = clip_markdown(self.text, MAX_OUTPUT_TEXT)
        if annotations:
            body["annotations"] = [clip_annotation(a) for a in annotations]
        return body


@dataclass(frozen=True)
class CheckReport:
    """Everything the completed check run shows: conclusion, output, annotations and buttons."""

    conclusion: Conclusion
    output: CheckOutput
    annotations: tuple[dict[str, Any], ...] = ()
    actions: tuple[dict[str, str], ...] = field(default_factory=tuple)


def action_items(diagnosis: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    items = diagnosis.get("action_items")
    return [i for i in items if isinstance(i, Mapping)] if isinstance(items, list) else []


def conclusion_for(diagnosis: Mapping[str, Any]) -> Conclusion:
    """`neutral` when there is something to review (not a failure), `success` when there is nothing."""
    return "neutral" if action_items(diagnosis) else "success"


def phase_output(phase: Phase, locale: str | None) -> CheckOutput:
    return CheckOutput(phrase(locale, f"phase.{phase}"), phrase(locale, f"phase.{phase}.summary"))


def check_buttons(locale: str | None, *, can_apply: bool) -> tuple[dict[str, str], ...]:
    """`Apply` (when there are items to apply) and `Re-run`, within GitHub's button limits."""
    buttons = []
    if can_apply:
        buttons.append(
            check_action(
                phrase(locale, "button.apply"), phrase(locale, "button.apply.description"), APPLY
            )
        )
    buttons.append(
        check_action(
            phrase(locale, "button.rerun"), phrase(locale, "button.rerun.description"), RERUN
        )
    )
    return tuple(buttons)


def render_check_report(
    diagnosis: Mapping[str, Any], snapshot: Snapshot | None, *, locale: str | None
) -> CheckReport:
    """The completed check run of a diagnosis: the report as summary, the evidence as text."""
    items = action_items(diagnosis)
    title = phrase(locale, "title.items", n=len(items)) if items else phrase(locale, "title.none")
    summary = "\n\n".join(
        [
            diagnosis_markdown(diagnosis, locale),
            approval_text(diagnosis, locale, buttons=phrase(locale, "check.this")),
        ]
    )
    output = CheckOutput(
        title=title,
        summary=clip_markdown(summary, MAX_OUTPUT_TEXT, locale_of(locale)),
        text=clip_markdown(evidence_table(diagnosis, locale), MAX_OUTPUT_TEXT, locale_of(locale)),
    )
    return CheckReport(
        conclusion=conclusion_for(diagnosis),
        output=output,
        annotations=tuple(annotations_for(diagnosis, snapshot, locale=locale)),
        actions=check_buttons(locale, can_apply=bool(items)),
    )


def render_failure_report(
    reason: str, *, locale: str | None, missing_permission: str | None = None
) -> CheckReport:
    """The check run of a run that failed: the reason, what to grant if a permission was missing."""
    parts = [phrase(locale, "failed.body"), quote_block(reason)]
    if missing_permission:
        parts.append(phrase(locale, "permission.generic", permission=missing_permission))
    summary = "\n\n".join(parts)
    return CheckReport(
        conclusion="failure",
        output=CheckOutput(
            phrase(locale, "title.failed"),
            clip_markdown(summary, MAX_OUTPUT_TEXT, locale_of(locale)),
        ),
        actions=check_buttons(locale, can_apply=False),
    )


# The diagnosis as markdown. ---------------------------------------------------------------------


def diagnosis_markdown(diagnosis: Mapping[str, Any], locale: str | None) -> str:
    """The diagnosis text, its action items and tool gaps, as the diagnosis module renders them.

    A stored diagnosis that no longer validates (an older format) is still shown, plainly, rather
    than failing the publication.
    """
    try:
        model = Diagnosis.model_validate(diagnosis)
    except ValidationError:
        return _plain_markdown(diagnosis)
    return render_markdown(model, locale_of(locale)).rstrip()


def _plain_markdown(diagnosis: Mapping[str, Any]) -> str:
    lines = [quote_block(str(diagnosis.get("diagnosis") or ""), limit=20_000), ""]
    for item in action_items(diagnosis):
        target = cell(item.get("target_path"), 200)
        lines.append(f"- **{cell(item.get('id'), 20)}** {cell(item.get('title'))} (`{target}`)")
    return "\n".join(lines)


def approval_text(diagnosis: Mapping[str, Any], locale: str | None, *, buttons: str | None) -> str:
    """How to approve (when there is something to approve), else how to run again.

    `buttons` names where the Apply/Re-run buttons are (a link to the check run, or "this check
    run"); None when there is no check run to point at.
    """
    items = action_items(diagnosis)
    if not items:
        button = phrase(locale, "rerun.button", check=buttons) if buttons else ""
        return phrase(locale, "rerun", button=button)
    ids = [str(i.get("id")) for i in items if i.get("id")]
    example = " ".join(ids[:2]) if ids else "A1"
    button = phrase(locale, "approve.button", check=buttons) if buttons else ""
    return "\n\n".join(
        [
            f"### {phrase(locale, 'approve.heading')}",
            phrase(locale, "approve.body", example=example, button=button),
        ]
    )


def check_link(locale: str | None, check_url: str | None) -> str | None:
    """The words "the check run" linked to it, or None without a URL."""
    return link(phrase(locale, "check"), check_url) if check_url else None


# Evidence. --------------------------------------------------------------------------------------

_CELL_BREAKS = re.compile(r"\s+")


def cell(text: Any, limit: int = 300) -> str:
    """Text safe inside one markdown table cell: one line, pipes and HTML escaped, no mentions."""
    flat = _CELL_BREAKS.sub(" ", str(text or "")).strip()
    flat = clip_text(flat, limit)
    flat = flat.replace("\\", "\\\\").replace("|", "\\|")
    flat = flat.replace("<", "&lt;").replace(">", "&gt;")
    # A word joiner (U+2060) after "@" keeps quoted text from notifying people it names.
    return flat.replace("@", "@\u2060")


def link(label: str, url: str | None) -> str:
    if not url or not url.startswith(("https://", "http://")):
        return label
    return f"[{label}]({url.replace(')', '%29').replace(' ', '%20')})"


def evidence_refs(diagnosis: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    refs = diagnosis.get("evidence_refs")
    return [r for r in refs if isinstance(r, Mapping)] if isinstance(refs, list) else []


def evidence_table(diagnosis: Mapping[str, Any], locale: str | None) -> str:
    """The cited evidence as a table: id (linked), kind, author, date and the excerpt."""
    refs = evidence_refs(diagnosis)
    lines = [f"## {phrase(locale, 'evidence.heading')}", ""]
    if not refs:
        return "\n".join([*lines, phrase(locale, "evidence.none")])
    lines += [phrase(locale, "evidence.columns"), "|---|---|---|---|---|"]
    for ref in refs:
        author = ref.get("author")
        lines.append(
            "| "
            + " | ".join(
                [
                    link(cell(ref.get("id"), 20), ref.get("url")),
                    cell(ref.get("kind"), 40),
                    cell(author, 60) if author else "",
                    cell(str(ref.get("created_at") or "")[:10], 10),
                    cell(ref.get("excerpt")),
                ]
            )
            + " |"
        )
    return "\n".join(lines)


def quote_block(text: str, limit: int = 2000) -> str:
    """Untrusted text as a markdown quote: clipped, HTML escaped, every line quoted."""
    clipped = clip_text(text.strip(), limit).replace("<", "&lt;").replace(">", "&gt;")
    return "\n".join(f"> {line}" for line in clipped.splitlines() or [""])


# Annotations: evidence that sits on a line of the pull request's files. -------------------------

_FILE_LINE = re.compile(r"(?<![\w/.-])((?:[\w.-]+/)*[\w.-]+\.[A-Za-z0-9]+):(\d{1,7})\b")
_LINE_FRAGMENT = re.compile(r"^L(\d+)(?:-L(\d+))?$")


@dataclass(frozen=True)
class Location:
    path: str
    start_line: int
    end_line: int


def target_pull(snapshot: Snapshot) -> Mapping[str, Any] | None:
    """The target pull request's evidence (pull, files, review comments), when the target is one."""
    if snapshot.target.kind != "pull_request":
        return None
    for pr in snapshot.pull_requests:
        if pr.pull.get("number") == snapshot.target.number:
            return {"files": pr.files, "review_comments": pr.review_comments}
    return None


def _match_file(candidate: str, files: frozenset[str]) -> str | None:
    """The PR file a path names: exactly, or as the tail of an absolute or prefixed path."""
    path = candidate.removeprefix("./")
    if path in files:
        return path
    for name in files:
        if path.endswith("/" + name):
            return name
    return None


def _locate(
    ref: Mapping[str, Any], files: frozenset[str], review_lines: Mapping[str, Location]
) -> Location | None:
    url = str(ref.get("url") or "")
    if url in review_lines:
        return review_lines[url]
    parts = urlsplit(url)
    if "/blob/" in parts.path:
        path = _match_file(unquote(parts.path.split("/blob/", 1)[1]), files)
        lines = _LINE_FRAGMENT.match(parts.fragment)
        if path is not None and lines is not None:
            start = int(lines.group(1))
            return Location(path, start, int(lines.group(2) or start))
    for found in _FILE_LINE.finditer(str(ref.get("excerpt") or "")):
        path = _match_file(found.group(1), files)
        if path is not None and int(found.group(2)) > 0:
            line = int(found.group(2))
            return Location(path, line, line)
    return None


def _review_lines(review_comments: Sequence[Mapping[str, Any]]) -> dict[str, Location]:
    found = {}
    for comment in review_comments:
        url, path, line = comment.get("html_url"), comment.get("path"), comment.get("line")
        # `line` is on the head commit; an outdated comment has none and would point at the wrong line.
        if isinstance(url, str) and isinstance(path, str) and isinstance(line, int) and line > 0:
            start = comment.get("start_line")
            first = start if isinstance(start, int) and 0 < start <= line else line
            found[url] = Location(path, first, line)
    return found


def annotations_for(
    diagnosis: Mapping[str, Any], snapshot: Snapshot | None, *, locale: str | None = None
) -> list[dict[str, Any]]:
    """One annotation per cited piece of evidence that lies on a line of the target PR's files.

    Review comments give their own path and lines; file references their `#L` fragment; logs and
    annotations a `path:line` in their excerpt. Titles name the action items (or tool gaps) citing it.
    """
    pull = target_pull(snapshot) if snapshot is not None else None
    if pull is None:
        return []
    files = frozenset(str(f.get("filename")) for f in pull["files"] if f.get("filename"))
    review_lines = _review_lines(pull["review_comments"])
    citing: dict[str, list[str]] = {}
    for item in action_items(diagnosis):
        for eid in item.get("evidence_refs") or []:
            citing.setdefault(str(eid), []).append(f"{item.get('id')}: {item.get('title') or ''}")
    gaps = diagnosis.get("tool_gaps")
    for gap in gaps if isinstance(gaps, list) else []:
        if isinstance(gap, Mapping):
            for eid in gap.get("evidence_refs") or []:
                citing.setdefault(str(eid), []).append(
                    phrase(locale, "annotation.gap", tool=gap.get("tool"))
                )
    out: list[dict[str, Any]] = []
    seen: set[tuple[str, int, int]] = set()
    for ref in evidence_refs(diagnosis):
        location = _locate(ref, files, review_lines)
        by = citing.get(str(ref.get("id")))
        if location is None or not by:
            continue
        key = (location.path, location.start_line, location.end_line)
        if key in seen:
            continue
        seen.add(key)
        message = "\n\n".join(
            p for p in (str(ref.get("excerpt") or "").strip(), str(ref.get("url") or "")) if p
        )
        out.append(
            clip_annotation(
                {
                    "path": location.path,
                    "start_line": location.start_line,
                    "end_line": location.end_line,
                    "annotation_level": "warning",
                    "title": "; ".join(by),
                    "message": message or str(ref.get("kind") or "evidence"),
                }
            )
        )
    return out


# The sticky comment. ----------------------------------------------------------------------------


def _gap_lines(gaps: Sequence[Gap], locale: str | None) -> list[str]:
    lines = []
    for gap in gaps:
        status = f" {gap.status}" if gap.status else ""
        needs = (
            phrase(locale, "gaps.permission", permission=gap.missing_permission)
            if gap.missing_permission
            else ""
        )
        lines.append(f"- `{cell(gap.what, 200)}`{status}: {cell(gap.reason, 300)}{needs}")
    return lines


def _footer(locale: str | None, run_id: int | None) -> str:
    # The diagnosis' own rendering already names its engine.
    if run_id is None:
        return f"<sub>{phrase(locale, 'footer.norun')}</sub>"
    return f"<sub>{phrase(locale, 'footer.run', run=run_id)}</sub>"


def render_comment(
    diagnosis: Mapping[str, Any],
    *,
    locale: str | None,
    check_url: str | None = None,
    missing_permission: str | None = None,
    gaps: Sequence[Gap] = (),
    run_id: int | None = None,
) -> str:
    """The sticky comment: marker, the diagnosis, how to approve, what could not be read.

    `missing_permission` set means the check run could not be written: the comment says so and
    does not point at buttons that do not exist.
    """
    parts = [
        MARKER,
        diagnosis_markdown(diagnosis, locale),
        approval_text(
            diagnosis,
            locale,
            buttons=None if missing_permission else check_link(locale, check_url),
        ),
    ]
    if missing_permission:
        parts.append(
            f"> [!NOTE]\n> {phrase(locale, 'permission.checks', permission=missing_permission)}"
        )
    if gaps:
        parts.append(
            "\n".join([f"### {phrase(locale, 'gaps.heading')}", "", *_gap_lines(gaps, locale)])
        )
    parts.append(_footer(locale, run_id))
    return clip_markdown("\n\n".join(parts), MAX_COMMENT, locale_of(locale))


def render_failure_comment(
    reason: str,
    *,
    locale: str | None,
    number: int,
    check_url: str | None = None,
    missing_permission: str | None = None,
    run_id: int | None = None,
) -> str:
    """The sticky comment of a failed run: the reason and how to try again."""
    buttons = None if missing_permission else check_link(locale, check_url)
    button = phrase(locale, "rerun.button", check=buttons) if buttons else ""
    parts = [
        MARKER,
        f"## {phrase(locale, 'heading.failed', number=number)}",
        phrase(locale, "failed.body"),
        quote_block(reason),
        phrase(locale, "rerun", button=button),
    ]
    if missing_permission:
        parts.append(phrase(locale, "permission.generic", permission=missing_permission))
    parts.append(_footer(locale, run_id))
    return clip_markdown("\n\n".join(parts), MAX_COMMENT, locale_of(locale))
