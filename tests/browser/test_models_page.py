"""The Models page in a real browser against the real router (gunicorn) and the Hub imitation."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Locator, Page, expect

from tests.support.factories import GGUF_REPO, SAFETENSORS_REPO
from tests.support.router_process import PROJECT_ROOT, RouterProcess, start_router
from tests.support.browser import create_user_via_api, register_via_api, sign_in

pytestmark = pytest.mark.browser

# Tests name the router fixture before `page`: pytest then closes the browser context before it stops
# the router, so gunicorn does not sit out its graceful timeout on the browser's keep-alive connections.

CATALOG_IDS = [entry["id"] for entry in json.loads((PROJECT_ROOT / "supported_models.json").read_text())]
GGUF_MODEL_ID = "acme/tiny-chat-gguf:q4_k_m"


@pytest.fixture
def fast_router(tmp_path: Path, hub) -> Iterator[RouterProcess]:
    """A router whose pages refresh every second."""
    router = start_router(tmp_path, hub.url, {"LLM_ROUTER_UI_POLL_SECONDS": "1"})
    yield router
    router.stop()


def hub_card(page: Page, model_id: str) -> Locator:
    return page.locator(f'li.card-cell[data-model-id="{model_id}"]')


def local_row(page: Page, model_id: str) -> Locator:
    return page.locator(f'tr[data-model-id="{model_id}"]')


def mark_page(page: Page) -> None:
    """Leave a mark in the page's JavaScript state: a reload would erase it."""
    page.evaluate("window.__sameDocument = true")


def assert_not_reloaded(page: Page) -> None:
    assert page.evaluate("window.__sameDocument === true"), "the page was reloaded"


def focused(page: Page) -> dict:
    return page.evaluate("""() => {
        const el = document.activeElement;
        return {id: el.id, key: el.dataset ? el.dataset.focusKey || null : null, text: el.textContent.trim(),
                tag: el.tagName.toLowerCase()};
    }""")


def tab_to(page: Page, predicate: str, limit: int = 40) -> None:
    """Press Tab until `predicate` (a JS expression over `el`, the focused element) holds."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate(f"(() => {{ const el = document.activeElement; return Boolean({predicate}); }})()"):
            return
    raise AssertionError(f"Tab never reached an element where {predicate}")


def set_visibility(page: Page, state: str) -> None:
    """Pretend the user switched tabs (headless pages are always visible)."""
    page.evaluate("""(state) => {
        Object.defineProperty(document, "visibilityState", {value: state, configurable: true});
        document.dispatchEvent(new Event("visibilitychange"));
    }""", state)


def api_error(router: RouterProcess, body: dict, lang: str = "en") -> str:
    response = requests.post(f"{router.url}/v0/models/register", json=body, cookies={"lang": lang},
                             headers=router.auth_headers, timeout=10)
    assert response.status_code >= 400
    return response.json()["error"]["message"]


# --- Reading the page -----------------------------------------------------------------------------

def test_models_page_in_english(live_router: RouterProcess, page: Page):
    sign_in(page, live_router)
    page.goto(f"{live_router.url}/models")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page).to_have_title("Model Hub · Models · LLM Router")
    expect(page.get_by_role("heading", level=1)).to_have_text("Models")
    expect(page.locator("li.card-cell")).to_have_count(len(CATALOG_IDS))
    assert page.locator("li.card-cell").evaluate_all("cells => cells.map(c => c.dataset.modelId)") == CATALOG_IDS
    first = hub_card(page, "qwen2.5-0.5b-instruct")
    expect(first.get_by_role("heading", level=2)).to_have_text("Qwen2.5 0.5B Instruct")
    expect(first.locator(".badge")).to_have_text("Status: Available")
    expect(first.get_by_role("button", name="Register")).to_be_visible()
    expect(page.get_by_role("link", name="Model Hub")).to_have_attribute("aria-current", "page")
    expect(page.get_by_role("navigation", name="Language").get_by_role("link", name="English")).to_have_attribute(
        "aria-current", "true")


def test_switch_to_japanese_and_back_with_the_keyboard(live_router: RouterProcess, page: Page):
    sign_in(page, live_router)
    page.goto(f"{live_router.url}/models?q=qwen")
    page.keyboard.press("Tab")
    assert focused(page)["text"] == "Skip to main content"
    tab_to(page, "el.textContent === '日本語'")
    page.keyboard.press("Enter")
    expect(page.locator("html")).to_have_attribute("lang", "ja")
    assert page.url.endswith("/models?q=qwen")  # back on the same page, same search
    expect(page.get_by_role("heading", level=1)).to_have_text("モデル")
    expect(page.get_by_role("link", name="モデルハブ")).to_have_attribute("aria-current", "page")
    expect(page.get_by_label("モデルを検索")).to_have_value("qwen")
    expect(page.locator("li.card-cell")).to_have_count(3)
    expect(hub_card(page, "qwen2.5-0.5b-instruct").locator(".card__desc")).to_contain_text("Alibaba の Qwen2.5")
    expect(hub_card(page, "qwen2.5-0.5b-instruct").locator(".badge")).to_have_text("状態: 未登録")
    expect(hub_card(page, "qwen2.5-0.5b-instruct").get_by_role("button", name="登録")).to_be_visible()
    assert {cookie["name"]: cookie["value"] for cookie in page.context.cookies()}["lang"] == "ja"
    # The Local tab is Japanese too, then back to English.
    tab_to(page, "el.textContent === 'ローカル'")
    page.keyboard.press("Enter")
    expect(page.get_by_text("登録済みのモデルはまだありません")).to_be_visible()
    page.keyboard.press("Tab")
    assert focused(page)["text"] == "本文へスキップ"
    tab_to(page, "el.textContent === 'English'")
    page.keyboard.press("Enter")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    assert page.url.endswith("/models/local")
    expect(page.get_by_text("No models registered yet")).to_be_visible()


def test_skip_link_moves_focus_to_the_main_content(live_router: RouterProcess, page: Page):
    sign_in(page, live_router)
    page.goto(f"{live_router.url}/models")
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to main content")).to_be_in_viewport()
    page.keyboard.press("Enter")
    assert focused(page)["id"] == "main"
    page.keyboard.press("Tab")
    assert focused(page)["id"] == "open-register-dialog"


# --- Search ---------------------------------------------------------------------------------------

def test_search_narrows_the_cards_and_survives_a_reload(live_router: RouterProcess, page: Page):
    sign_in(page, live_router)
    page.goto(f"{live_router.url}/models")
    mark_page(page)
    search = page.get_by_label("Search models")
    search.press_sequentially("qwen")
    expect(page.locator("li.card-cell")).to_have_count(3)
    expect(page.locator("#live-region")).to_have_text("3 models match “qwen”")
    assert page.url.endswith("/models?q=qwen")
    assert_not_reloaded(page)
    search.fill("code")  # a tag
    expect(page.locator("li.card-cell")).to_have_count(2)
    page.reload()
    expect(page.get_by_label("Search models")).to_have_value("code")
    expect(page.locator("li.card-cell")).to_have_count(2)
    page.get_by_label("Search models").fill("no such model")
    expect(page.get_by_text("No models match “no such model”.")).to_be_visible()
    expect(page.locator("li.card-cell")).to_have_count(0)
    page.get_by_label("Search models").fill("")
    expect(page.locator("li.card-cell")).to_have_count(len(CATALOG_IDS))
    assert page.url.endswith("/models")


# --- Registering ----------------------------------------------------------------------------------

def test_register_a_supported_model_from_its_card(live_router: RouterProcess, page: Page):
    sign_in(page, live_router)
    page.goto(f"{live_router.url}/models")
    mark_page(page)
    card = hub_card(page, "qwen3-0.6b")
    expect(card.locator(".badge")).to_have_text("Status: Available")
    card.get_by_role("button", name="Register").click()
    expect(card.locator(".badge")).to_have_text("Status: Registered")
    expect(card.get_by_role("button", name="Delete")).to_be_visible()
    expect(page.locator("#live-region")).to_have_text("Registered Qwen3 0.6B")
    assert focused(page)["key"] == "action:qwen3-0.6b"  # focus stays on the card's action button
    assert_not_reloaded(page)
    models = requests.get(f"{live_router.url}/v0/models", headers=live_router.auth_headers, timeout=5).json()["models"]
    assert [model["id"] for model in models] == ["qwen3-0.6b"]


def test_register_a_hugging_face_repo_through_the_dialog(live_router: RouterProcess, page: Page):
    sign_in(page, live_router)
    page.goto(f"{live_router.url}/models")
    mark_page(page)
    page.get_by_role("button", name="Register from Hugging Face").click()
    dialog = page.get_by_role("dialog", name="Register from Hugging Face")
    expect(dialog).to_be_visible()
    dialog.get_by_label("Hugging Face repo or URL").fill(GGUF_REPO)
    dialog.get_by_role("button", name="Register").click()
    expect(dialog).to_be_hidden()
    card = hub_card(page, GGUF_MODEL_ID)
    expect(card.get_by_role("heading")).to_have_text("Tiny-Chat-GGUF Q4_K_M")
    expect(card.locator(".badge")).to_have_text("Status: Registered")
    expect(page.locator("#live-region")).to_have_text("Registered Tiny-Chat-GGUF Q4_K_M")
    assert focused(page)["id"] == "open-register-dialog"
    assert_not_reloaded(page)
    page.get_by_role("link", name="Local").click()
    row = local_row(page, GGUF_MODEL_ID)
    expect(row).to_contain_text("Tiny-Chat-GGUF Q4_K_M")
    expect(row).to_contain_text("tiny-chat.Q4_K_M.gguf")
    expect(row).to_contain_text("No node has this model yet")


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_register_dialog_shows_the_routers_error_inline(live_router: RouterProcess, page: Page, lang: str):
    sign_in(page, live_router)
    page.context.add_cookies([{"name": "lang", "value": lang, "url": live_router.url}])
    page.goto(f"{live_router.url}/models")
    page.locator("#open-register-dialog").click()
    dialog = page.locator("#register-dialog")
    repo = page.locator("#register-repo")
    error = page.locator("#register-error")
    for value in (SAFETENSORS_REPO, "https://example.com/a/b"):  # 422, then 400
        expected = api_error(live_router, {"repo": value}, lang)
        repo.fill(value)
        repo.press("Enter")
        expect(error).to_have_text(expected)
        expect(error).to_have_attribute("role", "alert")
        expect(dialog).to_be_visible()
        expect(repo).to_have_value(value)  # the user's input is kept
        expect(repo).to_have_attribute("aria-invalid", "true")
        assert "register-error" in repo.get_attribute("aria-describedby").split()
        assert focused(page)["id"] == "register-repo"
    if lang == "ja":
        expect(error).to_contain_text("登録できるのは Hugging Face の URL")
    # A good repo clears the error state.
    repo.fill(GGUF_REPO)
    repo.press("Enter")
    expect(dialog).to_be_hidden()
    expect(repo).not_to_have_attribute("aria-invalid", "true")
    expect(error).to_be_empty()


def test_register_dialog_with_the_keyboard_only(live_router: RouterProcess, page: Page):
    sign_in(page, live_router)
    page.goto(f"{live_router.url}/models")
    tab_to(page, "el.id === 'open-register-dialog'")
    page.keyboard.press("Enter")
    dialog = page.locator("#register-dialog")
    expect(dialog).to_be_visible()
    assert focused(page)["id"] == "register-repo"  # focus moves into the dialog
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    assert focused(page)["id"] == "open-register-dialog"  # and comes back to the opener
    page.keyboard.press("Enter")
    expect(dialog).to_be_visible()
    page.keyboard.type(GGUF_REPO)
    page.keyboard.press("Tab")
    assert focused(page)["id"] == "register-filename"
    page.keyboard.type("tiny-chat.Q8_0.gguf")
    page.keyboard.press("Tab")
    assert focused(page)["id"] == "register-display-name"
    page.keyboard.type("Tiny chat, 8-bit")
    page.keyboard.press("Tab")  # Cancel
    page.keyboard.press("Tab")  # Register
    assert focused(page)["id"] == "register-submit"

    # Hold the request to see the busy state, then let it through.
    held = []
    page.route("**/v0/models/register", lambda route: held.append(route))
    page.keyboard.press("Enter")
    submit = page.locator("#register-submit")
    expect(submit).to_be_disabled()
    expect(submit).to_have_text("Registering…")
    # The page marks the button busy before its request leaves; Playwright hands the held request to
    # the handler only while this test calls into it, so wait for it (bounded).
    for _ in range(100):
        if held:
            break
        page.wait_for_timeout(50)
    assert held, "the registration request never left the page"
    held[0].continue_()
    expect(dialog).to_be_hidden()
    assert focused(page)["id"] == "open-register-dialog"
    card = hub_card(page, "acme/tiny-chat-gguf:q8_0")
    expect(card.get_by_role("heading")).to_have_text("Tiny chat, 8-bit")
    expect(submit).to_be_enabled()
    expect(submit).to_have_text("Register")


def test_card_register_error_is_shown_in_an_alert(live_router: RouterProcess, page: Page):
    sign_in(page, live_router)
    page.goto(f"{live_router.url}/models")
    register_via_api(live_router, id="phi-4")  # someone else was faster; this page still says Register
    register_via_api(live_router, id="qwen3-0.6b")
    hub_card(page, "phi-4").get_by_role("button", name="Register").click()
    alert = page.locator("#page-alert")
    expect(alert).to_have_attribute("role", "alert")
    expect(alert).to_contain_text("'phi-4' is already registered.")
    expect(alert).to_be_in_viewport()
    alert.get_by_role("button", name="Dismiss").click()
    expect(alert).to_be_empty()
    assert focused(page)["key"] == "action:phi-4"  # back where the user was
    # Escape dismisses it too.
    hub_card(page, "qwen3-0.6b").get_by_role("button", name="Register").click()
    expect(alert).to_contain_text("'qwen3-0.6b' is already registered.")
    page.keyboard.press("Escape")
    expect(alert).to_be_empty()


# --- Deleting -------------------------------------------------------------------------------------

def test_delete_with_confirmation(live_router: RouterProcess, page: Page):
    sign_in(page, live_router)
    register_via_api(live_router, id="qwen3-0.6b")
    register_via_api(live_router, repo=GGUF_REPO)
    page.goto(f"{live_router.url}/models")
    card = hub_card(page, "qwen3-0.6b")
    dialog = page.locator("#delete-dialog")

    card.get_by_role("button", name="Delete").click()
    expect(dialog).to_be_visible()
    expect(page.get_by_role("dialog", name="Delete “Qwen3 0.6B”?")).to_be_visible()
    assert focused(page)["text"] == "Cancel"  # the safe choice comes first
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    assert focused(page)["key"] == "action:qwen3-0.6b"
    expect(card.locator(".badge")).to_have_text("Status: Registered")

    card.get_by_role("button", name="Delete").click()
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    expect(card.locator(".badge")).to_have_text("Status: Registered")

    card.get_by_role("button", name="Delete").click()
    dialog.get_by_role("button", name="Delete").click()
    expect(dialog).to_be_hidden()
    expect(card.locator(".badge")).to_have_text("Status: Available")
    expect(card.get_by_role("button", name="Register")).to_be_visible()
    expect(page.locator("#live-region")).to_have_text("Deleted Qwen3 0.6B")
    assert focused(page)["key"] == "action:qwen3-0.6b"

    # From the Local tab: the row goes, and with it the table.
    page.get_by_role("link", name="Local").click()
    row = local_row(page, GGUF_MODEL_ID)
    row.get_by_role("button", name="Delete").click()
    expect(page.get_by_role("dialog", name="Delete “Tiny-Chat-GGUF Q4_K_M”?")).to_be_visible()
    dialog.get_by_role("button", name="Delete").click()
    expect(row).to_have_count(0)
    expect(page.get_by_text("No models registered yet")).to_be_visible()
    expect(page.get_by_role("link", name="Browse the Model Hub")).to_have_attribute("href", "/models")
    models = requests.get(f"{live_router.url}/v0/models", headers=live_router.auth_headers, timeout=5).json()["models"]
    assert models == []


# --- Refreshing -----------------------------------------------------------------------------------

def test_changes_made_elsewhere_appear_within_one_poll(fast_router: RouterProcess, page: Page):
    sign_in(page, fast_router)
    page.goto(f"{fast_router.url}/models")
    mark_page(page)
    card = hub_card(page, "phi-4")
    # Keyboard focus on another card's button survives the refreshes.
    hub_card(page, "qwen3-0.6b").get_by_role("button", name="Register").focus()

    register_via_api(fast_router, id="phi-4")
    expect(card.locator(".badge")).to_have_text("Status: Registered", timeout=2500)
    assert focused(page)["key"] == "action:qwen3-0.6b"
    requests.delete(f"{fast_router.url}/v0/models/phi-4", headers=fast_router.auth_headers,
                    timeout=5).raise_for_status()
    expect(card.locator(".badge")).to_have_text("Status: Available", timeout=2500)
    assert focused(page)["key"] == "action:qwen3-0.6b"
    assert_not_reloaded(page)

    # An open dialog is left alone while the list changes behind it; the list catches up on close.
    page.locator("#open-register-dialog").click()
    page.locator("#register-repo").fill("half-typed/repo")
    register_via_api(fast_router, id="phi-4")
    page.wait_for_timeout(1500)
    expect(page.locator("#register-dialog")).to_be_visible()
    expect(page.locator("#register-repo")).to_have_value("half-typed/repo")
    page.keyboard.press("Escape")
    expect(card.locator(".badge")).to_have_text("Status: Registered", timeout=2500)

    # A hidden tab asks nothing; it catches up as soon as it is shown again.
    set_visibility(page, "hidden")
    fragment_requests = []
    page.on("request", lambda request: fragment_requests.append(request.url) if "/models/_" in request.url else None)
    requests.delete(f"{fast_router.url}/v0/models/phi-4", headers=fast_router.auth_headers,
                    timeout=5).raise_for_status()
    page.wait_for_timeout(2200)
    assert fragment_requests == []
    expect(card.locator(".badge")).to_have_text("Status: Registered")
    set_visibility(page, "visible")
    expect(card.locator(".badge")).to_have_text("Status: Available", timeout=900)

    # The Local tab refreshes the same way.
    page.get_by_role("link", name="Local").click()
    expect(local_row(page, "phi-4")).to_have_count(0)
    register_via_api(fast_router, repo=GGUF_REPO)
    expect(local_row(page, GGUF_MODEL_ID)).to_be_visible(timeout=2500)


# --- Viewers --------------------------------------------------------------------------------------

def test_viewers_see_the_models_read_only(live_router: RouterProcess, page: Page):
    create_user_via_api(live_router, "vera", "viewer password 1")
    register_via_api(live_router, id="qwen3-0.6b")
    sign_in(page, live_router, "vera", "viewer password 1")
    expect(page.locator("#signed-in-role")).to_have_text("Viewer")
    expect(hub_card(page, "qwen3-0.6b").locator(".badge")).to_have_text("Status: Registered")
    expect(page.get_by_role("button", name="Register from Hugging Face")).to_have_count(0)
    expect(page.locator("[data-action]")).to_have_count(0)
    expect(page.get_by_role("link", name="Users")).to_have_count(0)
    page.get_by_label("Search models").fill("qwen3")  # searching still works
    expect(page.locator("li.card-cell")).to_have_count(1)
    page.get_by_role("link", name="Local").click()
    expect(local_row(page, "qwen3-0.6b")).to_be_visible()
    expect(page.get_by_role("button", name="Delete")).to_have_count(0)
