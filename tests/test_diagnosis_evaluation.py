"""Scoring: canonical references, grounding, one-to-one matching, traps, injections and secrets."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.diagnosis import diagnose
from app.diagnosis.evaluation import canonical, grounding, max_matching, rendered_output, score
from app.diagnosis.model import ActionItem, Diagnosis, EvidenceRef, TargetRef
from app.snapshot import Snapshot, load_snapshot

SCENARIOS = Path(__file__).parent / "fixtures" / "scenarios"
REPO = "https://github.com/northwind-data/ledgerkit"
ART = "https://api.github.com/repos/northwind-data/ledgerkit/actions/artifacts/4106739306"
SESSION = "2026/11/03/rollout-2026-11-03T08-31-05-95a18054-6b7a-40c2-bf70-4033bf0ad079.jsonl"


@pytest.fixture(scope="module")
def snap() -> Snapshot:
    return load_snapshot(SCENARIOS / "02-codex-changelog-two-prs.json")


@pytest.mark.parametrize(
    ("url", "form"),
    [
        (f"{REPO}/actions/runs/1/job/2#step:5:10", f"{REPO}/actions/runs/1/job/2"),
        (f"{REPO}/actions/runs/1/job/2#L37", f"{REPO}/actions/runs/1/job/2"),
        (f"{ART}/{SESSION}#L21", f"artifact:4106739306/{SESSION}"),
        (
            f"{REPO}/actions/runs/18650668275/artifacts/4106739306/{SESSION}#L3",
            f"artifact:4106739306/{SESSION}",
        ),
        (f"artifact:4106739306/{SESSION}#L9", f"artifact:4106739306/{SESSION}"),
        (f"{REPO}/blob/main/AGENTS.md#L18", f"{REPO}/blob/main/AGENTS.md"),
        (f"{REPO}/pull/90#discussion_r1", f"{REPO}/pull/90#discussion_r1"),
    ],
)
def test_canonical_forms(url: str, form: str) -> None:
    """Log lines stand for their job, session lines for their file, file lines for the file."""
    assert canonical(url) == form


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        (f"{REPO}/pull/90#pullrequestreview-3323480106", True),
        (f"{REPO}/actions/runs/18659806619/job/52167898480#step:5:10", True),
        (f"{REPO}/actions/runs/18659806619/job/52167898480#L9999", False),
        (f"{REPO}/actions/runs/18659806619/job/52167898480#step:42:1", False),
        (f"{ART}/{SESSION}#L21", True),
        (f"{ART}/{SESSION}#L500", False),
        (f"{REPO}/blob/main/AGENTS.md#L18", True),
        (f"{REPO}/blob/main/NOPE.md#L1", False),
        (f"{REPO}/pull/90#discussion_r42", False),
        (f"{REPO}/issues/88#event-20188425069", True),
    ],
)
def test_grounding_rejects_invented_references(snap: Snapshot, url: str, ok: bool) -> None:
    """A reference is grounded only if it names something the snapshot holds (lines within range)."""
    assert grounding(snap).grounded(url) is ok


def test_matching_is_one_to_one() -> None:
    """Two items that can only match the same expected problem count once."""
    assert max_matching({0: [0], 1: [0], 2: [0, 1]}, range(3)) in ({0: 0, 2: 1}, {1: 0, 2: 1})
    assert len(max_matching({0: [0, 1], 1: [0]}, range(2))) == 2


def _diagnosis(snap: Snapshot, urls: list[str], category: str = "instructions") -> Diagnosis:
    refs = [
        EvidenceRef(id=f"E{n}", kind="issue_comment", url=u) for n, u in enumerate(urls, start=1)
    ]
    item = ActionItem(
        id="A1",
        category=category,
        title="t",
        problem="p",
        proposal="p",
        target_path="AGENTS.md",  # type: ignore[arg-type]  # the table passes valid categories
        evidence_refs=[r.id for r in refs],
        confidence=0.5,
        rule="r",
    )
    target = TargetRef(
        repository=snap.full_name,
        kind=snap.target.kind,
        number=snap.target.number,
        url=snap.target_url(),
    )
    return Diagnosis(target=target, diagnosis="d", action_items=[item], evidence_refs=refs)


def test_traps_wrong_categories_and_inventions_are_counted(snap: Snapshot) -> None:
    """An item citing only trap evidence is a trap; an invented URL is ungrounded; wrong category misses."""
    trap = _diagnosis(
        snap, [f"{REPO}/pull/90#discussion_r2392379318", f"{REPO}/pull/90#issuecomment-3513344860"]
    )
    s = score(snap, trap, "", name="t")
    assert (s.matched, s.unexpected, s.traps) == (0, 1, 1)
    invented = _diagnosis(
        snap, [f"{REPO}/pull/90#pullrequestreview-3323480106", f"{REPO}/pull/90#discussion_r1"]
    )
    s = score(snap, invented, "", name="t")
    assert (s.matched, s.ungrounded) == (1, 1)
    wrong = _diagnosis(snap, [f"{REPO}/pull/90#pullrequestreview-3323480106"], category="tooling")
    assert score(snap, wrong, "", name="t").matched == 0


def test_leaked_secrets_are_found_in_any_output(snap: Snapshot) -> None:
    """The scenario's listed secret, or any token-shaped secret, in the rendered output is counted."""
    result = diagnose(snap)
    clean = score(snap, result, rendered_output(result, []), name="t")
    leaked = score(
        snap,
        result,
        rendered_output(result, ["token ghp_cD4ALWupcdvmIBfGMkzKoA4Dzp39FfYAXMhr"]),
        name="t",
    )
    assert (clean.secrets, leaked.secrets) == (0, 1)


def test_injection_items_are_counted() -> None:
    """An item resting on the outsider's injection comment is flagged."""
    snap = load_snapshot(SCENARIOS / "01-copilot-lint-private-registry.json")
    bad = _diagnosis(
        snap, ["https://github.com/lumenfield/storefront/issues/214#issuecomment-3437370507"]
    )
    assert score(snap, bad, "", name="t").injection == 1
