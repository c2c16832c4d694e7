"""Shared fixtures (flaskr's pattern): an `app` on a temporary database, its `client`, a local
imitation of the Hugging Face Hub, and a real router process (gunicorn) for browser tests."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from app import create_app
from tests import tiny_model
from tests.cluster import Cluster, start_cluster
from tests.hub_imitation import HubFile, HubImitation, HubRepo, ct2_repo_files, gguf_bytes, repo_from_directory
from tests.router_process import (  # noqa: F401
    ADMIN_PASSWORD,
    ADMIN_USERNAME,
    FAST_PASSWORD_HASH,
    PROJECT_ROOT,
    RouterProcess,
    free_port,
    start_router,
)

# Repos of the imitation Hub used across tests.
GGUF_REPO = "acme/Tiny-Chat-GGUF"
CT2_REPO = "acme/tiny-chat-ct2"
SAFETENSORS_REPO = "acme/tiny-safetensors"
CATALOG_REPO = "Qwen/Qwen2.5-0.5B-Instruct-GGUF"  # first entry of supported_models.json
CATALOG_FILE = "qwen2.5-0.5b-instruct-q4_k_m.gguf"


def default_repos() -> list[HubRepo]:
    return [
        HubRepo(GGUF_REPO, [
            HubFile("README.md", b"# Tiny chat\n"),
            HubFile("tiny-chat.Q8_0.gguf", gguf_bytes("q8", 9000)),
            HubFile("tiny-chat.Q4_K_M.gguf", gguf_bytes("q4km", 5000)),
            HubFile("tiny-chat.Q2_K.gguf", gguf_bytes("q2k", 3000)),
        ], downloads=1234, likes=56, tags=["gguf"]),
        HubRepo(CT2_REPO, ct2_repo_files("ct2"), downloads=10, likes=2),
        HubRepo(SAFETENSORS_REPO, [
            HubFile("config.json", b"{}"),
            HubFile("model.safetensors", b"\0" * 2048),
            HubFile("tokenizer.json", b"{}"),
        ]),
        HubRepo(CATALOG_REPO, [HubFile(CATALOG_FILE, gguf_bytes("qwen", 4096))], downloads=98765, likes=4321),
    ]


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


def router_config(tmp_path: Path, hub_url: str, **overrides) -> dict:
    return {
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "HF_ENDPOINT": hub_url,
        "HF_STATS_TIMEOUT_SECONDS": 1.0,
        "HF_REQUEST_TIMEOUT_SECONDS": 2.0,
        "SCHEDULER_ENABLED": False,
        "TESTING": True,
        "ADMIN_USERNAME": ADMIN_USERNAME,
        "ADMIN_PASSWORD": ADMIN_PASSWORD,
        "PASSWORD_HASH_METHOD": FAST_PASSWORD_HASH,
        **overrides,
    }


@pytest.fixture
def app(tmp_path: Path, hub: HubImitation):
    application = create_app(router_config(tmp_path, hub.url))
    yield application
    application.extensions["hub_stats"].close()


def make_api_key(app, scopes: list[str], name: str = "test key", **kwargs) -> str:
    """A key created through the service (as an admin would), returned in plaintext."""
    from app.services import api_keys

    with app.app_context():
        return api_keys.create_key(name, scopes, kwargs.get("expires_at"), "tests")[1]


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


def csrf_token_of(html: str) -> str:
    import re

    match = re.search(r'name="csrf_token" value="([^"]+)"', html) or \
        re.search(r'<meta name="csrf-token" content="([^"]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)


def login_session(test_client, username: str = ADMIN_USERNAME, password: str = ADMIN_PASSWORD) -> str:
    """Signs a test client in through the login form; returns the CSRF token of a page after sign-in
    for later posts (login replaces the token: the login page's one no longer works)."""
    token = csrf_token_of(test_client.get("/login").get_data(as_text=True))
    response = test_client.post("/login", data={"username": username, "password": password, "csrf_token": token})
    assert response.status_code == 302, response.get_data(as_text=True)
    return csrf_token_of(test_client.get("/account").get_data(as_text=True))


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


TINY_CHAT_REPO = "acme/tiny-llama-ct2"


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
