"""The router's log lines: one event, one line, whatever a client sent.

User names, node URLs, model ids and Hub answers reach log messages. A newline in one of them
would start a forged line ("... INFO app.access: admin signed in"), and terminal escape sequences
could rewrite what an operator sees. The formatter escapes control characters in the message
(not in a traceback, which is ours and multi-line by nature): `\\n` stays visible as `\\n`.

The same records also go, as JSON lines (`structured_logs`), to `instance/logs/router.log`, rotated at
LLM_ROUTER_LOG_FILE_BYTES and kept to LLM_ROUTER_LOG_FILE_COUNT files, for `POST /v0/logs/query`. A
record made while serving a `/v1` request carries its request id (`g.request_id`), whichever logger
made it: the filter sits on the file handler.
"""

from __future__ import annotations

import logging
from pathlib import Path

from flask import g, has_app_context

from structured_logs import ContextFilter, rotating_handler

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# C0 and C1 controls, DEL, and the Unicode line and paragraph separators; tab stays as it is.
_ESCAPES = {code: f"\\x{code:02x}" for code in [*range(0x00, 0x20), *range(0x7f, 0xa0)] if code != 0x09}
_ESCAPES.update({0x0a: "\\n", 0x0d: "\\r", 0x2028: "\\u2028", 0x2029: "\\u2029"})


def escape_controls(text: str) -> str:
    return text.translate(_ESCAPES)


class OneLineFormatter(logging.Formatter):
    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
        record.message = escape_controls(record.message)
        return super().formatMessage(record)


LOG_FILE_NAME = "router.log"
_file_handler: logging.Handler | None = None
_file_path: Path | None = None


def current_request_id() -> str | None:
    """The id of the `/v1` request being served (set by observability.recording), else None."""
    if not has_app_context():
        return None
    request_id = g.get("request_id")
    return request_id if isinstance(request_id, str) else None


def log_file(log_dir: str | Path) -> Path:
    return Path(log_dir) / LOG_FILE_NAME


def configure_logging(level: str, log_dir: str | Path | None = None, max_bytes: int = 10 * 1024 * 1024,
                      count: int = 5) -> None:
    """Like `logging.basicConfig`: the root logger writes to standard error (gunicorn's error log,
    journald), one line per message; a host that set up logging itself (a test runner) keeps its own.

    With `log_dir`, the root logger also writes JSON lines to `<log_dir>/router.log`. One such file per
    process: an app made later with another folder (tests make many) takes the handler over, so records
    never go to a previous app's folder."""
    global _file_handler, _file_path
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(OneLineFormatter(LOG_FORMAT))
        root.addHandler(handler)
        root.setLevel(level)
    if log_dir is None:
        return
    path = log_file(log_dir)
    if _file_handler is not None and _file_path == path:
        return
    file_handler = rotating_handler(path, max_bytes, count)
    file_handler.addFilter(ContextFilter(current_request_id))
    if _file_handler is not None:
        root.removeHandler(_file_handler)
        _file_handler.close()
    root.addHandler(file_handler)
    _file_handler, _file_path = file_handler, path
