"""Who the double is: the GitHub App, its installation and bot user, and object addresses."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

Json = dict[str, Any]

DEFAULT_PERMISSIONS: dict[str, str] = {
    "actions": "read",
    "checks": "write",
    "contents": "write",
    "issues": "write",
    "metadata": "read",
    "pull_requests": "write",
}
DEFAULT_EVENTS: tuple[str, ...] = (
    "check_run",
    "issue_comment",
    "issues",
    "pull_request",
    "pull_request_review",
    "pull_request_review_comment",
)


def iso(now: float) -> str:
    return datetime.fromtimestamp(int(now), tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def node_id(prefix: str, key: object) -> str:
    return f"{prefix}_kwDO" + base64.b64encode(str(key).encode()).decode().rstrip("=")


@dataclass(frozen=True)
class Addresses:
    """The API and web origins that object `url`/`html_url` fields use (taken from the snapshot)."""

    api: str = "https://api.github.com"
    web: str = "https://github.com"

    @staticmethod
    def of(repository: Json) -> Addresses:
        full = str(repository.get("full_name", ""))
        api = str(repository.get("url") or "")
        web = str(repository.get("html_url") or "")
        suffix_api, suffix_web = f"/repos/{full}", f"/{full}"
        return Addresses(
            api=api[: -len(suffix_api)] if api.endswith(suffix_api) else "https://api.github.com",
            web=web[: -len(suffix_web)] if web.endswith(suffix_web) else "https://github.com",
        )

    def user(self, login: str, user_id: int, kind: str = "User") -> Json:
        return {
            "login": login,
            "id": user_id,
            "node_id": node_id("U" if kind == "User" else "BOT", user_id),
            "avatar_url": f"https://avatars.githubusercontent.com/u/{user_id}?v=4",
            "gravatar_id": "",
            "url": f"{self.api}/users/{login}",
            "html_url": f"{self.web}/{login}"
            if kind == "User"
            else f"{self.web}/apps/{login[:-5]}",
            "type": kind,
            "site_admin": False,
        }


@dataclass(frozen=True)
class AppIdentity:
    """The GitHub App the double impersonates, and the installation on the snapshot's repository."""

    id: int = 1
    slug: str = "self-improve"
    name: str = "self-improve"
    client_id: str = "Iv1.fake0000000001"
    owner_login: str = "acme"
    permissions: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_PERMISSIONS))
    events: tuple[str, ...] = DEFAULT_EVENTS
    installation_id: int = 42
    bot_user_id: int = 41898282
    created_at: str = "2026-01-01T00:00:00Z"

    @property
    def bot_login(self) -> str:
        return f"{self.slug}[bot]"

    def bot_email(self) -> str:
        return f"{self.bot_user_id}+{self.bot_login}@users.noreply.github.com"

    def bot_user(self, at: Addresses) -> Json:
        return at.user(self.bot_login, self.bot_user_id, kind="Bot")

    def app_object(self, at: Addresses) -> Json:
        return {
            "id": self.id,
            "slug": self.slug,
            "client_id": self.client_id,
            "node_id": node_id("A", self.id),
            "owner": at.user(self.owner_login, 1000 + self.id, kind="Organization"),
            "name": self.name,
            "description": "Diagnoses recurring problems of AI coding agents",
            "external_url": f"{at.web}/apps/{self.slug}",
            "html_url": f"{at.web}/apps/{self.slug}",
            "created_at": self.created_at,
            "updated_at": self.created_at,
            "permissions": dict(self.permissions),
            "events": list(self.events),
            "installations_count": 1,
        }

    def installation_object(self, at: Addresses, account: Json) -> Json:
        return {
            "id": self.installation_id,
            "account": account,
            "repository_selection": "selected",
            "access_tokens_url": f"{at.api}/app/installations/{self.installation_id}/access_tokens",
            "repositories_url": f"{at.api}/installation/repositories",
            "html_url": f"{at.web}/organizations/{account.get('login')}/settings/installations/"
            f"{self.installation_id}",
            "app_id": self.id,
            "app_slug": self.slug,
            "client_id": self.client_id,
            "target_id": account.get("id"),
            "target_type": account.get("type", "Organization"),
            "permissions": dict(self.permissions),
            "events": list(self.events),
            "created_at": self.created_at,
            "updated_at": self.created_at,
            "single_file_name": None,
            "has_multiple_single_files": False,
            "single_file_paths": [],
            "suspended_by": None,
            "suspended_at": None,
        }


def generate_app_key() -> bytes:
    """A fresh 2048-bit RSA private key (PEM), as GitHub hands an App: for the double, tests and demo."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
