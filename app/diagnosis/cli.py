"""`python -m app diagnose` and `python -m app eval`: diagnose snapshot files and score diagnoses offline."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from app.diagnosis.evaluation import FileScore, rendered_output, score, totals
from app.diagnosis.heuristic import diagnose, resolve_config
from app.diagnosis.model import Diagnosis
from app.diagnosis.render import render_markdown
from app.repo_config import RepoConfig, RepoConfigError, parse_repo_config
from app.snapshot import Snapshot, SnapshotError, load_snapshot


def _config(path: str | None) -> RepoConfig | None:
    if path is None:
        return None
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise RepoConfigError(f"{p}: cannot read: {exc.strerror}") from None
    return parse_repo_config(text, source=str(p))


def run_engine(
    snapshot: Snapshot, config: RepoConfig | None, *, engine: str | None, locale: str | None
) -> Diagnosis:
    """Diagnose with the requested engine; the LLM engine reads its settings from the environment."""
    cfg = resolve_config(snapshot, config)
    chosen = engine or cfg.engine
    if chosen != "llm":
        return diagnose(snapshot, cfg, locale=locale)
    from app.diagnosis.llm import LLMConfig, diagnose_llm_from_settings, fallback
    from app.settings import SettingsError, load_settings

    try:
        settings = load_settings()
    except SettingsError as exc:
        return fallback(snapshot, cfg, locale=locale, reason=f"settings: {exc}")
    if not settings.llm_base_url:
        return fallback(snapshot, cfg, locale=locale, reason="LLM_BASE_URL is not set")
    llm = LLMConfig(
        base_url=settings.llm_base_url,
        api_key=settings.llm_api_key,
        model=settings.llm_model,
        timeout_s=settings.llm_timeout_seconds,
    )
    return asyncio.run(diagnose_llm_from_settings(snapshot, cfg, locale=locale, llm=llm))


def diagnose_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m app diagnose", description="Diagnose a snapshot file."
    )
    parser.add_argument("--snapshot", required=True, help="a self-improve-snapshot/1 JSON file")
    parser.add_argument("--format", choices=["json", "markdown"], default="json")
    parser.add_argument(
        "--engine", choices=["heuristic", "llm"], default=None, help="default: the repo config's"
    )
    parser.add_argument(
        "--locale", choices=["en", "ru"], default=None, help="default: the repo config's"
    )
    parser.add_argument(
        "--config", default=None, help="a .github/self-improve.yml to use instead of the snapshot's"
    )
    args = parser.parse_args(argv)
    try:
        snapshot = load_snapshot(args.snapshot)
        config = _config(args.config)
    except (SnapshotError, RepoConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    result = run_engine(snapshot, config, engine=args.engine, locale=args.locale)
    if args.format == "markdown":
        locale = args.locale or resolve_config(snapshot, config).locale
        sys.stdout.write(render_markdown(result, locale))
    else:
        sys.stdout.write(result.model_dump_json(indent=2) + "\n")
    return 0


def eval_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m app eval",
        description="Score diagnoses of snapshots that carry an expected block.",
    )
    parser.add_argument("files", nargs="+", help="snapshot files (or folders of them)")
    parser.add_argument("--engine", choices=["heuristic", "llm"], default="heuristic")
    parser.add_argument("--format", choices=["text", "json"], default="text")
    args = parser.parse_args(argv)
    paths: list[Path] = []
    for name in args.files:
        p = Path(name)
        paths.extend(sorted(p.glob("*.json")) if p.is_dir() else [p])
    scores: list[FileScore] = []
    errors: list[str] = []
    for path in paths:
        try:
            snapshot = load_snapshot(path)
        except SnapshotError as exc:
            errors.append(str(exc))
            print(f"error: {exc}", file=sys.stderr)
            continue
        result = run_engine(snapshot, None, engine=args.engine, locale=None)
        rendered = rendered_output(
            result, [render_markdown(result, "en"), render_markdown(result, "ru")]
        )
        scores.append(score(snapshot, result, rendered, name=path.name))
    overall = totals(scores)
    if args.format == "json":
        print(
            json.dumps(
                {"files": [s.as_json() for s in scores], "overall": overall.as_json()}, indent=2
            )
        )
    else:
        print(_table(scores, overall))
    return 1 if errors else 0


def _table(scores: list[FileScore], overall: object) -> str:
    head = f"{'file':44} {'recall':>6} {'found':>7} {'items':>5} {'noise':>5} {'traps':>5} {'ungr':>5} {'inj':>4} {'sec':>4}"
    rows = [head]
    for s in scores:
        rows.append(
            f"{s.name[:44]:44} {s.recall:6.2f} {s.matched:>3}/{s.expected:<3} {s.items:>5} {s.unexpected:>5} "
            f"{s.traps:>5} {s.ungrounded:>5} {s.injection:>4} {s.secrets:>4}"
        )
        if s.missed:
            rows.append(f"    missed: {', '.join(s.missed)}")
        for url in s.ungrounded_urls[:5]:
            rows.append(f"    ungrounded: {url}")
    t = totals(scores)
    rows.append(
        f"{'overall':44} {t.recall:6.2f} {t.matched:>3}/{t.expected:<3} {sum(s.items for s in scores):>5} "
        f"{t.unexpected:>5} {t.traps:>5} {t.ungrounded:>5} {t.injection:>4} {t.secrets:>4}"
    )
    del overall
    return "\n".join(rows)
