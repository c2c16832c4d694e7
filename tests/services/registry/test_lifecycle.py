"""How node reports add up to one lifecycle and Hub status."""

from app.services.fleet.reports import NodeReport
from app.services.registry.lifecycle import summarize


def state(node: str, kind: str, online: bool = True, done: int = 0, total: int = 0, error: str | None = None):
    return NodeReport(node, node, online, "model", kind, done, total, error)


def test_unregistered_and_just_registered():
    assert summarize(False, []).lifecycle_status is None
    assert summarize(False, []).status == "available"
    registered = summarize(True, [])
    assert (registered.lifecycle_status, registered.status, registered.download_progress) == \
        ("registered", "available", None)


def test_downloading_is_pending_with_summed_progress():
    summary = summarize(True, [state("a", "downloading", done=25, total=100), state("b", "pending", total=100)])
    assert summary.lifecycle_status == "pending"
    assert summary.status == "downloading"
    assert summary.download_progress == {"downloaded_bytes": 25, "total_bytes": 200, "percent": 12.5, "nodes": 2}


def test_ready_needs_an_online_node():
    assert summarize(True, [state("a", "ready"), state("b", "error", error="disk full")]).lifecycle_status == "ready"
    offline = summarize(True, [state("a", "ready", online=False)])
    assert offline.lifecycle_status == "registered"
    assert offline.status == "downloaded"


def test_error_only_when_every_node_failed_and_reasons_are_kept():
    summary = summarize(True, [state("a", "error", error="insufficient memory"), state("b", "error", error="404")])
    assert summary.lifecycle_status == "error"
    assert summary.error == "a: insufficient memory; b: 404"
    assert summarize(True, [state("a", "error"), state("b", "downloading", total=1)]).lifecycle_status == "pending"
