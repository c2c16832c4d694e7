"""Filters, pages and one record of the request history (app/services/observability/history_queries.py)."""

from __future__ import annotations

import json
import sqlite3
from datetime import timedelta

import pytest
from sqlalchemy import delete, event

from app.database import RequestBody, RequestRecord, utcnow
from app.errors import ApiError
from app.extensions import db
from app.services.observability import body_search, history_queries
from app.services.observability.history import Entry, HistoryWriter
from tests.support.factories import add_request_record


@pytest.fixture
def rows(app):
    """Six requests: three models' 200s, a 404, a 503 and an old 400, newest last."""
    writer = HistoryWriter(app, 4096, lambda count: None)
    now = utcnow()
    specs = [("a", 200, 5), ("b", 200, 4), ("a", 404, 3), ("c", 503, 2), ("a", 200, 1)]
    for number, (model, status, minutes) in enumerate(specs):
        writer.add(Entry(id=f"r{number}", at=now - timedelta(minutes=minutes), endpoint="/v1/chat/completions",
                         status=status, model=model, node="n1" if status == 200 else None, api_key_id=7,
                         api_key_name="ci", request_raw=f'{{"prompt": "number {number}"}}'.encode()))
    writer.add(Entry(id="old", at=now - timedelta(days=2), endpoint="/v1/embeddings", status=400, model="a"))
    assert writer.flush()
    return now


def ids(app, **args) -> list[str]:
    with app.app_context():
        return [row["id"] for row in history_queries.page({key: str(value) for key, value in args.items()}).records]


def test_filters(app, rows):
    assert ids(app) == ["r4", "r3", "r2", "r1", "r0", "old"]  # newest first by time, not by when recorded
    assert ids(app, model="a") == ["r4", "r2", "r0", "old"]
    assert ids(app, status="5xx") == ["r3"] and ids(app, status="error") == ["r3", "r2", "old"]
    assert ids(app, status="404") == ["r2"]
    assert ids(app, node="n1") == ["r4", "r1", "r0"]
    assert ids(app, api_key="7") == ids(app, api_key="ci") == ["r4", "r3", "r2", "r1", "r0"]
    assert ids(app, endpoint="/v1/embeddings") == ["old"]
    since = (rows - timedelta(minutes=3, seconds=30)).isoformat()
    assert ids(app, since=since) == ["r4", "r3", "r2"]
    assert ids(app, until=since) == ["r1", "r0", "old"]
    assert ids(app, q="number 3") == ["r3"] and ids(app, q="100%") == []  # % is text, not a wildcard


def test_pages_follow_the_cursor_to_the_end(app, rows):
    seen, cursor = [], None
    with app.app_context():
        while True:
            page = history_queries.page({"limit": "2", **({"cursor": cursor} if cursor else {})})
            seen += [row["id"] for row in page.records]
            cursor = page.next_cursor
            if cursor is None:
                break
    assert seen == ["r4", "r3", "r2", "r1", "r0", "old"]


def test_requests_are_listed_by_time_whichever_worker_wrote_them_first(app):
    """Each gunicorn worker writes its own batches: a later request may be stored first. Requests at the
    same microsecond keep the order they were stored in, and a page boundary between them loses none."""
    now = utcnow()
    first, second = HistoryWriter(app, 4096, lambda count: None), HistoryWriter(app, 4096, lambda count: None)
    second.add(Entry(id="later", at=now, endpoint="/v1/completions", status=200))
    assert second.flush()
    for name in ("earlier", "tie-1", "tie-2"):
        first.add(Entry(id=name, at=now - timedelta(milliseconds=300) if name == "earlier" else now,
                        endpoint="/v1/completions", status=200))
    assert first.flush()
    assert ids(app) == ["tie-2", "tie-1", "later", "earlier"]
    with app.app_context():
        page = history_queries.page({"limit": "2"})
        rest = history_queries.page({"limit": "2", "cursor": page.next_cursor})
    assert [row["id"] for row in page.records + rest.records] == ["tie-2", "tie-1", "later", "earlier"]
    assert rest.next_cursor is None


@pytest.mark.parametrize(("args", "param"), [({"status": "2x"}, "status"), ({"until": "soon"}, "until"),
                                             ({"limit": "x"}, "limit"), ({"cursor": "-1"}, "cursor"),
                                             ({"cursor": "12"}, "cursor"), ({"cursor": "9" * 18 + "-1"}, "cursor")])
def test_a_bad_filter_names_itself(app, args, param):
    with app.app_context(), pytest.raises(ApiError) as refused:
        history_queries.page(args)
    assert (refused.value.status, refused.value.param) == (400, param)


def test_a_record_with_its_bodies(app, rows):
    with app.app_context():
        record = history_queries.detail("r3")
        assert record["request_body"] == {"prompt": "number 3"} and record["status"] == 503
        assert record["api_key"] == {"id": 7, "name": "ci"}
        with pytest.raises(ApiError) as missing:
            history_queries.detail("nope")
    assert missing.value.status == 404


def test_text_search_finds_any_substring_in_every_body(app):
    writer = HistoryWriter(app, 4096, lambda count: None)
    bodies = {"ja": "東京タワーの高さは？", "quote": 'say "hi" to 100% of _all_', "mixed": "Hello WORLD"}
    for name, content in bodies.items():
        writer.add(Entry(id=name, at=utcnow(), endpoint="/v1/chat/completions", status=200,
                         request_raw=json.dumps({"prompt": content}).encode(),
                         answer_raw=b'{"choices": [{"text": "answer of ' + name.encode() + b'"}]}'))
    assert writer.flush()
    searches = {"タワー": ["ja"], "東京": ["ja"],  # two characters: no trigram holds them, scanned
                "0% o": ["quote"], "_all": ["quote"],  # no wildcards
                'hi" OR "x': [],  # text, not the index's query syntax
                "hello world": ["mixed"],  # any case
                "answer of mix": ["mixed"],  # the response body too
                "zzz": []}
    # Not indexed yet (recorded since the leader's last run): scanned; then through the index.
    for indexed in (False, True):
        if indexed:
            with app.app_context():
                assert body_search.index_pending(slice_size=2) == 3
                assert body_search.index_pending() == 0
        assert {text: ids(app, q=text) for text in searches} == searches
        assert ids(app, q="タワー", model="other") == []  # with the other filters


def test_a_search_as_the_purge_drops_a_day_of_the_index_lists_the_days_again(app):
    """The purge may drop a day's index table between the search listing the days and reading them."""
    old_day = utcnow() - timedelta(days=3)
    with app.app_context():
        purged = add_request_record('{"prompt": "kept phrase"}', at=old_day)
        kept = add_request_record('{"prompt": "kept phrase"}')
        assert body_search.index_pending() == 2
        db.session.execute(delete(RequestBody).where(RequestBody.id == purged))  # what the purge does first
        db.session.execute(delete(RequestRecord).where(RequestRecord.id == purged))
        db.session.commit()
        table = body_search.day_tables()[old_day.date()]
        dropped = []

        def drop_first(conn, cursor, statement, parameters, context, executemany) -> None:
            if "MATCH" in statement and not dropped:  # another connection: the leader's purge
                other = sqlite3.connect(app.config["REQUEST_SEARCH_DATABASE"])
                other.execute(f"DROP TABLE {table.split('.', 1)[1]}")
                other.commit()
                other.close()
                dropped.append(table)

        event.listen(db.engine, "before_cursor_execute", drop_first)
        try:
            assert [row["id"] for row in history_queries.page({"q": "kept phrase"}).records] == [kept]
        finally:
            event.remove(db.engine, "before_cursor_execute", drop_first)
    assert dropped == [table]
