"""Registering the GitHub App from its manifest, as Probot does: setup page, state, conversion, `.env`.

The flow (https://docs.github.com/en/apps/sharing-github-apps/registering-a-github-app-from-a-manifest):
`GET /` shows a form that posts `app.yml` (hook and redirect URLs pointed at us) to
`{GITHUB_URL}/settings/apps/new?state=…`; GitHub creates the App and sends the browser to
`/setup/callback?code=…&state=…`; we check the state, trade the code once for the App's id, key and
webhook secret, write them to `.env` (mode 0600) and ask the user to restart. All within one hour.

Errors (each message names what and where, never a secret value)::

    RegistrationError        the registration cannot go on
    ├── ManifestError        app.yml is missing or not a usable manifest
    ├── ConversionError      GitHub refused the code, or answered something unusable (`.status`)
    └── EnvFileError         .env cannot be read, parsed or written
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import html
import ipaddress
import json
import logging
import os
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import aiohttp
import yaml
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from app.deps import DEPS, Deps
from app.settings import Settings, SettingsError, load_settings

log = logging.getLogger(__name__)

CALLBACK_PATH = "/setup/callback"
STATE_TTL_SECONDS = 3600.0  # GitHub: posting the form, the redirect and the exchange take <= 1 hour
MAX_PENDING_STATES = 1000  # each page view makes one; the oldest go first, so memory stays bounded
ENV_KEYS = ("APP_ID", "PRIVATE_KEY", "WEBHOOK_SECRET")
USER_AGENT = "self-improve"

_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,128}")  # codes and our states: anything else is not ours
_ORG = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,38}")
_HOST = re.compile(r"[A-Za-z0-9.\-]+(?::[0-9]{1,5})?|\[[0-9A-Fa-f:.]+\](?::[0-9]{1,5})?")
_ENV_KEY = re.compile(r"[ \t]*(?:export[ \t]+)?([A-Za-z_][A-Za-z0-9_.]*)[ \t]*=[ \t]*(.*)")
_BARE_VALUE = re.compile(r"[A-Za-z0-9_./:@+,=-]*")


class RegistrationError(ValueError):
    """The registration cannot go on; the message names what and where, never a secret."""


class ManifestError(RegistrationError):
    """app.yml is missing, unreadable or not a usable manifest."""


class ConversionError(RegistrationError):
    """GitHub refused the manifest code or answered something unusable; `status` is its HTTP status."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class EnvFileError(RegistrationError):
    """The `.env` file cannot be read, parsed or written."""


# The manifest. -------------------------------------------------------------------------------------


def default_manifest_path() -> Path:
    """`app.yml` in the working directory (Probot's convention, the image's /srv), else the checkout's."""
    here = Path.cwd() / "app.yml"
    return here if here.is_file() else Path(__file__).resolve().parents[1] / "app.yml"


def parse_manifest(text: str, source: str) -> dict[str, Any]:
    """The manifest in `text` (YAML), checked for the fields GitHub requires; `source` names it."""
    try:
        manifest = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ManifestError(f"{source}: not valid YAML: {exc}") from None
    if not isinstance(manifest, dict):
        raise ManifestError(f"{source}: must be a mapping of manifest fields")
    for key in ("name", "url"):
        if not isinstance(manifest.get(key), str) or not manifest[key].strip():
            raise ManifestError(f"{source}: {key}: required, a non-empty string")
    hook = manifest.get("hook_attributes") or {}
    if not isinstance(hook, dict):
        raise ManifestError(f"{source}: hook_attributes: must be a mapping")
    events = manifest.get("default_events") or []
    if not isinstance(events, list) or not all(isinstance(e, str) for e in events):
        raise ManifestError(f"{source}: default_events: must be a list of event names")
    permissions = manifest.get("default_permissions") or {}
    if not isinstance(permissions, dict) or not all(
        isinstance(k, str) and v in {"read", "write", "admin"} for k, v in permissions.items()
    ):
        raise ManifestError(
            f"{source}: default_permissions: must map permission names to read, write or admin"
        )
    return manifest


def read_manifest(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8"
        raise ManifestError(f"{path}: cannot read the App manifest: {reason}") from None
    return parse_manifest(text, str(path))


def build_manifest(
    manifest: Mapping[str, Any], public_url: str, webhook_path: str
) -> dict[str, Any]:
    """The manifest GitHub receives: app.yml with its hook and redirect URLs pointed at `public_url`."""
    base = public_url.rstrip("/")
    hook = dict(manifest.get("hook_attributes") or {})
    hook["url"] = base + webhook_path
    hook.setdefault("active", True)
    return {**manifest, "hook_attributes": hook, "redirect_url": base + CALLBACK_PATH}


def public_base_url(
    configured: str | None,
    *,
    scheme: str,
    host: str,
    forwarded_proto: str | None = None,
    forwarded_host: str | None = None,
) -> str:
    """Where GitHub reaches us: PUBLIC_URL, else the address this page was asked for (proxies included)."""
    if configured:
        return configured.rstrip("/")
    proto = (forwarded_proto or "").split(",")[0].strip().lower()
    if proto not in {"http", "https"}:
        proto = scheme if scheme in {"http", "https"} else "http"
    candidate = (forwarded_host or "").split(",")[0].strip()
    if not _HOST.fullmatch(candidate):
        candidate = host if _HOST.fullmatch(host) else "localhost"
    return f"{proto}://{candidate}"


def unreachable_reason(public_url: str) -> str | None:
    """Why GitHub could not deliver webhooks to `public_url`, if it plainly cannot."""
    hostname = (urlsplit(public_url).hostname or "").lower()
    if hostname in {"localhost", ""} or hostname.endswith(".localhost"):
        return f"{hostname or 'this host'} is this machine"
    with contextlib.suppress(ValueError):
        address = ipaddress.ip_address(hostname)
        if address.is_loopback or address.is_private or address.is_unspecified:
            return f"{hostname} is not a public address"
    return None


def new_app_url(github_url: str, state: str, org: str | None = None) -> str:
    """Where the form posts: GitHub's new-App page for the user, or for organization `org`."""
    owner = f"/organizations/{quote(org, safe='')}" if org else ""
    return f"{github_url.rstrip('/')}{owner}/settings/apps/new?state={quote(state, safe='')}"


def check_org(org: str | None) -> str | None:
    """The `?org=` of the setup page: None when absent, else a plausible login or a RegistrationError."""
    if org is None or org == "":
        return None
    if not _ORG.fullmatch(org):
        raise RegistrationError(
            "org: not an organization login (letters, digits, - or _, at most 39)"
        )
    return org


def setup_address(host: str, port: int) -> str:
    """The setup page's local address as a person would type it (0.0.0.0 and :: mean this machine)."""
    shown = "localhost" if host in {"", "0.0.0.0", "::"} else host  # noqa: S104 - compared, not bound
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    return f"http://{shown}:{port}/"


# The state. ----------------------------------------------------------------------------------------


class StateVerdict(enum.Enum):
    VALID = "valid"
    UNKNOWN = "unknown"
    EXPIRED = "expired"
    USED = "used"


class StateStore:
    """Random `state` values handed to GitHub with the form: each is good once, for one hour."""

    def __init__(self, ttl: float = STATE_TTL_SECONDS, capacity: int = MAX_PENDING_STATES) -> None:
        self._ttl = ttl
        self._capacity = capacity
        self._issued: dict[str, float] = {}  # insertion order is age order
        self._used: dict[str, float] = {}

    def __repr__(self) -> str:
        return f"StateStore(pending={len(self._issued)}, used={len(self._used)})"

    def issue(self, now: float) -> str:
        self._forget(now)
        while len(self._issued) >= self._capacity:
            del self._issued[next(iter(self._issued))]
        state = secrets.token_urlsafe(32)
        self._issued[state] = now
        return state

    def check(self, state: str, now: float) -> StateVerdict:
        """What `state` is worth now, without spending it."""
        if state in self._used:
            return StateVerdict.USED
        issued = self._issued.get(state)
        if issued is None:
            return StateVerdict.UNKNOWN
        return StateVerdict.VALID if now - issued <= self._ttl else StateVerdict.EXPIRED

    def redeem(self, state: str, now: float) -> StateVerdict:
        """Spend `state`: VALID once, then USED (remembered for an hour, for a clearer refusal)."""
        verdict = self.check(state, now)
        if verdict is StateVerdict.VALID:
            del self._issued[state]
            self._used[state] = now
        return verdict

    def _forget(self, now: float) -> None:
        for book in (self._issued, self._used):
            for state in [s for s, at in book.items() if now - at > self._ttl]:
                del book[state]


STATE_REFUSALS: dict[StateVerdict, str] = {
    StateVerdict.UNKNOWN: "This setup link is not one this server handed out (or the server "
    "restarted since). Start again from the setup page.",
    StateVerdict.EXPIRED: "This setup link is more than one hour old. GitHub's registration must "
    "finish within an hour: start again from the setup page.",
    StateVerdict.USED: "This setup link was already used. Start again from the setup page if the "
    "App still needs registering.",
}

ALREADY_REGISTERED = "This server already has its GitHub App; restart it to use the App."


# The conversion. -----------------------------------------------------------------------------------


class ManifestConversion(BaseModel):
    """GitHub's answer to `POST /app-manifests/{code}/conversions`: the new App and its credentials."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: int = Field(gt=0)
    name: str = ""
    slug: str = ""
    html_url: str
    pem: SecretStr
    # The OpenAPI description marks it nullable: GitHub sends none when the manifest has no webhook.
    webhook_secret: SecretStr | None = None

    @field_validator("html_url")
    @classmethod
    def _web_url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL")
        return value.rstrip("/")

    @field_validator("pem")
    @classmethod
    def _private_key(cls, value: SecretStr) -> SecretStr:
        try:
            # GitHub's own fresh key: the RSA consistency check would only cost time
            serialization.load_pem_private_key(
                value.get_secret_value().encode(),
                password=None,
                unsafe_skip_rsa_key_validation=True,
            )
        except (ValueError, TypeError):
            raise ValueError("not an unencrypted PEM private key") from None
        return value

    @property
    def install_url(self) -> str:
        return f"{self.html_url}/installations/new"


def parse_conversion(body: object) -> ManifestConversion:
    try:
        return ManifestConversion.model_validate(body)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "body"
        raise ConversionError(f"{where}: {err['msg'].removeprefix('Value error, ')}") from None


def conversion_refusal(status: int | None, message: str) -> tuple[int, str]:
    """Our HTTP status and the sentence a person reads, for a conversion GitHub did not grant."""
    said = f" (GitHub said: {message})" if message else ""
    if status is None:
        return 502, f"GitHub could not be reached ({message}). Start again from the setup page."
    if 200 <= status < 300:
        return 502, (
            f"GitHub's answer could not be used ({message}). If an App was created anyway, "
            "delete it in your GitHub settings (Developer settings, GitHub Apps), then start "
            "again from the setup page."
        )
    if status == 404:
        return 400, (
            "GitHub does not know this code: it was already used, or it is more than one hour "
            f"old{said}. Start again from the setup page."
        )
    if status in {403, 429}:
        return 503, (
            f"GitHub is rate-limiting App registrations{said}. Wait a minute and start again "
            "from the setup page."
        )
    if status == 422:
        return 400, f"GitHub refused the code{said}. Start again from the setup page."
    return 502, f"GitHub answered {status}{said}. Start again from the setup page."


def _github_message(body: bytes) -> str:
    try:
        doc = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return ""
    message = doc.get("message") if isinstance(doc, dict) else None
    return str(message)[:300] if message else ""


async def convert_manifest_code(
    http: aiohttp.ClientSession, *, api_url: str, api_version: str, code: str
) -> ManifestConversion:
    """Trade the redirect's `code` for the App's credentials: one unauthenticated POST, no retry."""
    url = f"{api_url.rstrip('/')}/app-manifests/{quote(code, safe='')}/conversions"
    headers = {
        "Accept": "application/vnd.github+json",
        "X-GitHub-Api-Version": api_version,
        "User-Agent": USER_AGENT,
    }
    try:
        async with http.post(
            url, headers=headers, timeout=aiohttp.ClientTimeout(total=30)
        ) as response:
            status, body = response.status, await response.read()
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise ConversionError(f"{api_url}: {type(exc).__name__}") from None
    if status not in {200, 201}:
        raise ConversionError(_github_message(body), status=status)
    try:
        return parse_conversion(json.loads(body))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ConversionError("the answer is not JSON", status=status) from None
    except ConversionError as exc:
        raise ConversionError(str(exc), status=status) from None


# The .env file. ------------------------------------------------------------------------------------


def quote_env_value(value: str) -> str:
    """A value as a `.env` line holds it: bare when plain, else double-quoted with `\\n` escapes (Probot)."""
    if _BARE_VALUE.fullmatch(value):
        return value
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\r", "").replace("\n", "\\n")
    return f'"{escaped}"'


def env_assignments(conversion: ManifestConversion) -> dict[str, str]:
    """The settings the new App gives us, as `.env` keys and quoted values."""
    values = {
        "APP_ID": str(conversion.id),
        "PRIVATE_KEY": conversion.pem.get_secret_value(),
    }
    if conversion.webhook_secret is not None:
        values["WEBHOOK_SECRET"] = conversion.webhook_secret.get_secret_value()
    return {key: quote_env_value(value) for key, value in values.items()}


def env_retired(conversion: ManifestConversion) -> tuple[str, ...]:
    """Keys an old `.env` may hold that would contradict the new App: commented out, not deleted."""
    retired = ["PRIVATE_KEY_PATH"]  # both set is a settings error
    if conversion.webhook_secret is None:
        retired.append("WEBHOOK_SECRET")  # an old App's secret would fail every signature
    return tuple(retired)


@dataclass(frozen=True)
class EnvEntry:
    """A run of `.env` lines: one assignment (a quoted value may span lines) or one other line."""

    lines: tuple[str, ...]
    key: str | None = None


def _closing_quote(text: str, quote_char: str) -> int:
    """Index of the quote that closes `text` (which starts after the opening one), or -1."""
    i = 0
    while i < len(text):
        if text[i] == "\\" and quote_char == '"':
            i += 2
            continue
        if text[i] == quote_char:
            return i
        i += 1
    return -1


def parse_env(text: str) -> list[EnvEntry]:
    """`.env` text as entries, losslessly: joining every entry's lines gives the text back."""
    lines = text.splitlines(keepends=True)
    entries: list[EnvEntry] = []
    i = 0
    while i < len(lines):
        match = _ENV_KEY.fullmatch(lines[i].rstrip("\r\n"))
        if match is None:
            entries.append(EnvEntry((lines[i],)))
            i += 1
            continue
        value, end = match.group(2), i + 1
        if value[:1] in {'"', "'"}:
            rest = value[1:] + lines[i][len(lines[i].rstrip("\r\n")) :]
            j = i + 1
            while _closing_quote(rest, value[0]) < 0 and j < len(lines):
                rest += lines[j]
                j += 1
            if _closing_quote(rest, value[0]) >= 0:
                end = j  # an unclosed quote stays a one-line entry, as dotenv reads it
        entries.append(EnvEntry(tuple(lines[i:end]), key=match.group(1)))
        i = end
    return entries


def merge_env(existing: str, updates: Mapping[str, str], retire: Iterable[str] = ()) -> str:
    """`existing` with `updates` (already quoted) set once each, `retire` commented out, the rest kept.

    Keys match without regard to case, as the settings read them."""
    wanted = {key.upper(): (key, value) for key, value in updates.items()}
    retired = {key.upper() for key in retire} - set(wanted)
    written: set[str] = set()
    out: list[str] = []
    for entry in parse_env(existing):
        key = entry.key.upper() if entry.key is not None else None
        if key in wanted:
            if key not in written:
                name, value = wanted[key]
                out.append(f"{name}={value}\n")
                written.add(key)
        elif key in retired:
            out.extend(f"# {line.rstrip(chr(13) + chr(10))}\n" for line in entry.lines)
        else:
            out.extend(entry.lines)
    if out and not out[-1].endswith("\n"):
        out[-1] += "\n"
    out.extend(f"{name}={value}\n" for k, (name, value) in wanted.items() if k not in written)
    return "".join(out)


def read_env(path: Path) -> str:
    """The current `.env` text ("" when there is none yet)."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return ""
    except UnicodeDecodeError:
        raise EnvFileError(f"{path}: not UTF-8 text; fix or move it, then try again") from None
    except OSError as exc:
        raise EnvFileError(f"{path}: cannot read: {exc.strerror}") from None


def _open_private(path: Path) -> int:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.fchmod(fd, 0o600)  # whatever the umask says
    return fd


def check_env_writable(path: Path) -> None:
    """Fail now, before the one-time code is spent, if the `.env` could not be read or replaced."""
    if path.is_dir():
        raise EnvFileError(f"{path}: is a directory")
    read_env(path)
    probe = path.with_name(f".{path.name}.probe-{secrets.token_hex(4)}")
    try:
        os.close(_open_private(probe))
    except OSError as exc:
        raise EnvFileError(f"{path.parent}: cannot create files there: {exc.strerror}") from None
    probe.unlink()


def write_env(path: Path, updates: Mapping[str, str], retire: Iterable[str] = ()) -> None:
    """Merge `updates` into the `.env` at `path`: a new file with mode 0600, swapped in atomically."""
    text = merge_env(read_env(path), updates, retire)
    temporary = path.with_name(f".{path.name}.tmp-{secrets.token_hex(4)}")
    try:
        fd = _open_private(temporary)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise EnvFileError(f"{path}: cannot write: {exc.strerror}") from None
    with contextlib.suppress(OSError):  # the rename itself durable; not every filesystem allows it
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def override_warnings(loaded: Settings, conversion: ManifestConversion) -> list[str]:
    """What in the environment would hide the new App from the restarted service (names, no values)."""
    warnings = []
    if loaded.app_id != conversion.id:
        warnings.append(f"APP_ID is {loaded.app_id} in the environment, which overrides .env")
    try:
        pem = loaded.private_key_pem().decode().strip()
    except SettingsError as exc:
        pem = f"unreadable: {exc}"
    if pem != conversion.pem.get_secret_value().strip():
        warnings.append("PRIVATE_KEY or PRIVATE_KEY_PATH in the environment overrides .env")
    if conversion.webhook_secret is not None and (
        loaded.webhook_secret is None
        or loaded.webhook_secret.get_secret_value() != conversion.webhook_secret.get_secret_value()
    ):
        warnings.append("WEBHOOK_SECRET in the environment overrides .env")
    return warnings


def verify_env(path: Path, conversion: ManifestConversion) -> list[str]:
    """Read the settings back as a restart will, and say what would not come through."""
    try:
        loaded = load_settings(env_file=path)
    except SettingsError as exc:
        return [f"the saved settings do not load: {exc}"]
    return override_warnings(loaded, conversion)


# The pages. ----------------------------------------------------------------------------------------

_STYLE = """
body{font:16px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;background:#f6f8fa;color:#1f2328}
main{max-width:44rem;margin:3rem auto;padding:2rem;background:#fff;border:1px solid #d0d7de;border-radius:8px}
h1{font-size:1.5rem;margin-top:0}h2{font-size:1.1rem;margin-top:1.5rem}
code{font:14px ui-monospace,SFMono-Regular,Menlo,monospace;background:#f6f8fa;padding:.1rem .3rem;border-radius:4px}
table{border-collapse:collapse}td{padding:.15rem 1rem .15rem 0;vertical-align:top}td:first-child{white-space:nowrap}
button{font:inherit;font-weight:600;color:#fff;background:#1f883d;border:1px solid #1a7f37;border-radius:6px;padding:.5rem 1rem;cursor:pointer}
button.secondary{color:#1f2328;background:#f6f8fa;border-color:#d0d7de;font-weight:400}
input[type=text]{font:inherit;padding:.35rem .5rem;border:1px solid #d0d7de;border-radius:6px}
.note{background:#fff8c5;border:1px solid #d4a72c;border-radius:6px;padding:.75rem 1rem}
.error{background:#ffebe9;border:1px solid #ff8182;border-radius:6px;padding:.75rem 1rem}
.muted{color:#59636e;font-size:.9rem}
"""

# No scripts, no outside assets: a page that only renders text and one form.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; "
    "frame-ancestors 'none'",
    "Cache-Control": "no-store",  # the setup page carries a one-time state
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def render_page(title: str, body: str) -> str:
    """A whole page around `body` (already escaped HTML); `title` is escaped here."""
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_e(title)}</title>\n<style>{_STYLE}</style>\n</head>\n"
        f"<body>\n<main>\n{body}\n</main>\n</body>\n</html>\n"
    )


def setup_page(
    manifest: Mapping[str, Any], action: str, org: str | None, unreachable: str | None
) -> str:
    """The setup page: what will be registered, and the button that posts the manifest to GitHub."""
    name = str(manifest.get("name", ""))
    hook = manifest.get("hook_attributes") or {}
    events = "".join(f"<code>{_e(e)}</code> " for e in manifest.get("default_events") or [])
    permissions = "".join(
        f"<tr><td><code>{_e(k)}</code></td><td>{_e(v)}</td></tr>"
        for k, v in (manifest.get("default_permissions") or {}).items()
    )
    owner = f"the organization <strong>{_e(org)}</strong>" if org else "your account"
    warning = (
        f'<p class="note" id="unreachable">GitHub cannot deliver webhooks to '
        f"<code>{_e(hook.get('url', ''))}</code>: {_e(unreachable)}. Set <code>PUBLIC_URL</code> "
        "to an address GitHub can reach (a tunnel will do), restart, and reload this page.</p>\n"
        if unreachable
        else ""
    )
    manifest_json = json.dumps(manifest, ensure_ascii=False, separators=(",", ":"))
    body = f"""<h1>Register {_e(name)} as a GitHub App</h1>
<p>{_e(manifest.get("description", ""))}</p>
<p>This server has no <code>APP_ID</code> and private key yet. The button below asks GitHub to
create the App for {owner}; GitHub then sends you back here, and this server saves the App's
id, private key and webhook secret to <code>.env</code>.</p>
{warning}<table>
<tr><td>Webhook URL</td><td><code id="hook-url">{_e(hook.get("url", ""))}</code></td></tr>
<tr><td>Redirect URL</td><td><code id="redirect-url">{_e(manifest.get("redirect_url", ""))}</code></td></tr>
<tr><td>Events</td><td>{events}</td></tr>
</table>
<h2>Permissions</h2>
<table id="permissions">{permissions}</table>
<form id="register" method="post" action="{_e(action)}">
<input type="hidden" name="manifest" value="{_e(manifest_json)}">
<p><button type="submit">Register the GitHub App</button></p>
</form>
<form id="owner" method="get" action="">
<p class="muted">For an organization instead of your account:
<input type="text" name="org" value="{_e(org or "")}" placeholder="organization" aria-label="organization">
<button class="secondary" type="submit">Use this organization</button></p>
</form>
<p class="muted">You can change the name on GitHub before creating the App. This link works
once and for one hour.</p>"""
    return render_page(f"Register {name}", body)


def registered_page(conversion: ManifestConversion, env_path: Path, warnings: list[str]) -> str:
    """After the exchange: restart, then install. Shows the App's id and links, never its secrets."""
    saved = ", ".join(
        f"<code>{k}</code>" for k in ENV_KEYS if k != "WEBHOOK_SECRET" or conversion.webhook_secret
    )
    missing_secret = (
        ""
        if conversion.webhook_secret is not None
        else '<p class="note" id="no-webhook-secret">GitHub sent no webhook secret. Set one in the '
        f'<a href="{_e(conversion.html_url)}">App\'s settings</a> and put the same value in '
        "<code>WEBHOOK_SECRET</code> in <code>.env</code>: the service will not start without it.</p>\n"
    )
    notes = "".join(f"<li>{_e(w)}</li>" for w in warnings)
    warned = (
        f'<div class="note" id="warnings"><p>The restarted service would not see the new App:</p>'
        f"<ul>{notes}</ul></div>\n"
        if warnings
        else ""
    )
    body = f"""<h1>The GitHub App is registered</h1>
<p><a id="app-link" href="{_e(conversion.html_url)}">{_e(conversion.name or conversion.slug)}</a>
(App id <code id="app-id">{conversion.id}</code>) now exists on GitHub. Saved in
<code id="env-path">{_e(env_path)}</code>, readable by this user only: {saved}.</p>
{missing_secret}{warned}<h2>Next</h2>
<ol>
<li><strong>Restart the app</strong> so it reads <code>.env</code>: this server keeps running in
setup mode until then.</li>
<li><a id="install-link" href="{_e(conversion.install_url)}">Install the App</a> on the
repositories where agents work.</li>
</ol>"""
    return render_page("GitHub App registered", body)


def installed_page(app_id: int | None, html_url: str | None = None) -> str:
    """`/` once the App has been registered from this page: restart to load it."""
    link = f' (<a href="{_e(html_url)}">{_e(html_url)}</a>)' if html_url else ""
    body = (
        f"<h1>self-improve is installed</h1>\n<p>This server runs as GitHub App id "
        f"<code>{_e(app_id)}</code>{link}. Restart it if you have just registered the App.</p>"
    )
    return render_page("self-improve is installed", body)


def running_page(app_id: int | None, app_url: str | None) -> str:
    """`/` on a server started with its App configured: what it is, and what to do next."""
    who = f"GitHub App id <code>{_e(app_id)}</code>"
    if app_url:
        who += f' (<a href="{_e(app_url)}">{_e(app_url)}</a>)'
        install = f'<a id="install" href="{_e(app_url)}/installations/new">install it</a>'
    else:  # GitHub was unreachable at startup: the slug, and so the App's address, is unknown
        install = "install it from the App's page on GitHub"
    body = (
        f"<h1>self-improve is running</h1>\n<p>This server runs as {who}.</p>\n"
        f"<p>Next, {install} on a repository, then apply the label <code>run:self-improve</code> to"
        " an issue or pull request there, or comment <code>/self-improve</code> on it.</p>\n"
        '<p>Health: <a href="/healthz">/healthz</a>, <a href="/readyz">/readyz</a>,'
        ' <a href="/metrics">/metrics</a>.</p>'
    )
    return render_page("self-improve is running", body)


def refusal_page(title: str, detail: str) -> str:
    body = (
        f'<h1>{_e(title)}</h1>\n<p class="error" id="refusal">{_e(detail)}</p>\n'
        '<p><a href="/">Back to the setup page</a></p>'
    )
    return render_page(title, body)


# The routes. ---------------------------------------------------------------------------------------


@dataclass
class Registration:
    """What the setup routes share: the deps, where the files are, the states, the one outcome."""

    deps: Deps
    env_path: Path
    manifest_path: Path
    states: StateStore = field(default_factory=StateStore)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    done: ManifestConversion | None = None

    def __repr__(self) -> str:
        return f"Registration(env_path={self.env_path}, done={self.done is not None})"


REGISTRATION = web.AppKey("registration", Registration)


def _html(text: str, status: int = 200) -> web.Response:
    return web.Response(
        text=text, status=status, content_type="text/html", charset="utf-8", headers=PAGE_HEADERS
    )


def _refuse(status: int, title: str, detail: str) -> web.Response:
    return _html(refusal_page(title, detail), status)


async def show_running_page(request: web.Request) -> web.Response:
    deps = request.app[DEPS]
    slug = deps.app_slug
    app_url = f"{deps.settings.github_url}/apps/{quote(slug)}" if slug else None
    return _html(running_page(deps.settings.app_id, app_url))


async def show_setup_page(request: web.Request) -> web.Response:
    reg = request.app[REGISTRATION]
    settings = reg.deps.settings
    if reg.done is not None:
        return _html(installed_page(reg.done.id, reg.done.html_url))
    try:
        org = check_org(request.query.get("org"))
        manifest = read_manifest(reg.manifest_path)
    except RegistrationError as exc:
        return _refuse(
            400 if not isinstance(exc, ManifestError) else 500, "Cannot set up", str(exc)
        )
    public = public_base_url(
        settings.public_url,
        scheme=request.scheme,
        host=request.host,
        forwarded_proto=request.headers.get("X-Forwarded-Proto"),
        forwarded_host=request.headers.get("X-Forwarded-Host"),
    )
    full = build_manifest(manifest, public, settings.webhook_path)
    state = reg.states.issue(reg.deps.clock())
    action = new_app_url(settings.github_url, state, org)
    return _html(setup_page(full, action, org, unreachable_reason(public)))


async def complete_registration(request: web.Request) -> web.Response:
    reg = request.app[REGISTRATION]
    settings = reg.deps.settings
    code, state = request.query.get("code", ""), request.query.get("state", "")
    if reg.done is not None:  # a registered server has no setup routes (`make_app`)
        return _refuse(409, "Already registered", ALREADY_REGISTERED)
    if not _TOKEN.fullmatch(code):
        return _refuse(
            400,
            "No code",
            "GitHub's redirect carries a code=… parameter; this request has none (or a malformed one).",
        )
    async with reg.lock:  # one exchange at a time: a second tab must not write a second App
        if reg.done is not None:
            return _refuse(409, "Already registered", ALREADY_REGISTERED)
        verdict = (
            reg.states.check(state, reg.deps.clock())
            if _TOKEN.fullmatch(state)
            else StateVerdict.UNKNOWN
        )
        if verdict is not StateVerdict.VALID:
            log.warning("registration callback refused: %s state", verdict.value)
            return _refuse(400, "Setup link refused", STATE_REFUSALS[verdict])
        try:
            check_env_writable(reg.env_path)
        except EnvFileError as exc:
            # the code is still unspent: fix the file and reload this page
            return _refuse(
                500, "Cannot save the App's settings", f"{exc}. Fix that, then reload this page."
            )
        reg.states.redeem(state, reg.deps.clock())
        try:
            conversion = await convert_manifest_code(
                reg.deps.http,
                api_url=settings.github_api_url,
                api_version=settings.github_api_version,
                code=code,
            )
        except ConversionError as exc:
            status, detail = conversion_refusal(exc.status, str(exc))
            log.warning("manifest conversion failed", extra={"status": exc.status})
            return _refuse(status, "GitHub did not register the App", detail)
        try:
            write_env(reg.env_path, env_assignments(conversion), env_retired(conversion))
        except EnvFileError as exc:
            log.error("App %s registered but not saved: %s", conversion.id, exc)
            return _refuse(
                500,
                "The App was created but not saved",
                f"{exc}. The App exists at {conversion.html_url}: generate a new private key "
                "and webhook secret in its settings and put them in .env, with APP_ID="
                f"{conversion.id}.",
            )
        reg.done = conversion
    warnings = verify_env(reg.env_path, conversion)
    log.warning(
        "GitHub App registered: restart the app to use it",
        extra={"app_id": conversion.id, "env_file": str(reg.env_path), "warnings": warnings},
    )
    return _html(registered_page(conversion, reg.env_path, warnings))


def add_registration_routes(
    app: web.Application,
    deps: Deps,
    *,
    env_path: Path | None = None,
    manifest_path: Path | None = None,
) -> None:
    """`GET /` (the setup page) and `GET /setup/callback` (GitHub's redirect) on `app`.

    `env_path` defaults to `.env` and `manifest_path` to `app.yml`, both in the working directory."""
    app[REGISTRATION] = Registration(
        deps=deps,
        env_path=(env_path or Path(".env")).absolute(),
        manifest_path=manifest_path or default_manifest_path(),
    )
    app.router.add_get("/", show_setup_page)
    app.router.add_get(CALLBACK_PATH, complete_registration)
