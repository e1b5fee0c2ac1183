"""Recurring CI failures: the same check red on several of the agent's pushes, and failures that are not its fault."""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass

from app.diagnosis.evidence import CiJob, Evidence, strip_timestamp
from app.diagnosis.findings import Finding
from app.diagnosis.language import command_key, normalise_error, tags, tools_in

_TEST_IDS: tuple[re.Pattern[str], ...] = (
    re.compile(r"--- FAIL: (\w+)"),  # go test
    re.compile(r"^FAILED ([\w/.\-]+::[\w\[\]\-.: ]+?)(?: - |$)"),  # pytest short summary
    re.compile(r"^\s*FAIL\s+(\S+\.(?:tsx?|jsx?|mjs|cjs|vue|svelte))\s+>\s+(.+?)\s*$"),  # vitest
    re.compile(r"^\s*●\s+(.+?)\s+›\s+(.+?)\s*$"),  # jest
    re.compile(r"^test (\S+) \.\.\. FAILED"),  # cargo test
    re.compile(r"^not ok \d+ - (.+)$"),  # TAP
    re.compile(r"^\s*(?:rspec|Failure:)\s+(\S+)"),  # rspec, minitest
)
_TEST_FILE = re.compile(
    r"(?:^|\s)(?:FAIL|❯|×)\s+(\S+\.(?:test|spec)\.[jt]sx?|\S+_test\.go|\S+/test_\w+\.py)"
)
_LINT_RULE = re.compile(r"^\s*\d+:\d+\s+(?:error|warning)\s+.+?\s{2,}(@?[\w-]+(?:/[\w-]+)*)\s*$")
_CODE_RULE = re.compile(r"^\S+:\d+:\d+: ([A-Z]{1,4}\d{2,4})\b")  # ruff, flake8, pylint
_TS_ERROR = re.compile(r"\berror (TS\d{4})\b")
_RUST_ERROR = re.compile(r"\berror\[(E\d{4})\]")
_FORMAT = re.compile(
    r"(?i)code style issues|run prettier with --write|would reformat|reformatted|diff in \S+ at line|"
    r"not formatted|gofmt|formatting check failed|rustfmt"
)
_NOT_FOUND = re.compile(
    r"(?i)command not found|: not found$|no module named|executable file not found"
)
_ERROR_MARK = re.compile(r"##\[error\]")
_PROCESS_EXIT = re.compile(
    r"(?i)process completed with exit code|command failed with exit code|exit status \d"
)
_INFRA = re.compile(
    r"(?i)runner has received a shutdown signal|lost communication with the server|no space left on device|"
    r"rate limit exceeded|503 service unavailable|502 bad gateway|\betimedout\b|\beconnreset\b|"
    r"the operation was canceled|could not resolve host: (?:github\.com|api\.github\.com)|"
    r"the job was not acquired by runner|internal server error"
)
_FLAKY_WORDS = re.compile(r"(?i)flak|intermittent|unstable|flapping|нестабильн|случайно пада")
_ON_DEFAULT = re.compile(
    r"(?i)(?:fails?|failing|failed|red|broken|пада\w*) (?:on|in|на) `?(?:main|master|develop|trunk)`?"
)
_PROCESS_CHECKS = frozenset({"lint", "format", "typecheck", "changelog", "i18n", "commit_format"})
_MEANINGLESS = re.compile(
    r"(?i)^(?:error|fail(?:ed)?|✖|×|\s*)$|elifecycle|npm err! (?:a complete log|code)|^\s*$|"
    # build tools' closing lines: Gradle's and Maven's summaries and hints
    r"^build (?:failed|failure)\b|^\d+ actionable tasks?:|^\* (?:try|get more help)|^> (?:run with --|get more help)|"
    r"^\[error\] (?:-> \[help|re-run maven|to see the full stack trace|for more information|\s*$)"
)
# Gradle names the failure under "* What went wrong:", after "Execution failed for task …".
_GRADLE_WRONG = re.compile(r"^\* What went wrong:")


@dataclass(frozen=True)
class Failure:
    """One failing job with what it failed on."""

    job: CiJob
    signatures: frozenset[str]
    cite: str  # evidence key of the most telling log line, or the job's URL
    command: str  # the failing step's command
    test_files: frozenset[str]


def failure_of(job: CiJob, ev: Evidence) -> Failure:
    """Read a failing job's log (or its check output) for the failing tests, rules and messages."""
    sigs: set[str] = set()
    test_files: set[str] = set()
    cite_line: int | None = None
    lines = [strip_timestamp(x) for x in job.lines]
    error_at = next((i for i, ln in enumerate(lines) if _ERROR_MARK.search(ln)), len(lines))
    for i, line in enumerate(lines):
        found = _signatures_of(line)
        for tf in _TEST_FILE.findall(line):
            test_files.add(tf.strip())
        if found:
            sigs.update(found)
            if cite_line is None:
                cite_line = i
    wrong = None
    if not sigs:
        wrong = next(
            (i for i in range(error_at - 1, -1, -1) if _GRADLE_WRONG.match(lines[i])), None
        )
    if wrong is not None:
        for i in range(wrong + 1, min(wrong + 4, error_at)):
            text = lines[i].strip()
            if text.startswith("> ") and not _MEANINGLESS.search(text[2:]):
                sigs.add(f"msg:{normalise_error(text[2:])}")
                cite_line = i
                break
    if not sigs:
        # The last meaningful line before `##[error]` says what went wrong ("No new newsfragments …").
        for i in range(error_at - 1, max(error_at - 12, -1), -1):
            text = lines[i].strip()
            if (
                text
                and not _MEANINGLESS.search(text)
                and not text.startswith(("##[", "shell:", "env:"))
            ):
                sigs.add(f"msg:{normalise_error(text)}")
                cite_line = i
                break
    if not sigs:
        for _path, message in job.annotations:
            if message and not _PROCESS_EXIT.search(message):
                sigs.add(f"msg:{normalise_error(message)}")
        if not sigs and job.output:
            sigs.add(f"msg:{normalise_error(job.output.splitlines()[0])}")
    cite = job.url
    command = ""
    line_keys = {item.line: key for key in job.signals if (item := ev.get(key)) and item.line}
    if cite_line is not None:
        key = line_keys.get(cite_line + 1)
        if key is None:
            # the nearest signal line at or after the cited one
            later = sorted(n for n in line_keys if n >= cite_line + 1)
            key = line_keys[later[0]] if later else None
        if key:
            cite = key
    for key in job.signals:
        item = ev.get(key)
        if item and item.command:
            command = item.command
            if item.line and cite_line is not None and item.line >= cite_line + 1:
                break
    return Failure(
        job=job,
        signatures=frozenset(sigs),
        cite=cite,
        command=command,
        test_files=frozenset(test_files),
    )


def test_name(signature: str) -> str:
    """`test:tests/x.py::test_y[1]` -> `test_y`; `test:a.test.ts > Suite > case` -> `case`."""
    ident = signature.split(":", 1)[1] if signature.startswith("test:") else signature
    last = re.split(r"::| > | › ", ident)[-1]
    return last.split("[", 1)[0].strip()


def _signatures_of(line: str) -> set[str]:
    out: set[str] = set()
    for pattern in _TEST_IDS:
        m = pattern.search(line)
        if m:
            out.add("test:" + " > ".join(g.strip() for g in m.groups() if g))
    m = _LINT_RULE.search(line)
    if m and "error" in line:
        out.add(f"lint:{m.group(1)}")
    for pattern, prefix in ((_CODE_RULE, "lint"), (_TS_ERROR, "compile"), (_RUST_ERROR, "compile")):
        m = pattern.search(line)
        if m:
            out.add(f"{prefix}:{m.group(1)}")
    if _FORMAT.search(line):
        out.add("format:unformatted")
    if _NOT_FOUND.search(line):
        out.add(f"missing:{normalise_error(line)[:80]}")
    return out


def detect_ci(ev: Evidence) -> list[Finding]:
    """Findings for checks that failed on two or more of the agent's pushes, plus not-the-agent notes."""
    failures_by_check: dict[str, list[Failure]] = defaultdict(list)
    successes: dict[tuple[str, str], bool] = {}
    for job in ev.ci_jobs:
        if job.conclusion == "success":
            successes[(job.check, job.head_sha)] = True
    for job in ev.ci_jobs:
        if not job.failed:
            continue
        if job.head_branch and job.head_branch == ev.default_branch and job.pr is None:
            continue  # runs on the default branch are reference data, read by the flaky check below
        failures_by_check[job.check].append(failure_of(job, ev))
    default_failures = [
        failure_of(j, ev) for j in ev.ci_jobs if j.failed and j.head_branch == ev.default_branch
    ]
    findings: list[Finding] = []
    for check, failures in failures_by_check.items():
        agent_failures = [f for f in failures if f.job.agent_commit]
        shas = {f.job.head_sha for f in agent_failures}
        flaky = _not_the_agent(check, failures, ev, successes, default_failures)
        if flaky is not None:
            findings.append(flaky)
            continue
        if len(shas) < 2:
            continue
        findings.append(_recurring(check, agent_failures, len(shas), ev))
    return findings


def _recurring(check: str, failures: list[Failure], commits: int, ev: Evidence) -> Finding:
    failures = sorted(failures, key=lambda f: f.job.started_at or "")
    signature_sets = {f.signatures for f in failures}
    prs = {f.job.pr for f in failures}
    commands = [f.command for f in failures if f.command]
    command = commands[0] if commands else ""
    keys = {f"check:{check}"}
    if command:
        keys.add(f"cmd:{command_key(command)}")
    text = " ".join([check, command, *(s for f in failures for s in f.signatures)])
    keys.update(f"tool:{t}" for t in tools_in(text))
    for f in failures:
        keys.update(s for s in f.signatures if s.startswith("test:"))
        keys.update(f"path:{p}" for p in f.test_files)
    varied = len(signature_sets) > 1
    check_tags = tags(f"{check} {command}") & _PROCESS_CHECKS
    only_tests = all(all(s.startswith("test:") for s in sig) for sig in signature_sets if sig)
    standalone = (
        commits >= 3
        or len(prs) >= 2
        or (varied and commits >= 2 and _distinct_kinds(signature_sets))
        # A lint/format/changelog check red twice was not run before pushing; a test red twice
        # may be one unfixed bug, which needs a reviewer's word to count.
        or (commits >= 2 and bool(check_tags) and not only_tests)
    )
    cites: list[str] = []
    for f in failures:
        if f.cite not in cites:
            cites.append(f.cite)
    # The agent's commits that went red: a CI log alone (a bot's text) never carries an action item.
    pushed = {c.sha: c.url for c in ev.commits if c.is_agent}
    for f in failures:
        url = pushed.get(f.job.head_sha)
        if url and url not in cites and ev.get(url) is not None:
            cites.append(url)
    return Finding(
        kind="ci",
        keys=frozenset(keys),
        tags=tags(f"{check} {command}"),
        evidence=tuple(cites),
        standalone=standalone,
        strength=min(1.0, 0.45 + 0.15 * commits),
        count=commits,
        commands=(command,) if command else (),
        checks=(check,),
        details=(
            ("signatures", "; ".join(sorted({s for f in failures for s in f.signatures}))[:300]),
        ),
    )


def _distinct_kinds(signature_sets: set[frozenset[str]]) -> bool:
    """New errors on each push (not one unfixed test carried along) mean the check was not run locally."""
    firsts = [
        frozenset(s.split(":", 1)[0] + ":" + s.split(":", 1)[1] for s in sig)
        for sig in signature_sets
    ]
    return len(set(firsts)) > 1 and not any(
        all(s.startswith("test:") for s in sig) for sig in signature_sets
    )


def _not_the_agent(
    check: str,
    failures: list[Failure],
    ev: Evidence,
    successes: dict[tuple[str, str], bool],
    default_failures: list[Failure],
) -> Finding | None:
    sigs = {s for f in failures for s in f.signatures}
    names = {n for s in sigs if s.startswith("test:") if len(n := test_name(s)) >= 6}
    reasons: list[str] = []
    cites: list[str] = []
    if any(_INFRA.search(" ".join(f.job.lines[-40:])) for f in failures) and not names:
        return Finding(
            kind="infra",
            keys=frozenset({f"check:{check}"}),
            tags=frozenset(),
            evidence=tuple(f.cite for f in failures[:3]),
            standalone=False,
            strength=0.5,
            count=len(failures),
            checks=(check,),
            note=f"`{check}` failed because of the CI infrastructure (runner or network), not the change.",
        )
    for issue in ev.issues:
        if issue.number == ev.target_number:
            continue
        flaky_issue = _FLAKY_WORDS.search(issue.title) or any(
            _FLAKY_WORDS.search(lb) for lb in issue.labels
        )
        if flaky_issue and (
            any(n in issue.text for n in names) or (not names and check in issue.text.lower())
        ):
            reasons.append(f"known flaky test, tracked in #{issue.number}")
            cites.append(issue.url)
    for item in ev.of_kind("issue_comment", "issue"):
        if (
            names
            and item.trust != "agent"  # the agent calling a test flaky proves nothing
            and any(n in item.text for n in names)
            and (_ON_DEFAULT.search(item.text) or _FLAKY_WORDS.search(item.text))
            and item.key not in cites
            and item.thread not in cites
        ):
            cites.append(item.key)
            if not reasons:
                reasons.append("reported as failing on the default branch too")
    for df in default_failures:
        if df.job.check == check and (df.signatures & sigs or not sigs):
            reasons.append(f"also fails on `{ev.default_branch}`")
            cites.append(df.cite)
            break
    reruns = [f for f in failures if successes.get((check, f.job.head_sha))]
    if reruns and names:
        reasons.append("passed on re-run of the same commit")
    if not reasons or (not names and not any("default" in r or "also fails" in r for r in reasons)):
        return None
    label = ", ".join(sorted(names)) if names else check
    return Finding(
        kind="flaky",
        keys=frozenset({f"check:{check}", *(f"test:{n}" for n in names)}),
        tags=frozenset({"flaky"}),
        evidence=tuple(dict.fromkeys(cites)),
        standalone=False,
        strength=0.6,
        count=len(failures),
        checks=(check,),
        paths=tuple(
            sorted(
                {p for f in failures for p, _ in f.job.annotations if p and not p.startswith(".")}
            )
        ),
        note=f"`{label}` ({check}) failed {len(failures)}× on this work but is not caused by the agent: "
        + "; ".join(dict.fromkeys(reasons))
        + ".",
    )
