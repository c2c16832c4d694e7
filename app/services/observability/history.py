"""Request history: every `/v1` request, with its bodies, kept `LLM_ROUTER_REQUEST_HISTORY_DAYS` days.

The request path only hands an `Entry` to the `HistoryWriter` (`app.extensions["history"]`), which
puts it on a bounded queue; a thread writes the queue in batches. So recording never delays a
request, and when the database is slow or down the request is served anyway: the entry is dropped,
counted (`llm_router_history_dropped`) and logged (once a minute at most). Metadata and bodies are
stored apart (`RequestRecord`, `RequestBody`), so lists never read bodies. Each batch also adds to
the per-minute and per-hour rollups (`rollups`) in the same transaction.
"""

from __future__ import annotations

import json
import logging
import queue
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from flask import Flask
from sqlalchemy import Connection, Dialect, Table, bindparam, delete, insert, select, text

from ...database import RequestBody, RequestRecord, utcnow
from ..catalog.cloud_prices import PROVIDERS, cost, price_for
from ..inference.providers.registry import cloud_reference
from ...extensions import db
from . import body_search, fleet_samples, rollups
from .process_thread import ProcessThread

log = logging.getLogger(__name__)

QUEUE_SIZE = 10_000  # entries waiting to be written; beyond it they are dropped, not waited for
BATCH_SIZE = 500
BATCH_SECONDS = 0.5
WRITE_SLICE = 200  # entries per transaction
PURGE_SLICE = 25  # rows deleted per transaction, so that a purge never holds writers up for long
# The purge checkpoints the write-ahead log itself, every CHECKPOINT_SLICES slices (about 800 of its
# pages, below SQLite's 1000-page automatic checkpoint): else a writer's commit would, and wait on it.
# Not every slice: each checkpoint ends in an fsync, and on a shared disk those stall everyone's writes.
CHECKPOINT_SLICES = 8
PURGE_PAUSE_SECONDS = 0.05  # between slices: the writers waiting for the lock get it (SQLite is not fair)
ROLLUP_HOURS_DAYS = 35  # hourly rollups outlive the rows: the 7-day overview compares with the 7 days before
_WARN_EVERY_SECONDS = 60.0


@dataclass
class Entry:
    """One request as the request path saw it. The path hands over bytes (`request_raw`, and `answer_raw`
    or a stream's `relayed`); the writer's thread turns them into the stored bodies and tokens, so that
    none of that work is the request's."""

    id: str
    at: datetime
    endpoint: str
    status: int
    client_request_id: str | None = None
    model: str | None = None
    node: str | None = None
    failed_nodes: list[str] = field(default_factory=list)
    api_key_id: int | None = None
    api_key_name: str | None = None
    user: str | None = None
    client_address: str | None = None
    stream: bool = False
    error_code: str | None = None
    duration_ms: float = 0.0
    ttft_ms: float | None = None
    queue_ms: float = 0.0
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    request_raw: bytes = b""
    answer_raw: bytes | None = None  # a whole answer
    relayed: bytes | None = None  # what a stream relayed (its first LLM_ROUTER_REQUEST_HISTORY_MAX_BODY_BYTES)
    relayed_cut: bool = False  # the stream relayed more than that


def _readable(body: bytes) -> str:
    """A request body as stored: JSON with its text as text (clients send it \\u-escaped, which no search
    for Japanese would find), anything else as it came. A body without an escape is stored as it came:
    decoding and encoding it again would change nothing a search or the page sees, for half the cost."""
    if b"\\u" not in body:
        return body.decode("utf-8", "replace")
    try:
        return json.dumps(json.loads(body), ensure_ascii=False)
    except (ValueError, RecursionError):
        return body.decode("utf-8", "replace")


def _tokens(usage: dict[str, Any] | None, name: str) -> int | None:
    value = (usage or {}).get(name)
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _cut(text: str, limit: int) -> tuple[str, bool]:
    """`text` within `limit` UTF-8 bytes (never half a character), and whether it was cut."""
    encoded = text.encode("utf-8")
    if len(encoded) <= limit:
        return text, False
    return encoded[:limit].decode("utf-8", "ignore"), True


class HistoryWriter:
    """Writes entries in batches from a thread of this process. The thread starts with the first entry
    of each process (not in `create_app`: gunicorn may fork after it, and a thread does not survive a fork)."""

    def __init__(self, app: Flask, max_body_bytes: int, dropped: Callable[[int], None]) -> None:
        self._app = app
        self._max_body = max_body_bytes
        self._dropped = dropped
        self._queue: queue.Queue[Entry | None] = queue.Queue(QUEUE_SIZE)  # None: stop
        self._thread = ProcessThread(self._run, "request-history")
        self._last_warning = 0.0
        self._inserts: dict[tuple[str, tuple[str, ...]], _BulkInsert] = {}  # compiled on first use

    def add(self, entry: Entry) -> None:
        """Never blocks and never raises into the request."""
        self._thread.ensure()
        try:
            self._queue.put_nowait(entry)
        except queue.Full:
            self._lose(1, "the history queue is full (the database is slower than the requests)")

    def set_max_body_bytes(self, limit: int) -> None:
        """The body cap changed on the settings page: entries written from now on are cut at `limit` bytes."""
        self._max_body = limit

    def close(self, timeout: float = 5.0) -> None:
        """Write what is queued and end the thread (an app that is done with: tests make many)."""
        if self._thread.running_here:
            self._queue.put(None)
            self._thread.join(timeout)

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every entry added so far is written (or dropped); False if `timeout` passed first."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.01)
        return not self._queue.unfinished_tasks

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                self._queue.task_done()
                return
            batch = [first]
            # Gather what arrives within BATCH_SECONDS: one transaction for many requests costs the
            # worker far less than one each (under gevent this "thread" shares the worker's loop).
            deadline = time.monotonic() + BATCH_SECONDS
            while len(batch) < BATCH_SIZE:
                try:
                    entry = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
                if entry is None:  # stop after this batch
                    self._queue.task_done()
                    self._queue.put(None)
                    break
                batch.append(entry)
            # Written a slice at a time, each its own transaction, with a pause between: under gevent
            # this thread is a greenlet of the worker's one OS thread, and a slice holds the worker's
            # requests up for a few ms, not a whole batch's tens.
            for first in range(0, len(batch), WRITE_SLICE):
                chunk = batch[first:first + WRITE_SLICE]
                try:
                    self._write(chunk)
                except Exception as exc:  # noqa: BLE001 - the history must never stop the router
                    self._lose(len(chunk), f"writing to the database failed ({type(exc).__name__}: {exc})")
                finally:
                    for _ in chunk:
                        self._queue.task_done()
                time.sleep(0)  # a yield to the worker's requests (gevent); nothing for a real thread

    def _rows(self, entry: Entry) -> tuple[dict[str, Any], dict[str, Any]]:
        """The entry's record and bodies rows (plain dicts: one multi-row INSERT each per batch)."""
        fields = dict(vars(entry))  # a shallow copy: asdict would deep-copy every body
        request_raw, answer_raw, relayed = fields.pop("request_raw"), fields.pop("answer_raw"), fields.pop("relayed")
        relayed_cut = fields.pop("relayed_cut")
        if relayed is not None:
            answer, usage = stream_summary(relayed)
        elif answer_raw is not None:
            answer, usage = answer_summary(entry.endpoint, answer_raw)
        else:
            answer, usage = "", None
        fields["prompt_tokens"] = _tokens(usage, "prompt_tokens")
        fields["completion_tokens"] = _tokens(usage, "completion_tokens")
        details = (usage or {}).get("prompt_tokens_details")
        fields["cached_tokens"] = _tokens(details if isinstance(details, dict) else None, "cached_tokens")
        fields["cost_usd"], fields["unpriced"] = self._cost(entry, usage)
        request_body, cut_request = _cut(_readable(request_raw) if request_raw else "", self._max_body)
        response_body, cut_response = _cut(answer, self._max_body)
        return fields, {"id": entry.id, "request_body": request_body, "response_body": response_body,
                        "truncated": cut_request or cut_response or relayed_cut}

    def _cost(self, entry: Entry, usage: dict[str, Any] | None) -> tuple[Decimal | None, bool]:
        """(cost in USD, unpriced) of an answered cloud request, at today's prices: stored with the row, so
        later price changes never rewrite it. Without a price, or without usage to price (a stream cut
        before its usage), the cost is unknown: None and unpriced, never 0. Local and failed requests:
        (None, False)."""
        reference = cloud_reference(entry.model) if entry.model else None
        if reference is None or reference[0] not in PROVIDERS or reference[0] != entry.node or entry.status != 200:
            return None, False
        provider, model = reference
        amount = cost(price_for(self._app.extensions["prices"].table(), provider, model), usage)
        return amount, amount is None

    def _write(self, batch: list[Entry]) -> None:
        rows = [self._rows(entry) for entry in batch]
        with self._app.app_context():
            try:
                connection = db.session.connection()
                for table, table_rows in ((RequestRecord.__table__, [record for record, _bodies in rows]),
                                          (RequestBody.__table__, [bodies for _record, bodies in rows])):
                    key = (table.name, tuple(table_rows[0]))
                    if key not in self._inserts:
                        self._inserts[key] = _BulkInsert.of(table, list(table_rows[0]), connection.dialect)
                    self._inserts[key].run(connection, table_rows)
                rollups.add(db.session, [record for record, _bodies in rows])
                db.session.commit()
            except Exception:
                db.session.rollback()
                raise
            finally:
                db.session.remove()

    def _lose(self, count: int, why: str) -> None:
        self._dropped(count)
        now = time.monotonic()
        if now - self._last_warning >= _WARN_EVERY_SECONDS:
            self._last_warning = now
            log.warning("request history: %d request(s) not recorded: %s; requests are served as usual", count, why)


@dataclass(frozen=True)
class _BulkInsert:
    """An INSERT of a table's given columns, compiled once for a dialect, with each column's bind
    processor: one executemany per batch, each value converted by its column's type only. A Core insert
    builds each row's parameters through the compiler: a third of the history writer's CPU."""

    sql: str
    order: tuple[tuple[str, Callable[[Any], Any] | None], ...]
    positional: bool

    @classmethod
    def of(cls, table: Table, names: list[str], dialect: Dialect) -> _BulkInsert:
        compiled = insert(table).values({name: bindparam(name) for name in names}).compile(dialect=dialect)
        order = list(compiled.positiontup or []) if dialect.positional else names
        convert = tuple((name, table.c[name].type.dialect_impl(dialect).bind_processor(dialect)) for name in order)
        return cls(str(compiled), convert, dialect.positional)

    def run(self, connection: Connection, rows: list[dict[str, Any]]) -> None:
        if self.positional:
            values: list[Any] = [tuple(convert(row[name]) if convert else row[name] for name, convert in self.order)
                                 for row in rows]
        else:
            values = [{name: convert(row[name]) if convert else row[name] for name, convert in self.order}
                      for row in rows]
        connection.exec_driver_sql(self.sql, values)


def stream_summary(events: bytes) -> tuple[str, dict[str, Any] | None]:
    """A streamed answer assembled from its server-sent events: the JSON of its text, finish reason and
    usage (as a non-streamed answer would have them), and the usage alone."""
    text: list[str] = []
    finish_reason = None
    usage = None
    for line in events.decode("utf-8", "replace").splitlines():
        if not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if not data or data == "[DONE]":
            continue
        try:
            chunk = json.loads(data)
        except ValueError:
            continue
        if not isinstance(chunk, dict):
            continue
        if isinstance(chunk.get("usage"), dict):
            usage = chunk["usage"]
        for choice in chunk.get("choices") or []:
            if not isinstance(choice, dict):
                continue
            delta = choice.get("delta") if isinstance(choice.get("delta"), dict) else {}
            piece = delta.get("content") if delta else choice.get("text")
            if isinstance(piece, str):
                text.append(piece)
            finish_reason = choice.get("finish_reason") or finish_reason
        if isinstance(chunk.get("error"), dict):
            return json.dumps({"text": "".join(text), "error": chunk["error"]}, ensure_ascii=False), usage
    summary = {"text": "".join(text), "finish_reason": finish_reason, "usage": usage}
    return json.dumps(summary, ensure_ascii=False), usage


def answer_summary(endpoint: str, body: bytes) -> tuple[str, dict[str, Any] | None]:
    """A whole answer as stored (embeddings as their count and dimensions, not the vectors), and its usage."""
    try:
        answer = json.loads(body)
    except ValueError:
        return body.decode("utf-8", "replace"), None
    if not isinstance(answer, dict):
        return body.decode("utf-8", "replace"), None
    usage = answer.get("usage") if isinstance(answer.get("usage"), dict) else None
    if endpoint.endswith("/embeddings") and isinstance(answer.get("data"), list):
        vectors = [item.get("embedding") for item in answer["data"] if isinstance(item, dict)]
        first = vectors[0] if vectors else None
        answer = {**answer, "data": {"count": len(vectors),
                                     "dimensions": len(first) if isinstance(first, (list, str)) else None}}
    elif b"\\u" not in body:
        return body.decode("utf-8", "replace"), usage  # nothing escaped: as it came (see _readable)
    return json.dumps(answer, ensure_ascii=False), usage


def _checkpoint() -> None:
    """Copy what the purge wrote from SQLite's write-ahead log into the database now, in this thread:
    else the writer whose commit fills the log does it, and waits on it (PASSIVE: never waits itself)."""
    if db.session.get_bind().dialect.name == "sqlite":
        db.session.execute(text("PRAGMA wal_checkpoint(PASSIVE)"))
        db.session.commit()


def purge(app: Flask, days: float, now: datetime | None = None, slice_size: int = PURGE_SLICE) -> int:
    """Delete the records older than `days`, `slice_size` rows per transaction; how many went."""
    cutoff = (now or utcnow()) - timedelta(days=days)
    removed = slices = 0
    with app.app_context():
        while True:
            ids = list(db.session.scalars(select(RequestRecord.id).where(RequestRecord.at < cutoff)
                                          .order_by(RequestRecord.at).limit(slice_size)))
            if not ids:
                break
            db.session.execute(delete(RequestBody).where(RequestBody.id.in_(ids)),
                               execution_options={"synchronize_session": False})
            db.session.execute(delete(RequestRecord).where(RequestRecord.id.in_(ids)),
                               execution_options={"synchronize_session": False})
            db.session.commit()
            removed += len(ids)
            slices += 1
            if slices % CHECKPOINT_SLICES == 0:
                _checkpoint()
            time.sleep(PURGE_PAUSE_SECONDS)
        if slices % CHECKPOINT_SLICES:
            _checkpoint()
    with app.app_context():
        body_search.forget_before(cutoff)
        hour_cutoff = (now or utcnow()) - timedelta(days=max(days, ROLLUP_HOURS_DAYS))
        rollups.purge(db.session, minute_cutoff=cutoff, hour_cutoff=hour_cutoff)
        fleet_samples.purge(db.session, minute_cutoff=cutoff, hour_cutoff=hour_cutoff)
        db.session.commit()
    if removed:
        log.info("request history: removed %d request(s) older than %g days", removed, days)
    return removed


def purge_job(app: Flask) -> None:
    purge(app, app.config["REQUEST_HISTORY_DAYS"])
