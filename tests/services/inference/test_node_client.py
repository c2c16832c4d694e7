"""Which node addresses the router may call, and the pooled client (app/services/inference/node_client.py)."""

from __future__ import annotations

import json

import pytest

from app.services.inference.node_client import (
    NodeConnections,
    NodeTarget,
    denied_addresses,
    deny_networks,
    is_denied,
    parse_node_url,
)

DENY = deny_networks("169.254.0.0/16,fe80::/10,10.0.0.0/8")


@pytest.mark.parametrize("url, host, port, path", [
    ("http://127.0.0.1:8090", "127.0.0.1", 8090, ""),
    ("https://node-1.internal", "node-1.internal", None, ""),
    ("http://gpu_box:80/agent/", "gpu_box", 80, "/agent/"),
    ("http://[::1]:8090", "::1", 8090, ""),
    ("http://node.example.:8090", "node.example.", 8090, ""),
])
def test_node_urls_that_are_understood(url, host, port, path):
    parts = parse_node_url(url)
    assert (parts.hostname, parts.port, parts.path) == (host, port, path)


@pytest.mark.parametrize("url", [
    "ftp://127.0.0.1", "127.0.0.1:8090", "http://user@127.0.0.1", "http://127.0.0.1/?q=1", "http://127.0.0.1/#x",
    "http://127.0.0.1:0", "http://127.0.0.1:65536", "http://127.0.0.1:port", "http://127.0.0.1/a/../b",
    "http://127.0.0.1/a b", "http://nödé", "http://[::1", "http://2852039166", "http://10.1", "http://0x7f.1",
    "http://-bad-.example", "http:///path", "http://127.0.0.1\\@evil",
])
def test_node_urls_that_are_refused(url):
    with pytest.raises(ValueError):
        parse_node_url(url)


def test_deny_networks_parse_and_name_a_bad_entry():
    assert [str(network) for network in deny_networks(" 169.254.0.0/16 ,, 10.1.2.3/8,fe80::/10")] == \
        ["169.254.0.0/16", "10.0.0.0/8", "fe80::/10"]
    assert deny_networks("") == ()
    with pytest.raises(ValueError, match="'10.0.0.0/33' is not a network"):
        deny_networks("169.254.0.0/16,10.0.0.0/33")


@pytest.mark.parametrize("address, denied", [
    ("169.254.169.254", True), ("10.9.8.7", True), ("fe80::1%eth0", True), ("::ffff:169.254.169.254", True),
    ("127.0.0.1", False), ("192.168.1.1", False), ("::1", False), ("not-an-ip", True),
])
def test_is_denied(address, denied):
    assert is_denied(address, DENY) is denied


@pytest.mark.parametrize("host, networks, expected", [
    ("169.254.169.254", DENY, ["169.254.169.254"]),  # an IP literal: no lookup
    ("127.0.0.1", DENY, []),
    ("localhost", deny_networks("127.0.0.0/8,::1/128"), "some"),  # resolved now (from the hosts file)
    ("localhost", DENY, []),
    ("x" * 64 + ".example", DENY, None),  # a label too long to look up: does not resolve
])
def test_denied_addresses(host, networks, expected):
    found = denied_addresses(host, 80, networks)
    if expected == "some":
        assert found and all(address in ("127.0.0.1", "::1") for address in found)
    else:
        assert found == expected


def test_node_targets():
    target = NodeTarget.of("id", "box", "https://[::1]/agent/", "secret")
    assert (target.scheme, target.host, target.port, target.base_path) == ("https", "::1", 443, "/agent")
    assert (target.host_header, target.authorization, target.key) == \
        ("[::1]:443", "Bearer secret", ("https", "::1", 443))
    assert NodeTarget.of("id", "box", "http://127.0.0.1", "t").port == 80
    with pytest.raises(ValueError, match="DENY_NETWORKS"):
        NodeTarget.of("id", "box", "http://169.254.169.254:8090", "t", DENY)


def test_a_post_reaches_the_node_with_the_routers_token(node_server):
    connections = NodeConnections(2.0, 5.0)
    target = NodeTarget.of("id", "box", f"{node_server.url}/agent", "node-token")
    exchange = connections.post(target, "/v1/chat/completions", b'{"model": "m"}')
    answer = json.loads(exchange.response.read())
    exchange.finish(complete=True)
    connections.close()
    assert exchange.response.status == 200 and answer["version"] == "0.1.0"
    verb, path, headers = node_server.requests[0]
    assert (verb, path, headers["Authorization"], headers["Content-Length"]) == \
        ("POST", "/agent/v1/chat/completions", "Bearer node-token", "14")
