"""The GitHub double's pure core: git hashing, page links, check-run limits, JWT rules, faults."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from yarl import URL

from app.fake_github.auth import RateLimits, mint_token, read_credential, verify_jwt
from app.fake_github.checks import check_run_body
from app.fake_github.errors import ApiError
from app.fake_github.faults import FaultPlan, FaultRuleError, mix_rules, parse_rules
from app.fake_github.git import Entry, GitStore, Person, commit_sha
from app.fake_github.identity import AppIdentity
from app.fake_github.runtime import link_header
from app.fake_github.state import World, unified_patch
from app.snapshot import load_snapshot

SMALL = Path(__file__).parent / "fixtures" / "snapshots" / "small.json"
APP = AppIdentity(id=7, client_id="Iv1.client7")


# --- git -------------------------------------------------------------------------------------------
def test_blob_and_nested_tree_hash_like_git() -> None:
    """Blob and tree shas equal what `git hash-object` / `git write-tree` print for the same files."""
    git = GitStore()
    leaves = {
        "hello.txt": Entry("100644", "blob", git.put_blob(b"hello\n")),
        "docs/a.md": Entry("100644", "blob", git.put_blob(b"# A\n")),
        "docs/deep/x.txt": Entry("100644", "blob", git.put_blob(b"x")),
    }
    assert leaves["hello.txt"].sha == "ce013625030ba8dba906f756967f9e9ca394464a"
    assert git.put_tree(leaves) == "6e10bced7f09e1342cf29a3bd62d1f95914a0404"
    assert git.put_tree({}) == "4b825dc642cb6eb9a060e54bf8d69288fbee4904"


def test_commit_hash_like_git_commit_tree() -> None:
    """A commit's sha equals `git commit-tree` with the same tree, people, dates and message."""
    sha = commit_sha(
        "6e10bced7f09e1342cf29a3bd62d1f95914a0404",
        [],
        Person("A U", "a@example.com", "2026-01-01T00:00:00Z"),
        Person("C U", "c@example.com", "2026-01-02T00:00:00Z"),
        "first\n",
    )
    assert sha == "a57d3ba30b5875fb8e867eb97782e3b5f5c55f4a"


def _two_commits() -> tuple[GitStore, str, str]:
    git = GitStore()
    someone = Person("a", "a@example.com", "2026-01-01T00:00:00Z")
    tree = git.build_tree(None, [{"path": "a.txt", "mode": "100644", "content": "one"}])
    first = git.put_commit(tree, [], "one", someone, someone, verified=False)
    tree2 = git.build_tree(tree, [{"path": "a.txt", "mode": "100644", "content": "two"}])
    second = git.put_commit(tree2, [first.sha], "two", someone, someone, verified=False)
    git.refs["heads/main"] = first.sha
    return git, first.sha, second.sha


def test_ref_moves_forward_but_not_backward_unless_forced() -> None:
    """A fast-forward is accepted; going back is refused with GitHub's message unless forced."""
    git, first, second = _two_commits()
    assert git.update_ref("heads/main", second, force=False) == first
    with pytest.raises(ApiError) as refused:
        git.update_ref("heads/main", first, force=False)
    assert (refused.value.status, refused.value.message) == (422, "Update is not a fast forward")
    git.update_ref("heads/main", first, force=True)
    assert git.refs["heads/main"] == first


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"path": "missing.txt", "mode": "100644", "sha": None}, "GitRPC::BadObjectState"),
        ({"path": "a.txt", "mode": "100644", "sha": "0" * 40}, "Invalid tree info: blob"),
        ({"path": "a.txt", "mode": "100600", "content": "x"}, "Invalid tree mode"),
        ({"mode": "100644", "content": "x"}, '"path" wasn\'t supplied'),
    ],
)
def test_bad_tree_entries_are_refused(change: dict[str, Any], message: str) -> None:
    """Deleting a missing path, an unknown blob, a bad mode or no path answer 422."""
    git, first, _ = _two_commits()
    base = git.commits[first].tree
    with pytest.raises(ApiError) as refused:
        git.build_tree(base, [change])
    assert refused.value.status == 422
    assert message in refused.value.message


def test_tree_entry_with_null_sha_deletes_the_file() -> None:
    """`sha: null` removes a path from the base tree, leaving the rest."""
    git = GitStore()
    base = git.build_tree(None, [{"path": "a", "content": "1"}, {"path": "d/b", "content": "2"}])
    after = git.build_tree(base, [{"path": "a", "mode": "100644", "sha": None}])
    assert set(git.tree(after)) == {"d/b"}


@pytest.mark.parametrize(
    ("ref", "expected"),
    [("main", "first"), ("heads/main", "first"), ("refs/heads/main", "first"), ("nope", None)],
)
def test_refs_resolve_by_name_and_prefix(ref: str, expected: str | None) -> None:
    """Branch names resolve with or without `heads/`/`refs/heads/`; unknown names do not."""
    git, first, _ = _two_commits()
    assert git.resolve(ref) == (first if expected else None)


def test_short_and_full_shas_resolve() -> None:
    """A full sha or an unambiguous 7+ character prefix names a commit."""
    git, _, second = _two_commits()
    assert git.resolve(second) == second
    assert git.resolve(second[:8]) == second


def test_unified_patch_counts_lines() -> None:
    """A file's patch has hunks only, and counts additions and deletions."""
    patch, additions, deletions = unified_patch("a\nb\nc\n", "a\nB\nc\nd\n")
    assert patch.startswith("@@")
    assert (additions, deletions) == (2, 1)


# --- pagination ------------------------------------------------------------------------------------
BASE = URL("http://127.0.0.1:9/repos/o/r/issues?state=all")


@pytest.mark.parametrize(
    ("page", "last", "rels"),
    [
        (1, 1, None),
        (1, 3, ["next", "last"]),
        (2, 3, ["prev", "next", "last", "first"]),
        (3, 3, ["prev", "first"]),
    ],
)
def test_link_header_rels_follow_github_order(page: int, last: int, rels: list[str] | None) -> None:
    """Link has prev, next, last, first in GitHub's order, only the ones that apply."""
    header = link_header(BASE, page, last, 2)
    if rels is None:
        assert header is None
        return
    assert header is not None
    found = [part.split('rel="')[1].rstrip('"') for part in header.split(", ")]
    assert found == rels
    assert "state=all" in header
    assert header.startswith("<http://127.0.0.1:9/repos/o/r/issues?")


# --- check runs ------------------------------------------------------------------------------------
def _annotation(i: int = 1) -> dict[str, Any]:
    return {
        "path": "a.py",
        "start_line": i,
        "end_line": i,
        "annotation_level": "warning",
        "message": "m",
    }


GOOD = {"name": "self-improve", "head_sha": "a" * 40}


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"name": "x"}, '"head_sha" wasn\'t supplied'),
        ({**GOOD, "output": {"title": "t", "summary": "s", "annotations": [_annotation()] * 51}},
         "No more than 50 items are allowed; 51 were supplied."),
        ({**GOOD, "output": {"title": "t", "summary": "x" * 65536}},
         "Only 65535 characters are allowed; 65536 were supplied."),
        ({**GOOD, "output": {"title": "t", "summary": "s", "text": "x" * 65536}}, "Only 65535 characters"),
        ({**GOOD, "output": {"title": "t"}}, '"summary" wasn\'t supplied'),
        ({**GOOD, "actions": [{"label": "a", "description": "d", "identifier": "i"}] * 4},
         "No more than 3 items are allowed; 4 were supplied."),
        ({**GOOD, "actions": [{"label": "x" * 21, "description": "d", "identifier": "i"}]},
         "Only 20 characters are allowed; 21 were supplied."),
        ({**GOOD, "actions": [{"label": "l", "description": "x" * 41, "identifier": "i"}]},
         "Only 40 characters are allowed"),
        ({**GOOD, "actions": [{"label": "l", "description": "d", "identifier": "x" * 21}]},
         "Only 20 characters are allowed"),
        ({**GOOD, "status": "completed"}, '"conclusion" wasn\'t supplied'),
        ({**GOOD, "status": "pending"}, "can only be set by GitHub Actions"),
        ({**GOOD, "conclusion": "stale"}, "can only be set by GitHub"),
        ({**GOOD, "output": {"title": "t", "summary": "s", "annotations": [{"path": "a"}]}},
         '"start_line", "end_line", "annotation_level", "message" weren\'t supplied.'),
    ],
)  # fmt: skip
def test_check_run_limits_answer_422(body: dict[str, Any], fragment: str) -> None:
    """Each documented check-run limit is refused with 422 and GitHub's wording."""
    with pytest.raises(ApiError) as refused:
        check_run_body(body, creating=True)
    assert refused.value.status == 422
    assert fragment in refused.value.message


def test_check_run_at_the_limits_is_accepted_and_conclusion_completes_it() -> None:
    """50 annotations, 3 actions and 20/40/20-character action fields pass; a conclusion completes."""
    action = {"label": "x" * 20, "description": "d" * 40, "identifier": "i" * 20}
    body = {**GOOD, "conclusion": "neutral", "actions": [action] * 3,
            "output": {"title": "t", "summary": "s" * 65535, "annotations": [_annotation(i) for i in range(50)]}}  # fmt: skip
    fields = check_run_body(body, creating=True)
    assert fields["status"] == "completed"
    assert len(fields["annotations"]) == 50


# --- credentials -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def keys() -> tuple[rsa.RSAPrivateKey, rsa.RSAPrivateKey]:
    """Two App keys, as key objects (PyJWT would otherwise parse a PEM on every signature)."""
    return (
        rsa.generate_private_key(public_exponent=65537, key_size=2048),
        rsa.generate_private_key(public_exponent=65537, key_size=2048),
    )


NOW = 1_800_000_000


@pytest.mark.parametrize(
    ("claims", "alg", "signer", "message"),
    [
        ({"iat": NOW - 60, "exp": NOW + 540, "iss": "7"}, "RS256", 0, None),
        ({"iat": NOW - 60, "exp": NOW + 540, "iss": 7}, "RS256", 0, None),
        ({"iat": NOW - 60, "exp": NOW + 540, "iss": "Iv1.client7"}, "RS256", 0, None),
        ({"iat": NOW - 60, "exp": NOW + 540, "iss": "7"}, "RS256", 1, "could not be decoded"),
        ({"iat": NOW - 60, "exp": NOW + 540, "iss": "7"}, "HS256", None, "could not be decoded"),
        ({"iat": NOW - 700, "exp": NOW - 100, "iss": "7"}, "RS256", 0, "'Expiration time' claim ('exp') must be"),
        ({"iat": NOW + 120, "exp": NOW + 600, "iss": "7"}, "RS256", 0, "'Issued at' claim ('iat')"),
        ({"iat": NOW, "exp": NOW + 601, "iss": "7"}, "RS256", 0, "is too far in the future"),
        ({"iat": NOW - 60, "exp": NOW + 540, "iss": "8"}, "RS256", 0, "could not be decoded"),
        ({"iat": NOW - 60, "exp": NOW + 540, "iss": "someone"}, "RS256", 0, "'Issuer' claim ('iss') must be an Integer"),
        ({"iat": NOW - 60, "exp": NOW + 540}, "RS256", 0, "Missing 'issuer' claim"),
    ],
)  # fmt: skip
def test_jwt_rules(
    keys: tuple[rsa.RSAPrivateKey, rsa.RSAPrivateKey],
    claims: dict[str, Any],
    alg: str,
    signer: int | None,
    message: str | None,
) -> None:
    """RS256 only, signed by the App's key, iat within 60 s skew, exp in the future, <= 10 min, iss."""
    # PyJWS, because PyJWT refuses an integer `iss`, which GitHub accepts (octokit sends one)
    payload = json.dumps(claims).encode()
    token = jwt.PyJWS().encode(payload, "x" * 32 if signer is None else keys[signer], algorithm=alg)
    if message is None:
        verify_jwt(token, app=APP, key=keys[0].public_key(), now=NOW)
        return
    with pytest.raises(ApiError) as refused:
        verify_jwt(token, app=APP, key=keys[0].public_key(), now=NOW)
    assert refused.value.status == 401
    assert message in refused.value.message


def test_jwt_claims_are_checked_even_without_a_key(
    keys: tuple[rsa.RSAPrivateKey, rsa.RSAPrivateKey],
) -> None:
    """Without the App's key the signature is not checked, but an expired JWT still fails."""
    fine = jwt.encode({"iat": NOW - 60, "exp": NOW + 540, "iss": "7"}, keys[1], algorithm="RS256")
    verify_jwt(fine, app=APP, key=None, now=NOW)
    expired = jwt.encode(
        {"iat": NOW - 900, "exp": NOW - 300, "iss": "7"}, keys[1], algorithm="RS256"
    )
    with pytest.raises(ApiError):
        verify_jwt(expired, app=APP, key=None, now=NOW)


@pytest.mark.parametrize(
    ("header", "kind"),
    [(None, "none"), ("token ghs_x", "token"), ("Bearer ghs_x", "token"), ("Bearer a.b.c", "jwt")],
)
def test_credentials_are_classified(header: str | None, kind: str) -> None:
    """`token X` and `Bearer X` carry installation tokens; a three-part Bearer value is a JWT."""
    credential = read_credential(header)
    assert credential.kind == kind
    assert "ghs_x" not in repr(credential)


@pytest.mark.parametrize(
    ("body", "reaches", "error"),
    [
        ({}, True, None),
        ({"repositories": ["widgets"]}, True, None),
        ({"repository_ids": [5]}, True, None),
        ({"repositories": ["other"]}, None, "not accessible to the parent installation"),
        ({"permissions": {"issues": "read"}}, True, None),
        ({"permissions": {"administration": "write"}}, None, "not granted"),
        ({"permissions": {"actions": "write"}}, None, "not granted"),
    ],
)
def test_token_scoping(body: dict[str, Any], reaches: bool | None, error: str | None) -> None:
    """A token is down-scoped to named repositories and to permissions the App has, no more."""
    repos = {"acme/widgets": 5}
    if error:
        with pytest.raises(ApiError) as refused:
            mint_token(app=APP, body=body, repositories=repos, now=NOW, ttl=3600)
        assert error in refused.value.message
        return
    token = mint_token(app=APP, body=body, repositories=repos, now=NOW, ttl=3600)
    assert token.reaches("acme/widgets") is reaches
    assert token.value.startswith("ghs_")
    assert token.value not in repr(token)
    assert token.expires_at == NOW + 3600


def test_rate_limit_counts_down_and_304s_are_free() -> None:
    """Each charged request uses one; an uncharged one (a 304) leaves the count alone."""
    limits = RateLimits(limit=3)
    assert limits.count("t", NOW, charge=True)["x-ratelimit-remaining"] == "2"
    assert limits.count("t", NOW, charge=False)["x-ratelimit-remaining"] == "2"
    limits.count("t", NOW, charge=True)
    limits.count("t", NOW, charge=True)
    assert limits.exhausted("t", NOW)
    assert not limits.exhausted("t", NOW + 3601)  # a new window


# --- faults ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("rules", "fragment"),
    [
        ("x", "expected a list"),
        ([{"kind": "boom"}], "rules[0].kind"),
        ([{"kind": "502", "rate": 2}], "rules[0].rate"),
        ([{"kind": "502", "route": "GET repos"}], "must start with '/'"),
        ([{"kind": "502", "count": -1}], "rules[0].count"),
        ([{"kind": "502"}, {"kind": "502", "oops": 1}], "rules[1]: unknown field"),
    ],
)
def test_bad_fault_rules_name_the_rule(rules: Any, fragment: str) -> None:
    """A bad rule is refused with its index and field."""
    with pytest.raises(FaultRuleError) as refused:
        parse_rules(rules)
    assert fragment in str(refused.value)


def _decisions(seed: int) -> list[str | None]:
    plan = FaultPlan(
        rules=parse_rules([{"kind": "502", "rate": 0.3}, {"kind": "503", "rate": 0.3}]), seed=seed
    )
    out = []
    for i in range(200):
        rule = plan.decide("GET", f"/repos/o/r/issues/{i}", None)
        out.append(rule.kind if rule else None)
    return out


def test_seeded_faults_repeat_exactly() -> None:
    """The same seed gives the same faults on the same requests; another seed differs."""
    first, again, other = _decisions(5), _decisions(5), _decisions(6)
    assert first == again
    assert first != other
    assert 30 < sum(1 for d in first if d == "502") < 90


@pytest.mark.parametrize(
    ("route", "method", "path", "hit"),
    [
        ("GET /repos/{owner}/{repo}/issues/{issue_number}", "GET", "/repos/a/b/issues/3", True),
        (
            "GET /repos/{owner}/{repo}/issues/{issue_number}",
            "GET",
            "/repos/a/b/issues/3/comments",
            False,
        ),
        ("GET /repos/{owner}/{repo}/issues/{issue_number}", "POST", "/repos/a/b/issues/3", False),
        ("/repos/a/b/actions", "GET", "/repos/a/b/actions/jobs/1/logs", True),
        ("/repos/a/b/actions", "GET", "/repos/a/b/actionsx", False),
        (None, "GET", "/_fake/requests", False),
        (None, "GET", "/_blobs/abc", False),
        ("GET /_blobs", "GET", "/_blobs/abc", True),
    ],
)
def test_fault_routes_match_templates_prefixes_and_spare_control(
    route: str | None, method: str, path: str, hit: bool
) -> None:
    """Templates match whole paths, prefixes match whole segments; control and blobs only if named."""
    rule: dict[str, Any] = {"kind": "502"}
    if route:
        rule["route"] = route
    plan = FaultPlan(rules=parse_rules([rule]), seed=1)
    assert (plan.decide(method, path, None) is not None) is hit


def test_fault_count_limits_the_rule_to_the_first_requests() -> None:
    """With count N the rule looks at the first N matching requests only."""
    plan = FaultPlan(rules=parse_rules([{"kind": "503", "count": 2}]), seed=0)
    hits = [plan.decide("GET", "/repos/a/b", None) is not None for _ in range(4)]
    assert hits == [True, True, False, False]


def test_fault_rate_mix_totals_the_given_rate() -> None:
    """`--fault-rate F` faults about F of all requests, split between 502 and reset."""
    plan = FaultPlan(rules=mix_rules(0.2), seed=3)
    kinds = [plan.decide("GET", "/repos/a/b", None) for _ in range(4000)]
    hit = [k.kind for k in kinds if k is not None]
    assert 0.17 < len(hit) / 4000 < 0.23
    assert {"502", "reset"} == set(hit)


# --- the world -------------------------------------------------------------------------------------
def test_world_seeds_default_branch_with_snapshot_files() -> None:
    """The default branch head is a commit whose tree holds exactly the snapshot's files."""
    snapshot = load_snapshot(SMALL)
    world = World.from_snapshot(snapshot, APP)
    _, data = world.contents("AGENTS.md", None)
    assert data == snapshot.files["AGENTS.md"].encode()
    head = world.git.refs["heads/main"]
    assert set(world.git.tree(world.git.commits[head].tree or "")) == set(snapshot.files)
    assert (
        world.git.refs["heads/agent/issue-12-empty-csv"]
        == snapshot.pull_requests[0].pull["head"]["sha"]
    )


def test_world_clock_is_injected() -> None:
    """Writes stamp the time they are given, not the wall clock."""
    world = World.from_snapshot(load_snapshot(SMALL), APP)
    comment = world.create_comment(12, "hi", world.bot(), now=1_700_000_000)
    assert comment["created_at"] == "2023-11-14T22:13:20Z"
    assert time.time() > 1_700_000_000
