"""The router's log lines: one event, one line, whatever a client sent.

User names, node URLs, model ids and Hub answers reach log messages. A newline in one of them
would start a forged line ("... INFO app.access: admin signed in"), and terminal escape sequences
could rewrite what an operator sees. The formatter escapes control characters in the message
(not in a traceback, which is ours and multi-line by nature): `\\n` stays visible as `\\n`.
"""

from __future__ import annotations

import logging

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


def configure_logging(level: str) -> None:
    """Like `logging.basicConfig`: the root logger writes to standard error (gunicorn's error log,
    journald), one line per message; a host that set up logging itself (a test runner) keeps its own."""
    root = logging.getLogger()
    if root.handlers:
        return
    handler = logging.StreamHandler()
    handler.setFormatter(OneLineFormatter(LOG_FORMAT))
    root.addHandler(handler)
    root.setLevel(level)
