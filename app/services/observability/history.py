"""Request history: every `/v1` request, with its bodies, kept `LLM_ROUTER_REQUEST_HISTORY_DAYS` days.

The request path only hands an `Entry` to the `HistoryWriter` (`app.extensions["history"]`), which
puts it on a bounded queue; a thread writes the queue in batches. So recording never delays a
request, and when the database is slow or down the request is served anyway: the entry is dropped,
counted (`llm_router_history_dropped`) and logged (once a minute at most). Metadata and bodies are
stored apart (`RequestRecord`, `RequestBody`), so lists never read bodies.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from flask import Flask
from sqlalchemy import delete, select

from ...database import RequestBody, RequestRecord, utcnow
from ...extensions import db

log = logging.getLogger(__name__)

QUEUE_SIZE = 10_000  # entries waiting to be written; beyond it they are dropped, not waited for
BATCH_SIZE = 200
PURGE_SLICE = 2_000  # rows deleted per transaction, so that a purge never holds writers up for long
_WARN_EVERY_SECONDS = 60.0


@dataclass
class Entry:
    """One request as the request path saw it; `request_body` and `response_body` are cut by the writer."""

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
    request_body: str = ""
    response_body: str = ""


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
        self._queue: queue.Queue[Entry] = queue.Queue(QUEUE_SIZE)
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._lock = threading.Lock()
        self._last_warning = 0.0

    def add(self, entry: Entry) -> None:
        """Never blocks and never raises into the request."""
        self._ensure_thread()
        try:
            self._queue.put_nowait(entry)
        except queue.Full:
            self._lose(1, "the history queue is full (the database is slower than the requests)")

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every entry added so far is written (or dropped); False if `timeout` passed first."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.01)
        return not self._queue.unfinished_tasks

    def _ensure_thread(self) -> None:
        if self._thread is not None and self._pid == os.getpid():
            return
        with self._lock:
            if self._thread is None or self._pid != os.getpid():
                self._pid = os.getpid()
                self._thread = threading.Thread(target=self._run, name="request-history", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            while len(batch) < BATCH_SIZE:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                self._write(batch)
            except Exception as exc:  # noqa: BLE001 - the history must never stop the router
                self._lose(len(batch), f"writing to the database failed ({type(exc).__name__}: {exc})")
            finally:
                for _ in batch:
                    self._queue.task_done()

    def _write(self, batch: list[Entry]) -> None:
        with self._app.app_context():
            try:
                pairs = []
                for entry in batch:
                    fields = asdict(entry)
                    request_body, cut_request = _cut(fields.pop("request_body"), self._max_body)
                    response_body, cut_response = _cut(fields.pop("response_body"), self._max_body)
                    record = RequestRecord(**fields)
                    db.session.add(record)
                    pairs.append((record, request_body, response_body, cut_request or cut_response))
                db.session.flush()  # assigns each record's seq
                db.session.add_all(RequestBody(seq=record.seq, request_body=request_body, response_body=response_body,
                                               truncated=truncated)
                                   for record, request_body, response_body, truncated in pairs)
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
    return json.dumps(answer, ensure_ascii=False), usage


def purge(app: Flask, days: float, now: datetime | None = None, slice_size: int = PURGE_SLICE) -> int:
    """Delete the records older than `days`, `slice_size` rows per transaction; how many went."""
    cutoff = (now or utcnow()) - timedelta(days=days)
    removed = 0
    with app.app_context():
        while True:
            seqs = list(db.session.scalars(select(RequestRecord.seq).where(RequestRecord.at < cutoff)
                                           .order_by(RequestRecord.seq).limit(slice_size)))
            if not seqs:
                break
            db.session.execute(delete(RequestBody).where(RequestBody.seq.in_(seqs)),
                               execution_options={"synchronize_session": False})
            db.session.execute(delete(RequestRecord).where(RequestRecord.seq.in_(seqs)),
                               execution_options={"synchronize_session": False})
            db.session.commit()
            removed += len(seqs)
    if removed:
        log.info("request history: removed %d request(s) older than %g days", removed, days)
    return removed


def purge_job(app: Flask) -> None:
    purge(app, app.config["REQUEST_HISTORY_DAYS"])
