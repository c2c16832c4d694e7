"""`GET /v0/costs`: what real cloud requests cost, through the router to a local imitation of Anthropic's API,
read back per day, week and month; who may read it; and the 400s naming a wrong parameter."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest

from app import create_app
from app.services.accounts import users
from tests.support.cloud_imitation import CloudImitation, Reply
from tests.support.factories import make_api_key, router_config

KEY = "sk-ant-imitation-costs"
MODEL = "anthropic:claude-sonnet-4-5"
# 1,000 uncached + 2,000 cache reads + 500 cache writes in, 300 out, at 3 / 0.30 / 3.75 / 15 USD per 1M tokens:
# (3,000 + 600 + 1,875 + 4,500) / 1M
USAGE = {"input": 1000, "cached": 2000, "cache_write": 500, "output": 300}
COST = "0.0099750000"
FIGURES = {"cost_usd", "requests", "unpriced", "prompt_tokens", "completion_tokens", "cached_tokens"}


@pytest.fixture
def anthropic() -> Iterator[CloudImitation]:
    with CloudImitation("anthropic", key=KEY, default=Reply(text="Bonjour.", usage=USAGE)) as imitation:
        yield imitation


@pytest.fixture
def cloud_app(tmp_path: Path, hub, anthropic: CloudImitation):
    application = create_app(router_config(tmp_path, hub.url, ANTHROPIC_API_KEY=KEY,
                                           ANTHROPIC_BASE_URL=anthropic.base_url))
    yield application
    application.extensions["hub_stats"].close()
    application.extensions["history"].close()


def test_a_cloud_requests_cost_is_recorded_and_summed(cloud_app):
    client = cloud_app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {make_api_key(cloud_app, ['admin'], 'team-a')}"
    for stream in (False, True):
        response = client.post("/v1/chat/completions", json={"model": MODEL, "stream": stream,
                                                             "messages": [{"role": "user", "content": "Salut"}]})
        assert response.status_code == 200, response.get_data(as_text=True)
        response.get_data()
        response.close()  # a stream is recorded when it ends
    response = client.post("/v1/chat/completions", json={"model": "anthropic:claude-unknown-9",
                                                         "messages": [{"role": "user", "content": "Salut"}]})
    assert response.status_code == 200
    assert cloud_app.extensions["history"].flush()

    records = client.get("/v0/requests").get_json()["requests"]
    assert [(record["model"], record["cost_usd"], record["unpriced"], record["cached_tokens"])
            for record in records] == [("anthropic:claude-unknown-9", None, True, 2000), (MODEL, COST, False, 2000),
                                       (MODEL, COST, False, 2000)]

    # the request's own page shows its cost, or says it is unknown
    assert 'id="request-cost">$0.009975<' in client.get(f"/requests/{records[1]['id']}").get_data(as_text=True)
    assert "Unknown (unpriced" in client.get(f"/requests/{records[0]['id']}").get_data(as_text=True)

    figures = client.get("/v0/costs?group_by=model").get_json()
    assert set(figures) == {"period", "time_zone", "since", "until", "currency", "group_by", "totals", "buckets",
                            "groups"}
    assert (figures["period"], figures["time_zone"], figures["currency"]) == ("day", "UTC", "USD")
    assert figures["totals"] == {"cost_usd": "0.0199500000", "requests": 3, "unpriced": 1, "prompt_tokens": 10500,
                                 "completion_tokens": 900, "cached_tokens": 6000}
    today = figures["buckets"][-1]
    assert today["label"] == datetime.now(timezone.utc).date().isoformat() and len(figures["buckets"]) == 30
    assert set(today) == {"start", "label", "groups"} | FIGURES
    assert [(group["key"], group["cost_usd"], group["requests"], group["unpriced"]) for group in today["groups"]] == [
        (MODEL, "0.0199500000", 2, 0), ("anthropic:claude-unknown-9", None, 1, 1)]
    assert figures["groups"] == today["groups"]

    by_key = client.get("/v0/costs?period=month&group_by=api_key").get_json()
    assert [(group["name"], group["cost_usd"]) for group in by_key["groups"]] == [("team-a", "0.0199500000")]
    week = client.get("/v0/costs?period=week").get_json()
    assert week["buckets"][-1]["cost_usd"] == "0.0199500000" and week["groups"] == []


def test_the_time_zone_is_read_at_each_request(app, client):
    assert client.get("/v0/costs").get_json()["time_zone"] == "UTC"
    app.config["COST_TIME_ZONE"] = "Asia/Tokyo"  # as the settings page changes it
    figures = client.get("/v0/costs?since=2026-12-01&until=2026-12-02").get_json()
    assert figures["time_zone"] == "Asia/Tokyo" and figures["since"] == "2026-12-01T00:00:00+09:00"


def test_viewers_read_costs_and_anonymous_callers_do_not(app, anonymous_client):
    with app.app_context():
        users.create_user("watcher", "watcher password", "viewer")
    token = anonymous_client.post("/v0/auth/login", json={"username": "watcher", "password": "watcher password"})
    viewer = app.test_client()
    viewer.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token.get_json()['token']}"
    assert viewer.get("/v0/costs?period=month").status_code == 200
    response = anonymous_client.get("/v0/costs")
    assert response.status_code == 401 and response.get_json()["error"]["message"]


@pytest.mark.parametrize("query, param", [
    ("period=year", "period"),
    ("group_by=user", "group_by"),
    ("since=last-week", "since"),
    ("since=2026-12-02&until=2026-12-01", "until"),
    ("since=2019-01-01&until=2026-12-01", "since"),
])
def test_a_wrong_parameter_is_a_400_naming_it(client, query, param):
    response = client.get(f"/v0/costs?{query}")
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["param"] == param and error["type"] == "invalid_request_error" and error["message"]
