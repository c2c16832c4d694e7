"""The Playground page through Flask's test client: who may open it, the nav link, and the strings its
script shows (translated on the server, handed over as JSON). The chat itself runs in the browser:
tests/browser/test_playground.py."""

from __future__ import annotations

import html as html_lib
import json
import re

import pytest

from app.services.accounts import users
from tests.support.factories import login_session

VIEWER = ("vera", "viewer password 1")


def ui_strings(html: str) -> dict[str, str]:
    match = re.search(r'<script type="application/json" id="ui-strings">(.*?)</script>', html, re.S)
    assert match, "no #ui-strings on the page"
    return json.loads(html_lib.unescape(match.group(1)))


def main_of(html: str) -> str:
    return html.split('<main id="main"', 1)[1].split("</main>", 1)[0]


def header_of(html: str) -> str:
    return html.split('<header class="site-header">', 1)[1].split("</header>", 1)[0]


@pytest.fixture
def admin(app):
    browser = app.test_client()
    login_session(browser)
    return browser


@pytest.fixture
def viewer(app):
    with app.app_context():
        users.create_user(*VIEWER, "viewer")
    browser = app.test_client()
    login_session(browser, *VIEWER)
    return browser


def test_page_renders_for_a_signed_in_admin(admin):
    response = admin.get("/playground")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert '<html lang="en">' in html
    assert "<title>Playground · LLM Router</title>" in html
    assert "<h1>Playground</h1>" in html
    assert 'href="/playground" aria-current="page">Playground</a>' in header_of(html)
    main = main_of(html)
    # What the script needs: the API's base, whose conversations these are, how often to look for models.
    assert 'data-api-base="/v1"' in main and 'data-storage-owner="admin"' in main and 'data-poll-seconds="10"' in main
    for control in ('id="playground-model"', 'id="prompt"', 'id="send"', 'id="stop" disabled', 'id="copy-curl"',
                    'id="new-conversation"', 'id="conversation-list"', 'id="param-temperature"', 'id="param-top-p"',
                    'id="param-max-tokens"', 'id="param-system"', 'id="clear-dialog"'):
        assert control in main, control
    assert '<label for="prompt">' in main.replace(' class="composer__label"', "")
    assert "Enter sends; Shift+Enter starts a new line; Escape stops the answer." in main
    # The empty state (shown by the script when /v1/models lists nothing) links to the Models page.
    assert "No model is ready yet" in main
    assert "Register one on the Models page." in main
    assert 'href="/models">Open the Models page</a>' in main
    assert '<script type="module" src="/static/js/playground.js"></script>' in html


def test_the_sampling_panel_reads_parameters_not_a_parameter_count_in_japanese(admin):
    admin.set_cookie("lang", "ja")
    html = admin.get("/playground").get_data(as_text=True)
    assert '<h2 class="panel__title" id="parameters-title">パラメーター</h2>' in html  # not 「パラメーター数」


def test_streaming_answers_are_not_a_live_region_of_their_own(admin):
    """Screen readers hear the answer through #answer-live (sentence by sentence, additions only),
    not by re-reading the transcript at every chunk."""
    main = main_of(admin.get("/playground").get_data(as_text=True))
    transcript = re.search(r'<div class="transcript"[^>]*>', main).group(0)
    assert "aria-live" not in transcript and 'role="log"' not in transcript
    assert ('<div id="answer-live" class="visually-hidden" aria-live="polite" aria-atomic="false" '
            'aria-relevant="additions"></div>') in main


def test_script_strings_come_from_the_page(admin):
    strings = ui_strings(admin.get("/playground").get_data(as_text=True))
    assert strings["newConversation"] == "New conversation"
    assert strings["deleteConversation"] == "Delete “%(title)s”"
    assert strings["tokensPerSecond"] == "%(rate)s tokens/s"
    assert strings["curlCopied"].startswith("Copied the curl command to the clipboard.")


def test_page_in_japanese(admin):
    english = ui_strings(admin.get("/playground").get_data(as_text=True))
    admin.set_cookie("lang", "ja")
    html = admin.get("/playground").get_data(as_text=True)
    assert '<html lang="ja">' in html
    assert "<h1>プレイグラウンド</h1>" in html
    assert 'aria-current="page">プレイグラウンド</a>' in header_of(html)
    main = main_of(html)
    for text in ("会話", "新しい会話", "準備完了のモデルはまだありません", "モデルページを表示", "送信", "停止",
                 "curl としてコピー", "パラメーター", "最大トークン数", "システムプロンプト", "すべての会話を削除しますか？"):
        assert text in main, text
    japanese = ui_strings(html)
    assert japanese.keys() == english.keys()
    untranslated = [key for key in english if japanese[key] == english[key]]
    assert not untranslated, f"strings left in English: {untranslated}"
    assert japanese["deleteConversation"] == "「%(title)s」を削除"  # placeholders survive for the script


def test_viewer_may_use_the_playground(viewer):
    response = viewer.get("/playground")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'data-storage-owner="vera"' in html
    assert 'href="/playground" aria-current="page">Playground</a>' in header_of(html)
    # A viewer cannot register models: the empty state says who does.
    assert "An admin registers models on the Models page." in main_of(html)
    assert "Register one on the Models page." not in html


def test_nav_link_on_other_pages(admin):
    header = header_of(admin.get("/models").get_data(as_text=True))
    assert '<li><a href="/playground">Playground</a></li>' in header


def test_anonymous_visitors_are_sent_to_the_login_page(anonymous_client):
    response = anonymous_client.get("/playground")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/playground"
    assert "Playground" not in anonymous_client.get("/login").get_data(as_text=True)


def test_api_keys_cannot_open_the_page(client):
    """The page chats with the browser's session; a program with a key uses /v1 directly."""
    response = client.get("/playground")  # an admin-scope API key
    assert response.status_code == 403
