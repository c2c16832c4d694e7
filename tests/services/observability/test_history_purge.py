"""The request history's purge with the retention shortened (`LLM_ROUTER_REQUEST_HISTORY_DAYS`): the
scheduled job (`purge_job`) removes the old records with their bodies and the body search index's
tables of the days wholly past, keeps the recent ones, drops per-minute rollups and fleet samples with the rows, and keeps
the per-hour ones for the overview's comparisons (history.ROLLUP_HOURS_DAYS) however short the retention.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from flask import Flask
from sqlalchemy import select

from app import create_app
from app.database import FleetSample, RequestBody, RequestRecord, RequestRollup, RequestRollupBin, utcnow
from app.extensions import db
from app.services.observability import body_search, fleet_samples, history
from app.services.observability.history import Entry
from app.services.observability.rollups import HOUR, MINUTE, bucket_start
from tests.support.factories import make_api_key, router_config
from tests.support.hub_imitation import HubImitation

RETENTION_DAYS = 0.01  # 14.4 minutes
OLD_PHRASE, RECENT_PHRASE = "古い質問です", "新しい質問です"


@pytest.fixture
def short_app(tmp_path, hub: HubImitation) -> Iterator[Flask]:
    app = create_app(router_config(tmp_path, hub.url, REQUEST_HISTORY_DAYS=RETENTION_DAYS))
    yield app
    app.extensions["hub_stats"].close()
    app.extensions["history"].close()


def write(app: Flask, entries: list[Entry]) -> None:
    """Through the app's own batching writer, as the request path does (rollups included)."""
    writer = app.extensions["history"]
    for entry in entries:
        writer.add(entry)
    assert writer.flush(), "the history writer did not catch up"


def entry(number: int, at: datetime, phrase: str, status: int = 200) -> Entry:
    request = {"model": "m", "messages": [{"role": "user", "content": f"{phrase} #{number}"}]}
    answer = {"choices": [{"message": {"role": "assistant", "content": f"answer {number}"}}],
              "usage": {"prompt_tokens": 3, "completion_tokens": 2}}
    return Entry(id=f"{number:032x}", at=at, endpoint="/v1/chat/completions", status=status, model="m",
                 duration_ms=40.0, request_raw=json.dumps(request).encode(), answer_raw=json.dumps(answer).encode())


def searchable(app: Flask, phrase: str) -> int:
    """Rows the body search index (SQLite FTS5 trigrams, one table per day) offers as candidates for
    `phrase`, before they are checked against the bodies themselves."""
    with app.app_context():
        return len(body_search.candidates(phrase))


def rollup_sums(app: Flask, resolution: int) -> dict[datetime, int]:
    with app.app_context():
        rows = db.session.scalars(select(RequestRollup).where(RequestRollup.resolution == resolution))
        return {bucket_start(row.start, resolution): row.requests for row in rows}


def bin_starts(app: Flask, resolution: int) -> set[datetime]:
    with app.app_context():
        rows = db.session.scalars(select(RequestRollupBin).where(RequestRollupBin.resolution == resolution))
        return {bucket_start(row.start, resolution) for row in rows}


def test_the_job_removes_rows_older_than_the_shortened_retention_with_their_bodies(short_app: Flask) -> None:
    now = utcnow()
    days_ago = [entry(number, now - timedelta(days=2, minutes=number), OLD_PHRASE) for number in range(5)]
    hour_ago = [entry(5 + number, now - timedelta(hours=1, minutes=number), OLD_PHRASE) for number in range(2)]
    recent = [entry(10 + number, now - timedelta(minutes=1 + number), RECENT_PHRASE) for number in range(3)]
    write(short_app, days_ago + hour_ago + recent)
    with short_app.app_context():
        body_search.index_pending()  # what the leader runs every few seconds
        old_day = (now - timedelta(days=2)).date()
        assert old_day in body_search.day_tables()
    assert searchable(short_app, OLD_PHRASE) == 7 and searchable(short_app, RECENT_PHRASE) == 3

    history.purge_job(short_app)  # what the poller runs every 10 minutes, with the configured retention

    with short_app.app_context():
        kept = set(db.session.scalars(select(RequestRecord.id)))
        bodies = set(db.session.scalars(select(RequestBody.id)))
        # The day wholly past the retention is dropped whole; the kept rows' day stays.
        assert old_day not in body_search.day_tables()
        assert {item.at.date() for item in recent} <= set(body_search.day_tables())
    assert kept == bodies == {item.id for item in recent}
    assert searchable(short_app, OLD_PHRASE) <= 2 and searchable(short_app, RECENT_PHRASE) == 3
    # What the API says of them: the purged ones are gone from lists, searches and details.
    client = short_app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {make_api_key(short_app, ['admin'], name='reader')}"
    listed = client.get("/v0/requests").get_json()["requests"]
    assert [row["id"] for row in listed] == [item.id for item in recent]
    assert client.get("/v0/requests", query_string={"q": OLD_PHRASE}).get_json()["requests"] == []
    assert len(client.get("/v0/requests", query_string={"q": RECENT_PHRASE}).get_json()["requests"]) == 3
    missing = client.get(f"/v0/requests/{days_ago[0].id}")
    assert missing.status_code == 404 and missing.get_json()["error"]["code"] == "request_not_found"
    assert client.get(f"/v0/requests/{recent[0].id}").get_json()["request_body"]["messages"][0]["content"] == \
        f"{RECENT_PHRASE} #10"


def test_a_purge_that_empties_the_history_starts_the_index_count_again(short_app: Flask) -> None:
    """SQLite numbers the next body 1 once the table is empty: those bodies must not pass for indexed."""
    now = utcnow()
    write(short_app, [entry(number, now - timedelta(days=2), OLD_PHRASE) for number in range(3)])
    with short_app.app_context():
        assert body_search.index_pending() == 3 and body_search.indexed_upto() == 3
    history.purge_job(short_app)
    with short_app.app_context():
        assert body_search.indexed_upto() == 0
    write(short_app, [entry(20, now, RECENT_PHRASE)])
    client = short_app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {make_api_key(short_app, ['admin'], name='reader')}"
    assert [row["id"] for row in client.get("/v0/requests", query_string={"q": RECENT_PHRASE}).get_json()["requests"]] \
        == [entry(20, now, RECENT_PHRASE).id]


def test_minute_rollups_go_with_the_rows_and_hour_rollups_stay(short_app: Flask) -> None:
    now = utcnow()
    ancient = now - timedelta(days=history.ROLLUP_HOURS_DAYS + 2)  # past what even the hourly rollups keep
    old, recent = now - timedelta(hours=2), now - timedelta(minutes=1)
    write(short_app, [entry(1, ancient, OLD_PHRASE), entry(2, old, OLD_PHRASE), entry(3, old, OLD_PHRASE, 503),
                      entry(4, recent, RECENT_PHRASE)])
    assert set(rollup_sums(short_app, MINUTE)) == {bucket_start(moment, MINUTE) for moment in (ancient, old, recent)}

    history.purge_job(short_app)

    assert rollup_sums(short_app, MINUTE) == {bucket_start(recent, MINUTE): 1}
    assert bin_starts(short_app, MINUTE) == {bucket_start(recent, MINUTE)}
    # The hours keep counting the purged requests: the overview's 24 h and 7 d figures outlive the rows.
    hours: dict[datetime, int] = {}
    for moment, count in ((old, 2), (recent, 1)):
        hours[bucket_start(moment, HOUR)] = hours.get(bucket_start(moment, HOUR), 0) + count
    assert rollup_sums(short_app, HOUR) == hours
    assert bin_starts(short_app, HOUR) == set(hours)
    with short_app.app_context():
        assert db.session.get(RequestRollup, (HOUR, bucket_start(old, HOUR))).errors == 1  # the purged 503
        assert db.session.query(RequestRecord).count() == 1


def test_fleet_samples_are_kept_like_the_rollups(short_app: Flask) -> None:
    now = utcnow()
    moments = {"ancient": now - timedelta(days=history.ROLLUP_HOURS_DAYS + 2), "old": now - timedelta(hours=2),
               "recent": now - timedelta(minutes=1)}
    with short_app.app_context():
        for moment in moments.values():
            fleet_samples.record(db.session, now=moment)
    history.purge_job(short_app)
    with short_app.app_context():
        kept = {(row.resolution, bucket_start(row.start, row.resolution)) for row in db.session.query(FleetSample)}
    assert kept == {(MINUTE, bucket_start(moments["recent"], MINUTE)),
                    (HOUR, bucket_start(moments["old"], HOUR)), (HOUR, bucket_start(moments["recent"], HOUR))}


def test_a_purge_with_nothing_old_removes_nothing(short_app: Flask) -> None:
    now = utcnow()
    write(short_app, [entry(number, now - timedelta(minutes=number), RECENT_PHRASE) for number in range(1, 4)])
    assert history.purge(short_app, RETENTION_DAYS) == 0
    with short_app.app_context():
        assert db.session.query(RequestRecord).count() == db.session.query(RequestBody).count() == 3
    assert sum(rollup_sums(short_app, MINUTE).values()) == 3
