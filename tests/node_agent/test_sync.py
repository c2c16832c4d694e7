"""The sync loop's decisions against a stub router over real HTTP: what is kept, reported and deleted.

The end-to-end tests cover downloads with the real router; these cover the cases a real router does
not produce on demand: an outage, a malformed manifest, a manifest error for a model on disk.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from node_agent.downloader import Downloader
from node_agent.router_client import RouterClient
from node_agent.store import ModelStore
from node_agent.sync import SyncLoop
from tests.support.hub_imitation import HubImitation
from tests.support.json_server import JsonServer, Request, error_body

MODEL = "acme/tiny-chat-gguf:q4_k_m"
FILES = [{"name": "tiny.gguf", "size": 4, "sha256": None}]
ENTRY = {"id": MODEL, "repo": "acme/Tiny-GGUF", "revision": "abc123", "format": "gguf", "engine": "llama_cpp",
         "files": FILES}


class StubRouter:
    """Registers anyone; answers the manifest with `manifest` (a dict) or `status` (an int)."""

    def __init__(self) -> None:
        self.manifest: dict[str, Any] = {"models": [], "errors": []}
        self.status = 200
        self.server = JsonServer({"POST": self._register, "GET": self._manifest}).start()
        self.url = self.server.url

    @property
    def registrations(self) -> int:
        return len(self.server.calls("POST"))

    def _register(self, _request: Request) -> tuple[int, Any]:
        return 201, {"id": "node-1", "token": "t", "poll_interval_seconds": 10,
                     "manifest_url": "/v0/nodes/node-1/manifest"}

    def _manifest(self, _request: Request) -> tuple[int, Any]:
        if self.status != 200:
            return self.status, error_body("down", "unavailable", "server_error")
        return 200, self.manifest


@pytest.fixture()
def router() -> Iterator[StubRouter]:
    stub = StubRouter()
    yield stub
    stub.server.stop()


def ready_on_disk(store: ModelStore) -> None:
    """A model as a finished download leaves it (files + model.json)."""
    store.prepare(MODEL)
    store.file_path(MODEL, "tiny.gguf").write_bytes(b"GGUF")
    store.mark_ready(MODEL, {"repo": ENTRY["repo"], "revision": ENTRY["revision"], "files": FILES})


@pytest.fixture()
def loop(tmp_path: Path, router: StubRouter) -> Iterator[tuple[SyncLoop, ModelStore]]:
    store = ModelStore(tmp_path / "models")
    ready_on_disk(store)
    client = RouterClient(router.url, "node-key", lambda: {"name": "n"}, timeout=(2, 5))
    # Nothing here may download: the Hub endpoint is a closed port.
    sync = SyncLoop(store, Downloader("http://127.0.0.1:9", max_backoff=0.1), client, interval=60)
    yield sync, store
    sync.stop(1)


def eventually(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def states(sync: SyncLoop) -> dict[str, tuple[str, str | None]]:
    return {entry["id"]: (entry["state"], entry["error"]) for entry in sync.snapshot()}


def test_a_complete_model_is_ready_from_the_start_without_a_download(loop, router) -> None:
    sync, store = loop
    assert states(sync) == {MODEL: ("ready", None)}  # before any manifest
    router.manifest = {"models": [ENTRY], "errors": []}
    assert sync.sync_once()
    assert states(sync) == {MODEL: ("ready", None)}
    assert sync.snapshot()[0]["downloaded_bytes"] == sync.snapshot()[0]["total_bytes"] == 4


@pytest.mark.parametrize("problem", ["outage", "missing models", "models not a list", "errors not a list"])
def test_no_manifest_or_a_malformed_one_deletes_nothing(loop, router, problem) -> None:
    sync, store = loop
    if problem == "outage":
        router.status = 503
    else:
        router.manifest = {"missing models": {"errors": []}, "models not a list": {"models": {}, "errors": []},
                           "errors not a list": {"models": [], "errors": "x"}}[problem]
    assert not sync.sync_once()
    assert store.model_ids_on_disk() == [MODEL]
    assert states(sync) == {MODEL: ("ready", None)}


def test_a_manifest_error_is_reported_and_the_files_stay(loop, router) -> None:
    sync, store = loop
    message = "insufficient memory: needs 13.0 GiB, node has 8.0 GiB"
    router.manifest = {"models": [], "errors": [{"id": MODEL, "error": message}]}
    assert sync.sync_once()
    assert states(sync) == {MODEL: ("error", message)}
    assert store.model_ids_on_disk() == [MODEL]


def test_an_unusable_entry_is_an_error_not_a_deletion(loop, router) -> None:
    sync, store = loop
    router.manifest = {"models": [{**ENTRY, "files": [{"name": "../escape", "size": 1, "sha256": None}]}],
                       "errors": []}
    assert sync.sync_once()
    state, error = states(sync)[MODEL]
    assert state == "error" and "'..'" in error
    assert store.model_ids_on_disk() == [MODEL]


def test_a_model_in_neither_list_is_deleted(loop, router) -> None:
    sync, store = loop
    assert sync.sync_once()
    assert store.model_ids_on_disk() == [] and states(sync) == {}
    assert router.registrations == 1


def test_a_model_leaving_the_manifest_mid_download_is_cancelled_and_deleted(loop, router) -> None:
    sync, store = loop
    router.manifest = {"models": [ENTRY, {**ENTRY, "id": "acme/missing"}], "errors": []}
    assert sync.sync_once()
    # The Hub is a closed port: the downloader keeps retrying, so the download stays in progress.
    assert states(sync)["acme/missing"][0] in ("pending", "downloading")
    eventually(lambda: "acme/missing" in store.model_ids_on_disk())  # its directory, made by the job
    router.manifest = {"models": [ENTRY], "errors": []}
    assert sync.sync_once()
    assert store.model_ids_on_disk() == [MODEL]
    assert set(states(sync)) == {MODEL}


@contextmanager
def failing_downloads(tmp_path: Path, router, error_retry_seconds: float):
    """A sync loop whose every download fails for good (the Hub has no repos: 404 RepoNotFound);
    yields the loop and a counter of the Hub's requests for the model's file."""
    hub = HubImitation([]).start()
    client = RouterClient(router.url, "node-key", lambda: {"name": "n"}, timeout=(2, 5))
    sync = SyncLoop(ModelStore(tmp_path / "models"), Downloader(hub.url), client, interval=60,
                    error_retry_seconds=error_retry_seconds)
    router.manifest = {"models": [ENTRY], "errors": []}
    try:
        yield sync, lambda: len([r for r in hub.requests if r.path.endswith("/tiny.gguf")])
    finally:
        sync.stop(1)
        hub.stop()


def test_a_download_error_is_reported_and_retried_only_after_a_backoff(tmp_path: Path, router) -> None:
    with failing_downloads(tmp_path, router, 0.5) as (sync, file_requests):
        assert sync.sync_once()
        eventually(lambda: states(sync)[MODEL][0] == "error")
        assert "repository not found on the Hub" in states(sync)[MODEL][1]
        assert file_requests() == 1
        assert sync.sync_once()  # within the backoff: still the error, no new request
        time.sleep(0.1)
        assert states(sync)[MODEL][0] == "error" and file_requests() == 1
        time.sleep(0.5)
        assert sync.sync_once()  # after it: tried again
        eventually(lambda: file_requests() == 2)


def test_a_raised_attempt_retries_a_failed_download_at_once(tmp_path: Path, router) -> None:
    """The router's retry raises the entry's `attempt`: the node does not wait for its back-off."""
    with failing_downloads(tmp_path, router, 3600) as (sync, file_requests):
        assert sync.sync_once()
        eventually(lambda: states(sync)[MODEL][0] == "error")
        assert sync.sync_once()
        time.sleep(0.1)
        assert file_requests() == 1  # an hour of back-off ahead
        router.manifest = {"models": [{**ENTRY, "attempt": 1}], "errors": []}
        assert sync.sync_once()
        eventually(lambda: file_requests() == 2)
