"""`FakeGitHub`: the double as a Python object, served on the caller's loop or in its own thread."""

from __future__ import annotations

import asyncio
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import jwt
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from app.fake_github.auth import mint_token
from app.fake_github.faults import FaultPlan, parse_rules
from app.fake_github.identity import AppIdentity
from app.fake_github.outbox import deliver
from app.fake_github.runtime import Config, Runtime
from app.fake_github.server import build_app
from app.fake_github.state import World
from app.snapshot import Snapshot, load_snapshot, parse_snapshot

T = TypeVar("T")
Json = dict[str, Any]


class FakeGitHubError(RuntimeError):
    """The double was used in a way it cannot serve (not started, wrong thread, bad key)."""


def read_snapshot(snapshot: Snapshot | Path | str | dict[str, Any]) -> Snapshot:
    if isinstance(snapshot, Snapshot):
        return snapshot
    if isinstance(snapshot, dict):
        return parse_snapshot(snapshot)
    return load_snapshot(snapshot)


def private_key_of(pem: bytes | str) -> RSAPrivateKey:
    data = pem.encode() if isinstance(pem, str) else pem
    try:
        # the App's own key, not untrusted input: skipping the RSA consistency check saves ~100 ms
        key = serialization.load_pem_private_key(
            data, password=None, unsafe_skip_rsa_key_validation=True
        )
    except (ValueError, TypeError) as exc:
        raise FakeGitHubError(f"app key: not an unencrypted PEM private key ({exc})") from None
    if not isinstance(key, RSAPrivateKey):
        raise FakeGitHubError("app key: GitHub App keys are RSA keys")
    return key


def identity_for(snapshot: Snapshot, app_id: int, slug: str) -> AppIdentity:
    owner = snapshot.repository.get("owner") or {}
    installation = snapshot.installation or {}
    return AppIdentity(
        id=app_id,
        slug=slug,
        name=slug,
        client_id=f"Iv1.fake{app_id:010d}",
        owner_login=str(owner.get("login") or snapshot.full_name.split("/")[0]),
        installation_id=int(installation.get("id") or 42),
    )


class FakeGitHub:
    """GitHub's REST API for one snapshot's repository, on 127.0.0.1, with a control API.

    Use `await fake.start()` / `await fake.stop()` on the caller's loop, or
    `with fake.running_in_thread():` to serve from a thread of its own (sync tests, subprocesses).
    """

    def __init__(
        self,
        snapshot: Snapshot | Path | str | dict[str, Any],
        app_id: int = 1,
        app_key_pem: bytes | str | None = None,
        latency_ms: int = 0,
        seed: int = 0,
        webhook_url: str | None = None,
        webhook_secret: str | None = None,
        token_ttl: float = 3600,
        rate_limit: int = 5000,
        *,
        app_slug: str = "self-improve",
        emit_events: bool = False,
        fault_rules: list[Json] | None = None,
    ) -> None:
        loaded = read_snapshot(snapshot)
        app = identity_for(loaded, app_id, app_slug)
        self._private_key = private_key_of(app_key_pem) if app_key_pem is not None else None
        key = self._private_key.public_key() if self._private_key is not None else None
        config = Config(
            latency_ms=latency_ms,
            webhook_url=webhook_url,
            webhook_secret=webhook_secret,
            token_ttl=token_ttl,
            rate_limit=rate_limit,
            emit_events=emit_events,
        )
        self._rt = Runtime(
            snapshot=loaded,
            app=app,
            key=key,
            config=config,
            world=World.from_snapshot(loaded, app),
            seed=seed,
        )
        self._rt.limits.limit = rate_limit
        self._rt.faults = FaultPlan(rules=parse_rules(fault_rules or []), seed=seed)
        self._runner: web.AppRunner | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    def __repr__(self) -> str:
        return (
            f"FakeGitHub(repo={self._rt.world.full_name!r}, url={self.url!r}, app_id={self.app_id})"
        )

    # --- identity ----------------------------------------------------------------------------
    @property
    def app_id(self) -> int:
        return self._rt.app.id

    @property
    def app_slug(self) -> str:
        return self._rt.app.slug

    @property
    def installation_id(self) -> int:
        return self._rt.app.installation_id

    @property
    def repo_full_name(self) -> str:
        return self._rt.world.full_name

    @property
    def world(self) -> World:
        """The served state, for assertions between requests (do not change it directly)."""
        return self._rt.world

    # --- lifecycle ---------------------------------------------------------------------------
    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        if self._runner is not None:
            raise FakeGitHubError("the double is already running")
        runner = web.AppRunner(build_app(self._rt), access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound = runner.addresses[0][1]  # the real port when 0 asked for any free one
        self._runner = runner
        self._loop = asyncio.get_running_loop()
        self.url = f"http://{host}:{bound}"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @contextmanager
    def running_in_thread(self, host: str = "127.0.0.1", port: int = 0) -> Iterator[FakeGitHub]:
        loop = asyncio.new_event_loop()
        ready = threading.Event()
        failure: list[Exception] = []

        def serve() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.start(host, port))
            except Exception as exc:  # handed to the starting thread below
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self.stop())
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

        thread = threading.Thread(target=serve, name="fake-github", daemon=True)
        self._thread = thread
        thread.start()
        ready.wait(timeout=30)
        if failure:
            self._thread = None
            raise failure[0]
        try:
            yield self
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=30)
            self._thread = None

    def _call(self, fn: Callable[[], T]) -> T:
        """Run `fn` on the server's loop when the server lives in another thread."""
        if self._thread is None or threading.current_thread() is self._thread or self._loop is None:
            return fn()

        async def run() -> T:
            return fn()

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(timeout=30)

    # --- control -----------------------------------------------------------------------------
    def requests(self) -> list[Json]:
        return self._call(lambda: [dict(r) for r in self._rt.requests])

    def writes(self) -> list[Json]:
        return self._call(lambda: [dict(w) for w in self._rt.writes])

    def reset(self, state: bool = False) -> None:
        def clear() -> None:
            self._rt.requests.clear()
            self._rt.writes.clear()
            if state:
                self._rt.reload()

        self._call(clear)

    def set_faults(self, rules: list[Json], seed: int = 0) -> None:
        plan = FaultPlan(rules=parse_rules(rules), seed=seed)
        self._call(lambda: setattr(self._rt, "faults", plan))

    def configure(self, **settings: Any) -> None:
        """Change webhook_url, webhook_secret, token_ttl, rate_limit, emit_events or latency_ms."""
        unknown = set(settings) - set(vars(self._rt.config))
        if unknown:
            raise FakeGitHubError(f"configure: unknown setting(s) {sorted(unknown)}")

        def apply() -> None:
            for key, value in settings.items():
                setattr(self._rt.config, key, value)
            if "rate_limit" in settings:
                self._rt.limits.limit = int(settings["rate_limit"])
                self._rt.limits.buckets.clear()

        self._call(apply)

    def advance_clock(self, seconds: float) -> None:
        """Move the double's clock (token expiry, JWT checks, blob URLs) forward."""
        self._call(lambda: setattr(self._rt, "clock_offset", self._rt.clock_offset + seconds))

    def add_comment(self, number: int, body: str, login: str, association: str = "MEMBER") -> Json:
        """A person comments on issue or PR `number` (as in the web UI); returns the comment."""

        def create() -> Json:
            user = {"login": login, "id": zlib.crc32(login.encode()), "type": "User"}
            comment = self._rt.world.create_comment(number, body, user, self._rt.now())
            comment["author_association"] = association
            comment.pop("performed_via_github_app", None)
            return dict(comment)

        return self._call(create)

    def register_manifest_code(
        self, code: str = "manifest-code", manifest: Json | None = None
    ) -> str:
        self._call(
            lambda: self._rt.manifest_codes.__setitem__(
                code, {"code": code, "manifest": manifest or {}}
            )
        )
        return code

    def deliveries(self) -> list[Json]:
        return self._call(
            lambda: [d.summary() for d in sorted(self._rt.hooks.deliveries, key=lambda d: d.id)]
        )

    async def asend_webhook(self, event: str, payload: Json, guid: str | None = None) -> Json:
        """`send_webhook` for callers on the server's own loop."""
        return (await deliver(self._rt, event, payload, guid=guid)).summary()

    def send_webhook(self, event: str, payload: Json, guid: str | None = None) -> Json:
        """Sign and POST an event to the configured webhook URL; returns the delivery record."""
        if self._loop is None:
            raise FakeGitHubError("send_webhook: the double is not running")
        if self._thread is None or threading.current_thread() is self._thread:
            raise FakeGitHubError(
                "send_webhook would block the server's loop; await asend_webhook()"
            )
        if not self._rt.config.webhook_url:
            raise FakeGitHubError("send_webhook: no webhook_url configured")
        future = asyncio.run_coroutine_threadsafe(
            self.asend_webhook(event, payload, guid), self._loop
        )
        return future.result(timeout=30)

    # --- credentials for tests ---------------------------------------------------------------
    def installation_token(
        self, repositories: list[str] | None = None, permissions: dict[str, str] | None = None
    ) -> str:
        """Mint an installation token directly (what POST .../access_tokens would return)."""
        body: Json = {}
        if repositories is not None:
            body["repositories"] = repositories
        if permissions is not None:
            body["permissions"] = permissions

        def mint() -> str:
            repos = {self._rt.world.full_name: int(self._rt.world.repo.get("id") or 0)}
            token = mint_token(
                app=self._rt.app,
                body=body,
                repositories=repos,
                now=self._rt.now(),
                ttl=self._rt.config.token_ttl,
            )
            self._rt.tokens[token.value] = token
            return token.value

        return self._call(mint)

    def app_jwt(
        self, *, iat_offset: int = -60, lifetime: int = 600, iss: str | int | None = None
    ) -> str:
        """An App JWT signed with the key the double was given (as the app would make it)."""
        if self._private_key is None:
            raise FakeGitHubError("app_jwt: the double was started without app_key_pem")
        now = int(time.time() + self._rt.clock_offset)
        claims = {
            "iat": now + iat_offset,
            "exp": now + iat_offset + lifetime,
            "iss": str(self.app_id) if iss is None else iss,
        }
        return jwt.encode(claims, self._private_key, algorithm="RS256")
