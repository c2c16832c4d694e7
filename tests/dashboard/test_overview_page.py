"""The Overview (`/`) through Flask's test client: the figures it renders before any script runs (from
rollups written as the history writer writes them), its time ranges, a range that does not exist, and
that it is where the dashboard starts."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from app.database import utcnow
from app.extensions import db
from app.services.accounts import users
from app.services.observability import rollups
from tests.support.factories import get, login_session, text
from tests.support.router_process import ADMIN_PASSWORD, ADMIN_USERNAME

VIEWER = ("vera", "viewer password 1")


@pytest.fixture
def viewer(app):
    with app.app_context():
        users.create_user(*VIEWER, "viewer")
    client = app.test_client()
    login_session(client, *VIEWER)
    return client


def answered(minutes_ago: float, duration_ms: float, status: int = 200, **fields) -> dict:
    return {"at": utcnow() - timedelta(minutes=minutes_ago), "status": status, "duration_ms": duration_ms, **fields}


def seed(app, records: list[dict]) -> None:
    with app.app_context():
        rollups.add(db.session, records)
        db.session.commit()


def card(html: str, title_id: str) -> str:
    match = re.search(rf'<section class="metric" aria-labelledby="{title_id}">(.*?)</section>', html, re.S)
    assert match, f"no card {title_id}"
    return text(match.group(1))


def summary_row(html: str, label: str) -> list[str]:
    table = re.search(r'<table class="data-table" id="overview-summary">(.*?)</table>', html, re.S).group(1)
    for row in re.findall(r"<tr>(.*?)</tr>", table, re.S):
        cells = [text(cell) for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)]
        if cells[0] == label:
            return cells[1:]
    raise AssertionError(f"no summary row {label}")


def bucket_rows(html: str) -> list[list[str]]:
    table = re.search(r'id="overview-buckets-table".*?<tbody>(.*?)</tbody>', html, re.S).group(1)
    return [[text(cell) for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)]
            for row in re.findall(r"<tr>(.*?)</tr>", table, re.S)]


def test_a_viewer_sees_the_overview_without_traffic(viewer):
    html = get(viewer, "/")
    assert 'aria-current="page">Overview</a>' in html
    assert "<h1>Overview</h1>" in html
    assert 'href="/?window=1h" aria-current="page">Last hour</a>' in html
    assert card(html, "metric-requests-title").startswith("Requests 0 No requests in this time range")
    assert card(html, "metric-error-rate-title").startswith("Error rate — No requests in this time range")
    assert summary_row(html, "Requests") == ["0", "0", "—"]
    assert summary_row(html, "Latency p95") == ["—", "—", "—"]
    rows = bucket_rows(html)
    assert len(rows) == 60 and all(row[1] == "0" and row[3] == "—" for row in rows)  # counts 0, rates none
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", rows[0][0])
    assert rows[0][0] > rows[-1][0]  # newest first


def test_the_figures_and_trends_of_the_last_hour(app, viewer):
    seed(app, [answered(1, 100.0, ttft_ms=40.0, completion_tokens=30),
               answered(5, 200.0),
               answered(5, 5.0, status=502),
               answered(90, 1000.0)])  # the hour before
    html = get(viewer, "/")
    requests_card = card(html, "metric-requests-title")
    assert requests_card.startswith("Requests 3 +200% vs the previous hour")
    assert "better" not in requests_card and "worse" not in requests_card  # more traffic is neither
    assert card(html, "metric-error-rate-title").startswith(
        "Error rate 33.3% No figures for the previous hour to compare with")  # no error before: no ratio
    latency = card(html, "metric-latency-title")
    assert re.search(r"Latency p50 [\d.,]+ ms -[\d.]+% vs the previous hour better", latency), latency
    assert 'class="trend trend--good" data-trend="latency_p50_ms" data-direction="down"' in html
    assert summary_row(html, "Requests") == ["3", "1", "+200%"]
    assert summary_row(html, "Server errors (5xx)") == ["1", "0", "—"]
    assert summary_row(html, "Output tokens") == ["30", "0", "—"]
    rows = bucket_rows(html)
    assert sum(int(row[1]) for row in rows) == 3 and sum(int(row[2]) for row in rows) == 1
    assert [row[3] for row in rows if row[3] != "—"] == ["0%", "50%"]  # the minute with the 502 is older


def test_a_worse_figure_says_so_in_words(app, viewer):
    seed(app, [answered(2, 900.0), answered(70, 100.0)])
    html = get(viewer, "/")
    assert 'class="trend trend--bad" data-trend="latency_p50_ms" data-direction="up"' in html
    latency = card(html, "metric-latency-title")
    assert re.search(r"Latency p50 [\d.,]+ ms \+[\d.,]+% vs the previous hour worse", latency), latency


@pytest.mark.parametrize("window, rows", [("24h", 24), ("7d", 168)])
def test_longer_time_ranges(app, viewer, window, rows):
    seed(app, [answered(30, 100.0)])
    html = get(viewer, f"/?window={window}")
    assert f'href="/?window={window}" aria-current="page">' in html
    assert 'href="/?window=1h">Last hour</a>' in html
    assert len(bucket_rows(html)) == rows
    assert "Figures per hour, newest first" in html
    assert "Each point of the graphs is one hour" in html
    assert card(html, "metric-requests-title").startswith("Requests 1 No figures for the previous")


def test_an_unknown_time_range_is_refused_with_a_page(viewer):
    response = viewer.get("/?window=5m")
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "There is no time range “5m”" in text(html) and "<h1" in html


def test_the_dashboard_starts_at_the_overview(app, anonymous_client):
    response = anonymous_client.get("/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    login_page = anonymous_client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', login_page).group(1)
    response = anonymous_client.post("/login", data={"username": ADMIN_USERNAME, "password": ADMIN_PASSWORD,
                                                     "csrf_token": token})
    assert response.status_code == 302 and response.headers["Location"] == "/"
    html = get(anonymous_client, "/models")
    assert '<a class="brand" href="/">' in html
    nav = re.search(r'<nav class="site-nav".*?</nav>', html, re.S).group(0)
    assert re.findall(r">([^<>]+)</a>", nav)[:2] == ["Overview", "Models"]


def test_the_page_in_japanese(viewer):
    html = get(viewer, "/", lang="ja")
    assert '<html lang="ja">' in html
    assert 'aria-current="page">過去 1 時間</a>' in html
