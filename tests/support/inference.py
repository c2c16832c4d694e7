"""Inference tests' shared pieces: node imitations registered with a router (in process, or a live
gunicorn fleet), and the catalog model they serve."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests
from flask import Flask

from app.services.fleet import nodes, polling
from tests.support import status_node
from tests.support.cluster import wait_for
from tests.support.hub_imitation import HubImitation
from tests.support.node_imitation import NodeImitation
from tests.support.router_process import RouterProcess, start_router


MODEL = "qwen3-0.6b"  # a catalog id: registering it needs no Hub


def node_body(name: str, url: str) -> dict:
    """A CPU node with room for any catalog model."""
    return status_node.node_body(name=name, url=url, cpu_count=2, memory_bytes=64 * status_node.GiB)


def add_node(app: Flask, imitation: NodeImitation) -> str:
    """Register the imitation as a node (it learns its token, as a node agent does) and poll it."""
    with app.app_context():
        node, _created = nodes.register_node(node_body(imitation.name, imitation.url))
        imitation.token = node.token
        polling.poll_all()
        return node.id


def poll(app: Flask) -> None:
    with app.app_context():
        polling.poll_all()


@dataclass
class LiveFleet:
    """A router under gunicorn with one node imitation registered (through the API) and the model ready."""

    router: RouterProcess
    node: NodeImitation
    api_key: str

    @property
    def url(self) -> str:
        return self.router.url

    @property
    def port(self) -> int:
        return int(self.router.url.rsplit(":", 1)[1])


WORKER_CLASSES = ["gevent", "gthread"]  # gevent: the default (gunicorn.conf.py); gthread: the alternative


ONE_SLOT_NO_QUEUE = {"LLM_ROUTER_NODE_MAX_CONCURRENCY": "1", "LLM_ROUTER_QUEUE_SIZE": "0"}


@contextmanager
def start_live_fleet(workdir: Path, hub: HubImitation, worker_class: str,
                     settings: dict[str, str]) -> Iterator[LiveFleet]:
    """A router process (one gunicorn worker of `worker_class`) with one node imitation registered
    through the API and the model ready; `settings` are more LLM_ROUTER_* variables."""
    router = start_router(workdir, hub.url, {
        "LLM_ROUTER_WORKER_CLASS": worker_class, "LLM_ROUTER_WORKERS": "1", "LLM_ROUTER_THREADS": "16",
        "LLM_ROUTER_NODE_POLL_SECONDS": "0.5", "LLM_ROUTER_NODE_READ_TIMEOUT_SECONDS": "1",
        "LLM_ROUTER_ROUTING_CACHE_SECONDS": "0", **settings})
    node = NodeImitation((MODEL,), name="live-node").start()
    try:
        admin = router.auth_headers
        keys = {scope: requests.post(f"{router.url}/v0/api-keys", headers=admin, timeout=10,
                                     json={"name": scope, "scopes": [scope]}).json()["key"] for scope in ("api", "node")}
        registered = requests.post(f"{router.url}/v0/nodes", json=node_body(node.name, node.url), timeout=10,
                                   headers={"Authorization": f"Bearer {keys['node']}"})
        node.token = registered.json()["token"]
        assert requests.post(f"{router.url}/v0/models/register", headers=admin, json={"id": MODEL},
                             timeout=10).status_code == 201
        listed = lambda: [m["id"] for m in requests.get(f"{router.url}/v1/models", timeout=5,  # noqa: E731
                                                        headers={"Authorization": f"Bearer {keys['api']}"}).json()["data"]]
        wait_for(lambda: MODEL in listed(), 20, f"{MODEL} to be ready on the router")
        yield LiveFleet(router, node, keys["api"])
    finally:
        node.stop()
        router.stop()
