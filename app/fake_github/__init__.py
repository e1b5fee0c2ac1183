"""A local GitHub double: GitHub's REST API served from an evidence snapshot (tests, demos)."""

from app.fake_github.double import FakeGitHub, FakeGitHubError

__all__ = ["FakeGitHub", "FakeGitHubError"]
