"""The node's structured log: JSON lines in `<log dir>/node.log` (rotating), and `GET /v0/logs` over them.

The format, the rotation and the query engine are `structured_logs`' (the router uses the same), so the
router can pass a node's answer on as it is. `GET /v0/logs` takes the query as query-string parameters
(docs/protocol.md): `level`, `since`, `until`, `match`, `limit`, `cursor` as they are, and `conditions` as a
JSON list. Errors are the router's envelope with `param` naming the part, in English.

Inference requests carry the router's `X-Request-Id`; while one is served, every record made on its
thread carries that id (`serving`), so the router's request history and the node's log line up.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from structured_logs import ContextFilter, QueryError, parse_query, rotating_handler, run_query

__all__ = ["LOG_FILE_NAME", "LogQueries", "configure_file_logging", "serving"]

LOG_FILE_NAME = "node.log"
_REQUEST_ID = contextvars.ContextVar[str | None]("request_id", default=None)
_VALID_ID = re.compile(r"[A-Za-z0-9-]{1,64}")


@contextmanager
def serving(request_id: str | None) -> Iterator[None]:
    """Records made inside carry `request_id` (ignored unless 1 to 64 letters, digits or dashes)."""
    token = _REQUEST_ID.set(request_id if request_id and _VALID_ID.fullmatch(request_id) else None)
    try:
        yield
    finally:
        _REQUEST_ID.reset(token)


def configure_file_logging(log_dir: str | Path, max_bytes: int, count: int) -> logging.Handler:
    """Add the JSON-lines file to the root logger (beside standard error); returns the handler."""
    handler = rotating_handler(Path(log_dir) / LOG_FILE_NAME, max_bytes, count)
    handler.addFilter(ContextFilter(_REQUEST_ID.get))
    logging.getLogger().addHandler(handler)
    return handler


class QueryProblem(ValueError):
    def __init__(self, param: str | None, message: str) -> None:
        super().__init__(message)
        self.param = param
        self.message = message


class LogQueries:
    """Answers `GET /v0/logs` from the files in `log_dir`."""

    def __init__(self, log_dir: str | Path) -> None:
        self.path = Path(log_dir) / LOG_FILE_NAME

    def __call__(self, parameters: Mapping[str, list[str]]) -> dict[str, Any]:
        """`parameters` as `urllib.parse.parse_qs` gives them; raises QueryProblem for a bad query."""
        body: dict[str, Any] = {}
        for name, values in parameters.items():
            if len(values) != 1:
                raise QueryProblem(name, f"Send '{name}' once.")
            body[name] = values[0]
        if "conditions" in body:
            try:
                body["conditions"] = json.loads(body["conditions"])
            except ValueError:
                raise QueryProblem("conditions", "'conditions' must be a JSON list of conditions.") from None
        try:
            query = parse_query(body)
        except QueryError as exc:
            raise QueryProblem(exc.param, exc.message) from None
        return run_query(self.path, query).as_dict()
