"""Recall and false-positive rate of the guardrail over folders of labelled cases.

Usage: python benchmarks/guardrails_eval.py [FOLDER ...] [--no-before] [--verbose]
Each FOLDER holds `NAME.patch` + `NAME.json` (label with `weakens` and `kind`) and optionally
`base/`, the files before the change (read for the files each patch touches).
Default FOLDER: tests/fixtures/guardrails (the shared cases).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.guardrails import DiffError, check_diff  # noqa: E402  # after the path set-up above
from app.guardrails.diff import parse_diff  # noqa: E402  # after the path set-up above


def evaluate(folder: Path, *, use_before: bool, verbose: bool) -> dict[str, float]:
    weakening = caught = benign = flagged = errors = 0
    missed: Counter[str] = Counter()
    elapsed = 0.0
    for patch in sorted(folder.glob("*.patch")):
        label_path = patch.with_suffix(".json")
        if not label_path.exists():
            continue
        label = json.loads(label_path.read_text(encoding="utf-8"))
        text = patch.read_text(encoding="utf-8")
        before = _before(folder / "base", text) if use_before else None
        start = time.perf_counter()
        try:
            report = check_diff(text, before)
        except DiffError as error:
            errors += 1
            print(f"  ERROR {patch.name}: {error}")
            continue
        elapsed += time.perf_counter() - start
        hit = not report.ok
        if label["weakens"]:
            weakening += 1
            caught += hit
            if not hit:
                missed[label["kind"]] += 1
        else:
            benign += 1
            flagged += hit
        wrong = hit != label["weakens"]
        if verbose or wrong:
            mark = "WRONG" if wrong else "ok   "
            rules = ",".join(sorted({v.rule for v in report.violations})) or "-"
            print(f"  {mark} {patch.name:48} {label['kind']:20} {rules}")
    cases = weakening + benign
    recall = caught / weakening if weakening else 1.0
    fpr = flagged / benign if benign else 0.0
    print(
        f"{folder}: {cases} cases ({weakening} weakening, {benign} benign), "
        f"before={'yes' if use_before else 'no'}"
    )
    print(
        f"  recall {recall:.1%} ({caught}/{weakening})  false positives {fpr:.1%} ({flagged}/{benign})"
    )
    if missed:
        print("  missed kinds: " + ", ".join(f"{k} x{n}" for k, n in missed.most_common()))
    if errors:
        print(f"  {errors} patches could not be read")
    if cases:
        print(f"  {elapsed / cases * 1000:.1f} ms per case")
    return {"recall": recall, "fpr": fpr}


def _before(base: Path, text: str) -> dict[str, str]:
    before = {}
    for fd in parse_diff(text):
        if fd.old_path and (base / fd.old_path).is_file():
            before[fd.old_path] = (base / fd.old_path).read_text(encoding="utf-8")
    return before


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="*", type=Path)
    parser.add_argument("--no-before", action="store_true", help="judge the diff alone")
    parser.add_argument("--verbose", action="store_true", help="print every case")
    args = parser.parse_args()
    folders = args.folders or [ROOT / "tests" / "fixtures" / "guardrails"]
    for folder in folders:
        evaluate(folder, use_before=not args.no_before, verbose=args.verbose)
    return 0


if __name__ == "__main__":
    sys.exit(main())
