"""The command line: `python -m app COMMAND …`; each command lives with the module that owns its work."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Sequence

# name -> (module, function, one-line help). Each function takes argv and returns an exit code,
# and parses its own options, so a command's module is imported only when it runs.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "serve": ("app.server", "serve_cli", "run the webhook server and the worker"),
    "worker": ("app.server", "worker_cli", "run the worker alone"),
    "fake-github": ("app.fake_github.cli", "main", "serve a snapshot as GitHub's REST API"),
    "snapshot": ("app.evidence.cli", "main", "gather the evidence for OWNER/REPO#N into a file"),
    "diagnose": ("app.diagnosis.cli", "diagnose_main", "diagnose a snapshot file"),
    "eval": (
        "app.diagnosis.cli",
        "eval_main",
        "score diagnoses of snapshots with an expected block",
    ),
    "guardrails": ("app.guardrails.cli", "main", "check a unified diff for weakened policy"),
    "seeds": ("app.seeds.cli", "main", "resolve and lint prompt seeds"),
    "mcp": ("app.mcp_server", "main", "serve the run history as MCP tools on stdio"),
    "demo": ("app.demo", "main", "run the whole flow against the bundled GitHub double"),
}


def _usage() -> str:
    width = max(len(n) for n in COMMANDS)
    lines = ["usage: python -m app COMMAND [options]", "", "commands:"]
    lines += [f"  {name.ljust(width)}  {help_}" for name, (_, _, help_) in COMMANDS.items()]
    lines.append("\n`python -m app COMMAND --help` shows a command's options.")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in {"-h", "--help", "help"}:
        print(_usage())
        return 0 if args else 2
    name, rest = args[0], args[1:]
    if name not in COMMANDS:
        print(f"unknown command {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module_name, func_name, _ = COMMANDS[name]
    func: Callable[[list[str]], int] = getattr(importlib.import_module(module_name), func_name)
    return func(rest)


if __name__ == "__main__":
    sys.exit(main())
