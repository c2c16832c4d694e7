"""Node registration, manifests and status polling on the router side.

A node is imitated by a small real HTTP server answering /v0/status and /v0/sync (tests/support/status_node.py;
the node agent's own tests run the real agent; here the router's rules are the subject)."""

from __future__ import annotations

import json
import threading

import pytest

from app.services.fleet import polling
from app.units import format_bytes
from tests.support.factories import CATALOG_FILE, GGUF_REPO, make_api_key
from tests.support.status_node import GiB, StatusNode, node_body


def manifest(node_client, registration: dict) -> dict:
    """A node reads its own manifest, proving who it is with the token it got at registration."""
    response = node_client.get(f"/v0/nodes/{registration['id']}/manifest",
                               headers={"X-Node-Token": registration["token"]})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


@pytest.fixture
def node_client(app):
    test_client = app.test_client()
    test_client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {make_api_key(app, ['node'], 'nodes')}"
    return test_client


@pytest.fixture
def fake_node():
    node = StatusNode()
    yield node
    node.stop()


def test_registration_keeps_the_id_and_replaces_the_token(client, node_client):
    first = node_client.post("/v0/nodes", json=node_body())
    assert first.status_code == 201
    # The node proves its name with its current token (tests/security/test_nodes.py: finding 4), and keeps it.
    again = node_client.post("/v0/nodes", json=node_body(url="http://127.0.0.1:10"),
                             headers={"X-Node-Token": first.get_json()["token"]})
    assert again.status_code == 200
    assert again.get_json()["id"] == first.get_json()["id"]
    assert again.get_json()["token"] == first.get_json()["token"]
    replaced = client.post("/v0/nodes", json=node_body(url="http://127.0.0.1:10"))  # an admin replaces it
    assert replaced.status_code == 200 and replaced.get_json()["token"] != first.get_json()["token"]
    listed = client.get("/v0/nodes").get_json()["nodes"]
    assert [(n["name"], n["url"], n["online"]) for n in listed] == [("gpu-box", "http://127.0.0.1:10", True)]
    assert "token" not in listed[0] and first.get_json()["token"] not in json.dumps(listed)


@pytest.mark.parametrize("overrides, param", [
    ({"name": ""}, "name"), ({"url": "ftp://x"}, "url"), ({"url": "not a url"}, "url"),
    ({"platform": "amiga"}, "platform"), ({"engines": ["vllm"]}, "engines"), ({"cpu_count": -1}, "cpu_count"),
    ({"memory_bytes": "16G"}, "memory_bytes"), ({"gpus": [{"name": "x"}]}, "gpus"), ({"version": 1}, "version"),
])
def test_invalid_registrations(node_client, overrides, param):
    response = node_client.post("/v0/nodes", json=node_body(**overrides))
    assert response.status_code == 400 and response.get_json()["error"]["param"] == param


def test_manifest_filters_by_engine_platform_and_memory(client, node_client):
    assert client.post("/v0/models/register", json={"repo": GGUF_REPO}).status_code == 201  # llama_cpp, 7500 B
    assert client.post("/v0/models/register", json={"id": "phi-4"}).status_code == 201  # needs 13 GiB
    small = node_client.post("/v0/nodes", json=node_body(name="small", memory_bytes=8 * GiB)).get_json()
    big = node_client.post("/v0/nodes", json=node_body(name="big", gpus=[{"name": "L4", "memory_bytes": 24 * GiB}],
                                                         platform="linux-cuda")).get_json()
    ct2_only = node_client.post("/v0/nodes", json=node_body(name="ct2", engines=["ctranslate2"])).get_json()

    small_manifest = manifest(node_client, small)
    assert [m["id"] for m in small_manifest["models"]] == ["acme/tiny-chat-gguf:q4_k_m"]
    entry = small_manifest["models"][0]
    assert entry["files"][0]["name"] == "tiny-chat.Q4_K_M.gguf" and len(entry["revision"]) == 40
    assert small_manifest["errors"] == [{"id": "phi-4",
                                         "error": "insufficient memory: needs 13.0 GiB, node has 8.0 GiB"}]
    # Another node's token (or none) does not open this node's manifest; an admin key does.
    for token in (big["token"], None):
        refused = node_client.get(f"/v0/nodes/{small['id']}/manifest", headers={"X-Node-Token": token or ""})
        assert refused.status_code == 401 and refused.get_json()["error"]["code"] == "invalid_node_token"
    assert client.get(f"/v0/nodes/{small['id']}/manifest").status_code == 200
    big_manifest = manifest(node_client, big)
    assert big_manifest["errors"] == []
    assert manifest(node_client, ct2_only) == {"models": [], "errors": []}
    assert node_client.get("/v0/nodes/unknown/manifest").status_code == 404


def test_catalog_models_get_their_file_list_when_a_node_first_asks(client, node_client, hub):
    assert client.post("/v0/models/register", json={"id": "qwen2.5-0.5b-instruct"}).status_code == 201
    node = node_client.post("/v0/nodes", json=node_body()).get_json()
    (entry,) = manifest(node_client, node)["models"]
    assert entry["files"] == [{"name": CATALOG_FILE, "size": 4096, "sha256": entry["files"][0]["sha256"]}]
    hub.mode = "error500"  # resolved once: the Hub is not needed again
    assert manifest(node_client, node)["models"] == [entry]


def test_polling_derives_lifecycle_and_marks_offline_after_three_failures(app, client, node_client, fake_node):
    client.post("/v0/models/register", json={"repo": GGUF_REPO})
    model_id = "acme/tiny-chat-gguf:q4_k_m"
    registration = node_client.post("/v0/nodes", json=node_body(url=fake_node.url)).get_json()

    def poll():
        with app.app_context():
            polling.poll_all()

    def model():
        return client.get(f"/v0/models/{model_id}").get_json()

    fake_node.report([{"id": model_id, "state": "downloading", "downloaded_bytes": 2500, "total_bytes": 5000}])
    poll()
    assert fake_node.calls("GET")[-1]["Authorization"] == f"Bearer {registration['token']}"
    record = model()
    assert (record["lifecycle_status"], record["status"]) == ("pending", "downloading")
    assert record["download_progress"] == {"downloaded_bytes": 2500, "total_bytes": 5000, "percent": 50.0, "nodes": 1}
    assert record["nodes"][0]["node_name"] == "gpu-box"
    assert client.get("/v1/models").get_json()["data"] == []

    fake_node.report([{"id": model_id, "state": "ready", "downloaded_bytes": 5000, "total_bytes": 5000}])
    poll()
    assert model()["lifecycle_status"] == "ready"
    assert [m["id"] for m in client.get("/v1/models").get_json()["data"]] == [model_id]
    hub_entry = next(e for e in client.get("/v0/models/hub").get_json()["models"] if e["id"] == model_id)
    assert hub_entry["status"] == "downloaded"

    fake_node.stop()
    for expected_online in (True, True, False):
        poll()
        assert client.get(f"/v0/nodes/{registration['id']}").get_json()["online"] is expected_online
    assert model()["lifecycle_status"] == "registered"  # ready only on an offline node
    assert client.get("/v1/models").get_json()["data"] == []


def test_cancel_and_retry(app, client, node_client, fake_node):
    client.post("/v0/models/register", json={"repo": GGUF_REPO})
    model_id = "acme/tiny-chat-gguf:q4_k_m"
    node = node_client.post("/v0/nodes", json=node_body(url=fake_node.url)).get_json()
    cancelled = client.post(f"/v0/models/{model_id}/cancel").get_json()
    assert (cancelled["lifecycle_status"], cancelled["cancelled"]) == ("error", True)
    assert "cancelled" in cancelled["error"]
    assert manifest(node_client, node)["models"] == []
    retried = client.post(f"/v0/models/{model_id}/retry").get_json()
    assert (retried["lifecycle_status"], retried["cancelled"]) == ("registered", False)
    (entry,) = manifest(node_client, node)["models"]
    assert entry["attempt"] == 1
    client.post(f"/v0/models/{model_id}/retry")  # a failed (not cancelled) model: nodes try again at once
    assert manifest(node_client, node)["models"][0]["attempt"] == 2
    assert client.post("/v0/models/nope/cancel").status_code == 404


def test_nodes_are_told_to_sync_after_changes(client, node_client, fake_node):
    node_client.post("/v0/nodes", json=node_body(url=fake_node.url))
    client.post("/v0/models/register", json={"repo": GGUF_REPO})
    client.delete("/v0/models/acme/tiny-chat-gguf:q4_k_m")
    for _ in range(50):
        if len(fake_node.calls("POST")) >= 2:
            break
        threading.Event().wait(0.05)
    assert len(fake_node.calls("POST")) >= 2


def test_one_nodes_malformed_status_does_not_stop_the_others(app, client, node_client, fake_node):
    broken = StatusNode()
    try:
        client.post("/v0/models/register", json={"repo": GGUF_REPO})
        model_id = "acme/tiny-chat-gguf:q4_k_m"
        good = node_client.post("/v0/nodes", json=node_body(name="good", url=fake_node.url)).get_json()
        bad = node_client.post("/v0/nodes", json=node_body(name="bad", url=broken.url)).get_json()
        fake_node.report([{"id": model_id, "state": "ready", "downloaded_bytes": 5000, "total_bytes": 5000}])
        broken.report([{"id": model_id, "state": "downloading", "downloaded_bytes": "lots", "total_bytes": 1}])
        with app.app_context():
            polling.poll_all()
        assert client.get(f"/v0/models/{model_id}").get_json()["lifecycle_status"] == "ready"
        bad_record = client.get(f"/v0/nodes/{bad['id']}").get_json()
        assert bad_record["failed_polls"] == 1 and "malformed status" in bad_record["last_error"]
        assert client.get(f"/v0/nodes/{good['id']}").get_json()["failed_polls"] == 0
    finally:
        broken.stop()


def test_memory_message_never_understates_the_need():
    assert format_bytes(int(8.04 * GiB), unit="GiB", rounding="up") == "8.1 GiB"
    assert format_bytes(int(7.99 * GiB), unit="GiB", rounding="down") == "7.9 GiB"
    assert format_bytes(7500, unit="GiB", rounding="up") == "0.1 GiB"
