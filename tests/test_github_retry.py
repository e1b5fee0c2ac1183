"""Retry decisions and error mapping: which answers are tried again, after how long, and what is raised."""

from __future__ import annotations

import json
from email.utils import formatdate
from pathlib import Path

import pytest

from app.github.errors import (
    Forbidden,
    GitHubError,
    NotFound,
    RateLimited,
    ServerError,
    Unauthorized,
    ValidationFailed,
    error_for,
    error_message,
    no_response,
)
from app.github.retry import RetryPolicy, decide_retry, is_rate_limited, retry_after_seconds

NOW = 1_700_000_000.0
FIXTURES = Path(__file__).parent / "fixtures" / "github"

SECONDARY = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
)


@pytest.mark.parametrize(
    ("status", "headers", "attempt", "message", "expected"),
    [
        # 5xx and no response: 1, 2, 4 s (no jitter at 0.5), then give up after 3 retries.
        (502, {}, 1, "", 1.0),
        (503, {}, 2, "", 2.0),
        (500, {}, 3, "", 4.0),
        (504, {}, 4, "", None),
        (None, {}, 1, "", 1.0),
        (None, {}, 3, "", 4.0),
        (None, {}, 4, "", None),
        # Secondary limit with retry-after: exactly that long.
        (403, {"retry-after": "30"}, 1, SECONDARY, 30.0),
        (429, {"retry-after": "7"}, 4, "", 7.0),
        (429, {"retry-after": "0"}, 1, "", 0.0),
        # Primary limit: until reset, plus one second.
        (
            403,
            {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(NOW) + 120)},
            1,
            "",
            121.0,
        ),
        (429, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(NOW) - 5)}, 1, "", 1.0),
        # retry-after wins over the reset time.
        (
            403,
            {
                "retry-after": "5",
                "x-ratelimit-remaining": "0",
                "x-ratelimit-reset": str(int(NOW) + 900),
            },
            1,
            "",
            5.0,
        ),
        # Secondary limit without retry-after: at least 60 s, doubling.
        (403, {"x-ratelimit-remaining": "4000"}, 1, SECONDARY, 60.0),
        (403, {}, 2, SECONDARY, 120.0),
        (429, {}, 4, "", 480.0),
        # At most five tries in all for rate limits.
        (429, {"retry-after": "1"}, 5, "", None),
        (403, {}, 5, SECONDARY, None),
        # Never retried: validation, permission, auth, missing.
        (422, {}, 1, "Validation Failed", None),
        (403, {"x-ratelimit-remaining": "4999"}, 1, "Resource not accessible by integration", None),
        (400, {}, 1, "Problems parsing JSON", None),
        (401, {}, 1, "Bad credentials", None),
        (404, {}, 1, "Not Found", None),
        (410, {}, 1, "Gone", None),
        (406, {}, 1, "Sorry, the diff exceeded the maximum number of lines (20000)", None),
        # A 404 never counts as a rate limit, whatever its headers say.
        (404, {"x-ratelimit-remaining": "0"}, 1, "", None),
    ],
)
def test_decide_retry_table(
    status: int | None, headers: dict[str, str], attempt: int, message: str, expected: float | None
) -> None:
    """Each kind of failure gets GitHub's advised wait, and validation errors are never retried."""
    assert decide_retry(status, headers, attempt, NOW, message=message) == expected


def test_server_backoff_is_jittered_within_half_to_one_and_a_half() -> None:
    """The jitter draw scales the backoff between 0.5x and 1.5x, so retries from many workers spread."""
    low = decide_retry(502, {}, 2, NOW, jitter=0.0)
    high = decide_retry(502, {}, 2, NOW, jitter=0.999)
    assert low == 1.0
    assert high is not None and 2.99 < high < 3.0


def test_policy_shrinks_the_secondary_minimum_for_tests() -> None:
    """The 60 s floor is a policy field: a test policy makes it tiny, the default stays 60."""
    fast = RetryPolicy(rate_limit_min=0.01)
    assert decide_retry(403, {}, 1, NOW, message=SECONDARY, policy=fast) == 0.01
    assert RetryPolicy().rate_limit_min == 60.0


def test_backoffs_are_capped() -> None:
    """Doubling stops at the caps, so a long outage never asks for hour-long sleeps between 5xx tries."""
    policy = RetryPolicy(server_retries=20, rate_limit_tries=30)
    assert decide_retry(502, {}, 15, NOW, policy=policy) == policy.server_backoff_cap
    assert decide_retry(429, {}, 20, NOW, policy=policy) == policy.rate_limit_cap


def test_retry_after_accepts_an_http_date() -> None:
    """Retry-After may be an HTTP date (RFC 9110); it becomes seconds from now, never negative."""
    later = formatdate(NOW + 90, usegmt=True)
    assert retry_after_seconds(later, NOW) == pytest.approx(90.0)
    assert retry_after_seconds(formatdate(NOW - 90, usegmt=True), NOW) == 0.0
    assert retry_after_seconds("soon", NOW) is None
    # An unreadable Retry-After falls back to the exponential minimum.
    assert decide_retry(429, {"retry-after": "soon"}, 1, NOW) == 60.0


@pytest.mark.parametrize(
    ("status", "headers", "message", "expected"),
    [
        (429, {}, "", True),
        (403, {"retry-after": "60"}, "", True),
        (403, {"x-ratelimit-remaining": "0"}, "", True),
        (403, {}, "API rate limit exceeded for installation ID 1.", True),
        (403, {}, SECONDARY, True),
        (403, {"x-ratelimit-remaining": "12"}, "Resource not accessible by integration", False),
        (404, {"retry-after": "60"}, "", False),
        (None, {}, "", False),
    ],
)
def test_is_rate_limited(
    status: int | None, headers: dict[str, str], message: str, expected: bool
) -> None:
    """A 403 is a rate limit only when headers or message say so; otherwise it is a permission problem."""
    assert is_rate_limited(status, headers, message) is expected


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (401, Unauthorized),
        (403, Forbidden),
        (404, NotFound),
        (410, NotFound),
        (422, ValidationFailed),
        (500, ServerError),
        (502, ServerError),
        (400, GitHubError),
        (406, GitHubError),
    ],
)
def test_error_for_maps_status_to_the_tree(status: int, kind: type[GitHubError]) -> None:
    """Each final status becomes its documented exception, all under GitHubError."""
    body = json.dumps({"message": "nope"}).encode()
    error = error_for(status, {}, body, url="https://api.github.com/x", rate_limited=False)
    assert type(error) is kind
    assert (error.status, error.message, error.url) == (status, "nope", "https://api.github.com/x")


def test_recorded_422_keeps_githubs_field_errors() -> None:
    """GitHub's recorded 422 (octokit fixture) keeps its message and per-field errors."""
    exchange = json.loads((FIXTURES / "errors.json").read_text())[0]
    body = json.dumps(exchange["response"]).encode()
    error = error_for(422, exchange["headers"], body, url=exchange["path"], rate_limited=False)
    assert isinstance(error, ValidationFailed)
    assert error.message == "Validation Failed"
    assert error.errors == ({"resource": "Label", "code": "invalid", "field": "color"},)
    assert "422 Validation Failed" in str(error)


def test_forbidden_names_the_accepted_permissions() -> None:
    """A 403 carries X-Accepted-GitHub-Permissions, so the check summary can name what is missing."""
    headers = {"x-accepted-github-permissions": "checks=write"}
    body = b'{"message": "Resource not accessible by integration"}'
    error = error_for(403, headers, body, url="/repos/a/b/check-runs", rate_limited=False)
    assert isinstance(error, Forbidden)
    assert error.accepted_permissions == "checks=write"
    assert str(error).endswith("the endpoint accepts permissions: checks=write")


def test_rate_limited_error_carries_the_reset_time() -> None:
    """An exhausted rate limit says when it resets, so a job can be rescheduled instead of spinning."""
    headers = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1700000100"}
    error = error_for(403, headers, b"{}", url="/x", rate_limited=True)
    assert isinstance(error, RateLimited)
    assert error.retry_at == 1700000100.0
    assert error.message == "HTTP 403"


def test_non_json_error_body_is_capped_text() -> None:
    """An HTML error page becomes one capped line of text, not a flood in the logs."""
    html = b"<html>\n<body>" + b"x" * 5000 + b"</body></html>"
    message, errors = error_message(html, 502)
    assert message.startswith("<html> <body>xxx")
    assert len(message) == 300 and message.endswith("…")
    assert errors == ()


def test_no_response_is_a_server_error_with_status_zero() -> None:
    """A connection reset after the retries is a ServerError with status 0 and the cause named."""
    error = no_response("https://api.github.com/x", "ServerDisconnectedError")
    assert isinstance(error, ServerError)
    assert error.status == 0
    assert (
        str(error) == "no response from GitHub: ServerDisconnectedError (https://api.github.com/x)"
    )
