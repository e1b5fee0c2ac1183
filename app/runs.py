"""The self-improve run: check the preconditions, then gather, diagnose and publish, once per trigger."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from app.deps import Deps
from app.github.errors import GitHubError, NotFound
from app.policy import Refusal, check_label, check_permission
from app.repo_config import RepoConfig, RepoConfigError
from app.repo_files import read_repo_config
from app.routing import Trigger
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
        body = f"<!-- self-improve:refusal -->\n:no_entry: **self-improve** did not run: {refusal.message}"
        try:
            comment = await ctx.writer.post(
                f"/repos/{ctx.repository}/issues/{ctx.trigger.target_number}/comments",
                data={"body": body},
            )
            await ctx.record_effect(refusal_comment_id=comment.get("id"))
        except GitHubError as exc:
            log.warning(
                "could not post the refusal reply", extra={"run": ctx.run.id, "error": str(exc)}
            )
    await ctx.update(state="rejected", detail=refusal.precondition, finished_at=ctx.deps.clock())
    await ctx.audit(
        "run.self_improve.rejected", precondition=refusal.precondition, reason=refusal.message
    )


async def run_self_improve(job: Job, deps: Deps) -> None:
    """The job behind `run:self-improve`, `/self-improve` and the check run's Re-run button."""
    ctx = await start_run(job, deps)
    if ctx is None:
        return
    config, refusal = await check_preconditions(ctx)
    if refusal is not None or config is None:
        await reject(ctx, refusal or Refusal("invalid-config", "configuration unreadable"))
        return
    await ctx.update(state="accepted", detail="preconditions passed")
