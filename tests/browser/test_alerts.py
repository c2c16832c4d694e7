"""Alert toasts in a real browser against a real router polling its nodes every second (node imitations):
a node stopped while the Models page is open raises a toast within 15 s, announced by the toast
region and dismissed by keyboard; a page change or a new tab replays nothing; the Nodes page shows one
toast per event, not two; axe finds nothing on a page with a toast, in English and Japanese, light
and dark."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Page, expect

from tests.support.browser import sign_in
from tests.support.hub_imitation import HubImitation
from tests.support.inference import node_body
from tests.support.node_imitation import NodeImitation
from tests.support.router_process import RouterProcess, start_router

pytestmark = pytest.mark.browser

LAST_SEEN_KEY = "llm-router.alerts.last-seen"  # alerts.js keeps the last alert id it saw under this key


@pytest.fixture
def router(tmp_path: Path, hub: HubImitation) -> Iterator[RouterProcess]:
    """Nodes polled (and alerts judged) every second; pages poll every second."""
    process = start_router(tmp_path, hub.url, {"LLM_ROUTER_NODE_POLL_SECONDS": "1", "LLM_ROUTER_UI_POLL_SECONDS": "1"})
    yield process
    process.stop()


@pytest.fixture
def add_node(router: RouterProcess) -> Iterator[Callable[[str], NodeImitation]]:
    """Starts and registers a node imitation under a name."""
    key = requests.post(f"{router.url}/v0/api-keys", headers=router.auth_headers, timeout=10,
                        json={"name": "node", "scopes": ["node"]}).json()["key"]
    started: list[NodeImitation] = []

    def add(name: str) -> NodeImitation:
        imitation = NodeImitation(("tiny",), name=name).start()
        started.append(imitation)
        registered = requests.post(f"{router.url}/v0/nodes", json=node_body(imitation.name, imitation.url), timeout=10,
                                   headers={"Authorization": f"Bearer {key}"})
        assert registered.status_code == 201, registered.text
        imitation.token = registered.json()["token"]
        return imitation

    yield add
    for imitation in started:
        imitation.stop()


def alerts_of(router: RouterProcess) -> list[dict]:
    return requests.get(f"{router.url}/v0/alerts", headers=router.auth_headers, timeout=10).json()["alerts"]


def newest_alert_id(router: RouterProcess) -> str:
    """The newest alert's id, once there is one (the router raises it within a few polls)."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        listed = alerts_of(router)
        if listed:
            return str(listed[0]["id"])
        time.sleep(0.2)
    raise AssertionError("no alert was raised within 20 s")


def poller_has_seen(page: Page, alert_id: str | None = None) -> None:
    """Waits until the page's alert poller has read the alerts up to `alert_id` (or started, for None)."""
    if alert_id is None:
        page.wait_for_function(f"sessionStorage.getItem({LAST_SEEN_KEY!r}) !== null")
    else:
        page.wait_for_function(f"sessionStorage.getItem({LAST_SEEN_KEY!r}) === {alert_id!r}")


def test_a_node_stopped_while_the_models_page_is_open_raises_a_toast(router: RouterProcess, add_node, page: Page):
    node = add_node("gpu-box")
    sign_in(page, router, next_path="/models")
    poller_has_seen(page)
    node.stop()
    toasts = page.locator("#toasts")
    expect(toasts.locator(".toast__text")).to_have_text(["Node gpu-box is offline."], timeout=15_000)
    # Announced: the region is a polite live region; the button says which notice it dismisses.
    expect(toasts).to_have_attribute("role", "status")
    expect(toasts).to_have_attribute("aria-live", "polite")
    dismiss = toasts.get_by_role("button", name="Dismiss")
    expect(dismiss).to_have_accessible_description("Node gpu-box is offline.")

    page.locator("#main").focus()  # then by keyboard alone: Tab until the toast's button
    for _ in range(400):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.classList.contains('toast__dismiss')"):
            break
    expect(dismiss).to_be_focused()
    page.keyboard.press("Enter")
    expect(toasts.locator(".toast")).to_have_count(0)
    expect(page.locator("#main")).to_be_focused()  # the focus is not lost on <body>

    # Another page of the same tab does not show the alert again; the next alert shows.
    page.goto(f"{router.url}/models/local")
    poller_has_seen(page, newest_alert_id(router))
    second = add_node("cpu-box")
    second.stop()
    expect(page.locator("#toasts .toast__text")).to_have_text(["Node cpu-box is offline."], timeout=15_000)


def test_a_new_tab_starts_from_the_newest_alert(router: RouterProcess, add_node, page: Page):
    """A tab's first page shows no alert raised before it: the next alert is its first toast."""
    first, second = add_node("gpu-box"), add_node("cpu-box")
    first.stop()
    earlier = newest_alert_id(router)
    sign_in(page, router, next_path="/models")  # a new context: a new tab with nothing stored
    poller_has_seen(page, earlier)
    second.stop()
    expect(page.locator("#toasts .toast__text")).to_have_text(["Node cpu-box is offline."], timeout=15_000)


def test_the_nodes_page_shows_one_toast_per_event(router: RouterProcess, add_node, page: Page):
    node = add_node("gpu-box")
    sign_in(page, router, next_path="/nodes")
    expect(page.locator('tr[data-node-name="gpu-box"] [data-state=online]')).to_be_visible()
    poller_has_seen(page)
    node.stop()
    expect(page.locator("#toasts .toast__text")).to_have_text(["Node gpu-box is offline."], timeout=15_000)
    # Once the alert poller has read the alert too, still one toast: the Nodes page told of it itself.
    poller_has_seen(page, newest_alert_id(router))
    expect(page.locator("#toasts .toast")).to_have_count(1)


@pytest.mark.parametrize("lang, sentence", [("en", "Node gpu-box is offline."),
                                            ("ja", "ノード gpu-box がオフラインになりました。")])
def test_a_page_with_a_toast_passes_axe(router: RouterProcess, add_node, page: Page, audit, lang: str, sentence: str):
    node = add_node("gpu-box")
    sign_in(page, router, next_path="/models")
    page.context.add_cookies([{"name": "lang", "value": lang, "url": router.url}])
    page.reload()
    poller_has_seen(page)
    node.stop()
    expect(page.locator("#toasts .toast__text")).to_have_text([sentence], timeout=15_000)
    audit(f"Models page with an alert toast ({lang})")
