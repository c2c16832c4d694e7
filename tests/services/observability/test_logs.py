"""The router's log query service (app/services/observability/logs.py), called directly: the router's own
file in the instance folder (generated lines, rotated files) queried by level, time, conditions and cursor;
its checks with the place of a mistake named; and a node's page asked for and reshaped. The engine itself is
tests/structured_logs'; the HTTP side, with its refusals, tests/api_v0/test_logs.py's."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from app.errors import ApiError
from app.services.observability import logs
from structured_logs.query import Cursor
from tests.support.json_server import JsonServer, Request
from tests.support.log_lines import Spec, write_log
from tests.support.rows import add_node

START = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)
NODE_CURSOR = Cursor(2049, 131, 4096).encode()  # a cursor as a node gives them out
LOGGER = "tests.generated"  # only this module's lines: anything the app logs meanwhile is left out
LEVELS = (logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR)
MESSAGES = ("node gpu-1 failed (Connection refused)", "node gpu-2 is online again", "loaded qwen3-0.6b in 1.5 s")
# One line a minute for 30 minutes, in three files of ten: #0 (oldest) .. #29 (newest).
SPECS = [Spec((START + timedelta(minutes=index)).timestamp(), LEVELS[index % 4],
              f"{LOGGER}.{'relay' if index % 2 else 'polling'}", f"#{index} {MESSAGES[index % 3]}",
              f"{index:032x}" if index % 5 == 0 else None) for index in range(30)]


@pytest.fixture
def router_log(app) -> Iterator[Path]:
    """The router's log, as its rotating handler leaves it: router.log newest, router.log.1, router.log.2."""
    with app.app_context():
        path = logs.router_log_path()
        assert write_log(path, SPECS, 10) == 3
        yield path


def numbers(lines: list[dict[str, Any]]) -> list[int]:
    """The generated lines' numbers, in the order given."""
    return [int(line["message"].split()[0][1:]) for line in lines if line["logger"].startswith(LOGGER)]


def every(body: dict[str, Any]) -> list[int]:
    """Every matching line's number, following the cursors to the end."""
    found, cursor = [], None
    while True:
        page = logs.query({**body, **({"cursor": cursor} if cursor else {})})
        found += numbers(page["lines"])
        cursor = page["next_cursor"]
        if cursor is None:
            return found


def expected(keep) -> list[int]:
    return [index for index in reversed(range(30)) if keep(index)]


def refusal(call, *args) -> ApiError:
    with pytest.raises(ApiError) as refused:
        call(*args)
    return refused.value


def test_the_router_log_is_in_the_instance_folder(app, router_log: Path):
    assert router_log == Path(app.instance_path) / "logs" / "router.log"
    assert every({}) == every({"source": "router"}) == expected(lambda index: True)  # newest first, all three files


def test_a_page_of_lines(router_log: Path):
    page = logs.query({"limit": 5})
    assert numbers(page["lines"]) == [29, 28, 27, 26, 25] and page["next_cursor"]
    line = next(line for line in page["lines"] if line["message"].startswith("#25 "))
    assert line == {"at": "2026-11-02T09:25:00.000Z", "level": "info", "logger": f"{LOGGER}.relay",
                    "message": "#25 node gpu-2 is online again", "request_id": f"{25:032x}"}


def test_level_is_a_minimum(router_log: Path):
    assert every({"level": "warning"}) == expected(lambda index: index % 4 >= 2)
    assert every({"level": "error"}) == expected(lambda index: index % 4 == 3)


def test_time_range_since_inclusive_until_exclusive(router_log: Path):
    window = {"since": "2026-11-02T09:08:00Z", "until": "2026-11-02T09:21:00Z"}
    assert every(window) == expected(lambda index: 8 <= index < 21)  # across the three files


def test_conditions_all_and_any(router_log: Path):
    failed = {"field": "message", "op": "contains", "value": "GPU-1 FAILED"}
    relay = {"field": "logger", "op": "contains", "value": ".relay"}
    assert every({"conditions": [failed]}) == expected(lambda index: index % 3 == 0)
    assert every({"conditions": [failed, relay]}) == expected(lambda index: index % 3 == 0 and index % 2)
    assert every({"match": "any", "conditions": [failed, relay]}) == \
        expected(lambda index: index % 3 == 0 or index % 2)
    loaded = {"field": "message", "op": "regex", "value": r"^#\d+ loaded \w+"}
    assert every({"level": "warning", "conditions": [{**loaded, "op": "not_regex"}]}) == \
        expected(lambda index: index % 4 >= 2 and index % 3 != 2)


def test_cursor_pages_neither_overlap_nor_lose_lines(router_log: Path):
    pages, cursor = [], None
    while True:
        page = logs.query({"limit": 4, "level": "info", **({"cursor": cursor} if cursor else {})})
        pages.append(numbers(page["lines"]))
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [number for page in pages for number in page] == expected(lambda index: index % 4 >= 1)
    assert len(pages) >= 6  # 22 lines, four a page


def test_a_mistake_is_a_400_naming_its_place():
    bad_regex = refusal(logs.validate, {"conditions": [{"field": "any", "op": "contains", "value": "x"},
                                                       {"field": "message", "op": "regex", "value": "node [gpu"}]})
    assert (bad_regex.status, bad_regex.code, bad_regex.param) == (400, "invalid_query", "conditions[1].value")
    assert "character 6" in bad_regex.message
    assert refusal(logs.validate, {"limit": 0}, "query.").param == "query.limit"  # a saved filter's query
    assert refusal(logs.validate, ["router"], "query.").param == "query"  # not an object: the whole of it
    assert refusal(logs.validate, ["router"]).param is None
    assert refusal(logs.validate, {"source": "router"}, "", ()).param == "source"  # not allowed there
    assert logs.validate({"source": "gpu-1"}).normalized["level"] == "debug"


def test_the_source_is_the_router_unless_a_node_is_named():
    assert logs.source_of({}) == logs.source_of(["x"]) == "router"
    assert logs.source_of({"source": "0123456789abcdef"}) == "0123456789abcdef"
    for bad in (7, "", "x" * 65, None):
        refused = refusal(logs.source_of, {"source": bad})
        assert (refused.status, refused.param) == (400, "source")


def test_a_node_is_sent_the_query_as_parameters():
    parsed = logs.validate({"level": "warning", "since": "2026-11-02T09:00:00+00:00", "match": "any", "limit": 5,
                            "conditions": [{"field": "message", "op": "contains", "value": "café"}]})
    assert logs.node_parameters(parsed, "abc") == {
        "level": "warning", "match": "any", "limit": "5", "since": "2026-11-02T09:00:00Z", "cursor": "abc",
        "conditions": '[{"field": "message", "op": "contains", "value": "café"}]'}
    assert logs.node_parameters(logs.validate({}), None) == {"level": "debug", "match": "all", "limit": "200",
                                                            "conditions": "[]"}
    assert "cursor" not in logs.node_parameters(parsed, "") and "cursor" not in logs.node_parameters(parsed, 5)


class LogNode:
    """A node's `GET /v0/logs` that answers what the test sets in `answer`."""

    def __init__(self) -> None:
        self.answer: tuple[int, Any] = (200, {"lines": [], "next_cursor": None})
        self.server = JsonServer({"GET /v0/logs": self._logs}).start()

    def _logs(self, request: Request) -> tuple[int, Any]:
        return self.answer

    def parameters(self) -> dict[str, list[str]]:
        return parse_qs(urlsplit(self.server.requests[-1].path).query)


@pytest.fixture
def log_node(app) -> Iterator[tuple[LogNode, str, str]]:
    """The imitation, and the id and token of the node registered at its address."""
    node = LogNode()
    try:
        with app.app_context():
            row = add_node("log-node", url=node.server.url)
            yield node, row.id, row.token
    finally:
        node.server.stop()


def test_a_nodes_page_is_passed_on_with_only_the_documented_keys(log_node):
    node, node_id, token = log_node
    line = {"at": "2026-11-02T09:00:00.000Z", "level": "error", "logger": "node_agent.downloader",
            "message": "disk full", "request_id": "ab" * 16}
    following = Cursor(2049, 131, 1024).encode()
    node.answer = (200, {"lines": [{**line, "host": "gpu-1"}, {**line, "request_id": 7}], "next_cursor": following,
                         "scanned_bytes": 123})
    page = logs.query({"source": node_id, "level": "error", "limit": 2, "cursor": NODE_CURSOR,
                       "conditions": [{"field": "message", "op": "contains", "value": "disk"}]})
    assert page == {"lines": [line, {**line, "request_id": None}], "next_cursor": following}
    assert node.server.requests[-1].headers["Authorization"] == f"Bearer {token}"
    assert node.parameters() == {"level": ["error"], "match": ["all"], "limit": ["2"], "cursor": [NODE_CURSOR],
                                 "conditions": ['[{"field": "message", "op": "contains", "value": "disk"}]']}


def test_a_nodes_refusal_is_passed_on_as_a_400(log_node):
    node, node_id, _token = log_node
    node.answer = (400, {"error": {"message": "'cursor' is not a cursor this log gave out.",
                                   "type": "invalid_request_error", "param": "cursor", "code": "invalid_query"}})
    refused = refusal(logs.query, {"source": node_id, "cursor": NODE_CURSOR})  # well formed, not the node's
    assert (refused.status, refused.code, refused.param) == (400, "invalid_query", "cursor")
    assert refused.message == "'cursor' is not a cursor this log gave out."


@pytest.mark.parametrize("answer", [
    (200, {"lines": "none"}),
    (200, {"lines": [{"at": "2026-11-02T09:00:00.000Z", "level": "info", "logger": "x"}]}),  # no message
    (200, {"lines": [], "next_cursor": "c" * 257}),
    (200, []),
    (500, {"error": {"message": "boom"}}),
], ids=["lines not a list", "a line without its message", "an overlong cursor", "not an object", "HTTP 500"])
def test_anything_but_a_page_is_a_502_naming_the_node(log_node, answer):
    node, node_id, _token = log_node
    node.answer = answer
    refused = refusal(logs.query, {"source": node_id})
    assert (refused.status, refused.code) == (502, "node_bad_answer") and "log-node" in refused.message
