"""The Overview, the dashboard's start page (`/`): the fleet's counts now, and how the router answered
requests over the last hour, 24 hours or 7 days, each figure against the window before.

The view renders the first state from the overview service (numbers without JavaScript); the page's
script then refreshes it from `GET /v0/overview` every poll interval and draws the graphs. The words
and number formats here are the ones js/overview.js uses, so a refresh changes figures, not wording.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import render_template, request
from flask_babel import format_decimal, format_percent, gettext as _

from ..access import Access, access
from ..errors import ApiError
from ..services.observability import overview as overview_service
from . import bp
from .formatting import moment

WINDOWS = tuple(overview_service.WINDOWS)  # "1h", "24h", "7d"
DEFAULT_WINDOW = "1h"

# How each figure is written: a count, a share (0..1) as a percentage, milliseconds, tokens per second.
FORMATS = {"requests": "count", "errors": "count", "client_errors": "count", "refused": "count",
           "error_rate": "percent", "latency_p50_ms": "ms", "latency_p95_ms": "ms", "ttft_p50_ms": "ms",
           "tokens_per_second": "rate", "prompt_tokens": "count", "completion_tokens": "count"}
# Which way a change is better: more tokens per second is better; more errors or a slower answer is
# worse; more requests (or tokens) is neither. The page says it in words, never by colour alone.
UP_IS_GOOD = frozenset({"tokens_per_second"})
UP_IS_BAD = frozenset({"errors", "refused", "error_rate", "latency_p50_ms", "latency_p95_ms", "ttft_p50_ms"})


def window_names() -> dict[str, str]:
    return {"1h": _("Last hour"), "24h": _("Last 24 hours"), "7d": _("Last 7 days")}


def previous_name(window: str) -> str:
    return {"1h": _("Previous hour"), "24h": _("Previous 24 hours"), "7d": _("Previous 7 days")}[window]


def trend_sentences(window: str, change: str) -> dict[str, str]:
    """The sentences of a trend for this window; `change` fills "%(change)s" (the script passes its own
    placeholder through, and fills it in at each refresh)."""
    if window == "1h":
        return {"change": _("%(change)s vs the previous hour", change=change),
                "flat": _("No change vs the previous hour"),
                "none": _("No figures for the previous hour to compare with")}
    if window == "24h":
        return {"change": _("%(change)s vs the previous 24 hours", change=change),
                "flat": _("No change vs the previous 24 hours"),
                "none": _("No figures for the previous 24 hours to compare with")}
    return {"change": _("%(change)s vs the previous 7 days", change=change),
            "flat": _("No change vs the previous 7 days"),
            "none": _("No figures for the previous 7 days to compare with")}


def figure(key: str, value: float | None) -> str:
    """One figure as the page writes it ("1,234", "2.5%", "830 ms", "41.2 tokens/s"); a dash for none."""
    if value is None:
        return "—"
    kind = FORMATS[key]
    if kind == "count":
        return format_decimal(value, format="#,##0")
    if kind == "percent":
        return format_percent(value, format="#,##0.#%")
    number = format_decimal(value, format="#,##0.#")
    return _("%(value)s ms", value=number) if kind == "ms" else _("%(value)s tokens/s", value=number)


def change(trend: float | None) -> str:
    """A relative change with its sign ("+25%", "−3.5%"), or a dash when there is nothing to compare."""
    if trend is None:
        return "—"
    return format_percent(trend, format="+#,##0.#%;-#,##0.#%") if trend else _("No change")


def trend(key: str, current: float | None, relative: float | None, window: str) -> dict[str, Any]:
    """A figure's trend for its card: the direction (arrow), whether that is better or worse, and the
    sentence, e.g. "+25% vs the previous hour"."""
    sentences = trend_sentences(window, change(relative))
    if current is None or (key == "requests" and not current):
        return {"direction": "none", "judgement": "neutral", "text": _("No requests in this time range"),
                "verdict": ""}
    if relative is None:
        return {"direction": "none", "judgement": "neutral", "text": sentences["none"], "verdict": ""}
    if relative == 0:
        return {"direction": "flat", "judgement": "neutral", "text": sentences["flat"], "verdict": ""}
    up = relative > 0
    judgement = "neutral"
    if key in UP_IS_GOOD or key in UP_IS_BAD:
        judgement = "good" if up == (key in UP_IS_GOOD) else "bad"
    verdict = {"good": _("better"), "bad": _("worse"), "neutral": ""}[judgement]
    return {"direction": "up" if up else "down", "judgement": judgement, "text": sentences["change"],
            "verdict": verdict}


def bucket_moment(iso: str) -> str:
    """A bucket's start as every time on the page is written: "2026-12-03 14:05 UTC"."""
    return moment(datetime.fromisoformat(iso))


def _window_from_request() -> str:
    window = request.args.get("window", DEFAULT_WINDOW)
    if window not in WINDOWS:
        raise ApiError(400, "invalid_window", _("There is no time range “%(window)s”. Choose the last hour, the "
                                                "last 24 hours or the last 7 days.", window=window), "window")
    return window


@bp.get("/")
@access(Access.VIEW)
def overview_page():
    window = _window_from_request()
    return render_template("dashboard/overview.html", active_nav="overview", window=window, windows=WINDOWS,
                           summary_keys=tuple(FORMATS), window_names=window_names(),
                           previous_name=previous_name(window),
                           data=overview_service.overview(window), figure=figure, change=change, trend=trend,
                           bucket_moment=bucket_moment, trend_sentences=trend_sentences(window, "%(change)s"))
