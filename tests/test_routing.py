"""Routing and preconditions: pure tables over real octokit payloads, adjusted per case."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from app.policy import check_label, check_permission, check_sender
from app.repo_config import RepoConfig
from app.roles import LABEL_ROLES, Role, role_for_label
from app.routing import Command, Trigger, check_external_id, parse_command, route

WEBHOOKS = Path(__file__).parent / "fixtures" / "webhooks"
APP_ID = 2


def payload(name: str, **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((WEBHOOKS / name).read_text())
    for dotted, value in changes.items():
        node = data
        *parents, leaf = dotted.split("__")
        for p in parents:
            node = node[p]
        node[leaf] = value
    return copy.deepcopy(data)


@pytest.mark.parametrize(
    "path", sorted(WEBHOOKS.glob("*/*.json")), ids=lambda p: f"{p.parent.name}/{p.stem}"
)
def test_every_fixture_parses_and_routes(path: Path) -> None:
    """Every recorded payload routes without error; routed work names its repository or installation."""
    event = path.parent.name
    data = json.loads(path.read_text())
    for trigger in route(event, data, app_id=APP_ID, app_slug="self-improve"):
        assert trigger.repository or trigger.installation_id


@pytest.mark.parametrize(
    ("event", "name", "changes", "expected"),
    [
        (
            "issues",
            "issues/labeled.json",
            {"label__name": "run:self-improve"},
            ("self_improve", "issue"),
        ),
        (
            "issues",
            "issues/labeled.json",
            {"label__name": "self-improve:approved"},
            ("approve", "issue"),
        ),
        ("issues", "issues/labeled.json", {"label__name": "bug"}, None),
        ("issues", "issues/labeled.json", {"label__name": "run:dev"}, None),
        (
            "pull_request",
            "pull_request/labeled.json",
            {"label__name": "run:self-improve"},
            ("self_improve", "pull_request"),
        ),
        ("issues", "issues/unlabeled.json", {"label__name": "run:self-improve"}, None),
        (
            "issue_comment",
            "issue_comment/created.json",
            {"comment__body": "/self-improve"},
            ("self_improve", "issue"),
        ),
        (
            "issue_comment",
            "issue_comment/created.json",
            {"comment__body": "/self-improve apply A1 A3"},
            ("approve", "issue"),
        ),
        ("issue_comment", "issue_comment/edited.json", {"comment__body": "/self-improve"}, None),
        ("issue_comment", "issue_comment/created.json", {"comment__body": "thanks!"}, None),
        ("pull_request", "pull_request/opened.json", {}, ("guardrails", "pull_request")),
        ("pull_request", "pull_request/synchronize.json", {}, ("guardrails", "pull_request")),
        ("pull_request", "pull_request/closed.json", {}, None),
        ("workflow_run", "workflow_run/completed.json", {}, None),
        ("ping", "ping/event.json", {}, None),
    ],
)
def test_route_table(
    event: str, name: str, changes: dict[str, Any], expected: tuple[str, str] | None
) -> None:
    """Labels, commands and PR events map to the right job kind and target; the rest to nothing."""
    triggers = route(event, payload(name, **changes), app_id=APP_ID)
    if expected is None:
        assert triggers == []
    else:
        assert [(t.kind, t.target_kind) for t in triggers] == [expected]
        assert triggers[0].target_number is not None
        assert triggers[0].role is Role.KM


def test_approval_command_carries_item_ids() -> None:
    """`/self-improve apply A1 A3` names the items; bare `apply` means all of them."""
    [some] = route(
        "issue_comment",
        payload("issue_comment/created.json", comment__body="/self-improve apply A1 a3"),
    )
    assert some.items == ("A1", "A3")
    [every] = route(
        "issue_comment", payload("issue_comment/created.json", comment__body="/self-improve apply")
    )
    assert every.items is None


def test_same_comment_delivered_twice_has_one_idempotency_key() -> None:
    """Two deliveries of one trigger coalesce: the key names repository, target, kind and the comment."""
    data = payload("issue_comment/created.json", comment__body="/self-improve")
    [a], [b] = route("issue_comment", data), route("issue_comment", copy.deepcopy(data))
    assert a.idempotency_key == b.idempotency_key
    assert a.idempotency_key.startswith("self_improve:Codertocat/Hello-World#")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("/self-improve", Command("diagnose")),
        ("  /self-improve rerun", Command("diagnose")),
        ("Could you look?\n/self-improve\nthanks", Command("diagnose")),
        ("/self-improve apply", Command("apply", None)),
        ("/self-improve apply all", Command("apply", None)),
        ("/self-improve apply A1, A2 A1", Command("apply", ("A1", "A2"))),
        ("/self-improve apply rm -rf", None),
        ("/self-improve delete-everything", None),
        ("> /self-improve", None),
        ("```\n/self-improve\n```", None),
        ("please do /self-improve", None),
        ("@self-improve self-improve", Command("diagnose")),
        ("@other-bot self-improve", None),
    ],
)
def test_parse_command(body: str, expected: Command | None) -> None:
    """Commands stand at the start of a line, outside quotes and code fences."""
    assert parse_command(body, app_slug="self-improve") == expected


def test_check_run_actions_only_for_our_app() -> None:
    """requested_action and rerequested count only on our own check run, with a known identifier."""
    ext = check_external_id("issue", 12, 5)
    ours = payload(
        "check_run/requested_action.json", check_run__app__id=APP_ID, check_run__external_id=ext
    )
    ours["requested_action"] = {"identifier": "apply"}
    [t] = route("check_run", ours, app_id=APP_ID)
    assert (t.kind, t.target_kind, t.target_number) == ("approve", "issue", 12)
    ours["requested_action"] = {"identifier": "rerun"}
    assert [t.kind for t in route("check_run", ours, app_id=APP_ID)] == ["self_improve"]
    ours["requested_action"] = {"identifier": "lgtm"}
    assert route("check_run", ours, app_id=APP_ID) == []
    theirs = payload("check_run/requested_action.json", check_run__external_id=ext)
    assert route("check_run", theirs, app_id=APP_ID) == []
    rerun = payload(
        "check_run/rerequested.json", check_run__app__id=APP_ID, check_run__external_id=ext
    )
    assert [t.kind for t in route("check_run", rerun, app_id=APP_ID)] == ["self_improve"]


def test_installation_events_are_recorded() -> None:
    """installation and installation_repositories events route to installation bookkeeping."""
    for name, event in [
        ("installation/deleted.json", "installation"),
        ("installation/created.json", "installation"),
        ("installation_repositories/added.json", "installation_repositories"),
    ]:
        [t] = route(event, payload(name))
        assert t.kind == "installation" and t.installation_id


def test_label_role_table() -> None:
    """run:self-improve goes to the knowledge manager; every stage label has a role from the catalog."""
    assert role_for_label("run:self-improve") is Role.KM
    assert role_for_label("agents:learn", trigger_label="agents:learn") is Role.KM
    assert role_for_label("bug") is None
    assert set(LABEL_ROLES.values()) == set(Role)


def _trigger(kind: str = "self_improve", sender: str = "octo", label: str | None = None) -> Any:
    body = "/self-improve apply" if kind == "approve" else "/self-improve"
    data = payload("issue_comment/created.json", comment__body=body)
    data["sender"]["login"] = sender
    [t] = route("issue_comment", data)
    if label is not None:
        t.source["label"] = label
    return t


@pytest.mark.parametrize(
    ("permission", "association", "allowed"),
    [
        ("admin", "OWNER", True),
        ("write", "MEMBER", True),
        ("write", "NONE", True),  # an outside collaborator with write: the API decides
        ("read", "OWNER", False),  # association never decides
        ("read", "MEMBER", False),
        ("none", "CONTRIBUTOR", False),
        ("triage", "COLLABORATOR", False),
        (None, "FIRST_TIME_CONTRIBUTOR", False),
    ],
)
def test_permission_comes_from_the_api(
    permission: str | None, association: str, allowed: bool
) -> None:
    """Only admin or write from the permission API allow a run, whatever author_association says."""
    refusal = check_permission(_trigger(), permission)
    assert (refusal is None) is allowed
    if refusal is not None:
        assert refusal.reply and refusal.precondition == "sender-permission"


def test_bots_and_our_own_events_are_ignored_silently() -> None:
    """Our own events and other bots never run work, and get no reply (no comment loops)."""
    own = check_sender(
        _trigger(sender="self-improve[bot]"), sender_type="Bot", app_slug="self-improve"
    )
    assert own is not None and own.precondition == "own-event" and not own.reply
    bot = check_sender(
        _trigger(sender="dependabot[bot]"), sender_type="Bot", app_slug="self-improve"
    )
    assert bot is not None and not bot.reply
    assert check_sender(_trigger(), sender_type="User", app_slug="self-improve") is None


def test_label_must_match_repository_config() -> None:
    """A label trigger runs only when it is this repository's configured label."""
    custom = RepoConfig(trigger_label="self-improve:run")
    assert check_label(_trigger(label="run:self-improve"), RepoConfig()) is None
    refused = check_label(_trigger(label="run:self-improve"), custom)
    assert refused is not None and not refused.reply
    assert check_label(_trigger(label="self-improve:run"), custom) is None
    assert check_label(_trigger("approve", label="self-improve:approved"), RepoConfig()) is None


@pytest.mark.parametrize("items", [None, ("a1", "a2")], ids=["all-items", "named-items"])
def test_trigger_payload_round_trips_every_field(items: tuple[str, ...] | None) -> None:
    """A job carries `to_payload`; `from_payload` gives the same trigger back, every field kept
    (a field added to Trigger but not to to_payload fails here)."""
    import dataclasses

    trigger = Trigger(
        kind="approve",
        repository="acme/widgets",
        installation_id=7,
        target_kind="pull_request",
        target_number=12,
        sender="octo",
        role=Role.KM,
        source={"event": "issue_comment", "comment_id": 3},
        items=items,
    )
    payload = trigger.to_payload()
    assert json.loads(json.dumps(payload)) == payload
    assert set(payload) == {f.name for f in dataclasses.fields(Trigger)}
    assert Trigger.from_payload(payload) == trigger
