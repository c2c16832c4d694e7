"""Reading the request history: filters, cursor pages (newest first) and one record with its bodies."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import Select, or_, select, tuple_
from sqlalchemy.exc import OperationalError

from ...database import RequestBody, RequestRecord, as_utc, iso_utc
from ...errors import ApiError
from ...extensions import db
from ..catalog.cloud_prices import USD_QUANTUM
from . import body_search

MAX_LIMIT = 200
DEFAULT_LIMIT = 50
_STATUS_CLASS = re.compile(r"[1-5]xx")
_CURSOR = re.compile(r"(\d{1,17})-(\d{1,18})")  # microseconds since 1970, then seq
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True)
class Page:
    records: list[dict[str, Any]]
    next_cursor: str | None


def _bad(param: str, message: str) -> ApiError:
    return ApiError(400, "invalid_filter", message, param)


def _moment(args: Mapping[str, str], name: str) -> datetime | None:
    text = args.get(name)
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise _bad(name, _("'%(param)s' must be a time in ISO 8601, such as 2026-12-03T09:30:00Z.",
                           param=name)) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _status(query: Select, text: str) -> Select:
    if text == "error":
        return query.where(RequestRecord.status >= 400)
    if _STATUS_CLASS.fullmatch(text):
        low = int(text[0]) * 100
        return query.where(RequestRecord.status >= low, RequestRecord.status < low + 100)
    if text.isdigit() and len(text) == 3:
        return query.where(RequestRecord.status == int(text))
    raise _bad("status", _("'status' must be an HTTP status such as 503, a class such as 4xx, or error."))


def filtered(args: Mapping[str, str]) -> Select:
    """The records that `args` (the query string of `GET /v0/requests`) asks for; 400 naming a bad filter."""
    query = select(RequestRecord)
    for name in ("model", "node", "endpoint"):
        if args.get(name):
            query = query.where(getattr(RequestRecord, name) == args[name])
    key = args.get("api_key")
    if key:
        query = query.where(RequestRecord.api_key_id == int(key) if key.isdigit() else
                            RequestRecord.api_key_name == key)
    if args.get("status"):
        query = _status(query, args["status"].strip().lower())
    since, until = _moment(args, "since"), _moment(args, "until")
    if since:
        query = query.where(RequestRecord.at >= since)
    if until:
        query = query.where(RequestRecord.at < until)
    if args.get("request_id"):
        query = query.where(or_(RequestRecord.id == args["request_id"],
                                RequestRecord.client_request_id == args["request_id"]))
    if args.get("q"):
        query = query.where(body_search.body_contains(args["q"]))
    return query


def _limit(args: Mapping[str, str]) -> int:
    text = args.get("limit")
    if text is None:
        return DEFAULT_LIMIT
    if not text.isdigit() or not 1 <= int(text) <= MAX_LIMIT:
        raise _bad("limit", _("'limit' must be a whole number from 1 to %(max)d.", max=MAX_LIMIT))
    return int(text)


def _cursor(args: Mapping[str, str]) -> tuple[datetime, int] | None:
    """The (at, seq) of the last row of the page before; exact to the microsecond, as stored."""
    text = args.get("cursor")
    if not text:
        return None
    found = _CURSOR.fullmatch(text)
    if found is None:  # 17 digits: before the year 5000, within what datetime holds
        raise _bad("cursor", _("'cursor' must be a next_cursor from an earlier page."))
    return _EPOCH + int(found[1]) * _MICROSECOND, int(found[2])


def cursor_after(row: RequestRecord) -> str:
    """The cursor of the page after `row`: its time in microseconds, then its seq."""
    return f"{(as_utc(row.at) - _EPOCH) // _MICROSECOND}-{row.seq}"


def record(row: RequestRecord) -> dict[str, Any]:
    """What the API shows of a request, without its bodies."""
    return {"id": row.id, "at": iso_utc(row.at), "client_request_id": row.client_request_id,
            "endpoint": row.endpoint, "model": row.model, "node": row.node, "failed_nodes": row.failed_nodes or [],
            "api_key": {"id": row.api_key_id, "name": row.api_key_name} if row.api_key_id is not None else None,
            "user": row.user, "client_address": row.client_address, "stream": row.stream, "status": row.status,
            "error_code": row.error_code, "duration_ms": row.duration_ms, "ttft_ms": row.ttft_ms,
            "queue_ms": row.queue_ms, "prompt_tokens": row.prompt_tokens, "completion_tokens": row.completion_tokens,
            "cached_tokens": row.cached_tokens, "cost_usd": usd(row.cost_usd), "unpriced": bool(row.unpriced)}


def usd(amount: Decimal | None) -> str | None:
    """A stored cost as the API writes it: an exact decimal string ("0.0012345000"), never a float."""
    return None if amount is None else format(amount.quantize(USD_QUANTUM), "f")


def _rows(args: Mapping[str, str], cursor: tuple[datetime, int] | None, limit: int) -> list[RequestRecord]:
    query = filtered(args)
    if cursor is not None:
        query = query.where(tuple_(RequestRecord.at, RequestRecord.seq) < tuple_(*cursor))
    return list(db.session.scalars(query.order_by(RequestRecord.at.desc(), RequestRecord.seq.desc()).limit(limit)))


def page(args: Mapping[str, str]) -> Page:
    """Newest first; `next_cursor` continues after the last row (None on the last page)."""
    limit, cursor = _limit(args), _cursor(args)
    try:
        rows = _rows(args, cursor, limit + 1)
    except OperationalError:
        if not args.get("q"):
            raise
        db.session.rollback()  # the purge dropped a day of the search index just now: list its days again
        rows = _rows(args, cursor, limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return Page([record(row) for row in rows], cursor_after(rows[-1]) if more else None)


def _body(text: str) -> Any:
    """A stored body as JSON when it is JSON (pretty-printed by the page), else as text."""
    try:
        return json.loads(text) if text else None
    except ValueError:
        return text


def detail(request_id: str) -> dict[str, Any]:
    """One record with its bodies; 404 when it is unknown or already purged."""
    row = db.session.scalar(select(RequestRecord).where(RequestRecord.id == request_id))
    if row is None:
        raise ApiError(404, "request_not_found", _("There is no recorded request with id %(id)s (requests are kept "
                                                   "for a limited number of days).", id=request_id), "id")
    bodies = db.session.get(RequestBody, row.id)
    return {**record(row), "request_body": _body(bodies.request_body) if bodies else None,
            "response_body": _body(bodies.response_body) if bodies else None,
            "truncated": bool(bodies and bodies.truncated)}
