"""The History page (/requests) and a request's page (/requests/<id>) through Flask's test client.

Rows come from real `/v1` requests to the in-process router (a node imitation answers; a 404 and a 400
are refused by the router itself), and from `add_request_record` for what a real request cannot easily
give: many rows, a failover, a stream cut short, a long body."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import timedelta

import pytest

from app.database import utcnow
from app.services.accounts import users
from app.services.registry import models as registry
from tests.support.factories import add_request_record, get, login_session, text
from tests.support.inference import MODEL, add_node
from tests.support.node_imitation import NodeImitation

CHAT = {"model": MODEL, "messages": [{"role": "user", "content": "東京の天気は？"}], "max_tokens": 4}


@pytest.fixture
def node() -> Iterator[NodeImitation]:
    imitation = NodeImitation((MODEL,), name="gpu-box").start()
    yield imitation
    imitation.stop()


@pytest.fixture
def sent(app, client, node) -> dict[str, str]:
    """Three real requests, oldest first: answered (200), an unknown model (404), a body without messages (400)."""
    with app.app_context():
        registry.register({"id": MODEL})
    add_node(app, node)
    ids = {}
    bodies = {"answered": CHAT, "unknown": {**CHAT, "model": "no-such-model"}, "invalid": {"model": MODEL}}
    for name, body in bodies.items():
        response = client.post("/v1/chat/completions", json=body)
        assert response.status_code == {"answered": 200, "unknown": 404, "invalid": 400}[name]
        ids[name] = response.headers["X-Request-Id"]
    assert app.extensions["history"].flush(), "the history writer did not catch up"
    return ids


def row_ids(html: str) -> list[str]:
    return re.findall(r'<tr data-request-id="([0-9a-f]+)"', html)


def field_error(html: str, name: str) -> str:
    match = re.search(rf'<p class="field__error" id="filter-{name}-error">([^<]*)</p>', html)
    assert match, f"no error on the {name} field"
    return match.group(1)


# --- The list --------------------------------------------------------------------------------------

def test_without_requests_the_page_says_so(client):
    html = get(client, "/requests")
    assert 'aria-current="page">History</a>' in html
    assert "No requests yet" in text(html) and "Requests are kept for 7 days" in text(html)
    assert row_ids(html) == []


def test_rows_are_newest_first_and_link_to_their_record(client, sent):
    html = get(client, "/requests")
    assert row_ids(html) == [sent["invalid"], sent["unknown"], sent["answered"]]
    for request_id in sent.values():
        assert f'href="/requests/{request_id}"' in html
    answered = text(re.search(rf'<tr data-request-id="{sent["answered"]}".*?</tr>', html, re.S).group(0))
    for shown in ("/v1/chat/completions", MODEL, "gpu-box", "admin key", "200", " ms", "UTC"):
        assert shown in answered, (shown, answered)
    refused = text(re.search(rf'<tr data-request-id="{sent["unknown"]}".*?</tr>', html, re.S).group(0))
    assert "404" in refused and "model_not_found" in refused and "no-such-model" in refused
    # The first page polls the API with its filters for newer rows.
    assert 'data-poll-url="/v0/requests?limit=200"' in html and f'data-newest-id="{sent["invalid"]}"' in html


def test_filters_return_the_rows_asked_for_and_stay_in_the_form(client, sent):
    assert row_ids(get(client, "/requests?status=4xx")) == [sent["invalid"], sent["unknown"]]
    assert row_ids(get(client, "/requests?status=2xx")) == [sent["answered"]]
    assert row_ids(get(client, "/requests?status=4xx&code=404")) == [sent["unknown"]]  # the code wins
    assert row_ids(get(client, "/requests?status=404")) == [sent["unknown"]]  # the API's spelling works too
    assert row_ids(get(client, "/requests?node=gpu-box")) == [sent["answered"]]
    assert row_ids(get(client, "/requests?model=no-such-model")) == [sent["unknown"]]
    assert row_ids(get(client, "/requests?endpoint=/v1/embeddings")) == []
    assert row_ids(get(client, f"/requests?request_id={sent['answered']}")) == [sent["answered"]]
    assert row_ids(get(client, "/requests?api_key=admin+key&status=error")) == [sent["invalid"], sent["unknown"]]
    assert row_ids(get(client, "/requests?q=" + "tok0")) == [sent["answered"]]  # the answer is searched
    html = get(client, "/requests?q=東京の天気&code=404")
    assert row_ids(html) == [sent["unknown"]]
    assert 'name="q" value="東京の天気"' in html and 'name="code" value="404"' in html
    assert "/v0/requests?q=" in html and "status=404" in html  # the poll asks for the same rows


def test_no_match_says_the_filters_are_why_and_offers_to_clear_them(client, sent):
    html = get(client, "/requests?model=nothing-like-this")
    assert "No requests match these filters" in text(html) and "No requests yet" not in text(html)
    assert 'id="clear-filters" href="/requests"' in html or 'href="/requests" id="clear-filters"' in html


@pytest.mark.parametrize("query, field, message", [
    ("since=yesterday", "since", "'since' must be a time in ISO 8601"),
    ("until=2026-13-45", "until", "'until' must be a time in ISO 8601"),
    ("code=teapot", "code", "'status' must be an HTTP status such as 503"),
    ("status=teapot", "code", "'status' must be an HTTP status such as 503"),
])
def test_a_bad_filter_is_shown_on_its_field_with_the_apis_message(client, query, field, message):
    response = client.get(f"/requests?{query}")
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert field_error(html, field).replace("&#39;", "'").startswith(message)
    assert re.search(rf'id="filter-{field}"[^>]*aria-invalid="true"[^>]*aria-describedby="[^"]*filter-{field}-error',
                     html)
    assert "data-poll-url" not in html and "No requests yet" not in text(html)
    assert "No requests are shown until the filters are corrected." in text(html)


def test_a_bad_cursor_is_a_message_for_the_whole_form(client):
    response = client.get("/requests?cursor=not-a-cursor")
    assert response.status_code == 400
    assert "&#39;cursor&#39; must be a next_cursor from an earlier page." in response.get_data(as_text=True)


def test_older_pages_follow_the_cursor_and_keep_the_filters(app, client):
    with app.app_context():
        start = utcnow() - timedelta(hours=1)
        ids = [add_request_record(at=start + timedelta(seconds=i), model="m", status=200) for i in range(55)]
        add_request_record(model="other")
    first = get(client, "/requests?model=m")
    assert row_ids(first) == list(reversed(ids))[:50]
    older = re.search(r'href="(/requests\?[^"]+)" id="older-page"', first).group(1).replace("&amp;", "&")
    assert "cursor=" in older and "model=m" in older
    second = get(client, older)
    assert row_ids(second) == list(reversed(ids))[50:]
    assert 'id="older-page"' not in second and 'href="/requests?model=m" id="newest-page"' in second
    assert "data-poll-url" not in second  # only the first page looks for newer rows


# --- One request -----------------------------------------------------------------------------------

def test_an_unknown_request_is_a_404_page_that_says_why(client):
    response = client.get("/requests/0123456789abcdef0123456789abcdef")
    assert response.status_code == 404
    assert "There is no recorded request with id 0123456789abcdef0123456789abcdef" in \
        text(response.get_data(as_text=True))


def test_an_answered_request_shows_its_facts_and_bodies_pretty_printed(client, sent):
    html = get(client, f"/requests/{sent['answered']}")
    assert 'aria-current="page">History</a>' in html
    facts = text(re.search(r'<dl class="facts request-facts".*?</dl>', html, re.S).group(0))
    for shown in (sent["answered"], "/v1/chat/completions", MODEL, "gpu-box", "admin key", "200", "Input tokens 3",
                  "Output tokens 5"):
        assert shown in facts, (shown, facts)
    request_body = re.search(r'<pre class="code-block__pre" id="request-body"[^>]*>(.*?)</pre>', html, re.S).group(1)
    assert json.loads(request_body.replace("&#34;", '"')) == CHAT
    assert '\n  &#34;messages&#34;: [' in request_body  # indented
    assert "東京の天気は？" in request_body  # Japanese as written, not \u-escaped
    assert "tok0 tok1" in html and 'id="request-error"' not in html


def test_a_refused_request_shows_its_error_simple_and_detailed(client, sent):
    html = get(client, f"/requests/{sent['unknown']}")
    simple = text(re.search(r'id="error-simple">(.*?)</div>', html, re.S).group(1))
    assert "model_not_found" in simple and "does not exist on this router" in simple
    detailed = re.search(r'id="error-detailed">(.*?)</dl>', html, re.S).group(1)
    assert "&#34;code&#34;: &#34;model_not_found&#34;" in detailed and "The model &#39;no-such-model&#39;" in detailed
    assert "None: the router answered without sending the request to a node." in text(detailed)
    assert 'id="error-view-simple" value="simple" checked' in html
    # An invalid body gets the plain sentence for a client's mistake; the router's words stay in the detail.
    invalid = get(client, f"/requests/{sent['invalid']}")
    assert "The request was not valid" in text(re.search(r'id="error-simple">(.*?)</div>', invalid, re.S).group(1))


def test_a_failover_lists_the_nodes_tried(app, client):
    envelope = {"error": {"message": "No node answered the request for 'm' in time.", "type": "server_error",
                          "param": None, "code": "node_timeout"}}
    with app.app_context():
        request_id = add_request_record(model="m", node=None, failed_nodes=["a", "b"], status=504,
                                        error_code="node_timeout", queue_ms=7.0, duration_ms=3004.0,
                                        response_body=json.dumps(envelope))
        answered = add_request_record(model="m", node="c", failed_nodes=["a"], status=200, response_body="{}")
    html = get(client, f"/requests/{request_id}")
    assert "The node did not answer in time." in text(html)
    attempts = text(re.search(r'<ol class="request-attempts".*?</ol>', html, re.S).group(0))
    assert attempts == "a: failed; the router tried another node b: failed; the router tried another node"
    assert "3,004 ms" in text(html) and "7 ms" in text(html)
    listed = text(re.search(rf'<tr data-request-id="{answered}".*?</tr>', get(client, "/requests"), re.S).group(0))
    assert "c Failed over from: a" in listed


def test_a_stream_shows_its_assembled_text_and_a_cut_one_its_error(app, client):
    summary = {"text": "Hello <b>there</b>", "finish_reason": "stop",
               "usage": {"prompt_tokens": 4, "completion_tokens": 2, "total_tokens": 6}}
    cut = {"text": "Hel", "error": {"message": "The node stopped answering.", "type": "server_error", "param": None,
                                    "code": "stream_interrupted"}}
    with app.app_context():
        whole = add_request_record(stream=True, status=200, response_body=json.dumps(summary), truncated=True,
                                   request_body='{"stream": true, "note": "</pre><script>alert(1)</script>"}')
        broken = add_request_record(stream=True, status=200, response_body=json.dumps(cut))
    html = get(client, f"/requests/{whole}")
    assert '<p class="stream-answer__text" id="stream-text">Hello &lt;b&gt;there&lt;/b&gt;</p>' in html
    assert '<code id="stream-finish">stop</code>' in html
    assert "Cut: the history keeps at most 256.0 KiB of each body" in text(html)
    assert "<script>alert(1)" not in html and "&lt;/pre&gt;&lt;script&gt;" in html
    assert 'id="request-error"' not in html
    failed = get(client, f"/requests/{broken}")
    assert "stream_interrupted" in failed and "The answer stopped partway through" in text(failed)


def test_a_viewer_reads_the_history(app, anonymous_client, sent):
    with app.app_context():
        users.create_user("vera", "viewer password", "viewer")
    login_session(anonymous_client, "vera", "viewer password")
    assert row_ids(get(anonymous_client, "/requests")) == [sent["invalid"], sent["unknown"], sent["answered"]]
    assert anonymous_client.get(f"/requests/{sent['unknown']}").status_code == 200
