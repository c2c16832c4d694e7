"""The Logs page through Flask's test client: its tabs (the router and one per node), the query
controls the script drives, who may open it, a link to a removed node, and a node page's recent logs."""

from __future__ import annotations

import json
import re
from html import unescape

from app.extensions import db
from app.services.accounts import users
from app.services.fleet import nodes, polling
from tests.support.factories import NODE, STATUS, get, login_session, text


def add_node(app, name: str, online: bool = True) -> str:
    with app.app_context():
        node = nodes.register_node({**NODE, "name": name, "url": f"http://127.0.0.1:9/{name}"})[0]
        if online:
            polling.apply_status(node, STATUS)
        else:
            for _ in range(polling.OFFLINE_AFTER_FAILED_POLLS):
                polling.record_failed_poll(node, "ConnectionError reaching http://127.0.0.1:9")
        db.session.commit()
        return node.id


def tabs(html: str) -> list[tuple[str, str, bool]]:
    """(source, visible text, current) of each tab, in order."""
    nav = re.search(r'<nav class="tabs logs-tabs"[^>]*>(.*?)</nav>', html, re.S)
    assert nav, "no source tabs"
    return [(source, text(label), "aria-current" in attributes)
            for source, attributes, label in re.findall(r'<a class="tabs__tab"[^>]*data-source="([^"]+)"([^>]*)>(.*?)</a>',
                                                        nav.group(1), re.S)]


def ui_strings(html: str) -> dict:
    match = re.search(r'<script type="application/json" id="ui-strings">(.*?)</script>', html, re.S)
    assert match, "no ui-strings"
    return json.loads(match.group(1))


def test_the_page_has_a_router_tab_and_one_tab_per_node(app, client):
    first = add_node(app, "alpha")
    second = add_node(app, "beta", online=False)
    html = get(client, "/logs")
    assert tabs(html) == [("router", "Router", True), (first, "alpha", False), (second, "beta (offline)", False)]
    assert f'href="/logs?source={first}"' in html
    assert 'aria-current="page">Logs</a>' in html  # the main navigation's item
    assert 'data-source="router"' in re.search(r'<div class="logs" id="logs"[^>]*>', html).group(0)


def test_a_node_tab_is_chosen_by_the_source_parameter(app, client):
    node_id = add_node(app, "alpha")
    html = get(client, f"/logs?source={node_id}")
    assert tabs(html)[1] == (node_id, "alpha", True) and not tabs(html)[0][2]
    root = re.search(r'<div class="logs" id="logs"[^>]*>', html).group(0)
    assert f'data-source="{node_id}"' in root and 'data-api-base="/v0"' in root


def test_the_controls_the_script_drives_are_labelled(client):
    html = get(client, "/logs")
    for control in ("log-level", "log-range", "log-since", "log-until", "filter-name", "saved-filter"):
        assert re.search(rf'<label for="{control}">', html), control
    assert [value for value in re.findall(r'<option value="(\w+)"', re.search(
        r'<select id="log-level".*?</select>', html, re.S).group(0))] == ["debug", "info", "warning", "error"]
    assert re.search(r'<option value="info"[^>]*selected', html)
    assert 'name="match" value="all" checked' in html and 'name="match" value="any"' in html
    assert 'id="follow" aria-pressed="false"' in html
    assert "Checks for new lines every 10 seconds" in text(html)
    strings = ui_strings(html)
    assert strings["levels"] == {"debug": "Debug", "info": "Info", "warning": "Warning", "error": "Error"}
    assert strings["condition"] == "Condition %(num)s"


def test_request_ids_link_to_the_request_page(app, client):
    root = re.search(r'<div class="logs" id="logs"[^>]*>', get(client, "/logs")).group(0)
    link = unescape(re.search(r'data-request-link="([^"]+)"', root).group(1))
    assert link == "/requests/__ID__"


def test_a_removed_nodes_link_says_so_and_shows_the_router(client):
    response = client.get("/logs?source=0123456789abcdef")
    html = response.get_data(as_text=True)
    assert response.status_code == 404
    assert "There is no node with id 0123456789abcdef" in text(html)
    assert tabs(html)[0] == ("router", "Router", True)


def test_viewers_may_read_logs_and_anonymous_callers_sign_in_first(app, anonymous_client):
    response = anonymous_client.get("/logs")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    with app.app_context():
        users.create_user("viewer", "viewer password", "viewer")
    login_session(anonymous_client, "viewer", "viewer password")
    assert "Saved filters" in text(get(anonymous_client, "/logs"))


def test_the_page_speaks_japanese(client):
    html = get(client, "/logs", lang="ja")
    assert '<html lang="ja">' in html


def test_a_nodes_page_shows_its_recent_logs_with_a_link_to_all(app, client):
    node_id = add_node(app, "alpha")
    html = get(client, f"/nodes/{node_id}")
    section = re.search(r'<section class="panel node-logs" id="node-logs"(.*?)</section>', html, re.S)
    assert section, "no recent logs on the node's page"
    assert f'data-node-id="{node_id}"' in section.group(1)
    assert f'href="/logs?source={node_id}"' in section.group(1)
    assert "Recent logs" in text(section.group(1))
    strings = json.loads(unescape(re.search(r"data-strings='([^']+)'", section.group(1)).group(1)))
    assert strings["levels"]["info"] == "Info"
    assert "js/logs/node_recent.js" in html
