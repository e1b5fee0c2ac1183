"""`python -m app guardrails`: check a diff file from the command line and print the violations."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path, PurePosixPath

from app.guardrails.check import check_diff
from app.guardrails.diff import DiffError, FileDiff, parse_diff
from app.guardrails.report import GuardrailReport


class InputError(Exception):
    """An input file or folder that cannot be read; the message names it."""


def main(argv: list[str]) -> int:
    """Exit 0 when the diff weakens nothing, 1 on violations, 2 when the input cannot be read."""
    parser = argparse.ArgumentParser(
        prog="python -m app guardrails",
        description="Check a unified diff of agent instruction files for weakened policy.",
    )
    parser.add_argument("--diff", required=True, help="the unified diff file ('-' reads stdin)")
    parser.add_argument(
        "--before", help="folder holding the changed files as they were before the diff"
    )
    parser.add_argument("--format", choices=("text", "json"), default="text")
    args = parser.parse_args(argv)
    try:
        diff_text = read_diff(args.diff)
        files = parse_diff(diff_text)
        before = read_before(Path(args.before), files) if args.before else None
        report = check_diff(diff_text, before)
    except (InputError, DiffError) as error:
        where = "" if isinstance(error, InputError) else f"{args.diff}: "
        print(f"guardrails: {where}{error}", file=sys.stderr)
        return 2
    print(render(report, args.format))
    return 0 if report.ok else 1


def read_diff(name: str) -> str:
    if name == "-":
        return sys.stdin.read()
    try:
        return Path(name).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"cannot read the diff {name}: no such file") from None
    except UnicodeDecodeError as error:
        raise InputError(f"cannot read the diff {name}: not UTF-8 text ({error.reason})") from None
    except OSError as error:
        raise InputError(f"cannot read the diff {name}: {error.strerror}") from None


def read_before(folder: Path, files: tuple[FileDiff, ...]) -> dict[str, str]:
    """The old text of every file the diff changes, read from `folder` (paths stay inside it)."""
    if not folder.is_dir():
        raise InputError(f"--before {folder} is not a folder")
    before: dict[str, str] = {}
    for fd in files:
        if fd.old_path is None or fd.binary:
            continue
        relative = PurePosixPath(fd.old_path)
        if relative.is_absolute() or ".." in relative.parts:
            raise InputError(f"the diff names the path {fd.old_path!r}, which leaves --before")
        source = folder.joinpath(*relative.parts)
        try:
            before[fd.old_path] = source.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise InputError(
                f"--before {folder} has no {fd.old_path}, which the diff changes"
            ) from None
        except (OSError, UnicodeDecodeError) as error:
            raise InputError(f"cannot read {source}: {error}") from None
    return before


def render(report: GuardrailReport, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(report.as_dict(), ensure_ascii=False, indent=2)
    if report.ok:
        return "ok: no weakened rules found"
    return "\n".join(f"{v.path}:{v.line}: {v.rule}: {v.message}" for v in report.violations)
