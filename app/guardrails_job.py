"""The `self-improve/guardrails` check run: on every PR that touches the agents' instruction paths."""

from __future__ import annotations

import logging
from typing import Any

from app.deps import Deps
from app.guardrails import check_diff
from app.guardrails.diff import FileDiff, parse_diff
from app.guardrails.report import GuardrailReport, Violation
from app.repo_config import RepoConfig, RepoConfigError
from app.repo_files import FileUnreadable, read_repo_config, read_text
from app.routing import GUARDRAILS_CHECK_NAME, Trigger
from app.seeds import lint_seeds
from app.store.base import Job
from app.worker import PermanentError

log = logging.getLogger(__name__)

ANNOTATIONS_PER_REQUEST = 50  # GitHub's limit per create/update request
# Our seeds' catalogue rules (file names, section headings, the full matrix, no literal paths) do not
# bind a repository that writes its own seeds; secrets, broken placeholders and en/ru drift do.
FOREIGN_SEED_RULES = frozenset(
    {"secret", "placeholder-malformed", "placeholder-unknown", "pair-sections", "pair-policy"}
)


def unified_diff(files: list[dict[str, Any]]) -> str:
    """The PR's diff rebuilt from the files list (`patch` per file), in `git diff` form."""
    parts = []
    for f in files:
        new, old = f["filename"], f.get("previous_filename") or f["filename"]
        status = f.get("status")
        a = "/dev/null" if status == "added" else f"a/{old}"
        b = "/dev/null" if status == "removed" else f"b/{new}"
        parts.append(f"diff --git a/{old} b/{new}")
        if status == "added":
            parts.append("new file mode 100644")
        elif status == "removed":
            parts.append("deleted file mode 100644")
        patch = f.get("patch")
        if patch:
            parts += [f"--- {a}", f"+++ {b}", patch.rstrip("\n")]
    return "\n".join(parts) + "\n"


def annotation_line(fd: FileDiff | None, violation: Violation) -> int:
    """Annotations point at the PR's head: an old-side line (a deletion) maps to where it was removed."""
    if violation.side == "new" or fd is None:
        return max(violation.line, 1)
    lines = fd.lines()
    for i, line in enumerate(lines):
        if line.old_no == violation.line:
            after = next((x.new_no for x in lines[i:] if x.new_no is not None), None)
            before = next((x.new_no for x in reversed(lines[:i]) if x.new_no is not None), None)
            return max(after or before or 1, 1)
    return 1


def check_output(
    report: GuardrailReport, diff_files: tuple[FileDiff, ...], lint: list[Any], paths: list[str]
) -> tuple[str, dict[str, Any]]:
    """Conclusion and output (with annotations) for the check run. Pure."""
    by_path = {fd.path: fd for fd in diff_files}
    annotations = [
        {
            "path": v.path,
            "start_line": annotation_line(by_path.get(v.path), v),
            "end_line": annotation_line(by_path.get(v.path), v),
            "annotation_level": "failure",
            "title": f"guardrails: {v.rule}"[:255],
            "message": f"{v.message}\n\n{v.excerpt}"[:4000],
        }
        for v in report.violations
    ] + [
        {
            "path": f.file,
            "start_line": max(f.line, 1),
            "end_line": max(f.line, 1),
            "annotation_level": "warning",
            "title": f"prompt seeds: {f.rule}"[:255],
            "message": f.message[:4000],
        }
        for f in lint
    ]
    if report.ok:
        summary = (
            f"No change weakens a policy or security rule in {len(paths)} instruction file(s)."
        )
        conclusion = "success"
    else:
        rows = "\n".join(f"| `{v.path}` | {v.rule} | {v.message} |" for v in report.violations)
        summary = (
            f"{len(report.violations)} change(s) weaken a policy or security rule. "
            "A maintainer should review them before merging.\n\n| file | rule | why |\n|---|---|---|\n"
            + rows
        )
        conclusion = "failure"
    if lint:
        summary += f"\n\n{len(lint)} prompt-seed lint finding(s) (see the annotations)."
    title = "No weakened rules" if report.ok else f"{len(report.violations)} weakened rule(s)"
    return conclusion, {"title": title, "summary": summary[:65535], "annotations": annotations}


async def _context_text(gh: Any, repo: str, path: str, ref: str) -> str | None:
    """A file read for context only: one the API cannot give as text is checked from the diff alone."""
    try:
        return await read_text(gh, repo, path, ref=ref)
    except FileUnreadable:
        return None


async def run_guardrails_check(job: Job, deps: Deps) -> None:
    trigger = Trigger.from_payload(job.payload)
    if deps.github is None or not trigger.repository or trigger.installation_id is None:
        raise PermanentError("guardrails check without App credentials or repository")
    name = trigger.repository.split("/", 1)[1]
    reader = deps.github.installation_client(
        trigger.installation_id, repository=name, purpose="gather"
    )
    writer = deps.github.installation_client(
        trigger.installation_id, repository=name, purpose="publish"
    )
    repo = trigger.repository
    try:
        config = await read_repo_config(reader, repo)
    except RepoConfigError as exc:
        log.warning(
            "invalid config; guardrails use the defaults",
            extra={"repository": repo, "error": str(exc)},
        )
        config = RepoConfig()
    pull = await reader.getitem(f"/repos/{repo}/pulls/{trigger.target_number}")
    head_sha = trigger.source.get("head_sha") or pull["head"]["sha"]
    files = (await reader.paginate(f"/repos/{repo}/pulls/{trigger.target_number}/files")).items
    touched = [
        f
        for f in files
        if config.allows(f["filename"]) or config.allows(f.get("previous_filename") or "")
    ]
    if not touched:
        return  # no instruction path changed: no check run, no noise
    diff = unified_diff(touched)
    before = {}
    for f in touched:
        old = f.get("previous_filename") or f["filename"]
        if f.get("status") != "added":
            text = await _context_text(reader, repo, old, pull["base"]["sha"])
            if text is not None:
                before[old] = text
    report = check_diff(diff, before)
    seeds_dir = config.paths.prompts_dir.rstrip("/") + "/"
    seeds = {}
    for f in touched:
        if (
            f["filename"].startswith(seeds_dir)
            and f["filename"].endswith(".md")
            and f.get("status") != "removed"
        ):
            text = await _context_text(reader, repo, f["filename"], head_sha)
            if text is not None:
                seeds[f["filename"]] = text
    lint = (
        [f for f in lint_seeds(seeds, complete=False) if f.rule in FOREIGN_SEED_RULES]
        if seeds
        else []
    )
    conclusion, output = check_output(
        report, parse_diff(diff), lint, [f["filename"] for f in touched]
    )
    annotations = output.pop("annotations")
    created = await writer.post(
        f"/repos/{repo}/check-runs",
        data={
            "name": GUARDRAILS_CHECK_NAME,
            "head_sha": head_sha,
            "status": "completed",
            "conclusion": conclusion,
            "output": {**output, "annotations": annotations[:ANNOTATIONS_PER_REQUEST]},
        },
    )
    for start in range(ANNOTATIONS_PER_REQUEST, len(annotations), ANNOTATIONS_PER_REQUEST):
        await writer.patch(
            f"/repos/{repo}/check-runs/{created['id']}",
            data={
                "output": {
                    **output,
                    "annotations": annotations[start : start + ANNOTATIONS_PER_REQUEST],
                }
            },
        )
    log.info(
        "guardrails check",
        extra={
            "repository": repo,
            "pull": trigger.target_number,
            "conclusion": conclusion,
            "violations": len(report.violations),
        },
    )
