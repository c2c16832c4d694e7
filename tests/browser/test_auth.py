"""Signing in and out in a real browser against the real router (gunicorn): the remember cookie,
sign-out, CSRF against a form on another origin, and a keyboard-only sign-in."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.support.browser import TIMEOUT_MS, sign_in, usernames_via_api
from tests.support.json_server import JsonServer
from tests.support.router_process import ADMIN_PASSWORD, ADMIN_USERNAME, RouterProcess

pytestmark = pytest.mark.browser


def test_session_survives_a_browser_restart(live_router: RouterProcess, browser: Browser, page: Page):
    sign_in(page, live_router)
    state = page.context.storage_state()
    persistent = [cookie for cookie in state["cookies"] if cookie["expires"] != -1]
    assert any(cookie["name"] == "remember_token" for cookie in persistent), state["cookies"]
    assert len(persistent) < len(state["cookies"])  # the session cookie itself ends with the browser
    page.context.close()

    restarted = browser.new_context(storage_state={"cookies": persistent, "origins": []}, locale="en-US")
    try:
        again = restarted.new_page()
        again.set_default_timeout(TIMEOUT_MS)
        response = again.goto(f"{live_router.url}/models")
        assert response.status == 200
        assert again.url == f"{live_router.url}/models"  # not sent to /login
        expect(again.locator("#signed-in-user")).to_have_text(ADMIN_USERNAME)
    finally:
        restarted.close()


def test_sign_out_ends_the_session(live_router: RouterProcess, page: Page):
    sign_in(page, live_router)
    expect(page.locator("#signed-in-user")).to_have_text(ADMIN_USERNAME)
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{live_router.url}/login")
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    assert "remember_token" not in {cookie["name"] for cookie in page.context.cookies()}
    page.goto(f"{live_router.url}/models")
    assert page.url == f"{live_router.url}/login?next=/models"
    expect(page.locator("#signed-in-user")).to_have_count(0)


ATTACK_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Win a prize</title></head>
<body>
  <form id="attack" method="post" action="{action}">
    <input name="username" value="mallory"><input name="password" value="mallory password">
    <input name="role" value="admin">
  </form>
  <script>document.getElementById("attack").submit();</script>
</body></html>"""


@pytest.fixture
def attacker_site(live_router: RouterProcess) -> Iterator[str]:
    """Another origin (same host, another port: same-site, so SameSite=Lax cookies go along and only the
    CSRF token stands in the way) serving a page whose form posts to the router by itself."""
    body = ATTACK_PAGE.format(action=f"{live_router.url}/users").encode()
    with JsonServer({"GET": lambda _request: (200, body, {"Content-Type": "text/html; charset=utf-8"})}) as server:
        yield f"{server.url}/"


def test_a_form_posted_from_another_site_is_refused(live_router: RouterProcess, page: Page, attacker_site: str):
    sign_in(page, live_router, next_path="/users")
    with page.expect_response(lambda response: response.url == f"{live_router.url}/users"
                              and response.request.method == "POST") as posted:
        page.goto(attacker_site)
    assert posted.value.status == 400
    expect(page.locator(".error-page")).to_be_visible()
    assert "mallory" not in usernames_via_api(live_router)
    # The same browser is still signed in and can add users from the router's own page.
    page.goto(f"{live_router.url}/users")
    expect(page.locator("#signed-in-user")).to_have_text(ADMIN_USERNAME)


def test_sign_in_with_the_keyboard_only(live_router: RouterProcess, page: Page):
    page.goto(f"{live_router.url}/models/local")
    assert page.url == f"{live_router.url}/login?next=/models/local"
    expect(page.locator("#login-username")).to_be_focused()  # the form is ready to type into
    page.keyboard.type(ADMIN_USERNAME)
    page.keyboard.press("Tab")
    expect(page.locator("#login-password")).to_be_focused()
    page.keyboard.type("wrong password")
    page.keyboard.press("Enter")
    expect(page.locator("#login-error")).to_have_text("Wrong user name or password.")
    expect(page.locator("#login-username")).to_have_value(ADMIN_USERNAME)  # kept
    expect(page.locator("#login-password")).to_be_focused()  # ready for another try
    page.keyboard.type(ADMIN_PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{live_router.url}/models/local")  # back where the user was going
    expect(page.locator("#signed-in-user")).to_have_text(ADMIN_USERNAME)
    # Sign out with the keyboard too.
    for _ in range(20):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent.trim()") == "Sign out":
            break
    page.keyboard.press("Enter")
    page.wait_for_url(f"{live_router.url}/login")
