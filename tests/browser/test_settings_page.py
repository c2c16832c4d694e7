"""The settings page in a real browser against a real router: it renders every section with the environment's
setting read-only, a refused value is shown beside its field (and announced), a secret is saved and removed
with the keyboard and shown only masked, and axe finds nothing in light or dark."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
import requests
from playwright.sync_api import Page, expect

from tests.support.browser import sign_in
from tests.support.router_process import RouterProcess, start_router

pytestmark = pytest.mark.browser

KEY = "sk-ant-api03-settings-page-0123456789-EndS"


@pytest.fixture(scope="module")
def router(tmp_path_factory: pytest.TempPathFactory, hub) -> Iterator[RouterProcess]:
    """A router started with the alert threshold in its environment."""
    process = start_router(tmp_path_factory.mktemp("settings-page"), hub.url, {"LLM_ROUTER_ALERT_ERROR_RATE": "0.3"})
    yield process
    process.stop()


@pytest.fixture
def settings_page(router: RouterProcess, page: Page) -> Iterator[Page]:
    sign_in(page, router, next_path="/settings")
    yield page
    requests.patch(f"{router.url}/v0/settings", headers=router.auth_headers, timeout=10,  # back to the defaults
                   json={"anthropic_api_key": None, "ui_poll_seconds": None, "price_overrides": None})


def stored(router: RouterProcess, name: str) -> dict:
    answer = requests.get(f"{router.url}/v0/settings", headers=router.auth_headers, timeout=10).json()
    return next(item for item in answer["settings"] if item["name"] == name)


def test_renders_every_section_with_the_environments_setting_read_only(settings_page: Page, audit):
    page = settings_page
    expect(page.get_by_role("heading", level=1)).to_have_text("Settings")
    expect(page.get_by_role("link", name="Settings")).to_have_attribute("aria-current", "page")
    for section in ("Cloud providers", "Request history", "Alerts", "Dashboard", "Costs", "Start-up settings"):
        expect(page.get_by_role("heading", name=section, level=2)).to_be_visible()
    threshold = page.get_by_label("Error rate threshold")
    expect(threshold).to_have_value("0.3")
    expect(threshold).to_have_attribute("readonly", "")
    expect(threshold).to_have_accessible_description(
        "The share of requests answered with a server error over 5 minutes above which an alert is raised (0.2 is "
        "20%). Set by the environment variable LLM_ROUTER_ALERT_ERROR_RATE (read-only here).")
    expect(page.locator("#settings-bootstrap")).to_contain_text("DATABASE_URL")
    audit("settings page")


def test_a_refused_value_is_shown_beside_its_field(settings_page: Page, router: RouterProcess, audit):
    page = settings_page
    poll = page.get_by_label("Refresh interval (seconds)")
    poll.fill("0")
    page.get_by_label("Days kept").fill("3")
    page.get_by_role("button", name="Save settings").click()
    message = "The refresh interval must be a whole number of seconds, 1 or more."
    expect(page.locator("#setting-ui_poll_seconds-error")).to_have_text(message)
    expect(poll).to_have_attribute("aria-invalid", "true")
    expect(poll).to_be_focused()
    expect(poll).to_have_accessible_description(re.compile(re.escape(message)))
    expect(page.locator("#live-region")).to_have_text(f"Not saved: {message}")
    assert stored(router, "ui_poll_seconds")["value"] == 10 and stored(router, "request_history_days")["value"] == 7
    audit("a refused value")

    overrides = page.get_by_label("Price overrides")
    overrides.fill("[{not json")
    poll.fill("5")
    page.get_by_role("button", name="Save settings").click()
    expect(page.locator("#setting-price_overrides-error")).to_contain_text("This is not valid JSON")
    expect(overrides).to_be_focused()
    expect(poll).not_to_have_attribute("aria-invalid", "true")  # the earlier error is gone
    assert stored(router, "ui_poll_seconds")["value"] == 10  # nothing was sent

    price = {"provider": "openai", "model": "gpt-page-test", "input": 1, "cached_input": None, "cache_write": None,
             "output": 4, "as_of": "2026-11-01", "source": "https://openai.com/api/pricing"}
    overrides.fill(json.dumps([{**price, "output": -4}]))
    page.get_by_role("button", name="Save settings").click()
    expect(page.locator("#setting-price_overrides-error")).to_contain_text("price override 0: field 'output'")
    expect(overrides).to_have_attribute("aria-invalid", "true")
    overrides.fill(json.dumps([price]))
    page.get_by_role("button", name="Save settings").click()
    expect(page.locator("#settings-status")).to_have_text("Settings saved.")
    expect(overrides).not_to_have_attribute("aria-invalid", "true")
    assert stored(router, "price_overrides")["value"] == [price] and stored(router, "ui_poll_seconds")["value"] == 5


def test_a_secret_is_saved_and_removed_with_the_keyboard(settings_page: Page, router: RouterProcess):
    page = settings_page
    key_field = page.get_by_label("Anthropic API key")
    key_field.focus()
    page.keyboard.type(KEY)
    page.keyboard.press("Enter")  # submits the form
    expect(page.locator("#settings-status")).to_have_text("Settings saved.")
    expect(page.locator("#setting-anthropic_api_key-state")).to_have_text("Set: ••••EndS")
    expect(key_field).to_have_value("")  # never kept in the page
    assert KEY not in page.content()
    assert stored(router, "anthropic_api_key") | {"is_set": True, "source": "database"} == stored(
        router, "anthropic_api_key")

    remove = page.locator('[data-setting="anthropic_api_key"]').get_by_label("Remove the stored value")
    remove.focus()
    page.keyboard.press("Space")
    expect(remove).to_be_checked()
    for _ in range(40):  # on through the fields to the Save button
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "settings-save":
            break
    expect(page.get_by_role("button", name="Save settings")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#setting-anthropic_api_key-state")).to_have_text("Not set")
    expect(remove).to_be_hidden()
    assert stored(router, "anthropic_api_key")["is_set"] is False


def test_nothing_changed_is_said_and_sends_nothing(settings_page: Page, router: RouterProcess):
    page = settings_page
    page.get_by_role("button", name="Save settings").click()
    expect(page.locator("#settings-status")).to_have_text("Nothing to save: no field was changed.")
