"""Which nodes can serve a model now, and why none can when none can.

The routing table (model id -> online nodes holding it `ready`) is read from the database at most
once per `LLM_ROUTER_ROUTING_CACHE_SECONDS` per worker process, not once per request: what it
depends on changes only with node polls (every 10 s) and registrations, and one query per request
would be a large share of the router's own time per request. A model missing from the table takes
the slow path (`unavailable`), which reads the database afresh: a model that has just become
ready is found there and the table refreshed, and any other answer says precisely why not.
"""

from __future__ import annotations

import logging
import threading
import time

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select

from ...errors import ApiError
from ...units import format_bytes
from ...extensions import db
from ...database import Node, NodeModel, RegisteredModel
from ..registry import models as registry
from ..fleet.reports import reports
from ..statuses import Lifecycle, ReportState
from .node_client import NodeTarget, deny_networks

log = logging.getLogger(__name__)


class RoutingTable:
    def __init__(self, ttl_seconds: float) -> None:
        self.ttl = ttl_seconds
        self._ready: dict[str, tuple[NodeTarget, ...]] = {}
        self._expires = 0.0
        self._lock = threading.Lock()
        self._unusable: set[tuple[str, str]] = set()  # (node id, url) already logged as unusable

    def invalidate(self) -> None:
        self._expires = 0.0

    def candidates(self, model_id: str) -> tuple[NodeTarget, ...]:
        """Online nodes holding the model ready (possibly up to `ttl` seconds old); empty if none."""
        if time.monotonic() >= self._expires:
            # One thread refreshes; the others wait for it rather than use a table older than the TTL
            # (a node that registered again has a new address and token).
            with self._lock:
                if time.monotonic() >= self._expires:
                    self._refresh()
        return self._ready.get(model_id, ())

    def _refresh(self) -> None:
        rows = db.session.execute(
            select(NodeModel.model_id, Node.id, Node.name, Node.url, Node.token)
            .join(Node, Node.id == NodeModel.node_id)
            .join(RegisteredModel, RegisteredModel.id == NodeModel.model_id)
            .where(NodeModel.state == ReportState.READY, Node.online.is_(True), RegisteredModel.cancelled.is_(False))
            .order_by(Node.name))
        ready: dict[str, list[NodeTarget]] = {}
        deny = deny_networks(current_app.config.get("NODE_DENY_NETWORKS") or "")
        for model_id, node_id, name, url, token in rows:
            # One bad row (a URL stored by an older router, or one now denied) must not break routing for
            # every model: that node is skipped, and said so once.
            try:
                target = NodeTarget.of(node_id, name, url, token, deny)
            except ValueError as exc:
                if (node_id, url) not in self._unusable:
                    self._unusable.add((node_id, url))
                    log.warning("node %s (%s) is not routed to: its URL %r cannot be used (%s); it must register "
                                "again", name, node_id, url, exc)
                continue
            ready.setdefault(model_id, []).append(target)
        self._ready = {model_id: tuple(targets) for model_id, targets in ready.items()}
        self._expires = time.monotonic() + self.ttl

    def resolve(self, model_id: str, retry_after: int) -> tuple[NodeTarget, ...]:
        """The candidates, or ApiError saying why there are none (404 unknown, 503 otherwise)."""
        targets = self.candidates(model_id)
        if targets:
            return targets
        problem = unavailable(model_id, retry_after)
        if problem is not None:
            raise problem
        with self._lock:  # ready after all: the table was older than the database
            self._refresh()
        targets = self._ready.get(model_id, ())
        if not targets:  # changed again in between: say so rather than guess
            raise ApiError(503, "no_available_nodes", _("No online node has the model '%(id)s' ready. "
                                                        "Try again in a few seconds.", id=model_id),
                           "model", {"Retry-After": str(retry_after)})
        return targets


def unavailable(model_id: str, retry_after: int) -> ApiError | None:
    """Why `model_id` cannot be served now, from the database; None when it can after all."""
    model = db.session.get(RegisteredModel, model_id)
    if model is None:
        return ApiError(404, "model_not_found", _("The model '%(id)s' does not exist. GET /v1/models lists the "
                                                  "models you can use.", id=model_id), "model")
    model_reports = reports(model_id=model_id)
    summary = registry.summary_of(model, model_reports)
    wait = {"Retry-After": str(retry_after)}
    if summary.lifecycle_status == Lifecycle.READY:
        return None
    if summary.lifecycle_status == Lifecycle.PENDING:
        progress = summary.download_progress or {}
        if progress.get("total_bytes"):
            message = _("The model '%(id)s' is still downloading: %(done)s of %(total)s (%(percent)s%%). "
                        "Try again when it is ready.", id=model_id, done=format_bytes(progress["downloaded_bytes"]),
                        total=format_bytes(progress["total_bytes"]), percent=progress["percent"])
        else:
            message = _("The model '%(id)s' is waiting for its download to start on a node. Try again later.",
                        id=model_id)
        return ApiError(503, "model_downloading", message, "model", wait)
    if summary.lifecycle_status == Lifecycle.ERROR:
        return ApiError(503, "model_error", _("The model '%(id)s' cannot be served: %(reason)s", id=model_id,
                                              reason=summary.error or _("every node reported an error.")), "model")
    if any(report.state == ReportState.READY for report in model_reports):
        message = _("The model '%(id)s' is ready only on nodes that are offline now. Try again later.", id=model_id)
    else:
        message = _("No node holds the model '%(id)s' yet. Try again later.", id=model_id)
    return ApiError(503, "no_available_nodes", message, "model", wait)
