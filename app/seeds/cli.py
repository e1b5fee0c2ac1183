"""`python -m app seeds resolve|lint`: the seed resolver and the seed linter on the command line."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from app.seeds.catalog import KINDS, SeedError
from app.seeds.files import read_seed_dir, seed_file_names
from app.seeds.lint import RULES, Finding, lint_seeds
from app.seeds.resolve import resolution_chain, resolve_seed

DEFAULT_DIR = Path("prompt_seeds")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m app seeds", description="Resolve and lint prompt seeds."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    resolve = commands.add_parser(
        "resolve", help="show which seed file a request gets, and the chain tried"
    )
    resolve.add_argument("--stage", help="pipeline stage, e.g. dev, qa, self-improve")
    resolve.add_argument("--role", help="agent role, e.g. dev, km, reviewer")
    resolve.add_argument("--kind", choices=KINDS, default="work")
    resolve.add_argument("--locale", default="en", help="language code, e.g. en, ru, ru-RU")
    resolve.add_argument("--dir", type=Path, default=DEFAULT_DIR, help="seed directory")
    lint = commands.add_parser(
        "lint",
        help="check seeds; exit 1 on findings",
        epilog="rules: " + "; ".join(f"{rule}: {what}" for rule, what in RULES.items()),
    )
    lint.add_argument("dir", nargs="?", type=Path, default=DEFAULT_DIR, help="seed directory")
    lint.add_argument("--format", choices=("text", "json", "github"), default="text")
    lint.add_argument(
        "--partial",
        action="store_true",
        help="the directory ships only some seeds: skip the completeness and contract rules",
    )
    return parser


def main(argv: list[str]) -> int:
    """Run `resolve` or `lint`; exit 0 clean, 1 lint findings, 2 bad arguments or missing directory."""
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on bad arguments and 0 after --help
        return exc.code if isinstance(exc.code, int) else 2
    try:
        if args.command == "resolve":
            return _resolve(args.dir, args.stage, args.role, args.kind, args.locale)
        return _lint(args.dir, args.format, complete=not args.partial)
    except SeedError as exc:
        print(f"seeds {args.command}: {exc}", file=sys.stderr)
        return 2


def _resolve(seeds_dir: Path, stage: str | None, role: str | None, kind: str, locale: str) -> int:
    available = seed_file_names(seeds_dir)
    resolution = resolve_seed(available, stage, role, kind, locale)
    chain = resolution_chain(stage, role, kind, locale)
    chosen = str(seeds_dir / resolution.chosen) if resolution.chosen else f"(built-in {kind} seed)"
    print(f"chosen: {chosen}")
    print(f"chain for stage={stage or '-'} role={role or '-'} kind={kind} locale={locale}:")
    width = max(len(step.step) for step in chain)
    name_width = max(len(step.name) for step in chain)
    for number, step in enumerate(chain, start=1):
        if step.name == resolution.chosen:
            mark = "exists, chosen"
        elif step.name in resolution.tried:
            mark = "missing"
        else:
            mark = "not tried"
        print(f"  {number:2}. {step.step.ljust(width)}  {step.name.ljust(name_width)}  {mark}")
    return 0


def _lint(seeds_dir: Path, output: str, *, complete: bool) -> int:
    files = read_seed_dir(seeds_dir)
    findings = lint_seeds(files, complete=complete)
    if output == "json":
        print(json.dumps(_as_json(seeds_dir, len(files), findings), ensure_ascii=False, indent=2))
    elif output == "github":
        for finding in findings:
            print(workflow_command(seeds_dir, finding))
    else:
        for finding in findings:
            where = (
                f"{seeds_dir / finding.file}:{finding.line}"
                if finding.line
                else f"{seeds_dir / finding.file}"
            )
            print(f"{where}: {finding.rule}: {finding.message}")
        print(f"{len(findings)} finding(s) in {len(files)} seed file(s) under {seeds_dir}")
    return 1 if findings else 0


def _as_json(seeds_dir: Path, count: int, findings: list[Finding]) -> dict[str, object]:
    return {
        "dir": str(seeds_dir),
        "seeds": count,
        "findings": [
            {"file": str(seeds_dir / f.file), "line": f.line, "rule": f.rule, "message": f.message}
            for f in findings
        ],
    }


def _escape(value: str, *, prop: bool) -> str:
    # https://github.com/actions/toolkit/blob/main/packages/core/src/command.ts (escapeData/escapeProperty)
    out = value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return out.replace(":", "%3A").replace(",", "%2C") if prop else out


def workflow_command(seeds_dir: Path, finding: Finding) -> str:
    """A finding as a GitHub Actions `::error` command, so it shows as an annotation on the file."""
    props = [f"file={_escape(str(seeds_dir / finding.file), prop=True)}"]
    if finding.line:
        props.append(f"line={finding.line}")
    props.append(f"title={_escape(finding.rule, prop=True)}")
    return f"::error {','.join(props)}::{_escape(finding.message, prop=False)}"
