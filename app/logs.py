"""Structured logging: one JSON object per line (or a readable line), with secrets masked on the way out."""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Iterable
from typing import Any

from app.redaction import redact_text

# Attributes every LogRecord has; anything else came through `extra=` and is ours to print.
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


def _mask(text: str, secrets: tuple[str, ...]) -> str:
    """Our own secrets by value, then anything shaped like a token (GitHub text can carry them)."""
    for s in secrets:
        text = text.replace(s, "[REDACTED]")
    return redact_text(text)


class _Formatter(logging.Formatter):
    def __init__(self, fmt: str, secrets: tuple[str, ...]) -> None:
        super().__init__()
        self.kind = fmt
        self.secrets = secrets

    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, Any] = {k: v for k, v in record.__dict__.items() if k not in _STANDARD}
        message = record.getMessage()
        if record.exc_info:
            message += "\n" + self.formatException(record.exc_info)
        if self.kind == "json":
            doc = {
                "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
                + f".{int(record.msecs):03d}Z",
                "level": record.levelname.lower(),
                "logger": record.name,
                "pid": record.process,  # `serve --processes N` writes N processes to one stream
                "message": message,
                **fields,
            }
            return _mask(json.dumps(doc, default=str, ensure_ascii=False), self.secrets)
        extra = " ".join(f"{k}={v}" for k, v in fields.items())
        line = f"{record.levelname[:4]} {record.name}: {message}" + (f"  {extra}" if extra else "")
        return _mask(line, self.secrets)


def configure_logging(level: str, fmt: str, *, secrets: Iterable[str] = ()) -> None:
    """Send the app's logs to stderr; the given secret values never appear in any line."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter(fmt, tuple(s for s in secrets if s and len(s) >= 4)))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
