"""Every `/v1` request lands in the request history (`GET /v0/requests`), with the id the client got back
in `X-Request-Id`; an in-process router in front of node imitations (tests/support/node_imitation.py)."""

from __future__ import annotations

import json
from datetime import timedelta

from app.database import RequestBody, RequestRecord, utcnow
from app.extensions import db
from app.services.observability import history
from tests.support.factories import make_api_key
from tests.support.inference import MODEL, add_node

CHAT = {"model": MODEL, "messages": [{"role": "user", "content": "東京の天気は？"}], "max_tokens": 4}


def admin_get(app, path: str, **params):
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {make_api_key(app, ['admin'], name='reader')}"
    return client.get(path, query_string=params)


def recorded(app, **params) -> list[dict]:
    assert app.extensions["history"].flush(), "the history writer did not catch up"
    response = admin_get(app, "/v0/requests", **params)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["requests"]


def test_a_chat_answer_is_recorded_with_its_node_key_tokens_and_bodies(api_client, imitations):
    app, client = api_client()
    add_node(app, imitations("gpu-box"))
    answer = client.post("/v1/chat/completions", json=CHAT, headers={"X-Request-Id": "client-42"})
    assert answer.status_code == 200
    request_id = answer.headers["X-Request-Id"]
    (row,) = recorded(app)
    assert row["id"] == request_id and row["client_request_id"] == "client-42"
    assert (row["endpoint"], row["model"], row["node"], row["status"], row["stream"]) == \
        ("/v1/chat/completions", MODEL, "gpu-box", 200, False)
    assert row["api_key"]["name"] == "test key" and row["error_code"] is None
    usage = answer.get_json()["usage"]
    assert (row["prompt_tokens"], row["completion_tokens"]) == (usage["prompt_tokens"], usage["completion_tokens"])
    assert row["duration_ms"] > 0
    detail = admin_get(app, f"/v0/requests/{request_id}").get_json()
    assert detail["request_body"] == CHAT
    assert detail["response_body"] == answer.get_json()
    assert detail["truncated"] is False


def test_a_stream_is_recorded_when_it_ends_with_the_text_it_relayed(api_client, imitations):
    app, client = api_client()
    add_node(app, imitations())
    answer = client.post("/v1/chat/completions", json={**CHAT, "stream": True})
    relayed = answer.get_data(as_text=True)
    answer.close()
    text = "".join(json.loads(line[6:])["choices"][0]["delta"].get("content", "")
                   for line in relayed.splitlines() if line.startswith("data: {") and '"choices": [{' in line)
    (row,) = recorded(app)
    assert row["stream"] is True and row["status"] == 200 and row["ttft_ms"] is not None
    assert row["duration_ms"] >= row["ttft_ms"]
    body = admin_get(app, f"/v0/requests/{row['id']}").get_json()["response_body"]
    assert text and body["text"] == text and body["finish_reason"] == "length"


def test_refused_and_failed_requests_are_recorded_with_their_codes(api_client, imitations):
    app, client = api_client()
    add_node(app, imitations())
    answers = [client.post("/v1/chat/completions", json={"model": MODEL}),
               client.post("/v1/chat/completions", json={**CHAT, "model": "no-such-model"}),
               app.test_client().post("/v1/chat/completions", json=CHAT)]  # no credentials
    assert [answer.status_code for answer in answers] == [400, 404, 401]
    rows = recorded(app)
    assert [(row["id"], row["status"], row["error_code"]) for row in rows] == \
        [(answer.headers["X-Request-Id"], answer.status_code, answer.get_json()["error"]["code"])
         for answer in reversed(answers)]
    assert rows[0]["api_key"] is None and rows[1]["model"] == "no-such-model" and rows[2]["node"] is None


def test_filters_and_the_cursor_return_exactly_the_rows_asked_for(api_client, imitations):
    app, client = api_client()
    add_node(app, imitations("a"))
    sent = [client.post("/v1/chat/completions", json=CHAT).headers["X-Request-Id"] for _ in range(5)]
    bad = client.post("/v1/chat/completions", json={"model": MODEL}).headers["X-Request-Id"]
    assert [row["id"] for row in recorded(app)] == [bad, *reversed(sent)]
    assert [row["id"] for row in recorded(app, status="4xx")] == [bad]
    assert [row["id"] for row in recorded(app, status="error")] == [bad]
    assert [row["id"] for row in recorded(app, status="200")] == list(reversed(sent))
    assert [row["id"] for row in recorded(app, node="a", model=MODEL)] == list(reversed(sent))
    assert recorded(app, node="elsewhere") == []
    assert [row["id"] for row in recorded(app, request_id=sent[2])] == [sent[2]]
    # Japanese text (sent \u-escaped, as JSON libraries do by default), searched in the bodies of every row
    assert [row["id"] for row in recorded(app, q="東京の天気")] == list(reversed(sent))
    assert [row["id"] for row in recorded(app, q="tok0")] == list(reversed(sent))  # answers are searched too
    first = admin_get(app, "/v0/requests", limit=4).get_json()
    second = admin_get(app, "/v0/requests", limit=4, cursor=first["next_cursor"]).get_json()
    assert [row["id"] for row in first["requests"] + second["requests"]] == [bad, *reversed(sent)]
    assert second["next_cursor"] is None


def test_bad_filters_get_a_400_naming_them(api_client):
    app, _client = api_client()
    for params, param in [({"status": "teapot"}, "status"), ({"since": "yesterday"}, "since"),
                          ({"limit": "0"}, "limit"), ({"limit": "201"}, "limit"), ({"cursor": "x"}, "cursor")]:
        response = admin_get(app, "/v0/requests", **params)
        assert response.status_code == 400 and response.get_json()["error"]["param"] == param
    missing = admin_get(app, "/v0/requests/0123456789abcdef")
    assert missing.status_code == 404 and missing.get_json()["error"]["code"] == "request_not_found"


def test_long_bodies_are_cut_and_flagged(api_client, imitations):
    app, client = api_client(REQUEST_HISTORY_MAX_BODY_BYTES=64)
    add_node(app, imitations())
    request_id = client.post("/v1/chat/completions", json=CHAT).headers["X-Request-Id"]
    recorded(app)
    detail = admin_get(app, f"/v0/requests/{request_id}").get_json()
    assert detail["truncated"] is True
    body = detail["request_body"]  # no longer JSON: given back as the text that was kept
    assert isinstance(body, str) and len(body.encode()) <= 64 and body.startswith('{"model": "qwen3-0.6b"')


def test_the_purge_removes_only_old_rows_with_their_bodies(api_client, imitations):
    app, client = api_client()
    add_node(app, imitations())
    old, new = (client.post("/v1/chat/completions", json=CHAT).headers["X-Request-Id"] for _ in range(2))
    recorded(app)
    with app.app_context():
        db.session.query(RequestRecord).filter_by(id=old).update({"at": utcnow() - timedelta(days=8)})
        db.session.commit()
    assert history.purge(app, days=7) == 1
    assert [row["id"] for row in recorded(app)] == [new]
    with app.app_context():
        assert db.session.query(RequestBody).count() == 1


def test_a_stream_longer_than_the_history_keeps_is_flagged_truncated(api_client, imitations):
    app, client = api_client(REQUEST_HISTORY_MAX_BODY_BYTES=300)  # a few events of the imitation's stream
    add_node(app, imitations())
    answer = client.post("/v1/chat/completions", json={**CHAT, "stream": True})
    assert answer.get_data(as_text=True).endswith("data: [DONE]\n\n")  # the client still gets all of it
    answer.close()
    (row,) = recorded(app)
    detail = admin_get(app, f"/v0/requests/{row['id']}").get_json()
    assert detail["truncated"] is True and detail["response_body"]["text"].startswith("tok0 ")


def usage_events(stream_text: str) -> list[dict]:
    events = [json.loads(line[6:]) for line in stream_text.splitlines()
              if line.startswith("data: {")]
    return [event for event in events if "usage" in event]


def test_a_stream_asks_the_node_for_usage_and_hides_it_from_a_client_that_did_not(api_client, imitations):
    app, client = api_client()
    add_node(app, imitations("gpu-box"))
    answer = client.post("/v1/chat/completions", json={**CHAT, "stream": True})
    assert answer.status_code == 200
    assert usage_events(answer.get_data(as_text=True)) == []  # not asked for: not sent
    answer.close()  # the end of the stream (gunicorn closes it): recorded now
    (row,) = recorded(app)
    assert row["prompt_tokens"] is not None and row["completion_tokens"] == 5  # the node's usage chunk
    asked = client.post("/v1/chat/completions", json={**CHAT, "stream": True,
                                                      "stream_options": {"include_usage": True}})
    (usage,) = usage_events(asked.get_data(as_text=True))
    asked.close()
    assert usage["choices"] == [] and usage["usage"]["completion_tokens"] == recorded(app)[0]["completion_tokens"]


def test_with_the_history_off_nothing_is_recorded_but_each_answer_has_its_id(api_client, imitations):
    app, client = api_client(REQUEST_HISTORY_DAYS=0)
    add_node(app, imitations("gpu-box"))
    answer = client.post("/v1/chat/completions", json={**CHAT, "stream": True})
    assert answer.status_code == 200 and len(answer.headers["X-Request-Id"]) == 32
    assert usage_events(answer.get_data(as_text=True)) == []
    answer.close()
    assert client.post("/v1/chat/completions", json=CHAT).status_code == 200
    assert recorded(app) == []
