"""Who the client is to GitHub: the App's JWT, down-scoped installation tokens (cached), or a static token."""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, get_args

import jwt

Purpose = Literal["gather", "publish", "update"]

# Least privilege per job step (R-AUTH-3): gathering reads; publishing writes the check run, the comment and
# reactions; updating writes the branch and the PR. `metadata: read` is implied for every App; asking for
# it keeps the request explicit.
# https://docs.github.com/en/rest/apps/apps#create-an-installation-access-token-for-an-app
PERMISSIONS: Mapping[Purpose, Mapping[str, str]] = {
    "gather": {
        "actions": "read",
        "checks": "read",
        "contents": "read",
        "issues": "read",
        "metadata": "read",
        "pull_requests": "read",
    },
    "publish": {
        "actions": "read",
        "checks": "write",
        "contents": "read",
        "issues": "write",
        "metadata": "read",
        "pull_requests": "write",
    },
    "update": {
        "contents": "write",
        "issues": "write",
        "metadata": "read",
        "pull_requests": "write",
    },
}

JWT_BACKDATE = 60  # GitHub's advice: iat 60 s in the past absorbs clock drift
JWT_LIFETIME = 540  # under GitHub's 10-minute maximum, measured from now
JWT_REUSE = 420  # mint a fresh JWT well before the old one expires
TOKEN_REFRESH_MARGIN = 300.0  # refresh an installation token 5 minutes before `expires_at`

_LEVELS = {"read": 1, "write": 2, "admin": 3}


class CredentialsError(ValueError):
    """The App's key cannot sign, or a token answer is unusable; the message never holds secret material."""


def make_app_jwt(app_id: int | str, private_key_pem: bytes, *, now: float) -> str:
    """The App's JWT: RS256, iat = now - 60, exp = now + 540, iss = the app (or client) id."""
    # https://docs.github.com/en/apps/creating-github-apps/authenticating-with-a-github-app/generating-a-json-web-token-jwt-for-a-github-app
    claims = {"iat": int(now) - JWT_BACKDATE, "exp": int(now) + JWT_LIFETIME, "iss": str(app_id)}
    try:
        return jwt.encode(claims, private_key_pem, algorithm="RS256")
    except (ValueError, TypeError, jwt.PyJWTError):
        # `from None`: the underlying error may describe the key; this names only the setting.
        raise CredentialsError("PRIVATE_KEY: not a usable RSA private key (PEM)") from None


def permissions_for(purpose: str) -> Mapping[str, str]:
    """The permission set of a job step; an unknown purpose is a programming error named in the message."""
    if purpose not in PERMISSIONS:
        raise ValueError(f"purpose: {purpose!r} is not one of {', '.join(get_args(Purpose))}")
    return PERMISSIONS[purpose]  # type: ignore[index]  # membership checked just above


def token_request_body(repository: str, permissions: Mapping[str, str]) -> dict[str, Any]:
    """The body of `POST /app/installations/{id}/access_tokens`: one repository, the given permissions."""
    if not repository or "/" in repository:
        raise ValueError(f"repository: give the name only (no owner), got {repository!r}")
    return {"repositories": [repository], "permissions": dict(permissions)}


def grantable_permissions(
    wanted: Mapping[str, str], granted: Mapping[str, str]
) -> tuple[dict[str, str], dict[str, str]]:
    """Split `wanted` into what the installation can grant (levels lowered to what it has) and what it lacks.

    GitHub refuses the whole token (422) when one asked permission exceeds the installation's; asking for
    the grantable part keeps the job running, and the lacking part becomes a reported gap.
    """
    usable: dict[str, str] = {}
    lacking: dict[str, str] = {}
    for name, level in wanted.items():
        have = granted.get(name)
        if have is None:
            lacking[name] = level
        elif _LEVELS.get(have, 0) >= _LEVELS.get(level, 0):
            usable[name] = level
        else:
            usable[name] = have
            lacking[name] = level
    return usable, lacking


@dataclass(frozen=True)
class InstallationToken:
    """A minted installation token; the token itself stays out of reprs."""

    token: str = field(repr=False)
    expires_at: float
    permissions: Mapping[str, str] = field(default_factory=dict)

    def fresh(self, now: float, margin: float = TOKEN_REFRESH_MARGIN) -> bool:
        """True while the token has more than `margin` seconds left."""
        return now < self.expires_at - margin


def parse_token_response(data: Any) -> InstallationToken:
    """The `{token, expires_at, permissions}` answer of the mint endpoint, checked."""
    if not isinstance(data, Mapping) or not isinstance(data.get("token"), str):
        raise CredentialsError("access_tokens answer: no `token` string")
    raw = data.get("expires_at")
    try:
        expires = datetime.datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    except ValueError:
        raise CredentialsError(
            f"access_tokens answer: `expires_at` {raw!r} is not a date"
        ) from None
    if expires.tzinfo is None:
        expires = expires.replace(tzinfo=datetime.UTC)
    permissions = data.get("permissions")
    return InstallationToken(
        token=data["token"],
        expires_at=expires.timestamp(),
        permissions=dict(permissions) if isinstance(permissions, Mapping) else {},
    )


class Credentials(Protocol):
    """What a client needs: an Authorization value, and a way to get a new one after a 401."""

    @property
    def label(self) -> str:
        """Whose requests these are, for metrics: an installation id, "app" or "token"."""
        ...

    async def authorization(self, *, renew_from: str | None = None) -> str:
        """The Authorization header value; with `renew_from` (a value just refused), a new one if possible."""
        ...


@dataclass
class StaticToken:
    """A personal or otherwise ready-made token (the snapshot CLI's `--token`): nothing to renew."""

    token: str = field(repr=False)
    label: str = "token"

    async def authorization(self, *, renew_from: str | None = None) -> str:
        return f"token {self.token}"


@dataclass
class AppJWT:
    """The App's own identity, for /app routes and for minting installation tokens."""

    app_id: int | str
    private_key_pem: bytes = field(repr=False)
    clock: Callable[[], float]
    label: str = "app"
    _jwt: str | None = field(default=None, repr=False)
    _minted_at: float = 0.0

    async def authorization(self, *, renew_from: str | None = None) -> str:
        now = self.clock()
        current = f"Bearer {self._jwt}" if self._jwt else None
        if current is None or now >= self._minted_at + JWT_REUSE or renew_from == current:
            self._jwt = make_app_jwt(self.app_id, self.private_key_pem, now=now)
            self._minted_at = now
        return f"Bearer {self._jwt}"


Mint = Callable[[int, dict[str, Any]], Awaitable[Any]]
_TokenKey = tuple[int, tuple[str, ...], tuple[tuple[str, str], ...]]


class InstallationTokens:
    """Installation tokens cached per (installation, repositories, permissions) until 5 min before expiry.

    One mint in flight per key: twenty concurrent callers wait on one lock and share one token.
    """

    def __init__(
        self,
        mint: Mint,
        *,
        clock: Callable[[], float],
        refresh_margin: float = TOKEN_REFRESH_MARGIN,
    ) -> None:
        self._mint = mint
        self._clock = clock
        self._margin = refresh_margin
        self._tokens: dict[_TokenKey, InstallationToken] = {}
        self._locks: dict[_TokenKey, asyncio.Lock] = {}
        # Bumped by invalidation, so a mint already in flight for a deleted installation is not cached.
        self._generation: dict[int, int] = {}
        self.minted = 0  # how many tokens were minted, for metrics and tests

    def __repr__(self) -> str:
        return f"InstallationTokens(cached={len(self._tokens)}, minted={self.minted})"

    async def get(
        self,
        installation_id: int,
        repository: str,
        permissions: Mapping[str, str],
        *,
        refused: str | None = None,
    ) -> InstallationToken:
        """A token with more than the margin left; `refused` (a token GitHub just rejected) forces a new one."""
        body = token_request_body(repository, permissions)
        key: _TokenKey = (installation_id, (repository,), tuple(sorted(permissions.items())))
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            cached = self._tokens.get(key)
            usable = cached is not None and cached.fresh(self._clock(), self._margin)
            if cached is not None and usable and cached.token != refused:
                return cached
            generation = self._generation.get(installation_id, 0)
            token = parse_token_response(await self._mint(installation_id, body))
            self.minted += 1
            if self._generation.get(installation_id, 0) == generation:
                self._tokens[key] = token
            return token

    def invalidate_installation(self, installation_id: int) -> int:
        """Forget every token of an installation (deleted or suspended); returns how many were dropped."""
        self._generation[installation_id] = self._generation.get(installation_id, 0) + 1
        keys = [k for k in self._tokens if k[0] == installation_id]
        for k in keys:
            del self._tokens[k]
        for k in [
            k for k in self._locks if k[0] == installation_id and not self._locks[k].locked()
        ]:
            del self._locks[k]
        return len(keys)


@dataclass
class InstallationCredentials:
    """Credentials of one installation, one repository and one job purpose."""

    tokens: InstallationTokens
    installation_id: int
    repository: str
    permissions: Mapping[str, str]

    @property
    def label(self) -> str:
        return str(self.installation_id)

    async def authorization(self, *, renew_from: str | None = None) -> str:
        refused = renew_from.split(" ", 1)[-1] if renew_from else None
        token = await self.tokens.get(
            self.installation_id, self.repository, self.permissions, refused=refused
        )
        return f"token {token.token}"
