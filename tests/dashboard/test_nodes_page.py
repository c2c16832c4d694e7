"""The Nodes page through Flask's test client: what a node's registration and latest poll look
like there, its fragment, and removing a node."""

from __future__ import annotations

import re

from app.extensions import db
from app.database import Node
from app.services.fleet import nodes, polling
from app.services.accounts import users
from tests.support.factories import NODE, STATUS, get, login_session, text


def node_row(html: str, name: str) -> str:
    match = re.search(rf'<tr data-node-id="[0-9a-f]+" data-node-name="{re.escape(name)}"[^>]*>(.*?)</tr>', html, re.S)
    assert match, f"no row for node {name}"
    return match.group(0)


def add_node(app, status: dict | None = None, failed_polls: int = 0, **overrides) -> str:
    with app.app_context():
        node = nodes.register_node({**NODE, **overrides})[0]
        if status is not None:
            polling.apply_status(node, status)
        for _ in range(failed_polls):
            polling.record_failed_poll(node, "ConnectionError reaching http://127.0.0.1:9")
        db.session.commit()
        return node.id


def test_without_nodes_the_page_says_how_to_start_one(client):
    html = get(client, "/nodes")
    assert 'aria-current="page">Nodes</a>' in html
    assert "No nodes yet" in text(html)
    assert re.search(r"asks each for its state every [\d.]+ seconds? and marks it offline after 3 failed polls",
                     text(html))
    assert "python -m node_agent --router-url http://localhost" in html


def test_an_online_node_shows_its_hardware_figures_and_models(app, client):
    add_node(app, STATUS)
    row = text(node_row(get(client, "/nodes"), "gpu-box"))
    for expected in ("gpu-box", "http://127.0.0.1:9", "Agent 0.1.1", "Online", "linux-cuda", "16 CPUs",
                     "64.0 GiB memory", "GPU NVIDIA L4, 24.0 GiB", "Engines: ctranslate2, llama_cpp",
                     "CPU 12.5%", "Memory 16.0 GiB of 64.0 GiB", "GPU 87.0%, 6.0 GiB of 24.0 GiB",
                     "2 requests in flight", "2 ready", "1 downloading", "1 failed"):
        assert expected in row, (expected, row)
    assert "UTC" in row  # last seen
    assert "1 node · 1 online" in text(get(client, "/nodes"))


def test_an_offline_node_shows_why_and_no_stale_figures(app, client):
    add_node(app, STATUS, failed_polls=polling.OFFLINE_AFTER_FAILED_POLLS, name="laptop")
    add_node(app, None, name="new-box", gpus=[], platform="linux-cpu")
    html = get(client, "/nodes")
    laptop = node_row(html, "laptop")
    assert 'data-online="false"' in laptop and "Offline" in text(laptop)
    assert "ConnectionError reaching http://127.0.0.1:9" in text(laptop)
    assert "No figures while offline" in text(laptop) and "CPU 12.5%" not in text(laptop)
    assert "2 ready" in text(laptop) and "As last reported; not served while offline" in text(laptop)
    new_box = text(node_row(html, "new-box"))
    assert "No GPU" in new_box and "No figures yet" in new_box
    assert "2 nodes · 1 online" in text(html)


def test_a_node_that_missed_a_poll_is_still_online_and_says_so(app, client):
    add_node(app, STATUS, failed_polls=1)
    row = text(node_row(get(client, "/nodes"), "gpu-box"))
    assert "Online" in row and "1 failed poll" in row and "ConnectionError" in row


def test_the_fragment_is_the_table_alone_and_never_cached(app, client):
    add_node(app, STATUS)
    response = client.get("/nodes/_list")
    html = response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "no-store"
    assert "<html" not in html and 'id="nodes-table"' in html and "gpu-box" in html


def test_in_japanese(app, client):
    add_node(app, STATUS, failed_polls=polling.OFFLINE_AFTER_FAILED_POLLS)
    page = text(get(client, "/nodes", lang="ja"))
    assert "ノード" in page and "オフライン" in page and "CPU 16 個" in page and "準備完了 2 件" in page


def test_a_node_never_seen_and_its_registration_date_read_right_in_japanese(app, client):
    node_id = add_node(app)
    with app.app_context():
        db.session.get(Node, node_id).last_seen_at = None
        db.session.commit()
    row = text(node_row(get(client, "/nodes", lang="ja"), NODE["name"]))
    page = text(get(client, f"/nodes/{node_id}", lang="ja"))
    for shown in (row, page):
        assert "未応答" in shown and "未使用" not in shown  # "Not yet" under "Last seen", not a key's "unused"
    assert "登録日時" in page and "登録済み" not in page  # a date, not the model state "Registered"


def test_an_admin_removes_a_node(app, client):
    node_id = add_node(app, STATUS)
    html = get(client, "/nodes")
    assert f'data-remove-node="/nodes/{node_id}/remove"' in html and 'id="remove-node-dialog"' in html
    response = client.post(f"/nodes/{node_id}/remove")
    assert response.status_code == 302 and response.headers["Location"] == "/nodes"
    page = text(client.get("/nodes").get_data(as_text=True))
    assert "Removed the node gpu-box." in page and "No nodes yet" in page
    assert client.get(f"/v0/nodes/{node_id}").status_code == 404


def test_removing_a_node_already_gone_says_so(client):
    response = client.post("/nodes/0123456789abcdef/remove", follow_redirects=True)
    assert response.status_code == 200
    assert "There is no node with id 0123456789abcdef: it was removed" in text(response.get_data(as_text=True))


def test_a_viewer_sees_the_nodes_but_cannot_remove_them(app, anonymous_client):
    node_id = add_node(app, STATUS)
    with app.app_context():
        users.create_user("vera", "viewer password", "viewer")
    token = login_session(anonymous_client, "vera", "viewer password")
    html = anonymous_client.get("/nodes").get_data(as_text=True)
    assert "gpu-box" in html and "data-remove-node" not in html and "remove-node-dialog" not in html
    refused = anonymous_client.post(f"/nodes/{node_id}/remove", headers={"X-CSRFToken": token})
    assert refused.status_code == 403
    with app.app_context():
        assert [node.id for node in nodes.all_nodes()] == [node_id]


# --- A node's own page ----------------------------------------------------------------------------

def test_the_list_links_each_node_to_its_page(app, client):
    node_id = add_node(app, STATUS)
    assert f'href="/nodes/{node_id}"' in node_row(get(client, "/nodes"), "gpu-box")


def test_a_node_page_shows_state_hardware_figures_and_models(app, client):
    node_id = add_node(app, {**STATUS, "loaded_models": ["a"]})
    html = get(client, f"/nodes/{node_id}")
    page = text(html)
    for expected in ("All nodes", "gpu-box", "http://127.0.0.1:9", "Online", "Agent version 0.1.1", "16 CPUs",
                     "GPU NVIDIA L4, 24.0 GiB", "CPU 12.5%", "GPU 87.0%, 6.0 GiB of 24.0 GiB", "2 requests in flight",
                     "Models on this node", "History", "Last 7 days", "Show the figures as a table"):
        assert expected in page, expected
    models = re.search(r'<table class="data-table" id="node-models-table">(.*?)</table>', html, re.S).group(1)
    assert re.findall(r'<tr data-model-id="([^"]+)"', models) == ["a", "b", "c", "d"]
    assert "Ready Loaded" in text(re.search(r'<tr data-model-id="a">(.*?)</tr>', models, re.S).group(1))
    assert "Ready Not loaded" in text(re.search(r'<tr data-model-id="b">(.*?)</tr>', models, re.S).group(1))
    downloading = re.search(r'<tr data-model-id="c">(.*?)</tr>', models, re.S).group(1)
    assert '<progress max="4" value="1"' in downloading and "(25.0%)" in text(downloading)
    assert "disk full" in text(re.search(r'<tr data-model-id="d">(.*?)</tr>', models, re.S).group(1))
    assert f'data-history-url="/v0/nodes/{node_id}/history"' in html


def test_an_offline_node_page_says_its_models_are_not_served(app, client):
    node_id = add_node(app, {**STATUS, "loaded_models": ["a"]}, failed_polls=polling.OFFLINE_AFTER_FAILED_POLLS)
    html = get(client, f"/nodes/{node_id}")
    assert 'data-online="false"' in html and "No figures while offline" in text(html)
    row = text(re.search(r'<tr data-model-id="a">(.*?)</tr>', html, re.S).group(1))
    assert "Ready · offline" in row and "Not loaded" in row


def test_the_node_fragment_and_an_unknown_node(app, client):
    node_id = add_node(app, STATUS)
    fragment = client.get(f"/nodes/{node_id}/_summary")
    assert fragment.headers["Cache-Control"] == "no-store"
    assert "<html" not in fragment.get_data(as_text=True) and "Models on this node" in fragment.get_data(as_text=True)
    missing = client.get("/nodes/0123456789abcdef")
    assert missing.status_code == 404
    assert "There is no node with id 0123456789abcdef: it was removed, or the link is wrong." in text(missing.get_data(as_text=True))


def test_a_node_page_in_japanese(app, client):
    node_id = add_node(app, STATUS)
    page = text(get(client, f"/nodes/{node_id}", lang="ja"))
    assert "このノードのモデル" in page and "過去 7 日間" in page and "使用率（パーセント）" in page
