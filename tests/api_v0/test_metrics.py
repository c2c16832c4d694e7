"""`GET /v0/metrics`: Prometheus text, in-process and from the real router under gunicorn, where
every worker's counts must add up whichever worker answers the scrape."""

from __future__ import annotations

import requests
from prometheus_client.parser import text_string_to_metric_families

from app.extensions import db
from app.services.fleet import nodes, polling
from tests.support.factories import NODE, STATUS, make_api_key
from tests.support.router_process import RouterProcess

CHAT = "/v1/chat/completions"
HELLO = [{"role": "user", "content": "Hello"}]


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """{(sample name, sorted labels): value} of a scrape."""
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def scrape(client) -> dict:
    response = client.get("/v0/metrics")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    return samples(response.get_data(as_text=True))


def requests_counted(figures: dict, model: str, status: str, endpoint: str = CHAT) -> float:
    return figures.get(("llm_router_inference_requests_total",
                        (("endpoint", endpoint), ("model", model), ("status", status))), 0.0)


def test_inference_answers_are_counted_by_endpoint_model_and_status(app, client):
    key = make_api_key(app, ["api"])
    assert client.post("/v0/models/register", json={"id": "qwen3-0.6b"}).status_code == 201
    before = scrape(client)
    headers = {"Authorization": f"Bearer {key}"}
    assert client.post(CHAT, json={"model": "no-such-model", "messages": HELLO}, headers=headers).status_code == 404
    assert client.post(CHAT, json={"model": "qwen3-0.6b", "messages": HELLO}, headers=headers).status_code == 503
    assert client.post("/v1/embeddings", json={"model": "qwen3-0.6b"}, headers=headers).status_code == 400
    after = scrape(client)
    # An unknown model counts without its name: labels hold only what an admin registered.
    assert requests_counted(after, "", "404") - requests_counted(before, "", "404") == 1
    assert requests_counted(after, "qwen3-0.6b", "503") - requests_counted(before, "qwen3-0.6b", "503") == 1
    assert requests_counted(after, "", "400", "/v1/embeddings") - requests_counted(before, "", "400", "/v1/embeddings") == 1
    histogram = ("llm_router_inference_response_seconds_count", (("endpoint", CHAT),))
    assert after[histogram] - before.get(histogram, 0) == 2
    assert not any("no-such-model" in str(labels) for _name, labels in after)


def test_the_fleet_is_read_at_each_scrape(app, client):
    with app.app_context():
        busy = nodes.register_node(NODE)[0]
        polling.apply_status(busy, STATUS)
        gone = nodes.register_node({**NODE, "name": "laptop"})[0]
        polling.apply_status(gone, STATUS)
        for _ in range(polling.OFFLINE_AFTER_FAILED_POLLS):
            polling.record_failed_poll(gone, "ConnectionError")
        db.session.commit()
    client.post("/v0/models/register", json={"id": "qwen3-0.6b"})
    figures = scrape(client)
    assert figures[("llm_router_nodes", (("state", "online"),))] == 1
    assert figures[("llm_router_nodes", (("state", "offline"),))] == 1
    assert figures[("llm_router_node_up", (("node", "gpu-box"),))] == 1
    assert figures[("llm_router_node_up", (("node", "laptop"),))] == 0
    assert figures[("llm_router_node_cpu_percent", (("node", "gpu-box"),))] == 12.5
    assert figures[("llm_router_node_active_requests", (("node", "gpu-box"),))] == 2
    assert figures[("llm_router_node_gpu_utilization_percent", (("gpu", "0"), ("node", "gpu-box")))] == 87.0
    assert figures[("llm_router_node_gpu_memory_used_bytes", (("gpu", "0"), ("node", "gpu-box")))] == 6 * 1024 ** 3
    assert ("llm_router_node_cpu_percent", (("node", "laptop"),)) not in figures  # no stale figures when offline
    assert figures[("llm_router_models", (("lifecycle", "registered"),))] == 1
    assert figures[("llm_router_models", (("lifecycle", "ready"),))] == 0


def test_every_worker_counts_in_every_scrape(live_router: RouterProcess):
    """Two gunicorn workers answer requests and scrapes in turn; each scrape must count them all."""
    admin = live_router.auth_headers
    key = requests.post(f"{live_router.url}/v0/api-keys", headers=admin, json={"name": "scraper", "scopes": ["api"]},
                        timeout=10).json()["key"]
    headers = {"Authorization": f"Bearer {key}"}
    for _ in range(20):  # new connections each time, so both workers take some
        answer = requests.post(f"{live_router.url}{CHAT}", json={"model": "unknown", "messages": HELLO},
                               headers={**headers, "Connection": "close"}, timeout=10)
        assert answer.status_code == 404
    counts = set()
    for _ in range(6):
        scraped = requests.get(f"{live_router.url}/v0/metrics", headers={**headers, "Connection": "close"}, timeout=10)
        assert scraped.status_code == 200, scraped.text
        counts.add(requests_counted(samples(scraped.text), "", "404"))
    assert counts == {20.0}
    workers = {line.split("pid: ")[1].rstrip(")") for line in live_router.log_path.read_text().splitlines()
               if "Booting worker with pid" in line}
    assert len(workers) == 2


def test_a_scraper_without_a_key_gets_a_401_not_a_login_page(anonymous_client):
    response = anonymous_client.get("/v0/metrics")
    assert response.status_code == 401 and response.get_json()["error"]["code"] == "authentication_required"
