"""`GET /v0/metrics`: Prometheus text format (app.services.observability.metrics says what is in it)."""

from __future__ import annotations

from flask import Response

from ..access import Access, access
from ..services.observability import metrics
from . import bp


@bp.get("/metrics")
@access(Access.METRICS)
def prometheus_metrics():
    body, content_type = metrics.current().exposition()
    return Response(body, content_type=content_type, headers={"Cache-Control": "no-store"})
