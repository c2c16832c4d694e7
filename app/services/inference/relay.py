"""Forwarding one OpenAI request to a node: choice, failover, and relaying the answer. A `<provider>:<model>`
request goes to that cloud provider instead (`cloud`), with the same validation, limits and history.

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

Hostile or broken peers (docs/security.md):
- A client that stops reading: every write to it must make progress within
  `CLIENT_IDLE_TIMEOUT_SECONDS` (a timeout on gunicorn's client socket, which both worker classes
  honour); a write that does not fails, and gunicorn closes the relay, freeing the node's slot.
- One client (API key, or signed-in user) has at most `KEY_MAX_CONCURRENCY` requests in flight in
  a worker, a stream until it ends; more are refused with 429 `too_many_concurrent_requests`.
- A node's answer is held in bounded memory: one stream event at most `MAX_EVENT_BYTES`, a whole
  answer at most `MAX_ANSWER_BYTES`. A node sending more is a failed node (failed over before the
  first byte, an error event after it). Stream buffering scans each byte once: linear time
  however the node cuts its stream into chunks.

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
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, Response, current_app, g, request
from flask_babel import get_locale
from flask_babel import gettext as _
from werkzeug.exceptions import ClientDisconnected

from ...errors import ApiError, error_response
from ..observability.metrics import RouterMetrics
from . import cloud, openai_requests
from .balancer import Balancer, ClientLimit, QueueFull, QueueTimeout
from .node_client import Exchange, NodeConnections, NodeTarget, NodeUnreachable
from .providers.registry import cloud_reference
from .routing import RoutingTable
from .streams import (DONE_EVENTS, MAX_ANSWER_BYTES, MAX_EVENT_BYTES, AnswerTooLarge, EventBuffer, EventTooLarge,
                      RecordedStream, read_whole)

log = logging.getLogger(__name__)

REQUEST_START = "llm_router.request_start"  # environ key: perf_counter() when the app got the request
READ_SIZE = 65536
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
    clients: ClientLimit
    client_idle_timeout: float
    metrics: RouterMetrics
    capture_bytes: int  # of each stream, for the request history (its raw events: a bounded memory cost)
    recording: bool  # the request history is on: streams ask the node for usage (stripped again)
    interruptions: dict[str, dict[str, bytes]] = field(default_factory=dict)  # per language

    @classmethod
    def for_app(cls, app: Flask, metrics: RouterMetrics) -> "Inference":
        config = app.config
        return cls(RoutingTable(config["ROUTING_CACHE_SECONDS"]),
                   Balancer(config["NODE_MAX_CONCURRENCY"], config["QUEUE_SIZE"], config["NODE_COOLDOWN_SECONDS"]),
                   NodeConnections(config["NODE_CONNECT_TIMEOUT_SECONDS"], config["NODE_READ_TIMEOUT_SECONDS"]),
                   config["NODE_ATTEMPTS"], config["QUEUE_TIMEOUT_SECONDS"],
                   max(1, round(config["NODE_POLL_SECONDS"])),
                   ClientLimit(config["KEY_MAX_CONCURRENCY"]), config["CLIENT_IDLE_TIMEOUT_SECONDS"], metrics,
                   config["REQUEST_HISTORY_MAX_BODY_BYTES"] if config["REQUEST_HISTORY_DAYS"] > 0 else 0,
                   config["REQUEST_HISTORY_DAYS"] > 0)


class RequestClock:
    """WSGI middleware (installed by `create_app`): notes when the application got the request, so
    `X-Router-Overhead-Ms` also counts authentication and everything else before the view runs."""

    def __init__(self, wsgi_app: Callable[..., Iterable[bytes]]) -> None:
        self.wsgi_app = wsgi_app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        environ[REQUEST_START] = time.perf_counter()
        return self.wsgi_app(environ, start_response)


class _Clock:
    """Splits the request's time into the router's own and the waits it does not count."""

    __slots__ = ("start", "queued", "upstream")

    def __init__(self, start: float) -> None:
        self.start = start
        self.queued = 0.0
        self.upstream = 0.0

    def add_upstream(self, seconds: float) -> None:
        self.upstream += seconds

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
    g.inference_clock = clock
    state: Inference = current_app.extensions["inference"]
    _limit_client_idle(state.client_idle_timeout)
    try:
        raw = request.get_data(cache=False)
    except ClientDisconnected as exc:  # werkzeug's 400 for a failed read; a timeout is the client's slowness
        if not isinstance(exc.__cause__ or exc.__context__, TimeoutError):
            raise
        raise ApiError(408, "request_timeout", _("The request body stopped arriving for %(seconds)s s.",
                                                 seconds=f"{state.client_idle_timeout:g}")) from None
    g.inference_body = raw
    body, g.requested_model = openai_requests.read_model(raw)
    reference = cloud_reference(g.requested_model)
    parsed = openai_requests.check(kind, body, g.requested_model, cloud=reference is not None)
    g.inference_stream = parsed.stream
    client = _client_of_request()
    if client is not None and not state.clients.enter(client):
        raise ApiError(429, "too_many_concurrent_requests",
                       _("These credentials already have %(limit)d requests in progress, the most one API key or "
                         "user may have at once (setting LLM_ROUTER_KEY_MAX_CONCURRENCY). Try again when one has "
                         "ended; a stream counts until its end.", limit=state.clients.limit),
                       headers={"Retry-After": "1"})
    leave = (lambda: state.clients.leave(client)) if client is not None else _nothing
    relayed = False
    try:
        if reference is not None:
            response = cloud.answer(kind, body, parsed, reference, clock.add_upstream, state.capture_bytes, leave)
            response.headers.update(clock.headers())
        else:
            response = _route(state, parsed, path, raw, clock, leave)
        relayed = isinstance(response.response, RecordedStream)  # the stream calls `leave` when it ends
        return response
    finally:
        if not relayed:
            leave()


def _nothing() -> None:
    return None


def _limit_client_idle(seconds: float) -> None:
    """A timeout on gunicorn's client socket (`gunicorn.socket`, under both worker classes): a write
    to a client that stopped reading fails after `seconds` without progress, and gunicorn then
    closes the relay, which gives the node's slot back. Reading the body is bounded the same way."""
    sock = request.environ.get("gunicorn.socket")
    if sock is not None:
        sock.settimeout(seconds)


def _client_of_request() -> str | None:
    """Whom `KEY_MAX_CONCURRENCY` counts the request against: its API key, or its signed-in user
    (the Playground). None with authentication disabled: there is no one to tell apart."""
    principal = g.get("principal")
    if principal is None:
        return None
    if principal.key is not None:
        return f"key:{principal.key.key_hash}"
    if principal.user is not None:
        return f"user:{principal.user.id}"
    return None


def _route(state: Inference, parsed: openai_requests.InferenceRequest, path: str, raw: bytes, clock: _Clock,
           stream_ended: Callable[[], None]) -> Response:
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
        body = parsed.node_body if parsed.node_body is not None and state.recording else raw
        outcome = _attempt(state, target, path, body, parsed, clock, stream_ended)
        if isinstance(outcome, Response):
            g.inference_node = target.name
            g.failed_nodes = [failure.target.name for failure in failures]
            return outcome
        failures.append(outcome)
    g.failed_nodes = [failure.target.name for failure in failures]
    return _all_failed(parsed.model, failures, clock)


def _attempt(state: Inference, target: NodeTarget, path: str, raw: bytes,
             parsed: openai_requests.InferenceRequest, clock: _Clock,
             stream_ended: Callable[[], None]) -> Response | _Failure:
    """One node's try. Frees the node's slot when done, except for a stream: its relay owns it then."""
    sent = time.perf_counter()
    try:
        exchange = state.connections.post(target, path, raw)
    except NodeUnreachable as exc:
        clock.upstream += time.perf_counter() - sent
        return _fail(state, target, exc.detail, exc.timeout)
    try:
        return _answer(state, target, exchange, parsed, clock, sent, stream_ended)
    except NodeUnreachable as exc:
        exchange.finish(complete=False)
        clock.upstream += time.perf_counter() - sent
        return _fail(state, target, exc.detail, exc.timeout)
    except BaseException:
        exchange.finish(complete=False)
        state.balancer.release(target)
        raise


def _answer(state: Inference, target: NodeTarget, exchange: Exchange, parsed: openai_requests.InferenceRequest,
            clock: _Clock, sent: float, stream_ended: Callable[[], None]) -> Response | _Failure:
    response = exchange.response
    status = response.status
    if status >= 500 or status == 401:
        answer = _read_failed_answer(exchange)
        clock.upstream += time.perf_counter() - sent
        if status == 401:
            state.table.invalidate()  # the node registered again: its token changed
        return _fail(state, target, f"HTTP {status}", answer=answer)
    if parsed.stream and status == 200 and "text/event-stream" in (response.getheader("Content-Type") or ""):
        buffer = EventBuffer()
        first = _first_events(response, buffer)
        clock.upstream += time.perf_counter() - sent

        def release(failed: bool) -> None:
            state.balancer.release(target, failed)
            stream_ended()

        relay = _Relay(first, buffer, exchange, release, _interruption_messages(state),
                       state.capture_bytes, parsed.strip_usage and state.recording)
        return Response(relay, 200, headers={**_STREAM_HEADERS, **clock.headers()}, content_type="text/event-stream")
    try:
        body = _read_answer(response)
    except TimeoutError:
        raise NodeUnreachable("the answer stopped arriving", timeout=True) from None
    except (OSError, http.client.HTTPException, ValueError) as exc:
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
    state.metrics.record_node_failure(target.name)
    log.warning("node %s failed (%s); cooling it down for %g s", target.name, detail,
                state.balancer.cooldown_seconds)
    return _Failure(target, detail, timeout, answer)


class _AnswerTooLarge(NodeUnreachable):
    def __init__(self) -> None:
        super().__init__(f"answer larger than {MAX_ANSWER_BYTES // (1024 * 1024)} MiB")


def _read_answer(response: http.client.HTTPResponse) -> bytes:
    """A node's whole answer, at most `MAX_ANSWER_BYTES` (a larger one is a failed node)."""
    try:
        return read_whole(response, MAX_ANSWER_BYTES)
    except AnswerTooLarge:
        raise _AnswerTooLarge() from None


def _read_failed_answer(exchange: Exchange) -> Response | None:
    response = exchange.response
    try:
        body = _read_answer(response)
    except (OSError, http.client.HTTPException, ValueError, NodeUnreachable):
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


def _first_events(response: http.client.HTTPResponse, buffer: EventBuffer) -> bytes:
    """Read until at least one complete event has arrived; what follows it stays in `buffer` for the relay."""
    while True:
        try:
            chunk = response.read1(READ_SIZE)
        except TimeoutError:
            raise NodeUnreachable("no stream event in time", timeout=True) from None
        except (OSError, http.client.HTTPException, ValueError) as exc:
            raise NodeUnreachable(f"stream cut off before its first event ({type(exc).__name__})") from None
        if not chunk:
            raise NodeUnreachable("stream ended before its first event")
        try:
            events = buffer.add(chunk)
        except EventTooLarge:
            raise NodeUnreachable(f"stream event larger than {MAX_EVENT_BYTES // 1024} KiB") from None
        if events:
            return events


def _interruption_messages(state: Inference) -> dict[str, bytes]:
    """The error events a broken stream ends with, translated now (the relay runs outside the request)
    and once per language per process (every stream needs them at hand, few ever use them)."""
    language = str(get_locale())
    events = state.interruptions.get(language)
    if events is None:
        def event(message: str) -> bytes:
            error = {"message": message, "type": "server_error", "param": None, "code": "stream_interrupted"}
            return b"data: " + json.dumps({"error": error}).encode() + b"\n\n" + DONE_EVENTS[0]
        events = state.interruptions[language] = {
            "timeout": event(_("The node stopped sending in the middle of the answer; the answer is incomplete.")),
            "broken": event(_("The connection to the node broke in the middle of the answer; the answer is "
                              "incomplete.")),
            "too_large": event(_("The node sent a stream event larger than %(size)s; the answer is incomplete.",
                                 size=f"{MAX_EVENT_BYTES // (1024 * 1024)} MiB")),
        }
    return events


class _Relay(RecordedStream):
    """The client's stream, iterated by gunicorn's write loop. gunicorn calls `close()` when the
    client went away (a write failed) or the stream ended; either way the node connection and slot
    are given back exactly once — also when the stream is closed before it was ever started."""

    def __init__(self, first: bytes, buffer: EventBuffer, exchange: Exchange, release: Callable[[bool], None],
                 interrupted: dict[str, bytes], capture_limit: int, strip_usage: bool = False) -> None:
        self._exchange = exchange
        self._release = release
        self._finished = False
        super().__init__(self._run(first, buffer, interrupted), capture_limit, strip_usage)

    def _ended(self) -> None:
        self._finish(complete=False, failed=False)

    def _finish(self, complete: bool, failed: bool) -> None:
        if not self._finished:
            self._finished = True
            self._exchange.finish(complete)
            self._release(failed)

    def _run(self, first: bytes, buffer: EventBuffer, interrupted: dict[str, bytes]) -> Iterator[bytes]:
        response = self._exchange.response
        done = first.endswith(DONE_EVENTS)
        complete = failed = False
        try:
            yield first
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
                try:
                    events = buffer.add(chunk)
                except EventTooLarge:
                    failed = True
                    yield interrupted["too_large"]
                    return
                if events:
                    done = events.endswith(DONE_EVENTS)
                    yield events
            if done and not buffer.pending.strip():
                complete = True
            else:  # the node ended the stream cleanly but early: still an incomplete answer
                failed = True
                yield interrupted["broken"]
        finally:
            self._finish(complete, failed)


def stream_of(response: Response) -> RecordedStream | None:
    """The stream of a streamed answer (to be told when it ends), or None for a whole answer."""
    return response.response if isinstance(response.response, RecordedStream) else None


def queued_ms() -> float:
    """This request's time in the queue so far (0 before it reached one)."""
    clock = g.get("inference_clock")
    return clock.queued * 1000 if clock is not None else 0.0
