"""What tests of and with the double share: a raw HTTP client and the factory's type."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp

from app.fake_github.double import FakeGitHub

FakeFactory = Callable[..., FakeGitHub]
_DEFAULT = object()


@dataclass(frozen=True)
class Reply:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class DoubleClient:
    """Raw HTTP against a double (no retries, no redirects followed), for tests of the double."""

    def __init__(self, session: aiohttp.ClientSession, base: str, token: str | None) -> None:
        self.session = session
        self.base = base
        self.token = token

    async def __call__(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        token: Any = _DEFAULT,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        sent = dict(headers or {})
        credential = self.token if token is _DEFAULT else token
        if credential is not None and "Authorization" not in sent:
            sent["Authorization"] = f"token {credential}"
        url = path if path.startswith("http") else self.base + path
        async with self.session.request(
            method, url, json=json, headers=sent, allow_redirects=False
        ) as response:
            return Reply(response.status, response.headers.copy(), await response.read())
