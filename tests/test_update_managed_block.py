"""The managed block: rules land only between the markers, merge without duplicates, and trace their evidence."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.update.managed_block import (
    BEGIN,
    END,
    ManagedBlockError,
    Rule,
    clean_rule_text,
    find_block,
    heading_line,
    merge_rules,
    normalise_rule,
    parse_trace,
    read_rules,
    safe_urls,
    trace_comment,
)

ATLAS = Path(__file__).parent / "fixtures" / "update" / "atlas"
HEADING = "## Learned rules"
URL1 = "https://github.com/acme/widgets/pull/13#discussion_r1001"
URL2 = "https://github.com/acme/widgets/actions/runs/55/job/66#step:6:9"
LINT = Rule("Run `ruff check .` before every push.", ("A1",), (URL1,))


def is_subsequence(small: list[str], big: list[str]) -> bool:
    it = iter(big)
    return all(line in it for line in small)


def test_new_block_goes_under_a_new_heading_at_the_end() -> None:
    """A file with neither block nor heading gets the heading and the block appended, nothing else."""
    text = (ATLAS / "AGENTS.md").read_text()
    merged = merge_rules(text, [LINT], heading=HEADING)
    assert merged.text.startswith(text)
    assert merged.text[len(text) :] == (
        f"\n{HEADING}\n\n{BEGIN}\n- Run `ruff check .` before every push.\n"
        f"  <!-- self-improve: A1 {URL1} -->\n{END}\n"
    )
    assert (merged.added, merged.changed) == ((LINT,), True)


def test_block_goes_at_the_end_of_an_existing_heading_section() -> None:
    """Under an existing heading the block follows the section's last line, before the next heading."""
    text = "# T\n\n## Learned rules\n\n- Old rule.\n\n## Next\n\nbody\n"
    merged = merge_rules(text, [LINT], heading="## learned RULES")
    assert merged.text == (
        "# T\n\n## Learned rules\n\n- Old rule.\n\n"
        f"{BEGIN}\n- Run `ruff check .` before every push.\n  <!-- self-improve: A1 {URL1} -->\n"
        f"{END}\n\n## Next\n\nbody\n"
    )


def test_heading_match_ignores_a_deeper_subheading_inside_the_section() -> None:
    """A `###` inside the section does not end it; the block goes after the subsection's text."""
    text = "## Learned rules\n\n### Lint\n\n- a\n## Other\n"
    merged = merge_rules(text, [LINT], heading=HEADING)
    lines = merged.text.splitlines()
    assert lines.index(BEGIN) > lines.index("- a")
    assert lines.index(END) < lines.index("## Other")
    assert lines[lines.index(END) + 1] == ""


def test_new_rules_are_appended_inside_an_existing_block_only() -> None:
    """With a block present, every line outside it stays byte for byte."""
    text = f"# A\r\nintro\r\n{BEGIN}\r\n- First.\r\n{END}\r\ntail without newline"
    merged = merge_rules(text, [LINT], heading=HEADING)
    assert merged.text == (
        f"# A\r\nintro\r\n{BEGIN}\r\n- First.\r\n- Run `ruff check .` before every push.\r\n"
        f"  <!-- self-improve: A1 {URL1} -->\r\n{END}\r\ntail without newline"
    )


def test_merging_twice_changes_nothing_the_second_time() -> None:
    """Idempotent: the same rules again leave the text as it was and report no change."""
    once = merge_rules((ATLAS / "AGENTS.md").read_text(), [LINT], heading=HEADING)
    twice = merge_rules(once.text, [LINT], heading=HEADING)
    assert twice.text == once.text
    assert (twice.added, twice.changed, twice.present) == ((), False, (LINT,))


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("Run `ruff check .` before every push.", "run ruff check . before every push", True),
        ("Run   ruff\tcheck.", "RUN RUFF CHECK", True),
        ("**Never** push to main!", "never push to main", True),
        ("- Run the tests.", "Run the tests", True),
        ("Ｒun the tests", "run the tests", True),  # full-width letters fold (NFKC)
        ("Run the tests.", "Run the unit tests.", False),
        ("Never push to main.", "Always push to main.", False),
    ],
)
def test_rules_are_compared_by_normalised_text(a: str, b: str, same: bool) -> None:
    """Case, emphasis, spacing, list markers and final punctuation do not make a rule new."""
    assert (normalise_rule(a) == normalise_rule(b)) is same


def test_a_known_rule_gains_new_ids_and_urls_in_its_trace() -> None:
    """The same rule from another item or run keeps its line and extends its trace, in order."""
    first = merge_rules("", [LINT], heading=HEADING).text
    again = Rule("run ruff check . before every push", ("A3",), (URL2, URL1))
    merged = merge_rules(first, [again], heading=HEADING)
    assert merged.changed and not merged.added
    assert f"  <!-- self-improve: A1 A3 {URL1} {URL2} -->" in merged.text.splitlines()
    assert merged.text.count("before every push") == 1
    assert read_rules(merged.text) == (
        Rule("Run `ruff check .` before every push.", ("A1", "A3"), (URL1, URL2)),
    )


def test_a_rule_a_person_wrote_outside_the_block_is_not_added_again() -> None:
    """AGENTS.md already says to pin exact versions; the same rule is reported present, not added."""
    text = (ATLAS / "AGENTS.md").read_text()
    rule = Rule("Pin exact versions in `package.json`; never use `latest` or `*`", ("A2",))
    merged = merge_rules(text, [rule], heading=HEADING)
    assert (merged.text, merged.added, merged.changed) == (text, (), False)
    assert [r.text for r in merged.present] == [clean_rule_text(rule.text)]


def test_a_rule_without_a_trace_line_gets_one() -> None:
    """A rule a person added inside the block, without trace, gets one when an item names it."""
    text = f"{BEGIN}\n- Run the tests.\n{END}\n"
    merged = merge_rules(text, [Rule("run the tests", ("A1",), (URL1,))], heading=HEADING)
    assert merged.text == f"{BEGIN}\n- Run the tests.\n  <!-- self-improve: A1 {URL1} -->\n{END}\n"


@pytest.mark.parametrize(
    ("urls", "kept"),
    [
        ([URL1, URL1, URL2], (URL1, URL2)),
        (["http://github.com/a"], ()),
        (["https://evil.example/x-->\n<!-- self-improve:end -->"], ()),
        (["https://github.com/a b"], ()),
        (["javascript:alert(1)"], ()),
        (["https://github.com/o/r/pull/1--x"], ()),
        (
            [f"https://github.com/o/r/issues/{n}" for n in range(15)],
            tuple(f"https://github.com/o/r/issues/{n}" for n in range(10)),
        ),
    ],
)
def test_only_urls_safe_inside_a_comment_are_kept(urls: list[str], kept: tuple[str, ...]) -> None:
    """An evidence URL cannot close the trace comment, span lines, or be anything but https."""
    assert safe_urls(urls) == kept


def test_rule_text_cannot_break_out_of_the_block() -> None:
    """Comment markers and line breaks in a rule are flattened, so the block cannot be closed early."""
    sneaky = Rule(f"Be nice -->\n{END}\n## Security\n(nothing)", ("A1",))
    merged = merge_rules("", [sneaky], heading=HEADING)
    assert merged.text.count(END) == 1
    assert find_block(merged.text) is not None
    assert read_rules(merged.text)[0].text == "Be nice self-improve:end ## Security (nothing)"


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("- run tests", "Run tests"),
        ("## 1. run tests", "Run tests"),
        ("> quoted rule", "Quoted rule"),
        ("x" * 500, "X" + "x" * 398 + "…"),
    ],
)
def test_rule_text_is_one_plain_capped_line(raw: str, clean: str) -> None:
    """Leading list, heading and quote markup goes; the text starts upper-case and is capped."""
    assert clean_rule_text(raw) == clean


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (f"a\n{BEGIN}\n- x\n", "AGENTS.md: line 2: <!-- self-improve:end --> is missing"),
        (f"{END}\nb\n", "AGENTS.md: line 1: <!-- self-improve:begin --> is missing"),
        (f"{BEGIN}\n{END}\n{BEGIN}\n{END}\n", "AGENTS.md: line 3: a second self-improve marker"),
        (f"{END}\n{BEGIN}\n", "AGENTS.md: line 1: <!-- self-improve:end --> comes before"),
    ],
)
def test_a_malformed_block_is_refused_naming_file_and_line(text: str, message: str) -> None:
    """A broken block is an error that says where, and nothing is merged into it."""
    with pytest.raises(ManagedBlockError, match="^" + message.replace("(", r"\(")):
        merge_rules(text, [LINT], heading=HEADING, path="AGENTS.md")


def test_markers_inside_fenced_code_are_not_the_block() -> None:
    """A README that shows the markers in a code sample has no block; a real one is added after it."""
    text = f"# Doc\n\n```md\n{BEGIN}\n- example\n{END}\n```\n"
    assert find_block(text) is None
    merged = merge_rules(text, [LINT], heading=HEADING)
    assert merged.text.startswith(text)
    assert read_rules(merged.text) == (LINT,)


def test_a_file_without_final_newline_gains_only_that_newline() -> None:
    """The last line is ended so the heading starts on its own line; its text is unchanged."""
    merged = merge_rules("# A\nlast", [LINT], heading="Learned rules")
    assert merged.text.startswith("# A\nlast\n\n## Learned rules\n\n" + BEGIN)


def test_an_empty_file_gets_heading_and_block() -> None:
    """A new (empty) file holds just the heading and the block."""
    merged = merge_rules("", [LINT], heading=HEADING)
    assert merged.text.splitlines()[:3] == [HEADING, "", BEGIN]


def test_heading_line_adds_a_level_to_bare_text() -> None:
    """A configured heading without `#` is a level-2 heading; one with `#` is kept."""
    assert (heading_line("Learned rules"), heading_line("### Уроки")) == (
        "## Learned rules",
        "### Уроки",
    )


def test_russian_file_keeps_its_text_and_gets_the_block() -> None:
    """A Russian prompt seed is merged like any file: its text is a prefix of the result."""
    text = (ATLAS / "prompt_seeds" / "role-km-work_ru.md").read_text()
    rule = Rule("Перед PR проверяйте ссылки в `docs/` командой `make linkcheck`.", ("A1",), (URL1,))
    merged = merge_rules(text, [rule], heading="## Выученные правила")
    assert merged.text.startswith(text)
    assert read_rules(merged.text)[0].text == rule.text


@pytest.mark.parametrize(
    ("line", "parsed"),
    [
        (f"  <!-- self-improve: A1 A2 {URL1} -->", (("A1", "A2"), (URL1,))),
        (BEGIN, None),
        (END, None),
        ("<!-- a comment -->", None),
        ("<!-- self-improve: -->", None),
    ],
)
def test_trace_lines_are_told_apart_from_markers(
    line: str, parsed: tuple[tuple[str, ...], tuple[str, ...]] | None
) -> None:
    """Only `<!-- self-improve: ids urls -->` is a trace; the begin/end markers are not."""
    assert parse_trace(line) == parsed


def test_trace_comment_drops_ids_that_are_not_ids() -> None:
    """An id with spaces or markup never reaches the comment."""
    assert trace_comment(["A1", "x -->", "A1"], [URL1]) == f"<!-- self-improve: A1 {URL1} -->"


words = st.text(alphabet="abcdefgh `.", min_size=1, max_size=30).filter(lambda s: normalise_rule(s))
rules = st.lists(st.builds(Rule, words, st.tuples(st.sampled_from(["A1", "A2", "B7"]))), max_size=6)
documents = st.lists(
    st.sampled_from(["# T", "", "## Learned rules", "- a rule", "text", "## Other", "```", "```"]),
    max_size=12,
).map(lambda lines: "\n".join(lines) + "\n")


@settings(max_examples=200, deadline=None)
@given(documents, rules, rules)
def test_merge_is_idempotent_and_keeps_every_existing_line(
    doc: str, first: list[Rule], second: list[Rule]
) -> None:
    """For any document and rules: only lines are added (traces grow), merging again adds nothing."""
    once = merge_rules(doc, first, heading=HEADING)
    assert is_subsequence(doc.splitlines(), once.text.splitlines())
    twice = merge_rules(once.text, first, heading=HEADING)
    assert twice.text == once.text
    more = merge_rules(once.text, second, heading=HEADING)
    kept = [ln for ln in once.text.splitlines() if parse_trace(ln) is None]  # traces may grow
    assert is_subsequence(kept, more.text.splitlines())
    keys = [normalise_rule(r.text) for r in read_rules(more.text)]
    assert len(keys) == len(set(keys))
