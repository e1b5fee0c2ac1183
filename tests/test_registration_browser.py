"""The setup page in a real headless browser (Debian's chromium): rendered form, screenshot, click-through."""

from __future__ import annotations

import asyncio
import itertools
import json
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
from aiohttp import web

from app.fake_github import FakeGitHub
from app.registration import read_manifest
from app.settings import load_settings
from tests.test_registration import APP_YML, Page, free_port, serving

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1000,1100",
)
# Where the screenshot is kept for a person to look at (tmp_path is removed with the test run).
SCREENSHOT_NAME = "registration-setup-page.png"


def chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("chromium not installed: apt-get install chromium")


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run in an empty directory: `.env` lands there and app.yml comes from the checkout."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


async def render(url: str, user_data: Path, screenshot: Path) -> str:
    """The DOM chromium builds for `url` (after parsing, CSS and CSP), and a screenshot of it."""
    process = await asyncio.create_subprocess_exec(
        chromium(),
        *CHROMIUM_FLAGS,
        f"--user-data-dir={user_data}",
        "--dump-dom",
        f"--screenshot={screenshot}",
        url,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    out, _ = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0
    return out.decode()


async def test_the_browser_renders_the_setup_form(
    in_tmp: Path, fake_github: FakeGitHub, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Chromium's DOM of `/` has the form posting to GitHub, and a manifest field of valid JSON."""
    async with serving(in_tmp, fake_github) as setup:
        shot = tmp_path_factory.getbasetemp() / SCREENSHOT_NAME
        dom = await render(setup.url + "/", in_tmp / "chromium", shot)
    page = Page(dom)
    assert page.forms["register"]["method"] == "post"
    assert page.forms["register"]["action"].startswith(
        "https://github.example/settings/apps/new?state="
    )
    manifest = page.manifest
    expected = read_manifest(APP_YML)
    assert manifest["default_events"] == expected["default_events"]
    assert manifest["default_permissions"] == expected["default_permissions"]
    assert manifest["hook_attributes"]["url"] == f"{setup.url}/api/github/webhooks"
    assert manifest["redirect_url"] == f"{setup.url}/setup/callback"
    assert page.assets == []  # nothing loaded from anywhere
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 10_000  # a rendered page, not a blank frame


# The whole flow, clicked: the browser posts the form to a stand-in for GitHub's web pages, which
# keeps the manifest in the double and redirects back with a code, as github.com does.


@asynccontextmanager
async def github_web(fake: FakeGitHub) -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []

    async def new_app(request: web.Request) -> web.Response:
        form = await request.post()
        manifest = json.loads(str(form["manifest"]))
        received.append({"state": request.query.get("state"), "manifest": manifest})
        code = await asyncio.to_thread(fake.register_manifest_code, "browser-code", manifest)
        query = urlencode({"code": code, "state": request.query.get("state", "")})
        raise web.HTTPFound(f"{manifest['redirect_url']}?{query}")

    app = web.Application()
    app.router.add_post("/settings/apps/new", new_app)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}", received
    finally:
        await runner.cleanup()


class DevTools:
    """Just enough of the Chrome DevTools Protocol to drive one page: evaluate JavaScript."""

    def __init__(self, socket: aiohttp.ClientWebSocketResponse) -> None:
        self.socket = socket
        self.ids = itertools.count(1)

    async def evaluate(self, expression: str) -> Any:
        message_id = next(self.ids)
        await self.socket.send_json(
            {
                "id": message_id,
                "method": "Runtime.evaluate",
                "params": {"expression": expression, "returnByValue": True},
            }
        )
        while True:
            reply = await asyncio.wait_for(self.socket.receive_json(), timeout=30)
            if reply.get("id") == message_id:
                return reply.get("result", {}).get("result", {}).get("value")

    async def wait_for(self, expression: str, within: float = 20.0) -> Any:
        for _ in range(int(within / 0.05)):
            with_value = await self.evaluate(expression)
            if with_value:
                return with_value
            await asyncio.sleep(0.05)
        pytest.fail(f"the page never satisfied {expression}")


@asynccontextmanager
async def browser_on(url: str, user_data: Path) -> AsyncIterator[DevTools]:
    process = await asyncio.create_subprocess_exec(
        chromium(),
        *CHROMIUM_FLAGS,
        f"--user-data-dir={user_data}",
        "--remote-debugging-port=0",
        url,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        port_file = user_data / "DevToolsActivePort"
        for _ in range(400):
            if port_file.exists() and port_file.read_text().strip():
                break
            await asyncio.sleep(0.05)
        port = int(port_file.read_text().split()[0])
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{port}/json/list") as r:
                targets = await r.json()
            target = next(t for t in targets if t.get("type") == "page")
            async with session.ws_connect(target["webSocketDebuggerUrl"], max_msg_size=0) as ws:
                yield DevTools(ws)
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), timeout=30)


async def test_clicking_register_in_a_browser_saves_the_app(
    in_tmp: Path, fake_github: FakeGitHub
) -> None:
    """Click, GitHub's redirect, the conversion: the browser ends on the restart page, .env saved."""
    async with (
        github_web(fake_github) as (web_url, received),
        serving(in_tmp, fake_github, github_url=web_url) as setup,
        browser_on(setup.url + "/", in_tmp / "chromium") as page,
    ):
        await page.wait_for(
            "document.readyState === 'complete' && !!document.getElementById('register')"
        )
        await page.evaluate("document.querySelector('#register button').click()")
        app_id = await page.wait_for("document.getElementById('app-id')?.textContent")
        install = await page.evaluate("document.getElementById('install-link').href")
    assert app_id == str(fake_github.app_id)
    assert install == "https://github.com/apps/self-improve/installations/new"
    assert len(received) == 1 and received[0]["state"]
    assert received[0]["manifest"]["default_events"] == read_manifest(APP_YML)["default_events"]
    assert load_settings(env_file=in_tmp / ".env").registered
