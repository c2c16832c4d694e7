"""Text search in the request history's bodies (`q`), through SQLite FTS5 trigram indexes.

The index lives in a file of its own beside the database (`REQUEST_SEARCH_DATABASE`, attached to every
connection as `search`), so that neither filling it nor purging it ever takes the history's write lock:
SQLite locks each file apart. It holds one table per day of requests (UTC), and the purge drops a day's
table whole once the day has passed the retention: no delete markers, no segment merges, nothing that
grows with the rows removed. The file is a cache: deleted, it is filled again from the bodies.

The index is filled in bulk by the scheduler's leader (`index_pending`, every INDEX_SECONDS), not row by
row as requests are recorded: tokenizing a body into trigrams costs more CPU than storing it, and a few
large transactions cost far less than many small ones. A search covers the indexed rows through the
index and the few seconds' worth beyond `indexed_rowid` by scanning them; every candidate is checked
with LIKE, so an index entry left over from a purged row never shows. Other databases scan (LIKE).
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone
from typing import Any

from flask import Flask, current_app
from sqlalchemy import ColumnElement, Integer, bindparam, column, event, exists, literal_column, or_, select
from sqlalchemy import text as text_sql

from ...database import RequestBody, RequestRecord, as_utc
from ...extensions import db

INDEX_SECONDS = 5  # how often the leader adds new bodies to the index
INDEX_SLICE = 5_000  # bodies per transaction
SCHEMA = "search"  # the index file's name on each connection
_DAY_TABLE = re.compile(r"request_search_(\d{8})")

_PROGRESS_TABLE = (f"CREATE TABLE IF NOT EXISTS {SCHEMA}.request_search_progress "
                   "(id INTEGER PRIMARY KEY CHECK (id = 1), indexed_rowid INTEGER NOT NULL)")
_PENDING = text_sql(f"SELECT coalesce((SELECT indexed_rowid FROM {SCHEMA}.request_search_progress WHERE id = 1), 0) "
                    "AS indexed_rowid")
_MOVE = text_sql(f"INSERT INTO {SCHEMA}.request_search_progress (id, indexed_rowid) VALUES (1, :until) "
                 "ON CONFLICT (id) DO UPDATE SET indexed_rowid = excluded.indexed_rowid")
_SLICE = text_sql("SELECT b.rowid, r.at FROM request_bodies AS b JOIN request_records AS r ON r.id = b.id "
                  "WHERE b.rowid > :after ORDER BY b.rowid LIMIT :slice")
_DAY_TABLES = text_sql(f"SELECT name FROM {SCHEMA}.sqlite_master WHERE type = 'table' AND name GLOB 'request_search_*'")


def attach_to_connections(app: Flask) -> None:
    """Attach the index file to each new connection of the app's engine (WAL, like the database)."""
    path = app.config.get("REQUEST_SEARCH_DATABASE")
    if not path:
        return
    with app.app_context():
        engine = db.engine

    @event.listens_for(engine, "connect")
    def _attach(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"ATTACH DATABASE ? AS {SCHEMA}", (str(path),))
            cursor.execute(f"PRAGMA {SCHEMA}.journal_mode=WAL")
            cursor.execute(f"PRAGMA {SCHEMA}.synchronous=NORMAL")
            cursor.execute(_PROGRESS_TABLE)
        finally:
            cursor.close()


def _indexed() -> bool:
    return bool(current_app.config.get("REQUEST_SEARCH_DATABASE"))


def _table(day: date) -> str:
    return f"{SCHEMA}.request_search_{day:%Y%m%d}"


def day_tables() -> dict[date, str]:
    """The index's tables, by the day (UTC) of the requests each holds."""
    found = {}
    for name in db.session.scalars(_DAY_TABLES):
        match = _DAY_TABLE.fullmatch(name)
        if match:  # not one of FTS5's own tables (..._data, ..._idx, ...)
            found[datetime.strptime(match[1], "%Y%m%d").date()] = f"{SCHEMA}.{name}"
    return found


def like_pattern(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def trigrams(text: str, most: int = 16) -> str:
    """An index query for the bodies holding every trigram of `text` (the first `most` distinct ones
    narrow enough), each quoted so that nothing in `text` reads as query syntax."""
    folded = text.lower()
    grams = list(dict.fromkeys(folded[i:i + 3] for i in range(len(folded) - 2)))[:most]
    return " AND ".join('"' + gram.replace('"', '""') + '"' for gram in grams)


def indexed_upto() -> int:
    """The last body row (rowid) in the index; those beyond are searched by scanning."""
    return db.session.execute(_PENDING).scalar_one()


def candidates(text: str) -> set[int]:
    """The body rows (rowids) whose indexed text holds every trigram of `text` (three characters or more)."""
    return set(db.session.scalars(_candidates(trigrams(text)))) if _indexed() else set()


def _candidates(grams: str) -> Any:
    tables = day_tables().values()
    if not tables:
        return text_sql("SELECT NULL WHERE 0")
    union = " UNION ALL ".join(f"SELECT rowid FROM {name} WHERE {name.split('.')[1]} MATCH :grams" for name in tables)
    return text_sql(union).bindparams(grams=grams)


def body_contains(text: str) -> ColumnElement[bool]:
    """Whether a request's bodies contain `text` (ASCII in any case). For three characters or more on
    SQLite the index picks the candidates among the indexed rows; shorter text, which no trigram holds,
    is scanned for."""
    pattern = like_pattern(text)
    contains = or_(RequestBody.request_body.like(pattern, escape="\\"),
                   RequestBody.response_body.like(pattern, escape="\\"))
    if len(text) >= 3 and _indexed():
        rowid = literal_column("request_bodies.rowid")
        pending = _PENDING.columns(column("indexed_rowid", Integer)).scalar_subquery()
        matching = select(RequestBody.id).where(or_(rowid.in_(_candidates(trigrams(text))), rowid > pending), contains)
        return RequestRecord.id.in_(matching)
    return exists().where(RequestBody.id == RequestRecord.id).where(contains)


def _ensure_table(day: date) -> str:
    name = _table(day)
    db.session.execute(text_sql(f"CREATE VIRTUAL TABLE IF NOT EXISTS {name} USING fts5("
                                "request_body, response_body, content='', tokenize='trigram', detail='none')"))
    return name


def index_pending(slice_size: int = INDEX_SLICE) -> int:
    """Add the bodies recorded since the last call to the index, `slice_size` per transaction, each
    into its day's table; how many. Only the index file is written: the history's writers go on."""
    if not _indexed():
        return 0
    added = 0
    while True:
        after = indexed_upto()
        rows = db.session.execute(_SLICE, {"after": after, "slice": slice_size}).all()
        if not rows:
            db.session.commit()
            return added
        until = rows[-1][0]
        for day in sorted({date.fromisoformat(str(at)[:10]) for _rowid, at in rows}):  # stored as UTC text
            start = datetime.combine(day, datetime.min.time(), timezone.utc)
            db.session.execute(text_sql(
                f"INSERT INTO {_ensure_table(day)} (rowid, request_body, response_body) "
                "SELECT b.rowid, b.request_body, b.response_body FROM request_bodies AS b "
                "JOIN request_records AS r ON r.id = b.id "
                "WHERE b.rowid > :after AND b.rowid <= :until AND r.at >= :start AND r.at < :end"
            ).bindparams(bindparam("start", start, type_=RequestRecord.at.type),  # stored as the column stores it
                         bindparam("end", start + timedelta(days=1), type_=RequestRecord.at.type),
                         after=after, until=until))
        db.session.execute(_MOVE, {"until": until})
        db.session.commit()
        added += len(rows)


def forget_before(cutoff: datetime) -> int:
    """After a purge: drop the tables of the days wholly before `cutoff`; how many. If no body is left,
    start the index's count again (SQLite numbers the next body 1)."""
    if not _indexed():
        return 0
    dropped = 0
    for day, name in sorted(day_tables().items()):
        if datetime.combine(day + timedelta(days=1), datetime.min.time(), timezone.utc) <= as_utc(cutoff):
            db.session.execute(text_sql(f"DROP TABLE IF EXISTS {name}"))
            db.session.commit()
            dropped += 1
    if db.session.execute(select(RequestBody.id).limit(1)).first() is None:
        db.session.execute(_MOVE, {"until": 0})
        db.session.commit()
    return dropped

