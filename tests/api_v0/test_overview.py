"""`GET /v0/overview`: the figures of requests the router really served, by window."""

from __future__ import annotations


def test_the_overview_counts_the_requests_that_were_made(app, client):
    for _ in range(3):  # unknown model: recorded as 404s, client errors, not the fleet's errors
        assert client.post("/v1/chat/completions", json={"model": "nope", "messages": [
            {"role": "user", "content": "hi"}]}).status_code == 404
    assert app.extensions["history"].flush()
    figures = client.get("/v0/overview").get_json()
    assert figures["window"] == "1h" and len(figures["series"]["at"]) == 60
    assert figures["totals"]["requests"] == 3 and figures["totals"]["client_errors"] == 3
    assert figures["totals"]["errors"] == 0 and figures["totals"]["error_rate"] == 0.0
    assert figures["totals"]["latency_p50_ms"] is None  # no answer yet: no latency
    assert sum(figures["series"]["requests"]) == 3
    week = client.get("/v0/overview?window=7d").get_json()
    assert week["totals"]["requests"] == 3 and len(week["series"]["at"]) == 168


def test_an_unknown_window_is_a_400_naming_it(client):
    response = client.get("/v0/overview?window=1y")
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["param"] == "window" and "1h, 24h, 7d" in error["message"]
