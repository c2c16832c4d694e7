"""A node killed under load: the real router, two real node agents, a model slow enough to kill mid-stream.

The model is a ~25M-parameter CTranslate2 model with random weights (bench/build_bench_model.py,
built in a second, never emits its end token), so every request generates exactly max_tokens and a
stream of a few hundred tokens lasts seconds on 2 cores: long enough to SIGKILL a node while its
streams are in flight, without any test-only slowness in the node.
"""

from __future__ import annotations

import json
import signal
import threading
import time
from collections.abc import Iterator

import pytest
import requests

from bench.build_bench_model import SLOW_TEST, build
from tests.support.cluster import Cluster, start_cluster, wait_for
from tests.support.hub_imitation import HubImitation, repo_from_directory

REPO = MODEL = "acme/slow-random-ct2"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    model_dir = build(tmp_path_factory.mktemp("slow-model") / "ct2", "int8", shape=SLOW_TEST, quiet=True)
    hub = HubImitation([repo_from_directory(REPO, model_dir)]).start()
    # A short cooldown and no routing cache: the restarted node (at a new port) must get requests
    # again as soon as the router's database says it is back.
    cluster = start_cluster(tmp_path_factory.mktemp("failover"), hub, {"LLM_ROUTER_NODE_COOLDOWN_SECONDS": "1",
                                                                       "LLM_ROUTER_ROUTING_CACHE_SECONDS": "0"})
    try:
        cluster.start_node("a")
        cluster.start_node("b")
        cluster.register(REPO)
        wait_both_ready(cluster)
        yield cluster
    finally:
        cluster.stop()
        hub.stop()


def wait_both_ready(cluster: Cluster) -> None:
    def ready() -> bool:
        states = cluster.node_states(MODEL)
        online = {node["name"] for node in cluster.api("GET", "/v0/nodes").json()["nodes"] if node["online"]}
        return {"a", "b"} <= online and all(states.get(name, {}).get("state") == "ready" for name in ("a", "b"))

    cluster.wait(ready, 90, "the model to be ready on both online nodes")
    time.sleep(1.5)  # let a cooldown from before the restart run out (not an assertion on time)


def completions(cluster: Cluster, body: dict, **kwargs) -> requests.Response:
    return requests.post(f"{cluster.router.url}/v1/completions", json={"model": MODEL, **body}, timeout=120,
                         headers={"Authorization": f"Bearer {cluster.api_key}"}, **kwargs)


def test_non_streaming_requests_survive_a_killed_node(cluster: Cluster) -> None:
    results: list[tuple[int, dict]] = []
    lock = threading.Lock()
    started = threading.Barrier(9)

    def client() -> None:
        started.wait()
        for _ in range(4):
            response = completions(cluster, {"prompt": "hello", "max_tokens": 60, "temperature": 0})
            with lock:
                results.append((response.status_code, response.json()))

    threads = [threading.Thread(target=client) for _ in range(8)]
    for thread in threads:
        thread.start()
    started.wait()
    wait_for(lambda: len(results) >= 4, 60, "the first answers")
    cluster.nodes["b"].process.send_signal(signal.SIGKILL)  # with requests in flight on it
    for thread in threads:
        thread.join(120)
    assert len(results) == 32
    failures = [(status, body) for status, body in results if status != 200]
    assert not failures, failures[:3]
    assert all(body["usage"]["completion_tokens"] == 60 for _, body in results)
    cluster.nodes["b"].process.wait()
    cluster.nodes["b"].start()
    wait_both_ready(cluster)


def read_events(response: requests.Response, first_chunk: threading.Event) -> list:
    events = []
    buffer = b""
    for piece in response.iter_content(chunk_size=None):
        buffer += piece
        while b"\n\n" in buffer:
            block, buffer = buffer.split(b"\n\n", 1)
            payload = block.decode("utf-8").removeprefix("data: ")
            events.append(payload if payload == "[DONE]" else json.loads(payload))
            first_chunk.set()
    return events


def test_streams_on_a_killed_node_end_with_an_error_frame_and_done(cluster: Cluster) -> None:
    streams: list[list] = [[] for _ in range(8)]
    firsts = [threading.Event() for _ in range(8)]

    def client(i: int) -> None:
        with completions(cluster, {"prompt": "hello", "max_tokens": 400, "temperature": 0, "stream": True},
                         stream=True) as response:
            assert response.status_code == 200
            streams[i] = read_events(response, firsts[i])

    threads = [threading.Thread(target=client, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for first in firsts:
        assert first.wait(60), "a stream did not start"
    cluster.nodes["b"].process.send_signal(signal.SIGKILL)  # every stream is in flight
    for thread in threads:
        thread.join(120)

    errored = 0
    for events in streams:
        assert events and events[-1] == "[DONE]", events[-3:]
        errors = [event for event in events if isinstance(event, dict) and "error" in event]
        if errors:
            errored += 1
            assert events[-2] is errors[0], "the error frame is the last event before [DONE]"
            assert set(errors[0]["error"]) == {"message", "type", "param", "code"}
        else:
            finish = [event["choices"][0]["finish_reason"] for event in events[:-1] if event.get("choices")]
            assert finish[-1] == "length"
            text = "".join(event["choices"][0]["text"] for event in events[:-1] if event.get("choices"))
            assert text  # a whole answer
    assert errored >= 1, "no stream was on the killed node"
    assert errored < 8, "streams on the surviving node must complete"
    cluster.nodes["b"].process.wait()
    cluster.nodes["b"].start()
    wait_both_ready(cluster)
