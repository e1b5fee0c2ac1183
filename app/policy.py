"""Preconditions the worker checks before any effect: who may trigger, and which triggers are ours."""

from __future__ import annotations

from dataclasses import dataclass

from app.repo_config import RepoConfig
from app.routing import Trigger

# `GET /repos/{o}/{r}/collaborators/{user}/permission` answers admin, write, read or none; `maintain`
# and custom roles built on write come back as `write` (role_name holds the finer name).
ALLOWED_PERMISSIONS = frozenset({"admin", "write"})


@dataclass(frozen=True)
class Refusal:
    """Why a trigger does not run. `reply` is False for events answered with silence (bots, other labels)."""

    precondition: str
    message: str
    reply: bool = True


def is_bot(login: str | None, sender_type: str | None) -> bool:
    return sender_type == "Bot" or (login or "").endswith("[bot]")


def check_sender(
    trigger: Trigger, *, sender_type: str | None, app_slug: str | None
) -> Refusal | None:
    """Before the API is asked anything: events from bots, this app included, never run work."""
    if app_slug and trigger.sender == f"{app_slug}[bot]":
        return Refusal("own-event", "event caused by this app", reply=False)
    if is_bot(trigger.sender, sender_type):
        return Refusal(
            "bot-sender", f"events from bots ({trigger.sender}) do not trigger runs", reply=False
        )
    return None


def check_label(trigger: Trigger, config: RepoConfig) -> Refusal | None:
    """A label routes to us only when it is this repository's trigger or approval label."""
    label = trigger.source.get("label")
    if label is None:
        return None
    if trigger.kind == "approve" and label == config.approve_label:
        return None
    if trigger.kind == "self_improve" and label == config.trigger_label:
        return None
    return Refusal(
        "not-our-label", f"label {label!r} is not this repository's trigger", reply=False
    )


def check_permission(trigger: Trigger, permission: str | None) -> Refusal | None:
    """The sender's real permission, from the API: admin or write. `author_association` never decides."""
    if permission in ALLOWED_PERMISSIONS:
        return None
    what = "approve changes" if trigger.kind == "approve" else "start a self-improve run"
    return Refusal(
        "sender-permission",
        f"@{trigger.sender} needs write or admin permission on this repository to {what} "
        f"(GitHub reports `{permission or 'none'}`).",
    )
