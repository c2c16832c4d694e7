"""What one node should hold (app/services/fleet/manifest.py, docs/protocol.md "manifest")."""

from __future__ import annotations

import math

import pytest

from app.database import RegisteredModel
from app.extensions import db
from app.services.fleet.manifest import manifest_for
from app.services.registry import models as registry
from tests.support.factories import CATALOG_FILE, CATALOG_REPO, CT2_REPO, GGUF_REPO, default_repos
from tests.support.rows import add_node
from tests.support.status_node import GiB

CATALOG_ID = "qwen2.5-0.5b-instruct"  # its repo is CATALOG_REPO, which the imitation Hub serves


def ids(manifest: dict) -> list[str]:
    return [entry["id"] for entry in manifest["models"]]


@pytest.fixture
def models(app):
    """A GGUF (llama_cpp) and a CTranslate2 model registered by repo, in that order."""
    with app.app_context():
        yield {"gguf": registry.register({"repo": GGUF_REPO}).id, "ct2": registry.register({"repo": CT2_REPO}).id}


def test_a_model_too_big_for_the_node_is_an_error_with_both_figures(app):
    with app.app_context():
        registry.register({"id": "phi-4"})
        need = db.session.get(RegisteredModel, "phi-4").required_memory_bytes
        cpu = add_node("cpu", memory_bytes=8 * GiB)
        gpu = add_node("gpu", platform="linux-cuda", memory_bytes=256 * GiB,  # a GPU node: its largest card counts
                       gpus=[{"name": "small", "memory_bytes": 4 * GiB}, {"name": "big", "memory_bytes": 12 * GiB + 1}])
        on_cpu, on_gpu = manifest_for(cpu), manifest_for(gpu)
    expected_need = f"{math.ceil(need / GiB * 10) / 10:.1f}"
    assert on_cpu == {"models": [], "errors": [
        {"id": "phi-4", "error": f"insufficient memory: needs {expected_need} GiB, node has 8.0 GiB"}]}
    assert on_gpu["errors"] == [
        {"id": "phi-4", "error": f"insufficient memory: needs {expected_need} GiB, node has 12.0 GiB"}]


def test_engines_and_platforms_decide_what_a_node_gets(app, models):
    with app.app_context():
        both = manifest_for(add_node("both"))
        gguf_only = manifest_for(add_node("gguf-only", engines=["llama_cpp"]))
        mac = manifest_for(add_node("mac", platform="macos-metal"))  # ctranslate2 runs on Linux only
        windows = manifest_for(add_node("windows", platform="windows-cpu"))  # neither engine's default
    assert ids(both) == [models["gguf"], models["ct2"]]
    assert ids(gguf_only) == ids(mac) == [models["gguf"]]
    assert windows == {"models": [], "errors": []}


def test_entries_carry_what_a_node_downloads(app, models):
    with app.app_context():
        entry = manifest_for(add_node("box"))["models"][0]
    repo = next(repo for repo in default_repos() if repo.repo_id == GGUF_REPO)
    assert entry["id"] == models["gguf"]
    assert (entry["repo"], entry["revision"], entry["format"], entry["engine"], entry["attempt"]) == \
        (GGUF_REPO, repo.sha, "gguf", "llama_cpp", 0)
    assert [item["name"] for item in entry["files"]] == ["tiny-chat.Q4_K_M.gguf"]


def test_cancelled_models_are_left_out_until_retried(app, models):
    with app.app_context():
        node = add_node("box")
        registry.cancel(models["gguf"])
        assert ids(manifest_for(node)) == [models["ct2"]]
        registry.retry(models["gguf"])
        manifest = manifest_for(node)
    assert ids(manifest) == [models["gguf"], models["ct2"]]
    assert manifest["models"][0]["attempt"] == 1


def test_a_catalog_model_gets_its_file_list_from_the_hub_when_first_asked(app):
    with app.app_context():
        registry.register({"id": CATALOG_ID})
        assert db.session.get(RegisteredModel, CATALOG_ID).files == []
        entry = manifest_for(add_node("box"))["models"][0]
        stored = db.session.get(RegisteredModel, CATALOG_ID)
        stored_files, stored_revision = stored.files, stored.revision
    repo = next(repo for repo in default_repos() if repo.repo_id == CATALOG_REPO)
    assert [item["name"] for item in entry["files"]] == [CATALOG_FILE]
    assert entry["revision"] == repo.sha == stored_revision
    assert stored_files == entry["files"]


def test_a_catalog_model_the_hub_cannot_list_is_asked_again_later(app):
    with app.app_context():
        registry.register({"id": "qwen3-0.6b"})  # its repo is not on the imitation Hub
        assert manifest_for(add_node("box")) == {"models": [], "errors": []}
        assert db.session.get(RegisteredModel, "qwen3-0.6b").files == []
