"""Shared fixtures (flaskr's pattern): an `app` on a temporary database, its `client`, a local
imitation of the Hugging Face Hub, and a real router process (gunicorn) for browser tests."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from app import create_app
from tests.support import tiny_model
from tests.support.cluster import Cluster, start_cluster
from tests.support.hub_imitation import HubImitation, repo_from_directory
from tests.support.factories import TINY_CHAT_REPO, default_repos, make_api_key, router_config
from tests.support.router_process import RouterProcess, start_router

@pytest.fixture(scope="session")
def hub() -> Iterator[HubImitation]:
    """One Hub imitation for the session; tests that change its mode must restore it."""
    imitation = HubImitation(default_repos()).start()
    yield imitation
    imitation.stop()


@pytest.fixture(autouse=True)
def _reset_hub(request) -> Iterator[None]:
    yield
    if "hub" in request.fixturenames:
        imitation = request.getfixturevalue("hub")
        imitation.mode = "normal"
        imitation.throttle_bytes_per_second = None


@pytest.fixture
def app(tmp_path: Path, hub: HubImitation):
    application = create_app(router_config(tmp_path, hub.url))
    yield application
    application.extensions["hub_stats"].close()
    application.extensions["history"].close()


@pytest.fixture
def admin_key(app) -> str:
    return make_api_key(app, ["admin"], "admin key")


@pytest.fixture
def client(app, admin_key):
    """A test client that authenticates every request with an admin-scope API key."""
    test_client = app.test_client()
    test_client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {admin_key}"
    return test_client


@pytest.fixture
def anonymous_client(app):
    return app.test_client()


@pytest.fixture
def live_router(tmp_path: Path, hub: HubImitation) -> Iterator[RouterProcess]:
    router = start_router(tmp_path, hub.url)
    yield router
    router.stop()


@dataclass
class InferenceRouter:
    """A real router with one real node agent serving the tiny CTranslate2 chat model (ready)."""

    url: str
    model_id: str
    cluster: Cluster




@pytest.fixture(scope="module")
def inference_router(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InferenceRouter]:
    imitation = HubImitation([repo_from_directory(TINY_CHAT_REPO, tiny_model.CT2_DIR)]).start()
    cluster = start_cluster(tmp_path_factory.mktemp("inference-router"), imitation)
    try:
        cluster.start_node("local")
        model_id = cluster.register(TINY_CHAT_REPO)["id"]
        cluster.wait(lambda: model_id in cluster.v1_ids(), 60, f"{model_id} to be ready")
        yield InferenceRouter(cluster.router.url, model_id, cluster)
    finally:
        cluster.stop()
        imitation.stop()
