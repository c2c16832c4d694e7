"""Security findings about nodes (issue 10: 4, 5, 6, 10, 11, 12, 16), each reproduced against the router.

Hostile or broken nodes are small HTTP servers on 127.0.0.1 (`StatusNode`); the router polls them
through `polling.poll_all()`, as its scheduler does. Addresses outside 127.0.0.1 appear only in
registrations that must be refused before any connection is tried.
"""

from __future__ import annotations

import json
import logging
import os
import stat
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select
from werkzeug.serving import make_server

from app.extensions import db
from app.database import Node, NodeModel, NodeSample
from app.services.fleet import polling
from node_agent.router_client import RouterClient, RouterRejected
from tests.support.factories import login_session, make_api_key
from tests.support.node_imitation import NodeImitation
from tests.support.status_node import StatusNode, node_body, status

MODEL = "qwen3-0.6b"  # a catalog id: registering it needs no Hub
MiB = 1024 * 1024


@pytest.fixture
def hostile() -> Iterator[Any]:
    started: list[StatusNode] = []

    def start() -> StatusNode:
        started.append(StatusNode())
        return started[-1]

    yield start
    for node in started:
        node.stop()


@pytest.fixture
def node_client(app):
    test_client = app.test_client()
    test_client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {make_api_key(app, ['node'], 'nodes')}"
    return test_client


def register(node_client, **overrides: Any) -> dict:
    response = node_client.post("/v0/nodes", json=node_body(**overrides))
    assert response.status_code in (200, 201), response.get_json()
    return response.get_json()


def poll(app) -> None:
    with app.app_context():
        polling.poll_all()


def refused(response, param: str) -> None:
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.get_json()["error"]["param"] == param


# --- 4: any node key could take over another node by registering its name again -------------------

def test_4_another_node_key_cannot_take_over_a_registered_name(app, client, node_client):
    victim = register(node_client, name="victim", url="http://127.0.0.1:10")
    attacker = app.test_client()
    attacker.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {make_api_key(app, ['node'], 'attacker')}"

    for headers in ({}, {"X-Node-Token": "guessed"}):
        taken = attacker.post("/v0/nodes", json=node_body(name="victim", url="http://127.0.0.1:11"), headers=headers)
        assert taken.status_code == 409, taken.get_json()
        assert taken.get_json()["error"]["code"] == "node_name_taken"
        assert "token" not in taken.get_json()
    record = client.get(f"/v0/nodes/{victim['id']}").get_json()
    assert record["url"] == "http://127.0.0.1:10"
    assert node_client.get(f"/v0/nodes/{victim['id']}/manifest",
                           headers={"X-Node-Token": victim["token"]}).status_code == 200

    # The node itself proves its name with its token (which it keeps); an admin may replace it.
    again = node_client.post("/v0/nodes", json=node_body(name="victim", url="http://127.0.0.1:12"),
                             headers={"X-Node-Token": victim["token"]})
    assert again.status_code == 200 and again.get_json()["id"] == victim["id"]
    assert again.get_json()["token"] == victim["token"]
    replaced = client.post("/v0/nodes", json=node_body(name="victim", url="http://127.0.0.1:13"))
    assert replaced.status_code == 200 and replaced.get_json()["id"] == victim["id"]
    assert replaced.get_json()["token"] != victim["token"]


@pytest.fixture
def served_router(app) -> Iterator[str]:
    """The `app` router on a real port, for the node agent's own client."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def test_4_a_restarted_agent_keeps_its_name_with_its_saved_registration(app, served_router, tmp_path, caplog):
    key = make_api_key(app, ["node"], "agents")
    state = tmp_path / "models" / ".router-registration.json"

    def agent(state_path) -> RouterClient:
        return RouterClient(served_router, key, lambda: node_body(name="worker"), timeout=(2, 5),
                            state_path=state_path)

    caplog.set_level(logging.DEBUG)
    first = agent(state)
    registration = first.register()
    first.close()
    assert stat.S_IMODE(os.stat(state).st_mode) == 0o600
    assert json.loads(state.read_text())["token"] == registration.token

    restarted = agent(state)  # a new process: only the file remembers
    assert restarted.register().node_id == registration.node_id
    restarted.close()

    stranger = agent(tmp_path / "elsewhere" / ".router-registration.json")
    with pytest.raises(RouterRejected) as refusal:
        stranger.register()
    stranger.close()
    assert refusal.value.status == 409 and refusal.value.code == "node_name_taken"
    assert registration.token not in caplog.text


# --- 5: one bad node URL made every /v1 request fail with 500 --------------------------------------

def test_5_a_node_url_with_a_bad_port_is_refused(client, node_client):
    first = register(node_client)
    for url in ("http://127.0.0.1:99999", "http://127.0.0.1:0", "http://127.0.0.1:http"):
        refused(node_client.post("/v0/nodes", json=node_body(url=url), headers={"X-Node-Token": first["token"]}),
                "url")
    assert client.get(f"/v0/nodes/{first['id']}").get_json()["url"] == "http://127.0.0.1:9"


def test_5_a_bad_stored_url_does_not_break_routing_for_other_models(app, client, node_client):
    assert client.post("/v0/models/register", json={"id": MODEL}).status_code == 201
    good = NodeImitation((MODEL,), name="good").start()
    try:
        good.token = register(node_client, name="good", url=good.url)["token"]
        poll(app)
        with app.app_context():  # as an older router may have stored it
            db.session.add(Node(id="b" * 32, name="old", url="http://127.0.0.1:99999", platform="linux-cpu",
                                engines=["llama_cpp"], token="t" * 32, online=True))
            db.session.add(NodeModel(node_id="b" * 32, model_id=MODEL, state="ready"))
            db.session.commit()
        body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 3}
        for _ in range(3):  # whichever node the balancer would try first
            answer = client.post("/v1/chat/completions", json=body)
            assert answer.status_code == 200, answer.get_data(as_text=True)
        unknown = client.post("/v1/chat/completions", json={**body, "model": "nope"})
        assert unknown.status_code == 404 and unknown.get_json()["error"]["code"] == "model_not_found"
    finally:
        good.stop()


# --- 6: server-side request forgery, with the answer read back --------------------------------------

def test_6_urls_that_are_not_a_plain_node_address_are_refused(node_client, hostile):
    page = hostile()
    for url in (f"{page.url}/internal/config#", f"{page.url}/internal/config?x=1", f"{page.url}/v0/status?",
                f"http://user:pw@127.0.0.1:{page.url.rsplit(':', 1)[1]}", f"{page.url}/a/../b",
                f"{page.url}\n/forged log line"):
        refused(node_client.post("/v0/nodes", json=node_body(url=url)), "url")
    assert page.requests == []


@pytest.mark.parametrize("url", [
    "http://169.254.169.254", "http://169.254.169.254:80/latest", "http://[fe80::1]:8090",
    "http://[::ffff:169.254.169.254]:80", "http://2852039166", "http://0xa9fea9fe", "http://0.0.0.0:8090",
])
def test_6_link_local_and_denied_networks_are_refused_before_any_connection(app, node_client, url):
    # Literal addresses (and numbers that a resolver would turn into them) are judged without a lookup or a
    # connection: the 400 comes from the registration's validation.
    refused(node_client.post("/v0/nodes", json=node_body(url=url)), "url")
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Node)) == 0


def test_6_the_deny_list_is_a_setting(app, node_client):
    app.config["NODE_DENY_NETWORKS"] = "127.0.0.0/8"
    refused(node_client.post("/v0/nodes", json=node_body(url="http://127.0.0.1:9")), "url")
    app.config["NODE_DENY_NETWORKS"] = ""
    register(node_client, url="http://[fe80::1]:8090")


def test_6_a_name_that_resolves_into_a_denied_network_is_refused_at_connection_time(app, client, node_client,
                                                                                   hostile):
    """A name resolved when the node registered may resolve elsewhere later: the address is checked again
    when the poller, the sync notifier and the inference proxy connect."""
    assert client.post("/v0/models/register", json={"id": MODEL}).status_code == 201
    page = hostile()
    imitation = NodeImitation((MODEL,), name="named").start()
    try:
        port = page.url.rsplit(":", 1)[1]
        register(node_client, name="page", url=f"http://localhost:{port}")
        imitation.token = register(node_client, name="named", url=f"http://localhost:{imitation.port}")["token"]
        poll(app)
        assert [path for _method, path, _headers in page.requests] == ["/v0/status"]
        body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 3}
        assert client.post("/v1/chat/completions", json=body).status_code == 200
        served = len(imitation.requests)

        app.config["NODE_DENY_NETWORKS"] = "127.0.0.0/8,::1/128"  # as if "localhost" now resolved there
        app.extensions["inference"].connections.close()  # no kept-alive connection: the next one is new
        app.extensions["inference"].table.invalidate()
        poll(app)
        assert len(page.requests) == 1
        assert client.get("/v0/nodes").get_json()["nodes"][1]["last_error"] == "unreachable"
        assert client.post("/v1/chat/completions", json=body).status_code >= 500
        assert len(imitation.requests) == served
    finally:
        imitation.stop()


def test_6_redirects_are_not_followed_and_only_protocol_fields_are_kept(app, client, node_client, hostile):
    target, redirecting, chatty = hostile(), hostile(), hostile()
    target.body = status(version="SECRET-FROM-TARGET")
    redirecting.status_code, redirecting.headers = 302, {"Location": f"{target.url}/internal/config"}
    chatty.body = {"version": {"secret": "SECRET-VERSION"}, "active_requests": 1, "internal": "SECRET-FIELD",
                   "models": [], "loaded_models": ["m1", {"secret": "SECRET-LOADED"}, 7],
                   "metrics": {"cpu_percent": 12.5, "aws_secret_access_key": "SECRET-METRIC",
                               "memory_used_bytes": 1, "memory_total_bytes": 2,
                               "gpus": [{"name": "L4", "utilization_percent": 3.0, "memory_used_bytes": 1,
                                         "memory_total_bytes": 2, "serial": "SECRET-GPU"}, "SECRET-ITEM"]}}
    moved = register(node_client, name="moved", url=redirecting.url)
    extra = register(node_client, name="chatty", url=chatty.url)
    poll(app)

    assert target.requests == []
    record = client.get(f"/v0/nodes/{moved['id']}").get_json()
    assert (record["failed_polls"], record["last_error"]) == (1, "unreachable")
    listing = client.get("/v0/nodes").get_data(as_text=True)
    assert "SECRET" not in listing
    chatty_record = client.get(f"/v0/nodes/{extra['id']}").get_json()
    assert chatty_record["metrics"] == {"cpu_percent": 12.5, "memory_used_bytes": 1, "memory_total_bytes": 2,
                                        "gpus": [{"name": "L4", "utilization_percent": 3.0,
                                                  "memory_used_bytes": 1, "memory_total_bytes": 2}]}
    assert chatty_record["loaded_models"] == ["m1"] and chatty_record["version"] == "0.1.0"


def test_6_a_failed_poll_says_only_unreachable(app, client, node_client, hostile):
    missing, not_json, closed = hostile(), hostile(), hostile()
    missing.status_code, missing.body = 404, {"error": "Not Found"}
    not_json.body = b"<html>admin console</html>"
    closed.stop()  # nothing listens there any more: connection refused
    ids = [register(node_client, name=name, url=node.url)["id"]
           for name, node in (("missing", missing), ("html", not_json), ("closed", closed))]
    poll(app)
    errors = [client.get(f"/v0/nodes/{node_id}").get_json()["last_error"] for node_id in ids]
    assert errors == ["unreachable"] * 3


# --- 10: node status of any size was stored; a deleted node's rows stayed --------------------------

def test_10_huge_statuses_are_not_stored_and_deleting_a_node_removes_its_rows(app, client, node_client, hostile):
    huge, bulky = hostile(), hostile()
    huge.body = status(metrics={"cpu_percent": 1.0, "junk": "x" * (5 * MiB)})
    bulky.body = status(metrics={"cpu_percent": 1.0, "junk": "x" * (MiB // 2)},
                        models=[{"id": MODEL, "state": "downloading", "downloaded_bytes": 1, "total_bytes": 2}])
    huge_id = register(node_client, name="huge", url=huge.url)["id"]
    bulky_id = register(node_client, name="bulky", url=bulky.url)["id"]
    for _ in range(3):
        poll(app)

    with app.app_context():
        stored = sum(db.session.scalar(select(func.sum(func.length(column)))) or 0
                     for column in (NodeSample.metrics, Node.metrics))
        assert stored < 64 * 1024
        assert db.session.scalar(select(func.count()).select_from(NodeModel)) == 1
    assert client.get(f"/v0/nodes/{huge_id}").get_json()["last_error"] == "unreachable"

    for node_id in (huge_id, bulky_id):
        assert client.delete(f"/v0/nodes/{node_id}").status_code == 204
    with app.app_context():
        for table in (NodeSample, NodeModel):
            assert db.session.scalar(select(func.count()).select_from(table)) == 0


def test_10_foreign_keys_are_enforced(app):
    with app.app_context():
        db.session.add(NodeSample(node_id="no-such-node", online=True, metrics={}, active_requests=0))
        with pytest.raises(Exception, match="FOREIGN KEY"):
            db.session.commit()
        db.session.rollback()


# --- 11: a node whose metrics lack cpu_percent broke the Nodes pages --------------------------------

def test_11_node_pages_render_whatever_a_node_reports(app, client, node_client, hostile):
    odd, odder = hostile(), hostile()
    odd.body = status(metrics={"memory_used_bytes": 1, "memory_total_bytes": 2})
    odder.body = status(metrics={"cpu_percent": "busy", "memory_used_bytes": "lots", "memory_total_bytes": "10",
                                 "gpus": [{"utilization_percent": "hot", "memory_total_bytes": []}, 3]})
    odd_id = register(node_client, name="odd", url=odd.url)["id"]
    odder_id = register(node_client, name="odder", url=odder.url)["id"]
    stale_id = register(node_client, name="stale", url="http://127.0.0.1:9")["id"]
    poll(app)
    with app.app_context():  # figures as an older router stored them, unshaped
        stale = db.session.get(Node, stale_id)
        stale.online, stale.metrics = True, {"cpu_percent": "x", "memory_total_bytes": "5", "gpus": "abc"}
        db.session.commit()

    viewer = app.test_client()
    login_session(viewer)
    for session in (client, viewer):
        for path in ("/nodes", "/nodes/_list", f"/nodes/{odd_id}", f"/nodes/{odder_id}/_summary",
                     f"/nodes/{stale_id}", f"/nodes/{stale_id}/_summary"):
            page = session.get(path)
            assert page.status_code == 200, (path, page.get_data(as_text=True)[:500])
    assert client.get("/v0/nodes").status_code == 200


# --- 12: numbers and URLs that made registration answer 500 -----------------------------------------

@pytest.mark.parametrize("overrides, param", [
    ({"cpu_count": 10 ** 30}, "cpu_count"), ({"memory_bytes": 10 ** 30}, "memory_bytes"),
    ({"gpus": [{"name": "L4", "memory_bytes": 10 ** 30}]}, "gpus"), ({"url": "http://[::1"}, "url"),
    ({"url": "http://[::1]:99999"}, "url"), ({"url": "http://[::1:8090"}, "url"),
])
def test_12_out_of_range_registrations_are_400(node_client, overrides, param):
    refused(node_client.post("/v0/nodes", json=node_body(**overrides)), param)


def test_12_out_of_range_counts_in_a_status_fail_the_poll_only(app, client, node_client, hostile):
    node = hostile()
    node.body = status(active_requests=10 ** 30,
                       models=[{"id": MODEL, "state": "downloading", "downloaded_bytes": 10 ** 30, "total_bytes": 1}])
    node_id = register(node_client, url=node.url)["id"]
    poll(app)
    record = client.get(f"/v0/nodes/{node_id}").get_json()
    assert (record["failed_polls"], record["last_error"]) == (1, "malformed status")


# --- 16: the poller kept cookies and sent them to every node on the host ----------------------------

def test_16_no_cookie_is_kept_between_polls_or_sent_with_sync(app, client, node_client, hostile):
    setter, neighbour = hostile(), hostile()
    setter.headers = {"Set-Cookie": "session=stolen; Path=/"}
    register(node_client, name="setter", url=setter.url)
    register(node_client, name="neighbour", url=neighbour.url)
    poll(app)
    poll(app)
    assert client.post("/v0/models/register", json={"id": MODEL}).status_code == 201  # tells nodes to sync
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not all(
            any(method == "POST" for method, _path, _headers in node.requests) for node in (setter, neighbour)):
        time.sleep(0.02)
    for node in (setter, neighbour):
        paths = [(method, path) for method, path, _headers in node.requests]
        assert ("POST", "/v0/sync") in paths and paths.count(("GET", "/v0/status")) == 2
        assert all("Cookie" not in headers and "cookie" not in headers for _m, _p, headers in node.requests)
