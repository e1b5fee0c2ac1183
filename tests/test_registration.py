"""Probot-style registration: the manifest, the state, the conversion, `.env`, and the flow via the double."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import stat
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import jwt
import pytest
import yaml
from aiohttp import web
from dotenv import dotenv_values
from hypothesis import given
from hypothesis import strategies as st

from app.deps import build_deps
from app.fake_github import FakeGitHub
from app.registration import (
    CALLBACK_PATH,
    ConversionError,
    EnvFileError,
    ManifestError,
    RegistrationError,
    StateStore,
    StateVerdict,
    add_registration_routes,
    build_manifest,
    check_env_writable,
    check_org,
    conversion_refusal,
    convert_manifest_code,
    env_assignments,
    env_retired,
    merge_env,
    new_app_url,
    override_warnings,
    parse_conversion,
    parse_env,
    parse_manifest,
    public_base_url,
    quote_env_value,
    read_manifest,
    refusal_page,
    registered_page,
    running_page,
    setup_address,
    setup_page,
    unreachable_reason,
    verify_env,
    write_env,
)
from app.server import make_app, running
from app.settings import load_settings

ROOT = Path(__file__).resolve().parents[1]
APP_YML = ROOT / "app.yml"
EXAMPLE = Path(__file__).parent / "fixtures" / "registration" / "conversion-example.json"


def example_answer() -> dict[str, Any]:
    return dict(json.loads(EXAMPLE.read_text()))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# The manifest. -------------------------------------------------------------------------------------


def test_app_yml_is_a_usable_manifest() -> None:
    """The repository's app.yml parses and asks for the events and permissions the app handles."""
    manifest = read_manifest(APP_YML)
    assert manifest["name"] == "self-improve"
    assert {"issues", "issue_comment", "pull_request", "check_run"} <= set(
        manifest["default_events"]
    )
    assert manifest["default_permissions"]["checks"] == "write"
    assert manifest["default_permissions"]["metadata"] == "read"


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("name: [unclosed", "not valid YAML"),
        ("- a list", "must be a mapping"),
        ("url: https://x", "name: required"),
        ("name: x", "url: required"),
        ("name: x\nurl: ''", "url: required"),
        ("name: x\nurl: u\nhook_attributes: [1]", "hook_attributes: must be a mapping"),
        ("name: x\nurl: u\ndefault_events: issues", "default_events: must be a list"),
        ("name: x\nurl: u\ndefault_permissions: {issues: all}", "default_permissions: must map"),
    ],
)
def test_a_bad_manifest_is_refused_naming_the_file_and_field(text: str, names: str) -> None:
    """A manifest GitHub would not take is refused with the file and the field named."""
    with pytest.raises(ManifestError, match=names) as caught:
        parse_manifest(text, "/srv/app.yml")
    assert str(caught.value).startswith("/srv/app.yml: ")


def test_empty_optional_fields_are_allowed() -> None:
    """`default_events:` left empty in YAML (null) is no events, not an error."""
    manifest = parse_manifest("name: x\nurl: u\ndefault_events:\nhook_attributes:\n", "app.yml")
    assert build_manifest(manifest, "https://h", "/w")["hook_attributes"] == {
        "url": "https://h/w",
        "active": True,
    }


def test_a_missing_manifest_file_is_named(tmp_path: Path) -> None:
    """A missing app.yml is reported with its path."""
    with pytest.raises(ManifestError, match=r"app\.yml: cannot read the App manifest"):
        read_manifest(tmp_path / "app.yml")


def test_build_manifest_points_the_hook_and_redirect_at_the_public_url() -> None:
    """The placeholders of app.yml become PUBLIC_URL + webhook path and PUBLIC_URL + callback."""
    manifest = read_manifest(APP_YML)
    built = build_manifest(manifest, "https://bot.example.com/", "/api/github/webhooks")
    assert built["hook_attributes"] == {
        "url": "https://bot.example.com/api/github/webhooks",
        "active": True,
    }
    assert built["redirect_url"] == "https://bot.example.com/setup/callback"
    assert built["default_permissions"] == manifest["default_permissions"]
    assert manifest["redirect_url"].startswith("https://example.invalid")  # input untouched


@pytest.mark.parametrize(
    ("configured", "scheme", "host", "proto", "fwd_host", "expected"),
    [
        (
            "https://bot.example.com/",
            "http",
            "127.0.0.1:3000",
            None,
            None,
            "https://bot.example.com",
        ),
        (None, "http", "127.0.0.1:3000", None, None, "http://127.0.0.1:3000"),
        (None, "http", "10.0.0.5:3000", "https", "bot.example.com", "https://bot.example.com"),
        (None, "http", "h:1", "https, http", "a.example, b.example", "https://a.example"),
        (None, "http", "h:1", "gopher", None, "http://h:1"),
        (None, "http", "h:1", None, "evil.example/<x>", "http://h:1"),
        (None, "https", "[::1]:8443", None, None, "https://[::1]:8443"),
        (None, "http", "bad host", None, None, "http://localhost"),
    ],
)
def test_public_base_url(
    configured: str | None,
    scheme: str,
    host: str,
    proto: str | None,
    fwd_host: str | None,
    expected: str,
) -> None:
    """PUBLIC_URL wins; else the proxy's forwarded address; else the address asked for; junk is ignored."""
    assert (
        public_base_url(
            configured, scheme=scheme, host=host, forwarded_proto=proto, forwarded_host=fwd_host
        )
        == expected
    )


@pytest.mark.parametrize(
    ("url", "reachable"),
    [
        ("http://localhost:3000", False),
        ("http://127.0.0.1:3000", False),
        ("http://app.localhost", False),
        ("http://192.168.1.4:3000", False),
        ("http://[::1]:3000", False),
        ("https://bot.example.com", True),
        ("https://140.82.112.3", True),
    ],
)
def test_unreachable_reason(url: str, reachable: bool) -> None:
    """Loopback and private addresses are flagged: GitHub cannot deliver webhooks there."""
    assert (unreachable_reason(url) is None) is reachable


@pytest.mark.parametrize(
    ("github_url", "org", "expected"),
    [
        ("https://github.com", None, "https://github.com/settings/apps/new?state=S"),
        (
            "https://github.com/",
            "acme",
            "https://github.com/organizations/acme/settings/apps/new?state=S",
        ),
        (
            "https://ghe.example.com",
            "my-org",
            "https://ghe.example.com/organizations/my-org/settings/apps/new?state=S",
        ),
    ],
)
def test_new_app_url(github_url: str, org: str | None, expected: str) -> None:
    """The form posts to GitHub's new-App page for the user or the organization, state in the query."""
    assert new_app_url(github_url, "S", org) == expected


def test_new_app_url_quotes_the_state() -> None:
    """A state is URL-quoted into the action (ours never need it, but the URL must stay one URL)."""
    assert new_app_url("https://github.com", "a&b=c") == (
        "https://github.com/settings/apps/new?state=a%26b%3Dc"
    )


@pytest.mark.parametrize(
    ("org", "expected"), [(None, None), ("", None), ("acme", "acme"), ("my-org_2", "my-org_2")]
)
def test_check_org_accepts_logins(org: str | None, expected: str | None) -> None:
    """An absent org means the user's account; a login is kept as given."""
    assert check_org(org) == expected


@pytest.mark.parametrize("org", ["-acme", "a/b", "x" * 40, "a b", "../settings"])
def test_check_org_refuses_what_is_not_a_login(org: str) -> None:
    """What cannot be an organization login is refused, naming the parameter."""
    with pytest.raises(RegistrationError, match=r"^org: "):
        check_org(org)


@pytest.mark.parametrize(
    ("host", "port", "expected"),
    [
        ("0.0.0.0", 3000, "http://localhost:3000/"),  # noqa: S104 - a value under test, not a bind
        ("::", 3000, "http://localhost:3000/"),
        ("127.0.0.1", 8080, "http://127.0.0.1:8080/"),
        ("::1", 3000, "http://[::1]:3000/"),
        ("bot.internal", 80, "http://bot.internal:80/"),
    ],
)
def test_setup_address(host: str, port: int, expected: str) -> None:
    """The startup line names an address a person can open (a wildcard bind means localhost)."""
    assert setup_address(host, port) == expected


# The state. ----------------------------------------------------------------------------------------


def test_a_state_is_good_once() -> None:
    """A fresh state redeems once; after that it reads as used."""
    states = StateStore()
    state = states.issue(now=100.0)
    assert states.check(state, 101.0) is StateVerdict.VALID
    assert states.redeem(state, 102.0) is StateVerdict.VALID
    assert states.redeem(state, 103.0) is StateVerdict.USED
    assert states.check(state, 104.0) is StateVerdict.USED


def test_states_are_random_and_long() -> None:
    """Each page view gets its own unguessable state (token_urlsafe(32): 43 characters)."""
    states = StateStore()
    issued = {states.issue(0.0) for _ in range(50)}
    assert len(issued) == 50
    assert all(len(s) >= 43 for s in issued)


@pytest.mark.parametrize(
    ("age", "verdict"),
    [(0.0, StateVerdict.VALID), (3600.0, StateVerdict.VALID), (3600.5, StateVerdict.EXPIRED)],
)
def test_a_state_expires_after_one_hour(age: float, verdict: StateVerdict) -> None:
    """GitHub's one-hour limit: a state older than that is refused and not spent."""
    states = StateStore()
    state = states.issue(now=1000.0)
    assert states.redeem(state, 1000.0 + age) is verdict


def test_an_unknown_state_is_refused() -> None:
    """A state this server never issued is unknown."""
    states = StateStore()
    states.issue(0.0)
    assert states.redeem("made-up", 1.0) is StateVerdict.UNKNOWN


def test_the_store_stays_bounded() -> None:
    """Past capacity the oldest pending state is dropped; after an hour every record is forgotten."""
    states = StateStore(capacity=3)
    first, *rest = [states.issue(float(i)) for i in range(4)]
    assert states.check(first, 4.0) is StateVerdict.UNKNOWN
    assert all(states.check(s, 4.0) is StateVerdict.VALID for s in rest)
    states.redeem(rest[0], 5.0)
    states.issue(5000.0)  # an hour later: the old ones are gone, used ones too
    assert "pending=1" in repr(states) and "used=0" in repr(states)


# The conversion. -----------------------------------------------------------------------------------


def test_github_s_documented_answer_parses() -> None:
    """The documented conversion answer gives the id, the web address and the install link."""
    conversion = parse_conversion(example_answer())
    assert conversion.id == 1
    assert conversion.html_url == "https://github.com/apps/octoapp"
    assert conversion.install_url == "https://github.com/apps/octoapp/installations/new"
    assert conversion.webhook_secret is not None


def test_the_conversion_repr_hides_the_credentials() -> None:
    """Neither the key nor the webhook secret can leak through a repr or a log line."""
    answer = example_answer()
    text = repr(parse_conversion(answer)) + str(parse_conversion(answer))
    assert answer["webhook_secret"] not in text
    assert "PRIVATE KEY" not in text


@pytest.mark.parametrize(
    ("change", "names"),
    [
        ({"id": 0}, "id: "),
        ({"pem": "not a key"}, "pem: not an unencrypted PEM private key"),
        ({"html_url": "javascript:alert(1)"}, "html_url: must be an http"),
        ({"pem": None}, "pem: "),
    ],
)
def test_an_unusable_answer_is_refused_naming_the_field(change: dict[str, Any], names: str) -> None:
    """An answer we could not use is refused before anything is written, naming the field."""
    with pytest.raises(ConversionError, match=names) as caught:
        parse_conversion({**example_answer(), **change})
    assert "BEGIN RSA" not in str(caught.value)


def test_a_null_webhook_secret_is_accepted() -> None:
    """GitHub's OpenAPI marks webhook_secret nullable: that answer is still an App."""
    conversion = parse_conversion({**example_answer(), "webhook_secret": None})
    assert conversion.webhook_secret is None
    assert set(env_assignments(conversion)) == {"APP_ID", "PRIVATE_KEY"}
    assert env_retired(conversion) == ("PRIVATE_KEY_PATH", "WEBHOOK_SECRET")


@pytest.mark.parametrize(
    ("status", "ours", "says"),
    [
        (None, 502, "could not be reached"),
        (201, 502, "could not be used"),
        (404, 400, "already used, or it is more than one hour old"),
        (403, 503, "rate-limiting"),
        (429, 503, "rate-limiting"),
        (422, 400, "refused the code"),
        (500, 502, "GitHub answered 500"),
    ],
)
def test_conversion_refusal(status: int | None, ours: int, says: str) -> None:
    """Each way GitHub can say no becomes our status and a sentence saying what to do."""
    code, text = conversion_refusal(status, "msg")
    assert code == ours
    assert says in text
    assert "setup page" in text


# The .env file. ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("12345", "12345"),
        ("e340154128314309424b7c8e90325147d99fdafa", "e340154128314309424b7c8e90325147d99fdafa"),
        ("a\nb\n", '"a\\nb\\n"'),
        ('say "hi"', '"say \\"hi\\""'),
        ("back\\slash", '"back\\\\slash"'),
        ("", ""),
        ("has space", '"has space"'),
        ("#hash", '"#hash"'),
    ],
)
def test_quote_env_value(value: str, written: str) -> None:
    """Plain values go bare; others are double-quoted with newlines as \\n, as Probot writes them."""
    assert quote_env_value(value) == written


@pytest.mark.parametrize(
    "value",
    ["plain", "a\nb", 'q"uote', "back\\slash\\n", "-----BEGIN X-----\nAB+/=\n-----END X-----\n"],
)
def test_quoted_values_read_back_unchanged(value: str, tmp_path: Path) -> None:
    """What we write, the settings' .env reader (python-dotenv) reads back as the same value."""
    env = tmp_path / ".env"
    write_env(env, {"KEY": quote_env_value(value)})
    assert dotenv_values(env)["KEY"] == value


@pytest.mark.parametrize(
    ("existing", "expected"),
    [
        ("", "APP_ID=7\nPRIVATE_KEY=K\n"),
        ("# mine\nPORT=8080\n", "# mine\nPORT=8080\nAPP_ID=7\nPRIVATE_KEY=K\n"),
        ("PORT=8080", "PORT=8080\nAPP_ID=7\nPRIVATE_KEY=K\n"),
        ("APP_ID=1\nPORT=1\n", "APP_ID=7\nPORT=1\nPRIVATE_KEY=K\n"),
        ("export app_id=1\n", "APP_ID=7\nPRIVATE_KEY=K\n"),
        ("APP_ID=1\nAPP_ID=2\nX=y\n", "APP_ID=7\nX=y\nPRIVATE_KEY=K\n"),
        (
            'PRIVATE_KEY="-----BEGIN\nold\n-----END"\nAFTER=1\n',
            "PRIVATE_KEY=K\nAFTER=1\nAPP_ID=7\n",
        ),
        ("PRIVATE_KEY='a\nb'\nZ=1\n", "PRIVATE_KEY=K\nZ=1\nAPP_ID=7\n"),
        ('PRIVATE_KEY="a\\"\nb"\nZ=1\n', "PRIVATE_KEY=K\nZ=1\nAPP_ID=7\n"),
        ('PRIVATE_KEY="unclosed\nNEXT=1\n', "PRIVATE_KEY=K\nNEXT=1\nAPP_ID=7\n"),
        ("PRIVATE_KEY_PATH=/k.pem\n", "# PRIVATE_KEY_PATH=/k.pem\nAPP_ID=7\nPRIVATE_KEY=K\n"),
        ("\n\n# c\n", "\n\n# c\nAPP_ID=7\nPRIVATE_KEY=K\n"),
    ],
)
def test_merge_env(existing: str, expected: str) -> None:
    """Other lines stay as they were; our keys are set once; a conflicting key is commented out."""
    assert (
        merge_env(existing, {"APP_ID": "7", "PRIVATE_KEY": "K"}, ["PRIVATE_KEY_PATH"]) == expected
    )


@given(st.text(alphabet=st.sampled_from(list("AB_=#'\"\\ x\n\rexport")), max_size=80))
def test_parse_env_is_lossless(text: str) -> None:
    """Whatever the .env holds, its entries put back together give the same text."""
    assert "".join(line for entry in parse_env(text) for line in entry.lines) == text


def test_write_env_gives_mode_0600_and_leaves_no_temporary(tmp_path: Path) -> None:
    """The new .env is owner-only even if the old one was world-readable; no temporary file remains."""
    env = tmp_path / ".env"
    env.write_text("PORT=1\n")
    env.chmod(0o644)
    old_umask = os.umask(0)
    try:
        write_env(env, {"APP_ID": "7"})
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(env.stat().st_mode) == 0o600
    assert env.read_text() == "PORT=1\nAPP_ID=7\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".env"]


def test_an_unwritable_place_is_named_and_nothing_changes(tmp_path: Path) -> None:
    """When the .env cannot be written, the error names it and no file appears."""
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    with pytest.raises(EnvFileError, match="not-a-dir"):
        check_env_writable(blocker / ".env")
    with pytest.raises(EnvFileError, match=r"not-a-dir/\.env: cannot"):
        write_env(blocker / ".env", {"APP_ID": "7"})
    assert blocker.read_text() == "x"


def test_a_non_utf8_env_is_refused_and_kept(tmp_path: Path) -> None:
    """A .env we cannot read as text is reported and left exactly as it was."""
    env = tmp_path / ".env"
    env.write_bytes(b"A=\xff\n")
    with pytest.raises(EnvFileError, match="not UTF-8"):
        check_env_writable(env)
    with pytest.raises(EnvFileError, match="not UTF-8"):
        write_env(env, {"APP_ID": "7"})
    assert env.read_bytes() == b"A=\xff\n"


def test_a_directory_in_the_way_is_refused(tmp_path: Path) -> None:
    """A directory named .env is reported, not replaced."""
    (tmp_path / ".env").mkdir()
    with pytest.raises(EnvFileError, match=r"\.env: "):
        check_env_writable(tmp_path / ".env")


def test_the_written_env_makes_the_settings_registered(tmp_path: Path) -> None:
    """The documented answer written to .env loads as a registered App with that key and secret."""
    conversion = parse_conversion(example_answer())
    env = tmp_path / ".env"
    write_env(env, env_assignments(conversion), env_retired(conversion))
    settings = load_settings(env_file=env)
    assert settings.registered and settings.app_id == 1
    assert settings.private_key_pem().decode() == example_answer()["pem"]
    assert settings.webhook_secret is not None
    assert settings.webhook_secret.get_secret_value() == example_answer()["webhook_secret"]
    assert override_warnings(settings, conversion) == []


def test_override_warnings_name_what_would_hide_the_new_app(tmp_path: Path) -> None:
    """Values that differ from the new App are named (never shown) so the user can unset them."""
    conversion = parse_conversion(example_answer())
    stale = load_settings(None, app_id=99, private_key="other", webhook_secret="old-secret")
    warnings = override_warnings(stale, conversion)
    assert [w.split()[0] for w in warnings] == ["APP_ID", "PRIVATE_KEY", "WEBHOOK_SECRET"]
    assert "old-secret" not in " ".join(warnings)


# The pages. ----------------------------------------------------------------------------------------


VOID = {"meta", "input", "br", "hr", "img", "link"}


class Page(HTMLParser):
    """The parts of our pages the tests look at: forms, inputs, elements by id, links, assets."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.forms: dict[str, dict[str, str]] = {}
        self.inputs: dict[str, str] = {}
        self.ids: dict[str, str] = {}
        self.links: list[str] = []
        self.assets: list[str] = []
        self._open: list[str | None] = []  # the ids of the elements around the text
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms[a.get("id", "")] = a
        if tag == "input":
            self.inputs[a.get("name", "")] = a.get("value", "")
        if tag == "a":
            self.links.append(a.get("href", ""))
        if tag in {"script", "link", "img", "iframe"} or "src" in a:
            self.assets.append(tag)
        if "id" in a:
            self.ids[a["id"]] = ""
        if tag not in VOID:
            self._open.append(a.get("id"))

    def handle_data(self, data: str) -> None:
        for element in self._open:
            if element is not None:
                self.ids[element] += data

    def handle_endtag(self, tag: str) -> None:
        if self._open:
            self._open.pop()

    @property
    def manifest(self) -> dict[str, Any]:
        return dict(json.loads(self.inputs["manifest"]))

    @property
    def state(self) -> str:
        return parse_qs(urlsplit(self.forms["register"]["action"]).query)["state"][0]


HOSTILE = {
    "name": 'x"><script>alert(1)</script>',
    "url": "https://example.com",
    "description": "<img src=x onerror=alert(1)>",
    "default_events": ["issues</code><script>"],
    "default_permissions": {"issues": "write"},
    "hook_attributes": {"url": "https://h.example/'\"<>"},
}


def test_the_setup_page_escapes_everything() -> None:
    """Manifest text cannot become markup: the page has no script and the JSON survives intact."""
    text = setup_page(HOSTILE, "https://github.com/settings/apps/new?state=S&x=<y>", None, None)
    page = Page(text)
    assert page.assets == []
    assert "<script" not in text and "<img" not in text
    assert page.manifest == HOSTILE
    assert page.forms["register"]["action"] == "https://github.com/settings/apps/new?state=S&x=<y>"
    assert page.forms["register"]["method"] == "post"


def test_the_setup_page_warns_when_github_cannot_reach_us() -> None:
    """A loopback hook URL gets a visible note about PUBLIC_URL; a public one gets none."""
    built = build_manifest(read_manifest(APP_YML), "http://127.0.0.1:3000", "/hooks")
    warned = Page(
        setup_page(built, "https://github.com/x", None, "127.0.0.1 is not a public address")
    )
    assert "PUBLIC_URL" in warned.ids["unreachable"]
    assert "unreachable" not in Page(setup_page(built, "https://github.com/x", None, None)).ids


def test_the_running_page_without_the_slug_names_no_address() -> None:
    """GitHub unreachable at startup: the slug is unknown, so no link is made up."""
    page = Page(running_page(7, None))
    assert "install" not in page.ids
    assert page.links == ["/healthz", "/readyz", "/metrics"]


def test_the_registered_page_never_shows_a_secret(tmp_path: Path) -> None:
    """The success page gives the id, the App and install links, and no credential."""
    answer = example_answer()
    text = registered_page(parse_conversion(answer), tmp_path / ".env", ["APP_ID <b>x</b>"])
    page = Page(text)
    assert page.ids["app-id"] == "1"
    assert "https://github.com/apps/octoapp/installations/new" in page.links
    for secret in (answer["webhook_secret"], answer["client_secret"], "PRIVATE KEY-----"):
        assert secret not in text
    assert "<b>x</b>" not in text and "APP_ID &lt;b&gt;" in text


def test_the_refusal_page_escapes_its_detail() -> None:
    """Whatever a refusal quotes (GitHub's message included) is shown as text."""
    page = Page(refusal_page("No", "<a href=x>y</a>"))
    assert page.ids["refusal"] == "<a href=x>y</a>"
    assert page.links == ["/"]


# The flow, over HTTP against the GitHub double. ---------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@dataclass
class Setup:
    url: str
    env: Path
    fake: FakeGitHub
    clock: Clock
    session: aiohttp.ClientSession

    async def get(self, path: str, **headers: str) -> tuple[int, str, Page]:
        async with self.session.get(self.url + path, headers=headers, allow_redirects=False) as r:
            text = await r.text()
            assert r.content_type == "text/html"
            assert "default-src 'none'" in r.headers["Content-Security-Policy"]
            return r.status, text, Page(text)

    async def begin(self, query: str = "") -> Page:
        status, _, page = await self.get("/" + query)
        assert status == 200
        return page

    async def callback(self, code: str, state: str) -> tuple[int, str, Page]:
        return await self.get(f"{CALLBACK_PATH}?code={code}&state={state}")

    def conversions(self) -> list[dict[str, Any]]:
        return [r for r in self.fake.requests() if "/app-manifests/" in str(r.get("path"))]


@asynccontextmanager
async def serving(
    tmp_path: Path, fake: FakeGitHub, clock: Clock | None = None, **overrides: Any
) -> AsyncIterator[Setup]:
    """The real `make_app` for unregistered settings, on 127.0.0.1, with the double as GitHub."""
    clock = clock or Clock()
    values: dict[str, Any] = {
        "github_api_url": fake.url,
        "github_url": "https://github.example",
        "database_url": f"sqlite:///{tmp_path}/setup.db",
        "log_level": "WARNING",
        **overrides,
    }
    settings = load_settings(None, **values)
    async with build_deps(settings, clock=clock) as deps:
        runner = web.AppRunner(make_app(deps), access_log=None)
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        try:
            async with aiohttp.ClientSession() as session:
                yield Setup(f"http://127.0.0.1:{port}", tmp_path / ".env", fake, clock, session)
        finally:
            await runner.cleanup()


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run in an empty directory: `.env` lands there and app.yml comes from the checkout."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


async def test_register_end_to_end_against_the_double(
    in_tmp: Path, fake_github: FakeGitHub
) -> None:
    """Setup page → GitHub's redirect with a code → .env (0600) that makes the app registered."""
    async with serving(in_tmp, fake_github) as setup:
        page = await setup.begin()
        action = page.forms["register"]["action"]
        assert action.startswith("https://github.example/settings/apps/new?state=")
        manifest = page.manifest
        assert manifest["hook_attributes"]["url"] == f"{setup.url}/api/github/webhooks"
        assert manifest["redirect_url"] == f"{setup.url}/setup/callback"
        assert manifest["default_events"] == read_manifest(APP_YML)["default_events"]
        assert "unreachable" in page.ids  # 127.0.0.1: GitHub could not deliver there

        # GitHub: the user clicks Create, GitHub keeps the manifest and redirects with a code
        code = fake_github.register_manifest_code("c0de1", manifest)
        status, text, done = await setup.callback(code, page.state)

        assert status == 200
        assert done.ids["app-id"] == str(fake_github.app_id)
        assert "https://github.com/apps/self-improve/installations/new" in done.links
        assert "Restart the app" in text
        assert "warnings" not in done.ids
        assert len(setup.conversions()) == 1

    env = in_tmp / ".env"
    assert stat.S_IMODE(env.stat().st_mode) == 0o600
    values = dotenv_values(env)
    assert set(values) == {"APP_ID", "PRIVATE_KEY", "WEBHOOK_SECRET"}
    assert values["PRIVATE_KEY"] is not None and values["WEBHOOK_SECRET"] is not None
    assert values["PRIVATE_KEY"] not in text and values["WEBHOOK_SECRET"] not in text
    assert "\\n" in env.read_text()  # Probot's one-line form of the PEM
    settings = load_settings(env_file=env)
    assert settings.registered and settings.app_id == fake_github.app_id

    # the saved key is the one GitHub now knows: a JWT signed with it is accepted
    now = int(time.time())
    claims = {"iat": now - 60, "exp": now + 540, "iss": str(settings.app_id)}
    token = jwt.encode(claims, settings.private_key_pem(), algorithm="RS256")
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{fake_github.url}/app", headers={"Authorization": f"Bearer {token}"}) as r,
    ):
        assert r.status == 200
        assert (await r.json())["id"] == fake_github.app_id


async def test_after_registering_the_page_says_restart_and_callbacks_are_refused(
    in_tmp: Path, fake_github: FakeGitHub
) -> None:
    """Once saved, `/` shows the installed page and a further callback changes nothing."""
    async with serving(in_tmp, fake_github) as setup:
        first, second = await setup.begin(), await setup.begin()
        await setup.callback(fake_github.register_manifest_code("one", first.manifest), first.state)
        saved = setup.env.read_bytes()
        code = fake_github.register_manifest_code("two", second.manifest)
        status, _, _ = await setup.callback(code, second.state)
        assert status == 409
        status, text, page = await setup.get("/")
        assert status == 200 and "installed" in text and "register" not in page.forms
    assert setup.env.read_bytes() == saved
    assert len(setup.conversions()) == 1


async def test_a_spent_code_is_refused_and_nothing_written(
    in_tmp: Path, fake_github: FakeGitHub
) -> None:
    """A code GitHub no longer knows (used, or over an hour old) gets a clear page and no .env."""
    async with serving(in_tmp, fake_github) as setup:
        page = await setup.begin()
        status, _, refused = await setup.callback("never-issued", page.state)
        assert status == 400
        assert "already used, or it is more than one hour old" in refused.ids["refusal"]
        # and the state it came with is spent too
        status, _, again = await setup.callback("never-issued", page.state)
        assert status == 400 and "This setup link was already used" in again.ids["refusal"]
        assert len(setup.conversions()) == 1  # the spent state never reached GitHub
    assert not (in_tmp / ".env").exists()


async def test_the_same_code_converts_only_once(in_tmp: Path, fake_github: FakeGitHub) -> None:
    """A second server handed the same code (say, after a restart) is told GitHub refused it."""
    async with serving(in_tmp, fake_github) as setup:
        page = await setup.begin()
        code = fake_github.register_manifest_code("once", page.manifest)
        assert (await setup.callback(code, page.state))[0] == 200
    saved = (in_tmp / ".env").read_bytes()
    async with serving(in_tmp, fake_github) as again:
        page = await again.begin()
        status, _, refused = await again.callback(code, page.state)
        assert status == 400 and "GitHub does not know this code" in refused.ids["refusal"]
    assert (in_tmp / ".env").read_bytes() == saved


@pytest.mark.parametrize(
    ("state", "says"),
    [
        ("wrong", "not one this server handed out"),
        ("", "not one this server handed out"),
        ("a%2Fb", "not one"),
    ],
)
async def test_a_wrong_state_is_refused_and_the_code_kept(
    in_tmp: Path, fake_github: FakeGitHub, state: str, says: str
) -> None:
    """A state we did not issue is refused before GitHub is asked: the code stays usable."""
    async with serving(in_tmp, fake_github) as setup:
        page = await setup.begin()
        code = fake_github.register_manifest_code("kept", page.manifest)
        status, _, refused = await setup.callback(code, state)
        assert status == 400 and says in refused.ids["refusal"]
        assert setup.conversions() == []
        assert not setup.env.exists()
        assert (await setup.callback(code, page.state))[0] == 200  # the real redirect still works


async def test_an_expired_state_is_refused(in_tmp: Path, fake_github: FakeGitHub) -> None:
    """An hour and a bit after the page was shown, its state no longer registers anything."""
    async with serving(in_tmp, fake_github) as setup:
        page = await setup.begin()
        code = fake_github.register_manifest_code("late", page.manifest)
        setup.clock.now += 3601
        status, _, refused = await setup.callback(code, page.state)
        assert status == 400 and "more than one hour old" in refused.ids["refusal"]
        assert setup.conversions() == []
    assert not (in_tmp / ".env").exists()


@pytest.mark.parametrize("query", ["", "?state=x", "?code=&state=x", "?code=a/b&state=x"])
async def test_a_callback_without_a_code_is_refused(
    in_tmp: Path, fake_github: FakeGitHub, query: str
) -> None:
    """Without a well-formed code there is nothing to convert: 400 and a page that says so."""
    async with serving(in_tmp, fake_github) as setup:
        status, _, refused = await setup.get(CALLBACK_PATH + query)
        assert status == 400 and "code=" in refused.ids["refusal"]


async def test_an_unwritable_env_is_caught_before_the_code_is_spent(
    in_tmp: Path, fake_github: FakeGitHub
) -> None:
    """When .env cannot be written the code is not converted; once fixed, a reload succeeds."""
    (in_tmp / ".env").mkdir()
    async with serving(in_tmp, fake_github) as setup:
        page = await setup.begin()
        code = fake_github.register_manifest_code("wait", page.manifest)
        status, _, refused = await setup.callback(code, page.state)
        assert status == 500 and "is a directory" in refused.ids["refusal"]
        assert setup.conversions() == []
        (in_tmp / ".env").rmdir()
        assert (await setup.callback(code, page.state))[0] == 200
    assert load_settings(env_file=in_tmp / ".env").registered


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (404, b'{"message": "Not Found"}', "Not Found"),
        (500, b"<html>oops</html>", ""),
        (201, b"not json", "the answer is not JSON"),
        (201, b'{"id": 5, "html_url": "https://github.com/apps/x"}', "pem: Field required"),
    ],
)
async def test_convert_manifest_code_reports_what_github_said(
    status: int, body: bytes, error: str
) -> None:
    """GitHub's status and message (or what was wrong with its answer) reach the ConversionError."""
    seen: list[str] = []

    async def answer(request: web.Request) -> web.Response:
        seen.append(request.path)
        return web.Response(status=status, body=body)

    app = web.Application()
    app.router.add_post("/api/v3/app-manifests/{code}/conversions", answer)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        async with aiohttp.ClientSession() as http:
            with pytest.raises(ConversionError) as caught:
                await convert_manifest_code(
                    http, api_url=f"http://127.0.0.1:{port}/api/v3", api_version="v", code="abc"
                )
    finally:
        await runner.cleanup()
    assert (caught.value.status, str(caught.value)) == (status, error)
    assert seen == ["/api/v3/app-manifests/abc/conversions"]  # once: never retried


def test_a_failed_swap_keeps_the_old_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """If the final rename fails, the old .env is intact and no temporary file is left behind."""
    env = tmp_path / ".env"
    env.write_text("PORT=1\n")

    def refuse(src: object, dst: object) -> None:
        raise OSError(18, "Invalid cross-device link")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(EnvFileError, match=r"\.env: cannot write: Invalid cross-device link"):
        write_env(env, {"APP_ID": "7"})
    assert env.read_text() == "PORT=1\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".env"]


async def test_a_save_that_fails_after_the_exchange_says_how_to_recover(
    in_tmp: Path, fake_github: FakeGitHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The App exists but .env could not be written: the page names the App and no secret."""
    async with serving(in_tmp, fake_github) as setup:
        page = await setup.begin()
        code = fake_github.register_manifest_code("lost", page.manifest)

        def refuse(src: object, dst: object) -> None:
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(os, "replace", refuse)
        status, text, refused = await setup.callback(code, page.state)
    assert status == 500
    assert "No space left on device" in refused.ids["refusal"]
    assert "https://github.com/apps/self-improve" in refused.ids["refusal"]
    assert f"APP_ID={fake_github.app_id}" in refused.ids["refusal"]
    assert "PRIVATE KEY" not in text
    assert not (in_tmp / ".env").exists()


async def test_the_page_warns_when_the_environment_would_hide_the_new_app(
    in_tmp: Path, fake_github: FakeGitHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An APP_ID or PRIVATE_KEY_PATH in the environment is named on the success page."""
    monkeypatch.setenv("APP_ID", "99")
    async with serving(in_tmp, fake_github) as setup:
        page = await setup.begin()
        code = fake_github.register_manifest_code("hidden", page.manifest)
        status, _, done = await setup.callback(code, page.state)
    assert status == 200
    assert "APP_ID is 99 in the environment" in done.ids["warnings"]
    monkeypatch.delenv("APP_ID")
    monkeypatch.setenv("PRIVATE_KEY_PATH", str(in_tmp / "k.pem"))
    conversion = parse_conversion(example_answer())
    warnings = verify_env(in_tmp / ".env", conversion)
    assert len(warnings) == 1
    assert warnings[0].startswith("the saved settings do not load: ")
    assert warnings[0].endswith("PRIVATE_KEY and PRIVATE_KEY_PATH: set one, not both")


async def test_github_unreachable_is_reported(in_tmp: Path, fake_github: FakeGitHub) -> None:
    """A GitHub API that does not answer gives a 502 page naming it, and no .env."""
    dead = f"http://127.0.0.1:{free_port()}"
    async with serving(in_tmp, fake_github, github_api_url=dead) as setup:
        page = await setup.begin()
        status, _, refused = await setup.callback("c", page.state)
        assert status == 502 and dead in refused.ids["refusal"]
    assert not (in_tmp / ".env").exists()


async def test_two_tabs_register_one_app(in_tmp: Path, fake_github: FakeGitHub) -> None:
    """Two redirects at once: one App is saved, the other is refused without asking GitHub."""
    async with serving(in_tmp, fake_github) as setup:
        a, b = await setup.begin(), await setup.begin()
        ca = fake_github.register_manifest_code("ca", a.manifest)
        cb = fake_github.register_manifest_code("cb", b.manifest)
        results = await asyncio.gather(setup.callback(ca, a.state), setup.callback(cb, b.state))
        assert sorted(status for status, _, _ in results) == [200, 409]
        assert len(setup.conversions()) == 1


async def test_an_organization_gets_its_own_form(in_tmp: Path, fake_github: FakeGitHub) -> None:
    """`/?org=acme` posts to the organization's new-App page; a bad org is refused."""
    async with serving(in_tmp, fake_github) as setup:
        page = await setup.begin("?org=acme")
        assert page.forms["register"]["action"].startswith(
            "https://github.example/organizations/acme/settings/apps/new?state="
        )
        assert page.inputs["org"] == "acme"
        status, _, refused = await setup.get("/?org=a%2Fb")
        assert status == 400 and "org:" in refused.ids["refusal"]


async def test_public_url_and_proxies_set_the_hook_address(
    in_tmp: Path, fake_github: FakeGitHub
) -> None:
    """PUBLIC_URL names the hook and redirect; without it a proxy's forwarded host does."""
    async with serving(in_tmp, fake_github, public_url="https://bot.example.com/") as setup:
        page = await setup.begin()
        assert (
            page.manifest["hook_attributes"]["url"] == "https://bot.example.com/api/github/webhooks"
        )
        assert "unreachable" not in page.ids
    async with serving(in_tmp, fake_github) as setup:
        _, _, page = await setup.get(
            "/", **{"X-Forwarded-Proto": "https", "X-Forwarded-Host": "tunnel.example.net"}
        )
        assert page.manifest["redirect_url"] == "https://tunnel.example.net/setup/callback"


async def test_a_broken_app_yml_is_shown_not_crashed(
    tmp_path: Path, fake_github: FakeGitHub
) -> None:
    """A bad app.yml yields a page naming the file and the field; the server keeps serving."""
    (tmp_path / "app.yml").write_text("name: x\n")
    settings = load_settings(
        None, github_api_url=fake_github.url, database_url=f"sqlite:///{tmp_path}/d.db"
    )
    async with build_deps(settings) as deps:
        app = web.Application()
        add_registration_routes(
            app, deps, env_path=tmp_path / ".env", manifest_path=tmp_path / "app.yml"
        )
        runner = web.AppRunner(app)
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        try:
            async with (
                aiohttp.ClientSession() as session,
                session.get(f"http://127.0.0.1:{port}/") as r,
            ):
                assert r.status == 500
                refusal = Page(await r.text()).ids["refusal"]
        finally:
            await runner.cleanup()
    assert "app.yml: url: required" in refusal


async def test_a_registered_app_says_what_it_is_and_how_to_install_it(
    tmp_path: Path, fake_github: FakeGitHub, app_key_pem: bytes
) -> None:
    """With APP_ID and a key, `/` is no setup page but the running App: its id, its page on GitHub
    (the slug learnt at startup), where to install it and how to trigger it; no setup callback."""
    settings = load_settings(
        None,
        app_id=fake_github.app_id,
        private_key=app_key_pem.decode(),
        webhook_secret="s",
        github_api_url=fake_github.url,
        database_url=f"sqlite:///{tmp_path}/d.db",
    )
    async with build_deps(settings) as deps:
        runner = web.AppRunner(make_app(deps))
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        try:
            async with aiohttp.ClientSession() as session:
                async with session.get(f"http://127.0.0.1:{port}/") as r:
                    assert r.status == 200
                    text = await r.text()
                async with session.get(
                    f"http://127.0.0.1:{port}{CALLBACK_PATH}?code=c&state=s"
                ) as r:
                    assert r.status == 404
        finally:
            await runner.cleanup()
    page = Page(text)
    assert "<h1>self-improve is running</h1>" in text
    assert f"App id <code>{fake_github.app_id}</code>" in text
    assert page.ids["install"] == "install it"
    assert "https://github.com/apps/self-improve/installations/new" in page.links
    assert "<code>run:self-improve</code>" in text and "<code>/self-improve</code>" in text
    assert page.forms == {} and page.assets == []


async def test_after_a_restart_the_new_app_receives_webhooks(
    in_tmp: Path, fake_github: FakeGitHub
) -> None:
    """The .env written by registration runs the service: the double's signed ping is accepted."""
    async with serving(in_tmp, fake_github) as setup:
        page = await setup.begin()
        await setup.callback(fake_github.register_manifest_code("go", page.manifest), page.state)
    port = free_port()
    settings = load_settings(
        env_file=in_tmp / ".env",
        github_api_url=fake_github.url,
        database_url=f"sqlite:///{in_tmp}/run.db",
        host="127.0.0.1",
        port=port,
        log_level="WARNING",
        recovery_interval_seconds=0,
    )
    fake_github.configure(webhook_url=f"http://127.0.0.1:{port}/api/github/webhooks")
    async with running(settings, with_worker=False) as deps:
        assert deps.github is not None and deps.app_slug == "self-improve"
        delivery = await asyncio.to_thread(
            fake_github.send_webhook, "ping", {"zen": "Keep it simple."}
        )
    assert delivery["status_code"] == 200


# The command line. ---------------------------------------------------------------------------------


@pytest.fixture
def unregistered_serve(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], int]]:
    port = free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if k.upper() not in {"APP_ID", "PRIVATE_KEY", "PRIVATE_KEY_PATH", "WEBHOOK_SECRET"}
    }
    env.update(
        HOST="127.0.0.1",
        PORT=str(port),
        DATABASE_URL=f"sqlite:///{tmp_path}/cli.db",
        LOG_FORMAT="pretty",
        PYTHONPATH=str(ROOT),
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "app", "serve", "--no-worker"],
        cwd=tmp_path,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield process, port
    finally:
        process.terminate()
        process.wait(timeout=10)
        assert process.stderr is not None
        process.stderr.close()


@pytest.mark.slow
async def test_serve_without_app_id_says_where_to_register(
    unregistered_serve: tuple[subprocess.Popen[str], int],
) -> None:
    """`serve` with no APP_ID nor WEBHOOK_SECRET starts, logs the setup address, serves the page."""
    process, port = unregistered_serve
    assert process.stderr is not None
    first = await asyncio.wait_for(asyncio.to_thread(process.stderr.readline), timeout=20)
    assert f"no APP_ID: open http://127.0.0.1:{port}/ to register the App" in first
    async with aiohttp.ClientSession() as session:
        for _ in range(100):
            try:
                async with session.get(f"http://127.0.0.1:{port}/") as r:
                    page = Page(await r.text())
                    break
            except aiohttp.ClientConnectionError:
                await asyncio.sleep(0.05)
        else:
            pytest.fail("serve did not start listening")
    assert page.forms["register"]["action"].startswith(
        "https://github.com/settings/apps/new?state="
    )
    assert page.manifest["name"] == yaml.safe_load(APP_YML.read_text())["name"]
