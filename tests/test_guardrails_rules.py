"""The guardrail's vocabulary and readings: modal force, secret shapes, masking, word diffs, bounds."""

from __future__ import annotations

import pytest

from app.guardrails.detectors import bound_direction, is_typo, word_diff
from app.guardrails.secrets import find_secrets, mask_secrets
from app.guardrails.semantics import force_of, negated_at, plain
from app.guardrails.statements import file_kind, normalise, tokenize


@pytest.mark.parametrize(
    ("text", "force"),
    [
        ("Never push to main.", 3),
        ("You must run the tests.", 3),
        ("Do not use `any`.", 3),
        ("Run the tests before pushing.", 2),
        ("You should attach the trace.", 1),
        ("Avoid `latest` where possible.", 1),
        ("You may merge it yourself.", 0),
        ("No need to run e2e.", 0),
        ("Запрещено сливать свои PR.", 3),
        ("Не меняйте публичный API.", 3),
        ("Всегда пишите тесты.", 3),
        ("Изменяйте только файлы в `docs/`.", 3),
        ("Пишите коротко.", 2),
        ("Не рекомендуется сливать свои PR.", 1),
        ("Желательно добавлять тест.", 1),
        ("Можно сливать свои PR.", 0),
        ("Необязательно запускать линтер.", 0),
    ],
)
def test_force_of_a_statement(text: str, force: int) -> None:
    """must/never → 3, a plain order → 2, should/avoid → 1, may/no need → 0, in English and Russian."""
    assert force_of(normalise(text)) == force


@pytest.mark.parametrize(
    ("text", "phrase", "negated"),
    [
        ("Never use --no-verify to skip hooks.", "skip", True),
        ("Do not wait for review; merge your own PR.", "merge", False),
        ("Fix the cause instead of skipping the hook.", "skipping", True),
        ("Skipping tests is not acceptable.", "skipping", True),
        ("When e2e is slow, skip it.", "skip", False),
        ("Не пропускайте тесты.", "пропускайте", True),
        ("Если тесты падают, пропустите их.", "пропустите", False),
    ],
)
def test_negation_scope(text: str, phrase: str, negated: bool) -> None:
    """A prohibition governs what follows it up to a semicolon or "but", and its own clause."""
    spaced = plain(text)
    assert negated_at(spaced, spaced.index(phrase)) is negated


@pytest.mark.parametrize(
    ("line", "what"),
    [
        (
            "//npm.pkg.github.com/:_authToken=ghp_V8T232uGFodyKmISXMvead7gAU3aTKkx5qA5",
            "a GitHub token",
        ),
        ("export AWS_ACCESS_KEY_ID=AKIAQ7R2M4XW9TZB3KLP", "an AWS access key"),
        ("-----BEGIN OPENSSH PRIVATE KEY-----", "a private key"),
        ("password=hunter22x", "a value for password"),
        ("Пароль к реестру: `Zx9qLm27vBpT`", "a value for Пароль"),
        ("postgres://orbit:Q8v2LmX9pR4t@db.example.com/orbit", "a password in a URL"),
    ],
)
def test_credential_shapes_are_found(line: str, what: str) -> None:
    """Each credential shape is recognised and named."""
    assert what in {hit.what for hit in find_secrets(line)}


@pytest.mark.parametrize(
    "line",
    [
        "Set `GITHUB_TOKEN=<your token>`.",
        "token: ${{ secrets.GITHUB_TOKEN }}",
        "AKIAIOSFODNN7EXAMPLE is AWS's documented example key",
        "ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        "postgres://postgres:postgres@localhost:5432/test",
        "Never paste secrets, tokens or session cookies into issues.",
        "Token: rotate-weekly",
    ],
)
def test_placeholders_are_not_credentials(line: str) -> None:
    """Placeholders, references to secrets and prose about tokens are not credentials."""
    assert list(find_secrets(line)) == []


def test_mask_keeps_only_a_prefix() -> None:
    """Masking leaves four characters of each credential and nothing more."""
    token = "ghp_V8T232uGFodyKmISXMvead7gAU3aTKkx5qA5"
    masked = mask_secrets(f"use {token} and password=hunter22x")
    assert token not in masked and "hunter22x" not in masked
    assert masked.startswith("use ghp_…(masked)")


@pytest.mark.parametrize(
    ("a", "b", "typo"),
    [("mesages", "messages", True), ("руском", "русском", True), ("allowed", "disallowed", False),
     ("secure", "insecure", False), ("test", "tests", False), ("one", "two", False)],
)  # fmt: skip
def test_typo_or_word_swap(a: str, b: str, typo: bool) -> None:
    """A close misspelling is a typo; a negated form or another word is a change."""
    assert is_typo(a, b) is typo


def test_word_diff_ignores_typos_and_reports_the_rest() -> None:
    """Typo fixes vanish from the diff; real insertions and deletions remain."""
    diff = word_diff(tokenize("Never paste secrets into commit mesages"), tokenize(
        "Never paste secrets into commit messages, unless asked"))  # fmt: skip
    assert diff.deleted == ()
    assert [span for _, span in diff.inserted] == [("unless", "asked")]


@pytest.mark.parametrize(
    ("text", "number", "direction"),
    [
        ("retry a failing test at most once", "once", "upper"),
        ("keep the diff under 400 changed lines", "400", "upper"),
        ("pull requests need two approvals", "two", "lower"),
        ("coverage must stay at or above 85%", "85%", "lower"),
        ("размер pr не более 300 строк", "300", "upper"),
        ("pnpm 9.12 is preinstalled", "9.12", ""),
    ],
)
def test_bound_direction(text: str, number: str, direction: str) -> None:
    """A number is a ceiling, a floor, or neither, from the words around it."""
    tokens = tokenize(text)
    assert bound_direction(tokens, tokens.index(number)) == direction


@pytest.mark.parametrize(
    ("path", "kind"),
    [("Dockerfile", "dockerfile"), ("docker/agent/Dockerfile", "dockerfile"),
     ("images/agent.dockerfile", "dockerfile"), ("Containerfile.dev", "dockerfile"),
     (".github/workflows/ci.yml", "config"), (".cursorrules", "markdown"),
     ("prompt_seeds/qa_ru.md", "markdown"), ("CONTRIBUTING.md", "markdown")],
)  # fmt: skip
def test_file_kind(path: str, kind: str) -> None:
    """Files are read as Dockerfile, config or Markdown by their names."""
    assert file_kind(path) == kind
