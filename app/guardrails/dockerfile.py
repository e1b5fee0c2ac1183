"""Agent-image checks that need the whole Dockerfile: the user it finally runs as, pinned bases, copied keys."""

from __future__ import annotations

from app.guardrails import rules
from app.guardrails.detectors import Finding, Pair, quote
from app.guardrails.statements import Document, Statement


def _user(statement: Statement) -> str | None:
    match = rules.DOCKER_USER.match(statement.text)
    return match.group(1) if match else None


def is_root(user: str | None) -> bool:
    return user is None or user.split(":", 1)[0].strip("\"'") in {"root", "0"}


def final_user_findings(old: Document, new: Document) -> list[Finding]:
    """dockerfile-root: the image no longer ends as an unprivileged user."""
    old_users = [(s, _user(s)) for s in old.statements if _user(s) is not None]
    new_users = [(s, _user(s)) for s in new.statements if _user(s) is not None]
    if old.complete and new.complete:
        if not old_users or is_root(old_users[-1][1]):
            return []
        if new_users and not is_root(new_users[-1][1]):
            return []
        if new_users:
            statement = new_users[-1][0]
            return [
                Finding(
                    "dockerfile-root",
                    f"Makes the agent image run as root: {quote(statement.text)}.",
                    statement,
                )
            ]
        statement = old_users[-1][0]
        return [
            Finding(
                "dockerfile-root",
                f"Removes {quote(statement.text)}, so the agent image runs as root.",
                statement,
            )
        ]
    found: list[Finding] = []
    added_users = {u for s, u in new_users if s.changed}
    for statement, user in old_users:
        if statement.changed and not is_root(user) and user not in added_users:
            found.append(
                Finding(
                    "dockerfile-root",
                    f"Removes {quote(statement.text)}, so the agent image may run as root.",
                    statement,
                )
            )
    for index, (statement, user) in enumerate(new_users):
        later_non_root = any(not is_root(u) for _, u in new_users[index + 1 :])
        if statement.changed and is_root(user) and not later_non_root:
            found.append(
                Finding(
                    "dockerfile-root",
                    f"Makes the agent image run as root: {quote(statement.text)}.",
                    statement,
                )
            )
    return found


def _pinned(image: str) -> bool:
    if "@sha256:" in image:
        return True
    name = image.rsplit("/", 1)[-1]
    return ":" in name and not name.endswith(":latest")


def unpinned_image(pair: Pair) -> list[Finding]:
    """dockerfile: a pinned base image replaced by `latest` or an untagged one."""
    old = rules.DOCKER_FROM.match(pair.old.text)
    new = rules.DOCKER_FROM.match(pair.new.text)
    if old and new and _pinned(old.group(1)) and not _pinned(new.group(1)):
        return [
            Finding(
                "dockerfile-unpinned",
                f"Replaces the pinned base image {quote(old.group(1))} with {quote(new.group(1))}.",
                pair.new,
            )
        ]
    return []


def copied_credentials(statement: Statement) -> list[Finding]:
    """secret: a key or credentials file copied into the agent image."""
    if rules.CREDENTIAL_COPY.search(statement.text):
        return [
            Finding(
                "secret",
                f"Copies a credentials file into the agent image: {quote(statement.text)}.",
                statement,
            )
        ]
    return []
