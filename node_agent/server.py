"""The node's HTTP server: what the router calls (docs/protocol.md, "Router -> node").

Why the standard library's ThreadingHTTPServer: the router sends a status poll every few seconds
and a sync notification now and then; a thread per connection is plenty and adds no dependency.

Access: `GET /v0/health` answers anyone (systemd and monitoring need no secret, and it reveals
nothing). Every other path, including unknown ones and the `/v1/*` inference endpoints, needs `Authorization: Bearer <token>` with the token the router issued at the latest
registration; until the node has registered there is no valid token and everything else is 401.
Authentication comes before routing, so without the token nobody learns which paths exist.

Errors use the router's envelope `{"error": {"message", "type", "param", "code"}}`.

Inference (`/v1/chat/completions`, `/v1/completions`, `/v1/embeddings`; docs/protocol.md): a
thread per connection, so concurrent requests reach the engine together (CTranslate2 batches
them). Streams go out as server-sent events in HTTP/1.1 chunked encoding, written as each delta is
ready; a write that fails because the router hung up closes the stream, which stops generating.
"""

from __future__ import annotations

import hmac
import json
import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from node_agent import __version__
from node_agent.engines.common import UnsupportedRequest
from node_agent.inference import EngineManager, EngineUnavailable, ModelNotReady
from node_agent.logs import QueryProblem, serving
from node_agent.openai_api import (
    RequestError,
    embeddings_body,
    parse_embedding_input,
    parse_request,
    response_body,
    stream_chunks,
)

__all__ = ["NodeServer", "make_server"]

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024
IDLE_TIMEOUT_SECONDS = 60  # a keep-alive connection with no request for this long is closed

_TYPES = {400: "invalid_request_error", 401: "authentication_error", 404: "not_found_error",
          405: "invalid_request_error", 413: "invalid_request_error", 500: "server_error",
          503: "service_unavailable_error"}
_CLIENT_GONE = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, TimeoutError)


class NodeServer(ThreadingHTTPServer):
    """Serves the node API. The callables are asked on every request, so a new token applies at once.

    token():   the router's current token for this node, or None before registration
    status():  the body of GET /v0/status
    on_sync(): called for POST /v0/sync (must return quickly: it only wakes the sync loop)
    engines:   serves /v1 (None: the inference endpoints answer 404)
    logs:      answers GET /v0/logs from parse_qs-style parameters (node_agent/logs.py; None: 404)
    """

    daemon_threads = True  # open keep-alive connections must not delay shutdown
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], token: Callable[[], str | None],
                 status: Callable[[], dict[str, Any]], on_sync: Callable[[], None],
                 engines: EngineManager | None = None,
                 logs: Callable[[dict[str, list[str]]], dict[str, Any]] | None = None) -> None:
        self.token = token
        self.engines = engines
        self.logs = logs
        self.status = status
        self.on_sync = on_sync
        self._thread: threading.Thread | None = None
        super().__init__(address, _Handler)

    @property
    def port(self) -> int:
        return self.server_address[1]

    def start(self) -> "NodeServer":
        """Serve in a background thread."""
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="http-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting requests and close the listening socket."""
        if self._thread is not None:
            self.shutdown()
            self._thread.join(5)
        self.server_close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("connection from %s ended with an error", client_address, exc_info=True)


def make_server(host: str, port: int, token: Callable[[], str | None], status: Callable[[], dict[str, Any]],
                on_sync: Callable[[], None], engines: EngineManager | None = None,
                logs: Callable[[dict[str, list[str]]], dict[str, Any]] | None = None) -> NodeServer:
    """Bind `host:port` (port 0 picks a free one; see `.port`). Raises OSError when it cannot bind."""
    return NodeServer((host, port), token, status, on_sync, engines, logs)


class _Handler(BaseHTTPRequestHandler):
    server: NodeServer
    protocol_version = "HTTP/1.1"  # keep-alive: the router polls the same node again and again
    server_version = f"llm-router-node/{__version__}"
    sys_version = ""
    timeout = IDLE_TIMEOUT_SECONDS
    # Headers and body go out in two writes; without TCP_NODELAY the body waits for the client's
    # delayed ACK (~40 ms per request on a keep-alive connection).
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - base class signature
        log.debug("%s %s", self.address_string(), format % args)

    def do_GET(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def do_OPTIONS(self) -> None:
        self._dispatch()

    # -- responses --------------------------------------------------------------------------------

    def _json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _error(self, status: int, code: str, message: str, headers: dict[str, str] | None = None,
               param: str | None = None) -> None:
        self._json(status, {"error": {"message": message, "type": _TYPES.get(status, "invalid_request_error"),
                                      "param": param, "code": code}}, headers)

    # -- request handling -------------------------------------------------------------------------

    def _read_body(self) -> bool:
        """Read the request body into `self.body` (keeps keep-alive in step); False after answering 413/400."""
        self.body = b""
        if self.headers.get("Transfer-Encoding"):
            self.close_connection = True
            self._error(400, "unsupported_transfer_encoding", "Send request bodies with Content-Length.")
            return False
        length_header = self.headers.get("Content-Length") or "0"
        if not length_header.isdigit():
            self.close_connection = True
            self._error(400, "invalid_content_length", "Content-Length must be a number.")
            return False
        length = int(length_header)
        if length > MAX_BODY_BYTES:
            self.close_connection = True
            self._error(413, "request_too_large", "The request body is too large.")
            return False
        if length:
            self.body = self.rfile.read(length)
        return True

    def _authorized(self) -> bool:
        expected = self.server.token()
        scheme, _, presented = (self.headers.get("Authorization") or "").partition(" ")
        if expected is None or scheme.lower() != "bearer" or not presented:
            return False
        return hmac.compare_digest(presented.strip().encode("utf-8"), expected.encode("utf-8"))

    def _dispatch(self) -> None:
        if not self._read_body():
            return
        path = urlsplit(self.path).path
        method = "GET" if self.command == "HEAD" else self.command
        if path == "/v0/health":
            if method != "GET":
                return self._error(405, "method_not_allowed", f"{self.command} is not allowed on {path}.",
                                   {"Allow": "GET, HEAD"})
            return self._json(200, {"status": "ok"})
        if not self._authorized():
            return self._error(401, "invalid_token", "This node only answers the router: send the token it "
                                                     "issued to this node as 'Authorization: Bearer <token>'.",
                               {"WWW-Authenticate": 'Bearer realm="llm-router-node"'})
        routes: dict[str, dict[str, Callable[[], None]]] = {
            "/v0/status": {"GET": self._status},
            "/v0/sync": {"POST": self._sync},
            "/v0/logs": {"GET": self._logs},
            "/v1/chat/completions": {"POST": lambda: self._generate("chat")},
            "/v1/completions": {"POST": lambda: self._generate("completions")},
            "/v1/embeddings": {"POST": self._embeddings},
        }
        methods = routes.get(path)
        if methods is None:
            return self._error(404, "not_found", f"No such endpoint: {self.command} {path}.")
        handler = methods.get(method)
        if handler is None:
            return self._error(405, "method_not_allowed", f"{self.command} is not allowed on {path}.",
                               {"Allow": ", ".join(methods)})
        try:
            # The router's id of an inference request goes with every log record made while serving it.
            with serving(self.headers.get("X-Request-Id") if path.startswith("/v1/") else None):
                handler()
        except Exception:
            log.exception("%s %s failed", self.command, path)
            self._error(500, "internal_error", "The node could not answer; see its log.")

    def _status(self) -> None:
        self._json(200, self.server.status())

    def _logs(self) -> None:
        if self.server.logs is None:
            return self._error(404, "not_found", "This node keeps no log files.")
        try:
            page = self.server.logs(parse_qs(urlsplit(self.path).query, keep_blank_values=True))
        except QueryProblem as exc:
            return self._error(400, "invalid_query", exc.message, param=exc.param)
        self._json(200, page)

    def _sync(self) -> None:
        self.server.on_sync()
        self._json(202, {"status": "sync scheduled"})

    # -- inference --------------------------------------------------------------------------------

    def _inference(self, work: Callable[[EngineManager, Any], None]) -> None:
        """Shared by the /v1 endpoints: JSON body, request counting, and errors as OpenAI envelopes."""
        engines = self.server.engines
        if engines is None:
            return self._error(404, "not_found", "This node serves no models.")
        try:
            body = json.loads(self.body or b"null")
        except ValueError:
            return self._error(400, "invalid_json", "The request body is not valid JSON.")
        with engines.track():
            try:
                work(engines, body)
            except RequestError as exc:
                self._error(400, "invalid_request_error", str(exc), param=exc.param)
            except UnsupportedRequest as exc:
                self._error(400, "unsupported_request", str(exc), param="model")
            except ModelNotReady as exc:
                self._error(404, "model_not_found", f"The model '{exc}' is not ready on this node.", param="model")
            except EngineUnavailable as exc:
                self._error(503, "engine_unavailable", str(exc))
            except ValueError as exc:  # the engine refused the prompt or a parameter
                self._error(400, "invalid_request_error", str(exc))

    def _generate(self, kind: str) -> None:
        def work(engines: EngineManager, body: Any) -> None:
            request = parse_request(kind, body)  # type: ignore[arg-type]
            engine = engines.get(request.model)
            if request.stream:
                stream = engine.stream(request.prompt, request.params)  # prompt errors raise here, before any byte
                self._send_events(stream_chunks(request, stream), stream.close)
                return
            if kind == "chat":
                completion = engine.chat(request.prompt, request.params)  # type: ignore[arg-type]
            else:
                completion = engine.complete(request.prompt, request.params)  # type: ignore[arg-type]
            self._json(200, response_body(request, completion))

        self._inference(work)

    def _embeddings(self) -> None:
        def work(engines: EngineManager, body: Any) -> None:
            model, inputs, encoding = parse_embedding_input(body)
            result = engines.get(model).embed(inputs)
            self._json(200, embeddings_body(model, result.vectors, result.prompt_tokens, encoding))

        self._inference(work)

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data) if data else b"0\r\n\r\n")

    def _send_events(self, chunks: Any, stop: Callable[[], None]) -> None:
        """Server-sent events, one per chunk, then [DONE]; an engine failure becomes an error event."""
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("X-Accel-Buffering", "no")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            while True:
                try:
                    chunk = next(chunks)
                except StopIteration:
                    break
                except Exception as exc:
                    log.exception("generation failed mid-stream")
                    error = {"error": {"message": f"The model failed while generating: {exc}", "type": "server_error",
                                       "param": None, "code": "generation_failed"}}
                    self._write_chunk(b"data: " + json.dumps(error).encode() + b"\n\n")
                    break
                self._write_chunk(b"data: " + json.dumps(chunk, ensure_ascii=False).encode() + b"\n\n")
            self._write_chunk(b"data: [DONE]\n\n")
            self._write_chunk(b"")
        except _CLIENT_GONE:
            log.info("the router closed a stream; generation stopped")
            self.close_connection = True
        finally:
            stop()
