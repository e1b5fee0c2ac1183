"""The self-improve run: check the preconditions, then gather, diagnose and publish, once per trigger."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from app.deps import Deps
from app.diagnosis import diagnose
from app.diagnosis.llm import LLMConfig, diagnose_with_llm
from app.evidence.gather import gather_evidence
from app.github.errors import GitHubError, NotFound, RateLimited
from app.policy import Refusal, check_label, check_permission
from app.publish.checks import CheckRunPublisher
from app.publish.comment import post_once, react, upsert_sticky_comment
from app.publish.head import head_sha_for
from app.publish.render import (
    render_check_report,
    render_comment,
    render_failure_comment,
    render_failure_report,
)
from app.repo_config import RepoConfig, RepoConfigError
from app.repo_files import read_repo_config
from app.routing import Trigger, check_external_id
from app.snapshot import Snapshot
from app.store.base import Job, Run, RunIn
from app.worker import PermanentError

log = logging.getLogger(__name__)

FINAL_STATES = frozenset({"diagnosed", "rejected", "failed", "pr_opened", "blocked"})


@dataclass
class RunContext:
    """What one job works with: the trigger, its run record, the repository's config and clients."""

    deps: Deps
    job: Job
    trigger: Trigger
    run: Run
    owner: str
    name: str
    reader: Any  # GitHubClient with read permissions
    writer: Any  # GitHubClient allowed to comment, check and (for approvals) push

    @property
    def repository(self) -> str:
        return f"{self.owner}/{self.name}"

    async def audit(self, name: str, **data: Any) -> None:
        """Append an audit event to the store and the structured log."""
        deps = self.deps
        target = f"{self.trigger.target_kind}#{self.trigger.target_number}"
        await deps.store.append_audit(
            name,
            run_id=self.run.id,
            repository=self.repository,
            target=target,
            actor=self.trigger.sender,
            data=data,
            now=deps.clock(),
        )
        log.info(
            name,
            extra={
                "audit": name,
                "run": self.run.id,
                "repository": self.repository,
                "target": target,
                **data,
            },
        )

    async def update(self, **fields: Any) -> Run:
        self.run = await self.deps.store.update_run(self.run.id, now=self.deps.clock(), **fields)
        return self.run

    async def record_effect(self, **effects: Any) -> None:
        """Remember what this run already did, so a retry after a crash does not do it twice."""
        await self.update(effects={**self.run.effects, **effects})

    @property
    def retried(self) -> bool:
        """An earlier attempt of this run may have written to GitHub without recording it."""
        return self.job.attempts > 1

    async def bot_login(self) -> str:
        """Our bot's login, `<slug>[bot]`, the slug learnt now if GitHub was unreachable at startup.

        A guessed login would miss our own comments and post duplicates, so an unknown slug raises
        (a `GitHubError`, or RuntimeError) and the worker retries the attempt."""
        deps = self.deps
        if not deps.app_slug and deps.github is not None:
            slug = (await deps.github.app_info()).get("slug")
            deps.app_slug = str(slug) if slug else None
        if not deps.app_slug:
            raise RuntimeError("GitHub did not tell the App's slug: our comments cannot be found")
        return f"{deps.app_slug}[bot]"


async def start_run(job: Job, deps: Deps, purpose_write: str = "publish") -> RunContext | None:
    """The run record for a job (found again on retry) and clients scoped to its repository."""
    trigger = Trigger.from_payload(job.payload)
    if not trigger.repository or trigger.target_number is None or trigger.target_kind is None:
        raise PermanentError("the job names no repository or target")
    if deps.github is None:
        raise PermanentError("the App is not registered (APP_ID and a private key are missing)")
    if trigger.installation_id is None:
        raise PermanentError("the event carried no installation")
    owner, name = trigger.repository.split("/", 1)
    run = await deps.store.get_or_create_run(
        RunIn(
            job_id=job.id,
            repository=trigger.repository,
            installation_id=trigger.installation_id,
            target_kind=trigger.target_kind,
            target_number=trigger.target_number,
            trigger={
                **trigger.source,
                "kind": trigger.kind,
                "items": list(trigger.items) if trigger.items else None,
            },
            sender=trigger.sender,
            role=trigger.role.value,
        ),
        now=deps.clock(),
    )
    if run.state in FINAL_STATES:
        log.info("run already finished before a restart; nothing to do", extra={"run": run.id})
        return None
    reader = deps.github.installation_client(
        trigger.installation_id, repository=name, purpose="gather"
    )
    writer = deps.github.installation_client(
        trigger.installation_id, repository=name, purpose=purpose_write
    )
    ctx = RunContext(deps, job, trigger, run, owner, name, reader, writer)
    if run.started_at is None:
        await ctx.update(started_at=deps.clock())
        event = (
            "run.self_improve.triggered"
            if trigger.kind == "self_improve"
            else "run.self_improve.approval_requested"
        )
        await ctx.audit(event, job=job.id, trigger=trigger.source)
    return ctx


async def sender_permission(ctx: RunContext) -> str | None:
    """The sender's permission on the repository, as the API says (never from author_association)."""
    try:
        data = await ctx.reader.getitem(
            f"/repos/{ctx.repository}/collaborators/{ctx.trigger.sender}/permission"
        )
    except NotFound:
        return None
    return str(data.get("permission")) if isinstance(data, dict) else None


async def check_preconditions(ctx: RunContext) -> tuple[RepoConfig | None, Refusal | None]:
    """The repository's config, its label rule and the sender's permission; the first refusal wins."""
    try:
        config = await read_repo_config(ctx.reader, ctx.repository)
    except RepoConfigError as exc:
        return None, Refusal("invalid-config", f"The repository's configuration is invalid: {exc}")
    refusal = check_label(ctx.trigger, config)
    if refusal is None:
        refusal = check_permission(ctx.trigger, await sender_permission(ctx))
    return config, refusal


async def reject(ctx: RunContext, refusal: Refusal) -> None:
    """A refused trigger: one short reply saying why (once, even across retries) and an audit event."""
    if refusal.reply and "refusal_comment_id" not in ctx.run.effects:
        body = f":no_entry: **self-improve** did not run: {refusal.message}"
        try:
            comment_id = await post_once(
                ctx.writer,
                ctx.repository,
                ctx.trigger.target_number or 0,
                body,
                marker=f"<!-- self-improve:refusal run={ctx.run.id} -->",
                bot_login=await ctx.bot_login() if ctx.retried else None,
            )
            await ctx.record_effect(refusal_comment_id=comment_id)
        except GitHubError as exc:
            log.warning(
                "could not post the refusal reply", extra={"run": ctx.run.id, "error": str(exc)}
            )
    await ctx.update(state="rejected", detail=refusal.precondition, finished_at=ctx.deps.clock())
    await ctx.audit(
        "run.self_improve.rejected", precondition=refusal.precondition, reason=refusal.message
    )


async def previous_runs(ctx: RunContext, limit: int = 20) -> list[dict[str, Any]]:
    """The app's own earlier runs on this repository, newest first, without their large documents."""
    runs, _ = await ctx.deps.store.list_runs(page=1, per_page=limit + 1, repository=ctx.repository)
    out = []
    for run in runs:
        if run.id == ctx.run.id:
            continue
        item = run.summary()
        if run.diagnosis:
            item["action_items"] = [
                {k: a.get(k) for k in ("id", "category", "title", "target_path")}
                for a in run.diagnosis.get("action_items", [])
            ]
        out.append(item)
    return out[:limit]


async def make_diagnosis(ctx: RunContext, snapshot: Snapshot, config: RepoConfig) -> dict[str, Any]:
    """The configured engine; the LLM engine falls back to the heuristic one by itself."""
    settings = ctx.deps.settings
    if config.engine == "llm" and settings.llm_base_url:
        llm = LLMConfig(
            base_url=settings.llm_base_url,
            api_key=settings.llm_api_key,
            model=settings.llm_model,
            timeout_s=settings.llm_timeout_seconds,
        )
        result = await diagnose_with_llm(
            snapshot, config, locale=config.locale, llm=llm, session=ctx.deps.http
        )
    else:
        result = diagnose(snapshot, config, locale=config.locale, role=ctx.trigger.role.value)
    dumped: dict[str, Any] = result.model_dump(mode="json", exclude_none=True)
    return dumped


def _is_permanent(exc: BaseException) -> bool:
    """Errors a retry cannot fix: our own bugs in diagnosing, and GitHub refusing the request itself."""
    if isinstance(exc, PermanentError | DiagnosisFailed):
        return True
    if isinstance(exc, RateLimited):  # a 403 too, but time fixes it: the worker retries after it
        return False
    return isinstance(exc, GitHubError) and exc.status in {401, 403, 404, 410, 422}


class DiagnosisFailed(Exception):
    """The diagnosis raised: deterministic for the same evidence, so the run fails without retrying."""


async def run_self_improve(job: Job, deps: Deps) -> None:
    """The job behind `run:self-improve`, `/self-improve` and the check run's Re-run button."""
    ctx = await start_run(job, deps)
    if ctx is None:
        return
    config, refusal = await check_preconditions(ctx)
    if refusal is not None or config is None:
        await reject(ctx, refusal or Refusal("invalid-config", "configuration unreadable"))
        return
    command_id = ctx.trigger.source.get("comment_id")
    if command_id:
        await react(ctx.writer, ctx.repository, command_id, "eyes")
    checks = CheckRunPublisher(ctx.writer, ctx.repository, locale=config.locale)
    snapshot: Snapshot | None = None
    diagnosis: dict[str, Any] | None = None
    outcome: Exception | None = None
    try:
        kind, number = ctx.trigger.target_kind or "issue", ctx.trigger.target_number or 0
        # The check run stays on the commit of the run's first attempt: recorded before it is
        # created, so a retry after a crash finds it there even when a push has moved the head.
        head_sha = ctx.run.effects.get("check_head_sha")
        if head_sha is None:
            head_sha = await head_sha_for(ctx.reader, ctx.repository, kind, number)
            await ctx.record_effect(check_head_sha=head_sha)
        check_id = await checks.start(
            head_sha,
            check_external_id(kind, number, ctx.run.id),
            existing_id=ctx.run.effects.get("check_run_id"),
            search=ctx.retried,  # an earlier attempt may have created it and died unanswered
        )
        if check_id is not None and check_id != ctx.run.effects.get("check_run_id"):
            await ctx.record_effect(check_run_id=check_id)
        await ctx.update(state="gathering")
        await checks.phase("gathering")
        snapshot = await gather_evidence(
            ctx.reader,
            repository=ctx.repository,
            target_kind=kind,
            number=number,
            config=config,
            previous_runs=await previous_runs(ctx),
            trigger=ctx.trigger.source,
            installation_id=ctx.trigger.installation_id,
            now=deps.clock,
            cache=deps.evidence_cache,
        )
        await ctx.update(state="diagnosing", snapshot=snapshot.model_dump(mode="json"))
        await checks.phase("diagnosing")
        try:
            diagnosis = await make_diagnosis(ctx, snapshot, config)
        except Exception as exc:
            raise DiagnosisFailed(f"{type(exc).__name__}: {exc}") from exc
        await ctx.update(state="publishing", diagnosis=diagnosis)
        await checks.phase("publishing")
    except Exception as exc:  # every failure still ends the check run below (never left stale)
        outcome = exc
    await finish_run(ctx, checks, config, snapshot, diagnosis, outcome)


async def finish_run(
    ctx: RunContext,
    checks: CheckRunPublisher,
    config: RepoConfig,
    snapshot: Snapshot | None,
    diagnosis: dict[str, Any] | None,
    outcome: Exception | None,
) -> None:
    """Complete the check run, the sticky comment and the run record.

    Success: neutral (items) or success (none), and the comment. A permanent failure (or the last
    attempt): the check run fails with the reason. A failure the worker will retry leaves the check run
    in progress; the retry finds it through the run's effects and completes it."""
    deps, job = ctx.deps, ctx.job
    command_id = ctx.trigger.source.get("comment_id")
    number = ctx.trigger.target_number or 0
    permanent = outcome is not None and (_is_permanent(outcome) or job.attempts >= job.max_attempts)
    if outcome is None and diagnosis is not None:
        try:
            await checks.publish(render_check_report(diagnosis, snapshot, locale=config.locale))
            body = render_comment(
                diagnosis,
                locale=config.locale,
                check_url=checks.html_url,
                missing_permission=checks.missing_permission,
                gaps=snapshot.gaps if snapshot is not None else (),
                run_id=ctx.run.id,
            )
            comment_id = await upsert_sticky_comment(
                ctx.writer,
                ctx.repository,
                number,
                body,
                bot_login=await ctx.bot_login(),
                known_id=ctx.run.effects.get("comment_id"),
            )
        except Exception as exc:
            if not (_is_permanent(exc) or job.attempts >= job.max_attempts):
                raise
            # the last attempt: the run must end as failed, not stay "publishing" for ever
            reason = f"publishing failed: {type(exc).__name__}: {exc}"
            await ctx.update(state="failed", finished_at=deps.clock(), detail=reason[:500])
            await ctx.audit("run.self_improve.failed", reason=reason[:500], attempts=job.attempts)
            raise PermanentError(reason) from exc
        await ctx.record_effect(comment_id=comment_id)
        items = len(diagnosis.get("action_items", []))
        await ctx.update(
            state="diagnosed", finished_at=deps.clock(), detail=f"{items} action items"
        )
        await ctx.audit(
            "run.self_improve.diagnosis_ready",
            run_id=ctx.run.id,
            action_items=items,
            tool_gaps=len(diagnosis.get("tool_gaps", [])),
            evidence_refs=len(diagnosis.get("evidence_refs", [])),
        )
        if command_id:
            await react(ctx.writer, ctx.repository, command_id, "rocket")
        return
    assert outcome is not None
    reason = f"{type(outcome).__name__}: {outcome}"
    if not permanent:
        log.warning("run failed; the worker retries", extra={"run": ctx.run.id, "error": reason})
        raise outcome
    await checks.publish(
        render_failure_report(
            reason, locale=config.locale, missing_permission=checks.missing_permission
        )
    )
    if checks.disabled:  # without a check run the failure would be invisible: say it in the comment
        body = render_failure_comment(
            reason,
            locale=config.locale,
            number=number,
            missing_permission=checks.missing_permission,
            run_id=ctx.run.id,
        )
        await upsert_sticky_comment(
            ctx.writer,
            ctx.repository,
            number,
            body,
            bot_login=await ctx.bot_login(),
            known_id=ctx.run.effects.get("comment_id"),
        )
    await ctx.update(state="failed", finished_at=deps.clock(), detail=reason[:500])
    await ctx.audit("run.self_improve.failed", reason=reason[:500], attempts=job.attempts)
    if command_id:
        await react(ctx.writer, ctx.repository, command_id, "confused")
    raise PermanentError(reason) from outcome
