"""The line format: one JSON object per line, its keys always in this order::

    {"at":"2026-12-03T09:30:00.123Z","level":"warning","logger":"app.x","request_id":null,"message":"..."}

Why a fixed order and compact separators: the query engine reads `at` and `level` at fixed offsets and
splits a line without escapes on its quotes, so most lines are filtered without a JSON parser (see
`query`). `message` comes last for the same reason.

`at` is UTC with milliseconds, so that text order is time order. `level` is lower case: debug, info,
warning, error or critical. A traceback is part of the message. JSON escapes every C0 control (a newline
in a client's input becomes `\\n`, so it can never start a forged line); DEL, the C1 controls and the
Unicode line separators are escaped too (`\\u009b`), so that printing a log file cannot send a terminal
an escape sequence.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable

__all__ = ["LEVELS", "MAX_MESSAGE_CHARS", "ContextFilter", "JsonLineFormatter", "level_name", "format_at"]

# Query levels and the first letter of each written level, by rank.
LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40, "critical": 50}
MAX_MESSAGE_CHARS = 65536  # a longer message (a huge repr) is cut: one line must stay cheap to read

_EXTRA_ESCAPES = {code: f"\\u{code:04x}" for code in [*range(0x7f, 0xa0), 0x2028, 0x2029]}


def level_name(levelno: int) -> str:
    if levelno >= logging.CRITICAL:
        return "critical"
    if levelno >= logging.ERROR:
        return "error"
    if levelno >= logging.WARNING:
        return "warning"
    if levelno >= logging.INFO:
        return "info"
    return "debug"


def format_at(created: float) -> str:
    """`created` (seconds since the epoch) as 2026-12-03T09:30:00.123Z."""
    seconds = int(created)
    millis = int((created - seconds) * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


class JsonLineFormatter(logging.Formatter):
    """Formats a record as one JSON line (without the newline, which the handler adds)."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            message = f"{message}\n{record.exc_text}"
        if record.stack_info:
            message = f"{message}\n{self.formatStack(record.stack_info)}"
        if len(message) > MAX_MESSAGE_CHARS:
            message = message[:MAX_MESSAGE_CHARS] + " [...]"
        request_id = getattr(record, "request_id", None)
        line = json.dumps({"at": format_at(record.created), "level": level_name(record.levelno),
                           "logger": record.name, "request_id": request_id if isinstance(request_id, str) else None,
                           "message": message}, ensure_ascii=False, separators=(",", ":"))
        return line.translate(_EXTRA_ESCAPES)


class ContextFilter(logging.Filter):
    """Gives every record the request id of whatever is being served (`lookup()`, None outside a request):
    attached to a handler, it covers every logger's records, the libraries' included."""

    def __init__(self, lookup: Callable[[], str | None]) -> None:
        super().__init__()
        self._lookup = lookup

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            try:
                record.request_id = self._lookup()
            except Exception:  # noqa: BLE001 - a log line must never fail for want of context
                record.request_id = None
        return True
