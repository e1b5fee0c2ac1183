"""Writing a plan to GitHub: one verified commit on the source's branch (Git Data API) and one PR per source."""

from __future__ import annotations

import logging
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from gidgethub.abc import GitHubAPI

from app.github.errors import NotFound, ValidationFailed
from app.guardrails import DiffError, GuardrailReport, Violation, check_diff
from app.repo_config import RepoConfig
from app.repo_files import FileUnreadable, read_text
from app.update.plan import (
    TRAILER,
    UpdatePlan,
    branch_name,
    build_plan,
    plan_paths,
    read_diagnosis,
    replan,
)
from app.update.plan import source_kind as normalise_kind

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3  # a ref that keeps moving under us is a person at work, not a race to win
PR_LABEL = "self-improve"
VIOLATIONS_SHOWN = 10
_HEAD = re.compile(r"<!-- self-improve:head ([0-9a-f]{40}) -->")
_BOT_EMAIL = re.compile(r"^\d+\+[A-Za-z0-9-]+\[bot\]@users\.noreply\.github\.com$")

BLOCKED_TEMPLATE = """{marker}
self-improve did not update this pull request: the branch `{branch}` now ends in commit {short}, \
which self-improve did not make. It never overwrites someone else's push.

To have self-improve update this PR again, merge or close it (a new approval then starts a fresh \
branch), or reset `{branch}` to the last self-improve commit."""

LINK_TEMPLATE = """{marker}
self-improve opened {url} with the approved changes ({title}). It does not merge; a maintainer reviews it."""


@dataclass(frozen=True)
class PrResult:
    """What happened: the PR (when there is one), whether it was created or updated, or why not."""

    number: int | None
    html_url: str | None
    created: bool
    updated: bool
    blocked_reason: str | None
    branch: str = ""
    commit_sha: str | None = None  # the commit this run made; None when nothing was committed
    violations: tuple[Violation, ...] = ()


# --- pure decisions ---------------------------------------------------------------------------------


def recorded_head(body: str | None) -> str | None:
    """The last commit self-improve recorded in its PR body, if any."""
    found = _HEAD.search(body or "")
    return found.group(1) if found else None


def with_head(body: str, sha: str) -> str:
    """The PR body with the head it was written for: how the next run knows nobody else pushed."""
    return _HEAD.sub("", body).rstrip("\n") + f"\n<!-- self-improve:head {sha} -->\n"


def is_own_commit(commit: Mapping[str, Any], recorded: str | None) -> bool:
    """Whether a branch head is self-improve's: the head its PR recorded, or its own verified commit.

    The second case covers a run that moved the branch and stopped before editing the PR body. Only
    GitHub can mark a commit by the App's bot e-mail as verified, so a person cannot forge it.
    """
    sha = commit.get("sha")
    if recorded is not None and sha == recorded:
        return True
    author = commit.get("author") or {}
    verification = commit.get("verification") or {}
    message = str(commit.get("message") or "")
    trailer = any(line.startswith(f"{TRAILER}:") for line in message.splitlines())
    return (
        trailer
        and verification.get("verified") is True
        and bool(_BOT_EMAIL.match(str(author.get("email") or "")))
    )


def blocked_marker(sha: str) -> str:
    return f"<!-- self-improve:blocked head={sha} -->"


def link_marker(key: str) -> str:
    return f"<!-- self-improve:pr-link source={key} -->"


def describe_violations(report: GuardrailReport) -> str:
    """One line per violation (capped), for the result and the job's comment."""
    shown = [
        f"{v.path}:{v.line} ({v.side}) {v.rule}: {v.message}"
        for v in report.violations[:VIOLATIONS_SHOWN]
    ]
    more = len(report.violations) - len(shown)
    return "; ".join(shown) + (f"; and {more} more" if more > 0 else "")


# --- I/O -----------------------------------------------------------------------------------------------


async def read_files(
    gh: GitHubAPI, *, repository: str, paths: Sequence[str], ref: str | None
) -> dict[str, str | None]:
    """The text of each path at `ref` (None: the file does not exist there)."""
    return {path: await read_text(gh, repository, path, ref=ref) for path in paths}


async def _ref_sha(gh: GitHubAPI, repository: str, branch: str) -> str | None:
    try:
        ref = await gh.getitem(f"/repos/{repository}/git/ref/heads/{branch}")
    except NotFound:
        return None
    return str(ref["object"]["sha"])


async def _open_prs(gh: GitHubAPI, repository: str, branch: str) -> list[dict[str, Any]]:
    owner = repository.split("/", 1)[0]
    url = f"/repos/{repository}/pulls?state=open&head={owner}:{branch}&per_page=100"
    return [p async for p in gh.getiter(url)]


def _ours(pulls: Sequence[Mapping[str, Any]], marker: str) -> dict[str, Any] | None:
    return next((dict(p) for p in pulls if marker in str(p.get("body") or "")), None)


async def _has_comment(gh: GitHubAPI, repository: str, number: int, marker: str) -> bool:
    url = f"/repos/{repository}/issues/{number}/comments?per_page=100"
    return any([marker in str(c.get("body") or "") async for c in gh.getiter(url)])


async def _comment_once(gh: GitHubAPI, repository: str, number: int, body: str) -> None:
    marker = body.split("\n", 1)[0]
    if not await _has_comment(gh, repository, number, marker):
        await gh.post(f"/repos/{repository}/issues/{number}/comments", data={"body": body})


async def _commit(
    gh: GitHubAPI, repository: str, plan: UpdatePlan, *, on: str, parents: Sequence[str]
) -> str:
    """Blobs, a tree on commit `on`'s tree, and one commit with no author or committer (verified)."""
    base = await gh.getitem(f"/repos/{repository}/git/commits/{on}")
    entries = []
    for change in plan.changes:
        blob = await gh.post(
            f"/repos/{repository}/git/blobs", data={"content": change.after, "encoding": "utf-8"}
        )
        entries.append({"path": change.path, "mode": "100644", "type": "blob", "sha": blob["sha"]})
    tree = await gh.post(
        f"/repos/{repository}/git/trees",
        data={"base_tree": base["tree"]["sha"], "tree": entries},
    )
    # No author, committer or signature: then GitHub signs the commit as the App and marks it verified.
    # https://docs.github.com/en/authentication/managing-commit-signature-verification/about-commit-signature-verification#signature-verification-for-bots
    commit = await gh.post(
        f"/repos/{repository}/git/commits",
        data={"message": plan.commit_message, "tree": tree["sha"], "parents": list(parents)},
    )
    return str(commit["sha"])


def _moved(error: ValidationFailed) -> bool:
    """A 422 that means the ref changed under us (so a retry on the new head is in order)."""
    text = " ".join([error.message, *(str(e) for e in error.errors)]).lower()
    return "fast forward" in text or "already exists" in text


def _guard(plan: UpdatePlan, branch: str) -> PrResult | None:
    """A result that stops the run when the guardrails refuse the plan's diff (an empty one passes)."""
    if not plan.diff:
        return None
    try:
        report = check_diff(plan.diff, before=plan.before)
    except DiffError as exc:  # our own diff unreadable: a bug to stop on, never to write through
        reason = f"the guardrails could not read the diff: {exc}"
        return PrResult(None, None, False, False, reason, branch)
    if report.ok:
        return None
    reason = f"the guardrails refused the change: {describe_violations(report)}"
    return PrResult(None, None, False, False, reason, branch, None, report.violations)


async def _default_head(gh: GitHubAPI, repository: str, default_branch: str) -> str:
    sha = await _ref_sha(gh, repository, default_branch)
    if sha is None:
        raise NotFound(404, f"the default branch {default_branch} has no ref", url=repository)
    return sha


async def open_improvement_pr(
    gh: GitHubAPI,
    *,
    repository: str,
    plan: UpdatePlan,
    source_kind: str,
    source_number: int,
    default_branch: str,
) -> PrResult:
    """Commit the plan to `self-improve/<kind>-<N>` and open or update the source's one PR.

    The plan is checked by the guardrails before any write, and made again over the files it will
    build on: the branch head while self-improve's PR is open on it (so rules accumulate), else the
    default branch (a closed PR's rules are not carried over; the branch still only fast-forwards,
    through a commit whose second parent is the old head). A branch whose head someone else pushed is
    never updated: the result says so, and so does a comment on the PR.
    """
    kind = normalise_kind(source_kind)
    if (kind, int(source_number)) != (plan.source.kind, plan.source.number):
        raise ValueError(
            f"source: {source_kind} #{source_number} is not the plan's {plan.source.key}"
        )
    branch = branch_name(kind, source_number)
    if branch == default_branch:
        return PrResult(None, None, False, False, "refusing to write to the default branch", branch)
    refused = _guard(plan, branch)
    if refused is not None:
        return refused
    if not plan.has_changes:
        reason = "nothing to change: the approved items are in place already"
        return PrResult(None, None, False, False, reason, branch)
    inputs = plan.inputs
    paths = plan_paths(inputs.diagnosis, approved=inputs.approved, config=inputs.config)
    pr: dict[str, Any] | None = None
    for _attempt in range(MAX_ATTEMPTS):
        # read again on every attempt: a concurrent run may have opened the PR meanwhile
        pulls = await _open_prs(gh, repository, branch)
        pr = _ours(pulls, plan.marker)
        if pr is None and pulls:
            return _foreign_pr(pulls, branch)
        head = await _ref_sha(gh, repository, branch)
        if head is not None:
            commit = await gh.getitem(f"/repos/{repository}/git/commits/{head}")
            if not is_own_commit(commit, recorded_head(pr.get("body") if pr else None)):
                return await _blocked(gh, repository, branch, head, pr)
        if head is not None and pr is not None:
            on, parents = head, [head]
        else:
            on = await _default_head(gh, repository, default_branch)
            parents = [on] if head is None else [on, head]
        try:
            files = await read_files(gh, repository=repository, paths=paths, ref=on)
        except FileUnreadable as exc:
            return PrResult(None, None, False, False, f"cannot edit {exc}", branch)
        work = replan(plan, files)
        refused = _guard(work, branch)
        if refused is not None:
            return refused
        if not work.has_changes:
            if pr is None or head is None:
                reason = "nothing to change: the default branch has every approved item"
                return PrResult(None, None, False, False, reason, branch)
            return await _publish(gh, repository, work, branch, default_branch, head, pr, None)
        made = await _commit(gh, repository, work, on=on, parents=parents)
        try:
            if head is None:
                await gh.post(
                    f"/repos/{repository}/git/refs",
                    data={"ref": f"refs/heads/{branch}", "sha": made},
                )
            else:
                await gh.patch(
                    f"/repos/{repository}/git/refs/heads/{branch}",
                    data={"sha": made, "force": False},
                )
        except ValidationFailed as error:
            if not _moved(error):
                raise
            log.info("branch %s moved while writing; building again on its new head", branch)
            continue
        return await _publish(gh, repository, work, branch, default_branch, made, pr, made)
    reason = f"the branch `{branch}` kept moving; gave up after {MAX_ATTEMPTS} attempts"
    number, url = (int(pr["number"]), str(pr["html_url"])) if pr else (None, None)
    return PrResult(number, url, False, False, reason, branch)


def _foreign_pr(pulls: Sequence[Mapping[str, Any]], branch: str) -> PrResult:
    """An open PR from our branch without our marker: someone else's to decide about, not ours."""
    number = pulls[0]["number"] if pulls else "?"
    reason = f"an open PR #{number} from `{branch}` lacks the self-improve marker; not touching it"
    return PrResult(None, None, False, False, reason, branch)


async def _blocked(
    gh: GitHubAPI, repository: str, branch: str, head: str, pr: dict[str, Any] | None
) -> PrResult:
    reason = (
        f"the branch `{branch}` has commits self-improve did not make (head {head[:7]});"
        " it will not overwrite them"
    )
    if pr is not None:
        body = BLOCKED_TEMPLATE.format(marker=blocked_marker(head), branch=branch, short=head[:7])
        await _comment_once(gh, repository, int(pr["number"]), body)
        return PrResult(int(pr["number"]), str(pr["html_url"]), False, False, reason, branch)
    return PrResult(None, None, False, False, reason, branch)


async def _publish(
    gh: GitHubAPI,
    repository: str,
    plan: UpdatePlan,
    branch: str,
    default_branch: str,
    head: str,
    pr: dict[str, Any] | None,
    made: str | None,
) -> PrResult:
    previous = str(pr.get("body") or "") if pr is not None else None
    body = with_head(plan.body_over(previous), head)
    title = plan.title_over(previous)
    created = False
    if pr is None:
        try:
            pr = await gh.post(
                f"/repos/{repository}/pulls",
                data={
                    "title": title,
                    "head": branch,
                    "base": default_branch,
                    "body": body,
                    "maintainer_can_modify": False,
                },
            )
            created = True
        except ValidationFailed as error:
            if not _moved(error):
                raise
            pulls = await _open_prs(gh, repository, branch)
            pr = _ours(pulls, plan.marker)
            if pr is None:
                return replace(_foreign_pr(pulls, branch), commit_sha=made)
    number = int(pr["number"])
    labels = [str(x.get("name")) for x in pr.get("labels") or [] if isinstance(x, dict)]
    if (
        PR_LABEL not in labels
    ):  # a run that died between opening the PR and labelling it left it bare
        await gh.post(f"/repos/{repository}/issues/{number}/labels", data={"labels": [PR_LABEL]})
    if not created:
        pr = await gh.patch(
            f"/repos/{repository}/pulls/{number}", data={"title": title, "body": body}
        )
    link = LINK_TEMPLATE.format(
        marker=link_marker(plan.source.key), url=pr["html_url"], title=title
    )
    await _comment_once(gh, repository, plan.source.number, link)
    return PrResult(number, str(pr["html_url"]), created, not created, None, branch, made)


async def propose_improvement(
    gh: GitHubAPI,
    *,
    repository: str,
    diagnosis: Mapping[str, Any],
    approved: Collection[str] | None,
    config: RepoConfig,
    run_id: str,
    default_branch: str,
) -> tuple[UpdatePlan | None, PrResult]:
    """Read the files, plan the approved items over the default branch, and open or update the PR.

    The plan is None only when a target file cannot be read safely (the result says which).
    """
    diag = read_diagnosis(diagnosis)
    paths = plan_paths(diag, approved=approved, config=config)
    try:
        files = await read_files(gh, repository=repository, paths=paths, ref=default_branch)
    except FileUnreadable as exc:
        branch = branch_name(diag.target.kind, diag.target.number)
        return None, PrResult(None, None, False, False, f"cannot edit {exc}", branch)
    plan = build_plan(diag, approved=approved, files=files, config=config, run_id=run_id)
    result = await open_improvement_pr(
        gh,
        repository=repository,
        plan=plan,
        source_kind=plan.source.kind,
        source_number=plan.source.number,
        default_branch=default_branch,
    )
    return plan, result
