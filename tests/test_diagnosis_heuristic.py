"""The heuristic engine end to end: merging, targets, trust, evidence ids, locales and rendering."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.diagnosis import diagnose, render_markdown
from app.diagnosis.evaluation import grounding
from app.diagnosis.evidence import collect_evidence
from app.diagnosis.model import Diagnosis
from app.repo_config import RepoConfig, parse_repo_config
from app.snapshot import Snapshot, load_snapshot, parse_snapshot

SCENARIOS = Path(__file__).parent / "fixtures" / "scenarios"
EXTRA = Path(__file__).parent / "fixtures" / "scenarios_extra"


@pytest.fixture(scope="module")
def large() -> Snapshot:
    return load_snapshot(SCENARIOS / "05-large-stage-labels-build-loop.json")


@pytest.fixture(scope="module")
def large_diagnosis(large: Snapshot) -> Diagnosis:
    return diagnose(large)


def test_every_reference_is_real_short_and_redacted(
    large: Snapshot, large_diagnosis: Diagnosis
) -> None:
    """Cited URLs name snapshot objects, excerpts fit in 300 characters and hold no secret."""
    ground = grounding(large)
    assert large_diagnosis.evidence_refs
    for ref in large_diagnosis.evidence_refs:
        assert ground.grounded(ref.url), ref.url
        assert len(ref.excerpt) <= 300
    dump = large_diagnosis.model_dump_json()
    assert (
        "AKIAPDLZ5LBC5AKZTSWZ" not in dump
        and "JMUre/qSm0NnzDQDeLYd5afepjOMohgJIBVx3+Sp" not in dump
    )


def test_evidence_ids_follow_first_use(large_diagnosis: Diagnosis) -> None:
    """E1, E2, … are given to cited evidence only, in order of first use across items."""
    order: list[str] = []
    for item in large_diagnosis.action_items:
        order.extend(r for r in item.evidence_refs if r not in order)
    for gap in large_diagnosis.tool_gaps:
        order.extend(r for r in gap.evidence_refs if r not in order)
    assert order == [f"E{n}" for n in range(1, len(order) + 1)]
    assert [e.id for e in large_diagnosis.evidence_refs] == order


def test_one_item_per_problem(large_diagnosis: Diagnosis) -> None:
    """Findings about the same problem merge: titles and cited evidence do not repeat across items."""
    titles = [i.title for i in large_diagnosis.action_items]
    assert len(titles) == len(set(titles)) == 3
    first_refs = [i.evidence_refs[0] for i in large_diagnosis.action_items]
    assert len(set(first_refs)) == len(first_refs)


def test_targets_follow_the_config_and_its_allowed_paths() -> None:
    """Docs items go to paths.docs when allowed, and to the instructions file when docs are not allowed."""
    snapshot = load_snapshot(SCENARIOS / "03-ru-i18n-docs-claude.json")
    default = diagnose(snapshot)
    assert {i.category: i.target_path for i in default.action_items}["docs"] == "docs/agents.md"
    strict = RepoConfig(allowed_paths=("AGENTS.md",))
    for item in diagnose(snapshot, strict).action_items:
        assert item.target_path == "AGENTS.md" and strict.allows(item.target_path)


def test_tooling_goes_to_the_configured_dockerfile() -> None:
    """With an agent Dockerfile configured, the tooling item targets it with an install line."""
    snapshot = load_snapshot(EXTRA / "x2-rust-image-lacks-rustfmt.json")
    (item,) = [i for i in diagnose(snapshot).action_items if i.category == "tooling"]
    assert item.target_path == "docker/agent.Dockerfile"
    assert item.rule.startswith("RUN rustup component add rustfmt") and item.tool == "rustfmt"


def test_tooling_without_a_dockerfile_names_the_setup_step() -> None:
    """Without an agent image the tooling item goes to the instructions file and names what to set up."""
    snapshot = load_snapshot(SCENARIOS / "01-copilot-lint-private-registry.json")
    (item,) = [i for i in diagnose(snapshot).action_items if i.category == "tooling"]
    assert item.target_path == "AGENTS.md" and item.tool == "npm.lumenfield.dev"
    assert "npm.lumenfield.dev" in item.rule


def test_russian_locale_writes_russian() -> None:
    """locale=ru gives Russian titles, rules and summary; keys and categories stay as specified."""
    snapshot = load_snapshot(SCENARIOS / "03-ru-i18n-docs-claude.json")
    ru = diagnose(snapshot, locale="ru")
    assert ru.diagnosis.startswith("Повторяющиеся проблемы")
    assert all(any("а" <= ch <= "я" for ch in i.rule.lower()) for i in ru.action_items)
    assert {i.category for i in ru.action_items} == {"instructions", "docs"}


def test_no_findings_gives_a_short_all_clear() -> None:
    """A thread where nothing recurs has no items and says so."""
    result = diagnose(load_snapshot(EXTRA / "x4-quiet-nothing-recurs.json"))
    assert result.action_items == [] and result.tool_gaps == []
    assert result.diagnosis.startswith("No recurring problems found")


def test_flakes_are_reported_as_not_the_agents_fault() -> None:
    """A failure that also happens on the default branch is in the notes, never an action item."""
    result = diagnose(load_snapshot(SCENARIOS / "04-flaky-ci-not-the-agent.json"))
    assert any("TestStreamReconnect" in n and "not caused by the agent" in n for n in result.notes)
    assert all(
        "flaky" not in i.title.lower()
        or "unrelated" in i.title.lower()
        or "leave" in i.title.lower()
        for i in result.action_items
    )


def test_outsiders_alone_never_make_an_item() -> None:
    """The same request from someone without write access, twice, leads to nothing."""
    data = json.loads((SCENARIOS / "04-flaky-ci-not-the-agent.json").read_text(encoding="utf-8"))
    pull = data["pull_requests"][0]
    for review in pull["reviews"]:
        review["user"] = {"login": "drive-by", "type": "User"}
        review["author_association"] = "NONE"
    for c in pull["comments"] + pull["review_comments"]:
        if c["user"]["login"] in ("sofia-marin", "ben-achterberg"):
            c["user"] = {"login": "drive-by", "type": "User"}
            c["author_association"] = "NONE"
    data["permissions"] = {}
    result = diagnose(parse_snapshot(data))
    assert result.action_items == []


def test_repository_config_in_the_snapshot_is_used() -> None:
    """Without an explicit config the snapshot's `.github/self-improve.yml` decides targets and locale."""
    snapshot = load_snapshot(SCENARIOS / "03-ru-i18n-docs-claude.json")
    files = {
        **snapshot.files,
        ".github/self-improve.yml": "locale: ru\npaths:\n  docs: docs/ru/agents.md\n",
    }
    result = diagnose(snapshot.model_copy(update={"files": files}))
    assert {i.category: i.target_path for i in result.action_items}["docs"] == "docs/ru/agents.md"
    assert result.diagnosis.startswith("Повторяющиеся")
    assert parse_repo_config(files[".github/self-improve.yml"]).locale == "ru"


@pytest.mark.parametrize("locale", ["en", "ru"])
def test_markdown_has_the_table_and_links(large_diagnosis: Diagnosis, locale: str) -> None:
    """The rendering lists every item with its category, file and evidence links, in the locale."""
    text = render_markdown(large_diagnosis, locale)
    for item in large_diagnosis.action_items:
        assert f"| {item.id} |" in text and f"`{item.target_path}`" in text
    first = large_diagnosis.evidence_refs[0]
    assert f"[{first.id}]({first.url})" in text
    assert ("Доказательства" in text) == (locale == "ru")


def test_evidence_log_lines_use_step_numbers() -> None:
    """A job log line is cited as #step:S:L counted from the step's `##[group]Run` header."""
    snapshot = load_snapshot(SCENARIOS / "01-copilot-lint-private-registry.json")
    ev = collect_evidence(snapshot)
    item = ev.get(
        "https://github.com/lumenfield/storefront/actions/runs/19339410109/job/53633130692#step:5:5"
    )
    assert item is not None and "ERR_PNPM_META_FETCH_FAIL" in item.text
