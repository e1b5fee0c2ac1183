"""App JWTs, the permission matrix and the installation-token cache (the mint edge injected)."""

from __future__ import annotations

import asyncio
import datetime
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from app.github.auth import (
    PERMISSIONS,
    AppJWT,
    CredentialsError,
    InstallationCredentials,
    InstallationTokens,
    StaticToken,
    grantable_permissions,
    make_app_jwt,
    parse_token_response,
    permissions_for,
    token_request_body,
)

NOW = 1_700_000_000.0


@pytest.fixture(scope="module")
def key_pem() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _public(key_pem: bytes) -> Any:
    return serialization.load_pem_private_key(key_pem, password=None).public_key()


def test_app_jwt_claims_and_algorithm(key_pem: bytes) -> None:
    """The JWT is RS256, backdated 60 s, expires 540 s ahead (under 10 min) and names the app."""
    token = make_app_jwt(12345, key_pem, now=NOW)
    assert jwt.get_unverified_header(token)["alg"] == "RS256"
    claims = jwt.decode(
        token,
        _public(key_pem),
        algorithms=["RS256"],
        options={"verify_exp": False, "verify_iat": False},
    )
    assert claims == {"iat": int(NOW) - 60, "exp": int(NOW) + 540, "iss": "12345"}
    assert claims["exp"] - claims["iat"] <= 600


def test_app_jwt_accepts_a_client_id_as_issuer(key_pem: bytes) -> None:
    """GitHub recommends the client id as `iss`; a string id goes in unchanged."""
    token = make_app_jwt("Iv23liABCDEF", key_pem, now=NOW)
    assert jwt.decode(token, options={"verify_signature": False})["iss"] == "Iv23liABCDEF"


def test_bad_key_error_names_the_setting_not_the_key() -> None:
    """An unusable key is reported by setting name; no key text leaks into the message."""
    bogus = b"-----BEGIN RSA PRIVATE KEY-----\nc2VjcmV0LWtleS1tYXRlcmlhbA==\n-----END RSA PRIVATE KEY-----\n"
    with pytest.raises(CredentialsError) as caught:
        make_app_jwt(1, bogus, now=NOW)
    assert str(caught.value) == "PRIVATE_KEY: not a usable RSA private key (PEM)"
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


async def test_app_jwt_is_reused_then_reminted(key_pem: bytes) -> None:
    """The App JWT is reused for 7 minutes, re-minted after, and re-minted at once when refused."""
    clock = [NOW]
    creds = AppJWT(7, key_pem, lambda: clock[0])
    first = await creds.authorization()
    assert first.startswith("Bearer ")
    clock[0] += 400
    assert await creds.authorization() == first
    clock[0] += 30
    second = await creds.authorization()
    assert second != first
    clock[0] += 1
    third = await creds.authorization(renew_from=second)
    assert third != second
    assert "BEGIN" not in repr(creds) and third.split()[1] not in repr(creds)


@pytest.mark.parametrize(
    ("purpose", "writes"),
    [
        ("gather", set()),
        ("publish", {"checks", "issues", "pull_requests"}),
        ("update", {"contents", "issues", "pull_requests"}),
    ],
)
def test_permission_matrix_is_least_privilege(purpose: str, writes: set[str]) -> None:
    """Gathering only reads; publishing writes checks/issues/PRs; updating writes contents/issues/PRs."""
    permissions = permissions_for(purpose)
    assert {k for k, v in permissions.items() if v == "write"} == writes
    assert set(permissions.values()) <= {"read", "write"}
    assert "workflows" not in permissions and "administration" not in permissions


def test_unknown_purpose_and_full_name_are_refused() -> None:
    """A purpose outside the matrix, or an owner/name repository, is a clear programming error."""
    with pytest.raises(ValueError, match=r"purpose: 'admin' is not one of gather, publish, update"):
        permissions_for("admin")
    with pytest.raises(ValueError, match=r"repository: give the name only"):
        token_request_body("acme/widgets", PERMISSIONS["gather"])


def test_token_request_body_is_scoped_to_one_repository() -> None:
    """The mint body names exactly one repository and the purpose's permissions."""
    assert token_request_body("widgets", PERMISSIONS["update"]) == {
        "repositories": ["widgets"],
        "permissions": {
            "contents": "write",
            "issues": "write",
            "metadata": "read",
            "pull_requests": "write",
        },
    }


@pytest.mark.parametrize(
    ("wanted", "granted", "usable", "lacking"),
    [
        ({"checks": "write"}, {"checks": "write"}, {"checks": "write"}, {}),
        ({"checks": "read"}, {"checks": "write"}, {"checks": "read"}, {}),
        ({"checks": "write"}, {"checks": "read"}, {"checks": "read"}, {"checks": "write"}),
        (
            {"actions": "read", "issues": "read"},
            {"issues": "admin"},
            {"issues": "read"},
            {"actions": "read"},
        ),
        ({}, {"issues": "write"}, {}, {}),
    ],
)
def test_grantable_permissions(
    wanted: dict[str, str], granted: dict[str, str], usable: dict[str, str], lacking: dict[str, str]
) -> None:
    """Asked permissions are lowered to what the installation has; the shortfall is named."""
    assert grantable_permissions(wanted, granted) == (usable, lacking)


def test_parse_token_response_reads_expiry_and_hides_the_token() -> None:
    """`expires_at` becomes epoch seconds; the token never shows in the repr."""
    token = parse_token_response(
        {
            "token": "ghs_secretvalue",
            "expires_at": "2023-11-14T23:13:20Z",
            "permissions": {"issues": "read"},
        }
    )
    assert (
        token.expires_at
        == datetime.datetime(2023, 11, 14, 23, 13, 20, tzinfo=datetime.UTC).timestamp()
    )
    assert token.permissions == {"issues": "read"}
    assert "ghs_secretvalue" not in repr(token)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"expires_at": "2023-11-14T23:13:20Z"}, "no `token` string"),
        ("nope", "no `token` string"),
        ({"token": "t", "expires_at": "tomorrow"}, "`expires_at` 'tomorrow' is not a date"),
    ],
)
def test_parse_token_response_refuses_bad_answers(data: Any, message: str) -> None:
    """A malformed mint answer fails with a message naming the field."""
    with pytest.raises(CredentialsError, match=message):
        parse_token_response(data)


class Minter:
    """The mint edge: answers like GitHub, records bodies, optionally slow so callers overlap."""

    def __init__(self, clock: list[float], lifetime: float = 3600.0, delay: float = 0.0) -> None:
        self.clock = clock
        self.lifetime = lifetime
        self.delay = delay
        self.bodies: list[tuple[int, dict[str, Any]]] = []

    async def __call__(self, installation_id: int, body: dict[str, Any]) -> dict[str, Any]:
        self.bodies.append((installation_id, body))
        if self.delay:
            await asyncio.sleep(self.delay)
        expires = datetime.datetime.fromtimestamp(self.clock[0] + self.lifetime, datetime.UTC)
        return {
            "token": f"ghs_{len(self.bodies)}",
            "expires_at": expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "permissions": body["permissions"],
        }


async def test_twenty_concurrent_callers_mint_once() -> None:
    """Twenty callers asking at once for the same scope share one mint."""
    clock = [NOW]
    mint = Minter(clock, delay=0.01)
    tokens = InstallationTokens(mint, clock=lambda: clock[0])
    got = await asyncio.gather(
        *(tokens.get(42, "widgets", PERMISSIONS["gather"]) for _ in range(20))
    )
    assert len(mint.bodies) == 1 and tokens.minted == 1
    assert {t.token for t in got} == {"ghs_1"}


async def test_tokens_are_cached_per_scope() -> None:
    """Different repositories, purposes or installations get their own tokens; the same scope reuses."""
    clock = [NOW]
    mint = Minter(clock)
    tokens = InstallationTokens(mint, clock=lambda: clock[0])
    a = await tokens.get(1, "widgets", PERMISSIONS["gather"])
    b = await tokens.get(1, "widgets", PERMISSIONS["publish"])
    c = await tokens.get(1, "gadgets", PERMISSIONS["gather"])
    d = await tokens.get(2, "widgets", PERMISSIONS["gather"])
    again = await tokens.get(1, "widgets", dict(reversed(list(PERMISSIONS["gather"].items()))))
    assert len({a.token, b.token, c.token, d.token}) == 4
    assert again.token == a.token
    assert [body for _, body in mint.bodies][1] == token_request_body(
        "widgets", PERMISSIONS["publish"]
    )


async def test_refresh_five_minutes_before_expiry() -> None:
    """At 54 minutes the hour-long token is reused; at 56 minutes a new one is minted."""
    clock = [NOW]
    mint = Minter(clock)
    tokens = InstallationTokens(mint, clock=lambda: clock[0])
    first = await tokens.get(1, "widgets", PERMISSIONS["gather"])
    clock[0] = NOW + 54 * 60
    assert (await tokens.get(1, "widgets", PERMISSIONS["gather"])).token == first.token
    clock[0] = NOW + 56 * 60
    second = await tokens.get(1, "widgets", PERMISSIONS["gather"])
    assert second.token != first.token
    assert second.expires_at - clock[0] > 300  # what is handed out always has its margin left


async def test_never_hands_out_an_expired_token() -> None:
    """Whatever the clock does, a token handed out is still valid at that moment."""
    clock = [NOW]
    mint = Minter(clock, lifetime=600)
    tokens = InstallationTokens(mint, clock=lambda: clock[0])
    for step in range(0, 4000, 97):
        clock[0] = NOW + step
        token = await tokens.get(1, "widgets", PERMISSIONS["gather"])
        assert token.expires_at > clock[0]


async def test_a_refused_token_is_reminted_once_for_all_callers() -> None:
    """After a 401 the refused token is replaced; callers reporting the same refusal share the new one."""
    clock = [NOW]
    mint = Minter(clock, delay=0.01)
    tokens = InstallationTokens(mint, clock=lambda: clock[0])
    old = await tokens.get(1, "widgets", PERMISSIONS["gather"])
    renewed = await asyncio.gather(
        *(tokens.get(1, "widgets", PERMISSIONS["gather"], refused=old.token) for _ in range(5))
    )
    assert {t.token for t in renewed} == {"ghs_2"}
    assert len(mint.bodies) == 2


async def test_invalidate_installation_drops_only_its_tokens() -> None:
    """Deleting an installation forgets its tokens; other installations keep theirs."""
    clock = [NOW]
    mint = Minter(clock)
    tokens = InstallationTokens(mint, clock=lambda: clock[0])
    await tokens.get(1, "widgets", PERMISSIONS["gather"])
    await tokens.get(1, "widgets", PERMISSIONS["publish"])
    kept = await tokens.get(2, "widgets", PERMISSIONS["gather"])
    assert tokens.invalidate_installation(1) == 2
    assert tokens.invalidate_installation(3) == 0
    assert (await tokens.get(2, "widgets", PERMISSIONS["gather"])).token == kept.token
    assert (await tokens.get(1, "widgets", PERMISSIONS["gather"])).token == "ghs_4"


async def test_a_mint_in_flight_during_invalidation_is_not_cached() -> None:
    """A token minted while its installation was being deleted is used once, never cached."""
    clock = [NOW]
    mint = Minter(clock, delay=0.02)
    tokens = InstallationTokens(mint, clock=lambda: clock[0])
    pending = asyncio.create_task(tokens.get(1, "widgets", PERMISSIONS["gather"]))
    await asyncio.sleep(0.005)
    tokens.invalidate_installation(1)
    assert (await pending).token == "ghs_1"
    assert (await tokens.get(1, "widgets", PERMISSIONS["gather"])).token == "ghs_2"


async def test_credentials_render_headers() -> None:
    """Installation and static credentials give `token …` headers and hide the secret in reprs."""
    clock = [NOW]
    tokens = InstallationTokens(Minter(clock), clock=lambda: clock[0])
    creds = InstallationCredentials(tokens, 9, "widgets", PERMISSIONS["gather"])
    assert await creds.authorization() == "token ghs_1"
    assert await creds.authorization(renew_from="token ghs_1") == "token ghs_2"
    assert creds.label == "9"
    static = StaticToken("ghp_personal")
    assert await static.authorization(renew_from="token ghp_personal") == "token ghp_personal"
    assert "ghp_personal" not in repr(static)
    assert "ghs_" not in repr(tokens)
