"""self-improve: a GitHub App that turns AI coding agents' recurring mistakes into instruction fixes."""

__version__ = "0.1.0"
