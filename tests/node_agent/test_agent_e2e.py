"""The node agent end to end: the real router (gunicorn), two real agent processes, the Hub imitation.

Node "a" has this machine's memory; node "b" is started with `--memory-bytes` 10 MiB, so models
over 10 MiB / 1.5 (the router's memory factor) are refused to it by the router's manifest. Both
use `--platform linux-cpu` so a GPU on the test machine does not change what fits. The router
polls every second and nodes re-read their manifest every SYNC_INTERVAL seconds.

One router, Hub and pair of nodes serve the whole module (starting them is most of the time);
every test registers its own model and leaves the nodes running when it ends.
"""

from __future__ import annotations

import hashlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.support.cluster import SYNC_INTERVAL, Cluster, NodeProcess, start_cluster, tail
from tests.support.hub_imitation import HubFile, HubImitation, HubRepo, ct2_repo_files, gguf_bytes
from tests.support.router_process import PROJECT_ROOT, free_port

KiB, MiB = 1024, 1024 * 1024
SMALL_NODE_MEMORY = 10 * MiB

CT2_REPO = "acme/node-e2e-ct2"
CT2_ID = CT2_REPO
RESUME_REPO, RESUME_FILE = "acme/Node-Resume-GGUF", "resume.Q4_K_M.gguf"  # 8 MiB: needs 12 MiB, too big for b
RESUME_ID = "acme/node-resume-gguf:q4_k_m"
BIG_REPO, BIG_FILE = "acme/Node-Big-GGUF", "big.Q4_K_M.gguf"  # 7 MiB: needs 10.5 MiB, too big for b
BIG_ID = "acme/node-big-gguf:q4_k_m"
CANCEL_REPO, CANCEL_FILE = "acme/Node-Cancel-GGUF", "cancel.Q4_K_M.gguf"  # 4 MiB: needs 6 MiB, fits both
CANCEL_ID = "acme/node-cancel-gguf:q4_k_m"
GONE_REPO = "acme/node-e2e-gone"  # removed from the Hub in the middle of its download
GONE_ID = GONE_REPO

INSUFFICIENT = re.compile(r"^insufficient memory: needs \d+(\.\d+)? GiB, node has \d+(\.\d+)? GiB$")


def hub_repos() -> list[HubRepo]:
    return [
        HubRepo(CT2_REPO, ct2_repo_files("node-e2e")),
        HubRepo(RESUME_REPO, [HubFile("README.md", b"# resume\n"), HubFile(RESUME_FILE, gguf_bytes("resume", 8 * MiB))]),
        HubRepo(BIG_REPO, [HubFile(BIG_FILE, gguf_bytes("big", 7 * MiB))]),
        HubRepo(CANCEL_REPO, [HubFile(CANCEL_FILE, gguf_bytes("cancel", 4 * MiB))]),
        HubRepo(GONE_REPO, ct2_repo_files("gone")),
    ]


# --------------------------------------------------------------------------------------------------
# Processes
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def node_hub() -> Iterator[HubImitation]:
    """This module's own Hub (the session `hub` of tests/conftest.py is shared with other tests)."""
    imitation = HubImitation(hub_repos()).start()
    yield imitation
    imitation.stop()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, node_hub: HubImitation) -> Iterator[Cluster]:
    cluster = start_cluster(tmp_path_factory.mktemp("node-e2e"), node_hub)
    try:
        cluster.start_node("a")
        cluster.start_node("b", "--memory-bytes", str(SMALL_NODE_MEMORY))
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture()
def throttle(node_hub: HubImitation) -> Iterator[Callable[[int | None], None]]:
    def set_rate(rate: int | None) -> None:
        node_hub.throttle_bytes_per_second = rate

    yield set_rate
    node_hub.throttle_bytes_per_second = None


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def hub_content(repo: str) -> dict[str, bytes]:
    return {item.path: item.content for repo_entry in hub_repos() if repo_entry.repo_id == repo
            for item in repo_entry.files}


def assert_files_complete(node: NodeProcess, record: dict[str, Any]) -> None:
    """Every file of the model on the node with the Hub's sha256, model.json written, no partial left."""
    content = hub_content(record["repo"])
    store = node.store
    for item in record["files"]:
        path = store.file_path(record["id"], item["name"])
        assert path.is_file(), f"{path} missing on node {node.name}"
        assert sha256_of(path) == hashlib.sha256(content[item["name"]]).hexdigest()
    assert store.read_manifest(record["id"])["state"] == "ready"
    partial_dir = store.model_dir(record["id"]) / ".partial"
    assert not [p for p in partial_dir.rglob("*") if p.is_file() and p.name.endswith(".part")]


def all_ready(cluster: Cluster, model_id: str, names: tuple[str, ...]) -> bool:
    states = cluster.node_states(model_id)
    return all(states.get(name, {}).get("state") == "ready" for name in names)


def gone_everywhere(cluster: Cluster, model_id: str) -> bool:
    return not any(node.store.model_dir(model_id).exists() for node in cluster.nodes.values())


def partial_size(node: NodeProcess, model_id: str, name: str) -> int:
    return node.store.partial_bytes(model_id, name)


# --------------------------------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------------------------------


def test_a_registered_model_downloads_on_both_nodes_and_turns_ready(cluster: Cluster, throttle) -> None:
    throttle(2 * KiB)  # ~3 s for the ~6 KB model: slow enough to watch it pending
    record = cluster.register(CT2_REPO)
    assert record["id"] == CT2_ID and record["engine"] == "ctranslate2" and len(record["files"]) > 2
    assert record["lifecycle_status"] == "registered"
    assert CT2_ID not in cluster.v1_ids()

    seen: list[str] = []
    deadline = time.monotonic() + 30
    while not (seen and seen[-1] == "ready" and all_ready(cluster, CT2_ID, ("a", "b"))):
        assert time.monotonic() < deadline, f"not ready on both nodes; lifecycle seen {seen}\n{cluster.logs()}"
        listed = CT2_ID in cluster.v1_ids()
        lifecycle = cluster.model(CT2_ID)["lifecycle_status"]
        if listed:  # /v1 lists a model only once it is ready (never while pending)
            assert lifecycle == "ready"
        if not seen or seen[-1] != lifecycle:
            seen.append(lifecycle)
        time.sleep(0.1)
    assert seen[0] in ("registered", "pending") and "pending" in seen and seen[-1] == "ready", seen
    assert seen.index("pending") < seen.index("ready") and seen.count("ready") == 1, seen
    assert CT2_ID in cluster.v1_ids()

    record = cluster.model(CT2_ID)
    for node in cluster.nodes.values():
        assert_files_complete(node, record)
    states = cluster.node_states(CT2_ID)
    total = sum(item["size"] for item in record["files"])
    assert all(states[name]["downloaded_bytes"] == states[name]["total_bytes"] == total for name in ("a", "b"))
    # The router shows the metrics the nodes report.
    metrics = cluster.node_record("a")["metrics"]
    assert metrics["memory_total_bytes"] > 0 and "cpu_percent" in metrics and isinstance(metrics["gpus"], list)


def test_a_node_killed_mid_file_resumes_with_a_range_request(cluster: Cluster, throttle) -> None:
    node = cluster.nodes["a"]
    throttle(2 * MiB)  # 8 MiB file: ~4 s
    cluster.register(RESUME_REPO)
    cluster.wait(lambda: partial_size(node, RESUME_ID, RESUME_FILE) >= 2 * MiB, 20, "2 MiB of the partial on node a")
    node.kill()  # SIGKILL: no chance to clean up
    kept = partial_size(node, RESUME_ID, RESUME_FILE)
    assert 2 * MiB <= kept < 8 * MiB
    before = len(cluster.hub.requests)

    throttle(None)
    node.start()
    cluster.wait(lambda: cluster.node_states(RESUME_ID).get("a", {}).get("state") == "ready", 30, "a ready again")
    file_gets = [r for r in cluster.hub.requests[before:] if r.method == "GET" and r.path.endswith(f"/{RESUME_FILE}")]
    assert file_gets, "no download after the restart"
    assert file_gets[0].header("Range") == f"bytes={kept}-", [r.header("Range") for r in file_gets]

    record = cluster.model(RESUME_ID)
    assert record["lifecycle_status"] == "ready"
    assert_files_complete(node, record)
    assert sha256_of(node.store.file_path(RESUME_ID, RESUME_FILE)) == \
        hashlib.sha256(gguf_bytes("resume", 8 * MiB)).hexdigest()


def test_deleting_a_model_removes_its_files_from_every_node_within_one_sync(cluster: Cluster) -> None:
    if cluster.api("GET", f"/v0/models/{CT2_ID}").status_code == 404:
        cluster.register(CT2_REPO)
    cluster.wait(lambda: all_ready(cluster, CT2_ID, ("a", "b")), 30, f"{CT2_ID} ready on both nodes")
    assert all(node.store.model_dir(CT2_ID).is_dir() for node in cluster.nodes.values())

    response = cluster.api("DELETE", f"/v0/models/{CT2_ID}")
    assert response.status_code == 204, response.text
    cluster.wait(lambda: gone_everywhere(cluster, CT2_ID), SYNC_INTERVAL + 2,
                 "the model directory (files and partials) to go from both nodes")
    assert CT2_ID not in cluster.v1_ids()
    assert cluster.api("GET", f"/v0/models/{CT2_ID}").status_code == 404
    # Nodes stop reporting it, and nothing comes back.
    time.sleep(1.5)
    assert gone_everywhere(cluster, CT2_ID)
    assert not any(CT2_ID in node.store.model_ids_on_disk() for node in cluster.nodes.values())


def test_a_stopped_node_goes_offline_and_comes_back(cluster: Cluster) -> None:
    node = cluster.nodes["b"]
    node_id = cluster.node_record("b")["id"]
    started = time.monotonic()
    assert node.signal(signal.SIGTERM, timeout=10) == 0, tail(node.log_path)
    assert time.monotonic() - started < 6, "SIGTERM took too long"
    assert "stopped" in tail(node.log_path, 3)

    cluster.wait(lambda: cluster.api("GET", f"/v0/nodes/{node_id}").json()["online"] is False, 30, "b offline")
    record = cluster.api("GET", f"/v0/nodes/{node_id}").json()
    assert record["failed_polls"] >= 3 and record["last_error"]

    node.start()
    cluster.wait(lambda: cluster.api("GET", f"/v0/nodes/{node_id}").json()["online"] is True, 30, "b online again")
    # Polls succeed again with the new token (a registration alone also sets online).
    cluster.wait(lambda: cluster.api("GET", f"/v0/nodes/{node_id}").json()["metrics"].get("memory_total_bytes"),
                 10, "a successful poll of b")
    assert cluster.node_record("b")["id"] == node_id  # same name, same id


def test_a_model_too_large_for_one_node_is_served_by_the_other(cluster: Cluster) -> None:
    cluster.register(BIG_REPO)
    cluster.wait(lambda: cluster.model(BIG_ID)["lifecycle_status"] == "ready", 30, f"{BIG_ID} ready")
    cluster.wait(lambda: cluster.node_states(BIG_ID).get("b", {}).get("state") == "error", 10, "b to report its error")
    states = cluster.node_states(BIG_ID)
    assert states["a"]["state"] == "ready"
    assert INSUFFICIENT.match(states["b"]["error"]), states["b"]
    assert BIG_ID in cluster.v1_ids()
    assert_files_complete(cluster.nodes["a"], cluster.model(BIG_ID))
    assert not cluster.nodes["b"].store.model_dir(BIG_ID).exists()


def test_cancel_stops_every_download_and_retry_starts_again(cluster: Cluster, throttle) -> None:
    throttle(512 * KiB)  # 4 MiB: ~8 s per node
    cluster.register(CANCEL_REPO)
    nodes = cluster.nodes.values()
    cluster.wait(lambda: all(partial_size(node, CANCEL_ID, CANCEL_FILE) > 0 for node in nodes), 20,
                 "both nodes downloading")

    response = cluster.api("POST", f"/v0/models/{CANCEL_ID}/cancel")
    assert response.status_code == 200, response.text
    assert response.json()["cancelled"] is True
    cluster.wait(lambda: gone_everywhere(cluster, CANCEL_ID), SYNC_INTERVAL + 3, "partials deleted on both nodes")
    gets = len([r for r in cluster.hub.requests if r.path.endswith(f"/{CANCEL_FILE}")])
    time.sleep(1.5)
    assert gone_everywhere(cluster, CANCEL_ID), "a cancelled download came back"
    assert len([r for r in cluster.hub.requests if r.path.endswith(f"/{CANCEL_FILE}")]) == gets
    record = cluster.model(CANCEL_ID)
    assert record["lifecycle_status"] == "error" and record["cancelled"] is True and record["error"]
    assert CANCEL_ID not in cluster.v1_ids()

    throttle(None)
    response = cluster.api("POST", f"/v0/models/{CANCEL_ID}/retry")
    assert response.status_code == 200, response.text
    cluster.wait(lambda: all_ready(cluster, CANCEL_ID, ("a", "b")), 30, "ready on both nodes after the retry")
    record = cluster.model(CANCEL_ID)
    assert record["lifecycle_status"] == "ready" and record["cancelled"] is False
    for node in nodes:
        assert_files_complete(node, record)


def test_a_download_error_is_reported_per_node_and_as_the_model_error(cluster: Cluster, throttle) -> None:
    throttle(2 * KiB)
    cluster.register(GONE_REPO)
    cluster.wait(lambda: any(state["state"] == "downloading" for state in cluster.node_states(GONE_ID).values()), 20,
                 "a download to start")
    cluster.hub.remove_repo(GONE_REPO)  # the next file request gets 404 RepoNotFound
    try:
        cluster.wait(lambda: cluster.model(GONE_ID)["lifecycle_status"] == "error", 30, "lifecycle error")
        record = cluster.model(GONE_ID)
        states = cluster.node_states(GONE_ID)
        assert {states[name]["state"] for name in ("a", "b")} == {"error"}
        assert all("repository not found on the Hub" in states[name]["error"] for name in ("a", "b")), states
        assert "a: " in record["error"] and "b: " in record["error"]
        assert GONE_ID not in cluster.v1_ids()
    finally:
        cluster.hub.add_repo(next(repo for repo in hub_repos() if repo.repo_id == GONE_REPO))
        assert cluster.api("DELETE", f"/v0/models/{GONE_ID}").status_code == 204
    cluster.wait(lambda: gone_everywhere(cluster, GONE_ID), SYNC_INTERVAL + 2, "the errored model's partials to go")


class _Relay:
    """Forwards a fixed local port to the router, so the router can "come up" after the agent started."""

    def __init__(self, port: int, target: str) -> None:
        host, _, target_port = target.split("://", 1)[1].rpartition(":")
        self.target = (host, int(target_port))
        self.listener = socket.create_server(("127.0.0.1", port))
        self.sockets: list[socket.socket] = [self.listener]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
                upstream = socket.create_connection(self.target)
            except OSError:
                return
            self.sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            try:
                sink.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    def close(self) -> None:
        for sock in self.sockets:
            try:
                sock.close()
            except OSError:
                pass


def test_an_agent_started_before_the_router_registers_when_it_comes_up(cluster: Cluster) -> None:
    port = free_port()
    models_dir = cluster.workdir / "models-late"
    env = {key: value for key, value in os.environ.items() if not key.startswith(("LLM_NODE_", "HF_"))}
    env["LLM_NODE_API_KEY"] = cluster.node_key
    log_path = cluster.workdir / "node-late.log"
    node = NodeProcess("late", models_dir, log_path,
                       ["--router-url", f"http://127.0.0.1:{port}", "--listen", "127.0.0.1:0", "--name", "late",
                        "--models-dir", str(models_dir), "--platform", "linux-cpu", "--hub-endpoint", cluster.hub.url,
                        "--sync-interval", str(SYNC_INTERVAL), "--engines", "ctranslate2", "--log-level", "DEBUG"],
                       env)
    cluster.nodes["late"] = node
    relay = None
    try:
        with log_path.open("ab") as log:
            node.process = subprocess.Popen([sys.executable, "-m", "node_agent", *node.args], cwd=PROJECT_ROOT,
                                            env=env, stdout=log, stderr=subprocess.STDOUT)
        cluster.wait(lambda: "registration failed" in tail(log_path), 15, "a failed registration")
        served = re.search(r"serving on 127\.0\.0\.1:(\d+)", log_path.read_text())
        assert served and node.process.poll() is None
        assert requests.get(f"http://127.0.0.1:{served.group(1)}/v0/health", timeout=5).json() == {"status": "ok"}
        assert cluster.node_key not in log_path.read_text()

        relay = _Relay(port, cluster.router.url)  # the router "comes up"
        cluster.wait(lambda: node.registrations() == 1, 10, "registration once the router answers")
        node_id = cluster.node_record("late")["id"]
        cluster.wait(lambda: cluster.node_record("late")["metrics"], 10, "the router to poll the late node")
        secrets = [cluster.node_key, cluster.node_token(node_id)]

        # The router forgets the node: the next manifest read answers 404 node_not_found -> register again.
        assert cluster.api("DELETE", f"/v0/nodes/{node_id}").status_code == 204
        cluster.wait(lambda: node.registrations() == 2, SYNC_INTERVAL + 5, "registration after node_not_found")
        new_id = cluster.node_record("late")["id"]
        assert new_id != node_id
        cluster.wait(lambda: cluster.node_record("late")["metrics"], 10, "the router to poll the late node again")
        secrets.append(cluster.node_token(new_id))
        text = log_path.read_text()  # at DEBUG: neither the API key nor a token is ever logged
        assert "DEBUG" in text and not [secret for secret in secrets if secret in text]
    finally:
        node.kill()
        if relay is not None:
            relay.close()
        late = [n for n in cluster.api("GET", "/v0/nodes").json()["nodes"] if n["name"] == "late"]
        for entry in late:
            cluster.api("DELETE", f"/v0/nodes/{entry['id']}")
        del cluster.nodes["late"]
