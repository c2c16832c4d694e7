"""Registered models: registration, cancel, retry, delete, records and the Hub list
(app/services/registry/models.py). Repos come from the local Hub imitation."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.database import NodeModel, RegisteredModel
from app.errors import ApiError
from app.extensions import db
from app.services.registry import models as registry
from tests.support.factories import CATALOG_REPO, GGUF_REPO, default_repos
from tests.support.rows import add_node, add_report

CATALOG_ID = "qwen3-0.6b"


@pytest.fixture
def ctx(app):
    with app.app_context():
        yield


@pytest.mark.parametrize("body, status, code, param", [
    ("qwen3-0.6b", 400, "invalid_body", None),
    ({"id": CATALOG_ID, "extra": 1}, 400, "unknown_field", "extra"),
    ({"id": 3}, 400, "invalid_type", "id"),
    ({"id": "  "}, 400, "empty_field", "id"),
    ({"repo": "o/" + "n" * 520}, 400, "too_long", "repo"),
    ({"repo": "org/na\x07me"}, 400, "invalid_characters", "repo"),
    ({}, 400, "missing_field", "repo"),
    ({"id": CATALOG_ID, "repo": GGUF_REPO}, 400, "missing_field", "id"),
    ({"id": CATALOG_ID, "filename": "m.gguf"}, 400, "unexpected_field", "filename"),
    ({"repo": GGUF_REPO, "filename": "../m.gguf"}, 400, "invalid_filename", "filename"),
    ({"id": "no-such-model"}, 404, "model_not_found", "id"),
    ({"repo": GGUF_REPO, "filename": "missing.gguf"}, 404, None, None),
])
def test_refused_registrations_say_why(ctx, body, status, code, param):
    with pytest.raises(ApiError) as caught:
        registry.register(body)
    assert caught.value.status == status
    if code:
        assert (caught.value.code, caught.value.param) == (code, param)
    assert registry.registered_models() == []


def test_register_a_catalog_model_once(app):
    with app.app_context():
        record = registry.model_record(registry.register({"id": CATALOG_ID}))
    assert (record["id"], record["source"], record["engine"], record["files"]) == (CATALOG_ID, "supported",
                                                                                   "llama_cpp", [])
    assert (record["lifecycle_status"], record["status"], record["nodes"]) == ("registered", "available", [])
    with app.app_context():  # a second request: its own session
        with pytest.raises(ApiError) as caught:
            registry.register({"id": CATALOG_ID})
        assert [model.id for model in registry.registered_models()] == [CATALOG_ID]
    assert (caught.value.status, caught.value.code, caught.value.param) == (409, "model_already_registered", "id")


def test_register_by_repo_reads_the_hub(ctx):
    model = registry.register({"repo": f"{GGUF_REPO}", "display_name": "Tiny"})
    repo = next(repo for repo in default_repos() if repo.repo_id == GGUF_REPO)
    assert (model.id, model.source, model.name, model.filename, model.revision) == \
        ("acme/tiny-chat-gguf:q4_k_m", "url", "Tiny", "tiny-chat.Q4_K_M.gguf", repo.sha)
    assert [item["name"] for item in model.files] == ["tiny-chat.Q4_K_M.gguf"]
    same_file = registry.register({"repo": f"{GGUF_REPO}", "filename": "tiny-chat.Q2_K.gguf"})
    assert same_file.id == "acme/tiny-chat-gguf:q2_k"


def test_a_catalog_file_registered_by_repo_is_the_catalog_model(app, hub):
    with app.app_context():
        model = registry.register({"repo": f"{hub.url}/{CATALOG_REPO}"})
        assert (model.id, model.source, len(model.files)) == ("qwen2.5-0.5b-instruct", "supported", 1)
    with app.app_context(), pytest.raises(ApiError) as caught:
        registry.register({"id": "qwen2.5-0.5b-instruct"})
    assert caught.value.status == 409


def test_cancel_retry_and_delete(ctx):
    registry.register({"id": CATALOG_ID})
    node = add_node("box")
    add_report(node, CATALOG_ID, "downloading", downloaded_bytes=1, total_bytes=4)
    assert registry.model_record(registry.get_model(CATALOG_ID))["lifecycle_status"] == "pending"

    cancelled = registry.model_record(registry.cancel(CATALOG_ID))
    assert (cancelled["cancelled"], cancelled["lifecycle_status"], cancelled["status"], cancelled["nodes"]) == \
        (True, "error", "available", [])
    assert "cancelled" in cancelled["error"]

    retried = registry.retry(CATALOG_ID)
    assert (retried.cancelled, retried.attempt) == (False, 1)
    assert registry.model_record(retried)["lifecycle_status"] == "registered"

    add_report(node, CATALOG_ID, "ready")
    registry.delete_model(CATALOG_ID)
    assert db.session.scalars(select(NodeModel).where(NodeModel.model_id == CATALOG_ID)).all() == []
    assert db.session.get(RegisteredModel, CATALOG_ID) is None and not registry.model_exists(CATALOG_ID)
    for action in (registry.get_model, registry.cancel, registry.retry, registry.delete_model):
        with pytest.raises(ApiError) as caught:
            action(CATALOG_ID)
        assert (caught.value.status, caught.value.code) == (404, "model_not_found")


def test_ready_models_need_an_online_node(ctx):
    registry.register({"id": CATALOG_ID})
    registry.register({"id": "phi-4"})
    online, offline = add_node("online"), add_node("offline", online=False)
    add_report(online, CATALOG_ID, "ready")
    add_report(offline, "phi-4", "ready")
    assert [model.id for model in registry.ready_models()] == [CATALOG_ID]
    assert {record["id"]: record["status"] for record in registry.model_records()} == \
        {CATALOG_ID: "downloaded", "phi-4": "downloaded"}


def test_hub_entries_catalog_first_then_url_models_and_search(ctx):
    registry.register({"id": CATALOG_ID})
    url_model = registry.register({"repo": GGUF_REPO})
    entries = registry.hub_entries()
    assert entries[-1]["id"] == url_model.id and entries[-1]["source"] == "url"
    assert all(entry["source"] == "supported" for entry in entries[:-1])
    by_id = {entry["id"]: entry for entry in entries}
    assert (by_id[CATALOG_ID]["lifecycle_status"], by_id[CATALOG_ID]["status"]) == ("registered", "available")
    assert (by_id["phi-4"]["lifecycle_status"], by_id["phi-4"]["status"]) == (None, "available")
    assert [entry["id"] for entry in registry.hub_entries("  EMBEDDINGS ")] == ["all-minilm-l6-v2"]  # a tag
    assert [entry["id"] for entry in registry.hub_entries("tiny-chat")] == [url_model.id]
    assert registry.hub_entries("no such thing") == []
