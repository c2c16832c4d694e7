"""A local imitation of a node agent's HTTP API (docs/protocol.md), for tests and benchmarks.

It speaks the real protocol — `GET /v0/status`, `POST /v0/sync`, `POST /v1/chat/completions`,
`/v1/completions`, `/v1/embeddings` with OpenAI bodies and server-sent event streams — and refuses
every call without `Authorization: Bearer <token>` (401), as a node does. What it cannot do is
generate text: answers are made of numbered tokens ("tok0 tok1 ...").

Behaviour is set on the object, between or during requests:
    delay            seconds before answering (before the first event of a stream)
    tokens           deltas per answer
    token_interval   seconds between stream events, at a fixed rate: event i is due at
                     start + i * interval, within a millisecond (one thread sends every stream's due
                     events, see _Ticker); 0 sends them all at once
    mode             "normal" | "fail" (500) | "hang" (read the request, never answer) |
                     "die" (streams: close the socket after `die_after` events; others: close at once) |
                     "stall" (streams: send `die_after` events, then nothing until the client leaves) |
                     "reply" (answer `reply_status` with `reply_body` and `reply_headers`) |
                     "flood" (a large answer: streams send events of `flood_event_bytes` until
                     `flood_bytes` are sent, then `[DONE]`; others one JSON answer of about
                     `flood_bytes`, with a Content-Length, or with framing "close" without one) |
                     "boundless" (streams: `flood_after` normal events, then `flood_bytes` without any
                     event boundary, then the connection closes)
    framing          "chunked" (HTTP/1.1 keep-alive) or "close" (body ends when the connection closes)
    model_reports    per model id, fields for its `GET /v0/status` report (state, bytes, error)
    metrics          the machine figures `GET /v0/status` reports (CPU, memory, GPUs)
and observed on it: `requests` (every inference request: path, body, headers, connection number,
events sent, outcome — "completed", "cancelled" when the client closed the connection mid-answer
(noticed at the next event sent, or at once while waiting), "failed", "died", "stalled", "hung"),
`active` / `max_active`, `connections_accepted`.

Why raw sockets and a thread per connection rather than http.server: the same imitation serves the
proxy benchmark, where the upstream's own CPU time on a shared 2-core machine must stay small.
"""

from __future__ import annotations

import heapq
import json
import select
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

NODE_TOKEN = "node-imitation-token"
_REASONS = {200: "OK", 202: "Accepted", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found",
            405: "Method Not Allowed", 500: "Internal Server Error", 503: "Service Unavailable"}
_INFERENCE_PATHS = ("/v1/chat/completions", "/v1/completions", "/v1/embeddings")


@dataclass
class RecordedRequest:
    path: str
    body: Any
    stream: bool
    headers: dict[str, str] = field(default_factory=dict)  # names in lower case
    connection: int = 0  # which connection it came on (numbered from 1 in accept order)
    outcome: str = "in progress"
    events_sent: int = 0
    finished: threading.Event = field(default_factory=threading.Event)


class _Ticker:
    """One thread sends every stream's due events, in batches at most once a millisecond: a thread per
    stream waking for each token would cost the shared CPU more than the router under test does.
    (A real node batching its streams also emits one token per stream per decoding step, together.)"""

    GRANULARITY = 0.001

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, "_Stream"]] = []
        self._order = 0
        self._wake = threading.Condition()
        threading.Thread(target=self._run, name="imitation-ticker", daemon=True).start()

    def add(self, stream: "_Stream") -> None:
        with self._wake:
            self._order += 1
            heapq.heappush(self._heap, (stream.due(), self._order, stream))
            self._wake.notify()

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._heap:
                    self._wake.wait()
                now = time.monotonic()
                due = []
                while self._heap and self._heap[0][0] <= now + self.GRANULARITY:
                    due.append(heapq.heappop(self._heap)[2])
                if not due:
                    self._wake.wait(max(self._heap[0][0] - now, self.GRANULARITY))
                    continue
            for stream in due:
                if stream.send_next():
                    self.add(stream)
            time.sleep(self.GRANULARITY)


class _Stream:
    """A stream handed to the ticker: its events, when each is due, and how it ended."""

    def __init__(self, connection: socket.socket, events: list[bytes], tail: bytes, interval: float,
                 recorded: "RecordedRequest", die_after: int | None, stall: bool) -> None:
        self.connection = connection
        self.events = events
        self.tail = tail
        self.interval = interval
        self.recorded = recorded
        self.die_after = die_after
        self.stall = stall
        self.sent = 0
        self.start = time.monotonic()
        self.ended = threading.Event()
        self.keep_open = False

    def due(self) -> float:
        return self.start + self.sent * self.interval

    def send_next(self) -> bool:
        """Send the next event; False when the stream is over (finished, died or cancelled)."""
        try:
            if self.sent == self.die_after:
                self.recorded.outcome = "stalled" if self.stall else "died"
                if not self.stall:
                    self.connection.shutdown(socket.SHUT_RDWR)
            elif self.sent < len(self.events):
                self.connection.sendall(self.events[self.sent])
                self.sent += 1
                self.recorded.events_sent = self.sent
                return True
            else:
                self.connection.sendall(self.tail)
                self.recorded.outcome = "completed"
                self.keep_open = True
        except OSError:
            self.recorded.outcome = "cancelled"
        self.ended.set()
        return False


_ticker: _Ticker | None = None
_ticker_lock = threading.Lock()


def _the_ticker() -> _Ticker:
    global _ticker
    with _ticker_lock:
        if _ticker is None:
            _ticker = _Ticker()
        return _ticker


class NodeImitation:
    def __init__(self, models: tuple[str, ...] = ("tiny",), token: str = NODE_TOKEN, name: str = "imitation") -> None:
        self.name = name
        self.token = token
        self.models = list(models)
        self.model_reports: dict[str, dict[str, Any]] = {}  # id -> extra status fields (state, bytes, error)
        self.metrics: dict[str, Any] = {}  # what `GET /v0/status` reports as the machine's figures
        self.delay = 0.0
        self.tokens = 5
        self.token_interval = 0.0
        self.mode = "normal"
        self.die_after = 2
        self.reply_status = 400
        self.reply_body: Any = {"error": {"message": "bad parameter", "type": "invalid_request_error",
                                          "param": "temperature", "code": "invalid_value"}}
        self.reply_headers: dict[str, str] = {}
        self.framing = "chunked"
        self.flood_bytes = 16 * 1024 * 1024
        self.flood_event_bytes = 16 * 1024
        self.flood_after = 0
        self.requests: list[RecordedRequest] = []
        self.active = 0
        self.max_active = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(1024)
        self._connections: set[socket.socket] = set()
        self._idle: set[socket.socket] = set()  # connections waiting for their next request
        self.connections_accepted = 0

    @property
    def port(self) -> int:
        return self._listener.getsockname()[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "NodeImitation":
        threading.Thread(target=self._accept_loop, name=f"{self.name}-accept", daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop listening and drop every open connection (as a node that dies would)."""
        self._stopping.set()
        try:
            self._listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._listener.close()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def drop_idle_connections(self) -> None:
        """Close every keep-alive connection, as a node's idle timeout does (after any answer in progress)."""
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            with self._lock:
                if self._idle == self._connections:
                    break
            time.sleep(0.01)
        with self._lock:
            idle = list(self._idle)
        for connection in idle:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            with self._lock:
                if not self._idle & set(idle):
                    return
            time.sleep(0.01)

    def reset(self) -> None:
        """Back to normal behaviour, records cleared."""
        with self._lock:
            self.requests.clear()
            self.max_active = self.active
        self.delay, self.tokens, self.token_interval, self.mode, self.framing = 0.0, 5, 0.0, "normal", "chunked"
        self.die_after, self.reply_status, self.reply_headers = 2, 400, {}
        self.flood_bytes, self.flood_event_bytes, self.flood_after = 16 * 1024 * 1024, 16 * 1024, 0
        self.model_reports.clear()

    def status(self) -> dict[str, Any]:
        models = [{"id": model, "state": "ready", "downloaded_bytes": 0, "total_bytes": 0, "error": None,
                   **self.model_reports.get(model, {})} for model in self.models]
        return {"version": "imitation", "active_requests": self.active, "models": models, "metrics": self.metrics,
                "loaded_models": list(self.models)}

    def outcomes(self) -> list[str]:
        with self._lock:
            return [recorded.outcome for recorded in self.requests]

    def wait_for_outcome(self, index: int = -1, timeout: float = 10.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                recorded = self.requests[index] if len(self.requests) > (index if index >= 0 else -index - 1) \
                    else None
            if recorded is not None and recorded.finished.wait(max(0.0, deadline - time.monotonic())):
                return recorded.outcome
            time.sleep(0.01)
        raise TimeoutError("the imitation saw no finished request in time")

    # -- connections --------------------------------------------------------------------------------

    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                connection, _address = self._listener.accept()
            except OSError:
                return
            connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self._connections.add(connection)
                self.connections_accepted += 1
                number = self.connections_accepted
            threading.Thread(target=self._serve, args=(connection, number), name=f"{self.name}-conn", daemon=True).start()

    def _serve(self, connection: socket.socket, number: int) -> None:
        buffer = b""
        try:
            while not self._stopping.is_set():
                head_end = buffer.find(b"\r\n\r\n")
                with self._lock:
                    self._idle.add(connection)
                while head_end < 0:
                    data = connection.recv(65536)
                    if not data:
                        return
                    buffer += data
                    head_end = buffer.find(b"\r\n\r\n")
                with self._lock:
                    self._idle.discard(connection)
                lines = buffer[:head_end].decode("latin-1").split("\r\n")
                method, path, _version = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    name, _sep, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
                length = int(headers.get("content-length") or 0)
                buffer = buffer[head_end + 4:]
                while len(buffer) < length:
                    data = connection.recv(65536)
                    if not data:
                        return
                    buffer += data
                body, buffer = buffer[:length], buffer[length:]
                if not self._handle(connection, number, method, path, headers, body):
                    return
        except OSError:
            return
        finally:
            with self._lock:
                self._connections.discard(connection)
                self._idle.discard(connection)
            connection.close()

    def _send(self, connection: socket.socket, status: int, body: bytes, content_type: str = "application/json",
              close: bool = False, headers: dict[str, str] | None = None) -> bool:
        extra = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
        head = (f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}\r\nContent-Type: {content_type}\r\n{extra}"
                f"Content-Length: {len(body)}\r\n{'Connection: close' if close else 'Connection: keep-alive'}\r\n\r\n")
        connection.sendall(head.encode("latin-1") + body)
        return not close

    def _error(self, connection: socket.socket, status: int, code: str, message: str) -> bool:
        body = {"error": {"message": message, "type": "server_error" if status >= 500 else "invalid_request_error",
                          "param": None, "code": code}}
        return self._send(connection, status, json.dumps(body).encode())

    def _handle(self, connection: socket.socket, number: int, method: str, path: str, headers: dict[str, str],
                body: bytes) -> bool:
        """Answer one request; False when the connection must close."""
        if headers.get("authorization") != f"Bearer {self.token}":
            return self._error(connection, 401, "invalid_token", "This node only answers the router.")
        if path == "/v0/status" and method == "GET":
            return self._send(connection, 200, json.dumps(self.status()).encode())
        if path == "/v0/sync" and method == "POST":
            return self._send(connection, 202, b"{}")
        if path not in _INFERENCE_PATHS:
            return self._error(connection, 404, "not_found", f"No such endpoint: {method} {path}.")
        if method != "POST":
            return self._error(connection, 405, "method_not_allowed", f"{method} is not allowed on {path}.")
        try:
            request = json.loads(body)
        except ValueError:
            return self._error(connection, 400, "invalid_request_error", "The request body is not valid JSON.")
        recorded = RecordedRequest(path, request, bool(request.get("stream")), headers, number)
        with self._lock:
            self.requests.append(recorded)
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        try:
            return self._answer(connection, path, request, recorded)
        except OSError:
            recorded.outcome = "cancelled"
            return False
        finally:
            with self._lock:
                self.active -= 1
            recorded.finished.set()

    def _wait(self, connection: socket.socket, seconds: float) -> bool:
        """Sleep, but notice at once when the client closes the connection (False then)."""
        deadline = time.monotonic() + seconds
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return True
            readable, _w, _x = select.select([connection], [], [], min(remaining, 0.5))
            if readable:
                try:
                    if not connection.recv(1, socket.MSG_PEEK):
                        return False
                except OSError:
                    return False
                time.sleep(max(0.0, deadline - time.monotonic()))  # data, not a close: just wait
                return True
            if self._stopping.is_set():
                return False

    def _answer(self, connection: socket.socket, path: str, request: dict[str, Any],
                recorded: RecordedRequest) -> bool:
        mode = self.mode
        if mode == "hang":
            while self._wait(connection, 0.5):
                pass
            recorded.outcome = "hung"
            return False
        if self.delay and not self._wait(connection, self.delay):
            recorded.outcome = "cancelled"
            return False
        if mode == "fail":
            recorded.outcome = "failed"
            return self._error(connection, 500, "internal_error", "The node could not answer; see its log.")
        if mode == "reply":
            recorded.outcome = "completed"
            return self._send(connection, self.reply_status, json.dumps(self.reply_body).encode(),
                              headers=self.reply_headers)
        if mode in ("flood", "boundless"):
            return self._flood(connection, path, request, recorded, mode)
        if mode == "die" and not recorded.stream:
            recorded.outcome = "died"
            connection.shutdown(socket.SHUT_RDWR)
            return False
        model = request.get("model", "")
        if path == "/v1/embeddings":
            inputs = request.get("input")
            inputs = [inputs] if isinstance(inputs, str) else inputs or []
            data = [{"object": "embedding", "index": i, "embedding": [0.5, -0.25, float(i)]} for i in range(len(inputs))]
            tokens = sum(len(str(item).split()) for item in inputs)
            recorded.outcome = "completed"
            return self._send(connection, 200, json.dumps({
                "object": "list", "model": model, "data": data,
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}).encode())
        chat = path == "/v1/chat/completions"
        usage = {"prompt_tokens": 3, "completion_tokens": self.tokens, "total_tokens": 3 + self.tokens}
        if recorded.stream:
            return self._stream(connection, chat, model, request, usage, recorded)
        text = " ".join(f"tok{i}" for i in range(self.tokens))
        choice: dict[str, Any] = {"index": 0, "logprobs": None, "finish_reason": "length"}
        if chat:
            choice["message"] = {"role": "assistant", "content": text}
        else:
            choice["text"] = text
        recorded.outcome = "completed"
        return self._send(connection, 200, json.dumps({
            "id": "imitation-1", "object": "chat.completion" if chat else "text_completion", "created": 0,
            "model": model, "choices": [choice], "usage": usage}).encode())

    def _stream(self, connection: socket.socket, chat: bool, model: str, request: dict[str, Any],
                usage: dict[str, int], recorded: RecordedRequest) -> bool:
        chunked = self.framing == "chunked"
        head = ("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
                + ("Transfer-Encoding: chunked\r\n\r\n" if chunked else "Connection: close\r\n\r\n"))
        connection.sendall(head.encode("latin-1"))
        kind = "chat.completion.chunk" if chat else "text_completion"
        prefix = json.dumps({"id": "imitation-1", "object": kind, "created": 0, "model": model})[:-1]

        def event(payload: str) -> bytes:
            data = f"data: {payload}\n\n".encode()
            return b"%x\r\n%s\r\n" % (len(data), data) if chunked else data

        def delta(i: int | None, finish: str | None = None) -> bytes:
            text = f"tok{i} " if i is not None else ""
            if chat:
                choice = {"index": 0, "delta": {"content": text} if i is not None else {}, "finish_reason": finish}
            else:
                choice = {"index": 0, "text": text, "finish_reason": finish}
            return event(f'{prefix}, "choices": [{json.dumps(choice)}]}}')

        tail = delta(None, "length")
        if (request.get("stream_options") or {}).get("include_usage"):
            tail += event(f'{prefix}, "choices": [], "usage": {json.dumps(usage)}}}')
        tail += event("[DONE]") + (b"0\r\n\r\n" if chunked else b"")
        events = [delta(i) for i in range(self.tokens)]
        stall = self.mode == "stall"
        die_after = self.die_after if self.mode in ("die", "stall") else None
        if self.token_interval > 0:
            stream = _Stream(connection, events, tail, self.token_interval, recorded, die_after, stall)
            _the_ticker().add(stream)
            stream.ended.wait()
            if recorded.outcome == "stalled":
                while self._wait(connection, 0.5):
                    pass
                return False
            return stream.keep_open and chunked
        for i, data in enumerate(events):
            if i == die_after:
                if stall:
                    recorded.outcome = "stalled"
                    while self._wait(connection, 0.5):
                        pass
                    return False
                recorded.outcome = "died"
                connection.shutdown(socket.SHUT_RDWR)
                return False
            connection.sendall(data)
            recorded.events_sent += 1
        connection.sendall(tail)
        recorded.outcome = "completed"
        return chunked

    def _flood(self, connection: socket.socket, path: str, request: dict[str, Any], recorded: RecordedRequest,
               mode: str) -> bool:
        """Modes "flood" and "boundless": answers larger than a router should hold, made as they are sent."""
        chunked = self.framing == "chunked"
        total, piece = self.flood_bytes, 65536

        def send_filler(count: int, wrap) -> None:  # noqa: ANN001 - a bytes -> bytes framing
            sent = 0
            while sent < count:
                size = min(piece, count - sent)
                connection.sendall(wrap(b"x" * size))
                sent += size

        if not recorded.stream:
            head = ("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    + ("Connection: close\r\n\r\n" if self.framing == "close"
                       else f"Content-Length: {total + 15}\r\nConnection: keep-alive\r\n\r\n"))
            connection.sendall(head.encode("latin-1") + b'{"filler": "')
            send_filler(total, lambda data: data)
            connection.sendall(b'"}\n')
            recorded.outcome = "completed"
            return self.framing != "close"
        head = ("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
                + ("Transfer-Encoding: chunked\r\n\r\n" if chunked else "Connection: close\r\n\r\n"))
        connection.sendall(head.encode("latin-1"))

        def frame(data: bytes) -> bytes:
            return b"%x\r\n%s\r\n" % (len(data), data) if chunked else data

        model = json.dumps(request.get("model", ""))
        prefix = ('data: {"id": "imitation-1", "object": "chat.completion.chunk", "created": 0, "model": '
                  + model + ', "choices": [{"index": 0, "delta": {"content": "').encode()
        suffix = b'"}, "finish_reason": null}]}\n\n'
        if mode == "boundless":
            for _i in range(self.flood_after):
                connection.sendall(frame(prefix + b"tok" + suffix))
                recorded.events_sent += 1
            connection.sendall(frame(prefix))
            send_filler(total, frame)
            recorded.outcome = "completed"
            connection.shutdown(socket.SHUT_RDWR)
            return False
        filler = b"x" * max(1, self.flood_event_bytes - len(prefix) - len(suffix))
        sent = 0
        while sent < total:
            event = prefix + filler + suffix
            connection.sendall(frame(event))
            sent += len(event)
            recorded.events_sent += 1
        connection.sendall(frame(b"data: [DONE]\n\n") + (b"0\r\n\r\n" if chunked else b""))
        recorded.outcome = "completed"
        return chunked
