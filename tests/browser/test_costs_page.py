"""The Costs page in a real browser against the real router (gunicorn), with cloud requests sent through it
to a local imitation of Anthropic's API: two on a priced model and one on a model with no price. The page
shows their totals (the unpriced one counted and explained, never as $0), draws the chart, gives the same
numbers in its tables by period, provider, model and API key, refreshes in place while the keyboard focus
stays put, switches period by keyboard, and passes axe (AAA) in English and Japanese, light and dark.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone

import pytest
import requests
from playwright.sync_api import Page, expect

from tests.support.browser import sign_in
from tests.support.cloud_imitation import CloudImitation, Reply
from tests.support.router_process import RouterProcess, start_router

pytestmark = pytest.mark.browser

KEY = "sk-ant-imitation-costs-page"
PRICED, UNPRICED = "anthropic:claude-sonnet-4-5", "anthropic:claude-unknown-9"
# per request: 1,000 uncached + 2,000 cache reads + 500 cache writes in, 300 out, at 3 / 0.30 / 3.75 / 15 USD
# per 1M tokens = $0.009975
USAGE = {"input": 1000, "cached": 2000, "cache_write": 500, "output": 300}


@dataclass
class World:
    router: RouterProcess
    key: str  # a router API key named "team-a"

    def chat(self, model: str) -> None:
        response = requests.post(f"{self.router.url}/v1/chat/completions", timeout=10,
                                 headers={"Authorization": f"Bearer {self.key}"},
                                 json={"model": model, "messages": [{"role": "user", "content": "Salut"}]})
        assert response.status_code == 200, response.text

    def costs(self) -> dict:
        response = requests.get(f"{self.router.url}/v0/costs", headers=self.router.auth_headers, timeout=10)
        assert response.status_code == 200, response.text
        return response.json()

    def wait_for_requests(self, count: int) -> None:
        deadline = time.monotonic() + 15
        while self.costs()["totals"]["requests"] != count:
            assert time.monotonic() < deadline, f"the history writer never recorded {count} requests"
            time.sleep(0.1)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, hub) -> Iterator[World]:
    imitation = CloudImitation("anthropic", key=KEY, default=Reply(text="Bonjour.", usage=USAGE)).start()
    router = start_router(tmp_path_factory.mktemp("costs"), hub.url,
                          {"ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": imitation.base_url,
                           "LLM_ROUTER_UI_POLL_SECONDS": "1"})
    try:
        key = requests.post(f"{router.url}/v0/api-keys", headers=router.auth_headers, timeout=10,
                            json={"name": "team-a", "scopes": ["api"]}).json()["key"]
        world = World(router, key)
        for model in (PRICED, PRICED, UNPRICED):
            world.chat(model)
        world.wait_for_requests(3)
        yield world
    finally:
        router.stop()
        imitation.stop()


def open_costs(page: Page, world: World, path: str = "/costs", lang: str = "en") -> None:
    if not page.context.cookies(world.router.url):
        sign_in(page, world.router, next_path=path)
    page.context.add_cookies([{"name": "lang", "value": lang, "url": world.router.url}])
    page.goto(f"{world.router.url}{path}")
    expect(page.locator("html")).to_have_attribute("lang", lang)
    expect(page.locator("#costs-chart canvas")).to_have_count(1)  # uPlot has drawn the chart


def rows(page: Page, table: str) -> list[list[str]]:
    body = page.locator(f"#{table} tbody tr")
    return [[text.strip() for text in body.nth(i).locator("th, td").all_inner_texts()] for i in range(body.count())]


def test_the_totals_chart_and_tables_show_what_the_requests_cost(world: World, page: Page, audit):
    open_costs(page, world)
    expect(page.locator('[data-total="cost"]')).to_have_text("$0.01995")  # the priced requests'
    expect(page.locator('[data-total="cost-more"]')).to_have_text("plus 1 unpriced request, cost unknown")
    expect(page.locator('[data-total="requests"]')).to_have_text("3")
    expect(page.locator('[data-total="unpriced"]')).to_have_text("1")
    expect(page.locator("#costs-unpriced")).to_contain_text("1 request used a model with no known price")
    today = datetime.now(timezone.utc).date().isoformat()
    assert rows(page, "costs-buckets")[0] == [today, "$0.01995 + unpriced", "3", "1", "10,500", "6,000", "900"]
    assert rows(page, "costs-buckets")[1][1:4] == ["$0.00", "0", "0"]  # a day without requests cost nothing
    assert rows(page, "costs-providers") == [["Anthropic", "$0.01995 + unpriced", "3", "1", "10,500", "6,000", "900"]]
    assert rows(page, "costs-models") == [[PRICED, "$0.01995", "2", "0", "7,000", "4,000", "600"],
                                          [UNPRICED, "Unknown (unpriced)", "1", "1", "3,500", "2,000", "300"]]
    assert rows(page, "costs-keys") == [["team-a", "$0.01995 + unpriced", "3", "1", "10,500", "6,000", "900"]]
    audit("Costs, per day")
    open_costs(page, world, "/costs?period=month", lang="ja")
    expect(page.locator('[data-total="unpriced"]')).to_have_text("1")
    audit("Costs, per month, Japanese")


def test_the_period_is_switched_by_keyboard(world: World, page: Page):
    open_costs(page, world)
    page.locator("#period-day").focus()
    page.keyboard.press("Tab")
    expect(page.locator("#period-week")).to_be_focused()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    expect(page.locator("#period-week")).to_have_attribute("aria-current", "page")
    expect(page.locator("#costs-chart canvas")).to_have_count(1)
    expect(page.locator("#costs-chart-title")).to_have_text("Cost per week")
    expect(page.locator("#costs-buckets thead th").first).to_have_text("Week")
    first = rows(page, "costs-buckets")[0]
    year, week, _day = datetime.now(timezone.utc).isocalendar()
    assert first[0].startswith(f"{year}-W{week:02d} (from ") and first[1] == "$0.01995 + unpriced"
    assert len(rows(page, "costs-buckets")) == 12


def test_the_figures_refresh_in_place_and_the_focus_stays(world: World, page: Page):
    """Runs last in this module: it adds a request to the three the other tests count."""
    open_costs(page, world)
    region = page.locator("#costs-models-region")
    region.focus()
    world.chat(PRICED)
    world.wait_for_requests(4)
    expect(page.locator('[data-total="requests"]')).to_have_text("4")  # polled every second, without a reload
    expect(page.locator('[data-total="cost"]')).to_have_text("$0.029925")
    expect(page.locator("#costs-models-region")).to_be_focused()
    expect(page.locator("#costs-chart canvas")).to_have_count(1)
