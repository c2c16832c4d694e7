"""The request history's body search (app/services/observability/body_search.py): the FTS5 trigram query,
the LIKE pattern, `body_contains` over indexed and not yet indexed rows, the leader's bulk indexing into a
table per day, and dropping the days a purge has passed."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import delete, event, select, text

from app import create_app
from app.database import RequestBody, RequestRecord
from app.extensions import db
from app.services.observability import body_search
from tests.support.factories import add_request_record, router_config

MONDAY = datetime(2026, 11, 30, tzinfo=timezone.utc)
MARK = "zqx"  # a trigram every body of these tests holds, to list what the index has


def found(phrase: str) -> set[str]:
    return set(db.session.scalars(select(RequestRecord.id).where(body_search.body_contains(phrase))))


def add(count: int, prefix: str, at: datetime | None = None) -> list[str]:
    """`count` recorded requests (body rows numbered on from the last), whose bodies all hold MARK."""
    return [add_request_record(f'{{"prompt": "{MARK} {prefix} {number}"}}', id=f"{prefix}{number}",
                               **({"at": at} if at else {})) for number in range(count)]


@pytest.fixture
def context(app) -> Iterator[None]:
    with app.app_context():
        yield


def test_trigrams_fold_case_and_drop_repeats():
    assert body_search.trigrams("HeLLo") == '"hel" AND "ell" AND "llo"'
    assert body_search.trigrams("aaaaa") == '"aaa"'
    assert body_search.trigrams("東京タワー") == '"東京タ" AND "京タワ" AND "タワー"'
    assert body_search.trigrams("ab") == ""  # no trigram: the caller scans instead


def test_trigrams_quote_every_gram_so_that_nothing_is_query_syntax():
    assert body_search.trigrams('a"b') == '"a""b"'
    assert body_search.trigrams("x OR y") == '"x o" AND " or" AND "or " AND "r y"'


def test_trigrams_stop_at_most():
    assert body_search.trigrams("abcdef", most=2) == '"abc" AND "bcd"'
    assert len(body_search.trigrams("abcdefghijklmnopqrstuvwxyz").split(" AND ")) == 16  # the default


def test_like_pattern_escapes_wildcards_and_the_escape():
    assert body_search.like_pattern("100%_a\\b") == "%100\\%\\_a\\\\b%"


def test_index_pending_adds_the_rows_past_the_watermark_in_slices(context):
    """One transaction per slice: five bodies, two a slice, are three commits and the last look that finds
    nothing more."""
    add(5, "a")
    assert body_search.indexed_upto() == 0 and body_search.candidates(MARK) == set()
    commits: list[object] = []

    def committed(connection) -> None:
        commits.append(connection)

    event.listen(db.engine, "commit", committed)
    try:
        assert body_search.index_pending(slice_size=2) == 5
    finally:
        event.remove(db.engine, "commit", committed)
    assert len(commits) == 4
    assert body_search.candidates(MARK) == {1, 2, 3, 4, 5} and body_search.indexed_upto() == 5


def test_a_second_run_adds_only_what_was_recorded_since(context):
    add(3, "a")
    assert body_search.index_pending() == 3
    assert body_search.index_pending() == 0
    add(2, "b")
    assert body_search.indexed_upto() == 3 and body_search.candidates(MARK) == {1, 2, 3}
    assert body_search.index_pending(slice_size=1) == 2
    assert body_search.candidates(MARK) == {1, 2, 3, 4, 5} and body_search.indexed_upto() == 5
    assert body_search.index_pending() == 0


def test_each_day_has_its_table_and_forget_before_drops_whole_days(context):
    add(2, "monday", at=MONDAY + timedelta(hours=23, minutes=59))
    add(1, "tuesday", at=MONDAY + timedelta(days=1))
    assert body_search.index_pending() == 3
    assert sorted(body_search.day_tables()) == [MONDAY.date(), (MONDAY + timedelta(days=1)).date()]
    assert found("monday") == {"monday0", "monday1"} and found(f"{MARK} tuesday") == {"tuesday0"}
    # Tuesday noon: Monday has wholly passed, Tuesday has not.
    assert body_search.forget_before(MONDAY + timedelta(days=1, hours=12)) == 1
    assert list(body_search.day_tables()) == [(MONDAY + timedelta(days=1)).date()]
    assert body_search.candidates(MARK) == {3}
    assert body_search.indexed_upto() == 3  # bodies are left: the count goes on


def test_forget_before_starts_the_count_again_once_no_body_is_left(context):
    add(2, "old", at=MONDAY)
    assert body_search.index_pending() == 2
    db.session.execute(delete(RequestBody))  # what the purge does first
    db.session.execute(delete(RequestRecord))
    db.session.commit()
    assert body_search.forget_before(MONDAY + timedelta(days=2)) == 1
    assert body_search.indexed_upto() == 0 and body_search.day_tables() == {}
    add(1, "new")  # SQLite numbers this body 1 again: indexed, not skipped
    assert body_search.index_pending() == 1 and found("new 0") == {"new0"}


def test_body_contains_finds_rows_indexed_and_not_yet_indexed(context):
    add_request_record('{"prompt": "東京タワーの高さは？"}', id="indexed")
    add_request_record('{"prompt": "hello"}', '{"choices": [{"text": "東京タワーは333 m"}]}', id="answer")
    assert body_search.index_pending() == 2
    add_request_record('{"prompt": "東京タワーへ行く"}', id="recent")  # beyond the watermark: scanned
    assert found("東京タワー") == {"indexed", "answer", "recent"}
    assert found("東京") == {"indexed", "answer", "recent"}  # two characters: no trigram, scanned
    assert found("333 m") == {"answer"}  # the response body too
    assert found("HELLO") == {"answer"}  # ASCII in any case
    assert found("大阪城") == set()


def test_the_index_only_picks_candidates(context):
    """Every trigram of "abcd" is in "abcXbcd", but not "abcd" itself: the LIKE check drops it."""
    add_request_record('{"prompt": "abcXbcd"}', id="both grams")
    add_request_record('{"prompt": "abcd"}', id="whole")
    assert body_search.index_pending() == 2
    assert found("abcd") == {"whole"}


@pytest.mark.parametrize("indexed", [False, True])
def test_percent_and_underscore_are_text_not_wildcards(context, indexed: bool):
    add_request_record('{"prompt": "100% sure"}', id="percent")
    add_request_record('{"prompt": "1000 sure"}', id="digits")
    add_request_record('{"prompt": "a_b c"}', id="underscore")
    add_request_record('{"prompt": "axb c"}', id="letter")
    add_request_record('{"prompt": "back\\\\slash"}', id="backslash")  # the JSON text holds two backslashes
    if indexed:
        assert body_search.index_pending() == 5
    assert found("100%") == {"percent"} and found("0%") == {"percent"}
    assert found("a_b") == {"underscore"} and found("_b") == {"underscore"}
    assert found("k\\\\s") == {"backslash"} and found("xb c") == {"letter"}
    assert found('" OR "') == set()  # quotes are text, in the index query too


@contextmanager
def main_database_locked(tmp_path: Path) -> Iterator[None]:
    """The router's database held by another writer (a history batch mid-transaction)."""
    writer = sqlite3.connect(tmp_path / "instance" / "router.db")
    writer.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        writer.rollback()
        writer.close()


def test_the_index_is_a_file_of_its_own_rebuilt_from_the_bodies_when_deleted(tmp_path, hub):
    """Writing or dropping index tables takes the index file's lock, never the database's; and the file is
    a cache: a router started without it fills it again from the bodies."""
    first = create_app(router_config(tmp_path, hub.url))
    search_file = Path(first.config["REQUEST_SEARCH_DATABASE"])
    assert search_file.parent == tmp_path / "instance" and search_file.name == "router-search.db"
    with first.app_context():
        add(3, "kept")
        add(1, "gone", at=MONDAY)
        with main_database_locked(tmp_path):
            assert body_search.index_pending() == 4  # it would wait for the lock, then fail, if it wrote there
        db.session.execute(delete(RequestBody).where(RequestBody.id == "gone0"))  # the purge's part
        db.session.execute(delete(RequestRecord).where(RequestRecord.id == "gone0"))
        db.session.commit()
        with main_database_locked(tmp_path):
            assert body_search.forget_before(MONDAY + timedelta(days=1)) == 1
        names = db.session.execute(text("SELECT name FROM pragma_database_list")).scalars().all()
        db.engine.dispose()
    assert body_search.SCHEMA in names
    first.extensions["hub_stats"].close()
    first.extensions["history"].close()
    for path in tmp_path.glob("instance/router-search.db*"):
        path.unlink()
    second = create_app(router_config(tmp_path, hub.url))
    try:
        with second.app_context():
            assert body_search.indexed_upto() == 0 and body_search.day_tables() == {}
            assert body_search.index_pending() == 3
            assert body_search.candidates(MARK) == {1, 2, 3}
    finally:
        second.extensions["hub_stats"].close()
        second.extensions["history"].close()
