"""Cloud costs per day, ISO week or month, in the configured time zone (`GET /v0/costs`, the Costs page).

Each cloud request's cost was computed when it was recorded (history.py) and stored in its row; here the
rows of a range are only summed. The sums are `Decimal`, exact to the stored 10 decimal places, whatever
the number of rows. The buckets are dates in the time zone: a row's time is turned into a local date in
Python, which is the same on SQLite and PostgreSQL (SQL has no portable time zone arithmetic) and right
across a daylight-saving change (a 23- or 25-hour day is still one day). Weeks are ISO weeks, from Monday.

A request whose model had no price is *unpriced*: it is counted as such, and its cost is never taken as
0. A bucket whose requests were all unpriced has no cost (`null`), not "0".

Only answered cloud requests count (costed or unpriced); a failed one is not billed. The rows come from
the request history, so what it has purged (LLM_ROUTER_REQUEST_HISTORY_DAYS) is no longer counted.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from flask_babel import gettext as _
from sqlalchemy import or_, select

from ...database import RequestRecord, as_utc, utcnow
from ...errors import ApiError
from ...extensions import db
from ..catalog.cloud_prices import PROVIDERS, USD_QUANTUM
from ..inference.providers.registry import cloud_reference

PERIODS = ("day", "week", "month")
GROUPS = ("provider", "model", "api_key")
# Buckets shown when `since` is not given: 30 days, 12 weeks or 12 months, the current one included.
DEFAULT_BUCKETS = {"day": 30, "week": 12, "month": 12}
MAX_SPAN = timedelta(days=5 * 366)  # a range longer than about five years is refused (400)
YEARS = (1970, 9000)  # the years `since` and `until` may name
COUNTS = ("requests", "unpriced", "prompt_tokens", "completion_tokens", "cached_tokens")


def zone_of(name: str) -> tzinfo:
    """The time zone named in the configuration; UTC needs no time zone database."""
    return timezone.utc if name == "UTC" else ZoneInfo(name)


@dataclass
class Sums:
    """What a bucket or a group adds up: the priced requests' cost, and each count."""

    cost: Decimal = Decimal(0)
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTS, 0))

    def add(self, row: Any) -> None:
        self.counts["requests"] += 1
        if row.unpriced or row.cost_usd is None:
            self.counts["unpriced"] += 1
        else:
            self.cost += row.cost_usd
        for name in ("prompt_tokens", "completion_tokens", "cached_tokens"):
            self.counts[name] += getattr(row, name) or 0

    def as_dict(self) -> dict[str, Any]:
        """`cost_usd` as an exact decimal string; null when every request was unpriced (the cost is unknown)."""
        requests, unpriced = self.counts["requests"], self.counts["unpriced"]
        cost = None if requests and unpriced == requests else format(self.cost.quantize(USD_QUANTUM), "f")
        return {"cost_usd": cost, **self.counts}


@dataclass(frozen=True)
class Range:
    """A validated query: the period, its bounds (aware, `until` excluded), the grouping and the time zone."""

    period: str
    since: datetime
    until: datetime
    group_by: str | None
    time_zone: str

    @property
    def zone(self) -> tzinfo:
        return zone_of(self.time_zone)


def _bad(param: str, message: str) -> ApiError:
    return ApiError(400, "invalid_value", message, param)


def bucket_start(day: date, period: str) -> date:
    if period == "week":
        return day - timedelta(days=day.weekday())  # ISO weeks start on Monday
    if period == "month":
        return day.replace(day=1)
    return day


def next_bucket(start: date, period: str) -> date:
    if period == "week":
        return start + timedelta(days=7)
    if period == "month":
        return date(start.year + start.month // 12, start.month % 12 + 1, 1)
    return start + timedelta(days=1)


def label(start: date, period: str) -> str:
    """"2026-12-03", "2026-W49" (the ISO year and week of its Monday) or "2026-12"."""
    if period == "week":
        year, week, _weekday = start.isocalendar()
        return f"{year}-W{week:02d}"
    if period == "month":
        return f"{start.year:04d}-{start.month:02d}"
    return start.isoformat()


def _earlier(start: date, period: str, buckets: int) -> date:
    """The start of the bucket `buckets` before the one starting at `start`."""
    if period == "week":
        return start - timedelta(weeks=buckets)
    if period == "month":
        months = start.year * 12 + start.month - 1 - buckets
        return date(months // 12, months % 12 + 1, 1)
    return start - timedelta(days=buckets)


def _midnight(day: date, zone: tzinfo) -> datetime:
    """The first moment of `day` in `zone` (midnight, which exists in every zone that changes at 00:00 too:
    a skipped midnight is read as the moment after the gap)."""
    return datetime.combine(day, time(), zone).astimezone(timezone.utc).astimezone(zone)


def _moment(text: str | None, name: str, zone: tzinfo) -> datetime | None:
    """`since` / `until` as given: a date (its midnight in the time zone) or a date and time (in the time
    zone unless it names its offset); 400 naming the parameter otherwise."""
    if text is None or not text.strip():
        return None
    text = text.strip()
    try:
        moment = datetime.fromisoformat(text)
        if not YEARS[0] <= moment.year <= YEARS[1]:  # far from any request, and from datetime's limits
            raise ValueError(text)
        if len(text) == 10:
            return _midnight(moment.date(), zone)
        return moment.astimezone(zone) if moment.tzinfo else moment.replace(tzinfo=zone)
    except (ValueError, OverflowError):
        raise _bad(name, _("'%(param)s' must be a date such as 2026-12-01, or a date and time such as "
                           "2026-12-01T09:00:00+09:00.", param=name)) from None


def parse(period: str | None, since: str | None, until: str | None, group_by: str | None, time_zone: str,
          now: datetime | None = None) -> Range:
    """The query's parameters checked; 400 naming the first one that is wrong. Without `until`: now.
    Without `since`: the start of the bucket DEFAULT_BUCKETS before `until`'s, so that the last 30 days,
    12 weeks or 12 months show whole (the current one up to now)."""
    period = period or "day"
    if period not in PERIODS:
        raise _bad("period", _("'period' must be day, week or month."))
    if group_by is not None and group_by.strip() == "":
        group_by = None
    if group_by is not None and group_by not in GROUPS:
        raise _bad("group_by", _("'group_by' must be provider, model or api_key."))
    zone = zone_of(time_zone)
    end = _moment(until, "until", zone) or (now or utcnow()).astimezone(zone)
    start = _moment(since, "since", zone)
    if start is None:
        last = bucket_start((end - timedelta(microseconds=1)).date(), period)
        start = _midnight(_earlier(last, period, DEFAULT_BUCKETS[period] - 1), zone)
    if end <= start:
        raise _bad("until", _("'until' must be later than 'since'."))
    if end - start > MAX_SPAN:
        raise _bad("since", _("The range from 'since' to 'until' must not be longer than five years."))
    return Range(period, start, end, group_by, time_zone)


_COLUMNS = (RequestRecord.at, RequestRecord.node, RequestRecord.model, RequestRecord.api_key_id,
            RequestRecord.api_key_name, RequestRecord.prompt_tokens, RequestRecord.completion_tokens,
            RequestRecord.cached_tokens, RequestRecord.cost_usd, RequestRecord.unpriced)


def cloud_rows(since: datetime, until: datetime) -> Iterable[Any]:
    """The answered cloud requests from `since` to `until` (excluded), only the columns summed. `node` is
    the provider for a cloud request, so the (node, at) index reads just these rows. The bounds are bound
    in UTC: SQLite stores UTC times without their offset."""
    query = (select(*_COLUMNS)
             .where(RequestRecord.node.in_(PROVIDERS),
                    RequestRecord.at >= since.astimezone(timezone.utc),
                    RequestRecord.at < until.astimezone(timezone.utc),
                    or_(RequestRecord.cost_usd.is_not(None), RequestRecord.unpriced.is_(True))))
    for row in db.session.execute(query):
        reference = cloud_reference(row.model or "")
        if reference is not None and reference[0] == row.node:  # not a local node that happens to be named so
            yield row


def _group_key(row: Any, group_by: str) -> Any:
    if group_by == "provider":
        return row.node
    if group_by == "model":
        return row.model
    return row.api_key_id


def _groups(sums: dict[Any, Sums], names: dict[Any, str | None], group_by: str) -> list[dict[str, Any]]:
    """Groups by cost, highest first (then by requests, then key); each with its key (and an API key's name)."""
    ordered = sorted(sums.items(), key=lambda item: (-item[1].cost, -item[1].counts["requests"], str(item[0])))
    groups = []
    for key, total in ordered:
        group: dict[str, Any] = {"key": key}
        if group_by == "api_key":
            group["name"] = names.get(key)
        groups.append({**group, **total.as_dict()})
    return groups


def report(query: Range, group_by: Iterable[str] = ()) -> dict[str, Any]:
    """The range's totals and buckets (every bucket, empty ones too, oldest first), and for each name in
    `group_by` the groups' totals over the range (`groups[name]`) and per bucket (`bucket["groups"][name]`)."""
    zone, period, grouped = query.zone, query.period, tuple(group_by)
    first = bucket_start(query.since.date(), period)
    last = bucket_start((query.until - timedelta(microseconds=1)).date(), period)
    starts: list[date] = []
    start = first
    while start <= last:
        starts.append(start)
        start = next_bucket(start, period)
    totals = Sums()
    per_bucket = {start: Sums() for start in starts}
    per_group: dict[str, dict[Any, Sums]] = {name: {} for name in grouped}
    per_bucket_group: dict[str, dict[date, dict[Any, Sums]]] = {name: {} for name in grouped}
    names: dict[Any, str | None] = {}
    for row in cloud_rows(query.since, query.until):
        start = bucket_start(as_utc(row.at).astimezone(zone).date(), period)
        totals.add(row)
        per_bucket[start].add(row)
        if row.api_key_id is not None:
            names[row.api_key_id] = row.api_key_name
        for name in grouped:
            key = _group_key(row, name)
            per_group[name].setdefault(key, Sums()).add(row)
            per_bucket_group[name].setdefault(start, {}).setdefault(key, Sums()).add(row)
    buckets = []
    for start in starts:
        bucket = {"start": start.isoformat(), "label": label(start, period), **per_bucket[start].as_dict()}
        bucket["groups"] = {name: _groups(per_bucket_group[name].get(start, {}), names, name) for name in grouped}
        buckets.append(bucket)
    return {"period": period, "time_zone": query.time_zone, "since": query.since.isoformat(),
            "until": query.until.isoformat(), "currency": "USD", "totals": totals.as_dict(), "buckets": buckets,
            "groups": {name: _groups(per_group[name], names, name) for name in grouped}}


def costs(period: str | None, since: str | None, until: str | None, group_by: str | None, time_zone: str,
          now: datetime | None = None) -> dict[str, Any]:
    """`GET /v0/costs`: the buckets of `period` from `since` to `until` in `time_zone`, each with its cost,
    tokens, requests and unpriced requests, and with `group_by` the groups within each bucket and over the
    range. 400 (naming the parameter) for a wrong one."""
    query = parse(period, since, until, group_by, time_zone, now)
    grouped = report(query, (query.group_by,) if query.group_by else ())
    name = query.group_by
    buckets = [{**{key: value for key, value in bucket.items() if key != "groups"},
                "groups": bucket["groups"][name] if name else []} for bucket in grouped["buckets"]]
    return {**grouped, "group_by": name, "buckets": buckets, "groups": grouped["groups"][name] if name else []}
