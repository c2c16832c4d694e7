"""axe-core on every state of every page, in English and Japanese, light and dark: the Models page
(as admin and as viewer), sign-in, Users, API Keys, Account, the error page, the auth-disabled banner.

Any violation of WCAG 2.0/2.1/2.2 A, AA or AAA rules fails, including `color-contrast-enhanced`
(AAA: 7:1 for text). axe-core is not vendored: scripts/test.sh fetches it to .cache/axe/axe.min.js.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.support.browser import (
    RUN_AXE,
    SCHEMES,
    WCAG_TAGS,
    create_user_via_api,
    delete_all_via_api,
    register_via_api,
    sign_in,
)
from tests.support.factories import GGUF_REPO, SAFETENSORS_REPO
from tests.support.router_process import ADMIN_PASSWORD, ADMIN_USERNAME, RouterProcess, start_router

pytestmark = pytest.mark.browser

LANGUAGES = ("en", "ja")



VIEWER_USERNAME = "vera"
VIEWER_PASSWORD = "viewer password 1"


@pytest.fixture(scope="module")
def router(tmp_path_factory: pytest.TempPathFactory, hub) -> Iterator[RouterProcess]:
    """One router for the module, with a viewer besides the admin; each test sets the registrations it needs."""
    process = start_router(tmp_path_factory.mktemp("a11y"), hub.url)
    create_user_via_api(process, VIEWER_USERNAME, VIEWER_PASSWORD, "viewer")
    yield process
    process.stop()


def open_page(page: Page, router: RouterProcess, lang: str, path: str) -> None:
    page.context.add_cookies([{"name": "lang", "value": lang, "url": router.url}])
    page.goto(f"{router.url}{path}")
    expect(page.locator("html")).to_have_attribute("lang", lang)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_model_hub(router: RouterProcess, page: Page, audit, lang: str):
    sign_in(page, router)
    delete_all_via_api(router)
    register_via_api(router, id="qwen3-0.6b")
    register_via_api(router, repo=GGUF_REPO)
    open_page(page, router, lang, "/models")
    expect(page.locator("li.card-cell")).to_have_count(13)
    audit("Model Hub")
    open_page(page, router, lang, "/models?q=no-such-model")
    expect(page.locator(".empty-state")).to_be_visible()
    audit("Model Hub, nothing matches")


@pytest.mark.parametrize("lang", LANGUAGES)
def test_local_tab(router: RouterProcess, page: Page, audit, lang: str):
    sign_in(page, router)
    delete_all_via_api(router)
    open_page(page, router, lang, "/models/local")
    expect(page.locator(".empty-state")).to_be_visible()
    audit("Local, empty")
    register_via_api(router, id="qwen3-0.6b")
    register_via_api(router, repo=GGUF_REPO)
    page.reload()
    expect(page.locator("tbody tr")).to_have_count(2)
    audit("Local, two models")


@pytest.mark.parametrize("lang", LANGUAGES)
def test_dialogs_and_alerts(router: RouterProcess, page: Page, audit, lang: str):
    sign_in(page, router)
    delete_all_via_api(router)
    register_via_api(router, id="qwen3-0.6b")
    open_page(page, router, lang, "/models")
    page.locator("#open-register-dialog").click()
    expect(page.locator("#register-dialog")).to_be_visible()
    audit("Register dialog")
    page.locator("#register-repo").fill(SAFETENSORS_REPO)
    page.locator("#register-repo").press("Enter")
    expect(page.locator("#register-error")).not_to_be_empty()
    audit("Register dialog with an error")
    page.keyboard.press("Escape")

    page.locator('[data-model-id="qwen3-0.6b"] [data-action="delete"]').click()
    expect(page.locator("#delete-dialog")).to_be_visible()
    audit("Delete dialog")
    page.keyboard.press("Escape")

    register_via_api(router, id="phi-4")  # the page still offers Register: the click fails with 409
    page.locator('[data-model-id="phi-4"] [data-action="register"]').click()
    expect(page.locator("#page-alert")).not_to_be_empty()
    audit("Page alert")


def test_every_status_badge_and_progress_bar(router: RouterProcess, page: Page, audit):
    """States no test router can reach yet (nodes report them): drawn into the page, then checked."""
    sign_in(page, router)
    delete_all_via_api(router)
    open_page(page, router, "en", "/models")
    page.evaluate("""() => {
        const foot = document.querySelector(".card__foot");
        for (const state of ["available", "registered", "pending", "ready", "error"]) {
            const badge = document.createElement("span");
            badge.className = "badge badge--" + state;
            badge.textContent = state;
            foot.before(badge);
        }
        const progress = document.createElement("div");
        progress.className = "progress";
        progress.innerHTML = '<progress max="10" value="3" aria-label="Download progress"></progress>' +
            '<span class="progress__text">3.0 GiB of 10.0 GiB (30.0%)</span>';
        foot.before(progress);
        const error = document.createElement("p");
        error.className = "card__error";
        error.textContent = "gpu-box: disk full";
        foot.before(error);
    }""")
    audit("Badges and progress")


# Contrast that axe does not measure: placeholder text, disabled and busy controls, the focus ring.
COLORS = """() => {
    const parse = (css) => css.match(/[\\d.]+/g).slice(0, 3).map(Number);
    const luminance = ([r, g, b]) => {
        const f = (c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
        return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
    };
    const ratio = (a, b) => {
        const [hi, lo] = [luminance(parse(a)), luminance(parse(b))].sort((x, y) => y - x);
        return (hi + 0.05) / (lo + 0.05);
    };
    const search = document.getElementById("model-search");
    const button = document.querySelector('[data-action="register"]');
    const pageBackground = getComputedStyle(document.body).backgroundColor;
    const card = getComputedStyle(document.querySelector(".card")).backgroundColor;
    const placeholder = ratio(getComputedStyle(search, "::placeholder").color,
                              getComputedStyle(search).backgroundColor);
    button.disabled = true;
    const style = getComputedStyle(button);
    const disabled = ratio(style.color, style.backgroundColor);
    button.disabled = false;
    button.setAttribute("aria-disabled", "true");
    const busy = ratio(getComputedStyle(button).color, getComputedStyle(button).backgroundColor);
    button.removeAttribute("aria-disabled");
    button.focus({focusVisible: true});
    const ring = getComputedStyle(button).outlineColor;
    return {placeholder, disabled, busy, outlineStyle: getComputedStyle(button).outlineStyle,
            focusRingOnPage: ratio(ring, pageBackground), focusRingOnCard: ratio(ring, card)};
}"""


@pytest.mark.parametrize("scheme", SCHEMES)
def test_contrast_axe_does_not_measure(router: RouterProcess, page: Page, scheme: str):
    page.emulate_media(color_scheme=scheme)
    sign_in(page, router)
    open_page(page, router, "en", "/models")
    page.keyboard.press("Tab")  # keyboard modality, so :focus-visible applies
    colors = page.evaluate(COLORS)
    assert colors["placeholder"] >= 7, colors
    assert colors["disabled"] >= 7, colors
    assert colors["busy"] >= 7, colors
    assert colors["outlineStyle"] == "solid", colors
    assert colors["focusRingOnPage"] >= 3 and colors["focusRingOnCard"] >= 3, colors  # non-text contrast (1.4.11)


# --- Sign-in, admin and account pages -------------------------------------------------------------

@pytest.mark.parametrize("lang", LANGUAGES)
def test_login_page(router: RouterProcess, page: Page, audit, lang: str):
    open_page(page, router, lang, "/login")
    audit("Sign-in")
    page.locator("#login-username").fill(ADMIN_USERNAME)
    page.locator("#login-password").fill("not the password")
    page.locator("#login-password").press("Enter")
    expect(page.locator("#login-error")).to_be_visible()
    audit("Sign-in, wrong password")
    # A right password afterwards clears the failure count (the module's other tests sign in too).
    page.locator("#login-password").fill(ADMIN_PASSWORD)
    page.locator("#login-password").press("Enter")
    expect(page.locator("#signed-in-user")).to_have_text(ADMIN_USERNAME)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_users_page(router: RouterProcess, page: Page, audit, lang: str):
    sign_in(page, router)
    open_page(page, router, lang, "/users")
    audit("Users")
    page.locator("#new-username").fill(ADMIN_USERNAME)  # taken: the form comes back with the error
    page.locator("#new-password").fill("long enough password")
    page.locator("#new-password").press("Enter")
    expect(page.locator("#create-user-error")).to_be_visible()
    audit("Users, the add form with an error")
    page.locator(f'tr[data-username="{VIEWER_USERNAME}"] [data-opens-dialog]').click()
    expect(page.locator("dialog[open]")).to_be_visible()
    audit("Users, delete dialog")
    page.keyboard.press("Escape")
    page.locator(f'tr[data-username="{VIEWER_USERNAME}"] select').select_option("viewer")
    page.locator(f'tr[data-username="{VIEWER_USERNAME}"] form').first.locator("button").click()
    expect(page.locator(".flash")).to_be_visible()
    audit("Users, a change made")


@pytest.mark.parametrize("lang", LANGUAGES)
def test_api_keys_page(router: RouterProcess, page: Page, audit, lang: str):
    sign_in(page, router)
    open_page(page, router, lang, "/api-keys")
    audit("API Keys")
    page.locator("#key-name").fill(f"a11y {lang}")
    page.locator("#scope-node").check()
    page.locator("#key-expiry").fill("30")
    page.locator("#create-key-form button[type=submit]").click()
    expect(page.locator("#new-key-value")).to_have_value(re.compile(r"^llmr_"))
    audit("API Keys, a new key shown once")
    page.locator('[data-state="active"] [data-opens-dialog]').first.click()
    expect(page.locator("dialog[open]")).to_be_visible()
    audit("API Keys, revoke dialog")
    page.locator("dialog[open] button[type=submit]").click()
    expect(page.locator(".flash")).to_be_visible()
    expect(page.locator('[data-state="revoked"]').first).to_be_visible()
    page.locator("#key-name").fill("no scopes")
    page.locator("#scope-api").uncheck()
    page.locator("#create-key-form button[type=submit]").click()
    expect(page.locator("#create-key-error")).to_be_visible()
    audit("API Keys, the create form with an error")


@pytest.mark.parametrize("lang", LANGUAGES)
def test_account_page(router: RouterProcess, page: Page, audit, lang: str):
    sign_in(page, router)
    open_page(page, router, lang, "/account")
    audit("Account")
    page.locator("#current-password").fill(ADMIN_PASSWORD)
    page.locator("#new-password").fill("one new password")
    page.locator("#confirm-password").fill("another new password")
    page.locator("#confirm-password").press("Enter")
    expect(page.locator("#password-error")).to_be_visible()
    audit("Account, passwords that differ")


@pytest.mark.parametrize("lang", LANGUAGES)
def test_viewer_models_page_and_forbidden_page(router: RouterProcess, page: Page, audit, lang: str):
    delete_all_via_api(router)
    register_via_api(router, id="qwen3-0.6b")
    sign_in(page, router, VIEWER_USERNAME, VIEWER_PASSWORD)
    open_page(page, router, lang, "/models")
    expect(page.locator("#open-register-dialog")).to_have_count(0)
    audit("Model Hub, viewer")
    open_page(page, router, lang, "/models/local")
    expect(page.locator("tbody tr")).to_have_count(1)
    audit("Local, viewer")
    open_page(page, router, lang, "/users")
    expect(page.locator(".error-page")).to_be_visible()
    audit("403 page")


def test_auth_disabled_banner(tmp_path: Path, hub, page: Page, axe_source: Path):
    """A router of its own (the setting is read at start); both languages, both schemes."""
    open_router = start_router(tmp_path, hub.url, {"LLM_ROUTER_AUTH_DISABLED": "1"})
    found: list[str] = []
    try:
        for lang in LANGUAGES:
            open_page(page, open_router, lang, "/users")
            expect(page.locator("#auth-disabled-banner")).to_have_attribute("role", "alert")
            page.add_script_tag(path=str(axe_source))
            for scheme in SCHEMES:
                page.emulate_media(color_scheme=scheme, reduced_motion="reduce")
                found += [f"[{lang}, {scheme}] {violation['id']}: {violation['nodes']}"
                          for violation in page.evaluate(RUN_AXE, WCAG_TAGS)]
        page.close()  # before the router stops: no keep-alive connection holds gunicorn up
    finally:
        open_router.stop()
    assert not found, "\n".join(found)
