"""Shared fixtures (flaskr's pattern): an `app` on a temporary database, its `client`, a local
imitation of the Hugging Face Hub, and a real router process (gunicorn) for browser tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from app import create_app
from tests.hub_imitation import HubFile, HubImitation, HubRepo, ct2_repo_files, gguf_bytes
from tests.router_process import PROJECT_ROOT, RouterProcess, free_port, start_router  # noqa: F401

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
        **overrides,
    }


@pytest.fixture
def app(tmp_path: Path, hub: HubImitation):
    application = create_app(router_config(tmp_path, hub.url))
    yield application
    application.extensions["hub_stats"].close()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def live_router(tmp_path: Path, hub: HubImitation) -> Iterator[RouterProcess]:
    router = start_router(tmp_path, hub.url)
    yield router
    router.stop()
