"""The Models page's cloud tabs in a real browser: the real router (gunicorn) with OpenAI and Anthropic keys,
each provider a local imitation of its API; Google has no key, so no tab."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.support.browser import sign_in
from tests.support.cloud_imitation import CloudImitation
from tests.support.router_process import RouterProcess, start_router

pytestmark = pytest.mark.browser


@pytest.fixture
def cloud_router(tmp_path: Path, hub) -> Iterator[RouterProcess]:
    with CloudImitation("openai", key="page-openai-key") as openai_api, \
            CloudImitation("anthropic", key="page-anthropic-key") as anthropic_api:
        router = start_router(tmp_path, hub.url, {
            "OPENAI_API_KEY": "page-openai-key", "OPENAI_BASE_URL": openai_api.base_url,
            "ANTHROPIC_API_KEY": "page-anthropic-key", "ANTHROPIC_BASE_URL": anthropic_api.base_url})
        yield router
        router.stop()


def test_a_tab_per_provider_with_a_key_listing_its_models_and_prices(cloud_router: RouterProcess, page: Page,
                                                                      audit):
    sign_in(page, cloud_router)
    page.goto(f"{cloud_router.url}/models")
    tabs = page.get_by_role("navigation", name="Model views").get_by_role("link")
    expect(tabs).to_have_text(["Model Hub", "Local", "OpenAI", "Anthropic"])  # no key for Google: no tab
    tabs.filter(has_text="Anthropic").focus()
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{cloud_router.url}/models/cloud/anthropic")
    expect(tabs.filter(has_text="Anthropic")).to_have_attribute("aria-current", "page")
    row = page.locator('tr[data-model-id="anthropic:claude-sonnet-4-5"]')
    expect(row.get_by_role("cell")).to_have_text(["200,000", "64,000", "$3.00", "$0.30", "$15.00", "as of 2026-12-03"])
    audit("anthropic tab")
    page.goto(f"{cloud_router.url}/models/cloud/openai")
    embedding = page.locator('tr[data-model-id="openai:text-embedding-3-small"]')
    expect(embedding).to_be_visible()
    expect(page.locator('tr[data-model-id="openai:gpt-4o-mini"]').get_by_role("cell").nth(2)).to_have_text("$0.15")
    audit("openai tab")
    assert page.goto(f"{cloud_router.url}/models/cloud/google").status == 404


def test_the_cloud_tab_in_japanese(cloud_router: RouterProcess, page: Page):
    page.context.add_cookies([{"name": "lang", "value": "ja", "url": cloud_router.url}])
    sign_in(page, cloud_router)
    page.goto(f"{cloud_router.url}/models/cloud/anthropic")
    expect(page.get_by_role("heading", level=2)).to_have_text("Anthropic のモデル")
    expect(page.get_by_role("columnheader").nth(1)).to_have_text("コンテキスト長")
