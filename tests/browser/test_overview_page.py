"""The Overview in a real browser against the real router (gunicorn): requests sent to `/v1` (answered
through a node imitation, and refused for an unknown model) are recorded by the history writer, and
the page draws its graphs with them, gives the same figures in its tables, refreshes them in place
while the keyboard focus stays put, switches time range by keyboard, and passes axe in English and
Japanese, light and dark.

The node imitation (tests/support/node_imitation.py) speaks the node protocol and answers at once, so
the figures come from real requests through the router without a model.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
import requests
from playwright.sync_api import Page, expect

from tests.support.browser import register_node_imitation, register_via_api, sign_in
from tests.support.node_imitation import NodeImitation
from tests.support.router_process import RouterProcess, free_port, start_router

pytestmark = pytest.mark.browser

MODEL = "qwen3-0.6b"  # a catalog id: registering it needs no Hub
SUMMARY_REQUESTS = '#overview-summary [data-figure="requests"][data-period="current"]'
CHARTS = ("chart-nodes", "chart-models", "chart-requests", "chart-error-rate", "chart-latency", "chart-ttft",
          "chart-tps")


@dataclass
class Cluster:
    router: RouterProcess
    node: NodeImitation
    sent: int = 0  # /v1 requests sent, each recorded in the history whatever its answer

    def chat(self, model: str = MODEL) -> requests.Response:
        self.sent += 1
        return requests.post(f"{self.router.url}/v1/chat/completions", headers=self.router.auth_headers, timeout=10,
                             json={"model": model, "messages": [{"role": "user", "content": "Hello"}]})

    def ready_ids(self) -> list[str]:
        self.sent += 1  # GET /v1/models is a /v1 request too
        response = requests.get(f"{self.router.url}/v1/models", headers=self.router.auth_headers, timeout=10)
        return [model["id"] for model in response.json()["data"]]

    def dead_node(self) -> str:
        """Registers (once) a node nobody answers for: the router marks it offline after a few failed
        polls and raises a node_offline alert. Returns its name once the alert is active."""
        name = "gone-box"
        if not self.alerts():
            key = requests.post(f"{self.router.url}/v0/api-keys", json={"name": "dead node", "scopes": ["node"]},
                                headers=self.router.auth_headers, timeout=10).json()["key"]
            response = requests.post(f"{self.router.url}/v0/nodes", headers={"Authorization": f"Bearer {key}"},
                                     timeout=10, json={"name": name, "url": f"http://127.0.0.1:{free_port()}",
                                                       "platform": "linux-cpu", "engines": ["llama_cpp"],
                                                       "cpu_count": 1, "memory_bytes": 1024 ** 3, "gpus": [],
                                                       "version": "0.1.0"})
            assert response.status_code == 201, response.text
            wait_until(lambda: [alert["subject"] for alert in self.alerts()] == [name], "the node_offline alert")
        return name

    def alerts(self) -> list[dict]:
        response = requests.get(f"{self.router.url}/v0/alerts", params={"active": 1},
                                headers=self.router.auth_headers, timeout=10)
        assert response.status_code == 200, response.text
        return response.json()["alerts"]

    def overview(self, window: str = "1h") -> dict:
        response = requests.get(f"{self.router.url}/v0/overview", params={"window": window},
                                headers=self.router.auth_headers, timeout=10)
        assert response.status_code == 200, response.text
        return response.json()


def wait_until(condition: Callable[[], object], what: str, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, hub) -> Iterator[Cluster]:
    """A router polling every second, with one node imitation serving MODEL; the page refreshes every 2 s.
    Three answered requests and one refused (404: no such model) are in the history before any test."""
    router = start_router(tmp_path_factory.mktemp("overview"), hub.url,
                          {"LLM_ROUTER_NODE_POLL_SECONDS": "1", "LLM_ROUTER_UI_POLL_SECONDS": "2",
                           "LLM_ROUTER_ROUTING_CACHE_SECONDS": "0"})
    node = NodeImitation((MODEL,), name="imitation").start()
    try:
        register_via_api(router, id=MODEL)
        register_node_imitation(router, node)
        node.tokens = 12
        cluster = Cluster(router, node)
        wait_until(lambda: cluster.ready_ids() == [MODEL], "the imitated model to be ready")
        for _ in range(3):
            assert cluster.chat().status_code == 200
        assert cluster.chat("no-such-model").status_code == 404
        wait_until(lambda: cluster.overview()["totals"]["requests"] == cluster.sent, "the history writer")
        yield cluster
    finally:
        node.stop()
        router.stop()


def open_overview(page: Page, cluster: Cluster, path: str = "/", lang: str = "en") -> None:
    """Signs in (once per test), then opens the page in `lang` and waits for its graphs."""
    if not page.context.cookies(cluster.router.url):
        sign_in(page, cluster.router, next_path=path)
    page.context.add_cookies([{"name": "lang", "value": lang, "url": cluster.router.url}])
    page.goto(f"{cluster.router.url}{path}")
    expect(page.locator("html")).to_have_attribute("lang", lang)
    for chart in CHARTS:  # uPlot has drawn into every graph
        expect(page.locator(f"#{chart} canvas")).to_have_count(1)


def requests_figure(page: Page) -> str:
    return page.locator('#overview [data-figure="requests"]').first.inner_text()


def bucket_table(page: Page) -> list[dict[str, str]]:
    """The per-bucket table (opened first), as {column header: cell text} per row, newest first."""
    details = page.locator("#overview-buckets")
    if details.get_attribute("open") is None:
        details.locator("summary").click()
    headers = [header.strip() for header in page.locator("#overview-buckets-table thead th").all_text_contents()]
    rows = page.locator("#overview-buckets-table tbody tr")
    return [dict(zip(headers, rows.nth(i).locator("th, td").all_inner_texts())) for i in range(rows.count())]


def test_the_graphs_are_drawn_with_the_recorded_requests(cluster: Cluster, page: Page):
    open_overview(page, cluster)
    figures = cluster.overview()
    assert figures["totals"]["requests"] == cluster.sent >= 4
    assert (figures["totals"]["errors"], figures["totals"]["client_errors"]) == (0, 1)
    expect(page.locator(SUMMARY_REQUESTS)).to_have_text(str(figures["totals"]["requests"]))
    expect(page.locator('.metric [data-figure="error_rate"]')).to_have_text("0%")  # a 404 is the client's error
    expect(page.locator('.metric [data-figure="latency_p50_ms"]')).to_have_text(re.compile(r"^[\d.,]+ ms$"))
    expect(page.locator('[data-fleet="nodes_online"]')).to_have_text("1")
    expect(page.locator('[data-fleet="models_ready"]')).to_have_text("1")

    for chart in CHARTS:  # a canvas the width of its card, as tall as the page asks
        size = page.locator(f"#{chart} canvas").evaluate("(c) => [c.clientWidth, c.clientHeight]")
        assert size[0] >= 200 and size[1] >= 100, (chart, size)
        expect(page.locator(f"#{chart}")).to_have_attribute("role", "img")

    # The graphs' points are the table's rows: the minutes with requests have figures, the others gaps.
    rows = bucket_table(page)
    assert len(rows) == 60
    busy = [row for row in rows if row["Requests"] != "0"]
    assert sum(int(row["Requests"]) for row in rows) == figures["totals"]["requests"]
    assert any(row["Latency p50"].endswith(" ms") and row["Tokens per second"].endswith(" tokens/s") for row in busy)
    assert all(row["Latency p50"] == "—" for row in rows if row["Requests"] == "0")
    assert any(row["Nodes online"] == "1" for row in rows)
    series = figures["series"]
    assert [value for value in series["latency_p50_ms"] if value is not None]  # what the latency graph drew


def test_figures_refresh_in_place_keeping_the_focus(cluster: Cluster, page: Page):
    open_overview(page, cluster)
    before = cluster.overview()["totals"]["requests"]
    expect(page.locator(SUMMARY_REQUESTS)).to_have_text(str(before))
    summary = page.locator("#overview-buckets summary")
    summary.focus()
    summary.press("Enter")  # opens the per-minute table by keyboard
    expect(page.locator("#overview-buckets")).to_have_attribute("open", "")
    canvas = page.locator("#chart-requests canvas").element_handle()
    for _ in range(2):
        assert cluster.chat().status_code == 200
    wait_until(lambda: cluster.overview()["totals"]["requests"] == before + 2, "the history writer")
    expect(page.locator(SUMMARY_REQUESTS)).to_have_text(str(before + 2), timeout=10000)
    expect(page.locator('.metric [data-figure="requests"]')).to_have_text(str(before + 2))
    assert page.evaluate("() => document.activeElement.tagName") == "SUMMARY"
    assert page.evaluate("(canvas) => canvas.isConnected", canvas)  # the graph was updated, not redrawn anew
    assert sum(int(row["Requests"]) for row in bucket_table(page)) == before + 2


def test_the_time_range_switches_by_keyboard(cluster: Cluster, page: Page):
    open_overview(page, cluster)
    current = page.locator('.window-switch [aria-current="page"]')
    expect(current).to_have_text("Last hour")
    page.locator("#main").focus()
    for _ in range(10):  # Tab from the top of the page's content to the switch
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement.textContent.trim()") == "Last 24 hours":
            break
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{cluster.router.url}/?window=24h")
    expect(current).to_have_text("Last 24 hours")
    expect(page.locator("#buckets-caption")).to_have_text("Figures per hour, newest first")
    assert len(bucket_table(page)) == 24
    expect(page.locator(SUMMARY_REQUESTS)).to_have_text(
        str(cluster.overview("24h")["totals"]["requests"]))
    page.get_by_role("link", name="Last 7 days").focus()
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{cluster.router.url}/?window=7d")
    expect(current).to_have_text("Last 7 days")
    assert len(bucket_table(page)) == 168


def test_active_alerts_are_listed(cluster: Cluster, page: Page):
    open_overview(page, cluster)
    name = cluster.dead_node()
    items = page.locator("#alert-list .alert-item")
    expect(items).to_have_count(1, timeout=10000)  # at the next refresh
    expect(items.first.locator(".alert-item__message")).to_have_text(f"Node {name} is offline.")
    expect(items.first.locator(".alert-item__meta")).to_have_text(
        re.compile(rf"^Node offline · {name} · Since \d{{4}}-\d\d-\d\d \d\d:\d\d UTC$"))
    expect(page.locator("#alerts-empty")).to_be_hidden()
    expect(page.locator('[data-fleet="nodes_offline"]')).to_have_text("1")
    expect(page.locator('.fleet-card:has([data-fleet="nodes_offline"])')).to_have_attribute("data-attention", "true")


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_accessibility_in_both_languages_and_schemes(cluster: Cluster, page: Page, audit, lang: str):
    cluster.dead_node()  # an alert in the list
    open_overview(page, cluster, lang=lang)
    expect(page.locator("#alert-list .alert-item")).to_have_count(1)
    audit("Overview, last hour")
    bucket_table(page)
    audit("Overview, per-minute table open")
    open_overview(page, cluster, "/?window=7d", lang=lang)
    audit("Overview, last 7 days")
