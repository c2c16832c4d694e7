"""axe-core on every state of the Models page, in English and Japanese, light and dark.

Any violation of WCAG 2.0/2.1/2.2 A, AA or AAA rules fails, including `color-contrast-enhanced`
(AAA: 7:1 for text). axe-core is not vendored: scripts/test.sh fetches it to .cache/axe/axe.min.js.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import delete_all_via_api, register_via_api
from tests.conftest import GGUF_REPO, PROJECT_ROOT, SAFETENSORS_REPO
from tests.router_process import RouterProcess, start_router

pytestmark = pytest.mark.browser

AXE_PATH = PROJECT_ROOT / ".cache" / "axe" / "axe.min.js"
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag2aaa", "wcag21a", "wcag21aa", "wcag22aa"]
SCHEMES = ("light", "dark")
LANGUAGES = ("en", "ja")

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


@pytest.fixture(scope="module")
def router(tmp_path_factory: pytest.TempPathFactory, hub) -> Iterator[RouterProcess]:
    """One router for the module; each test sets the registrations it needs."""
    process = start_router(tmp_path_factory.mktemp("a11y"), hub.url)
    yield process
    process.stop()


@pytest.fixture(scope="module")
def axe_source() -> Path:
    if not AXE_PATH.exists():
        pytest.fail(f"{AXE_PATH.relative_to(PROJECT_ROOT)} is missing: run scripts/test.sh once, which downloads "
                    f"axe-core there, then run pytest again")
    return AXE_PATH


@pytest.fixture
def audit(router: RouterProcess, page: Page, axe_source: Path) -> Iterator[Callable[[str], None]]:
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


def open_page(page: Page, router: RouterProcess, lang: str, path: str) -> None:
    page.context.add_cookies([{"name": "lang", "value": lang, "url": router.url}])
    page.goto(f"{router.url}{path}")
    expect(page.locator("html")).to_have_attribute("lang", lang)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_model_hub(router: RouterProcess, page: Page, audit, lang: str):
    delete_all_via_api(router.url)
    register_via_api(router.url, id="qwen3-0.6b")
    register_via_api(router.url, repo=GGUF_REPO)
    open_page(page, router, lang, "/models")
    expect(page.locator("li.card-cell")).to_have_count(13)
    audit("Model Hub")
    open_page(page, router, lang, "/models?q=no-such-model")
    expect(page.locator(".empty-state")).to_be_visible()
    audit("Model Hub, nothing matches")


@pytest.mark.parametrize("lang", LANGUAGES)
def test_local_tab(router: RouterProcess, page: Page, audit, lang: str):
    delete_all_via_api(router.url)
    open_page(page, router, lang, "/models/local")
    expect(page.locator(".empty-state")).to_be_visible()
    audit("Local, empty")
    register_via_api(router.url, id="qwen3-0.6b")
    register_via_api(router.url, repo=GGUF_REPO)
    page.reload()
    expect(page.locator("tbody tr")).to_have_count(2)
    audit("Local, two models")


@pytest.mark.parametrize("lang", LANGUAGES)
def test_dialogs_and_alerts(router: RouterProcess, page: Page, audit, lang: str):
    delete_all_via_api(router.url)
    register_via_api(router.url, id="qwen3-0.6b")
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

    register_via_api(router.url, id="phi-4")  # the page still offers Register: the click fails with 409
    page.locator('[data-model-id="phi-4"] [data-action="register"]').click()
    expect(page.locator("#page-alert")).not_to_be_empty()
    audit("Page alert")


def test_every_status_badge_and_progress_bar(router: RouterProcess, page: Page, audit):
    """States no test router can reach yet (nodes report them): drawn into the page, then checked."""
    delete_all_via_api(router.url)
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
    open_page(page, router, "en", "/models")
    page.keyboard.press("Tab")  # keyboard modality, so :focus-visible applies
    colors = page.evaluate(COLORS)
    assert colors["placeholder"] >= 7, colors
    assert colors["disabled"] >= 7, colors
    assert colors["busy"] >= 7, colors
    assert colors["outlineStyle"] == "solid", colors
    assert colors["focusRingOnPage"] >= 3 and colors["focusRingOnCard"] >= 3, colors  # non-text contrast (1.4.11)
