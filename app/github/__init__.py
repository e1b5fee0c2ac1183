"""Talking to GitHub: App authentication, installation tokens, and the REST client with its limits."""

from app.github.apps import GitHubApps
from app.github.auth import PERMISSIONS, Purpose, make_app_jwt
from app.github.client import ClientConfig, ClientState, Download, GitHubClient, Page
from app.github.errors import (
    Forbidden,
    GitHubError,
    NotFound,
    RateLimited,
    ServerError,
    Unauthorized,
    ValidationFailed,
)
from app.github.retry import RetryPolicy, decide_retry

__all__ = [
    "PERMISSIONS",
    "ClientConfig",
    "ClientState",
    "Download",
    "Forbidden",
    "GitHubApps",
    "GitHubClient",
    "GitHubError",
    "NotFound",
    "Page",
    "Purpose",
    "RateLimited",
    "RetryPolicy",
    "ServerError",
    "Unauthorized",
    "ValidationFailed",
    "decide_retry",
    "make_app_jwt",
]
