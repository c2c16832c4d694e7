"""Text search in the request history's bodies (`q`), through an SQLite FTS5 trigram index.

The index is filled in bulk by the scheduler's leader (`index_pending`, every INDEX_SECONDS), not row by
row as requests are recorded: tokenizing a body into trigrams costs more CPU than storing it, and a
few large transactions cost far less than many small ones. So recording stays cheap for every
worker, and a search covers the indexed rows through the index plus the few seconds' worth beyond
`indexed_rowid` by scanning them. Other databases scan (LIKE) for now.
"""

from __future__ import annotations


from sqlalchemy import ColumnElement, Integer, column, exists, literal_column, or_, select
from sqlalchemy import text as text_sql

from ...database import RequestBody, RequestRecord
from ...extensions import db

INDEX_SECONDS = 5  # how often the leader adds new bodies to the index
INDEX_SLICE = 5_000  # bodies per transaction

_PENDING = text_sql("SELECT indexed_rowid FROM request_search_progress WHERE id = 1")
_ADD = text_sql("INSERT INTO request_bodies_search(rowid, request_body, response_body) "
                "SELECT rowid, request_body, response_body FROM request_bodies "
                "WHERE rowid > :after AND rowid <= :until")
_UPTO = text_sql("SELECT max(rowid) FROM (SELECT rowid FROM request_bodies WHERE rowid > :after "
                 "ORDER BY rowid LIMIT :slice)")
_MOVE = text_sql("UPDATE request_search_progress SET indexed_rowid = :until WHERE id = 1")


def _indexed() -> bool:
    return db.session.get_bind().dialect.name == "sqlite"


def like_pattern(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def trigrams(text: str, most: int = 16) -> str:
    """An index query for the bodies holding every trigram of `text` (the first `most` distinct ones
    narrow enough), each quoted so that nothing in `text` reads as query syntax."""
    folded = text.lower()
    grams = list(dict.fromkeys(folded[i:i + 3] for i in range(len(folded) - 2)))[:most]
    return " AND ".join('"' + gram.replace('"', '""') + '"' for gram in grams)


def body_contains(text: str) -> ColumnElement[bool]:
    """Whether a request's bodies contain `text` (ASCII in any case). For three characters or more on
    SQLite the index picks the candidates among the indexed rows; shorter text, which no trigram holds,
    is scanned for."""
    pattern = like_pattern(text)
    contains = or_(RequestBody.request_body.like(pattern, escape="\\"),
                   RequestBody.response_body.like(pattern, escape="\\"))
    if len(text) >= 3 and _indexed():
        rowid = literal_column("request_bodies.rowid")
        candidates = text_sql("SELECT rowid FROM request_bodies_search WHERE request_bodies_search MATCH :grams")
        matching = select(RequestBody.id).where(
            or_(rowid.in_(candidates.bindparams(grams=trigrams(text))), rowid > _PENDING.columns(column("indexed_rowid", Integer)).scalar_subquery()),
            contains)
        return RequestRecord.id.in_(matching)
    return exists().where(RequestBody.id == RequestRecord.id).where(contains)


def index_pending(slice_size: int = INDEX_SLICE) -> int:
    """Add the bodies recorded since the last call to the index, `slice_size` per transaction; how many."""
    if not _indexed():
        return 0
    added = 0
    while True:
        after = db.session.execute(_PENDING).scalar_one()
        until = db.session.execute(_UPTO, {"after": after, "slice": slice_size}).scalar()
        if until is None:
            db.session.commit()
            return added
        db.session.execute(_ADD, {"after": after, "until": until})
        db.session.execute(_MOVE, {"until": until})
        db.session.commit()
        added += until - after
