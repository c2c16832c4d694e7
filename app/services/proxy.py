"""Forwarding one OpenAI request to a node: choice, failover, and relaying the answer.

Failover: a node that refuses or drops the connection, sends nothing within the read timeout, or
answers 5xx (or 401: the router's token for it is outdated) is cooled down and the next candidate
is tried, up to `NODE_ATTEMPTS` nodes. A 4xx is the client's mistake as the node sees it and is
passed through unchanged. When every attempt failed, the client gets the last node's 5xx answer
as it was, or 502 `node_unreachable` / 504 `node_timeout` when no node answered at all.

Streams: nothing reaches the client before the node's first complete event has arrived, so a node
that fails before that is failed over like any other. After it, bytes are relayed as they arrive,
cut only at event boundaries (a client never sees half an event); a node that dies or stalls
mid-stream yields an error event and `data: [DONE]`, never a silently truncated answer. When the
client goes away, gunicorn closes the relay, which closes the node connection: the node stops.

`X-Router-Overhead-Ms`: the router's own time for the request — from when the application
received it (after gunicorn parsed it) to when the response object is built, minus the time spent
in the queue and the time waiting for nodes (from sending the body to a node until its complete
answer — for a stream, its first event — has arrived, failed attempts included). For a stream it
therefore covers everything before the first event is relayed, not the relaying itself.
`X-Router-Queue-Ms` is the queue wait alone.
"""

from __future__ import annotations

import http.client
import json
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from flask import Flask, Response, current_app, g, request
from flask_babel import get_locale
from flask_babel import gettext as _

from ..errors import ApiError, error_response
from . import metrics, openai_requests
from .balancer import Balancer, QueueFull, QueueTimeout
from .node_client import Exchange, NodeConnections, NodeTarget, NodeUnreachable
from .routing import RoutingTable

log = logging.getLogger(__name__)

REQUEST_START = "llm_router.request_start"  # environ key: perf_counter() when the app got the request
READ_SIZE = 65536
_DONE_EVENTS = (b"data: [DONE]\n\n", b"data: [DONE]\r\n\r\n")
_STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


@dataclass
class Inference:
    """The per-process state of the proxy, kept in `app.extensions["inference"]`."""

    table: RoutingTable
    balancer: Balancer
    connections: NodeConnections
    attempts: int
    queue_timeout: float
    retry_after: int
    max_body_bytes: int

    @classmethod
    def for_app(cls, app: Flask) -> "Inference":
        config = app.config
        return cls(RoutingTable(config["ROUTING_CACHE_SECONDS"]),
                   Balancer(config["NODE_MAX_CONCURRENCY"], config["QUEUE_SIZE"], config["NODE_COOLDOWN_SECONDS"]),
                   NodeConnections(config["NODE_CONNECT_TIMEOUT_SECONDS"], config["NODE_READ_TIMEOUT_SECONDS"]),
                   config["NODE_ATTEMPTS"], config["QUEUE_TIMEOUT_SECONDS"],
                   max(1, round(config["NODE_POLL_SECONDS"])), config["INFERENCE_MAX_BODY_BYTES"])


class _Clock:
    """Splits the request's time into the router's own and the waits it does not count."""

    __slots__ = ("start", "queued", "upstream")

    def __init__(self, start: float) -> None:
        self.start = start
        self.queued = 0.0
        self.upstream = 0.0

    def headers(self) -> dict[str, str]:
        own = time.perf_counter() - self.start - self.queued - self.upstream
        return {"X-Router-Overhead-Ms": f"{own * 1000:.2f}", "X-Router-Queue-Ms": f"{self.queued * 1000:.2f}"}


@dataclass
class _Failure:
    target: NodeTarget
    detail: str
    timeout: bool = False
    answer: Response | None = None  # a node's 5xx, ready to pass on


def forward(kind: openai_requests.Kind, path: str) -> Response:
    """Handle the current request: validate, pick a node, forward, fail over, answer."""
    clock = _Clock(request.environ.get(REQUEST_START) or time.perf_counter())
    state: Inference = current_app.extensions["inference"]
    request.max_content_length = state.max_body_bytes  # larger bodies: 413 request_too_large
    raw = request.get_data(cache=False)
    parsed = openai_requests.parse(kind, raw)
    try:
        candidates = state.table.resolve(parsed.model, state.retry_after)
    except ApiError as exc:
        if exc.code != "model_not_found":
            g.inference_model = parsed.model  # registered (downloading, no node...): safe as a metrics label
        raise
    g.inference_model = parsed.model
    tried: set[str] = set()
    failures: list[_Failure] = []
    deadline = time.monotonic() + state.queue_timeout
    for attempt in range(min(state.attempts, len(candidates))):
        target = _acquire(state, parsed.model, candidates, tried, deadline, attempt, clock)
        tried.add(target.node_id)
        outcome = _attempt(state, target, path, raw, parsed.stream, clock)
        if isinstance(outcome, Response):
            return outcome
        failures.append(outcome)
    return _all_failed(parsed.model, failures, clock)


def _attempt(state: Inference, target: NodeTarget, path: str, raw: bytes, stream: bool,
             clock: _Clock) -> Response | _Failure:
    """One node's try. Frees the node's slot when done, except for a stream: its relay owns it then."""
    sent = time.perf_counter()
    try:
        exchange = state.connections.post(target, path, raw)
    except NodeUnreachable as exc:
        clock.upstream += time.perf_counter() - sent
        return _fail(state, target, exc.detail, exc.timeout)
    try:
        return _answer(state, target, exchange, stream, clock, sent)
    except NodeUnreachable as exc:
        exchange.finish(complete=False)
        clock.upstream += time.perf_counter() - sent
        return _fail(state, target, exc.detail, exc.timeout)
    except BaseException:
        exchange.finish(complete=False)
        state.balancer.release(target)
        raise


def _answer(state: Inference, target: NodeTarget, exchange: Exchange, stream: bool, clock: _Clock,
            sent: float) -> Response | _Failure:
    response = exchange.response
    status = response.status
    if status >= 500 or status == 401:
        answer = _read_failed_answer(exchange)
        clock.upstream += time.perf_counter() - sent
        if status == 401:
            state.table.invalidate()  # the node registered again: its token changed
        return _fail(state, target, f"HTTP {status}", answer=answer)
    if stream and status == 200 and "text/event-stream" in (response.getheader("Content-Type") or ""):
        first = _first_events(response)
        clock.upstream += time.perf_counter() - sent
        relay = _Relay(first, exchange, lambda failed: state.balancer.release(target, failed),
                       _interruption_messages())
        return Response(relay, 200, headers={**_STREAM_HEADERS, **clock.headers()}, content_type="text/event-stream")
    try:
        body = response.read()
    except TimeoutError:
        raise NodeUnreachable("the answer stopped arriving", timeout=True) from None
    except (OSError, http.client.HTTPException) as exc:
        raise NodeUnreachable(f"answer cut off ({type(exc).__name__})") from None
    exchange.finish(complete=True)
    clock.upstream += time.perf_counter() - sent
    state.balancer.release(target)
    return _passed_on(response, body, clock.headers())


def _acquire(state: Inference, model: str, candidates: tuple[NodeTarget, ...], tried: set[str], deadline: float,
             attempt: int, clock: _Clock) -> NodeTarget:
    waiting_since = time.perf_counter()
    try:
        return state.balancer.acquire(candidates, tried, max(0.0, deadline - time.monotonic()),
                                      first_in_line=attempt > 0)
    except QueueFull:
        raise ApiError(429, "queue_full", _("Every node that serves '%(id)s' is busy and %(size)d requests are "
                                            "already waiting. Try again in a moment.", id=model,
                                            size=state.balancer.queue_size),
                       headers={"Retry-After": "1"}) from None
    except QueueTimeout:
        raise ApiError(504, "queue_timeout", _("Every node that serves '%(id)s' stayed busy for %(seconds)s s. "
                                               "Try again later.", id=model, seconds=f"{state.queue_timeout:g}"),
                       headers={"Retry-After": "1"}) from None
    finally:
        clock.queued += time.perf_counter() - waiting_since


def _fail(state: Inference, target: NodeTarget, detail: str, timeout: bool = False,
          answer: Response | None = None) -> _Failure:
    state.balancer.release(target, failed=True)
    metrics.record_node_failure(target.name)
    log.warning("node %s failed (%s); cooling it down for %g s", target.name, detail,
                state.balancer.cooldown_seconds)
    return _Failure(target, detail, timeout, answer)


def _read_failed_answer(exchange: Exchange) -> Response | None:
    response = exchange.response
    try:
        body = response.read()
    except (OSError, http.client.HTTPException):
        exchange.finish(complete=False)
        return None
    exchange.finish(complete=True)
    return _passed_on(response, body, {})


def _passed_on(response: http.client.HTTPResponse, body: bytes, headers: dict[str, str]) -> Response:
    """The node's answer for the client: status, body, content type and Retry-After as the node sent them."""
    retry_after = response.getheader("Retry-After")
    if retry_after:
        headers["Retry-After"] = retry_after
    return Response(body, response.status, headers=headers,
                    content_type=response.getheader("Content-Type") or "application/json")


def _all_failed(model: str, failures: list[_Failure], clock: _Clock) -> Response:
    last = failures[-1]
    if last.answer is not None and last.answer.status_code >= 500:
        last.answer.headers.update(clock.headers())
        return last.answer
    tried = "; ".join(f"{failure.target.name}: {failure.detail}" for failure in failures)
    if last.timeout:
        response = error_response(504, "node_timeout", _("No node answered the request for '%(id)s' in time "
                                                         "(%(tried)s).", id=model, tried=tried))
    else:
        response = error_response(502, "node_unreachable", _("No node could answer the request for '%(id)s' "
                                                             "(%(tried)s).", id=model, tried=tried))
    response.headers.update(clock.headers())
    return response


def _event_end(data: bytes) -> int:
    """Where the last complete server-sent event in `data` ends (0: none complete yet)."""
    end = data.rfind(b"\n\n")
    end_crlf = data.rfind(b"\r\n\r\n")
    return max(end + 2 if end >= 0 else 0, end_crlf + 4 if end_crlf >= 0 else 0)


def _first_events(response: http.client.HTTPResponse) -> bytes:
    """Read until at least one complete event has arrived; what follows it stays for the relay."""
    data = b""
    while True:
        try:
            chunk = response.read1(READ_SIZE)
        except TimeoutError:
            raise NodeUnreachable("no stream event in time", timeout=True) from None
        except (OSError, http.client.HTTPException, ValueError) as exc:
            raise NodeUnreachable(f"stream cut off before its first event ({type(exc).__name__})") from None
        if not chunk:
            raise NodeUnreachable("stream ended before its first event")
        data += chunk
        if _event_end(data):
            return data


_interruptions: dict[str, dict[str, bytes]] = {}  # per language


def _interruption_messages() -> dict[str, bytes]:
    """The error events a broken stream ends with, translated now (the relay runs outside the request)
    and once per language (every stream needs them at hand, few ever use them)."""
    language = str(get_locale())
    events = _interruptions.get(language)
    if events is None:
        def event(message: str) -> bytes:
            error = {"message": message, "type": "server_error", "param": None, "code": "stream_interrupted"}
            return b"data: " + json.dumps({"error": error}).encode() + b"\n\n" + _DONE_EVENTS[0]
        events = _interruptions[language] = {
            "timeout": event(_("The node stopped sending in the middle of the answer; the answer is incomplete.")),
            "broken": event(_("The connection to the node broke in the middle of the answer; the answer is "
                              "incomplete.")),
        }
    return events


class _Relay:
    """The client's stream, iterated by gunicorn's write loop. gunicorn calls `close()` when the
    client went away (a write failed) or the stream ended; either way the node connection and slot
    are given back exactly once — also when the stream is closed before it was ever started."""

    def __init__(self, first: bytes, exchange: Exchange, release: Callable[[bool], None],
                 interrupted: dict[str, bytes]) -> None:
        self._exchange = exchange
        self._release = release
        self._finished = False
        self._events = self._run(first, interrupted)

    def __iter__(self) -> "_Relay":
        return self

    def __next__(self) -> bytes:
        return next(self._events)

    def close(self) -> None:
        self._events.close()
        self._finish(complete=False, failed=False)

    def _finish(self, complete: bool, failed: bool) -> None:
        if not self._finished:
            self._finished = True
            self._exchange.finish(complete)
            self._release(failed)

    def _run(self, first: bytes, interrupted: dict[str, bytes]) -> Iterator[bytes]:
        response = self._exchange.response
        cut = _event_end(first)
        pending = first[cut:]
        done = first[:cut].endswith(_DONE_EVENTS)
        complete = failed = False
        try:
            yield first[:cut]
            while True:
                try:
                    chunk = response.read1(READ_SIZE)
                except TimeoutError:
                    failed = True
                    yield interrupted["timeout"]
                    return
                except (OSError, http.client.HTTPException, ValueError):
                    failed = True
                    yield interrupted["broken"]
                    return
                if not chunk:
                    break
                pending += chunk
                cut = _event_end(pending)
                if cut:
                    events, pending = pending[:cut], pending[cut:]
                    done = events.endswith(_DONE_EVENTS)
                    yield events
            if done and not pending.strip():
                complete = True
            else:  # the node ended the stream cleanly but early: still an incomplete answer
                failed = True
                yield interrupted["broken"]
        finally:
            self._finish(complete, failed)
