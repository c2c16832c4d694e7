"""Cloud costs per day, ISO week and month (app/services/observability/costs.py), against hand-computed sums.

Five cloud requests straddle a week boundary (Sunday 29 to Monday 30 November 2026) and a month boundary
(30 November to 1 December), with costs whose float sum would not be exact (0.1000000001 + 0.2000000002).
In UTC and in Asia/Tokyo (UTC+9) they fall in different days, weeks and months:

| row | at (UTC)          | model                        | cost         | key | Tokyo date |
|-----|-------------------|------------------------------|--------------|-----|------------|
| A   | 11-29 23:30 (Sun) | anthropic:claude-sonnet-4-5  | 0.1000000001 | 1   | 11-30      |
| B   | 11-30 00:10 (Mon) | openai:gpt-4o-mini           | 0.0000459000 | 2   | 11-30      |
| C   | 11-30 20:00       | anthropic:claude-sonnet-4-5  | 0.2000000002 | 1   | 12-01      |
| D   | 12-01 03:00       | google:gemini-2.5-flash      | 0.0004075000 | 2   | 12-01      |
| E   | 12-01 16:00       | openai:gpt-unknown           | unpriced     | 1   | 12-02      |

A local request and a failed cloud request in the same days count in none of the sums.
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from app.config import load_config
from app.errors import ApiError
from app.services.observability.costs import costs
from tests.support.factories import add_cloud_request, add_request_record

KEY_1, KEY_2 = (1, "team-a"), (2, "team-b")
SONNET, MINI, FLASH, UNKNOWN = ("anthropic:claude-sonnet-4-5", "openai:gpt-4o-mini", "google:gemini-2.5-flash",
                                "openai:gpt-unknown")
ZERO = "0.0000000000"


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


@pytest.fixture
def rows(app):
    with app.app_context():
        add_cloud_request(utc("2026-11-29T23:30"), SONNET, "0.1000000001", KEY_1, prompt_tokens=100,
                          completion_tokens=10, cached_tokens=40)
        add_cloud_request(utc("2026-11-30T00:10"), MINI, "0.0000459000", KEY_2, prompt_tokens=200,
                          completion_tokens=20, cached_tokens=0)
        add_cloud_request(utc("2026-11-30T20:00"), SONNET, "0.2000000002", KEY_1, prompt_tokens=300,
                          completion_tokens=30, cached_tokens=100)
        add_cloud_request(utc("2026-12-01T03:00"), FLASH, "0.0004075000", KEY_2, prompt_tokens=400,
                          completion_tokens=40)
        add_cloud_request(utc("2026-12-01T16:00"), UNKNOWN, None, KEY_1, prompt_tokens=500, completion_tokens=50)
        # neither a local request nor a failed cloud one is a cost
        add_request_record(at=utc("2026-11-30T12:00"), model="qwen3-0.6b", node="box", prompt_tokens=9)
        add_request_record(at=utc("2026-11-30T12:00"), model=MINI, node="openai", status=500)
    return app


def query(app, period: str, time_zone: str, since: str, until: str, group_by: str | None = None) -> dict:
    with app.test_request_context():
        return costs(period, since, until, group_by, time_zone)


def by_label(report: dict, *fields: str) -> dict:
    """{label: (cost_usd, requests, unpriced)} of the buckets that had requests (or `fields`)."""
    names = fields or ("cost_usd", "requests", "unpriced")
    return {bucket["label"]: tuple(bucket[name] for name in names) for bucket in report["buckets"]
            if bucket["requests"]}


def test_days_in_utc(rows):
    report = query(rows, "day", "UTC", "2026-11-23", "2026-12-07")
    assert by_label(report) == {"2026-11-29": ("0.1000000001", 1, 0),
                                "2026-11-30": ("0.2000459002", 2, 0),
                                "2026-12-01": ("0.0004075000", 2, 1)}
    assert len(report["buckets"]) == 14  # every day of the range, the empty ones with 0
    assert report["buckets"][0] == {"start": "2026-11-23", "label": "2026-11-23", "cost_usd": ZERO, "requests": 0,
                                    "unpriced": 0, "prompt_tokens": 0, "completion_tokens": 0, "cached_tokens": 0,
                                    "groups": []}
    assert report["totals"] == {"cost_usd": "0.3004534003", "requests": 5, "unpriced": 1, "prompt_tokens": 1500,
                                "completion_tokens": 150, "cached_tokens": 140}
    assert (report["period"], report["time_zone"], report["currency"]) == ("day", "UTC", "USD")
    assert (report["since"], report["until"]) == ("2026-11-23T00:00:00+00:00", "2026-12-07T00:00:00+00:00")


def test_iso_weeks_start_on_monday_in_utc(rows):
    report = query(rows, "week", "UTC", "2026-11-23", "2026-12-07")
    assert [(bucket["start"], bucket["label"]) for bucket in report["buckets"]] == [("2026-11-23", "2026-W48"),
                                                                                   ("2026-11-30", "2026-W49")]
    assert by_label(report) == {"2026-W48": ("0.1000000001", 1, 0), "2026-W49": ("0.2004534002", 4, 1)}


def test_months_in_utc(rows):
    report = query(rows, "month", "UTC", "2026-11-01", "2027-01-01")
    assert by_label(report, "cost_usd", "requests", "unpriced", "prompt_tokens", "cached_tokens") == {
        "2026-11": ("0.3000459003", 3, 0, 600, 140), "2026-12": ("0.0004075000", 2, 1, 900, 0)}


def test_days_weeks_and_months_in_tokyo(rows):
    days = query(rows, "day", "Asia/Tokyo", "2026-11-23", "2026-12-07")
    # 2026-12-02 had only the unpriced request: its cost is unknown, never "0"
    assert by_label(days) == {"2026-11-30": ("0.1000459001", 2, 0), "2026-12-01": ("0.2004075002", 2, 0),
                              "2026-12-02": (None, 1, 1)}
    assert days["since"] == "2026-11-23T00:00:00+09:00"
    weeks = query(rows, "week", "Asia/Tokyo", "2026-11-23", "2026-12-07")
    assert by_label(weeks) == {"2026-W49": ("0.3004534003", 5, 1)}
    assert weeks["buckets"][0]["label"] == "2026-W48" and weeks["buckets"][0]["cost_usd"] == ZERO
    months = query(rows, "month", "Asia/Tokyo", "2026-11-01", "2027-01-01")
    assert by_label(months) == {"2026-11": ("0.1000459001", 2, 0), "2026-12": ("0.2004075002", 3, 1)}


def test_a_range_cuts_rows_at_its_bounds_in_the_time_zone(rows):
    # Tokyo's 1 December is 30 November 15:00 to 1 December 15:00 UTC: rows C and D only
    report = query(rows, "day", "Asia/Tokyo", "2026-12-01", "2026-12-02")
    assert report["totals"]["cost_usd"] == "0.2004075002" and report["totals"]["requests"] == 2
    # a time with its own offset is taken as given
    report = query(rows, "month", "Asia/Tokyo", "2026-11-30T20:00:00Z", "2026-12-01T03:00:01+00:00")
    assert (report["totals"]["cost_usd"], report["totals"]["requests"]) == ("0.2004075002", 2)


def test_days_follow_the_local_date_across_a_daylight_saving_change(app):
    # Paris, Sunday 25 October 2026: 25 hours (CEST until 03:00, then CET)
    with app.app_context():
        add_cloud_request(utc("2026-10-24T22:30"), SONNET, "1", KEY_1)  # 00:30 CEST on the 25th
        add_cloud_request(utc("2026-10-25T22:30"), SONNET, "2", KEY_1)  # 23:30 CET on the 25th
        add_cloud_request(utc("2026-10-25T23:30"), SONNET, "4", KEY_1)  # 00:30 CET on the 26th
    report = query(app, "day", "Europe/Paris", "2026-10-25", "2026-10-27")
    assert by_label(report) == {"2026-10-25": ("3.0000000000", 2, 0), "2026-10-26": ("4.0000000000", 1, 0)}


@pytest.mark.parametrize("group_by, expected", [
    ("provider", {"2026-11": [("anthropic", "0.3000000003", 2, 0), ("openai", "0.0000459000", 1, 0)],
                  "2026-12": [("google", "0.0004075000", 1, 0), ("openai", None, 1, 1)],
                  "all": [("anthropic", "0.3000000003", 2, 0), ("google", "0.0004075000", 1, 0),
                          ("openai", "0.0000459000", 2, 1)]}),
    ("model", {"2026-11": [(SONNET, "0.3000000003", 2, 0), (MINI, "0.0000459000", 1, 0)],
               "2026-12": [(FLASH, "0.0004075000", 1, 0), (UNKNOWN, None, 1, 1)],
               "all": [(SONNET, "0.3000000003", 2, 0), (FLASH, "0.0004075000", 1, 0), (MINI, "0.0000459000", 1, 0),
                       (UNKNOWN, None, 1, 1)]}),
    ("api_key", {"2026-11": [(1, "0.3000000003", 2, 0), (2, "0.0000459000", 1, 0)],
                 "2026-12": [(2, "0.0004075000", 1, 0), (1, None, 1, 1)],
                 "all": [(1, "0.3000000003", 3, 1), (2, "0.0004534000", 2, 0)]}),
])
def test_group_by(rows, group_by, expected):
    report = query(rows, "month", "UTC", "2026-11-01", "2027-01-01", group_by)

    def groups(items: list[dict]) -> list[tuple]:
        return [(group["key"], group["cost_usd"], group["requests"], group["unpriced"]) for group in items]

    assert report["group_by"] == group_by
    assert {bucket["label"]: groups(bucket["groups"]) for bucket in report["buckets"]} == {
        "2026-11": expected["2026-11"], "2026-12": expected["2026-12"]}
    assert groups(report["groups"]) == expected["all"]
    if group_by == "api_key":
        assert [group["name"] for group in report["groups"]] == ["team-a", "team-b"]


def test_without_since_the_last_30_days_12_weeks_or_12_months_up_to_now(app):
    now = utc("2026-12-03T10:00")
    with app.test_request_context():
        days, weeks, months = (costs(period, None, None, None, "UTC", now=now) for period in ("day", "week", "month"))
    assert [len(report["buckets"]) for report in (days, weeks, months)] == [30, 12, 12]
    assert (days["buckets"][0]["start"], days["buckets"][-1]["start"]) == ("2026-11-04", "2026-12-03")
    assert (weeks["buckets"][0]["label"], weeks["buckets"][-1]["label"]) == ("2026-W38", "2026-W49")
    assert (months["buckets"][0]["label"], months["buckets"][-1]["label"]) == ("2026-01", "2026-12")
    assert days["until"] == "2026-12-03T10:00:00+00:00"


@pytest.mark.parametrize("args, param", [
    ({"period": "year"}, "period"),
    ({"group_by": "user"}, "group_by"),
    ({"since": "yesterday"}, "since"),
    ({"until": "2026-13-01"}, "until"),
    ({"since": "2026-12-01", "until": "2026-12-01"}, "until"),
    ({"since": "2026-12-02", "until": "2026-12-01"}, "until"),
    ({"since": "2020-01-01", "until": "2026-12-01"}, "since"),
    ({"since": "0001-01-01"}, "since"),
    ({"until": "9999-12-31T23:59:59"}, "until"),
])
def test_a_bad_parameter_is_refused_naming_it(app, args, param):
    with app.test_request_context(), pytest.raises(ApiError) as refused:
        costs(args.get("period"), args.get("since"), args.get("until"), args.get("group_by"), "UTC")
    assert (refused.value.status, refused.value.param) == (400, param)


def test_the_time_zone_setting_is_checked_at_start():
    assert load_config({})["COST_TIME_ZONE"] == "UTC"
    assert load_config({"LLM_ROUTER_COST_TIME_ZONE": "Asia/Tokyo"})["COST_TIME_ZONE"] == "Asia/Tokyo"
    with pytest.raises(ValueError, match="LLM_ROUTER_COST_TIME_ZONE='Mars/Olympus' is not valid: must be a time zone"):
        load_config({"LLM_ROUTER_COST_TIME_ZONE": "Mars/Olympus"})
