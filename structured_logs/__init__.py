"""Structured log files: one JSON object per line, bounded rotating files, and a query engine over them.

A small library in its own right, shared by the router (`app/`) and the node agent (`node_agent/`) the
way a third-party package would be: it imports neither, knows nothing of Flask, HTTP or translations,
and both programs use it only through what this module exports. Keeping it apart is what lets the two
programs write the same format and answer the same queries without sharing any other code.

- `records`: the line format (`at`, `level`, `logger`, `request_id`, `message`) and the formatter and
  filter that write it;
- `files`: the rotating handler (several processes may write one file: gunicorn's workers) and the
  list of a log's files, newest first;
- `query`: validating a query (`parse_query`) and running it over the files (`run_query`), newest first,
  with cursor pages that stay valid while the files rotate underneath.
"""

from .files import log_files, rotating_handler
from .query import Page, Query, QueryError, parse_query, run_query
from .records import LEVELS, ContextFilter, JsonLineFormatter

__all__ = ["LEVELS", "ContextFilter", "JsonLineFormatter", "Page", "Query", "QueryError", "log_files",
           "parse_query", "rotating_handler", "run_query"]
