"""Agent transcripts: Codex rollouts and Claude Code JSONL parse into linked, line-referenced events."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.sessions import detect_session_format, parse_session

SESSIONS = Path(__file__).parent / "fixtures" / "sessions"
CODEX_REAL = (
    SESSIONS / "codex" / "rollout-2025-09-25T15-12-14-019982b8-3422-79e0-8b3b-05abaf4f3c3e.jsonl"
)
CODEX_NEW = SESSIONS / "codex" / "agent-history-real-session-01.jsonl"
CLAUDE_REAL = SESSIONS / "claude-code" / "agentcmd-full-session-four.jsonl"
CLAUDE_NEW = SESSIONS / "claude-code" / "agent-history-real-session-01.jsonl"


def _codex(*records: dict[str, object]) -> str:
    return "\n".join(json.dumps(r) for r in records) + "\n"


def _call(call_id: str, argv: list[str]) -> dict[str, object]:
    args = json.dumps({"command": argv, "workdir": "/w"})
    return {
        "timestamp": "2026-11-03T08:33:00.000Z",
        "type": "response_item",
        "payload": {
            "type": "function_call",
            "name": "shell",
            "arguments": args,
            "call_id": call_id,
        },
    }


def _output(call_id: str, text: str, code: int) -> dict[str, object]:
    out = json.dumps({"output": text, "metadata": {"exit_code": code, "duration_seconds": 1.0}})
    return {
        "timestamp": "2026-11-03T08:33:01.000Z",
        "type": "response_item",
        "payload": {"type": "function_call_output", "call_id": call_id, "output": out},
    }


@pytest.mark.parametrize(
    ("path", "fmt"),
    [
        (CODEX_REAL, "codex-rollout"),
        (CODEX_NEW, "codex-rollout"),
        (CLAUDE_REAL, "claude-code"),
        (CLAUDE_NEW, "claude-code"),
    ],
)
def test_format_is_detected(path: Path, fmt: str) -> None:
    """Both tools' files are recognised from their first records, old and new versions alike."""
    assert detect_session_format(path.read_text(encoding="utf-8")) == fmt


@pytest.mark.parametrize("text", ["", "not json\n", '{"hello": "world"}\n', "[1, 2]\n"])
def test_unknown_text_is_unknown(text: str) -> None:
    """Anything else is `unknown` and parses to no events, never an exception."""
    assert detect_session_format(text) == "unknown"
    assert parse_session(text, ref_base="x").events == ()


def test_codex_results_carry_their_command_and_exit_code() -> None:
    """A function_call_output is linked to its call: it carries the argv-joined command and the exit code."""
    text = _codex(
        {"timestamp": "2026-11-03T08:31:05.000Z", "type": "session_meta", "payload": {"id": "s"}},
        _call("c1", ["bash", "-lc", "python -m pytest -q"]),
        _output("c1", "/usr/local/bin/python: No module named pytest\n", 1),
        {"type": "response_item", "payload": {"type": "mystery_record"}},
    )
    parsed = parse_session(text, ref_base="artifact:1/r.jsonl")
    assert parsed.format == "codex-rollout"
    call, result = parsed.events
    assert (call.kind, call.line, call.command) == ("tool_call", 2, "bash -lc python -m pytest -q")
    assert (result.kind, result.line, result.command, result.exit_code, result.is_error) == (
        "tool_result",
        3,
        "bash -lc python -m pytest -q",
        1,
        True,
    )
    assert result.ref == "artifact:1/r.jsonl#L3"
    assert "No module named pytest" in result.text
    assert parsed.bad_lines == ()


def test_truncated_last_line_is_a_bad_line() -> None:
    """A transcript cut mid-record keeps every complete event and counts the broken line."""
    text = _codex(_call("c1", ["ls"]), _output("c1", "a\n", 0))
    parsed = parse_session(
        text + '{"timestamp": "2026-11-03T08:34:00Z", "type": "resp', ref_base="s"
    )
    assert len(parsed.events) == 2
    assert parsed.bad_lines == (3,)


def test_real_codex_rollout_links_every_shell_call() -> None:
    """In a real rollout every shell result finds its call, and exit codes come from the metadata."""
    parsed = parse_session(CODEX_REAL.read_text(encoding="utf-8"), ref_base="r")
    calls = [e for e in parsed.events if e.kind == "tool_call"]
    results = [e for e in parsed.events if e.kind == "tool_result"]
    assert len(calls) == len(results) == 34
    assert all(r.command for r in results)
    assert {r.exit_code for r in results} <= {0, 1, 2, 127, 128}
    assert parsed.bad_lines == ()


def test_new_codex_messages_are_read_once() -> None:
    """Newer rollouts repeat messages as event_msg; each message becomes one event."""
    parsed = parse_session(CODEX_NEW.read_text(encoding="utf-8"), ref_base="r")
    assistant = [e for e in parsed.events if e.role == "assistant"]
    assert len(assistant) == 1


def test_claude_tool_results_link_and_flag_errors() -> None:
    """Claude Code tool_result blocks link to their tool_use; an is_error Bash result is a failure."""
    parsed = parse_session(CLAUDE_REAL.read_text(encoding="utf-8"), ref_base="c")
    results = [e for e in parsed.events if e.kind == "tool_result"]
    assert len(results) == 27
    failed = [e for e in results if e.is_error]
    assert len(failed) == 1
    assert failed[0].command == "cd apps/app && pnpm test NavUser.test.tsx"
    assert failed[0].exit_code == 1
    assert failed[0].ref == f"c#L{failed[0].line}"


def test_claude_queue_and_prompt_records_are_skipped() -> None:
    """Records Claude Code added in later versions (queue-operation, last-prompt) are tolerated."""
    parsed = parse_session(CLAUDE_NEW.read_text(encoding="utf-8"), ref_base="c")
    assert [e.kind for e in parsed.events] == ["message", "message"]
    assert parsed.bad_lines == ()


def test_declared_format_wins_over_detection() -> None:
    """A caller that knows the format (from gathering) gets it used as given."""
    parsed = parse_session(CLAUDE_NEW.read_text(encoding="utf-8"), "codex-rollout", ref_base="c")
    assert parsed.format == "codex-rollout"
    assert parsed.events == ()
