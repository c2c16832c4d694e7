"""Browser fixtures: Debian's chromium driven by Playwright (sync API), one browser per session and
a fresh context (cookies, storage) per test. Nothing is downloaded: `playwright install` is never run.

Pages need a signed-in user: a test signs its context in through the login form (`sign_in`); the tests'
own API calls authenticate with the first admin's token (`RouterProcess.auth_headers`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from tests.router_process import ADMIN_PASSWORD, ADMIN_USERNAME, RouterProcess

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                 "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TIMEOUT_MS = 5000

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
