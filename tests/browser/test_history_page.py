"""The History page and a request's page in a real browser against a real router (gunicorn) with a node
imitation serving the model: requests sent to /v1 (answered, streamed, an unknown model, an invalid body)
are filtered with the keyboard, a record is opened, its error switched between the simple and the
detailed view by keyboard (and the choice kept), new requests are offered while the page is open, and axe
finds nothing in either language or scheme."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import requests
from playwright.sync_api import Page, expect

from tests.support.browser import register_via_api, sign_in
from tests.support.cluster import wait_for
from tests.support.hub_imitation import HubImitation
from tests.support.inference import MODEL, node_body
from tests.support.node_imitation import NodeImitation
from tests.support.router_process import RouterProcess, start_router

pytestmark = pytest.mark.browser

CHAT = {"model": MODEL, "messages": [{"role": "user", "content": "Say hello"}], "max_tokens": 4}


@dataclass
class History:
    router: RouterProcess
    api_key: str
    ids: dict[str, str]  # what was sent -> its X-Request-Id

    def send(self, body: dict) -> requests.Response:
        response = requests.post(f"{self.router.url}/v1/chat/completions", json=body, timeout=10,
                                 headers={"Authorization": f"Bearer {self.api_key}"})
        response.content  # a stream is read to its end
        return response

    def recorded(self) -> list[str]:
        response = requests.get(f"{self.router.url}/v0/requests", headers=self.router.auth_headers, timeout=10)
        return [row["id"] for row in response.json()["requests"]]


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory, hub: HubImitation) -> Iterator[History]:
    """A router whose pages poll every second, one node imitation with the model ready, and four requests
    in its history: answered, streamed, an unknown model (404) and an invalid body (400)."""
    router = start_router(tmp_path_factory.mktemp("history-page"), hub.url, {
        "LLM_ROUTER_NODE_POLL_SECONDS": "1", "LLM_ROUTER_UI_POLL_SECONDS": "1",
        "LLM_ROUTER_ROUTING_CACHE_SECONDS": "0"})
    node = NodeImitation((MODEL,), name="gpu-box").start()
    try:
        admin = router.auth_headers
        keys = {scope: requests.post(f"{router.url}/v0/api-keys", headers=admin, timeout=10,
                                     json={"name": f"{scope} key", "scopes": [scope]}).json()["key"]
                for scope in ("api", "node")}
        registered = requests.post(f"{router.url}/v0/nodes", json=node_body(node.name, node.url), timeout=10,
                                   headers={"Authorization": f"Bearer {keys['node']}"})
        node.token = registered.json()["token"]
        register_via_api(router, id=MODEL)
        state = History(router, keys["api"], {})
        wait_for(lambda: state.send(CHAT).status_code == 200, 20, f"{MODEL} to answer")
        sent = {"answered": (CHAT, 200), "streamed": ({**CHAT, "stream": True}, 200),
                "unknown": ({**CHAT, "model": "no-such-model"}, 404), "invalid": ({"model": MODEL}, 400)}
        # Each recorded before the next is sent: every gunicorn worker has its own batching writer, so
        # requests that follow closely may be stored in another order than they were sent.
        for name, (body, status) in sent.items():
            response = state.send(body)
            assert response.status_code == status, response.text
            state.ids[name] = response.headers["X-Request-Id"]
            wait_for(lambda: state.ids[name] in state.recorded(), 10, f"the history to record the {name} request")
        yield state
    finally:
        node.stop()
        router.stop()


def open_history(page: Page, history: History, path: str = "/requests", lang: str = "en") -> None:
    page.context.add_cookies([{"name": "lang", "value": lang, "url": history.router.url}])
    sign_in(page, history.router, next_path=path)
    expect(page.locator("html")).to_have_attribute("lang", lang)


def rows(page: Page) -> list[str]:
    return page.locator("#requests-table tbody tr").evaluate_all("rows => rows.map(row => row.dataset.requestId)")


def test_filter_by_keyboard_and_open_a_record(history: History, page: Page):
    open_history(page, history)
    expect(page.locator("#requests-table")).to_be_visible()
    assert history.ids["invalid"] in rows(page) and history.ids["answered"] in rows(page)

    # The status select, chosen with the arrow keys; the form is sent with Enter from a text field.
    page.locator("#filter-status").focus()
    page.keyboard.press("ArrowDown")  # Succeeded (2xx)
    page.keyboard.press("ArrowDown")  # Client errors (4xx)
    expect(page.locator("#filter-status")).to_have_value("4xx")
    page.keyboard.press("Tab")  # the code field
    expect(page.locator("#filter-code")).to_be_focused()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "status=4xx" in page.url
    assert rows(page) == [history.ids["invalid"], history.ids["unknown"]]
    expect(page.locator("#filter-status")).to_have_value("4xx")

    # A code narrows it further, typed and sent from the keyboard.
    page.locator("#filter-code").focus()
    page.keyboard.type("404")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert rows(page) == [history.ids["unknown"]]

    # A bad date: the field says what is wrong, and has the focus.
    page.locator("#filter-since").fill("yesterday")
    with page.expect_navigation():
        page.locator("#filter-since").press("Enter")
    expect(page.locator("#filter-since-error")).to_contain_text("'since' must be a time in ISO 8601")
    expect(page.locator("#filter-since")).to_be_focused()
    expect(page.locator("#filter-since")).to_have_attribute("aria-invalid", "true")

    # Clear the filters, then open a record with the keyboard.
    page.locator("#clear-filters").focus()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    link = page.locator(f'[data-focus-key="request:{history.ids["answered"]}"]')
    link.focus()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    expect(page.locator("#request-facts")).to_contain_text(history.ids["answered"])
    expect(page.locator("#request-body")).to_contain_text('"messages": [')


def test_the_error_view_switches_by_keyboard_and_is_kept(history: History, page: Page):
    open_history(page, history, f"/requests/{history.ids['unknown']}")
    simple, detailed = page.locator("#error-simple"), page.locator("#error-detailed")
    expect(simple).to_be_visible()
    expect(simple).to_contain_text("model_not_found")
    expect(detailed).to_be_hidden()

    page.locator("#error-view-simple").focus()
    page.keyboard.press("ArrowRight")
    expect(page.locator("#error-view-detailed")).to_be_checked()
    expect(page.locator("#error-view-detailed")).to_be_focused()
    expect(detailed).to_be_visible()
    expect(simple).to_be_hidden()
    expect(page.locator("#error-json")).to_contain_text('"code": "model_not_found"')

    # Kept for the next record (this browser's localStorage).
    page.goto(f"{history.router.url}/requests/{history.ids['invalid']}")
    expect(page.locator("#error-view-detailed")).to_be_checked()
    expect(page.locator("#error-detailed")).to_be_visible()
    page.locator("#error-view-detailed").focus()
    page.keyboard.press("ArrowLeft")
    expect(page.locator("#error-simple")).to_be_visible()
    expect(page.locator("#error-simple")).to_contain_text("The request was not valid")
    page.reload()
    expect(page.locator("#error-view-simple")).to_be_checked()


def test_new_requests_are_offered_without_moving_the_page(history: History, page: Page):
    open_history(page, history, "/requests?status=4xx")
    before = rows(page)
    response = history.send({**CHAT, "model": "another-missing-model"})
    assert response.status_code == 404
    history.send(CHAT)  # answered: not a 4xx, so not offered on this page
    expect(page.locator("#new-requests-status")).to_have_text("1 new request", timeout=15_000)
    button = page.locator("#show-new-requests")
    button.focus()
    page.keyboard.press("Enter")
    expect(button).to_be_hidden()
    expect(page.locator("#request-rows .table-wrap")).to_be_focused()
    expect(page.locator("#new-requests-status")).to_have_text("The newest requests are shown.")
    assert rows(page) == [response.headers["X-Request-Id"], *before]


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_accessibility_in_both_languages_and_schemes(history: History, page: Page, audit, lang: str):
    open_history(page, history, lang=lang)
    expect(page.locator("#requests-table")).to_be_visible()
    audit("History, with requests")
    page.goto(f"{history.router.url}/requests?since=yesterday")
    expect(page.locator("#filter-since-error")).to_be_visible()
    audit("History, a filter refused")
    page.goto(f"{history.router.url}/requests?model=nothing-like-this")
    expect(page.locator("#requests-empty")).to_be_visible()
    audit("History, nothing matches")

    page.goto(f"{history.router.url}/requests/{history.ids['streamed']}")
    expect(page.locator("#stream-text")).not_to_be_empty()
    audit("A streamed request")
    page.goto(f"{history.router.url}/requests/{history.ids['unknown']}")
    expect(page.locator("#error-simple")).to_be_visible()
    audit("A refused request, simple view")
    page.locator("#error-view-detailed").check()
    expect(page.locator("#error-detailed")).to_be_visible()
    audit("A refused request, detailed view")
