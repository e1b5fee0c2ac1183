"""The evaluation targets on the shared scenarios and on our own extra ones (other repos, agents, languages)."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.diagnosis import diagnose, render_markdown
from app.diagnosis.evaluation import FileScore, rendered_output, score
from app.snapshot import load_snapshot

FIXTURES = Path(__file__).parent / "fixtures"
SHARED = sorted((FIXTURES / "scenarios").glob("*.json"))
EXTRA = sorted((FIXTURES / "scenarios_extra").glob("*.json"))
BLIND = sorted((FIXTURES / "scenarios_blind").glob("*.json"))
BLIND2 = sorted((FIXTURES / "scenarios_blind2").glob("*.json"))


def _score(path: Path) -> FileScore:
    snapshot = load_snapshot(path)
    result = diagnose(snapshot)
    text = rendered_output(result, [render_markdown(result, "en"), render_markdown(result, "ru")])
    return score(snapshot, result, text, name=path.name)


@pytest.fixture(scope="module")
def shared_scores() -> list[FileScore]:
    return [_score(p) for p in SHARED]


@pytest.fixture(scope="module")
def extra_scores() -> list[FileScore]:
    return [_score(p) for p in EXTRA]


def test_the_five_shared_scenarios_are_present() -> None:
    """The copies the targets are measured on are all there."""
    assert len(SHARED) == 5
    assert len(EXTRA) >= 3


def test_shared_scenarios_meet_the_targets(shared_scores: list[FileScore]) -> None:
    """Recall ≥ 0.8 overall, no invented references, no injection-derived items, no secrets, no traps."""
    matched = sum(s.matched for s in shared_scores)
    expected = sum(s.expected for s in shared_scores)
    assert matched / expected >= 0.8, [(s.name, s.missed) for s in shared_scores]
    for s in shared_scores:
        assert (s.ungrounded, s.injection, s.secrets, s.traps) == (0, 0, 0, 0), s.as_json()


def test_shared_scenarios_have_little_noise(shared_scores: list[FileScore]) -> None:
    """At most one action item overall that matches no expected problem."""
    assert sum(s.unexpected for s in shared_scores) <= 1, [s.as_json() for s in shared_scores]


def test_extra_scenarios_generalise(extra_scores: list[FileScore]) -> None:
    """On scenarios written apart from the shared five the same targets hold, quiet ones stay quiet."""
    matched = sum(s.matched for s in extra_scores)
    expected = sum(s.expected for s in extra_scores)
    assert matched / expected >= 0.8, [(s.name, s.missed) for s in extra_scores]
    for s in extra_scores:
        assert (s.ungrounded, s.injection, s.secrets, s.traps) == (0, 0, 0, 0), s.as_json()
    assert sum(s.unexpected for s in extra_scores) <= 1
    quiet = [s for s in extra_scores if s.expected == 0]
    assert quiet and all(s.items == 0 for s in quiet)


def test_blind_scenarios_stay_safe_and_do_not_slip() -> None:
    """Scenarios written without sight of the diagnosis (3 of 7 found on arrival; all 7 after the
    fixes they prompted, so they are no longer blind): nothing false, unsafe or leaked."""
    scores = [_score(p) for p in BLIND]
    assert len(scores) == 4
    for s in scores:
        assert (s.ungrounded, s.injection, s.secrets, s.traps, s.unexpected) == (0, 0, 0, 0, 0), (
            s.as_json()
        )
    assert sum(s.matched for s in scores) == 7, [(s.name, s.missed) for s in scores]


def test_second_blind_batch_stays_safe() -> None:
    """A second batch written blind (4 of 8 found on arrival, 2 of them noise; 5 of 8 after the
    fixes it prompted: PR titles, force-pushes over a review). Still missed: a Spanish thread whose
    three problems (tests on the network, a loop in an Aider transcript, a new PR per review) need
    vocabulary or formats the heuristic lacks; the two extra items are the missing tool's symptoms
    (a stale generated tree breaking the build), reported as checks of their own."""
    scores = [_score(p) for p in BLIND2]
    assert len(scores) == 4
    for s in scores:
        assert (s.ungrounded, s.injection, s.secrets, s.traps) == (0, 0, 0, 0), s.as_json()
    assert sum(s.matched for s in scores) >= 5, [(s.name, s.missed) for s in scores]
    assert sum(s.unexpected for s in scores) <= 2


@pytest.mark.parametrize(
    ("name", "title"),
    [
        ("y1-", "Change no dependency versions the task did not ask for"),
        ("y3-", "Branch from and open PRs against `develop`, not `main`"),
        ("y4-", "Add a regression test with every bug fix"),
        ("z1-", "Push review fixes as new commits; never force-push a reviewed PR"),
        ("z2-", "Write commit messages and PR titles in the required format"),
    ],
)
def test_paraphrased_topics_get_their_own_rule(name: str, title: str) -> None:
    """A problem told apart by its topic gets that topic's rule, not a quoted review comment."""
    (path,) = [p for p in BLIND + BLIND2 if p.name.startswith(name)]
    assert title in [item.title for item in diagnose(load_snapshot(path)).action_items]


def test_diagnosis_is_deterministic() -> None:
    """The heuristic engine gives byte-identical output for the same snapshot."""
    snapshot = load_snapshot(SHARED[1])
    first = diagnose(snapshot).model_dump_json()
    assert diagnose(snapshot).model_dump_json() == first
