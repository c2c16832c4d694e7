"""Dashboard pages through Flask's test client: the Model Hub and Local tabs, their fragments,
the language switcher, and how states and numbers are shown."""

from __future__ import annotations

import json
import re

import pytest
from flask import render_template

from app.scheduler import refresh_hub_stats
from app.services.registry import models as registry
from app.services.fleet.reports import NodeReport
from tests.support.factories import CATALOG_FILE, CATALOG_REPO, GGUF_REPO, get, text
from tests.support.router_process import PROJECT_ROOT

CATALOG = json.loads((PROJECT_ROOT / "supported_models.json").read_text(encoding="utf-8"))
CATALOG_IDS = [entry["id"] for entry in CATALOG]
GGUF_MODEL_ID = "acme/tiny-chat-gguf:q4_k_m"


def card_ids(html: str) -> list[str]:
    return re.findall(r'<li class="card-cell" data-model-id="([^"]+)"', html)


def card(html: str, model_id: str) -> str:
    """The HTML of one Model Hub card (up to the next card)."""
    for segment in html.split('<li class="card-cell" data-model-id="')[1:]:
        if segment.startswith(f'{model_id}"'):
            return segment.split("</article>")[0]
    raise AssertionError(f"no card for {model_id}")


def row(html: str, model_id: str) -> str:
    """The HTML of one row of the Local table."""
    match = re.search(rf'<tr data-model-id="{re.escape(model_id)}">(.*?)</tr>', html, re.S)
    assert match, f"no row for {model_id}"
    return match.group(1)


def register(client, **body) -> dict:
    response = client.post("/v0/models/register", json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


# --- Model Hub ------------------------------------------------------------------------------------

def test_root_is_the_overview_and_links_to_the_model_hub(client):
    response = client.get("/")
    assert response.status_code == 200
    assert 'aria-current="page">Overview</a>' in response.get_data(as_text=True)
    assert '<li><a href="/models"' in response.get_data(as_text=True)


def test_model_hub_shows_every_catalog_entry_in_file_order(client):
    response = client.get("/models")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert card_ids(html) == CATALOG_IDS
    assert '<html lang="en">' in html
    assert 'href="/models" aria-current="page">Model Hub</a>' in html
    assert '<a class="tabs__tab" href="/models/local">Local</a>' in html
    for entry in CATALOG:
        assert f">{entry['name']}</h2>" in card(html, entry["id"])
    assert "12 models" in html


def test_card_shows_sizes_format_tags_status_and_register_button(client):
    first = card(client.get("/models").get_data(as_text=True), "qwen2.5-0.5b-instruct")
    words = text(first)
    assert "Qwen/Qwen2.5-0.5B-Instruct-GGUF" in words
    assert "Size 468.6 MiB" in words        # 491,400,032 bytes, binary units
    assert "VRAM 1.0 GiB" in words
    assert "Parameters 0.5B" in words
    assert "Quantization Q4_K_M" in words
    assert "GGUF qwen small multilingual" in words
    assert "Status: Available" in words
    assert 'data-action="register"' in first and 'data-action="delete"' not in first
    assert "Downloads on Hugging Face" not in first  # no statistics fetched yet


def test_card_shows_hugging_face_statistics_once_known(app, client):
    refresh_hub_stats(app)
    first = card(client.get("/models").get_data(as_text=True), "qwen2.5-0.5b-instruct")
    assert "Downloads on Hugging Face: 98,765" in text(first)
    assert "Likes on Hugging Face: 4,321" in text(first)
    assert "Size 4.0 KiB" in text(first)  # the Hub's real file size


def test_registered_models_show_their_status_and_a_delete_button(client):
    register(client, id="phi-4")
    register(client, repo=GGUF_REPO)
    html = client.get("/models").get_data(as_text=True)
    assert card_ids(html) == CATALOG_IDS + [GGUF_MODEL_ID]
    phi = card(html, "phi-4")
    assert "Status: Registered" in text(phi)
    assert 'data-action="delete"' in phi and 'data-action="register"' not in phi
    url_card = card(html, GGUF_MODEL_ID)
    assert "Tiny-Chat-GGUF Q4_K_M" in url_card
    assert "Status: Registered" in text(url_card)


@pytest.mark.parametrize("query, expected", [
    ("qwen", ["qwen2.5-0.5b-instruct", "qwen3-0.6b", "qwen2.5-7b-instruct"]),
    ("CODE", ["phi-3-mini-4k-instruct", "qwen2.5-7b-instruct"]),   # a tag
    ("phi-4", ["phi-4"]),                                          # an id
])
def test_search_filters_the_cards_on_the_server(client, query, expected):
    html = client.get("/models", query_string={"q": query}).get_data(as_text=True)
    assert card_ids(html) == expected
    assert f'name="q" type="search" value="{query}"' in html  # a reload keeps the query


def test_search_without_results_says_so(client):
    html = client.get("/models", query_string={"q": "no such model"}).get_data(as_text=True)
    assert card_ids(html) == []
    assert "No models match “no such model”." in html


def test_search_query_is_escaped(client):
    html = client.get("/models", query_string={"q": '<img src=x onerror="alert(1)">'}).get_data(as_text=True)
    assert "<img src=x" not in html
    assert "&lt;img src=x onerror=" in html


def test_hub_fragment_is_the_card_list_alone(client):
    response = client.get("/models/_hub", query_string={"q": "qwen"})
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    html = response.get_data(as_text=True)
    assert "<html" not in html and "<dialog" not in html
    assert card_ids(html) == ["qwen2.5-0.5b-instruct", "qwen3-0.6b", "qwen2.5-7b-instruct"]
    assert "3 models match “qwen”" in html
    # The page embeds the same partial.
    page = client.get("/models", query_string={"q": "qwen"}).get_data(as_text=True)
    assert html.strip() in page


def test_page_gives_the_poll_interval_and_translated_strings_to_the_script(app, client):
    app.config["UI_POLL_SECONDS"] = 7
    html = client.get("/models").get_data(as_text=True)
    assert 'data-fragment-url="/models/_hub"' in html
    assert 'data-poll-seconds="7"' in html
    strings = json.loads(re.search(r'<script type="application/json" id="ui-strings">(.*?)</script>', html,
                                   re.S).group(1))
    assert strings["registering"] == "Registering…"
    assert strings["registered"] == "Registered %(name)s"
    assert strings["networkError"] == "Network error: the router did not answer."


def test_page_has_landmarks_skip_link_and_dialogs(client):
    html = client.get("/models").get_data(as_text=True)
    assert '<a class="skip-link" href="#main">Skip to main content</a>' in html
    assert '<main id="main"' in html
    assert 'aria-live="polite"' in html
    assert '<label class="search__label" for="model-search">Search models</label>' in html
    assert '<dialog id="register-dialog"' in html and '<dialog id="delete-dialog"' in html
    assert '<label for="register-repo">Hugging Face repo or URL</label>' in html
    assert 'href="/static/css/app.css"' in html and 'src="/static/js/models.js"' in html
    assert re.findall(r'(?:src|href)="(?![/#])[^"]*"', html) == []  # nothing from another site (no CDN)


# --- Node states ----------------------------------------------------------------------------------
# Nodes do not exist yet, so these render the partials with the fleet state given explicitly
# (the service functions take it as an argument; the views pass what nodes reported).

def render_hub(app, states) -> str:
    with app.test_request_context("/models"):
        return render_template("dashboard/_hub_list.html", entries=registry.hub_entries(reports=states), query="")


def render_local(app, states) -> str:
    with app.test_request_context("/models/local"):
        return render_template("dashboard/_local_list.html", records=registry.model_records(reports=states))


def test_downloading_model_shows_progress_on_its_card_and_per_node(app, client):
    register(client, id="phi-4")
    states = {"phi-4": [
        NodeReport("n1", "gpu-box", True, "phi-4", "downloading", 512 * 1024 ** 2, 2 * 1024 ** 3),
        NodeReport("n2", "laptop", False, "phi-4", "pending", 0, 2 * 1024 ** 3),
    ]}
    phi = card(render_hub(app, states), "phi-4")
    assert "Status: Downloading" in text(phi)
    assert '<progress max="4294967296" value="536870912"' in phi
    assert "512.0 MiB of 4.0 GiB on 2 nodes (12.5%)" in text(phi)  # summed over both nodes, and says so
    local = row(render_local(app, states), "phi-4")
    assert "gpu-box Downloading" in text(local)
    assert '<a class="node__name" href="/nodes/n1"' in local  # each node links to its page
    assert "512.0 MiB of 2.0 GiB (25.0%)" in text(local)
    assert "laptop Waiting to download · offline" in text(local)
    assert "No node has this model yet" not in local


def test_ready_and_failed_models_show_their_states(app, client):
    register(client, id="phi-4")
    phi = card(render_hub(app, {"phi-4": [NodeReport("n1", "gpu-box", True, "phi-4", "ready")]}), "phi-4")
    assert 'badge--ready' in phi and '<path d="m4.5 10.5' in phi and "Ready" in phi  # the check mark icon
    html = render_hub(app, {"phi-4": [NodeReport("n1", "gpu-box", True, "phi-4", "error", error="disk full")]})
    assert "Status: Error" in text(card(html, "phi-4"))
    assert "gpu-box: disk full" in card(html, "phi-4")


# --- Local tab ------------------------------------------------------------------------------------

def test_local_tab_without_models_shows_the_empty_state(client):
    html = client.get("/models/local").get_data(as_text=True)
    assert 'href="/models/local" aria-current="page">Local</a>' in html
    assert "No models registered yet" in html
    assert '<a class="button button--secondary" href="/models">Browse the Model Hub</a>' in html
    assert "<table" not in html


def test_local_tab_lists_registered_models(client):
    register(client, id="qwen3-0.6b")
    register(client, repo=GGUF_REPO)
    html = client.get("/models/local").get_data(as_text=True)
    assert "No models registered yet" not in html
    qwen = text(row(html, "qwen3-0.6b"))
    assert "Qwen3 0.6B qwen3-0.6b" in qwen
    assert "bartowski/Qwen_Qwen3-0.6B-GGUF Qwen_Qwen3-0.6B-Q4_K_M.gguf" in qwen
    assert "1.0 GiB" in qwen
    assert "Status: Registered" in qwen
    assert "No node has this model yet" in qwen
    gguf = row(html, GGUF_MODEL_ID)
    assert "Tiny-Chat-GGUF Q4_K_M" in gguf and "tiny-chat.Q4_K_M.gguf" in gguf
    assert 'data-action="delete"' in gguf


def test_local_fragment_is_the_table_alone(client):
    register(client, id="qwen3-0.6b")
    response = client.get("/models/_local")
    assert response.headers["Cache-Control"] == "no-store"
    html = response.get_data(as_text=True)
    assert "<html" not in html and '<tr data-model-id="qwen3-0.6b">' in html


def test_user_given_names_are_shown_as_typed(client):
    # A display name for the catalog's own file: stored with the catalog id, named by the user.
    register(client, repo=CATALOG_REPO, filename=CATALOG_FILE, display_name="100% <b>mine</b>")
    register(client, repo=GGUF_REPO, display_name="Models")  # also an English UI string
    html = get(client, "/models/local", "ja")
    assert "100% &lt;b&gt;mine&lt;/b&gt;" in row(html, "qwen2.5-0.5b-instruct")
    assert ">Models</span>" in row(html, GGUF_MODEL_ID)  # not translated to モデル
    hub = get(client, "/models", "ja")
    assert ">Models</h2>" in card(hub, GGUF_MODEL_ID)


# --- Languages ------------------------------------------------------------------------------------

@pytest.mark.parametrize("accept_language, cookie", [("ja", None), (None, "ja"), ("en", "ja"), ("fr, ja;q=0.8", None)])
def test_japanese_pages(client, accept_language, cookie):
    headers = {"Accept-Language": accept_language} if accept_language else {}
    html = get(client, "/models", cookie, headers=headers)
    assert '<html lang="ja">' in html
    assert ">モデルハブ</a>" in html
    assert "モデルを検索" in html
    assert "本文へスキップ" in html
    first = text(card(html, "qwen2.5-0.5b-instruct"))
    assert "Alibaba の Qwen2.5 で最も小さいチャットモデル" in first  # catalog descriptions are translated
    assert "状態: 未登録" in first
    assert "サイズ 468.6 MiB" in first
    assert "モデル 12 件" in html
    assert "all-MiniLM-L6-v2（埋め込み）" in html
    strings = json.loads(re.search(r'id="ui-strings">(.*?)</script>', html, re.S).group(1))
    assert strings["registering"] == "登録中…"
    assert strings["registered"] == "%(name)s を登録しました"


def test_cookie_wins_over_accept_language(client):
    html = get(client, "/models", "en", headers={"Accept-Language": "ja"})
    assert '<html lang="en">' in html and ">Model Hub</a>" in html


def test_japanese_local_tab_and_fragment(client):
    assert "登録済みのモデルはまだありません" in get(client, "/models/local", "ja")
    register(client, id="qwen3-0.6b")
    html = get(client, "/models/_local", "ja")
    assert "このモデルを持つノードはまだありません" in html and "状態: 登録済み" in text(html)


def test_language_switcher_links_back_to_the_same_page(client):
    html = client.get("/models", query_string={"q": "qwen"}).get_data(as_text=True)
    assert '<a href="/lang/ja?next=/models?q%3Dqwen" lang="ja"' in html
    assert 'hreflang="en" aria-current="true">English</a>' in html


def test_switching_language_sets_the_cookie_and_goes_back(client):
    response = client.get("/lang/ja", query_string={"next": "/models/local"})
    assert response.status_code == 302
    assert response.headers["Location"] == "/models/local"
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("lang=ja;")
    assert "Max-Age=31536000" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
    assert "HttpOnly" not in cookie
    assert '<html lang="ja">' in client.get("/models/local").get_data(as_text=True)
    client.get("/lang/en", query_string={"next": "/models?q=phi"})
    assert '<html lang="en">' in client.get("/models").get_data(as_text=True)


def test_switching_language_keeps_the_query_of_next(client):
    response = client.get("/lang/en", query_string={"next": "/models?q=phi"})
    assert response.headers["Location"] == "/models?q=phi"


@pytest.mark.parametrize("target", ["//evil.example", "https://evil.example", "http://evil.example/models",
                                    "/\\evil.example", "\\\\evil.example", "/\t/evil.example", "models",
                                    "javascript:alert(1)", ""])
def test_switching_language_never_redirects_off_site(client, target):
    response = client.get("/lang/ja", query_string={"next": target})
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    assert response.headers["Set-Cookie"].startswith("lang=ja;")


def test_switching_language_without_next_goes_home(client):
    assert client.get("/lang/en").headers["Location"] == "/"


def test_unknown_language_is_404(client):
    response = client.get("/lang/fr", query_string={"next": "/models"})
    assert response.status_code == 404
    assert "Set-Cookie" not in response.headers


def test_local_tab_offers_cancel_while_downloading_and_retry_once_cancelled(app, client):
    register(client, id="phi-4")
    downloading = {"phi-4": [NodeReport("n1", "gpu-box", True, "phi-4", "downloading", 1, 2)]}
    phi = row(render_local_as_admin(app, downloading), "phi-4")
    assert 'data-action="cancel"' in phi and 'data-action="retry"' not in phi
    assert client.post("/v0/models/phi-4/cancel").status_code == 200
    phi = row(render_local_as_admin(app, {}), "phi-4")
    assert 'data-action="retry"' in phi and 'data-action="cancel"' not in phi
    assert "Download cancelled by an admin" in phi


def render_local_as_admin(app, states) -> str:
    """The Local partial as an admin sees it (the access check sets who is asking)."""
    from app.access import Principal

    with app.test_request_context("/models/local"):
        from flask import g

        g.principal = Principal("api_key", scopes=frozenset({"admin"}))  # as with an admin key
        return render_template("dashboard/_local_list.html", records=registry.model_records(reports=states))
