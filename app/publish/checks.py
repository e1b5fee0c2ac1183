"""The `self-improve` check run: created in progress, moved through the phases, always completed.

Without the checks permission GitHub answers 403: the publisher then turns itself off, remembers the
permission GitHub named, and the caller publishes through the sticky comment alone.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from gidgethub.abc import GitHubAPI

from app.github.errors import Forbidden, GitHubError, NotFound, ValidationFailed
from app.publish.limits import batches, check_actions, clip_annotation
from app.publish.render import CheckOutput, CheckReport, Phase, phase_output, phrase

log = logging.getLogger(__name__)

CHECK_NAME = "self-improve"
CONCLUSIONS = frozenset(
    {"action_required", "cancelled", "failure", "neutral", "success", "skipped", "timed_out"}
)
DEFAULT_PERMISSION = "checks=write"


class CheckRunPublisher:
    """One check run of one job on one repository (`owner/name`), through a client allowed to write it.

    `start` → `phase`… → `complete`; call `complete` from a `finally` so the run never stays in
    progress. After a 403 every method is a no-op and `missing_permission` names what was lacking.
    """

    def __init__(
        self,
        gh: GitHubAPI,
        repository: str,
        *,
        locale: str | None = "en",
        name: str = CHECK_NAME,
        details_url: str | None = None,
    ) -> None:
        self._gh = gh
        self.repository = repository
        self.locale = locale
        self.name = name
        self.details_url = details_url
        self.check_run_id: int | None = None
        self.html_url: str | None = None
        self.missing_permission: str | None = None
        self.completed = False

    def __repr__(self) -> str:
        return (
            f"CheckRunPublisher({self.repository!r}, id={self.check_run_id}, "
            f"disabled={self.disabled}, completed={self.completed})"
        )

    @property
    def disabled(self) -> bool:
        return self.missing_permission is not None

    @property
    def _runs_url(self) -> str:
        return f"/repos/{self.repository}/check-runs"

    def _disable(self, exc: Forbidden) -> None:
        self.missing_permission = exc.accepted_permissions or DEFAULT_PERMISSION
        log.warning(
            "no permission to write check runs; publishing through the comment alone",
            extra={"repository": self.repository, "accepted_permissions": self.missing_permission},
        )

    def _remember(self, answer: Any) -> int | None:
        if isinstance(answer, Mapping) and isinstance(answer.get("id"), int):
            self.check_run_id = answer["id"]
            url = answer.get("html_url")
            self.html_url = url if isinstance(url, str) else self.html_url
        return self.check_run_id

    async def find(self, head_sha: str, external_id: str) -> int | None:
        """Our run with this `external_id` on `head_sha`, if GitHub has one (all of them, not the latest)."""
        url = (
            f"/repos/{self.repository}/commits/{head_sha}/check-runs"
            f"?check_name={quote(self.name)}&filter=all&per_page=100"
        )
        async for run in self._gh.getiter(url, iterable_key="check_runs"):
            if isinstance(run, Mapping) and run.get("external_id") == external_id:
                found = run.get("id")
                return found if isinstance(found, int) else None
        return None

    async def start(
        self,
        head_sha: str,
        external_id: str,
        *,
        existing_id: int | None = None,
        search: bool = False,
    ) -> int | None:
        """Create the run `in_progress` on `head_sha` (or reset `existing_id`, a retried job's run).

        With `search` (a retry that recorded no id), a run GitHub already has under `external_id` is
        reset instead of creating a second one: an attempt may have died after GitHub created it but
        before it heard the answer, and that run would otherwise stay in progress forever.

        Returns its id, or None when the checks permission is missing (403). Other `GitHubError`s
        (an unknown sha: 422; GitHub down) propagate: the caller may go on with the comment alone.
        """
        if self.disabled:
            return None
        if existing_id is None and search:
            try:
                existing_id = await self.find(head_sha, external_id)
            except Forbidden as exc:
                self._disable(exc)
                return None
        body: dict[str, Any] = {
            "status": "in_progress",
            "external_id": external_id,
            "output": phase_output("starting", self.locale).as_api(),
        }
        if self.details_url:
            body["details_url"] = self.details_url
        try:
            if existing_id is not None:
                try:
                    # GitHub does not reset a run on its own (R-CHK-3): a retry says it is running again.
                    answer = await self._gh.patch(f"{self._runs_url}/{existing_id}", data=body)
                    return self._remember(answer)
                except NotFound:
                    log.info("the earlier check run is gone; creating a new one")
            answer = await self._gh.post(
                self._runs_url, data={"name": self.name, "head_sha": head_sha, **body}
            )
        except Forbidden as exc:
            self._disable(exc)
            return None
        self.completed = False
        return self._remember(answer)

    async def phase(self, name: Phase) -> None:
        """Show which phase the job is in; a failure here is logged, never fatal (it is cosmetic)."""
        if self.disabled or self.check_run_id is None or self.completed:
            return
        try:
            await self._gh.patch(
                f"{self._runs_url}/{self.check_run_id}",
                data={"output": phase_output(name, self.locale).as_api()},
            )
        except Forbidden as exc:
            self._disable(exc)
        except GitHubError as exc:
            log.warning(
                "could not show the phase on the check run",
                extra={"check_run": self.check_run_id, "phase": name, "error": str(exc)},
            )

    async def complete(
        self,
        conclusion: str,
        output: CheckOutput,
        annotations: Sequence[Mapping[str, Any]] = (),
        *,
        actions: Sequence[Mapping[str, str]] = (),
    ) -> bool:
        """Complete the run; annotations go 50 per PATCH (the first with the conclusion).

        If GitHub refuses the report (422), the run is still completed with a short output, so it
        never stays in progress. True when the run was completed; other `GitHubError`s (GitHub down
        after the client's retries) propagate.
        """
        if conclusion not in CONCLUSIONS:
            raise ValueError(f"conclusion: {conclusion!r} is not one of {sorted(CONCLUSIONS)}")
        if self.disabled or self.check_run_id is None:
            return False
        url = f"{self._runs_url}/{self.check_run_id}"
        groups = list(batches([clip_annotation(a) for a in annotations]))
        body: dict[str, Any] = {
            "status": "completed",
            "conclusion": conclusion,
            "output": output.as_api(groups[0] if groups else ()),
            "actions": check_actions(actions),
        }
        try:
            await self._gh.patch(url, data=body)
        except Forbidden as exc:
            self._disable(exc)
            return False
        except ValidationFailed as exc:
            log.warning(
                "GitHub refused the check run report; completing it with a short one",
                extra={"check_run": self.check_run_id, "error": str(exc)},
            )
            refused = CheckOutput(output.title, phrase(self.locale, "report.refused"))
            short = {"status": "completed", "conclusion": conclusion, "output": refused.as_api()}
            try:
                await self._gh.patch(url, data=short)
            except Forbidden as forbidden:
                self._disable(forbidden)
                return False
            self.completed = True
            return True
        self.completed = True
        for group in groups[1:]:
            # Later PATCHes append annotations; the output is sent whole so nothing is cleared.
            try:
                await self._gh.patch(url, data={"output": output.as_api(group)})
            except GitHubError as exc:
                log.warning(
                    "could not add annotations to the check run",
                    extra={"check_run": self.check_run_id, "error": str(exc)},
                )
                break
        return True

    async def publish(self, report: CheckReport) -> bool:
        """`complete` with everything a rendered report holds."""
        return await self.complete(
            report.conclusion, report.output, report.annotations, actions=report.actions
        )
