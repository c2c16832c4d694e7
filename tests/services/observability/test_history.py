"""The request history's writer, summaries and purge (app/services/observability/history.py)."""

from __future__ import annotations

import json
import logging
from datetime import timedelta

from sqlalchemy import text

from app.database import RequestBody, RequestRecord, utcnow
from app.extensions import db
from app.services.observability import history
from app.services.observability.history import Entry, HistoryWriter


def entry(number: int, **fields) -> Entry:
    return Entry(id=f"{number:032x}", at=utcnow(), endpoint="/v1/chat/completions", status=200, **fields)


def test_entries_are_written_in_batches_with_their_bodies(app):
    writer = HistoryWriter(app, 1024, lambda count: None)
    for number in range(450):  # more than two batches
        writer.add(entry(number, model="m", request_raw=b'{"n": %d}' % number))
    assert writer.flush()
    with app.app_context():
        assert db.session.query(RequestRecord).count() == 450
        body = db.session.get(RequestBody, f"{7:032x}")
        assert json.loads(body.request_body) == {"n": 7} and body.truncated is False


def test_a_request_body_is_stored_with_its_text_readable():
    assert history._readable(b'{"content": "\\u6771\\u4eac"}') == '{"content": "東京"}'
    assert history._readable(b"not json \xff") == "not json \ufffd"


def test_the_tokens_come_from_the_answers_usage(app):
    writer = HistoryWriter(app, 1024, lambda count: None)
    usage = {"prompt_tokens": 5, "completion_tokens": 2}
    writer.add(entry(1, answer_raw=json.dumps({"choices": [], "usage": usage}).encode()))
    writer.add(entry(2, relayed=b'data: {"choices": [], "usage": {"prompt_tokens": 4, "completion_tokens": true}}\n\n'))
    assert writer.flush()
    with app.app_context():
        tokens = {row.id[-1]: (row.prompt_tokens, row.completion_tokens) for row in db.session.query(RequestRecord)}
    assert tokens == {"1": (5, 2), "2": (4, None)}  # a count that is not a whole number is not one


def test_bodies_are_cut_on_a_character_boundary():
    assert history._cut("天気" * 10, 7) == ("天気", True)  # 7 bytes hold two 3-byte characters, not half a third
    assert history._cut("short", 7) == ("short", False)


def test_a_database_failure_drops_the_entries_counts_them_and_warns(app, caplog):
    dropped: list[int] = []
    writer = HistoryWriter(app, 1024, dropped.append)
    with app.app_context():
        db.session.execute(text("DROP TABLE request_bodies"))
        db.session.execute(text("DROP TABLE request_records"))
        db.session.commit()
    with caplog.at_level(logging.WARNING, logger="app.services.observability.history"):
        writer.add(entry(1))
        writer.add(entry(2))
        assert writer.flush()
    assert sum(dropped) == 2
    assert "not recorded" in caplog.text and "requests are served as usual" in caplog.text


def test_a_stream_is_summarised_as_its_text_finish_reason_and_usage():
    def event(payload: dict) -> bytes:
        return b"data: " + json.dumps(payload).encode() + b"\n\n"
    events = (event({"choices": [{"delta": {"role": "assistant"}, "finish_reason": None}]})
              + event({"choices": [{"delta": {"content": "晴れ"}, "finish_reason": None}]})
              + event({"choices": [{"delta": {"content": "です"}, "finish_reason": "stop"}]})
              + event({"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2}}) + b"data: [DONE]\n\n")
    summary, usage = history.stream_summary(events)
    assert json.loads(summary) == {"text": "晴れです", "finish_reason": "stop",
                                   "usage": {"prompt_tokens": 3, "completion_tokens": 2}}
    assert usage == {"prompt_tokens": 3, "completion_tokens": 2}
    broken, _usage = history.stream_summary(event({"choices": [{"text": "a"}]})
                                            + event({"error": {"code": "stream_interrupted"}}))
    assert json.loads(broken) == {"text": "a", "error": {"code": "stream_interrupted"}}


def test_embeddings_are_kept_as_count_and_dimensions_not_vectors():
    answer = {"object": "list", "data": [{"embedding": [0.1] * 8}, {"embedding": [0.2] * 8}],
              "usage": {"prompt_tokens": 4}}
    summary, usage = history.answer_summary("/v1/embeddings", json.dumps(answer).encode())
    assert json.loads(summary)["data"] == {"count": 2, "dimensions": 8} and usage == {"prompt_tokens": 4}
    assert history.answer_summary("/v1/chat/completions", b"not json") == ("not json", None)


def test_the_purge_goes_in_slices_and_keeps_newer_rows(app):
    writer = HistoryWriter(app, 1024, lambda count: None)
    for number in range(10):
        writer.add(entry(number))
    assert writer.flush()
    with app.app_context():
        old = [f"{number:032x}" for number in range(7)]
        db.session.query(RequestRecord).filter(RequestRecord.id.in_(old)).update(
            {"at": utcnow() - timedelta(days=3)}, synchronize_session=False)
        db.session.commit()
    assert history.purge(app, days=2, slice_size=3) == 7  # three slices
    with app.app_context():
        assert db.session.query(RequestRecord).count() == 3 and db.session.query(RequestBody).count() == 3
