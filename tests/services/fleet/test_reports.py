"""Each node's latest report about each model, read one way (app/services/fleet/reports.py)."""

from __future__ import annotations

import pytest

from app.services.fleet.reports import NodeReport, model_counts, percent, reports, reports_by_model
from tests.support.rows import add_node, add_report


@pytest.fixture
def fleet(app):
    """Two nodes ("b-node" registered first, "a-node" offline) and their reports on three models."""
    with app.app_context():
        b_node, a_node = add_node("b-node"), add_node("a-node", online=False)
        add_report(b_node, "m2", "ready")
        add_report(b_node, "m1", "downloading", downloaded_bytes=1, total_bytes=3)
        add_report(b_node, "m3", "error", error="disk full")
        add_report(a_node, "m1", "ready", downloaded_bytes=3, total_bytes=3)
        yield {"a": a_node.id, "b": b_node.id}


def test_all_reports_ordered_by_model_then_node_name(app, fleet):
    assert [(report.model_id, report.node_name) for report in reports()] == \
        [("m1", "a-node"), ("m1", "b-node"), ("m2", "b-node"), ("m3", "b-node")]


def test_reports_of_one_node_or_one_model(app, fleet):
    assert [report.model_id for report in reports(node_id=fleet["b"])] == ["m1", "m2", "m3"]
    assert [(report.node_id, report.state, report.online) for report in reports(model_id="m1")] == \
        [(fleet["a"], "ready", False), (fleet["b"], "downloading", True)]
    assert reports(node_id=fleet["a"], model_id="m3") == []
    assert reports(model_id="nobody-reported-this") == []


def test_reports_by_model_and_counts_per_node(app, fleet):
    by_model = reports_by_model()
    assert sorted(by_model) == ["m1", "m2", "m3"]
    assert [report.node_name for report in by_model["m1"]] == ["a-node", "b-node"]
    assert by_model["m3"][0].error == "disk full"
    assert model_counts() == {fleet["a"]: {"ready": 1}, fleet["b"]: {"ready": 1, "downloading": 1, "error": 1}}


def test_the_one_shape_of_a_report():
    report = NodeReport("id1", "box", True, "m", "downloading", 1, 3)
    assert report.to_dict() == {"node_id": "id1", "node_name": "box", "online": True, "model_id": "m",
                                "state": "downloading", "downloaded_bytes": 1, "total_bytes": 3, "percent": 33.3,
                                "error": None}
    assert NodeReport("id1", "box", False, "m", "pending").to_dict()["percent"] == 0.0


@pytest.mark.parametrize("done, total, expected", [(0, 0, 0.0), (5, 0, 0.0), (1, 8, 12.5), (2, 3, 66.7), (4, 4, 100.0)])
def test_percent(done, total, expected):
    assert percent(done, total) == expected
