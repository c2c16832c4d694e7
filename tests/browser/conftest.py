"""Browser fixtures: Debian's chromium driven by Playwright (sync API), one browser per session and
a fresh context (cookies, storage) per test. Nothing is downloaded: `playwright install` is never run.

Pages need a signed-in user: a test signs its context in through the login form (`sign_in`); the tests'
own API calls authenticate with the first admin's token (`RouterProcess.auth_headers`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from tests.support.router_process import PROJECT_ROOT
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, TIMEOUT_MS, AXE_PATH, WCAG_TAGS, SCHEMES, RUN_AXE


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
