"""The pooled HTTP sessions to nodes' management endpoints (app/services/fleet/node_http.py), against
real servers on 127.0.0.1 and 127.0.0.2 (the whole 127.0.0.0/8 is this machine's loopback)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from app.services.fleet import node_http
from app.services.inference.node_client import deny_networks
from tests.support.json_server import JsonServer, Request


@pytest.fixture
def second_loopback() -> Iterator[tuple[str, list[Request]]]:
    """(URL, requests) of a server on 127.0.0.2, the address a deny list below covers."""
    try:
        server = JsonServer({"GET": lambda request: (200, b"")}, host="127.0.0.2")
    except OSError as exc:  # a system whose loopback is 127.0.0.1 only
        pytest.skip(f"cannot bind 127.0.0.2: {exc}")
    with server:
        yield server.url, server.requests


def test_one_session_per_deny_list():
    pool = node_http.NodeHttp()
    deny = deny_networks("169.254.0.0/16")
    first = pool.session(deny)
    assert pool.session(deny_networks("169.254.0.0/16")) is first
    assert pool.session(()) is not first
    pool.close()
    assert pool.session(deny) is not first  # closed sessions are not handed out again


def test_a_peer_in_the_deny_list_is_refused_after_connecting(second_loopback, node_server):
    url, requested = second_loopback
    session = node_http.NodeHttp().session(deny_networks("127.0.0.2/32"))
    with pytest.raises(requests.ConnectionError, match="LLM_ROUTER_NODE_DENY_NETWORKS"):
        session.get(f"{url}/v0/status", timeout=5)
    assert requested == []  # nothing was sent
    assert session.get(f"{node_server.url}/v0/status", timeout=5).status_code == 200  # 127.0.0.1 is not denied
    assert node_http.NodeHttp().session(()).get(f"{url}/v0/status", timeout=5).status_code == 200


def test_the_session_keeps_no_cookies(node_server):
    node_server.headers = {"Set-Cookie": "sid=from-a-node; Path=/"}
    session = node_http.NodeHttp().session(())
    first = session.get(f"{node_server.url}/v0/status", timeout=5)
    assert first.headers["Set-Cookie"].startswith("sid=")
    session.get(f"{node_server.url}/v0/status", timeout=5)
    assert len(session.cookies) == 0
    assert "Cookie" not in node_server.calls("GET")[1]
    assert node_server.calls("GET")[1]["User-Agent"] == "llm-router"


def test_the_environments_proxy_is_not_used(node_server, monkeypatch):
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")
    response = node_http.NodeHttp().session(()).get(f"{node_server.url}/v0/status", timeout=5)
    assert response.status_code == 200 and len(node_server.requests) == 1


def test_session_for_is_the_apps_pool(app):
    with app.app_context():
        deny = deny_networks("10.0.0.0/8")
        assert node_http.session_for(deny) is app.extensions["node_http"].session(deny)
