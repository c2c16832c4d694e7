"""Which nodes can serve a model, and why none can (app/services/inference/routing.py), with rows in
the database as polls leave them."""

from __future__ import annotations

import pytest

from app.errors import ApiError
from app.services.inference.routing import RoutingTable, unavailable
from app.services.registry import models as registry
from tests.support.rows import add_node, add_report
from tests.support.status_node import GiB

MODEL = "qwen3-0.6b"


@pytest.fixture
def ctx(app):
    with app.app_context():
        registry.register({"id": MODEL})
        yield app


def refusal(model_id: str) -> ApiError:
    with pytest.raises(ApiError) as caught:
        RoutingTable(0).resolve(model_id, 7)
    assert unavailable(model_id, 7) is not None
    return caught.value


def test_candidates_are_online_nodes_holding_the_model_ready(ctx):
    b_node = add_node("b-node", url="http://127.0.0.1:8091/base/")
    a_node = add_node("a-node", url="http://127.0.0.1:8090")
    add_report(b_node, MODEL, "ready")
    add_report(a_node, MODEL, "ready")
    add_report(add_node("offline", online=False), MODEL, "ready")
    add_report(add_node("fetching"), MODEL, "downloading", 1, 2)
    targets = RoutingTable(0).resolve(MODEL, 7)
    assert [(t.name, t.host, t.port, t.base_path) for t in targets] == \
        [("a-node", "127.0.0.1", 8090, ""), ("b-node", "127.0.0.1", 8091, "/base")]
    assert targets[0].node_id == a_node.id and targets[0].authorization == f"Bearer {a_node.token}"
    assert RoutingTable(0).candidates("another-model") == ()


def test_an_unknown_model_is_404(ctx):
    error = refusal("no-such-model")
    assert (error.status, error.code, error.param) == (404, "model_not_found", "model")


def test_a_downloading_model_is_503_with_its_progress(ctx):
    add_report(add_node("box"), MODEL, "downloading", downloaded_bytes=GiB, total_bytes=4 * GiB)
    error = refusal(MODEL)
    assert (error.status, error.code, error.param, error.headers) == (503, "model_downloading", "model",
                                                                      {"Retry-After": "7"})
    assert "25.0%" in error.message


def test_a_model_every_node_failed_is_503_with_the_reasons(ctx):
    add_report(add_node("box"), MODEL, "error", error="disk full")
    error = refusal(MODEL)
    assert (error.status, error.code) == (503, "model_error")
    assert "box: disk full" in error.message


@pytest.mark.parametrize("state, says", [("ready", "offline"), (None, "No node holds")])
def test_no_online_node_is_503_saying_why(ctx, state, says):
    node = add_node("box", online=state is None)
    if state:
        add_report(node, MODEL, state)
    error = refusal(MODEL)
    assert (error.status, error.code, error.headers) == (503, "no_available_nodes", {"Retry-After": "7"})
    assert says in error.message


def test_cancelled_models_and_denied_addresses_are_not_routed(ctx):
    add_report(add_node("box"), MODEL, "ready")
    assert len(RoutingTable(0).candidates(MODEL)) == 1
    ctx.config["NODE_DENY_NETWORKS"] = "127.0.0.0/8"  # e.g. a router restarted with a stricter list
    assert RoutingTable(0).candidates(MODEL) == ()
    ctx.config["NODE_DENY_NETWORKS"] = ""
    registry.cancel(MODEL)
    assert RoutingTable(0).candidates(MODEL) == ()
    assert refusal(MODEL).code == "model_error"


def test_the_table_is_cached_and_resolve_looks_again(ctx):
    table = RoutingTable(3600)
    assert table.candidates(MODEL) == ()
    add_report(add_node("box"), MODEL, "ready")
    assert table.candidates(MODEL) == ()  # the table read before the report
    assert [target.name for target in table.resolve(MODEL, 7)] == ["box"]  # the slow path refreshes it
    assert [target.name for target in table.candidates(MODEL)] == ["box"]
    registry.delete_model(MODEL)
    assert len(table.candidates(MODEL)) == 1  # until it expires or is invalidated
    table.invalidate()
    assert table.candidates(MODEL) == ()
