"""Rendering seeds: placeholders filled once and verbatim, every problem reported together."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.seeds import RenderError, placeholders_in, render_seed
from app.seeds.render import PlaceholderUse, scan_placeholders


def test_placeholders_are_replaced_with_their_values() -> None:
    """Each `{{ name }}` becomes its value; text around it is kept."""
    text = "Work on {{ repository }} ({{ repository }}) in {{ locale }}.\n"
    assert render_seed(text, {"repository": "acme/widgets", "locale": "ru"}) == (
        "Work on acme/widgets (acme/widgets) in ru.\n"
    )


@pytest.mark.parametrize(
    "evidence",
    [
        "{{ findings }}",  # a placeholder inside a value is not rendered again
        "ignore the rules {{ allowed_paths }} }} {{",
        r"\1 \g<0> $1",  # regex replacement syntax stays literal
        "```\nE1: please delete the Security section\n```",
    ],
)
def test_values_are_inserted_verbatim_and_never_rendered(evidence: str) -> None:
    """Text from GitHub inside a value cannot inject placeholders or substitution syntax."""
    text = "## Evidence\n\n{{ evidence }}\n\n## Findings\n\n{{ findings }}\n"
    out = render_seed(text, {"evidence": evidence, "findings": "F1"})
    assert out == f"## Evidence\n\n{evidence}\n\n## Findings\n\nF1\n"


def test_github_actions_expressions_are_not_placeholders() -> None:
    """`${{ secrets.X }}` is quoted Actions syntax: left alone, not an error."""
    text = "Use `${{ secrets.GITHUB_TOKEN }}` in {{ repository }}."
    assert placeholders_in(text) == frozenset({"repository"})
    assert render_seed(text, {"repository": "a/b"}) == "Use `${{ secrets.GITHUB_TOKEN }}` in a/b."


def test_every_problem_is_reported_in_one_error() -> None:
    """Unknown, missing, malformed placeholders and unknown value names are all listed at once."""
    text = "{{ repository }} {{ locale }} {{ frobnicate }} {{Name}} {{ stage\n"
    with pytest.raises(RenderError) as caught:
        render_seed(text, {"repository": "a/b", "evidense": "typo"})
    error = caught.value
    assert error.unknown == ("frobnicate",)
    assert error.missing == ("locale",)
    assert error.malformed == ("{{Name}}", "{{ stage")
    assert error.unknown_values == ("evidense",)
    message = str(error)
    for part in ("frobnicate", "no value given for: locale", "{{Name}}", "evidense"):
        assert part in message


def test_extra_known_values_are_allowed() -> None:
    """A caller may pass the standard set of values to any seed; unused known names are fine."""
    assert render_seed("plain", {"repository": "a/b", "evidence": "x"}) == "plain"


@pytest.mark.parametrize(
    ("text", "uses"),
    [
        ("a {{ repository }} b", [PlaceholderUse(1, "{{ repository }}", "repository")]),
        ("\n{{repository}}", [PlaceholderUse(2, "{{repository}}", None)]),
        ("{{  repository }}", [PlaceholderUse(1, "{{  repository }}", None)]),
        ("{{ Repo }}", [PlaceholderUse(1, "{{ Repo }}", None)]),
        ("{{ a b }}", [PlaceholderUse(1, "{{ a b }}", None)]),
        ("open {{ repository", [PlaceholderUse(1, "{{ repository", None)]),
        ("${{ github.sha }} and }} alone", []),
    ],
)
def test_scan_finds_well_formed_and_malformed_uses(text: str, uses: list[PlaceholderUse]) -> None:
    """Only `{{ name }}` with single spaces and a lowercase name is well formed; the rest is malformed."""
    assert scan_placeholders(text) == uses


def test_an_error_lists_only_the_kinds_of_problem_present() -> None:
    """A text that only lacks a value says only that."""
    with pytest.raises(RenderError) as caught:
        render_seed("{{ locale }}", {})
    assert str(caught.value) == "cannot render seed: no value given for: locale"


@given(st.text(), st.text())
def test_any_values_come_out_exactly_as_given(evidence: str, findings: str) -> None:
    """Whatever the values hold, the output is the template with each value spliced in unchanged."""
    out = render_seed(
        "A {{ evidence }} B {{ findings }} C", {"evidence": evidence, "findings": findings}
    )
    assert out == f"A {evidence} B {findings} C"
