"""Approval: a maintainer's `/self-improve apply`, the Apply button or the approval label becomes one PR."""

from __future__ import annotations

import logging
from typing import Any

from app.deps import Deps
from app.policy import Refusal, check_permission
from app.publish.comment import post_once, react
from app.runs import RunContext, check_preconditions, reject, sender_permission, start_run
from app.store.base import Job, Run
from app.update.plan import PlanError
from app.update.pr import propose_improvement
from app.worker import PermanentError

log = logging.getLogger(__name__)


async def latest_diagnosis(ctx: RunContext) -> Run | None:
    """The newest finished diagnosis of this target: what the maintainer saw and approved."""
    runs = await ctx.deps.store.find_runs(
        repository=ctx.repository, target_number=ctx.trigger.target_number or 0
    )
    for run in runs:  # newest first
        if run.diagnosis is not None and run.trigger.get("kind", "self_improve") == "self_improve":
            return run
    return None


async def _reply(ctx: RunContext, text: str) -> int:
    """One reply per run on the thread, found again (not repeated) by a retried attempt."""
    return await post_once(
        ctx.writer,
        ctx.repository,
        ctx.trigger.target_number or 0,
        text,
        marker=f"<!-- self-improve:approval run={ctx.run.id} -->",
        bot_login=await ctx.bot_login() if ctx.retried else None,
    )


async def run_approval(job: Job, deps: Deps) -> None:
    """Re-check the approver, plan the approved items on the latest diagnosis, open or update the PR."""
    ctx = await start_run(job, deps, purpose_write="update")
    if ctx is None:
        return
    config, refusal = await check_preconditions(ctx)
    if refusal is not None or config is None:
        await reject(ctx, refusal or Refusal("invalid-config", "configuration unreadable"))
        return
    source = await latest_diagnosis(ctx)
    if source is None or source.diagnosis is None:
        await reject(
            ctx,
            Refusal(
                "no-diagnosis",
                "there is no diagnosis of this thread to approve yet: comment `/self-improve` first.",
            ),
        )
        return
    items: list[str] | None = list(ctx.trigger.items) if ctx.trigger.items else None
    await ctx.update(
        state="approved", diagnosis=source.diagnosis, detail=f"diagnosis of run {source.id}"
    )
    await ctx.audit("run.self_improve.approved", source_run=source.id, items=items or "all")

    # Right before anything is written, ask again: the permission may have changed since the trigger.
    refusal = check_permission(ctx.trigger, await sender_permission(ctx))
    if refusal is not None:
        await reject(ctx, refusal)
        return
    repo = await ctx.reader.getitem(f"/repos/{ctx.repository}")
    try:
        plan, result = await propose_improvement(
            ctx.writer,
            repository=ctx.repository,
            diagnosis=source.diagnosis,
            approved=items,
            config=config,
            run_id=str(ctx.run.id),
            default_branch=str(repo.get("default_branch") or "main"),
        )
    except PlanError as exc:
        await _blocked(ctx, f"the approved items cannot be applied: {exc}")
        raise PermanentError(str(exc)) from exc
    effects: dict[str, Any] = {
        "pr_number": result.number,
        "pr_url": result.html_url,
        "branch": result.branch,
    }
    if result.commit_sha:
        effects["commit"] = result.commit_sha
    await ctx.record_effect(**effects)
    if result.blocked_reason is not None or result.number is None:
        reason = result.blocked_reason or "no change to propose"
        if result.violations:
            listed = "; ".join(
                f"`{v.path}:{v.line}` {v.rule}: {v.message}" for v in result.violations[:5]
            )
            reason = f"the guardrails stopped the change ({listed})"
        await _blocked(ctx, reason)
        return
    refused = [i for i in (plan.items if plan else ()) if i.outcome == "refused"]
    await ctx.update(state="pr_opened", finished_at=deps.clock(), detail=result.html_url)
    await ctx.audit(
        "run.self_improve.pr_opened",
        pr=result.number,
        url=result.html_url,
        created=result.created,
        refused=[{"item": i.item_id, "reason": i.reason} for i in refused],
    )
    if command_id := ctx.trigger.source.get("comment_id"):
        await react(ctx.writer, ctx.repository, command_id, "rocket")


async def _blocked(ctx: RunContext, reason: str) -> None:
    """Nothing was written: say why on the thread, record it, and finish the run."""
    if "blocked_comment_id" not in ctx.run.effects:
        reply = await _reply(ctx, f":warning: **self-improve** did not open a PR: {reason}")
        await ctx.record_effect(blocked_comment_id=reply)
    await ctx.update(state="blocked", finished_at=ctx.deps.clock(), detail=reason[:500])
    await ctx.audit("run.self_improve.failed", reason=reason[:500], phase="update")
