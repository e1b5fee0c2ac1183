"""Credentials as GitHub checks them: App JWTs, installation tokens, and rate limits."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any, Literal

import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from app.fake_github.errors import ApiError
from app.fake_github.identity import AppIdentity

Json = dict[str, Any]
CredentialKind = Literal["token", "jwt", "none"]

JWT_SKEW = 60  # seconds of clock drift GitHub forgives on `iat`
JWT_MAX_LIFETIME = 600
LEVELS = {"read": 1, "write": 2, "admin": 3}


@dataclass(frozen=True)
class Credential:
    """What an Authorization header carries; the secret is kept out of reprs."""

    kind: CredentialKind
    secret: str = field(default="", repr=False)


def read_credential(header: str | None) -> Credential:
    if not header:
        return Credential("none")
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer" and value.count(".") == 2:
        return Credential("jwt", value)
    if scheme.lower() in {"bearer", "token"} and value:
        return Credential("token", value)
    return Credential("token", header)


def _decode_failure() -> ApiError:
    return ApiError(401, "A JSON web token could not be decoded")


def verify_jwt(token: str, *, app: AppIdentity, key: RSAPublicKey | None, now: float) -> None:
    """GitHub's checks on an App JWT: RS256, signature (when the key is known), iat, exp, iss."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise _decode_failure() from None
    if header.get("alg") != "RS256":
        raise _decode_failure()
    try:
        if key is not None:
            claims = jwt.decode(
                token,
                key,
                algorithms=["RS256"],
                options={
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                    "verify_iss": False,
                    "verify_aud": False,
                },
            )
        else:
            claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise _decode_failure() from None
    iss = claims.get("iss")
    if iss is None:
        raise ApiError(401, "Missing 'issuer' claim ('iss') in assertion")
    if str(iss) != app.client_id:
        if not str(iss).isdigit():
            raise ApiError(401, "'Issuer' claim ('iss') must be an Integer")
        if int(iss) != app.id:
            # a different App's id: GitHub finds no key for it
            raise _decode_failure()
    iat, exp = claims.get("iat"), claims.get("exp")
    if not isinstance(iat, int | float) or iat > now + JWT_SKEW:
        raise ApiError(
            401,
            "'Issued at' claim ('iat') must be an Integer representing the time that the "
            "assertion was issued",
        )
    if not isinstance(exp, int | float) or exp <= now:
        raise ApiError(
            401,
            "'Expiration time' claim ('exp') must be a numeric value representing the future "
            "time at which the assertion expires",
        )
    if exp - iat > JWT_MAX_LIFETIME:
        raise ApiError(401, "'Expiration time' claim ('exp') is too far in the future")


@dataclass(frozen=True)
class Token:
    """An installation access token: whom it is for, until when, and what it may reach."""

    value: str = field(repr=False)
    installation_id: int
    expires_at: float
    repositories: frozenset[str] | None  # full names; None = every repository of the installation
    permissions: dict[str, str]

    def reaches(self, full_name: str) -> bool:
        return self.repositories is None or full_name in self.repositories

    def allows(self, permission: str, level: str) -> bool:
        granted = self.permissions.get(permission)
        return granted is not None and LEVELS[granted] >= LEVELS[level]


def mint_token(
    *,
    app: AppIdentity,
    body: Json,
    repositories: dict[str, int],
    now: float,
    ttl: float,
) -> Token:
    """`POST /app/installations/{id}/access_tokens` body -> a token (down-scoped if asked)."""
    names = body.get("repositories")
    ids = body.get("repository_ids")
    chosen: set[str] | None = None
    if names is not None or ids is not None:
        chosen = set()
        wanted_names = names if isinstance(names, list) else []
        wanted_ids = ids if isinstance(ids, list) else []
        if len(wanted_names) + len(wanted_ids) > 500:
            raise ApiError(422, "The maximum number of repositories is 500.")
        by_short = {full.split("/")[1]: full for full in repositories}
        by_id = {rid: full for full, rid in repositories.items()}
        for name in wanted_names:
            full = by_short.get(str(name)) or (str(name) if str(name) in repositories else None)
            if full is None:
                raise ApiError(
                    422,
                    "There is at least one repository that does not exist or is not accessible "
                    "to the parent installation.",
                )
            chosen.add(full)
        for rid in wanted_ids:
            if rid not in by_id:
                raise ApiError(
                    422,
                    "There is at least one repository that does not exist or is not accessible "
                    "to the parent installation.",
                )
            chosen.add(by_id[rid])
    permissions = dict(app.permissions)
    asked = body.get("permissions")
    if asked is not None:
        if not isinstance(asked, dict):
            raise ApiError(
                422, "Invalid request.\n\nFor 'properties/permissions', value is not an object."
            )
        for name, level in asked.items():
            granted = app.permissions.get(name)
            if level not in LEVELS or granted is None or LEVELS[level] > LEVELS[granted]:
                raise ApiError(
                    422, "The permissions requested are not granted to this installation."
                )
        permissions = {str(k): str(v) for k, v in asked.items()}
        # metadata:read comes with every token (docs: "Metadata" permission is always granted)
        permissions.setdefault("metadata", "read")
    return Token(
        value="ghs_" + secrets.token_urlsafe(27).replace("-", "a").replace("_", "b")[:36],
        installation_id=app.installation_id,
        expires_at=now + ttl,
        repositories=frozenset(chosen) if chosen is not None else None,
        permissions=permissions,
    )


@dataclass
class Bucket:
    limit: int
    used: int
    reset_at: int


@dataclass
class RateLimits:
    """Primary rate limit per credential, counted as GitHub counts it (a 304 is free)."""

    limit: int = 5000
    buckets: dict[str, Bucket] = field(default_factory=dict)

    def _bucket(self, key: str, now: float, limit: int) -> Bucket:
        bucket = self.buckets.get(key)
        if bucket is None or now >= bucket.reset_at:
            bucket = Bucket(limit=limit, used=0, reset_at=int(now) + 3600)
            self.buckets[key] = bucket
        return bucket

    def exhausted(self, key: str, now: float, limit: int | None = None) -> bool:
        bucket = self._bucket(key, now, limit or self.limit)
        return bucket.used >= bucket.limit

    def count(
        self, key: str, now: float, *, charge: bool, limit: int | None = None
    ) -> dict[str, str]:
        bucket = self._bucket(key, now, limit or self.limit)
        if charge:
            bucket.used = min(bucket.limit, bucket.used + 1)
        return headers_of(bucket)

    def drain(self, key: str, now: float, reset_in: float) -> dict[str, str]:
        """A primary-limit fault: the bucket is empty until `reset_in` seconds from now."""
        bucket = self._bucket(key, now, self.limit)
        bucket.used = bucket.limit
        bucket.reset_at = int(now + reset_in)
        return headers_of(bucket)


def headers_of(bucket: Bucket) -> dict[str, str]:
    return {
        "x-ratelimit-limit": str(bucket.limit),
        "x-ratelimit-remaining": str(max(0, bucket.limit - bucket.used)),
        "x-ratelimit-reset": str(bucket.reset_at),
        "x-ratelimit-used": str(bucket.used),
        "x-ratelimit-resource": "core",
    }
