"""Fixtures for the inference endpoints: node imitations (tests/node_imitation.py) registered with an
in-process router, or with a real router process for what only a real server shows (streaming
through gunicorn, client disconnects)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from flask import Flask

from app import create_app
from app.services import nodes, registry
from tests.cluster import wait_for
from tests.conftest import make_api_key, router_config
from tests.hub_imitation import HubImitation
from tests.node_imitation import NodeImitation
from tests.router_process import RouterProcess, start_router

MODEL = "qwen3-0.6b"  # a catalog id: registering it needs no Hub


@pytest.fixture
def imitations() -> Iterator[Callable[..., NodeImitation]]:
    """Start node imitations on demand; all are stopped at the end."""
    started: list[NodeImitation] = []

    def start(name: str = "node", models: tuple[str, ...] = (MODEL,)) -> NodeImitation:
        imitation = NodeImitation(models, name=name).start()
        started.append(imitation)
        return imitation

    yield start
    for imitation in started:
        imitation.stop()


def node_body(name: str, url: str) -> dict:
    return {"name": name, "url": url, "platform": "linux-cpu", "engines": ["llama_cpp", "ctranslate2"],
            "cpu_count": 2, "memory_bytes": 64 * 1024 ** 3, "gpus": [], "version": "0.1.0"}


def add_node(app: Flask, imitation: NodeImitation) -> str:
    """Register the imitation as a node (it learns its token, as a node agent does) and poll it."""
    with app.app_context():
        node, _created = nodes.register_node(node_body(imitation.name, imitation.url))
        imitation.token = node.token
        nodes.poll_all()
        return node.id


def poll(app: Flask) -> None:
    with app.app_context():
        nodes.poll_all()


@pytest.fixture
def make_app(tmp_path: Path, hub: HubImitation) -> Iterator[Callable[..., Flask]]:
    """A router app with the model registered; settings for the proxy may be overridden."""
    apps: list[Flask] = []

    def make(**overrides) -> Flask:
        settings = {"ROUTING_CACHE_SECONDS": 0.0, "NODE_READ_TIMEOUT_SECONDS": 2.0, **overrides}
        app = create_app(router_config(tmp_path / f"app{len(apps)}", hub.url, **settings))
        apps.append(app)
        with app.app_context():
            registry.register({"id": MODEL})
        return app

    yield make
    for app in apps:
        app.extensions["inference"].connections.close()
        app.extensions["hub_stats"].close()


@pytest.fixture
def api_client(make_app) -> Callable[..., tuple[Flask, object]]:
    """(app, test client authenticated with an api-scope key)."""
    def make(**overrides):
        app = make_app(**overrides)
        client = app.test_client()
        client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {make_api_key(app, ['api'])}"
        return app, client
    return make


# --- A real router process (gunicorn), for streaming and disconnects --------------------------------

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

# One request at a time per node and no queue: a slot the router failed to give back shows as a 429.
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


@pytest.fixture(scope="module", params=WORKER_CLASSES)
def live_fleet(request, tmp_path_factory: pytest.TempPathFactory, hub: HubImitation) -> Iterator[LiveFleet]:
    with start_live_fleet(tmp_path_factory.mktemp("live-fleet"), hub, request.param, ONE_SLOT_NO_QUEUE) as fleet:
        yield fleet


@pytest.fixture
def fleet(live_fleet: LiveFleet) -> Iterator[LiveFleet]:
    """The module's live fleet, its node back to normal behaviour for each test."""
    live_fleet.node.reset()
    yield live_fleet
    live_fleet.node.reset()
