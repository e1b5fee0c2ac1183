"""The agent's environment and commands: missing tools, blocked registries, and wrong (undocumented) commands.

A "No module named pytest" is a tool gap only when the documented way of running the tool fails
too. When the repository documents another command for the same job (`uv run pytest` where the
agent ran `python -m pytest`), the finding is a wrong command, and the fix is an instruction.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from app.diagnosis.evidence import Evidence, EvidenceItem
from app.diagnosis.findings import Finding
from app.diagnosis.language import code_spans, command_key, looks_like_command, strip_shell

HitKind = Literal["missing", "network", "install_blocked"]

_MISSING: tuple[re.Pattern[str], ...] = (
    re.compile(r"(?:^|[\s:;])([A-Za-z][\w.+-]{1,40}): (?:command )?not found\b"),
    re.compile(r"\bcommand not found: ([\w.+-]+)"),
    re.compile(r"\bNo module named '?([\w.]+)'?"),
    re.compile(r'exec: "([^"]+)": executable file not found'),
    re.compile(r"\bspawn (\S+) ENOENT"),
    re.compile(r"error: no such (?:sub)?command:? [`']?([\w-]+)[`']?"),
    re.compile(r"[`']?(cargo-[\w-]+|rustfmt|clippy-driver|[\w-]+)[`']? is not installed"),
    re.compile(r"(?i)\bunable to find (?:the )?[`']?([\w.+-]+)[`']? (?:executable|binary|command)"),
    re.compile(r"Cannot find module '((?:@[\w.-]+/)?[\w.-]+)'"),
)
# Subcommands and wrappers named in errors, by the tool that provides them.
_ALIASES = {
    "fmt": "rustfmt",
    "cargo-fmt": "rustfmt",
    "clippy": "clippy",
    "cargo-clippy": "clippy",
    "clippy-driver": "clippy",
    "yaml": "pyyaml",
    "cv2": "opencv-python",
}
_NOT_TOOLS = frozenset(
    [
        "error",
        "warning",
        "fatal",
        "file",
        "path",
        "module",
        "package",
        "page",
        "resource",
        "key",
        "item",
        "entry",
        "user",
        "branch",
        "ref",
        "remote",
        "sh",
        "bash",
        "zsh",
        "it",
        "this",
        "that",
        "which",
        "the",
        "a",
        "an",
        "not",
        "found",
        "command",
        "404",
        "500",
        "input",
        "output",
        "value",
        "image",
        "tag",
    ]
)
_HOST = r"((?:[a-z0-9-]+\.)+[a-z]{2,})"
_NETWORK: tuple[re.Pattern[str], ...] = (
    re.compile(r"(?i)(?:ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ETIMEDOUT)\s+" + _HOST),
    re.compile(r"(?i)could not resolve host:?\s+" + _HOST),
    re.compile(r"(?i)firewall blocked \d+ address(?:es)?:\s*" + _HOST),
    re.compile(r"(?i)(?:failed to connect to|unable to connect to|connection to)\s+" + _HOST),
    re.compile(r"(?i)ERR_PNPM_\w*FETCH\w*\s+GET\s+https?://" + _HOST),
    re.compile(r"(?i)npm ERR! (?:code )?E(?:403|404|AI_AGAIN|NOTFOUND)\b.*?https?://" + _HOST),
    re.compile(r"(?i)\b(?:E403|E404|403 Forbidden|404 Not Found)\b.*?https?://" + _HOST),
    re.compile(
        r"(?i)lookup "
        + _HOST
        + r"(?: on [\d.:\[\]]+)?: (?:no such host|server misbehaving|i/o timeout)"
    ),
    re.compile(r"(?i)failed to (?:download|fetch) from [`']?https?://" + _HOST),
    re.compile(
        r"(?i)(?:failed to establish a new connection|name or service not known|temporary failure in "
        r"name resolution|network is unreachable).*?(?:host='?|https?://)" + _HOST
    ),
    re.compile(
        r"(?i)https?://" + _HOST + r"\S*[^\n]*?(?:temporary failure in name resolution|"
        r"name or service not known|network is unreachable|failed to establish a new connection)"
    ),
)
_NETWORK_PROSE = re.compile(
    r"(?i)blocked by (?:the |a )?firewall|firewall block|registry (?:is |was )?blocked|dns block|"
    r"(?:can(?:'|no)t|cannot|could not|couldn't|unable to|failed to) (?:be )?install\w*|"
    r"dependencies (?:still )?can(?:'|no)t be installed|no network access|network (?:is )?(?:disabled|restricted)|"
    r"не (?:удалось|могу) установить|заблокирован"
)
_INSTALL_BLOCKED = re.compile(r"(?i)externally-managed-environment|externally managed")
# One cheap pass decides whether a text can hold any of the patterns at all.
_MAYBE_GAP = re.compile(
    r"(?i)not found|no module named|executable file|enoent|no such (?:sub)?command|not installed|unable to find|"
    r"enotfound|eai_again|econnrefused|etimedout|resolve host|firewall|connect to|connection to|err_pnpm|npm err|"
    r"externally.managed|install|registry|dns|network"
)
_HOST_IN_PROSE = re.compile(r"`?" + _HOST + r"`?")
_ZERO_TESTS = re.compile(
    r"(?i)\bran 0 tests\b|no tests ran|collected 0 items|no tests? (?:were )?found|0 passing|0 tests? (?:passed|run)"
)
CLASSES: Mapping[str, re.Pattern[str]] = {
    "test": re.compile(
        r"(?i)\b(?:py\.?test|unittest|vitest|jest|mocha|rspec|phpunit|ctest|tox|nox|go test|cargo test|"
        r"dotnet test|mvn test|gradle test|mix test|deno test|bun test|playwright test|"
        r"(?:npm|pnpm|yarn|bun)(?: run)? test[\w:-]*)\b"
    ),
    "lint": re.compile(
        r"(?i)\b(?:lint|eslint|ruff check|flake8|pylint|clippy|golangci-lint|rubocop|stylelint)\b"
    ),
    "format": re.compile(r"(?i)\b(?:prettier|ruff format|black|gofmt|rustfmt|cargo fmt|format)\b"),
    "typecheck": re.compile(r"(?i)\b(?:mypy|pyright|tsc|typecheck|type-check)\b"),
}
_SETUP_FILE = re.compile(
    r"(?i)copilot-setup-steps|agent[^/]*dockerfile|dockerfile[^/]*agent|devcontainer|setup-steps"
)
_DOC_FILE = re.compile(
    r"(?i)(?:^|/)(?:agents|claude|contributing|readme|copilot-instructions|gemini|conventions)\.md$|"
    r"(?:^|/)prompt_seeds/|(?:^|/)docs/"
)


@dataclass(frozen=True)
class ToolHit:
    tool: str
    kind: HitKind
    key: str
    run: str | None
    host: str | None = None


@dataclass(frozen=True)
class DocumentedCommand:
    command: str
    key: str
    path: str
    line: int


def command_class(command: str) -> str | None:
    for name, pattern in CLASSES.items():
        if pattern.search(command):
            return name
    return None


def documented_commands(files: Mapping[str, str]) -> list[DocumentedCommand]:
    """Commands the repository's instruction files name in code spans, in file order."""
    out: list[DocumentedCommand] = []
    for path, text in files.items():
        if not _DOC_FILE.search(path):
            continue
        for n, line in enumerate(text.split("\n"), start=1):
            for span in code_spans(line):
                if looks_like_command(span):
                    cmd = strip_shell(span)
                    out.append(DocumentedCommand(cmd, command_key(cmd), path, n))
    return out


def _agent_items(ev: Evidence) -> Iterable[EvidenceItem]:
    for item in ev.items:
        if item.trust != "agent" or item.injection:
            continue
        if item.kind in (
            "session_event",
            "job_log",
            "issue_comment",
            "review_comment",
            "pull_request",
        ):
            yield item


def tool_hits(ev: Evidence) -> list[ToolHit]:
    """Every sign, in the agent's own output, of a tool it lacked or a network it could not reach."""
    hits: list[ToolHit] = []
    for item in _agent_items(ev):
        prose = item.kind in ("issue_comment", "review_comment", "pull_request")
        text = item.text if len(item.text) < 8000 else item.text[:8000]
        if item.kind == "session_event" and item.event == "tool_call":
            continue  # a command line mentions tools; only what came back says one is missing
        if not _MAYBE_GAP.search(text):
            continue
        seen: set[tuple[str, str]] = set()
        for line in text.split("\n"):
            for pattern in _MISSING:
                for m in pattern.finditer(line):
                    tool = m.group(1).strip("`'\".").lower()
                    tool = _ALIASES.get(tool, tool)
                    if tool in _NOT_TOOLS or tool.isdigit() or len(tool) < 2:
                        continue
                    if (tool, "missing") not in seen:
                        seen.add((tool, "missing"))
                        hits.append(ToolHit(tool, "missing", item.key, item.run))
            for pattern in _NETWORK:
                for m in pattern.finditer(line):
                    host = m.group(1).lower()
                    if ("net", host) not in seen:
                        seen.add(("net", host))
                        hits.append(ToolHit(host, "network", item.key, item.run, host=host))
            if _INSTALL_BLOCKED.search(line) and ("pip", "blocked") not in seen:
                seen.add(("pip", "blocked"))
                hits.append(ToolHit("pip", "install_blocked", item.key, item.run))
        if prose and _NETWORK_PROSE.search(text) and not any(k == "net" for k, _ in seen):
            hosts = [h.lower() for h in _HOST_IN_PROSE.findall(text) if is_host(h)]
            host = hosts[0] if hosts else None
            hits.append(ToolHit(host or "dependencies", "network", item.key, item.run, host=host))
    return hits


_FILE_SUFFIXES = frozenset(
    [
        "md",
        "json",
        "ts",
        "tsx",
        "js",
        "jsx",
        "mjs",
        "cjs",
        "py",
        "go",
        "rs",
        "rb",
        "java",
        "kt",
        "cs",
        "php",
        "vue",
        "svelte",
        "css",
        "scss",
        "html",
        "lock",
        "sum",
        "mod",
        "cfg",
        "ini",
        "txt",
        "sh",
        "yml",
        "yaml",
        "toml",
        "xml",
        "gradle",
        "swift",
        "c",
        "h",
        "cpp",
        "hpp",
        "jsonl",
        "log",
        "zip",
        "tar",
        "gz",
        "png",
        "svg",
    ]
)


def is_host(name: str) -> bool:
    """`npm.example.dev` is a host; `Stepper.test.tsx` is a file."""
    parts = name.lower().split(".")
    return len(parts) >= 2 and parts[-1].isalpha() and parts[-1] not in _FILE_SUFFIXES


@dataclass(frozen=True)
class Mismatch:
    run: str
    agent_key: str
    command: str
    item: str
    bad: bool
    cls: str


def _mismatches(ev: Evidence, documented: list[DocumentedCommand]) -> list[Mismatch]:
    doc_keys = {d.key for d in documented}
    doc_classes = {c for d in documented if (c := command_class(d.key))}
    out: list[Mismatch] = []
    for run in ev.runs:
        for item in run.events:
            if not item.command or (item.kind == "session_event" and item.event == "tool_call"):
                continue
            cmd = strip_shell(item.command)
            key = command_key(cmd)
            cls = command_class(key)  # the tool that runs, not its arguments (`pip install pytest`)
            if cls is None or cls not in doc_classes:
                continue
            if (
                not key
                or key in doc_keys
                or any(key.startswith(d + " ") or d.startswith(key + " ") for d in doc_keys)
            ):
                continue
            bad = item.failed or bool(_ZERO_TESTS.search(item.text))
            out.append(Mismatch(run.key, key, cmd, item.key, bad, cls))
    return out


def _best_documented(
    mismatch_key: str, cls: str, documented: list[DocumentedCommand]
) -> DocumentedCommand | None:
    same_class = [d for d in documented if command_class(d.key) == cls]
    if not same_class:
        return None
    tool = mismatch_key.split()[-1]
    sharing = [d for d in same_class if tool in d.command.split()]
    return (sharing or same_class)[0]


def detect_tooling(ev: Evidence) -> list[Finding]:
    """Wrong-command findings first; the tool gaps they explain are not reported again."""
    documented = documented_commands(ev.files)
    findings: list[Finding] = []
    hits = tool_hits(ev)
    consumed: set[int] = set()
    by_key: dict[str, list[Mismatch]] = defaultdict(list)
    for m in _mismatches(ev, documented):
        by_key[m.agent_key].append(m)
    for agent_key, group in by_key.items():
        bad = [m for m in group if m.bad]
        runs = {m.run for m in bad}
        if not bad:
            continue
        doc = _best_documented(agent_key, group[0].cls, documented)
        if doc is None:
            continue
        tool = agent_key.split()[-1]
        for i, h in enumerate(hits):
            # `No module named X` and the pip refusals that follow are the wrong command's symptoms.
            if h.tool == tool or h.kind == "install_blocked":
                consumed.add(i)
        mentions = [
            item.key
            for item in _agent_items(ev)
            if item.kind in ("issue_comment", "pull_request", "review_comment", "job_log")
            and agent_key in " ".join(strip_shell(c) for c in _commands_in(item.text)).lower()
        ]
        per_run: dict[str, str] = {}
        for m in bad:
            per_run.setdefault(m.run, m.item)
        evidence = [*per_run.values(), *mentions[:4], ev.file_url(doc.path, doc.line)]
        findings.append(
            Finding(
                kind="wrong_command",
                keys=frozenset({f"cmd:{agent_key}", f"cmd:{doc.key}", f"tool:{tool}"}),
                tags=frozenset({group[0].cls}),
                evidence=tuple(dict.fromkeys(k for k in evidence if ev.get(k))),
                standalone=len(runs) >= 2,
                strength=min(1.0, 0.5 + 0.2 * len(runs)),
                count=len(bad),
                rounds=len(runs),
                commands=(doc.command,),
                wrong_commands=(agent_key,),
                tools=(tool,),
            )
        )
    remaining = [h for i, h in enumerate(hits) if i not in consumed]
    findings.extend(_gaps(ev, remaining))
    return findings


def _commands_in(text: str) -> list[str]:
    spans = [s for s in code_spans(text) if looks_like_command(s)]
    return spans or [text[:300]]


def _gaps(ev: Evidence, hits: list[ToolHit]) -> list[Finding]:
    if not hits:
        return []
    setup = [
        ev.file_url(p, 1) for p in ev.files if _SETUP_FILE.search(p) and ev.get(ev.file_url(p, 1))
    ]
    supporters = [
        i.key
        for i in ev.of_kind("issue_comment", "review", "review_comment")
        if i.trust == "trusted" and not i.injection and _NETWORK_PROSE.search(i.text)
    ]
    # One environment, one fix: everything the agent's environment lacked is one problem (tools that
    # are missing because nothing could be installed share the network's root cause anyway).
    by_tool: dict[str, list[ToolHit]] = defaultdict(list)
    for h in hits:
        by_tool[h.tool].append(h)
    recurring = [h for hs in by_tool.values() if len({x.key for x in hs}) >= 2 for h in hs]
    network = [h for h in hits if h.kind == "network"]
    groups: list[list[ToolHit]] = [hits] if network else ([recurring] if recurring else [])
    findings: list[Finding] = []
    for group in groups:
        keys = list(dict.fromkeys(h.key for h in group))
        if len(keys) < 2:
            continue
        hosts = tuple(dict.fromkeys(h.host for h in group if h.host))
        counts: dict[str, int] = defaultdict(int)
        for h in group:
            if h.kind != "network":
                counts[h.tool] += 1
        tools = tuple(sorted(counts, key=lambda t: -counts[t]))
        main_tool = hosts[0] if hosts else (tools[0] if tools else group[0].tool)
        runs = {h.run for h in group if h.run}
        logs = [
            k
            for k in keys
            if (i := ev.get(k)) is not None and i.kind in ("job_log", "session_event")
        ]
        prose = [k for k in keys if k not in logs]
        evidence = [*logs[:2], *prose[:3], *setup[:1], *supporters[:1], *logs[2:4]]
        findings.append(
            Finding(
                kind="tool_gap",
                keys=frozenset({f"tool:{t}" for t in tools} | {f"host:{h}" for h in hosts}),
                tags=frozenset({"dependencies"} if hosts or network else set()),
                evidence=tuple(dict.fromkeys(evidence)),
                standalone=True,
                strength=min(1.0, 0.5 + 0.1 * len(keys)),
                count=len(keys),
                rounds=len(runs),
                tools=(main_tool, *[t for t in tools if t != main_tool]),
                hosts=hosts,
                paths=tuple(p for p in ev.files if _SETUP_FILE.search(p)),
            )
        )
    return findings
