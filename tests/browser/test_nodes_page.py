"""The Nodes page in a real browser against a real router polling a node (the node imitation):
a node that stops answering turns Offline on the open page, with a notice, within a few poll
cycles and without a reload; axe finds nothing in either language or scheme; removing a node is
done with the keyboard."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Page, expect

from tests.support.inference import node_body
from tests.support.browser import sign_in
from tests.support.hub_imitation import HubImitation
from tests.support.node_imitation import NodeImitation
from tests.support.router_process import RouterProcess, start_router

pytestmark = pytest.mark.browser


@pytest.fixture
def router(tmp_path: Path, hub: HubImitation) -> Iterator[RouterProcess]:
    """Nodes polled every 0.5 s (offline after three failures), pages refreshed every second."""
    process = start_router(tmp_path, hub.url, {"LLM_ROUTER_NODE_POLL_SECONDS": "0.5", "LLM_ROUTER_UI_POLL_SECONDS": "1"})
    yield process
    process.stop()


@pytest.fixture
def node(router: RouterProcess) -> Iterator[NodeImitation]:
    imitation = NodeImitation(("tiny",), name="gpu-box").start()
    key = requests.post(f"{router.url}/v0/api-keys", headers=router.auth_headers, timeout=10,
                        json={"name": "node", "scopes": ["node"]}).json()["key"]
    registered = requests.post(f"{router.url}/v0/nodes", json=node_body(imitation.name, imitation.url), timeout=10,
                               headers={"Authorization": f"Bearer {key}"})
    assert registered.status_code == 201, registered.text
    imitation.token = registered.json()["token"]
    yield imitation
    imitation.stop()


def test_a_node_going_offline_shows_on_the_open_page(router: RouterProcess, node: NodeImitation, page: Page, audit):
    sign_in(page, router, next_path="/nodes")
    row = page.locator('tr[data-node-name="gpu-box"]')
    expect(row.locator("[data-state=online]")).to_be_visible()
    expect(row).to_contain_text("1 ready", timeout=10_000)  # the first poll's report
    audit("Nodes, one node online")
    node.stop()
    expect(row.locator("[data-state=offline]")).to_be_visible(timeout=15_000)
    expect(page.locator("#toasts")).to_contain_text("Node gpu-box is offline.")
    expect(row).to_contain_text("No figures while offline")
    audit("Nodes, node offline, with its notice")
    page.locator("#toasts").get_by_role("button", name="Dismiss").click()
    expect(page.locator("#toasts .toast")).to_have_count(0)


def test_the_page_in_japanese_passes_axe(router: RouterProcess, node: NodeImitation, page: Page, audit):
    sign_in(page, router, next_path="/nodes")
    page.context.add_cookies([{"name": "lang", "value": "ja", "url": router.url}])
    page.reload()
    expect(page.locator("h1")).to_have_text("ノード")
    expect(page.locator('tr[data-node-name="gpu-box"]')).to_contain_text("オンライン")
    audit("Nodes in Japanese")


def test_remove_a_node_with_the_keyboard(router: RouterProcess, node: NodeImitation, page: Page, audit):
    sign_in(page, router, next_path="/nodes")
    remove = page.locator('tr[data-node-name="gpu-box"]').get_by_role("button", name="Remove")
    remove.focus()
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="Remove the node “gpu-box”?")
    expect(dialog).to_be_visible()
    audit("Nodes, remove dialog")
    expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()  # the safe choice has the focus
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(page.locator('tr[data-node-name="gpu-box"]').get_by_role("button", name="Remove")).to_be_focused()

    page.keyboard.press("Enter")
    expect(dialog).to_be_visible()
    page.keyboard.press("Tab")
    expect(dialog.get_by_role("button", name="Remove")).to_be_focused()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    expect(page.locator("#flash-messages")).to_contain_text("Removed the node gpu-box.")
    nodes = requests.get(f"{router.url}/v0/nodes", headers=router.auth_headers, timeout=10).json()["nodes"]
    assert nodes == []


GiB = 1024 ** 3
FIGURES = {"cpu_percent": 25.0, "memory_used_bytes": 16 * GiB, "memory_total_bytes": 64 * GiB,
           "gpus": [{"name": "NVIDIA L4", "utilization_percent": 60.0, "memory_used_bytes": 12 * GiB,
                     "memory_total_bytes": 24 * GiB}]}


def node_id_of(router: RouterProcess, name: str) -> str:
    listed = requests.get(f"{router.url}/v0/nodes", headers=router.auth_headers, timeout=10).json()["nodes"]
    return next(node["id"] for node in listed if node["name"] == name)


@pytest.mark.parametrize("lang", ("en", "ja"))
def test_a_node_page_draws_its_history_and_follows_the_node(router: RouterProcess, node: NodeImitation, page: Page,
                                                            audit, lang: str):
    node.metrics = FIGURES
    sign_in(page, router, next_path="/nodes")
    page.context.add_cookies([{"name": "lang", "value": lang, "url": router.url}])
    page.goto(f"{router.url}/nodes/{node_id_of(router, 'gpu-box')}")
    expect(page.locator("h1")).to_have_text("gpu-box")
    expect(page.locator("#node-models-table")).to_contain_text("tiny")
    expect(page.locator("#chart-usage canvas")).to_have_count(1)
    expect(page.locator("#chart-requests canvas")).to_have_count(1)
    expect(page.locator("#chart-usage-legend li")).to_have_count(4)
    page.locator(".chart__table summary").click()
    # The polls' figures reach the table: CPU 25%, memory 25%, GPU 60%, GPU memory 50%.
    expect(page.locator("#history-table tbody tr").first).to_contain_text("25%", timeout=15_000)
    expect(page.locator("#history-table tbody tr").first).to_contain_text("60%")
    audit("Node page with its history")

    page.locator("#history-window").focus()
    page.keyboard.press("ArrowDown")  # keyboard only: the next range, "last 6 hours"
    expect(page.locator("#history-window")).to_have_value("6h")
    expect(page.locator("#history-table tbody tr").first).to_contain_text("25%")

    node.stop()
    expect(page.locator("[data-node-fragment] [data-state=offline]")).to_be_visible(timeout=15_000)
    expect(page.locator("#toasts .toast")).to_have_count(1)
    audit("Node page, node offline")
