"""The Costs page (`/costs`): what cloud requests cost per day, ISO week or month, in the configured time
zone, with tables by provider, model and API key.

The figures come from the same service as `GET /v0/costs` (services/observability/costs.py), read once per
render for every table. The part that changes is a partial (`_costs_live.html`), rendered in the page and
at `/costs/_live`, which js/costs.js fetches every poll interval and swaps in (the focus stays put); the
chart's numbers travel in that partial too, so the chart and its table never disagree. A request without
a price is shown as unpriced, with a count and a note: its cost is unknown, never $0.
"""

from __future__ import annotations

from typing import Any

from flask import current_app, render_template, request
from flask_babel import gettext as _

from ..access import Access, access
from ..errors import ApiError
from ..pages import fragment
from ..services.inference.providers.registry import LABELS
from ..services.observability import costs as cost_service
from . import bp
from .formatting import usd  # "$0.000046": 2 to 6 decimals

PERIODS = cost_service.PERIODS
GROUPS = cost_service.GROUPS


def period_names() -> dict[str, str]:
    return {"day": _("Per day"), "week": _("Per week"), "month": _("Per month")}


def _period() -> str:
    period = request.args.get("period", "day")
    if period not in PERIODS:
        raise ApiError(400, "invalid_value", _("There is no period “%(period)s”. Choose per day, per week or per "
                                               "month.", period=period), "period")
    return period


def cost_text(figures: dict[str, Any]) -> str:
    """A bucket's or a group's cost: unknown when every request was unpriced, marked when some were."""
    if figures["cost_usd"] is None:
        return _("Unknown (unpriced)")
    if figures["unpriced"]:
        return _("%(amount)s + unpriced", amount=usd(figures["cost_usd"]))
    return usd(figures["cost_usd"])


def bucket_name(bucket: dict[str, Any], period: str) -> str:
    if period == "week":
        return _("%(week)s (from %(day)s)", week=bucket["label"], day=bucket["start"])
    return bucket["label"]


def group_name(group: dict[str, Any], group_by: str) -> str:
    if group_by == "provider":
        return LABELS.get(group["key"], group["key"])
    if group_by == "api_key":
        return (group["name"] or _("Key %(id)s", id=group["key"])) if group["key"] is not None else _("No API key")
    return group["key"]


def _context(period: str) -> dict[str, Any]:
    time_zone = current_app.config["COST_TIME_ZONE"]  # read each time: the settings page may change it
    data = cost_service.report(cost_service.parse(period, None, None, None, time_zone), GROUPS)
    chart = {"labels": [bucket["label"] for bucket in data["buckets"]],
             "costs": [float(bucket["cost_usd"]) if bucket["cost_usd"] is not None else None
                       for bucket in data["buckets"]]}
    # The tables' rows, (name, figures): the periods newest first, the groups by cost.
    bucket_rows = [(bucket_name(bucket, period), bucket) for bucket in reversed(data["buckets"])]
    group_rows = {name: [(group_name(group, name), group) for group in data["groups"][name]] for name in GROUPS}
    return {"period": period, "data": data, "chart": chart, "period_names": period_names(), "cost_text": cost_text,
            "bucket_rows": bucket_rows, "group_rows": group_rows,
            "retention_days": current_app.config["REQUEST_HISTORY_DAYS"]}


@bp.get("/costs")
@access(Access.VIEW)
def costs_page():
    return render_template("dashboard/costs.html", active_nav="costs", periods=PERIODS, **_context(_period()))


@bp.get("/costs/_live")
@access(Access.VIEW)
def costs_fragment():
    return fragment("dashboard/_costs_live.html", **_context(_period()))
