"""The errors a GitHub call can end in: one small tree, mapped from the final response in one place.

    gidgethub.GitHubException
     └── GitHubError(status, message, url, accepted_permissions, errors)
          ├── Unauthorized       401: bad or expired credentials (after one re-mint)
          ├── Forbidden          403 that is not a rate limit: usually a missing permission
          ├── NotFound           404 and 410: missing, private without access, or past retention
          ├── ValidationFailed   422: GitHub refused the input; never retried
          ├── RateLimited        403/429 rate limit still in force after the allowed tries
          └── ServerError        5xx, or no response at all (status 0: reset, timeout)

Any other 3xx/4xx (400, 406, 409, 451 …) is a plain `GitHubError`. Rooting the tree at gidgethub's base
exception keeps `except gidgethub.GitHubException` working for code written against gidgethub.
Messages come from GitHub's JSON `message`: data to show, never instructions; capped in length.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from gidgethub import GitHubException

MESSAGE_LIMIT = 300  # a non-JSON error page (an HTML 502) would otherwise flood the logs


class GitHubError(GitHubException):
    """A GitHub call that did not succeed; `status` 0 means no HTTP response arrived."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        url: str = "",
        accepted_permissions: str | None = None,
        errors: tuple[Any, ...] = (),
    ) -> None:
        self.status = status
        self.message = message
        self.url = url
        self.accepted_permissions = accepted_permissions
        self.errors = errors
        super().__init__(str(self))

    def __str__(self) -> str:
        text = f"{self.status} {self.message}" if self.status else self.message
        if self.url:
            text += f" ({self.url})"
        if self.accepted_permissions:
            text += f"; the endpoint accepts permissions: {self.accepted_permissions}"
        return text


class Unauthorized(GitHubError):
    """401: the credentials were refused even after minting fresh ones."""


class Forbidden(GitHubError):
    """403 that is not a rate limit: `accepted_permissions` names what the endpoint needs."""


class NotFound(GitHubError):
    """404 or 410: missing, private and not visible to us, or gone (expired logs and artifacts)."""


class ValidationFailed(GitHubError):
    """422: GitHub refused the input; `errors` holds its per-field details."""


class RateLimited(GitHubError):
    """A primary or secondary rate limit that outlasted the allowed tries."""

    def __init__(
        self, status: int, message: str, *, retry_at: float | None = None, **kw: Any
    ) -> None:
        self.retry_at = retry_at
        super().__init__(status, message, **kw)


class ServerError(GitHubError):
    """5xx from GitHub, or no response at all (status 0) after the allowed retries."""


def error_message(body: bytes, status: int) -> tuple[str, tuple[Any, ...]]:
    """GitHub's `message` and `errors` from an error body; the raw text (capped) when it is not JSON."""
    try:
        data = json.loads(body.decode("utf-8", "replace")) if body else None
    except ValueError:
        data = None
    if isinstance(data, dict):
        message = str(data.get("message") or "")
        raw = data.get("errors")
        errors: tuple[Any, ...] = tuple(raw) if isinstance(raw, list) else (raw,) if raw else ()
    else:
        message = " ".join(body.decode("utf-8", "replace").split())
        errors = ()
    if len(message) > MESSAGE_LIMIT:
        message = message[: MESSAGE_LIMIT - 1] + "…"
    return message or f"HTTP {status}", errors


def error_for(
    status: int, headers: Mapping[str, str], body: bytes, *, url: str, rate_limited: bool
) -> GitHubError:
    """The exception for a final unsuccessful response (headers: a case-insensitive or lowercase mapping)."""
    message, errors = error_message(body, status)
    kw: dict[str, Any] = {
        "url": url,
        # https://docs.github.com/en/rest/using-the-rest-api/troubleshooting-the-rest-api#resource-not-accessible
        "accepted_permissions": headers.get("x-accepted-github-permissions"),
        "errors": errors,
    }
    if rate_limited:
        reset = headers.get("x-ratelimit-reset")
        retry_at = float(reset) if reset and reset.replace(".", "", 1).isdigit() else None
        return RateLimited(status, message, retry_at=retry_at, **kw)
    kind: type[GitHubError]
    if status == 401:
        kind = Unauthorized
    elif status == 403:
        kind = Forbidden
    elif status in (404, 410):
        kind = NotFound
    elif status == 422:
        kind = ValidationFailed
    elif status >= 500:
        kind = ServerError
    else:
        kind = GitHubError
    return kind(status, message, **kw)


def no_response(url: str, cause: str) -> ServerError:
    """The error for a request that got no HTTP response (connection reset, timeout) after retries."""
    return ServerError(0, f"no response from GitHub: {cause}", url=url)
