"""The query engine on generated logs, checked against a plain Python filter over the same records."""

from __future__ import annotations

import logging
import re
from datetime import datetime, timezone
from pathlib import Path

import pytest

from structured_logs import QueryError, parse_query, rotating_handler, run_query
from structured_logs.records import format_at
from tests.support.log_lines import Spec, realistic, write_log

START = datetime(2026, 12, 3, 9, 0, tzinfo=timezone.utc).timestamp()
LEVELS = (logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR, logging.INFO, logging.DEBUG, logging.CRITICAL)
LOGGERS = ("app.services.inference.relay", "app.services.fleet.polling", "node_agent.downloader")
RANK = {"debug": 10, "info": 20, "warning": 30, "error": 40}


def _message(index: int) -> str:
    kind = index % 6
    if kind == 0:
        return f"#{index} node gpu-{index % 4} failed (Connection refused); cooling it down for 5 s"
    if kind == 1:
        return f"#{index} 127.0.0.1 \"POST /v1/chat/completions HTTP/1.1\" 200 in {index % 97} ms"
    if kind == 2:
        return f"#{index} ノード gpu-{index % 4} がオフラインです"
    if kind == 3:
        return f"#{index} Status poll TIMED OUT\nsecond line with a \\ backslash"
    if kind == 4:
        return f"#{index} loaded qwen3-0.6b with ctranslate2 in 1.5 s"
    return f"#{index} request history: removed {index} request(s)"


SPECS = [Spec(START + index * 0.5, LEVELS[index % len(LEVELS)], LOGGERS[index % 7 % 3], _message(index),
              f"{index:032x}" if index % 5 == 0 else None) for index in range(3000)]


@pytest.fixture(scope="module")
def log_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("logs") / "router.log"
    assert write_log(path, SPECS, 1000) == 3  # router.log, router.log.1, router.log.2
    return path


def _level(spec: Spec) -> str:
    return logging.getLevelName(spec.level).lower()


def expected(keep) -> list[str]:
    """Messages of the records `keep` accepts, newest first."""
    return [spec.message for spec in reversed(SPECS) if keep(spec)]


def run_all(path: Path, body: dict) -> list[str]:
    """Every matching message, following cursors page by page."""
    messages: list[str] = []
    cursor = None
    for _page in range(10_000):
        page = run_query(path, parse_query({**body, **({"cursor": cursor} if cursor else {})}))
        messages += [line["message"] for line in page.lines]
        cursor = page.next_cursor
        if cursor is None:
            return messages
    raise AssertionError("the cursor never ended")


def test_level_is_a_minimum(log_path: Path):
    assert run_all(log_path, {"level": "warning", "limit": 1000}) == expected(lambda s: s.level >= logging.WARNING)
    assert run_all(log_path, {"level": "error", "limit": 1000}) == expected(lambda s: s.level >= logging.ERROR)


def test_lines_have_the_documented_shape(log_path: Path):
    line = run_query(log_path, parse_query({"limit": 1})).lines[0]
    newest = SPECS[-1]
    assert line == {"at": format_at(newest.created), "level": _level(newest), "logger": newest.logger,
                    "message": newest.message, "request_id": newest.request_id}
    with_id = run_query(log_path, parse_query({"limit": 6})).lines
    assert [entry["request_id"] for entry in with_id] == [spec.request_id for spec in reversed(SPECS[-6:])]


def test_time_range_since_inclusive_until_exclusive(log_path: Path):
    since, until = SPECS[1200].created, SPECS[1900].created
    body = {"since": format_at(since), "until": format_at(until), "limit": 1000}
    assert run_all(log_path, body) == expected(lambda s: since <= s.created < until)


def test_contains_ignores_case_in_both_scripts(log_path: Path):
    condition = {"field": "message", "op": "contains", "value": "status POLL timed out"}
    assert run_all(log_path, {"conditions": [condition], "limit": 1000}) == \
        expected(lambda s: "status poll timed out" in s.message.lower())
    japanese = {"field": "message", "op": "contains", "value": "オフライン"}
    assert run_all(log_path, {"conditions": [japanese], "limit": 1000}) == expected(lambda s: "オフライン" in s.message)
    quoted = {"field": "message", "op": "contains", "value": '"post /v1'}
    assert run_all(log_path, {"conditions": [quoted], "limit": 1000}) == expected(lambda s: '"POST /v1' in s.message)


def test_regex_and_negations(log_path: Path):
    pattern = r"gpu-[13] (failed|がオフライン)"
    regex = {"field": "message", "op": "regex", "value": pattern}
    assert run_all(log_path, {"conditions": [regex], "limit": 500}) == \
        expected(lambda s: re.search(pattern, s.message) is not None)
    not_regex = {**regex, "op": "not_regex"}
    assert run_all(log_path, {"conditions": [not_regex], "limit": 1000}) == \
        expected(lambda s: re.search(pattern, s.message) is None)
    not_contains = {"field": "logger", "op": "not_contains", "value": "FLEET"}
    assert run_all(log_path, {"conditions": [not_contains], "limit": 1000}) == \
        expected(lambda s: "fleet" not in s.logger)


def test_all_versus_any(log_path: Path):
    conditions = [{"field": "logger", "op": "contains", "value": "relay"},
                  {"field": "message", "op": "regex", "value": r"in \d ms"}]
    both = lambda s: "relay" in s.logger and re.search(r"in \d ms", s.message)  # noqa: E731
    either = lambda s: "relay" in s.logger or re.search(r"in \d ms", s.message)  # noqa: E731
    assert run_all(log_path, {"match": "all", "conditions": conditions, "level": "debug"}) == expected(both)
    assert run_all(log_path, {"match": "any", "conditions": conditions, "level": "info"}) == \
        expected(lambda s: either(s) and s.level >= logging.INFO)
    assert expected(both) and len(expected(either)) > len(expected(both))


def test_field_any_searches_the_request_id_too(log_path: Path):
    wanted = SPECS[1500].request_id
    condition = {"field": "any", "op": "contains", "value": wanted}
    assert run_all(log_path, {"conditions": [condition]}) == [SPECS[1500].message]


def test_cursor_pages_neither_overlap_nor_lose_lines(log_path: Path):
    everything = expected(lambda s: True)
    for limit in (7, 1000):  # pages inside one file, and pages spanning the files' boundaries
        assert run_all(log_path, {"limit": limit}) == everything
    first = run_query(log_path, parse_query({"limit": 999}))
    assert len(first.lines) == 999 and first.next_cursor


def test_cursor_survives_rotation(tmp_path: Path):
    path = tmp_path / "logs" / "app.log"
    handler = rotating_handler(path, 4096, 50)
    logger = logging.getLogger("tests.structured_logs.rotation")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        for index in range(200):
            logger.info("line %04d", index)
        first = run_query(path, parse_query({"limit": 50}))
        for index in range(200, 400):  # rotates several times before the next page is asked for
            logger.info("line %04d", index)
        assert len(list(path.parent.glob("app.log.*"))) > 3
        rest, cursor = [], first.next_cursor
        while cursor:
            page = run_query(path, parse_query({"limit": 30, "cursor": cursor}))
            rest += [line["message"] for line in page.lines]
            cursor = page.next_cursor
    finally:
        logger.removeHandler(handler)
        handler.close()
    assert [line["message"] for line in first.lines] == [f"line {index:04d}" for index in range(199, 149, -1)]
    assert rest == [f"line {index:04d}" for index in range(149, -1, -1)]


def test_invalid_regex_names_the_condition_and_the_position():
    conditions = [{"field": "message", "op": "contains", "value": "x"},
                  {"field": "message", "op": "regex", "value": "node (gpu-1"}]
    with pytest.raises(QueryError) as caught:
        parse_query({"conditions": conditions})
    assert caught.value.param == "conditions[1].value"
    assert caught.value.reason == "regex" and caught.value.details["problem"] == "missing )"
    assert caught.value.details["position"] == len("node (gpu-1") + 1  # where the ")" is missing
    assert "character 12" in caught.value.message
    with pytest.raises(QueryError) as caught:
        parse_query({"conditions": [{"field": "message", "op": "regex", "value": "ok [a-"}]})
    assert caught.value.details["position"] == 4  # "[a-" starts at the fourth character


def test_pathological_regex_answers(tmp_path: Path):
    path = tmp_path / "router.log"
    write_log(path, [Spec(START, logging.INFO, "x", "a" * 30_000 + "!"), Spec(START + 1, logging.INFO, "x", "aaa")], 10)
    page = run_query(path, parse_query({"conditions": [{"field": "message", "op": "regex", "value": "(a+)+$"}]}))
    assert [line["message"] for line in page.lines] == ["aaa"]


@pytest.mark.parametrize(("body", "param"), [
    ({"level": "loud"}, "level"),
    ({"since": "yesterday"}, "since"),
    ({"until": 5}, "until"),
    ({"match": "some"}, "match"),
    ({"conditions": {}}, "conditions"),
    ({"conditions": ["x"]}, "conditions[0]"),
    ({"conditions": [{"field": "host", "op": "contains", "value": "x"}]}, "conditions[0].field"),
    ({"conditions": [{"field": "message", "op": "equals", "value": "x"}]}, "conditions[0].op"),
    ({"conditions": [{"field": "message", "op": "contains", "value": ""}]}, "conditions[0].value"),
    ({"conditions": [{"field": "message", "op": "contains", "value": "x", "case": 1}]}, "conditions[0].case"),
    ({"limit": 0}, "limit"),
    ({"limit": 1001}, "limit"),
    ({"limit": True}, "limit"),
    ({"cursor": "not a cursor"}, "cursor"),
    ({"source": "router"}, "source"),  # only callers that allow it (the router) may add keys
])
def test_invalid_queries_name_the_parameter(body: dict, param: str):
    with pytest.raises(QueryError) as caught:
        parse_query(body)
    assert caught.value.param == param


def test_a_cursor_into_a_deleted_file_ends_the_listing(tmp_path: Path):
    path = tmp_path / "router.log"
    write_log(path, SPECS[:100], 40)
    page = run_query(path, parse_query({"limit": 70}))  # ends in router.log.1
    path.with_name("router.log.1").unlink()
    path.with_name("router.log.2").unlink()
    assert run_query(path, parse_query({"cursor": page.next_cursor})).lines == []


@pytest.mark.parametrize("condition", [
    {"field": "message", "op": "regex", "value": r'"POST /v1/chat/completions HTTP/1\.1" 200'},
    {"field": "message", "op": "regex", "value": r"^node gpu-[12] failed"},
    {"field": "message", "op": "regex", "value": r"\bcooling\b.*5 s$"},
    {"field": "message", "op": "regex", "value": r"deadlock in worker \d+"},
    {"field": "message", "op": "regex", "value": r"^admin signed in from 192\.168\.1\.1\d$"},
    {"field": "any", "op": "regex", "value": r"^app\.access$"},
    {"field": "any", "op": "regex", "value": r"^$"},  # a line without a request id has "" there
    {"field": "any", "op": "regex", "value": r"^(admin|[0-9a-f]{3}0)"},
    {"field": "logger", "op": "regex", "value": r"^app\.services\.(inference|fleet)"},
    {"field": "logger", "op": "regex", "value": r"\.error$"},
    {"field": "any", "op": "regex", "value": r"fleet\.polling|[0-9a-f]{30}ff"},
    {"field": "logger", "op": "regex", "value": r"(?i)HUB_stats"},
    {"field": "message", "op": "contains", "value": "Connection REFUSED"},
])
def test_whole_block_shortcuts_agree_with_a_line_by_line_filter(tmp_path: Path, condition: dict):
    """On lines whose only escapes are quoted quotes (access lines), blocks are judged whole first; the result
    must be what a plain filter of every message gives."""
    specs = list(realistic(6000, START))
    path = tmp_path / "router.log"
    write_log(path, specs, 2500)
    assert b'\\"' in path.read_bytes()
    flags = re.IGNORECASE if condition["op"] == "contains" else 0
    pattern = re.escape(condition["value"]) if condition["op"] == "contains" else condition["value"]
    pattern = pattern.replace("(?i)", "")
    flags |= re.IGNORECASE if "(?i)" in condition["value"] else 0

    def keep(spec: Spec) -> bool:
        values = {"message": [spec.message], "logger": [spec.logger],
                  "any": [spec.message, spec.logger, spec.request_id or ""]}[condition["field"]]
        return any(re.search(pattern, value, flags) for value in values)

    wanted = [spec.message for spec in reversed(specs) if keep(spec) and spec.level >= logging.INFO]
    assert run_all(path, {"level": "info", "conditions": [condition], "limit": 1000}) == wanted
