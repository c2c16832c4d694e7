"""A hostile Hugging Face Hub (audit findings 12 and 18): what the Hub says is checked, never trusted.

Each test points a real router at a local Hub imitation whose answers about one repo are rewritten
the way the audit rewrote them: a missing `pointerSize`, sizes of "abc", 10**30 and -100, a revision
of `../../../../etc/passwd`, `downloads: Infinity`. The router must answer with a clear error,
store nothing, and keep serving everything else.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select

from app import create_app
from app.extensions import db
from app.database import RegisteredModel
from app.scheduler import refresh_hub_stats
from tests.support.factories import CATALOG_FILE, CATALOG_REPO, make_api_key, router_config
from tests.support.hub_imitation import HubFile, HubImitation, HubRepo, gguf_bytes

HOSTILE_REPO = "hostile/tiny-GGUF"
HOSTILE_FILE = "tiny.Q4_K_M.gguf"
SECOND_CATALOG_REPO = "bartowski/Qwen_Qwen3-0.6B-GGUF"  # the catalog's second entry
SECOND_CATALOG_FILE = "Qwen_Qwen3-0.6B-Q4_K_M.gguf"


def _repos() -> list[HubRepo]:
    return [
        HubRepo(HOSTILE_REPO, [HubFile("README.md", b"# tiny\n"), HubFile(HOSTILE_FILE, gguf_bytes("hostile", 5000))],
                downloads=7, likes=1),
        HubRepo(CATALOG_REPO, [HubFile(CATALOG_FILE, gguf_bytes("qwen", 4096))], downloads=98765, likes=4321),
        HubRepo(SECOND_CATALOG_REPO, [HubFile(SECOND_CATALOG_FILE, gguf_bytes("qwen3", 3000))], downloads=555,
                likes=44),
    ]


@pytest.fixture
def hostile_hub() -> Iterator[HubImitation]:
    with HubImitation(_repos()) as imitation:
        yield imitation


@pytest.fixture
def hostile_app(tmp_path: Path, hostile_hub: HubImitation) -> Iterator[Flask]:
    application = create_app(router_config(tmp_path, hostile_hub.url))
    yield application
    application.extensions["hub_stats"].close()


@pytest.fixture
def admin(hostile_app: Flask):
    test_client = hostile_app.test_client()
    test_client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {make_api_key(hostile_app, ['admin'])}"
    return test_client


def _gguf_sibling(payload: dict) -> dict:
    return next(item for item in payload["siblings"] if item["rfilename"] == HOSTILE_FILE)


def _without_pointer_size(route: str, payload: object) -> object:
    if route == "info":
        del _gguf_sibling(payload)["lfs"]["pointerSize"]
    return payload


def _size(value: object) -> Callable[[str, object], object]:
    def rewrite(route: str, payload: object) -> object:
        if route == "info":
            sibling = _gguf_sibling(payload)
            sibling["size"] = value
            sibling["lfs"]["size"] = value
        return payload
    return rewrite


def _revision(value: str) -> Callable[[str, object], object]:
    def rewrite(route: str, payload: object) -> object:
        if route == "info":
            payload["sha"] = value
        return payload
    return rewrite


def _stored_models(app: Flask) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(RegisteredModel))


def _assert_bad_hub_answer(response, app: Flask) -> None:
    assert response.status_code == 502, response.get_data(as_text=True)
    error = response.get_json()["error"]
    assert error["code"] == "hub_bad_answer"
    assert "nothing was registered" in error["message"].lower()
    assert _stored_models(app) == 0


@pytest.mark.parametrize("rewrite", [
    pytest.param(_without_pointer_size, id="finding12_pointer_size_missing"),
    pytest.param(_size("abc"), id="finding12_size_abc"),
    pytest.param(_size(10 ** 30), id="finding12_size_10e30"),
    pytest.param(_size(-100), id="finding18_size_negative"),
    pytest.param(_size(1.5), id="size_float"),
    pytest.param(_size(True), id="size_bool"),
    pytest.param(_revision("../../../../etc/passwd"), id="finding18_revision_traversal"),
    pytest.param(_revision("main"), id="revision_not_a_commit"),
])
def test_finding12_18_malformed_hub_answer_registers_nothing(hostile_hub, hostile_app, admin, rewrite):
    """Findings 12 and 18: a hostile answer during registration is a clear 502, never a 500, never stored."""
    hostile_hub.rewrite_answers(HOSTILE_REPO, rewrite)
    response = admin.post("/v0/models/register", json={"repo": HOSTILE_REPO})
    _assert_bad_hub_answer(response, hostile_app)
    assert admin.get("/v0/models").get_json() == {"models": []}


def test_finding12_honest_answer_still_registers(hostile_hub, hostile_app, admin):
    """The same repo answered honestly registers: the checks refuse only what is malformed."""
    response = admin.post("/v0/models/register", json={"repo": HOSTILE_REPO})
    assert response.status_code == 201, response.get_data(as_text=True)
    record = response.get_json()
    assert record["size_bytes"] == 5000 and len(record["revision"]) == 40


def test_finding18_hostile_revision_never_reaches_a_manifest(hostile_hub, hostile_app, admin):
    """Finding 18: a catalog model's file list is read when a node first asks; a traversal revision
    from the Hub is neither stored nor sent to the node, which is told again at its next sync."""
    assert admin.post("/v0/models/register", json={"id": "qwen2.5-0.5b-instruct"}).status_code == 201
    hostile_hub.rewrite_answers(CATALOG_REPO, _revision("../../../../etc/passwd"))
    node_client = hostile_app.test_client()
    node_client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {make_api_key(hostile_app, ['node'], 'nodes')}"
    node = node_client.post("/v0/nodes", json={
        "name": "gpu-box", "url": "http://127.0.0.1:9", "platform": "linux-cpu", "engines": ["llama_cpp"],
        "cpu_count": 8, "memory_bytes": 16 * 1024 ** 3, "gpus": [], "version": "0.1.0"}).get_json()
    response = node_client.get(f"/v0/nodes/{node['id']}/manifest", headers={"X-Node-Token": node["token"]})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["models"] == []
    with hostile_app.app_context():
        model = db.session.get(RegisteredModel, "qwen2.5-0.5b-instruct")
        assert (model.revision, model.files) == ("main", [])


def test_finding12_18_negative_file_size_in_statistics_is_ignored(hostile_hub, hostile_app, admin):
    """Finding 18: a negative size in the statistics answer never replaces the catalog's size."""
    hostile_hub.rewrite_answers(CATALOG_REPO, lambda route, payload: _set_catalog_size(payload, -100))
    refresh_hub_stats(hostile_app)
    first = admin.get("/v0/models/hub").get_json()["models"][0]
    assert first["repo"] == CATALOG_REPO
    assert first["size_bytes"] > 0
    assert admin.post("/v0/models/register", json={"id": "qwen2.5-0.5b-instruct"}).status_code == 201
    assert admin.get("/v0/models/qwen2.5-0.5b-instruct").get_json()["size_bytes"] > 0


def _set_catalog_size(payload: object, value: object) -> object:
    for item in payload["siblings"]:
        if item["rfilename"] == CATALOG_FILE:
            item["size"] = value
    return payload


def test_finding12_downloads_infinity_skips_only_that_repo(hostile_hub, hostile_app, admin):
    """Finding 12: `downloads: Infinity` for one repo (the catalog's first) no longer aborts the whole
    statistics refresh: the other repos' figures still arrive, the hostile one stays unknown."""
    def infinite_downloads(route: str, payload: object) -> object:
        if route == "info":
            payload["downloads"] = float("inf")
        return payload

    hostile_hub.rewrite_answers(CATALOG_REPO, infinite_downloads)
    refresh_hub_stats(hostile_app)
    entries = {entry["repo"]: entry for entry in admin.get("/v0/models/hub").get_json()["models"]}
    assert entries[CATALOG_REPO]["hf_info"] is None
    second = entries[SECOND_CATALOG_REPO]["hf_info"]
    assert (second["downloads"], second["likes"]) == (555, 44)
    assert entries[SECOND_CATALOG_REPO]["size_bytes"] == 3000
