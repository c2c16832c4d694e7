"""Browser tests' shared pieces: Chromium's settings, the axe-core audit script, and signing in or
setting up a router through its API."""

from __future__ import annotations

from pathlib import Path

import requests
from playwright.sync_api import Page, expect

from tests.support.node_imitation import NodeImitation
from tests.support.router_process import ADMIN_PASSWORD, ADMIN_USERNAME, PROJECT_ROOT, RouterProcess
from tests.support.status_node import GiB, node_body


CHROMIUM = Path("/usr/bin/chromium")


CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                 "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"]


TIMEOUT_MS = 5000


AXE_PATH = PROJECT_ROOT / ".cache" / "axe" / "axe.min.js"


WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag2aaa", "wcag21a", "wcag21aa", "wcag22aa"]


SCHEMES = ("light", "dark")


RUN_AXE = """async (tags) => {
    const results = await axe.run(document, {runOnly: {type: "tag", values: tags}});
    const covered = (node) => [...node.any, ...node.all, ...node.none]
        .some(check => check.data && check.data.messageKey === "bgOverlap");
    const undecided = results.incomplete.filter(v => v.id.startsWith("color-contrast"))
        .map(v => ({...v, id: v.id + " (undecided)", nodes: v.nodes.filter(node => !covered(node))}))
        .filter(v => v.nodes.length > 0);
    return results.violations.concat(undecided).map(v => ({
        id: v.id, impact: v.impact, help: v.help,
        nodes: v.nodes.map(n => ({target: n.target.join(" "), summary: n.failureSummary})),
    }));
}"""


expect.set_options(timeout=TIMEOUT_MS)


def sign_in(page: Page, router: RouterProcess, username: str = ADMIN_USERNAME, password: str = ADMIN_PASSWORD,
            next_path: str = "/models") -> None:
    """Signs the page's browser context in through the real login form (once per context: the cookies
    then serve every page of the test)."""
    page.goto(f"{router.url}/login?next={next_path}")
    page.locator("#login-username").fill(username)
    page.locator("#login-password").fill(password)
    with page.expect_navigation():
        page.locator("#login-password").press("Enter")
    assert "/login" not in page.url, f"sign-in as {username} failed: {page.locator('#login-error').all_text_contents()}"


def register_via_api(router: RouterProcess, **body) -> dict:
    response = requests.post(f"{router.url}/v0/models/register", json=body, headers=router.auth_headers, timeout=10)
    assert response.status_code == 201, response.text
    return response.json()


def register_node_imitation(router: RouterProcess, node: NodeImitation) -> None:
    """Registers a running node imitation as a node agent would (a node-scope key), and gives it the
    token the router will call it with."""
    key = requests.post(f"{router.url}/v0/api-keys", json={"name": "node", "scopes": ["node"]},
                        headers=router.auth_headers, timeout=10).json()["key"]
    registration = requests.post(f"{router.url}/v0/nodes", headers={"Authorization": f"Bearer {key}"}, timeout=10,
                                 json=node_body(name=node.name, url=node.url, cpu_count=2, memory_bytes=64 * GiB))
    assert registration.status_code == 201, registration.text
    node.token = registration.json()["token"]


def delete_all_via_api(router: RouterProcess) -> None:
    models = requests.get(f"{router.url}/v0/models", headers=router.auth_headers, timeout=10).json()["models"]
    for model in models:
        requests.delete(f"{router.url}/v0/models/{model['id']}", headers=router.auth_headers,
                        timeout=10).raise_for_status()


def create_user_via_api(router: RouterProcess, username: str, password: str, role: str = "viewer") -> dict:
    response = requests.post(f"{router.url}/v0/users", json={"username": username, "password": password, "role": role},
                             headers=router.auth_headers, timeout=10)
    assert response.status_code == 201, response.text
    return response.json()


def usernames_via_api(router: RouterProcess) -> list[str]:
    response = requests.get(f"{router.url}/v0/users", headers=router.auth_headers, timeout=10)
    assert response.status_code == 200, response.text
    return [user["username"] for user in response.json()["users"]]
