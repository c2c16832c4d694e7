"""Fixtures for the inference endpoints: node imitations (tests/support/node_imitation.py) registered with an
in-process router, or with a real router process for what only a real server shows (streaming
through gunicorn, client disconnects)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask

from app import create_app
from app.services.registry import models as registry
from tests.support.factories import make_api_key, router_config
from tests.support.hub_imitation import HubImitation
from tests.support.node_imitation import NodeImitation
from tests.support.inference import MODEL, LiveFleet, WORKER_CLASSES, ONE_SLOT_NO_QUEUE, start_live_fleet


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
        app.extensions["history"].close()


@pytest.fixture
def api_client(make_app) -> Callable[..., tuple[Flask, object]]:
    """(app, test client authenticated with an api-scope key)."""
    def make(**overrides):
        app = make_app(**overrides)
        client = app.test_client()
        client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {make_api_key(app, ['api'])}"
        return app, client
    return make


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
