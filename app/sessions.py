"""Agent session transcripts: Codex CLI rollouts and Claude Code JSONL parsed into uniform events.

Parsing goes record by record. A line that is not JSON (a truncated last line, say) is counted
as bad and skipped; a record type we do not know is skipped silently, because both tools add
record types between versions. Tool results are linked to their call, so a result carries the
command that produced it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Literal

SessionFormat = Literal["codex-rollout", "claude-code", "unknown"]
EventKind = Literal["message", "tool_call", "tool_result"]

_CODEX_TYPES = frozenset(
    {"session_meta", "response_item", "event_msg", "turn_context", "compacted"}
)
_CLAUDE_TYPES = frozenset(
    {
        "user",
        "assistant",
        "summary",
        "system",
        "file-history-snapshot",
        "queue-operation",
        "last-prompt",
    }
)
_EXIT_CODE_TEXT = re.compile(
    r"(?i)(?:exit code|exit status|exited with(?: exit)? code)[:\s]+(-?\d+)"
)
_MAX_TEXT = 20_000  # one event's text; tool outputs can be megabytes and only their head matters


@dataclass(frozen=True)
class SessionEvent:
    line: int  # 1-based JSONL line
    kind: EventKind
    role: str | None
    text: str
    command: str | None  # the shell command of a tool call (argv joined), also on its result
    call_id: str | None
    exit_code: int | None
    is_error: bool
    timestamp: str | None
    ref: str  # f"{ref_base}#L{line}"
    tool: str | None = None  # the tool's name (shell, apply_patch, Bash, Edit, …)


@dataclass(frozen=True)
class ParsedSession:
    format: SessionFormat
    events: tuple[SessionEvent, ...]
    bad_lines: tuple[int, ...]


def _records(text: str) -> tuple[list[tuple[int, dict[str, Any]]], list[int]]:
    records: list[tuple[int, dict[str, Any]]] = []
    bad: list[int] = []
    for number, raw in enumerate(text.split("\n"), start=1):
        if not raw.strip():
            continue
        try:
            value = json.loads(raw)
        except ValueError:
            bad.append(number)
            continue
        if isinstance(value, dict):
            records.append((number, value))
        else:
            bad.append(number)
    return records, bad


def detect_session_format(text: str) -> SessionFormat:
    """Tell the transcript format from its first parseable records."""
    seen = 0
    for raw in text.split("\n", 200)[:200]:
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except ValueError:
            continue
        if not isinstance(record, dict):
            continue
        seen += 1
        kind = record.get("type")
        if kind in _CODEX_TYPES and "payload" in record:
            return "codex-rollout"
        if "sessionId" in record or "parentUuid" in record or kind in _CLAUDE_TYPES - {"system"}:
            return "claude-code"
        if seen >= 20:
            break
    return "unknown"


def parse_session(text: str, fmt: str | None = None, *, ref_base: str) -> ParsedSession:
    """Parse a transcript into events; `fmt` None or "unknown" means detect it."""
    chosen: SessionFormat
    if fmt == "codex-rollout":
        chosen = "codex-rollout"
    elif fmt == "claude-code":
        chosen = "claude-code"
    else:
        chosen = detect_session_format(text)
    records, bad = _records(text)
    if chosen == "codex-rollout":
        events = _codex_events(records, ref_base)
    elif chosen == "claude-code":
        events = _claude_events(records, ref_base)
    else:
        events = []
    return ParsedSession(format=chosen, events=tuple(events), bad_lines=tuple(bad))


def _clip(text: str) -> str:
    return text if len(text) <= _MAX_TEXT else text[:_MAX_TEXT]


def _argv_text(command: Any) -> str | None:
    if isinstance(command, list) and all(isinstance(a, str) for a in command):
        return " ".join(command)
    if isinstance(command, str):
        return command
    return None


def _content_text(content: Any) -> str:
    """Text of a message content that is a string or a list of typed blocks."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts: list[str] = []
        for block in content:
            if isinstance(block, str):
                parts.append(block)
            elif isinstance(block, dict) and isinstance(block.get("text"), str):
                parts.append(block["text"])
            elif isinstance(block, dict) and block.get("type") == "tool_result":
                parts.append(_content_text(block.get("content")))
        return "\n".join(parts)
    return ""


# ---------------------------------------------------------------- Codex CLI rollout


def _codex_output(raw: Any) -> tuple[str, int | None]:
    """A function_call_output is a JSON string {"output", "metadata": {"exit_code"}} or plain text."""
    if isinstance(raw, dict):
        data: Any = raw
    elif isinstance(raw, str):
        try:
            data = json.loads(raw)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            m = _EXIT_CODE_TEXT.search(raw[:500])
            return raw, int(m.group(1)) if m else None
    else:
        return "", None
    output = data.get("output")
    text = output if isinstance(output, str) else _content_text(output)
    meta = data.get("metadata")
    code = meta.get("exit_code") if isinstance(meta, dict) else data.get("exit_code")
    return text, code if isinstance(code, int) else None


def _codex_events(records: list[tuple[int, dict[str, Any]]], ref_base: str) -> list[SessionEvent]:
    has_items = any(
        r.get("type") == "response_item"
        and isinstance(r.get("payload"), dict)
        and r["payload"].get("type") == "message"
        for _, r in records
    )
    has_calls = any(
        r.get("type") == "response_item"
        and isinstance(r.get("payload"), dict)
        and r["payload"].get("type") in ("function_call", "local_shell_call")
        for _, r in records
    )
    calls: dict[str, tuple[str | None, str | None]] = {}
    events: list[SessionEvent] = []

    def add(line: int, ts: Any, kind: EventKind, **kw: Any) -> None:
        events.append(
            SessionEvent(
                line=line,
                kind=kind,
                role=kw.get("role"),
                text=_clip(kw.get("text") or ""),
                command=kw.get("command"),
                call_id=kw.get("call_id"),
                exit_code=kw.get("exit_code"),
                is_error=bool(kw.get("is_error", False)),
                timestamp=ts if isinstance(ts, str) else None,
                ref=f"{ref_base}#L{line}",
                tool=kw.get("tool"),
            )
        )

    def shell_call(line: int, ts: Any, call_id: Any, command: str | None, tool: str) -> None:
        """A shell command the agent ran: remembered by call id so its result carries it too."""
        if isinstance(call_id, str):
            calls[call_id] = (command, tool)
        add(
            line,
            ts,
            "tool_call",
            role="assistant",
            text=command or "",
            command=command,
            call_id=call_id,
            tool=tool,
        )

    for line, record in records:
        payload = record.get("payload")
        if not isinstance(payload, dict):
            continue
        ts = record.get("timestamp")
        rtype, ptype = record.get("type"), payload.get("type")
        if rtype == "response_item":
            if ptype == "message":
                role = payload.get("role")
                add(line, ts, "message", role=role, text=_content_text(payload.get("content")))
            elif ptype == "function_call":
                name = payload.get("name")
                try:
                    args = json.loads(payload.get("arguments") or "{}")
                except ValueError:
                    args = {}
                command = None
                if isinstance(args, dict):
                    command = _argv_text(
                        args.get("command") if "command" in args else args.get("cmd")
                    )
                call_id = payload.get("call_id")
                if isinstance(call_id, str):
                    calls[call_id] = (command, name)
                add(
                    line,
                    ts,
                    "tool_call",
                    role="assistant",
                    text=command or str(args)[:2000],
                    command=command,
                    call_id=call_id,
                    tool=name,
                )
            elif ptype == "local_shell_call":
                action = payload.get("action")
                command = _argv_text(action.get("command")) if isinstance(action, dict) else None
                shell_call(line, ts, payload.get("call_id"), command, "local_shell")
            elif ptype == "custom_tool_call":
                call_id = payload.get("call_id")
                name = payload.get("name")
                if isinstance(call_id, str):
                    calls[call_id] = (None, name)
                add(
                    line,
                    ts,
                    "tool_call",
                    role="assistant",
                    text=str(payload.get("input") or ""),
                    call_id=call_id,
                    tool=name,
                )
            elif ptype in (
                "function_call_output",
                "custom_tool_call_output",
                "local_shell_call_output",
            ):
                call_id = payload.get("call_id")
                text, code = _codex_output(payload.get("output"))
                command, name = (
                    calls.get(call_id, (None, None)) if isinstance(call_id, str) else (None, None)
                )
                add(
                    line,
                    ts,
                    "tool_result",
                    role="tool",
                    text=text,
                    command=command,
                    call_id=call_id,
                    exit_code=code,
                    is_error=code not in (None, 0),
                    tool=name,
                )
        elif rtype == "event_msg":
            if ptype in ("agent_message", "user_message") and not has_items:
                role = "assistant" if ptype == "agent_message" else "user"
                add(line, ts, "message", role=role, text=str(payload.get("message") or ""))
            elif ptype == "exec_command_begin" and not has_calls:
                command = _argv_text(payload.get("command"))
                shell_call(line, ts, payload.get("call_id"), command, "exec_command")
            elif ptype == "exec_command_end" and not has_calls:
                call_id = payload.get("call_id")
                code = payload.get("exit_code")
                text = payload.get("aggregated_output") or (
                    f"{payload.get('stdout') or ''}{payload.get('stderr') or ''}"
                )
                command = calls.get(call_id, (None, None))[0] if isinstance(call_id, str) else None
                add(
                    line,
                    ts,
                    "tool_result",
                    role="tool",
                    text=str(text),
                    command=command,
                    call_id=call_id,
                    exit_code=code if isinstance(code, int) else None,
                    is_error=isinstance(code, int) and code != 0,
                    tool="exec_command",
                )
    return events


# ---------------------------------------------------------------- Claude Code


def _claude_events(records: list[tuple[int, dict[str, Any]]], ref_base: str) -> list[SessionEvent]:
    calls: dict[str, tuple[str | None, str | None]] = {}
    events: list[SessionEvent] = []
    for line, record in records:
        rtype = record.get("type")
        if rtype not in ("user", "assistant"):
            continue
        message = record.get("message")
        if not isinstance(message, dict):
            continue
        ts = record.get("timestamp") if isinstance(record.get("timestamp"), str) else None
        role = message.get("role") if isinstance(message.get("role"), str) else rtype
        ref = f"{ref_base}#L{line}"
        content = message.get("content")
        if isinstance(content, str):
            events.append(
                SessionEvent(
                    line, "message", role, _clip(content), None, None, None, False, ts, ref
                )
            )
            continue
        if not isinstance(content, list):
            continue
        texts: list[str] = []
        for block in content:
            if not isinstance(block, dict):
                continue
            btype = block.get("type")
            if btype == "text" and isinstance(block.get("text"), str):
                texts.append(block["text"])
            elif btype == "tool_use":
                name = block.get("name") if isinstance(block.get("name"), str) else None
                raw_input = block.get("input")
                tool_input: dict[str, Any] = raw_input if isinstance(raw_input, dict) else {}
                command = (
                    tool_input.get("command")
                    if isinstance(tool_input.get("command"), str)
                    else None
                )
                call_id = block.get("id") if isinstance(block.get("id"), str) else None
                if call_id:
                    calls[call_id] = (command, name)
                summary = command or json.dumps(tool_input, ensure_ascii=False)[:2000]
                events.append(
                    SessionEvent(
                        line,
                        "tool_call",
                        role,
                        _clip(summary),
                        command,
                        call_id,
                        None,
                        False,
                        ts,
                        ref,
                        name,
                    )
                )
            elif btype == "tool_result":
                call_id = (
                    block.get("tool_use_id") if isinstance(block.get("tool_use_id"), str) else None
                )
                command, name = calls.get(call_id, (None, None)) if call_id else (None, None)
                text = _content_text(block.get("content"))
                is_error = block.get("is_error") is True
                code_match = _EXIT_CODE_TEXT.search(text[:500])
                code = (
                    int(code_match.group(1))
                    if code_match
                    else (1 if is_error and command else None)
                )
                if code is None and command and not is_error:
                    code = 0  # Claude Code marks failed shell commands with is_error
                events.append(
                    SessionEvent(
                        line,
                        "tool_result",
                        "tool",
                        _clip(text),
                        command,
                        call_id,
                        code,
                        is_error or (code not in (None, 0)),
                        ts,
                        ref,
                        name,
                    )
                )
        if texts:
            events.append(
                SessionEvent(
                    line, "message", role, _clip("\n".join(texts)), None, None, None, False, ts, ref
                )
            )
    return events
