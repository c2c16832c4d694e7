"""The line format: one record, one line, whatever the message holds; a request id from the context."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from structured_logs import ContextFilter, parse_query, rotating_handler, run_query


def _logger(path: Path, lookup=lambda: None) -> tuple[logging.Logger, logging.Handler]:
    handler = rotating_handler(path, 1024 * 1024, 2)
    handler.addFilter(ContextFilter(lookup))
    logger = logging.getLogger(f"tests.structured_logs.{path.parent.name}")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    return logger, handler


def test_control_characters_never_start_a_line_or_reach_a_terminal(tmp_path: Path):
    path = tmp_path / "logs" / "router.log"
    logger, handler = _logger(path)
    hostile = 'admin\n{"at":"2026-01-01T00:00:00.000Z","level":"error"} \x1b[2J \x9b31m \u2028 \x7f "quoted" \\'
    try:
        logger.warning("user %s signed in", hostile)
    finally:
        logger.removeHandler(handler)
        handler.close()
    raw = path.read_bytes()
    assert raw.count(b"\n") == 1 and raw.endswith(b"\n")
    text = raw.decode()
    assert not any(char in text[:-1] for char in "\x1b\x9b\u2028\x7f\r")
    assert json.loads(raw)["message"] == f"user {hostile} signed in"
    (line,) = run_query(path, parse_query({})).lines
    assert line["message"] == f"user {hostile} signed in" and line["level"] == "warning"
    assert oct(path.stat().st_mode & 0o777) == oct(0o600)


def test_a_traceback_stays_in_its_record(tmp_path: Path):
    path = tmp_path / "logs" / "router.log"
    logger, handler = _logger(path, lambda: "abc123")
    try:
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            logger.exception("recording failed")
        logger.debug("after")
    finally:
        logger.removeHandler(handler)
        handler.close()
    lines = run_query(path, parse_query({})).lines
    assert [line["level"] for line in lines] == ["debug", "error"]
    assert lines[1]["message"].startswith("recording failed\nTraceback") and "RuntimeError: boom" in lines[1]["message"]
    assert {line["request_id"] for line in lines} == {"abc123"}
