"""The node's `GET /v0/logs` in-process, over a generated log, and its log settings."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
import requests

from node_agent.config import ConfigError, parse_config
from node_agent.logs import LOG_FILE_NAME, LogQueries, configure_file_logging, serving
from node_agent.server import NodeServer, make_server
from structured_logs import parse_query, run_query
from tests.support.log_lines import realistic, write_log

TOKEN = "router-issued-token-1"
REQUIRED_ENV = {"LLM_NODE_ROUTER_URL": "http://router:8080", "LLM_NODE_API_KEY": "node-key"}
START = datetime(2026, 12, 3, 9, 0, tzinfo=timezone.utc).timestamp()


@pytest.fixture()
def node(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    log_dir = tmp_path / ".logs"
    write_log(log_dir / LOG_FILE_NAME, realistic(2000, START), 700)
    server: NodeServer = make_server("127.0.0.1", 0, lambda: TOKEN, dict, lambda: None,
                                     logs=LogQueries(log_dir)).start()
    try:
        yield f"http://127.0.0.1:{server.port}", log_dir / LOG_FILE_NAME
    finally:
        server.stop()


def get(url: str, params: dict, token: str | None = TOKEN) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.get(f"{url}/v0/logs", params=params, headers=headers, timeout=10)


def test_needs_the_router_token(node):
    url, _path = node
    assert get(url, {}, token=None).status_code == 401
    assert get(url, {}, token="someone else").status_code == 401


def test_query_string_parameters_are_the_query(node):
    url, path = node
    conditions = [{"field": "message", "op": "regex", "value": r"node gpu-\d failed"},
                  {"field": "logger", "op": "not_contains", "value": "gunicorn"}]
    body = {"level": "warning", "since": "2026-12-03T09:00:05Z", "match": "all", "limit": 25}
    response = get(url, {**body, "conditions": json.dumps(conditions)})
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer == run_query(path, parse_query({**body, "conditions": conditions})).as_dict()
    assert len(answer["lines"]) == 25 and answer["next_cursor"]
    assert all(line["level"] in ("warning", "error") and "failed" in line["message"] for line in answer["lines"])
    following = get(url, {**body, "conditions": json.dumps(conditions), "cursor": answer["next_cursor"]}).json()
    assert following["lines"][0]["at"] <= answer["lines"][-1]["at"] and following["lines"] != answer["lines"]


@pytest.mark.parametrize(("params", "param"), [
    ({"conditions": "[{"}, "conditions"),
    ({"conditions": json.dumps([{"field": "message", "op": "regex", "value": "a)"}])}, "conditions[0].value"),
    ({"level": "chatty"}, "level"),
    ({"limit": "many"}, "limit"),
    ({"level": ["info", "error"]}, "level"),  # sent twice
])
def test_a_bad_query_is_400_naming_the_parameter(node, params: dict, param: str):
    url, _path = node
    response = get(url, params)
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["param"], error["code"]) == (param, "invalid_query")


def test_a_node_without_logs_answers_404(tmp_path: Path):
    server = make_server("127.0.0.1", 0, lambda: TOKEN, dict, lambda: None).start()
    try:
        assert get(f"http://127.0.0.1:{server.port}", {}).status_code == 404
    finally:
        server.stop()


def test_log_settings(tmp_path: Path):
    config = parse_config(["--models-dir", str(tmp_path / "models")], REQUIRED_ENV)
    assert Path(config.log_dir) == tmp_path / "models" / ".logs"  # a dot name: the model store ignores it
    assert (config.log_file_bytes, config.log_file_count) == (10 * 1024 * 1024, 5)
    config = parse_config(["--log-dir", str(tmp_path / "logs")], {**REQUIRED_ENV, "LLM_NODE_LOG_FILE_BYTES": "4096",
                                                                  "LLM_NODE_LOG_FILE_COUNT": "3"})
    assert (config.log_dir, config.log_file_bytes, config.log_file_count) == (str(tmp_path / "logs"), 4096, 3)
    with pytest.raises(ConfigError, match="LLM_NODE_LOG_FILE_COUNT"):
        parse_config(["--log-file-count", "1"], REQUIRED_ENV)
    with pytest.raises(ConfigError, match="LLM_NODE_LOG_FILE_BYTES"):
        parse_config([], {**REQUIRED_ENV, "LLM_NODE_LOG_FILE_BYTES": "ten"})


def test_records_carry_the_request_id_being_served(tmp_path: Path):
    handler = configure_file_logging(tmp_path, 1024 * 1024, 2)
    logger = logging.getLogger("tests.node_agent.logs")
    logger.setLevel(logging.INFO)
    try:
        with serving("0123abcd"):
            logger.warning("inside")
        with serving("bad id\nforged"):
            logger.warning("refused id")
        logger.warning("outside")
    finally:
        logging.getLogger().removeHandler(handler)
        handler.close()
    lines = run_query(tmp_path / LOG_FILE_NAME, parse_query({})).lines
    assert [(line["message"], line["request_id"]) for line in lines] == [
        ("outside", None), ("refused id", None), ("inside", "0123abcd")]
