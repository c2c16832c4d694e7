"""Browser fixtures: Debian's chromium driven by Playwright (sync API), one browser per session and
a fresh context (cookies, storage) per test. Nothing is downloaded: `playwright install` is never run.

Pages need a signed-in user: a test signs its context in through the login form (`sign_in`); the tests'
own API calls authenticate with the first admin's token (`RouterProcess.auth_headers`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from tests.router_process import ADMIN_PASSWORD, ADMIN_USERNAME, PROJECT_ROOT, RouterProcess

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                 "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TIMEOUT_MS = 5000
AXE_PATH = PROJECT_ROOT / ".cache" / "axe" / "axe.min.js"
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag2aaa", "wcag21a", "wcag21aa", "wcag22aa"]
SCHEMES = ("light", "dark")

# Violations, plus contrast checks axe could not decide ("incomplete", e.g. a background image it
# cannot read): AAA contrast that was not verified counts as not met. Text hidden under another element
# (the sticky header, the toast) is the exception: it cannot be read there, and is checked where it is seen.
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


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (scripts/test.sh does) to run the browser tests")
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    context = browser.new_context(locale="en-US", viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    yield context
    context.close()


@pytest.fixture
def page(context: BrowserContext) -> Iterator[Page]:
    """A page that fails the test on any uncaught JavaScript error."""
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    assert not errors, f"JavaScript errors on the page: {errors}"


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


@pytest.fixture(scope="module")
def axe_source() -> Path:
    if not AXE_PATH.exists():
        pytest.fail(f"{AXE_PATH.relative_to(PROJECT_ROOT)} is missing: run scripts/test.sh once, which downloads "
                    f"axe-core there, then run pytest again")
    return AXE_PATH


@pytest.fixture
def audit(page: Page, axe_source: Path) -> Iterator[Callable[[str], None]]:
    """`audit(label)` runs axe on the page as it is now, in both color schemes; the test fails at the end
    with every violation found, each with its rule, impact and the elements at fault."""
    found: list[str] = []

    def run(label: str) -> None:
        if not page.evaluate("typeof window.axe !== 'undefined'"):
            page.add_script_tag(path=str(axe_source))
        for scheme in SCHEMES:
            page.emulate_media(color_scheme=scheme, reduced_motion="reduce")
            for violation in page.evaluate(RUN_AXE, WCAG_TAGS):
                targets = "\n".join(f"      {node['target']}: {node['summary']}" for node in violation["nodes"])
                found.append(f"[{label}, {scheme}] {violation['id']} ({violation['impact']}): {violation['help']}\n"
                             f"{targets}")

    yield run
    assert not found, f"{len(found)} accessibility violation(s):\n" + "\n".join(found)
