"""When to try a GitHub request again and how long to wait first: pure decisions over status and headers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime


@dataclass(frozen=True)
class RetryPolicy:
    """How patient the client is. Tests shrink `rate_limit_min`; production keeps GitHub's advice."""

    server_retries: int = 3  # 5xx, reset, timeout: retries after the first try
    server_backoff: float = 1.0  # first wait, doubled per retry, then jittered
    server_backoff_cap: float = 30.0
    rate_limit_tries: int = 5  # 403/429 rate limits: tries in all, the first included
    # https://docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api#exceeding-the-rate-limit
    # "wait for at least one minute before retrying", then "an exponentially increasing amount of time".
    rate_limit_min: float = 60.0
    rate_limit_cap: float = 3600.0


DEFAULT_POLICY = RetryPolicy()


def is_rate_limited(status: int | None, headers: Mapping[str, str], message: str = "") -> bool:
    """True for a 429, or a 403 that names a primary or secondary rate limit (not a missing permission)."""
    if status == 429:
        return True
    if status != 403:
        return False
    return (
        headers.get("retry-after") is not None
        or headers.get("x-ratelimit-remaining") == "0"
        or "rate limit" in message.lower()
    )


def retry_after_seconds(value: str, now: float) -> float | None:
    """`Retry-After` as seconds from now: GitHub sends seconds; RFC 9110 also allows an HTTP date."""
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - now)
    except (TypeError, ValueError):
        return None


def decide_retry(
    status: int | None,
    headers: Mapping[str, str],
    attempt: int,
    now: float,
    *,
    message: str = "",
    policy: RetryPolicy = DEFAULT_POLICY,
    jitter: float = 0.5,
) -> float | None:
    """Seconds to wait before trying again, or None to give up.

    `status` None means no response (reset, timeout). `attempt` counts the tries made so far, the failed
    one included (1 after the first). `jitter` is a random draw in [0, 1) made by the caller, so this
    stays deterministic; 0.5 means "no jitter". Validation errors (422) and other 4xx are never retried:
    repeating them can get an App suspended.
    """
    if status is None or status >= 500:
        if attempt > policy.server_retries:
            return None
        base = min(policy.server_backoff_cap, policy.server_backoff * 2.0 ** (attempt - 1))
        return base * (0.5 + jitter)
    if not is_rate_limited(status, headers, message):
        return None
    if attempt >= policy.rate_limit_tries:
        return None
    retry_after = headers.get("retry-after")
    if retry_after is not None:
        seconds = retry_after_seconds(retry_after, now)
        if seconds is not None:
            return seconds
    reset = headers.get("x-ratelimit-reset")
    if headers.get("x-ratelimit-remaining") == "0" and reset is not None:
        try:
            return max(0.0, float(reset) - now) + 1.0
        except ValueError:
            pass
    return min(policy.rate_limit_cap, policy.rate_limit_min * 2.0 ** (attempt - 1))
