"""`POST /v1/chat/completions`, `/v1/completions`, `/v1/embeddings`: forwarded to a node (app.services.inference.relay)."""

from __future__ import annotations

import time

from flask import Response, g, request

from ..access import Access, access
from ..services.observability import metrics, recording
from ..services.inference import relay
from . import bp


_INFERENCE_ENDPOINTS = {"api_v1.chat_completions", "api_v1.completions", "api_v1.embeddings"}


bp.before_request(recording.start)


@bp.after_request
def _count(response: Response) -> Response:
    """Every inference answer, errors included, in the Prometheus counters (GET /v0/metrics), and every
    `/v1` request in the request history (GET /v0/requests)."""
    if request.endpoint in _INFERENCE_ENDPOINTS:
        started = request.environ.get(relay.REQUEST_START) or time.perf_counter()
        metrics.current().record_inference(request.path, g.get("inference_model", ""), response.status_code,
                                           time.perf_counter() - started)
    return recording.finish(response)


@bp.post("/chat/completions")
@access(Access.INFERENCE)
def chat_completions():
    return relay.forward("chat", "/v1/chat/completions")


@bp.post("/completions")
@access(Access.INFERENCE)
def completions():
    return relay.forward("completions", "/v1/completions")


@bp.post("/embeddings")
@access(Access.INFERENCE)
def embeddings():
    return relay.forward("embeddings", "/v1/embeddings")
