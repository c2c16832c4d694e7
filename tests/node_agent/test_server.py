"""The node's HTTP layer in-process: who may call what (docs/protocol.md, "Router -> node")."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
import requests

from node_agent import __version__
from node_agent.agent import Agent
from node_agent.config import parse_config
from node_agent.server import NodeServer, make_server

TOKEN = "router-issued-token-1"


@dataclass
class Calls:
    """What the server asked of the agent, and the token it should accept (None: not registered)."""

    token: str | None = TOKEN
    syncs: int = 0
    status: dict = field(default_factory=lambda: {"version": __version__, "active_requests": 0, "models": [],
                                                  "metrics": {}})


@pytest.fixture()
def served() -> Iterator[tuple[str, Calls]]:
    calls = Calls()

    def on_sync() -> None:
        calls.syncs += 1

    server: NodeServer = make_server("127.0.0.1", 0, lambda: calls.token, lambda: calls.status, on_sync).start()
    try:
        yield f"http://127.0.0.1:{server.port}", calls
    finally:
        server.stop()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_envelope(response: requests.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["code"] == code and error["message"]


@pytest.mark.parametrize("headers", [{}, bearer("wrong"), bearer(TOKEN + "x"), {"Authorization": TOKEN},
                                     {"Authorization": f"Basic {TOKEN}"}, bearer("")],
                         ids=["missing", "wrong", "longer", "no-scheme", "basic", "empty"])
def test_status_and_sync_refuse_a_missing_or_wrong_token(served, headers) -> None:
    url, calls = served
    status = requests.get(f"{url}/v0/status", headers=headers, timeout=5)
    assert_envelope(status, 401, "invalid_token")
    assert status.json()["error"]["type"] == "authentication_error"
    assert status.headers["WWW-Authenticate"].startswith("Bearer")
    assert_envelope(requests.post(f"{url}/v0/sync", headers=headers, timeout=5), 401, "invalid_token")
    assert calls.syncs == 0


def test_status_and_sync_accept_the_router_token(served) -> None:
    url, calls = served
    status = requests.get(f"{url}/v0/status", headers=bearer(TOKEN), timeout=5)
    assert status.status_code == 200
    assert status.json() == calls.status
    sync = requests.post(f"{url}/v0/sync", headers=bearer(TOKEN), timeout=5)
    assert sync.status_code == 202
    assert calls.syncs == 1


def test_a_new_registration_replaces_the_token_at_once(served) -> None:
    url, calls = served
    calls.token = "router-issued-token-2"
    assert requests.get(f"{url}/v0/status", headers=bearer(TOKEN), timeout=5).status_code == 401
    assert requests.get(f"{url}/v0/status", headers=bearer("router-issued-token-2"), timeout=5).status_code == 200


def test_before_registration_nothing_but_health_answers(served) -> None:
    url, calls = served
    calls.token = None
    assert requests.get(f"{url}/v0/status", headers=bearer(TOKEN), timeout=5).status_code == 401
    assert requests.get(f"{url}/v0/status", headers={"Authorization": "Bearer None"}, timeout=5).status_code == 401
    assert requests.get(f"{url}/v0/health", timeout=5).status_code == 200


def test_health_needs_no_token_and_reveals_nothing(served) -> None:
    url, _ = served
    response = requests.get(f"{url}/v0/health", timeout=5)
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert requests.head(f"{url}/v0/health", timeout=5).status_code == 200
    assert_envelope(requests.post(f"{url}/v0/health", timeout=5), 405, "method_not_allowed")


def test_unknown_paths_are_401_without_the_token_and_404_with_it(served) -> None:
    url, _ = served
    for path in ("/v0/nothing", "/v1/nothing", "/v1/models", "/"):
        assert_envelope(requests.get(f"{url}{path}", timeout=5), 401, "invalid_token")
        assert_envelope(requests.post(f"{url}{path}", json={}, timeout=5), 401, "invalid_token")
        assert_envelope(requests.get(f"{url}{path}", headers=bearer(TOKEN), timeout=5), 404, "not_found")


def test_wrong_methods_and_oversized_bodies(served) -> None:
    url, calls = served
    response = requests.get(f"{url}/v0/sync", headers=bearer(TOKEN), timeout=5)
    assert_envelope(response, 405, "method_not_allowed")
    assert response.headers["Allow"] == "POST"
    assert_envelope(requests.post(f"{url}/v0/status", headers=bearer(TOKEN), timeout=5), 405, "method_not_allowed")
    big = requests.post(f"{url}/v0/sync", headers=bearer(TOKEN), data=b"x" * (2 * 1024 * 1024), timeout=5)
    assert_envelope(big, 413, "request_too_large")
    assert calls.syncs == 0


def test_keep_alive_connection_serves_many_requests(served) -> None:
    url, _ = served
    with requests.Session() as session:
        for _ in range(20):
            assert session.get(f"{url}/v0/status", headers=bearer(TOKEN), timeout=5).status_code == 200


def test_agent_status_has_the_protocol_shape(tmp_path) -> None:
    config = parse_config(["--router-url", "http://127.0.0.1:9", "--models-dir", str(tmp_path), "--platform",
                           "linux-cpu"], {"LLM_NODE_API_KEY": "k"})
    status = Agent(config).status()
    assert status["version"] == __version__ and status["active_requests"] == 0 and status["models"] == []
    metrics = status["metrics"]
    assert set(metrics) == {"cpu_percent", "memory_used_bytes", "memory_total_bytes", "gpus"}
    assert 0.0 <= metrics["cpu_percent"] <= 100.0
    assert 0 < metrics["memory_used_bytes"] < metrics["memory_total_bytes"]
    assert isinstance(metrics["gpus"], list)
