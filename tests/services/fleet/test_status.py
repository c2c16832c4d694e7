"""What a node's status may say, typed and bounded (app/services/fleet/status.py, docs/protocol.md)."""

from __future__ import annotations

import pytest

from app.services.fleet.status import MAX_BYTES, MAX_GPUS, count, parse_report, shape_metrics, short_text


def test_shape_metrics_keeps_known_figures_and_drops_the_rest():
    raw = {"cpu_percent": 12.5, "memory_used_bytes": 100, "memory_total_bytes": 200, "load_average": 3.0,
           "gpus": [{"name": "NVIDIA L4", "utilization_percent": 40, "memory_used_bytes": 1, "memory_total_bytes": 2,
                     "temperature": 70}]}
    assert shape_metrics(raw) == {"cpu_percent": 12.5, "memory_used_bytes": 100, "memory_total_bytes": 200,
                                  "gpus": [{"name": "NVIDIA L4", "utilization_percent": 40, "memory_used_bytes": 1,
                                            "memory_total_bytes": 2}]}


@pytest.mark.parametrize("raw, expected", [
    ({"cpu_percent": 250.0}, {"cpu_percent": 100}),
    ({"cpu_percent": -3}, {"cpu_percent": 0}),
    ({"cpu_percent": float("nan")}, {}),
    ({"cpu_percent": float("inf")}, {}),
    ({"cpu_percent": True}, {}),
    ({"cpu_percent": "12"}, {}),
    ({"memory_used_bytes": -1, "memory_total_bytes": 1.5}, {}),
    ({"memory_used_bytes": MAX_BYTES + 1, "memory_total_bytes": MAX_BYTES}, {"memory_total_bytes": MAX_BYTES}),
    ({"gpus": "many"}, {}),
    ({"gpus": [1, None, {"name": 7, "utilization_percent": 101}]},
     {"gpus": [{"name": "", "utilization_percent": 100}]}),
    ({"gpus": [{"name": "bad\x00name"}]}, {"gpus": [{"name": ""}]}),
    ([1, 2], {}),
    (None, {}),
])
def test_shape_metrics_clamps_percentages_and_leaves_out_wrong_types(raw, expected):
    assert shape_metrics(raw) == expected


def test_shape_metrics_bounds_gpus_and_names():
    shaped = shape_metrics({"gpus": [{"name": "g" * 500}] * (MAX_GPUS + 10)})
    assert len(shaped["gpus"]) == MAX_GPUS
    assert shaped["gpus"][0]["name"] == "g" * 100


def test_parse_report_reads_a_protocol_entry():
    report = parse_report({"id": "m" * 300, "state": "downloading", "downloaded_bytes": 5, "total_bytes": 10,
                           "error": None, "extra": "ignored"})
    assert (report.model_id, report.state, report.downloaded_bytes, report.total_bytes, report.error) == \
        ("m" * 255, "downloading", 5, 10, None)
    failed = parse_report({"id": "x", "state": "error", "error": "e" * 3000})
    assert (failed.downloaded_bytes, failed.total_bytes, len(failed.error)) == (0, 0, 2000)


@pytest.mark.parametrize("item", [
    {"id": "x", "state": "loaded"},
    {"id": "x", "state": "READY"},
    {"id": "x"},
    {"id": 3, "state": "ready"},
    {"state": "ready"},
    "x",
    {"id": "x", "state": "ready", "total_bytes": -1},
    {"id": "x", "state": "ready", "downloaded_bytes": "5"},
])
def test_parse_report_refuses_unknown_states_and_bad_counts(item):
    with pytest.raises(ValueError):
        parse_report(item)


@pytest.mark.parametrize("value, expected", [(None, 0), (0, 0), (7, 7), (MAX_BYTES, MAX_BYTES)])
def test_counts(value, expected):
    assert count(value) == expected


@pytest.mark.parametrize("value", [-1, MAX_BYTES + 1, True, 1.0, "3", [1]])
def test_what_is_not_a_count(value):
    with pytest.raises(ValueError, match="not a count"):
        count(value)


def test_short_text():
    assert short_text("0.1.0-rc1", 5) == "0.1.0"
    assert short_text("bad\nversion", 32) is None
    assert short_text(12, 32) is None
