"""Secret redaction: every kind of secret is replaced, JSON stays JSON, ordinary text is left alone."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.redaction import FOLDED_BY_RE, find_secrets, redact_json, redact_text

GH = "ghp_cD4ALWupcdvmIBfGMkzKoA4Dzp39FfYAXMhr"
AWS_ID = "AKIAPDLZ5LBC5AKZTSWZ"
AWS_SECRET = "JMUre/qSm0NnzDQDeLYd5afepjOMohgJIBVx3+Sp"
PEM = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7\nabc\n-----END RSA PRIVATE KEY-----"


@pytest.mark.parametrize(
    ("text", "secret", "kind"),
    [
        (f"GH_TOKEN={GH}", GH, "github_token"),
        (
            "token gho_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8",
            "gho_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8",
            "github_token",
        ),
        ("ghs_" + "Z" * 36, "ghs_" + "Z" * 36, "github_token"),
        ("github_pat_" + "11ABCDEFG0" * 4, "github_pat_" + "11ABCDEFG0" * 4, "github_token"),
        (f"key {AWS_ID}, secret {AWS_SECRET})", AWS_ID, "aws_access_key_id"),
        (f"key {AWS_ID}, secret {AWS_SECRET})", AWS_SECRET, "aws_secret_access_key"),
        (f"aws_secret_access_key = {AWS_SECRET}", AWS_SECRET, "aws_secret_access_key"),
        (f"here:\n{PEM}\nafter", "MIIEowIBAAKCAQEA7", "private_key"),
        (
            "slack: xoxb-5512093348-7730021945512-QmVhY2g",
            "xoxb-5512093348-7730021945512-QmVhY2g",
            "slack_token",
        ),
        (
            "OPENAI_API_KEY=sk-proj-abcdefghijklmnopqrstuvwx12",
            "sk-proj-abcdefghijklmnopqrstuvwx12",
            "openai_key",
        ),
        ("Authorization: Bearer abcDEF123456789xyzQ", "abcDEF123456789xyzQ", "bearer"),
        ("curl -H 'authorization: bearer 9f8e7d6c5b4a39281706'", "9f8e7d6c5b4a39281706", "bearer"),
        ("password=hunter2hunter", "hunter2hunter", "assignment"),
        ('{"passwd": "s3cr3t-value"}', "s3cr3t-value", "assignment"),
        ("db_password: 'correct-horse'", "correct-horse", "assignment"),
        ("//registry.npmjs.org/:_authToken=npm_aBcDeF123456", "npm_aBcDeF123456", "assignment"),
        ("API_KEY: abcd1234efgh", "abcd1234efgh", "assignment"),
        ("client_secret=zz-top-secret", "zz-top-secret", "assignment"),
        # Any letter case, and letters that only `re` folds onto ASCII (ſ, K, ı, İ)
        (f"aws_SeCrEt_access_key = {AWS_SECRET}", AWS_SECRET, "aws_secret_access_key"),
        ("PaSsWoRd: Tr0ub4dor-3", "Tr0ub4dor-3", "assignment"),
        ("pa\u017fsword=hunter2hunter", "hunter2hunter", "assignment"),
        ("TO\u212aEN=abc123def456", "abc123def456", "assignment"),
        ("\ufeffap\u0131_key: abcd1234efgh", "abcd1234efgh", "assignment"),
        ("AP\u0130KEY: abcd1234efgh", "abcd1234efgh", "assignment"),
    ],
)
def test_each_kind_is_redacted(text: str, secret: str, kind: str) -> None:
    """A secret of each kind disappears from the text and is reported with its kind."""
    out = redact_text(text)
    assert secret not in out
    assert "[REDACTED:" in out
    assert (kind, secret) in find_secrets(text) or any(secret in v for _, v in find_secrets(text))


@pytest.mark.parametrize(
    "text",
    [
        "tokens used: 48,112",
        "stopped: token budget (400k) exhausted",
        "Secret source: Actions",
        "NPM_CONFIG_//npm.example.dev/:_authToken: ***",
        "The password field must not be empty.",
        "Use the token from the settings page.",
        "sha 0f7a5592587f172152c9741559e99bfebff9a8ba",
    ],
)
def test_ordinary_text_is_kept(text: str) -> None:
    """Prose about tokens and passwords, masked values and commit SHAs are not secrets."""
    assert redact_text(text) == text
    assert [k for k, _ in find_secrets(text) if k != "assignment"] == []


def test_redaction_is_idempotent() -> None:
    """Redacting twice changes nothing more, and markers are never redacted again."""
    text = f"GH_TOKEN={GH} password=hunter2hunter key {AWS_ID} {AWS_SECRET}"
    once = redact_text(text)
    assert redact_text(once) == once


def test_redact_json_keeps_keys_and_structure() -> None:
    """Keys survive, every string value is redacted, values under secret-named keys go entirely."""
    value = {
        "log": f"GH_TOKEN={GH}",
        "api_key": "plain-looking",
        "nested": [{"token": "x" * 12}],
        "n": 3,
    }
    out = redact_json(value)
    assert set(out) == {"log", "api_key", "nested", "n"}
    assert GH not in json.dumps(out)
    assert out["api_key"] == "[REDACTED:assignment]"
    assert out["nested"][0]["token"] == "[REDACTED:assignment]"
    assert out["n"] == 3


def test_unterminated_private_key_is_cut() -> None:
    """A key block cut off by log trimming is still removed."""
    out = redact_text("begin -----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA")
    assert "b3BlbnNzaC1rZXktdjEAAAAA" not in out


_secretish = st.sampled_from(
    [
        GH,
        AWS_ID,
        AWS_SECRET,
        PEM,
        "password=hunter2hunter",
        "Authorization: Bearer abc123def456ghi",
        "\\",
        '"',
        "\n",
        "sk-" + "a" * 24,
    ]
)
_text = st.lists(st.one_of(st.text(max_size=20), _secretish), max_size=6).map("".join)
_json = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), _text),
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(_text, children, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=100, deadline=None)
@given(_json)
def test_redacting_a_json_dump_parses_back(value: object) -> None:
    """Redacting the text of any JSON document leaves a JSON document with no GitHub token in it."""
    for dump in (json.dumps(value), json.dumps(value, ensure_ascii=False, indent=1)):
        out = redact_text(dump)
        json.loads(out)
        assert GH not in out


@settings(max_examples=60, deadline=None)
@given(_json)
def test_redact_json_never_changes_shape(value: object) -> None:
    """redact_json returns the same shape: same keys, same list lengths, same non-string leaves."""

    def shape(v: object) -> object:
        if isinstance(v, dict):
            return {k: shape(x) for k, x in v.items()}
        if isinstance(v, list):
            return [shape(x) for x in v]
        return "s" if isinstance(v, str) else v

    assert shape(redact_json(value)) == shape(value)


def test_a_secret_at_the_end_of_a_big_log_is_found() -> None:
    """A token after a megabyte of log lines is still redacted (speed is measured in benchmarks/)."""
    line = "2026-11-03T08:31:23Z Installed 38 packages in 211ms token budget ok error: x\n"
    big = line * (1_000_000 // len(line)) + f"GH_TOKEN={GH}\n"
    out = redact_text(big)
    assert GH not in out
    assert out.count("\n") == big.count("\n")


def test_the_letters_re_folds_onto_ascii_are_all_known() -> None:
    """The lower-cased keyword test is exact only if no other letter matches an ASCII one under `re`'s
    IGNORECASE (a new Python could add one)."""
    ascii_letter = re.compile(r"(?i)[a-z]")
    folded = {chr(c) for c in range(0x80, 0x110000) if ascii_letter.fullmatch(chr(c))}
    assert folded == set(FOLDED_BY_RE)
