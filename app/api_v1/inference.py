"""`POST /v1/chat/completions`, `/v1/completions`, `/v1/embeddings`: forwarded to a node (app.services.proxy)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask, Response, g, request
from flask.blueprints import BlueprintSetupState

from ..auth import Access, access
from ..services import metrics, proxy
from . import bp


class _RequestClock:
    """WSGI middleware: notes when the application got the request, so `X-Router-Overhead-Ms` also
    counts authentication and everything else before the view runs."""

    def __init__(self, wsgi_app: Callable[..., Iterable[bytes]]) -> None:
        self.wsgi_app = wsgi_app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        environ[proxy.REQUEST_START] = time.perf_counter()
        return self.wsgi_app(environ, start_response)


@bp.record_once
def _set_up(state: BlueprintSetupState) -> None:
    app: Flask = state.app
    app.extensions["inference"] = proxy.Inference.for_app(app)
    app.wsgi_app = _RequestClock(app.wsgi_app)  # type: ignore[method-assign]


_INFERENCE_ENDPOINTS = {"api_v1.chat_completions", "api_v1.completions", "api_v1.embeddings"}


@bp.after_request
def _count(response: Response) -> Response:
    """Every inference answer, errors included, in the Prometheus counters (GET /v0/metrics)."""
    if request.endpoint in _INFERENCE_ENDPOINTS:
        started = request.environ.get(proxy.REQUEST_START) or time.perf_counter()
        metrics.record_inference(request.path, g.get("inference_model", ""), response.status_code,
                                 time.perf_counter() - started)
    return response


@bp.post("/chat/completions")
@access(Access.INFERENCE)
def chat_completions():
    return proxy.forward("chat", "/v1/chat/completions")


@bp.post("/completions")
@access(Access.INFERENCE)
def completions():
    return proxy.forward("completions", "/v1/completions")


@bp.post("/embeddings")
@access(Access.INFERENCE)
def embeddings():
    return proxy.forward("embeddings", "/v1/embeddings")
