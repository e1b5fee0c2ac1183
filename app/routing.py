"""Routing: which webhook events become which work. Pure: an event and its payload in, triggers out."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from app.roles import Role, role_for_label

TRIGGER_LABEL = "run:self-improve"
APPROVE_LABEL = "self-improve:approved"
CHECK_RUN_NAME = "self-improve"
GUARDRAILS_CHECK_NAME = "self-improve/guardrails"

JobKind = Literal["self_improve", "approve", "guardrails", "installation"]

_INSTALLATION_ACTIONS = frozenset(
    {"created", "deleted", "suspend", "unsuspend", "new_permissions_accepted"}
)
_ITEM_ID = re.compile(r"^A\d{1,3}$")


@dataclass(frozen=True)
class Trigger:
    """One piece of work an event asks for, before any precondition is checked."""

    kind: JobKind
    repository: str | None  # owner/name
    installation_id: int | None
    target_kind: Literal["issue", "pull_request"] | None
    target_number: int | None
    sender: str | None
    role: Role = Role.KM
    source: dict[str, Any] = field(default_factory=dict)  # event, action, label, comment_id, …
    items: tuple[str, ...] | None = None  # approval: the action item ids; None means all

    @classmethod
    def from_payload(cls, data: dict[str, Any]) -> Trigger:
        """The trigger a job carries, as `to_payload` stored it."""
        items = data.get("items")
        return cls(
            kind=data["kind"],
            repository=data.get("repository"),
            installation_id=data.get("installation_id"),
            target_kind=data.get("target_kind"),
            target_number=data.get("target_number"),
            sender=data.get("sender"),
            role=Role(data.get("role", Role.KM.value)),
            source=dict(data.get("source") or {}),
            items=tuple(items) if items is not None else None,
        )

    def to_payload(self) -> dict[str, Any]:
        """The JSON a job carries; `from_payload` reads it back. (Written out: `dataclasses.asdict`
        deep-copies recursively and was a tenth of the webhook's time under load.)"""
        return {
            "kind": self.kind,
            "repository": self.repository,
            "installation_id": self.installation_id,
            "target_kind": self.target_kind,
            "target_number": self.target_number,
            "sender": self.sender,
            "role": self.role.value,
            "source": dict(self.source),
            "items": list(self.items) if self.items is not None else None,
        }

    @property
    def target_key(self) -> str:
        if self.target_number is None:
            return f"installation:{self.installation_id}"
        return f"{self.repository}#{self.target_number}"

    @property
    def coalesce_key(self) -> str | None:
        """Diagnosis triggers by one sender for one target join a waiting job; approvals never do
        (each names its own items), and one person's trigger never rides on another's permission."""
        if self.kind != "self_improve":
            return None
        return f"{self.kind}:{self.target_key}:{self.sender}"

    @property
    def idempotency_key(self) -> str:
        """Repository, target, kind and the triggering object: the same trigger delivered twice coalesces."""
        origin = self.source.get("origin", "")
        return f"{self.kind}:{self.target_key}:{origin}"


@dataclass(frozen=True)
class Command:
    verb: Literal["diagnose", "apply"]
    items: tuple[str, ...] | None = None


def parse_command(body: str, *, app_slug: str | None = None) -> Command | None:
    """`/self-improve`, `/self-improve apply [A1 A3]` or `@<app-slug> self-improve …` on a line of its own.

    Quoted lines (`> …`) and fenced code are skipped, so quoting someone's command does not run it.
    """
    in_fence = False
    mention = re.escape(f"@{app_slug}") if app_slug else None
    for raw in body.splitlines():
        line = raw.strip()
        if line.startswith("```") or line.startswith("~~~"):
            in_fence = not in_fence
            continue
        if in_fence or line.startswith(">"):
            continue
        words = line.split()
        if not words:
            continue
        if words[0].lower() == "/self-improve":
            rest = words[1:]
        elif (
            mention
            and re.fullmatch(mention, words[0], re.IGNORECASE)
            and len(words) > 1
            and words[1].lower() == "self-improve"
        ):
            rest = words[2:]
        else:
            continue
        if not rest or rest[0].lower() in {"run", "rerun", "diagnose"}:
            return Command("diagnose")
        if rest[0].lower() in {"apply", "approve"}:
            ids = tuple(dict.fromkeys(w.upper().rstrip(",") for w in rest[1:]))
            if ids and all(_ITEM_ID.match(i) for i in ids):
                return Command("apply", ids)
            if not ids or [i.lower() for i in ids] == ["all"]:
                return Command("apply", None)
        return None  # `/self-improve something-else`: not a command we know
    return None


TargetKind = Literal["issue", "pull_request"]


def parse_check_external_id(external_id: str | None) -> tuple[TargetKind, int] | None:
    """Our check runs carry `self-improve:<issue|pull_request>:<number>[:…]` as external_id."""
    if not external_id:
        return None
    parts = external_id.split(":")
    if len(parts) < 3 or parts[0] != "self-improve" or not parts[2].isdigit():
        return None
    if parts[1] == "issue":
        return "issue", int(parts[2])
    if parts[1] == "pull_request":
        return "pull_request", int(parts[2])
    return None


def check_external_id(target_kind: str, number: int, run_id: int) -> str:
    return f"self-improve:{target_kind}:{number}:{run_id}"


def _common(payload: dict[str, Any]) -> tuple[str | None, int | None, str | None]:
    repo = payload.get("repository") or {}
    inst = payload.get("installation") or {}
    sender = payload.get("sender") or {}
    return repo.get("full_name"), inst.get("id"), sender.get("login")


def _is_label_for_us(label: str) -> bool:
    """Labels the intake can route without reading the repository's config (which needs the API):
    ours (`self-improve…`) and stage labels whose role is the knowledge manager."""
    return label.startswith("self-improve") or role_for_label(label) is Role.KM


def route(
    event: str, payload: dict[str, Any], *, app_id: int | None = None, app_slug: str | None = None
) -> list[Trigger]:
    """The work an event asks for; an empty list means nothing to do (unknown event or action)."""
    action = payload.get("action")
    repo, installation_id, sender = _common(payload)
    source: dict[str, Any] = {"event": event, "action": action}

    if event in {"issues", "pull_request"} and action == "labeled":
        label = (payload.get("label") or {}).get("name") or ""
        item = payload.get("issue") if event == "issues" else payload.get("pull_request")
        if not item or not _is_label_for_us(label):
            return []
        kind: Literal["issue", "pull_request"] = (
            "pull_request" if event == "pull_request" or item.get("pull_request") else "issue"
        )
        origin = f"label:{label}:{item.get('updated_at') or ''}"
        job: JobKind = "approve" if label == APPROVE_LABEL else "self_improve"
        return [
            Trigger(
                job,
                repo,
                installation_id,
                kind,
                item.get("number"),
                sender,
                source={**source, "label": label, "origin": origin},
            )
        ]

    if event == "issue_comment" and action == "created":
        comment = payload.get("comment") or {}
        issue = payload.get("issue") or {}
        command = parse_command(comment.get("body") or "", app_slug=app_slug)
        if command is None or not issue:
            return []
        kind = "pull_request" if issue.get("pull_request") else "issue"
        src = {**source, "comment_id": comment.get("id"), "origin": f"comment:{comment.get('id')}"}
        if command.verb == "apply":
            return [
                Trigger(
                    "approve",
                    repo,
                    installation_id,
                    kind,
                    issue.get("number"),
                    sender,
                    source=src,
                    items=command.items,
                )
            ]
        return [
            Trigger(
                "self_improve", repo, installation_id, kind, issue.get("number"), sender, source=src
            )
        ]

    if event == "check_run" and action in {"requested_action", "rerequested"}:
        check = payload.get("check_run") or {}
        if app_id is None or (check.get("app") or {}).get("id") != app_id:
            return []  # GitHub sends these only to the requested App; check anyway (R-CHK-3)
        target = parse_check_external_id(check.get("external_id"))
        if target is None:
            return []
        src = {
            **source,
            "check_run_id": check.get("id"),
            "origin": f"check:{check.get('id')}:{action}",
        }
        if action == "rerequested":
            return [
                Trigger(
                    "self_improve", repo, installation_id, target[0], target[1], sender, source=src
                )
            ]
        identifier = (payload.get("requested_action") or {}).get("identifier")
        src["origin"] += f":{identifier}:{payload.get('requested_action_at', '')}"
        if identifier == "apply":
            return [
                Trigger("approve", repo, installation_id, target[0], target[1], sender, source=src)
            ]
        if identifier == "rerun":
            return [
                Trigger(
                    "self_improve", repo, installation_id, target[0], target[1], sender, source=src
                )
            ]
        return []  # an identifier we did not offer is ignored

    if event == "pull_request" and action in {"opened", "synchronize", "reopened"}:
        pull = payload.get("pull_request") or {}
        head = (pull.get("head") or {}).get("sha")
        return [
            Trigger(
                "guardrails",
                repo,
                installation_id,
                "pull_request",
                pull.get("number"),
                sender,
                source={**source, "head_sha": head, "origin": f"head:{head}"},
            )
        ]

    if (event == "installation" and action in _INSTALLATION_ACTIONS) or (
        event == "installation_repositories" and action in {"added", "removed"}
    ):
        inst = payload.get("installation") or {}
        changed = payload.get("repositories_added") or payload.get("repositories_removed") or []
        stamp = inst.get("updated_at") or ",".join(str(r.get("id")) for r in changed)
        return [
            Trigger(
                "installation",
                None,
                inst.get("id"),
                None,
                None,
                sender,
                source={
                    **source,
                    "account": (inst.get("account") or {}).get("login"),
                    "origin": f"{event}:{action}:{stamp}",
                },
            )
        ]
    return []
