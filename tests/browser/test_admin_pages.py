"""The Users and API Keys pages in a real browser: confirmation dialogs with the keyboard, and copying
a new key."""

from __future__ import annotations

import re

import pytest
import requests
from playwright.sync_api import Page, expect

from tests.support.browser import create_user_via_api, sign_in, usernames_via_api
from tests.support.router_process import RouterProcess

pytestmark = pytest.mark.browser


def focused_text(page: Page) -> str:
    return page.evaluate("document.activeElement.textContent.trim()")


def test_delete_a_user_with_the_keyboard(live_router: RouterProcess, page: Page):
    create_user_via_api(live_router, "bob", "bob password 1")
    sign_in(page, live_router, next_path="/users")
    row = page.locator('tr[data-username="bob"]')
    delete = row.get_by_role("button", name="Delete")
    delete.focus()
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="Delete the user “bob”?")
    expect(dialog).to_be_visible()
    assert focused_text(page) == "Cancel"  # the safe choice has the focus
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(delete).to_be_focused()  # back on the button that opened it
    assert "bob" in usernames_via_api(live_router)

    page.keyboard.press("Enter")
    expect(dialog).to_be_visible()
    page.keyboard.press("Tab")
    assert focused_text(page) == "Delete"
    page.keyboard.press("Enter")
    expect(page.locator(".flash")).to_have_text("Deleted the user bob.")
    expect(page.locator('tr[data-username="bob"]')).to_have_count(0)
    assert "bob" not in usernames_via_api(live_router)


def test_create_copy_use_and_revoke_an_api_key(live_router: RouterProcess, page: Page):
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_router.url)
    sign_in(page, live_router, next_path="/api-keys")
    page.get_by_label("Name").fill("chat app")
    page.get_by_role("button", name="Create key").click()
    value = page.get_by_label("API key", exact=True)
    expect(value).to_have_value(re.compile(r"^llmr_"))
    key = value.input_value()
    copy = page.get_by_role("button", name="Copy")
    expect(copy).to_be_focused()  # focused once its script is ready: Enter copies at once
    page.keyboard.press("Enter")
    expect(page.locator("#copy-status")).to_have_text("Copied the key to the clipboard.")
    assert page.evaluate("navigator.clipboard.readText()") == key
    assert requests.get(f"{live_router.url}/v1/models", headers={"Authorization": f"Bearer {key}"},
                        timeout=5).status_code == 200

    page.goto(f"{live_router.url}/api-keys")  # the page again: the key is gone for good
    expect(page.locator("#new-key-value")).to_have_count(0)
    assert key not in page.content()
    row = page.locator("tr", has_text="chat app")
    row.get_by_role("button", name="Revoke").click()
    page.get_by_role("dialog", name="Revoke the API key “chat app”?").get_by_role("button", name="Revoke").click()
    expect(row.locator(".badge")).to_have_text("Revoked")
    assert requests.get(f"{live_router.url}/v1/models", headers={"Authorization": f"Bearer {key}"},
                        timeout=5).status_code == 401


def test_copy_falls_back_to_selecting_the_key(live_router: RouterProcess, page: Page):
    sign_in(page, live_router, next_path="/api-keys")
    page.get_by_label("Name").fill("no clipboard")
    page.get_by_role("button", name="Create key").click()
    page.evaluate("""() => {
        Object.defineProperty(navigator, "clipboard", {value: undefined, configurable: true});
        document.execCommand = () => false;  // a browser that copies nothing
    }""")
    page.get_by_role("button", name="Copy").click()
    expect(page.locator("#copy-status")).to_contain_text("The key is selected")
    selected = page.evaluate("""() => {
        const field = document.getElementById("new-key-value");
        return document.activeElement === field && field.selectionStart === 0
            && field.selectionEnd === field.value.length;
    }""")
    assert selected
