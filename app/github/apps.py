"""The GitHub client factory: App, installation and token clients that share tokens, caches and limits."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from app.github.auth import (
    AppJWT,
    InstallationCredentials,
    InstallationTokens,
    StaticToken,
    grantable_permissions,
    permissions_for,
    token_request_body,
)
from app.github.client import ClientConfig, ClientState, GitHubClient
from app.github.errors import GitHubError, ValidationFailed
from app.github.retry import DEFAULT_POLICY, RetryPolicy
from app.metrics import Metrics
from app.settings import Settings, SettingsError

log = logging.getLogger(__name__)

DEFAULT_USER_AGENT = "self-improve"


class GitHubApps:
    """One per process: hands out clients; everything of one installation is shared between its clients.

    App-level (JWT) mutations are token mints and webhook redeliveries, not content creation, so they
    run one at a time but without the 1 s spacing that installation writes get.
    """

    def __init__(
        self,
        settings: Settings,
        session: aiohttp.ClientSession,
        metrics: Metrics | None = None,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        jitter: Callable[[], float] = random.random,
        mutation_spacing: float = 1.0,
        retry: RetryPolicy = DEFAULT_POLICY,
        max_in_flight: int = 8,
        max_total_in_flight: int = 50,
    ) -> None:
        self._settings = settings
        self._session = session
        self._metrics = metrics
        self._clock = clock
        self._sleep = sleep
        self._jitter = jitter
        self._spacing = mutation_spacing
        self._retry = retry
        self._max_in_flight = max_in_flight
        self._total = asyncio.Semaphore(max_total_in_flight)
        self._states: dict[str, ClientState] = {}
        self._app_credentials: AppJWT | None = None
        self._installations: dict[tuple[str, str], int] = {}
        self._app_info: dict[str, Any] | None = None
        self._app_info_lock = asyncio.Lock()
        self.tokens = InstallationTokens(self._mint, clock=clock)

    def __repr__(self) -> str:
        return f"GitHubApps({self._settings.github_api_url!r}, states={sorted(self._states)})"

    def state(self, label: str) -> ClientState:
        """The shared state of an installation id, "app" or "token" (created on first use)."""
        if label not in self._states:
            self._states[label] = ClientState(
                label, max_in_flight=self._max_in_flight, total=self._total
            )
        return self._states[label]

    def _client(self, credentials: Any, label: str, spacing: float) -> GitHubClient:
        slug = (self._app_info or {}).get("slug")
        config = ClientConfig(
            base_url=self._settings.github_api_url,
            user_agent=slug if isinstance(slug, str) and slug else DEFAULT_USER_AGENT,
            api_version=self._settings.github_api_version,
            max_in_flight=self._max_in_flight,
            mutation_spacing=spacing,
            retry=self._retry,
        )
        return GitHubClient(
            self._session,
            credentials,
            state=self.state(label),
            config=config,
            metrics=self._metrics,
            clock=self._clock,
            sleep=self._sleep,
            jitter=self._jitter,
        )

    def app_client(self) -> GitHubClient:
        """A client authenticated as the App (JWT): /app, /app/hook/…, /repos/{o}/{r}/installation."""
        if self._app_credentials is None:
            if self._settings.app_id is None:
                raise SettingsError("APP_ID: not set; the App's own calls need it")
            self._app_credentials = AppJWT(
                self._settings.app_id, self._settings.private_key_pem(), self._clock
            )
        return self._client(self._app_credentials, "app", spacing=0.0)

    def installation_client(
        self, installation_id: int, *, repository: str, purpose: str
    ) -> GitHubClient:
        """A client on a token down-scoped to one repository (name only) and one job step's permissions."""
        permissions = permissions_for(purpose)
        token_request_body(
            repository, permissions
        )  # refuses "owner/name" now, not at first request
        credentials = InstallationCredentials(self.tokens, installation_id, repository, permissions)
        return self._client(credentials, str(installation_id), spacing=self._spacing)

    def token_client(self, token: str) -> GitHubClient:
        """A client on a ready-made token (a personal access token for the snapshot CLI)."""
        return self._client(StaticToken(token), "token", spacing=self._spacing)

    def invalidate_installation(self, installation_id: int) -> None:
        """Forget an installation (deleted or suspended): its tokens, its cached bodies, its repo lookups."""
        dropped = self.tokens.invalidate_installation(installation_id)
        self._states.pop(str(installation_id), None)
        for key in [k for k, v in self._installations.items() if v == installation_id]:
            del self._installations[key]
        log.info("installation %s forgotten (%d tokens dropped)", installation_id, dropped)

    async def installation_id_for(self, owner: str, repo: str) -> int:
        """The installation that covers OWNER/REPO (remembered until the installation is invalidated)."""
        key = (owner.lower(), repo.lower())
        if key not in self._installations:
            data = await self.app_client().getitem(
                "/repos/{owner}/{repo}/installation", {"owner": owner, "repo": repo}
            )
            if not isinstance(data, dict) or not isinstance(data.get("id"), int):
                raise GitHubError(200, "installation answer has no id", url=f"{owner}/{repo}")
            self._installations[key] = data["id"]
        return self._installations[key]

    async def app_info(self) -> dict[str, Any]:
        """`GET /app`, fetched once: `slug` names our bot (to ignore our own events) and the User-Agent."""
        async with self._app_info_lock:
            if self._app_info is None:
                data = await self.app_client().getitem("/app")
                if not isinstance(data, dict):
                    raise GitHubError(200, "GET /app answer is not an object", url="/app")
                self._app_info = data
        return dict(self._app_info)

    async def _mint(self, installation_id: int, body: dict[str, Any]) -> Any:
        """POST the token request; if the installation lacks an asked permission, ask for what it has."""
        client = self.app_client()
        url = f"/app/installations/{installation_id}/access_tokens"
        try:
            return await client.post(url, data=body)
        except ValidationFailed as refused:
            # 422 "The permissions requested are not granted to this installation."
            try:
                installation = await client.getitem(f"/app/installations/{installation_id}")
            except GitHubError:
                raise refused from None
            granted = installation.get("permissions") if isinstance(installation, dict) else None
            if not isinstance(granted, dict):
                raise
            usable, lacking = grantable_permissions(body["permissions"], granted)
            if not lacking:
                raise
            log.warning(
                "installation %s lacks %s; minting with what it grants",
                installation_id,
                ", ".join(f"{k}:{v}" for k, v in sorted(lacking.items())),
                extra={"installation": str(installation_id), "lacking_permissions": lacking},
            )
            return await client.post(url, data={**body, "permissions": usable})
