"""The Logs page in a real browser against a real router: a query built with the keyboard (two
conditions, AND then OR, the minimum level) shows exactly the lines the router logged; an invalid
regular expression is shown on the condition it is about; saved filters are saved, applied and
deleted; follow mode adds a new line at the top; the filter survives as a link; axe finds nothing
in English or Japanese, light or dark. A real node agent's lines show on its page (recent logs) and on
its tab; once it stops, its tab says it is offline.

The router's own log lines are made by doing things it logs at info level: creating users
("user <name> created (viewer)", logger app.services.accounts.users) and API keys
("API key <id> (<prefix>, scopes api) created by admin", logger app.services.accounts.api_keys)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from playwright.sync_api import Page, expect

from tests.support.browser import create_user_via_api, sign_in
from tests.support.cluster import start_cluster
from tests.support.hub_imitation import HubImitation
from tests.support.router_process import RouterProcess, start_router

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def router(tmp_path_factory: pytest.TempPathFactory, hub: HubImitation) -> Iterator[RouterProcess]:
    """Pages refreshed every second (follow mode's interval); a viewer and an api key logged once."""
    process = start_router(tmp_path_factory.mktemp("logs-page"), hub.url, {"LLM_ROUTER_UI_POLL_SECONDS": "1"})
    create_user_via_api(process, "logtest-alice", "alice password 1", "viewer")
    created = requests.post(f"{process.url}/v0/api-keys", headers=process.auth_headers, timeout=10,
                            json={"name": "logtest-key", "scopes": ["api"]})
    assert created.status_code == 201, created.text
    yield process
    process.stop()


def messages(page: Page) -> list[str]:
    return page.locator("#logs-table tbody .log-line__message").all_text_contents()


def open_logs(page: Page, router: RouterProcess, query: str = "") -> None:
    sign_in(page, router, next_path="/logs" + query)
    expect(page.locator("#logs-status")).not_to_have_text("Loading…")


def saved_filters_via_api(router: RouterProcess) -> list[dict]:
    response = requests.get(f"{router.url}/v0/log-filters", headers=router.auth_headers, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()["filters"]


def add_condition(page: Page, field_steps: int, op_steps: int, value: str) -> None:
    """From "Add condition": Enter adds a row and focuses its field; arrows pick the field and the
    comparison, and the value is typed."""
    page.locator("#add-condition").focus()
    page.keyboard.press("Enter")
    for _ in range(field_steps):
        page.keyboard.press("ArrowDown")
    page.keyboard.press("Tab")
    for _ in range(op_steps):
        page.keyboard.press("ArrowDown")
    page.keyboard.press("Tab")
    page.keyboard.type(value)


def test_a_query_built_with_the_keyboard(router: RouterProcess, page: Page, audit):
    open_logs(page, router)
    expect(page.locator("#log-sources [aria-current=page]")).to_have_text("Router")
    add_condition(page, 0, 0, "logtest-alice")          # message contains
    expect(page.get_by_role("group", name="Condition 1")).to_be_visible()
    add_condition(page, 1, 2, r"accounts\.api_keys$")   # logger matches the regular expression
    row = page.get_by_role("group", name="Condition 2")
    expect(row.get_by_label("Field")).to_have_value("logger")
    expect(row.get_by_label("Comparison")).to_have_value("regex")
    page.keyboard.press("Enter")  # submits from the value field: AND, nothing has both
    expect(page.locator("#logs-status")).to_have_text("No lines match this filter.")
    assert messages(page) == []

    page.get_by_label("All conditions (AND)").focus()
    page.keyboard.press("ArrowRight")
    expect(page.get_by_label("Any condition (OR)")).to_be_checked()
    page.locator("#show-logs").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#logs-table tbody tr")).to_have_count(2)
    found = messages(page)
    assert any("user logtest-alice created (viewer)" in message for message in found), found
    assert any("scopes api) created by admin" in message for message in found), found
    loggers = page.locator("#logs-table tbody .log-line__logger").all_text_contents()
    assert sorted(loggers) == ["app.services.accounts.api_keys", "app.services.accounts.users"]
    expect(page.locator("#logs-status")).to_have_text("2 lines, newest first.")
    query = parse_qs(urlsplit(page.url).query)
    assert query["match"] == ["any"] and query["c"] == ["message:contains:logtest-alice",
                                                        r"logger:regex:accounts\.api_keys$"]
    audit("Logs, two matching lines")

    page.locator("#log-level").focus()
    page.keyboard.press("ArrowDown")  # info -> warning
    expect(page.locator("#log-level")).to_have_value("warning")
    page.locator("#show-logs").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#logs-status")).to_have_text("No lines match this filter.")

    # The address is the filter: opened again, it shows the same form.
    page.goto(page.url)
    expect(page.locator("#log-level")).to_have_value("warning")
    expect(page.get_by_label("Any condition (OR)")).to_be_checked()
    expect(page.get_by_role("group", name="Condition 2").get_by_label("Value")).to_have_value(r"accounts\.api_keys$")

    # Removing a condition focuses the next control and renumbers the rest.
    page.get_by_role("button", name="Remove condition 1").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("group", name="Condition 2")).to_have_count(0)
    expect(page.get_by_role("group", name="Condition 1").get_by_label("Field")).to_be_focused()


def test_an_invalid_regular_expression_is_shown_on_its_condition(router: RouterProcess, page: Page, audit):
    open_logs(page, router)
    add_condition(page, 0, 0, "")           # left out: empty
    add_condition(page, 0, 2, "(unclosed")  # sent as conditions[0]
    page.keyboard.press("Enter")
    value = page.get_by_role("group", name="Condition 2").get_by_label("Value")
    expect(value).to_have_attribute("aria-invalid", "true")
    expect(value).to_be_focused()
    error = page.get_by_role("group", name="Condition 2").locator("[data-error]")
    expect(error).not_to_be_empty()
    expect(value).to_have_accessible_description(error.text_content())
    expect(page.get_by_role("group", name="Condition 1").get_by_label("Value")).not_to_have_attribute(
        "aria-invalid", "true")
    audit("Logs, an invalid regular expression")
    page.keyboard.type(")")
    expect(value).not_to_have_attribute("aria-invalid", "true")  # typing clears the error


def test_save_apply_and_delete_a_filter(router: RouterProcess, page: Page, audit):
    open_logs(page, router)
    expect(page.locator("#saved-empty")).to_be_visible()
    add_condition(page, 0, 0, "logtest-alice")
    page.keyboard.press("Enter")
    expect(page.locator("#logs-table tbody tr")).to_have_count(1)

    page.locator("#filter-name").focus()
    page.keyboard.type("alice")
    page.keyboard.press("Enter")
    expect(page.locator("#saved-filter option")).to_have_text(["alice"])
    expect(page.locator("#live-region")).to_have_text("Saved the filter “alice”.")
    expect(page.locator("#saved-filter")).to_have_value(str(saved_filters_via_api(router)[0]["id"]))
    assert saved_filters_via_api(router)[0]["query"]["conditions"] == [
        {"field": "message", "op": "contains", "value": "logtest-alice"}]

    page.locator("#filter-name").focus()
    page.keyboard.type("alice")
    page.keyboard.press("Enter")  # the same name again: refused, next to the name
    expect(page.locator("#filter-name")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#filter-name-error")).not_to_be_empty()
    audit("Logs, a saved filter and a refused name")

    page.locator("#reset-query").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#conditions li")).to_have_count(0)
    expect(page.locator("#logs-table tbody tr")).not_to_have_count(1)

    page.locator("#apply-filter").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("group", name="Condition 1").get_by_label("Value")).to_have_value("logtest-alice")
    expect(page.locator("#logs-table tbody tr")).to_have_count(1)
    assert parse_qs(urlsplit(page.url).query)["c"] == ["message:contains:logtest-alice"]

    page.locator("#delete-filter").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#saved-empty")).to_be_visible()
    expect(page.locator("#filter-name")).to_be_focused()
    assert saved_filters_via_api(router) == []


def test_follow_mode_adds_a_new_line_at_the_top(router: RouterProcess, page: Page):
    open_logs(page, router, "?c=message:contains:logtest-")
    expect(page.locator("#logs-table tbody tr")).to_have_count(1)
    follow = page.get_by_role("button", name="Follow new lines")
    follow.focus()
    page.keyboard.press("Enter")
    expect(follow).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#live-region")).to_contain_text("Following")
    create_user_via_api(router, "logtest-carol", "carol password 1", "viewer")
    first = page.locator("#logs-table tbody tr").first.locator(".log-line__message")
    expect(first).to_contain_text("user logtest-carol created (viewer)", timeout=10_000)
    expect(page.locator("#logs-table tbody tr")).to_have_count(2)
    expect(page.locator("#logs-status")).to_have_text("1 new line at the top.")
    page.keyboard.press("Enter")
    expect(follow).to_have_attribute("aria-pressed", "false")


@pytest.mark.parametrize("lang", ("en", "ja"))
def test_the_page_passes_axe(router: RouterProcess, page: Page, audit, lang: str):
    page.context.add_cookies([{"name": "lang", "value": lang, "url": router.url}])
    open_logs(page, router, "?match=any&c=message:contains:logtest-&c=logger:not_contains:x")
    expect(page.locator("html")).to_have_attribute("lang", lang)
    expect(page.locator("#logs-table tbody tr").first).to_be_visible()
    page.locator("#log-range").select_option("custom")
    expect(page.locator("#log-since")).to_be_visible()
    audit(f"Logs ({lang}), lines, custom range")


def test_a_nodes_lines_on_its_page_and_its_tab(tmp_path: Path, hub: HubImitation, page: Page, audit):
    cluster = start_cluster(tmp_path, hub, {"LLM_ROUTER_UI_POLL_SECONDS": "1"})
    try:
        node = cluster.start_node("log-box")
        node_id = cluster.wait(lambda: next((n["id"] for n in cluster.api("GET", "/v0/nodes").json()["nodes"]
                                             if n["name"] == "log-box" and n["online"]), None), 30, "log-box online")
        sign_in(page, cluster.router, next_path=f"/nodes/{node_id}")
        recent = page.locator("#node-logs-table tbody")
        expect(recent).to_contain_text("registered with the router", timeout=10_000)
        expect(page.locator("#node-logs-status")).to_contain_text("The newest")
        audit("A node's page with its recent logs")

        page.get_by_role("link", name="All logs of this node").click()
        expect(page.locator("#log-sources [aria-current=page]")).to_have_text("log-box")
        expect(page.locator("#logs-table tbody")).to_contain_text("registered with the router")
        assert parse_qs(urlsplit(page.url).query)["source"] == [node_id]

        node.kill()
        cluster.wait(lambda: not cluster.node_record("log-box")["online"], 30, "log-box offline")
        page.locator("#show-logs").click()
        expect(page.locator("#logs-error")).to_contain_text("Node log-box is offline")
        expect(page.locator("#logs-table tbody tr")).to_have_count(0)
    finally:
        cluster.stop()
