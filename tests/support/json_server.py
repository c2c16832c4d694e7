"""A small threaded HTTP server on 127.0.0.1 that answers routes with JSON and records every request.

Why: stub routers, scripted Hubs, simulated nodes and attacker pages each needed a handler class,
a server subclass and the thread around it; with this they are a few route functions. It is for
servers whose answers a test scripts; the Hub imitation and the node imitations in this package
speak whole protocols and have their own.

A route takes the `Request` and returns `(status, body)` or `(status, body, headers)`. A body that
is `bytes` is sent as it is, with only the headers given; anything else is sent as JSON with
`Content-Type: application/json`. Routes are keyed `"GET /v0/status"` (method and path, query
left out) or `"GET"` (that method on any path); anything else answers 404 in OpenAI's error envelope.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

__all__ = ["Request", "Route", "JsonServer", "error_body"]


@dataclass(frozen=True)
class Request:
    """One request as the server read it; `headers` keep the names as the client sent them."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


Answer = tuple[int, Any] | tuple[int, Any, dict[str, str]]
Route = Callable[[Request], Answer]


def error_body(message: str, code: str, error_type: str = "invalid_request_error") -> dict[str, Any]:
    """OpenAI's error envelope (docs/protocol.md), as the router and the node write it."""
    return {"error": {"message": message, "type": error_type, "param": None, "code": code}}


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, owner: JsonServer, handler: type[BaseHTTPRequestHandler], request_queue_size: int,
                 host: str) -> None:
        self.owner = owner
        self.request_queue_size = request_queue_size  # read when the socket starts listening, in __init__
        super().__init__((host, 0), handler)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    timeout = 30  # an idle keep-alive connection lets its thread go after this
    disable_nagle_algorithm = True  # no delayed-ACK wait between the headers and the body

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - BaseHTTPRequestHandler's name
        pass

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        request = Request(self.command, self.path, dict(self.headers.items()), self.rfile.read(length))
        answer = self.server.owner.answer(request)
        status, body = answer[0], answer[1]
        headers = answer[2] if len(answer) > 2 else {}
        if not isinstance(body, bytes):
            body = json.dumps(body).encode()
            headers = {"Content-Type": "application/json", **headers}
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer  # noqa: N815 - http.server's names


class _KeepAliveHandler(_Handler):
    protocol_version = "HTTP/1.1"


class JsonServer:
    """Serves `routes` on `host` (a loopback address, 127.0.0.1 by default) from `start()` to `stop()` (or as
    a `with` block); `requests` holds every request so far, in order of arrival. `http11` keeps connections
    alive (HTTP/1.1); `poll_interval` bounds how long `stop()` waits; `request_queue_size` is the listen
    backlog. Binding raises OSError where `host` is not this machine's."""

    def __init__(self, routes: dict[str, Route], *, http11: bool = False, poll_interval: float = 0.1,
                 request_queue_size: int = 5, host: str = "127.0.0.1") -> None:
        self.routes = routes
        self.host = host
        self.requests: list[Request] = []
        self._poll_interval = poll_interval
        self._lock = threading.Lock()
        self._server = _Server(self, _KeepAliveHandler if http11 else _Handler, request_queue_size, host)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def answer(self, request: Request) -> Answer:
        """Record `request` and answer it from its route (404 when there is none)."""
        with self._lock:
            self.requests.append(request)
        path = request.path.split("?", 1)[0]
        route = self.routes.get(f"{request.method} {path}") or self.routes.get(request.method)
        if route is None:
            return 404, error_body(f"No route for {request.method} {path}.", "not_found", "not_found_error")
        return route(request)

    def calls(self, method: str) -> list[Request]:
        """The requests with `method` so far."""
        with self._lock:
            return [request for request in self.requests if request.method == method]

    def start(self) -> Self:
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": self._poll_interval}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
