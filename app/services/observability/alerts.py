"""Alerts: conditions an operator should hear about, raised and resolved once per poll cycle.

The scheduler's leader (the one process that polls the nodes) calls `evaluate` every
`LLM_ROUTER_NODE_POLL_SECONDS`. It works out which conditions hold now, each under a `key`, and
compares them with the open `Alert` rows: a condition without an open row raises one (and goes to the
webhook, when one is configured); an open row whose condition no longer holds is resolved. So there
is one open alert per key for as long as the condition lasts, however many cycles that is.

Conditions:
- `node_offline:<node id>`: the poller marked the node offline; resolved when it answers again (or
  is removed).
- `download_failed:<node id>:<model id>`: the node reports the model in the `error` state; resolved
  when it no longer does (a retry, the model deleted, the node removed).
- `error_rate`: over the per-minute rollups overlapping the last 5 minutes, 5xx answers / requests
  is above `LLM_ROUTER_ALERT_ERROR_RATE`, with at least MIN_REQUESTS requests (one failure out of
  one request is not an alert).
- `queue_refused`: the queue turned requests away (`refused` > 0) in those minutes.

Rows store the kind and its details, never a sentence: `message` translates them when an alert is
served, so each viewer reads it in their own language (and the webhook in English).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from flask_babel import force_locale, format_percent, gettext as _, ngettext
from sqlalchemy import func, select

from ...database import Alert, Node, NodeModel, RequestRollup, iso_utc, utcnow
from ...errors import ApiError
from ...extensions import db
from ..statuses import ReportState
from .rollups import MINUTE, bucket_start

log = logging.getLogger(__name__)

KINDS = ("node_offline", "download_failed", "error_rate", "queue_refused")
WINDOW = timedelta(minutes=5)
WINDOW_MINUTES = 5
MIN_REQUESTS = 5  # fewer requests than this in the window never make an error-rate alert
MAX_LIMIT = 200
DEFAULT_LIMIT = 50


@dataclass(frozen=True)
class Condition:
    """Something that holds now and deserves an alert while it lasts."""

    key: str
    kind: str
    subject: str | None
    details: dict[str, Any] = field(default_factory=dict)


def _node_conditions() -> list[Condition]:
    offline = db.session.execute(select(Node.id, Node.name, Node.last_seen_at).where(Node.online.is_(False)))
    return [Condition(f"node_offline:{node_id}", "node_offline", name,
                      {"node_id": node_id, "node": name, "last_seen_at": iso_utc(last_seen)})
            for node_id, name, last_seen in offline]


def _download_conditions() -> list[Condition]:
    failed = db.session.execute(select(NodeModel.node_id, Node.name, NodeModel.model_id, NodeModel.error)
                                .join(Node, Node.id == NodeModel.node_id)
                                .where(NodeModel.state == ReportState.ERROR.value))
    return [Condition(f"download_failed:{node_id}:{model_id}", "download_failed", model_id,
                      {"node_id": node_id, "node": name, "model": model_id, "error": (error or "")[:500]})
            for node_id, name, model_id, error in failed]


def _request_conditions(now: datetime, threshold: float) -> list[Condition]:
    """From the per-minute rollups overlapping the last WINDOW (never from the raw history)."""
    since = bucket_start(now - WINDOW, MINUTE)
    requests, errors, refused = db.session.execute(
        select(func.coalesce(func.sum(RequestRollup.requests), 0), func.coalesce(func.sum(RequestRollup.errors), 0),
               func.coalesce(func.sum(RequestRollup.refused), 0))
        .where(RequestRollup.resolution == MINUTE, RequestRollup.start >= since)).one()
    conditions = []
    if requests >= MIN_REQUESTS and errors / requests > threshold:
        conditions.append(Condition("error_rate", "error_rate", None,
                                    {"errors": int(errors), "requests": int(requests),
                                     "rate": round(errors / requests, 4), "threshold": threshold,
                                     "minutes": WINDOW_MINUTES}))
    if refused > 0:
        conditions.append(Condition("queue_refused", "queue_refused", None,
                                    {"refused": int(refused), "minutes": WINDOW_MINUTES}))
    return conditions


def current_conditions(now: datetime | None = None, threshold: float | None = None) -> list[Condition]:
    """Every condition that holds now. Call inside an app context."""
    now = now or utcnow()
    threshold = current_app.config["ALERT_ERROR_RATE"] if threshold is None else threshold
    return _node_conditions() + _download_conditions() + _request_conditions(now, threshold)


def evaluate(now: datetime | None = None) -> list[Alert]:
    """One cycle: raise an alert for each new condition, resolve those that cleared; one transaction.
    Returns the alerts raised, after handing them to the webhook (when there is one)."""
    now = now or utcnow()
    conditions = {condition.key: condition for condition in current_conditions(now)}
    open_alerts = {alert.key: alert for alert in db.session.scalars(select(Alert).where(Alert.resolved_at.is_(None)))}
    for key, alert in open_alerts.items():
        if key not in conditions:
            alert.resolved_at = now
            log.info("alert resolved: %s", key)
    raised = [Alert(key=key, kind=condition.kind, subject=condition.subject, details=condition.details, raised_at=now)
              for key, condition in conditions.items() if key not in open_alerts]
    db.session.add_all(raised)
    db.session.commit()
    webhook = current_app.extensions.get("alert_webhook")
    for alert in raised:
        log.warning("alert raised: %s", english_message(alert))
        if webhook is not None:
            webhook.send(english_message(alert))
    return raised


def message(kind: str, details: Mapping[str, Any]) -> str:
    """The alert as a sentence, in the current request's language."""
    if kind == "node_offline":
        return _("Node %(name)s is offline.", name=details.get("node", "?"))
    if kind == "download_failed":
        if details.get("error"):
            return _("The download of %(model)s failed on node %(node)s: %(error)s", model=details.get("model", "?"),
                     node=details.get("node", "?"), error=details["error"])
        return _("The download of %(model)s failed on node %(node)s.", model=details.get("model", "?"),
                 node=details.get("node", "?"))
    if kind == "error_rate":
        return _("%(rate)s of requests failed in the last %(minutes)s minutes (%(errors)s of %(requests)s); the "
                 "alert threshold is %(threshold)s.", rate=format_percent(details.get("rate", 0), "#,##0.#%"),
                 minutes=details.get("minutes", WINDOW_MINUTES), errors=details.get("errors", 0),
                 requests=details.get("requests", 0),
                 threshold=format_percent(details.get("threshold", 0), "#,##0.#%"))
    if kind == "queue_refused":
        refused = int(details.get("refused", 0))
        return ngettext("The queue turned away %(num)d request in the last %(minutes)s minutes.",
                        "The queue turned away %(num)d requests in the last %(minutes)s minutes.", refused,
                        minutes=details.get("minutes", WINDOW_MINUTES))
    return kind


def english_message(alert: Alert) -> str:
    """The sentence in English, for the log and the webhook (read by operators' chat rooms)."""
    with force_locale("en"):
        return message(alert.kind, alert.details or {})


def record(alert: Alert) -> dict[str, Any]:
    """What the API shows of an alert."""
    return {"id": alert.id, "kind": alert.kind, "subject": alert.subject,
            "message": message(alert.kind, alert.details or {}), "raised_at": iso_utc(alert.raised_at),
            "resolved_at": iso_utc(alert.resolved_at), "details": alert.details or {}}


def _bad(param: str, text: str) -> ApiError:
    return ApiError(400, "invalid_filter", text, param)


def _whole_number(args: Mapping[str, str], name: str, low: int, high: int) -> int | None:
    text = args.get(name)
    if text is None:
        return None
    if not text.isdigit() or len(text) > 18 or not low <= int(text) <= high:
        raise _bad(name, _("'%(param)s' must be a whole number from %(low)d to %(high)d.", param=name, low=low,
                           high=high))
    return int(text)


def listing(args: Mapping[str, str]) -> list[dict[str, Any]]:
    """`GET /v0/alerts`: newest first; `active=1` only unresolved ones, `after=<id>` only later ones (how
    the pages' poller asks for what is new), `limit` up to MAX_LIMIT. 400 naming a bad parameter."""
    active = args.get("active")
    if active not in (None, "", "0", "1", "true", "false"):
        raise _bad("active", _("'active' must be 1 (only unresolved alerts) or 0."))
    after = _whole_number(args, "after", 0, 10 ** 18)
    limit = _whole_number(args, "limit", 1, MAX_LIMIT) or DEFAULT_LIMIT
    query = select(Alert).order_by(Alert.id.desc()).limit(limit)
    if active in ("1", "true"):
        query = query.where(Alert.resolved_at.is_(None))
    if after is not None:
        query = query.where(Alert.id > after)
    return [record(alert) for alert in db.session.scalars(query)]
