"""The Playground in a real browser against the real router (gunicorn): accessibility (axe, both color
schemes, both languages), keyboard-only use, parameters and conversations kept in localStorage across
reloads, the state with no ready model; streaming through the router from a node imitation (slow
streams to stop, a node that dies mid-answer, a model that went back to downloading); and — against a
router with a real node serving the tiny model — a streamed chat, copy as curl (run for real), and an
API error shown in the conversation.

The node imitation (tests/support/node_imitation.py) speaks the node protocol; it stands in for what the tiny
model cannot do here: generate slowly enough to be stopped, or fail in the middle of an answer."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
import requests
from playwright.sync_api import Page, expect

from tests.support.browser import create_user_via_api, register_node_imitation, register_via_api, sign_in
from tests.support.node_imitation import NodeImitation
from tests.support.router_process import ADMIN_USERNAME, RouterProcess, start_router

pytestmark = pytest.mark.browser

VIEWER_USERNAME = "vera"
VIEWER_PASSWORD = "viewer password 1"
PARAMETERS_KEY = "llm-router.playground.parameters:" + ADMIN_USERNAME
CONVERSATIONS_KEY = "llm-router.playground.conversations:" + ADMIN_USERNAME

# Two conversations as an earlier visit would have left them: "b" was used last and is open.
SAVED = {
    "version": 1,
    "currentId": "b",
    "conversations": [
        {"id": "a", "title": "Say hello.", "created": 1, "updated": 1, "messages": [
            {"role": "user", "content": "Say hello."},
            {"role": "assistant", "content": "Hello! How can I help you today?", "model": "acme/tiny",
             "usage": {"prompt_tokens": 9, "completion_tokens": 10, "total_tokens": 19}, "rate": 250.0,
             "finish": "stop"},
        ]},
        {"id": "b", "title": "<b>Markup</b> stays text", "created": 2, "updated": 2, "messages": [
            {"role": "user", "content": "<b>Markup</b> stays text"},
            {"role": "assistant", "content": '<img src=x onerror="window.__injected = true">', "model": "acme/tiny",
             "stopped": True},
            {"role": "user", "content": "And this one failed"},
            {"role": "assistant", "content": "", "model": "acme/tiny",
             "error": "The model 'acme/tiny' is still downloading."},
        ]},
    ],
}


@pytest.fixture(scope="module")
def router(tmp_path_factory: pytest.TempPathFactory, hub) -> Iterator[RouterProcess]:
    """One router for the module (no node: no model is ever ready), with a viewer besides the admin. Its
    chats all fail with 503: no error-rate alert (whose toast would cover the page's controls while axe
    looks at them; toasts are audited in test_alerts.py)."""
    process = start_router(tmp_path_factory.mktemp("playground"), hub.url, {"LLM_ROUTER_ALERT_ERROR_RATE": "1"})
    create_user_via_api(process, VIEWER_USERNAME, VIEWER_PASSWORD, "viewer")
    yield process
    process.stop()


def open_playground(page: Page, url: str, lang: str = "en") -> None:
    page.context.add_cookies([{"name": "lang", "value": lang, "url": url}])
    page.goto(f"{url}/playground")
    expect(page.locator("html")).to_have_attribute("lang", lang)


def wait_for_empty_model_state(page: Page) -> None:
    """The script has asked GET /v1/models and found nothing ready."""
    expect(page.locator("#no-model")).to_be_visible()


def seed_conversations(page: Page, data: dict) -> None:
    page.evaluate("([key, value]) => localStorage.setItem(key, value)", [CONVERSATIONS_KEY, json.dumps(data)])
    page.reload()


def stored(page: Page, key: str) -> dict | None:
    text = page.evaluate("(key) => localStorage.getItem(key)", key)
    return json.loads(text) if text else None


def focused(page: Page) -> str:
    """The focused element, as its id or its data-focus-key."""
    return page.evaluate("""() => {
        const el = document.activeElement;
        return el.id || (el.dataset && el.dataset.focusKey) || el.tagName.toLowerCase();
    }""")


def conversation_titles(page: Page) -> list[str]:
    return page.locator("#conversation-list .conversation__open").all_text_contents()


# --- Accessibility ----------------------------------------------------------------------------------

@pytest.mark.parametrize("lang", ["en", "ja"])
def test_accessibility_in_both_languages_and_schemes(router: RouterProcess, page: Page, audit, lang: str):
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=router.url)
    sign_in(page, router, next_path="/playground")
    open_playground(page, router.url, lang)
    wait_for_empty_model_state(page)
    audit("Playground, no model ready")

    seed_conversations(page, SAVED)
    expect(page.locator(".message")).to_have_count(4)
    audit("Playground, conversations with an answer, a stopped answer and an error")

    page.locator("#param-temperature").fill("5")
    page.locator("#param-temperature").press("Tab")
    expect(page.locator("#parameters-error")).not_to_be_empty()
    page.locator("#prompt").fill("Hello")
    page.locator("#prompt").press("Enter")
    expect(page.locator("#composer-error")).not_to_be_empty()
    page.locator("#copy-curl").click()
    expect(page.locator("#copy-status")).not_to_be_empty()
    audit("Playground, a parameter error, a composer error and the copy status")

    page.locator("#clear-conversations").click()
    expect(page.locator("#clear-dialog")).to_be_visible()
    audit("Playground, the delete-all dialog")


# --- Keyboard ---------------------------------------------------------------------------------------

def test_keyboard_only(router: RouterProcess, page: Page):
    sign_in(page, router, next_path="/playground")
    wait_for_empty_model_state(page)
    seed_conversations(page, SAVED)
    expect(page.locator(".message")).to_have_count(4)

    # Skip link, then every control of the page in reading order (Send and Stop are disabled: no model).
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent.trim()") == "Skip to main content"
    page.keyboard.press("Enter")
    assert focused(page) == "main"
    order = []
    for _ in range(15):
        page.keyboard.press("Tab")
        order.append(focused(page))
    assert order == ["new-conversation", "open:b", "delete:b", "open:a", "delete:a", "clear-conversations",
                     "no-model-link", "transcript", "prompt", "copy-curl", "param-temperature", "param-top-p",
                     "param-max-tokens", "param-system", "reset-parameters"]

    # Open the other conversation with Enter: it becomes current, its messages are shown.
    page.locator('[data-focus-key="open:a"]').focus()
    page.keyboard.press("Enter")
    expect(page.locator('[data-focus-key="open:a"]')).to_have_attribute("aria-current", "true")
    expect(page.locator("#chat-title")).to_have_text("Say hello.")
    expect(page.locator(".message__text")).to_have_text(["Say hello.", "Hello! How can I help you today?"])
    expect(page.locator('[data-focus-key="open:a"]')).to_be_focused()
    expect(page.locator("#live-region")).to_have_text("Showing the conversation “Say hello.”.")

    # Delete it with the keyboard: focus goes to the conversation that is left.
    page.keyboard.press("Tab")
    assert focused(page) == "delete:a"
    assert page.evaluate("document.activeElement.getAttribute('aria-label')") == "Delete “Say hello.”"
    page.keyboard.press("Enter")
    expect(page.locator("#conversation-list .conversation")).to_have_count(1)
    assert focused(page) == "open:b"
    expect(page.locator("#live-region")).to_have_text("Deleted the conversation “Say hello.”.")

    # Delete all: the dialog opens on Cancel; Escape goes back to the button; then confirm.
    page.locator("#clear-conversations").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#clear-dialog")).to_be_visible()
    assert page.evaluate("document.activeElement.textContent.trim()") == "Cancel"
    page.keyboard.press("Escape")
    expect(page.locator("#clear-dialog")).to_be_hidden()
    expect(page.locator("#clear-conversations")).to_be_focused()
    expect(page.locator("#conversation-list .conversation")).to_have_count(1)
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent.trim()") == "Delete all"
    page.keyboard.press("Enter")
    expect(page.locator("#conversation-list .conversation")).to_have_count(0)
    expect(page.locator("#new-conversation")).to_be_focused()
    expect(page.locator("#conversations-empty")).to_be_visible()

    # The message box: Shift+Enter is a new line, Enter sends (here refused: no model to send to).
    page.locator("#prompt").focus()
    page.keyboard.type("first line")
    page.keyboard.press("Shift+Enter")
    page.keyboard.type("second line")
    expect(page.locator("#prompt")).to_have_value("first line\nsecond line")
    page.keyboard.press("Enter")
    expect(page.locator("#composer-error")).to_have_text("Choose a model first.")
    expect(page.locator("#prompt")).to_have_value("first line\nsecond line")
    expect(page.locator("#send")).to_be_disabled()
    expect(page.locator("#stop")).to_be_disabled()  # enabled only while an answer is being generated

    # New conversation with the keyboard: it is listed, and focus goes to the message box.
    page.locator("#new-conversation").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#prompt")).to_be_focused()
    assert conversation_titles(page) == ["New conversation"]


# --- Persistence ------------------------------------------------------------------------------------

def test_parameters_persist_across_reloads(router: RouterProcess, page: Page):
    sign_in(page, router, next_path="/playground")
    wait_for_empty_model_state(page)
    expect(page.get_by_label("Temperature")).to_have_value("0.7")  # the defaults
    expect(page.get_by_label("Top P")).to_have_value("1")
    expect(page.get_by_label("Max tokens")).to_have_value("512")
    expect(page.get_by_label("System prompt")).to_have_value("")

    page.get_by_label("Temperature").fill("0")
    page.get_by_label("Top P").fill("0.9")
    page.get_by_label("Max tokens").fill("64")
    page.get_by_label("System prompt").fill("Answer in one sentence.\nBe kind.")
    page.reload()
    wait_for_empty_model_state(page)
    expect(page.get_by_label("Temperature")).to_have_value("0")
    expect(page.get_by_label("Top P")).to_have_value("0.9")
    expect(page.get_by_label("Max tokens")).to_have_value("64")
    expect(page.get_by_label("System prompt")).to_have_value("Answer in one sentence.\nBe kind.")
    saved = stored(page, PARAMETERS_KEY)
    assert saved["temperature"] == "0" and saved["top_p"] == "0.9" and saved["max_tokens"] == "64"
    assert saved["system"] == "Answer in one sentence.\nBe kind."

    # A value out of range is pointed out on the field when the user leaves it.
    page.get_by_label("Top P").fill("0")
    page.get_by_label("Top P").press("Tab")
    expect(page.locator("#parameters-error")).to_have_text("Top P must be a number more than 0 and at most 1.")
    expect(page.get_by_label("Top P")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Top P")).to_have_attribute("aria-describedby", "param-top-p-hint parameters-error")
    page.get_by_label("Top P").fill("0.5")
    page.get_by_label("Top P").press("Tab")
    expect(page.locator("#parameters-error")).to_be_empty()
    expect(page.get_by_label("Top P")).not_to_have_attribute("aria-invalid", "true")

    page.get_by_role("button", name="Reset to defaults").click()
    expect(page.get_by_label("Temperature")).to_have_value("0.7")
    expect(page.locator("#live-region")).to_have_text("Parameters reset to their defaults.")
    page.reload()
    expect(page.get_by_label("Temperature")).to_have_value("0.7")
    expect(page.get_by_label("System prompt")).to_have_value("")


def test_parameters_are_kept_per_user(router: RouterProcess, page: Page):
    """Another user signing in to the same browser profile starts with their own parameters and conversations."""
    sign_in(page, router, next_path="/playground")
    wait_for_empty_model_state(page)
    page.get_by_label("System prompt").fill("the admin's prompt")
    seed_conversations(page, SAVED)
    expect(page.locator("#conversation-list .conversation")).to_have_count(2)
    page.get_by_role("button", name="Sign out").click()
    sign_in(page, router, VIEWER_USERNAME, VIEWER_PASSWORD, next_path="/playground")
    wait_for_empty_model_state(page)
    expect(page.get_by_label("System prompt")).to_have_value("")
    expect(page.locator("#conversation-list .conversation")).to_have_count(0)
    # The viewer's empty state says who registers models.
    expect(page.locator("#no-model")).to_contain_text("An admin registers models on the Models page.")


def test_conversations_persist_across_reloads(router: RouterProcess, page: Page):
    sign_in(page, router, next_path="/playground")
    wait_for_empty_model_state(page)
    expect(page.locator("#transcript-empty")).to_have_text("Send a message to start the conversation.")
    seed_conversations(page, SAVED)

    # Most recent first; the open one is marked; titles, messages and errors are text, never markup.
    assert conversation_titles(page) == ["<b>Markup</b> stays text", "Say hello."]
    expect(page.locator('[data-focus-key="open:b"]')).to_have_attribute("aria-current", "true")
    expect(page.locator("#chat-title")).to_have_text("<b>Markup</b> stays text")
    texts = page.locator(".message__text")
    expect(texts).to_have_text(["<b>Markup</b> stays text", '<img src=x onerror="window.__injected = true">',
                                "And this one failed", ""])
    assert page.locator("#transcript b, #transcript img, #conversation-list b").count() == 0
    assert not page.evaluate("window.__injected === true")
    expect(page.locator(".message").nth(1).locator(".message__meta")).to_have_text("acme/tiny · Stopped before the end.")
    expect(page.locator(".message__error")).to_have_text("Error: The model 'acme/tiny' is still downloading.")
    expect(page.locator(".message__role")).to_have_text(["You", "Assistant", "You", "Assistant"])

    # Switch, reload: the switched-to conversation is still open, with its usage and speed.
    page.get_by_role("button", name="Say hello.", exact=True).click()
    page.reload()
    expect(page.locator("#chat-title")).to_have_text("Say hello.")
    expect(page.locator(".message__meta")).to_have_text(
        "acme/tiny · Prompt tokens: 9 · Completion tokens: 10 · 250 tokens/s")

    # Delete one, start a new one, reload: exactly that is kept.
    page.get_by_role("button", name="Delete “<b>Markup</b> stays text”").click()
    page.get_by_role("button", name="New conversation").click()
    assert conversation_titles(page) == ["New conversation", "Say hello."]
    page.reload()
    assert conversation_titles(page) == ["New conversation", "Say hello."]
    expect(page.locator("#chat-title")).to_have_text("New conversation")
    saved = stored(page, CONVERSATIONS_KEY)
    assert [item["title"] for item in saved["conversations"]] == ["Say hello.", ""]

    # Clear all, reload: nothing left.
    page.get_by_role("button", name="Delete all conversations").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete all").click()
    expect(page.locator("#conversation-list .conversation")).to_have_count(0)
    page.reload()
    expect(page.locator("#conversations-empty")).to_be_visible()
    assert stored(page, CONVERSATIONS_KEY)["conversations"] == []


# --- No ready model ---------------------------------------------------------------------------------

@pytest.mark.parametrize("lang, title, link", [("en", "No model is ready yet", "Open the Models page"),
                                               ("ja", "準備完了のモデルはまだありません", "モデルページを表示")])
def test_empty_model_state(router: RouterProcess, page: Page, lang: str, title: str, link: str):
    # A registered model is not ready until a node has it: still nothing to chat with.
    requests.delete(f"{router.url}/v0/models/qwen3-0.6b", headers=router.auth_headers, timeout=10)
    register_via_api(router, id="qwen3-0.6b")
    sign_in(page, router, next_path="/playground")
    open_playground(page, router.url, lang)
    empty = page.locator("#no-model")
    expect(empty).to_be_visible()
    expect(empty.locator(".empty-state__title")).to_have_text(title)
    expect(page.locator("#playground-model")).to_be_hidden()
    expect(page.locator("#send")).to_be_disabled()
    expect(page.locator("#model-status")).to_be_empty()  # the list was read; it is just empty
    page.get_by_role("link", name=link).click()
    expect(page).to_have_url(f"{router.url}/models")


# --- Streaming through the router from a node imitation ---------------------------------------------

IMITATED_MODEL = "qwen3-0.6b"  # a catalog id: registering it needs no Hub


@dataclass
class ImitatedCluster:
    router: RouterProcess
    node: NodeImitation

    def chat(self, body: dict) -> requests.Response:
        """The router's own answer to a request, as the admin (for comparing with what the page shows)."""
        return requests.post(f"{self.router.url}/v1/chat/completions", json=body, headers=self.router.auth_headers,
                             timeout=10)

    def ready_ids(self) -> list[str]:
        response = requests.get(f"{self.router.url}/v1/models", headers=self.router.auth_headers, timeout=10)
        return [model["id"] for model in response.json()["data"]]


def wait_until(condition: Callable[[], object], what: str, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


@pytest.fixture(scope="module")
def imitated(tmp_path_factory: pytest.TempPathFactory, hub) -> Iterator[ImitatedCluster]:
    """A router that polls its nodes every second, with one node imitation holding IMITATED_MODEL ready.
    The page's own refresh of the model list is slowed down (tests trigger it), so it never races a test."""
    router = start_router(tmp_path_factory.mktemp("playground-imitation"), hub.url,
                          {"LLM_ROUTER_NODE_POLL_SECONDS": "1", "LLM_ROUTER_UI_POLL_SECONDS": "600",
                           "LLM_ROUTER_ROUTING_CACHE_SECONDS": "0"})  # every gunicorn worker sees changes at once
    node = NodeImitation((IMITATED_MODEL,), name="imitation").start()
    try:
        register_via_api(router, id=IMITATED_MODEL)
        register_node_imitation(router, node)
        cluster = ImitatedCluster(router, node)
        wait_until(lambda: cluster.ready_ids() == [IMITATED_MODEL], "the imitated model to be ready")
        yield cluster
    finally:
        node.stop()
        router.stop()


@pytest.fixture
def imitation(imitated: ImitatedCluster) -> Iterator[ImitatedCluster]:
    imitated.node.reset()
    imitated.node.model_reports.clear()
    wait_until(lambda: imitated.ready_ids() == [IMITATED_MODEL], "the imitated model to be ready")
    yield imitated
    imitated.node.reset()
    imitated.node.model_reports.clear()


def refresh_model_list(page: Page) -> None:
    """What the page does when its tab becomes visible again: ask GET /v1/models at once."""
    page.evaluate("document.dispatchEvent(new Event('visibilitychange'))")


def open_chat(page: Page, cluster: ImitatedCluster) -> None:
    sign_in(page, cluster.router, next_path="/playground")
    expect(page.locator("#playground-model")).to_have_value(IMITATED_MODEL)


def test_stop_button_and_escape_stop_a_streaming_answer(imitation: ImitatedCluster, page: Page, audit):
    node = imitation.node
    node.tokens, node.token_interval = 400, 0.05  # 20 s unless stopped
    open_chat(page, imitation)
    stop, send, prompt = page.locator("#stop"), page.locator("#send"), page.get_by_label("Message", exact=True)
    expect(stop).to_be_disabled()
    prompt.fill("Count slowly")
    prompt.press("Enter")

    answer = page.locator(".message--assistant").last
    expect(answer.locator(".message__text")).to_contain_text("tok3")
    expect(answer).to_have_attribute("aria-busy", "true")
    expect(answer.locator(".message__meta")).to_have_text(f"{IMITATED_MODEL} · Generating…")
    expect(stop).to_be_enabled()
    expect(send).to_be_disabled()
    expect(prompt).to_have_value("")
    expect(prompt).to_be_focused()
    expect(page.locator("#answer-live p").first).to_have_text("Generating the answer…")
    audit("Playground, an answer being generated")

    stop.click()
    expect(answer.locator(".message__meta")).to_have_text(f"{IMITATED_MODEL} · Stopped before the end.")
    assert node.wait_for_outcome() == "cancelled"  # the router let go of the node: generation ended there too
    partial = answer.locator(".message__text").text_content()
    assert partial.startswith("tok0 tok1 tok2 tok3") and "tok399" not in partial
    expect(answer).not_to_have_attribute("aria-busy", "true")
    expect(stop).to_be_disabled()
    expect(send).to_be_enabled()
    expect(prompt).to_be_focused()  # Stop went disabled under the focus: it moved to the message box
    expect(page.locator("#answer-live")).to_contain_text("Stopped.")

    # Escape in the message box stops too. The next request carries the stopped answer as it was.
    prompt.fill("Again")
    prompt.press("Enter")
    second = page.locator(".message--assistant").nth(1)
    expect(second.locator(".message__text")).to_contain_text("tok2")
    prompt.press("Escape")
    expect(second.locator(".message__meta")).to_have_text(f"{IMITATED_MODEL} · Stopped before the end.")
    assert node.wait_for_outcome() == "cancelled"
    sent = node.requests[-1].body
    assert sent["messages"] == [{"role": "user", "content": "Count slowly"}, {"role": "assistant", "content": partial},
                                {"role": "user", "content": "Again"}]
    assert {key: sent[key] for key in ("model", "temperature", "top_p", "max_tokens", "stream", "stream_options")} == {
        "model": IMITATED_MODEL, "temperature": 0.7, "top_p": 1, "max_tokens": 512, "stream": True,
        "stream_options": {"include_usage": True}}

    page.reload()
    expect(page.locator(".message__meta")).to_have_text([f"{IMITATED_MODEL} · Stopped before the end."] * 2)
    expect(page.locator(".message__text").nth(1)).to_have_text(partial)


def test_a_complete_answer_shows_usage_and_speed(imitation: ImitatedCluster, page: Page):
    imitation.node.tokens = 7
    open_chat(page, imitation)
    page.get_by_label("System prompt").fill("Be brief.")
    page.get_by_label("Max tokens").fill("")  # empty: the model's default, not sent
    prompt = page.get_by_label("Message", exact=True)
    prompt.fill("Hello")
    prompt.press("Enter")
    answer = page.locator(".message--assistant").last
    expect(answer.locator(".message__text")).to_have_text("tok0 tok1 tok2 tok3 tok4 tok5 tok6 ")
    expect(answer.locator(".message__meta")).to_have_text(re.compile(
        rf"^{re.escape(IMITATED_MODEL)} · Prompt tokens: 3 · Completion tokens: 7 · [\d,.]+ tokens/s · "
        r"Cut off at the max tokens limit\.$"))  # the imitation ends with finish_reason "length"
    expect(page.locator("#answer-live")).to_contain_text("Answer complete. Completion tokens: 7")
    sent = imitation.node.requests[-1].body
    assert sent["messages"] == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello"}]
    assert "max_tokens" not in sent


def test_an_error_in_the_middle_of_a_stream_is_shown_in_the_conversation(imitation: ImitatedCluster, page: Page):
    node = imitation.node
    node.tokens, node.token_interval, node.mode, node.die_after = 10, 0.02, "die", 3
    # What the router sends when its node dies mid-answer: some text, then an error event.
    with requests.post(f"{imitation.router.url}/v1/chat/completions", headers=imitation.router.auth_headers,
                       stream=True, timeout=10, json={"model": IMITATED_MODEL, "stream": True,
                                                      "messages": [{"role": "user", "content": "x"}]}) as direct:
        assert direct.status_code == 200
        events = [line[len("data: "):] for line in direct.iter_lines(decode_unicode=True) if line.startswith("data: ")]
    router_error = json.loads(events[-2])["error"]["message"]
    assert events[-1] == "[DONE]" and router_error

    open_chat(page, imitation)
    prompt = page.get_by_label("Message", exact=True)
    prompt.fill("Tell me everything")
    prompt.press("Enter")
    answer = page.locator(".message--assistant").last
    expect(answer.locator(".message__error")).to_have_text(f"Error: {router_error}")
    expect(answer.locator(".message__text")).to_have_text("tok0 tok1 tok2 ")  # what came before stays
    expect(page.locator("#stop")).to_be_disabled()
    expect(page.locator("#answer-live")).to_contain_text(f"Error: {router_error}")
    page.reload()
    expect(page.locator(".message__error")).to_have_text(f"Error: {router_error}")


def test_a_refused_request_shows_the_routers_message_and_the_picker_follows_the_model_list(
        imitation: ImitatedCluster, page: Page):
    open_chat(page, imitation)
    # The model goes back to downloading on its node after the page listed it (503 from the router).
    imitation.node.model_reports[IMITATED_MODEL] = {"state": "downloading", "downloaded_bytes": 1024,
                                                    "total_bytes": 4096}
    body = {"model": IMITATED_MODEL, "messages": [{"role": "user", "content": "Hello?"}]}
    answers: list[requests.Response] = []
    wait_until(lambda: answers.append(imitation.chat(body)) or answers[-1].status_code == 503,
               "the router to see the download")
    refusal = answers[-1].json()["error"]["message"]

    prompt = page.get_by_label("Message", exact=True)
    prompt.fill("Hello?")
    prompt.press("Enter")
    answer = page.locator(".message--assistant").last
    expect(answer.locator(".message__error")).to_have_text(f"Error: {refusal}")
    expect(answer.locator(".message__text")).to_have_text("")
    assert conversation_titles(page) == ["Hello?"]

    # The page's next look at /v1/models finds nothing ready: the empty state replaces the picker.
    refresh_model_list(page)
    expect(page.locator("#no-model")).to_be_visible()
    expect(page.locator("#playground-model")).to_be_hidden()
    expect(page.locator("#send")).to_be_disabled()

    # Ready again: the picker comes back with the model chosen before.
    imitation.node.model_reports.clear()
    wait_until(lambda: imitation.ready_ids() == [IMITATED_MODEL], "the model to be ready again")
    refresh_model_list(page)
    expect(page.locator("#playground-model")).to_have_value(IMITATED_MODEL)
    expect(page.locator("#no-model")).to_be_hidden()
    # The refused message got no answer: it is not sent again with the next one.
    prompt.fill("Hello again")
    prompt.press("Enter")
    expect(page.locator(".message--assistant").last.locator(".message__text")).to_have_text(
        "tok0 tok1 tok2 tok3 tok4 ")
    assert imitation.node.requests[-1].body["messages"] == [{"role": "user", "content": "Hello again"}]


# --- Chat with a real node (needs the `inference_router` fixture from tests/conftest.py) ---------

def test_streaming_chat_with_a_ready_model(inference_router, page: Page, audit):
    """A streamed answer from the tiny model, with usage and speed; the conversation kept across a reload;
    copy as curl, run for real with an API key; an API error (a model that went away) shown in the chat."""
    url, model_id = inference_router.url, inference_router.model_id
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=url)
    sign_in(page, inference_router, next_path="/api-keys")
    page.get_by_label("Name").fill("playground curl")
    page.get_by_role("button", name="Create key").click()
    api_key = page.get_by_label("API key", exact=True).input_value()
    assert api_key.startswith("llmr_")

    page.goto(f"{url}/playground")
    select = page.locator("#playground-model")
    expect(select.locator(f'option[value="{model_id}"]')).to_have_count(1)
    select.select_option(model_id)
    page.get_by_label("Temperature").fill("0")
    prompt = page.get_by_label("Message", exact=True)
    prompt.fill("What is the capital of France?")
    prompt.press("Enter")

    answer = page.locator(".message--assistant").last
    expect(answer.locator(".message__text")).to_have_text("The capital of France is Paris.", timeout=30000)
    expect(answer).not_to_have_attribute("aria-busy", "true")
    meta = answer.locator(".message__meta")
    expect(meta).to_have_text(re.compile(
        rf"^{re.escape(model_id)} · Prompt tokens: [1-9]\d* · Completion tokens: [1-9]\d* · [\d,.]+ tokens/s$"))
    expect(page.locator("#stop")).to_be_disabled()
    expect(page.locator("#send")).to_be_enabled()
    expect(prompt).to_have_value("")
    expect(prompt).to_be_focused()
    expect(page.locator("#answer-live")).to_contain_text("The capital of France is Paris.")
    expect(page.locator("#answer-live")).to_contain_text("Answer complete.")
    assert conversation_titles(page) == ["What is the capital of France?"]
    expect(page.locator("#chat-title")).to_have_text("What is the capital of France?")
    audit("Playground, a model picked and a streamed answer")

    page.reload()
    expect(page.locator(".message__text")).to_have_text(["What is the capital of France?",
                                                         "The capital of France is Paris."])
    expect(page.locator(".message__meta")).to_have_text(re.compile(r"Completion tokens: [1-9]"))
    expect(page.get_by_label("Temperature")).to_have_value("0")
    expect(select).to_have_value(model_id)

    # Copy as curl in a new conversation, then run the command with a real API key.
    page.get_by_role("button", name="New conversation").click()
    prompt.fill("Say hello.")
    page.get_by_role("button", name="Copy as curl").click()
    expect(page.locator("#copy-status")).to_have_text(
        "Copied the curl command to the clipboard. It reads the API key from $LLM_ROUTER_API_KEY.")
    command = page.evaluate("navigator.clipboard.readText()")
    assert command.startswith(f"curl -N '{url}/v1/chat/completions'")
    assert '-H "Authorization: Bearer $LLM_ROUTER_API_KEY"' in command
    assert "session" not in command.lower() and "cookie" not in command.lower() and "csrf" not in command.lower()
    body = json.loads(command.split(" -d '", 1)[1].rsplit("'", 1)[0])
    assert body == {"model": model_id, "messages": [{"role": "user", "content": "Say hello."}], "temperature": 0,
                    "top_p": 1, "max_tokens": 512, "stream": True, "stream_options": {"include_usage": True}}
    run = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=60,
                         env={**os.environ, "LLM_ROUTER_API_KEY": api_key})
    assert run.returncode == 0, run.stderr
    events = [line[len("data: "):] for line in run.stdout.splitlines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(event) for event in events[:-1]]
    text = "".join(choice["delta"].get("content") or "" for chunk in chunks for choice in chunk["choices"])
    assert text == "Hello! How can I help you today?"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] > 0

    # The same message sent from the page: the same answer.
    prompt.press("Enter")
    expect(page.locator(".message--assistant .message__text")).to_have_text("Hello! How can I help you today?",
                                                                             timeout=30000)
    assert conversation_titles(page) == ["Say hello.", "What is the capital of France?"]

    # A model that went away since the list was read: the router's error is shown in the conversation.
    gone = "acme/gone-model"
    page.evaluate("""(id) => {
        const option = document.createElement("option");
        option.value = id;
        option.textContent = id;
        document.getElementById("playground-model").appendChild(option);
    }""", gone)
    select.select_option(gone)
    prompt.fill("Are you there?")
    prompt.press("Enter")
    refusal = requests.post(f"{url}/v1/chat/completions", timeout=10, headers={"Authorization": f"Bearer {api_key}"},
                            json={"model": gone, "messages": [{"role": "user", "content": "Are you there?"}]})
    assert refusal.status_code == 404
    expect(page.locator(".message__error").last).to_have_text("Error: " + refusal.json()["error"]["message"])
    expect(page.locator("#answer-live")).to_contain_text("Error: " + refusal.json()["error"]["message"])
    expect(page.locator("#stop")).to_be_disabled()
