"""HTTP to nodes' inference endpoints over pooled keep-alive connections.

Why not `requests`: the router adds its own cost to every inference request, and `requests`
spends CPU per call on what a request to a known node needs none of (environment proxies and
.netrc lookups, hooks, cookie jars, adapters): sequential calls to a local node imitation took
~0.6 ms of CPU each through a pooled `requests.Session`, ~0.07 ms here (2026-11, this machine).
Requests are written here directly, head and body in one send, and answers parsed by the standard
library's `http.client` (what urllib3 builds on).

Pooling: idle connections per node, last-used first. A connection a node closed while idle fails
on the next request before any answer; that request is sent again once, on a new connection
(what browsers do), so a stale connection is never mistaken for a dead node.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

# Idle connections older than this are dropped, not reused: the node agent closes keep-alive
# connections idle for 60 s, and reusing one it is about to close would waste a round trip.
IDLE_SECONDS = 30.0
MAX_IDLE_PER_NODE = 256


@dataclass(frozen=True)
class NodeTarget:
    """One node that can serve a model, parsed once when the routing table is built."""

    node_id: str
    name: str
    scheme: str
    host: str
    port: int
    base_path: str
    authorization: str  # "Bearer <node token>": the router's credential, never the client's

    @classmethod
    def of(cls, node_id: str, name: str, url: str, token: str) -> "NodeTarget":
        parts = urlsplit(url)
        scheme = parts.scheme or "http"
        return cls(node_id, name, scheme, parts.hostname or "", parts.port or (443 if scheme == "https" else 80),
                   parts.path.rstrip("/"), f"Bearer {token}")

    @property
    def key(self) -> tuple[str, str, int]:
        return self.scheme, self.host, self.port

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


class NodeUnreachable(Exception):
    """No answer from the node: it refused or dropped the connection, or sent nothing in time.
    `timeout` tells the two apart for the client's error."""

    def __init__(self, detail: str, timeout: bool = False) -> None:
        super().__init__(detail)
        self.detail = detail
        self.timeout = timeout


class Exchange:
    """A request in flight on one connection: the response to read, then `finish` exactly once."""

    __slots__ = ("response", "_sock", "_pool", "_key")

    def __init__(self, response: http.client.HTTPResponse, sock: socket.socket, pool: "NodeConnections",
                 key: tuple[str, str, int]) -> None:
        self.response = response
        self._sock = sock
        self._pool = pool
        self._key = key

    def finish(self, complete: bool) -> None:
        """`complete`: the whole answer was read, so the connection may serve another request.
        Otherwise it is closed — for a stream, that is what tells the node to stop generating."""
        self.response.close()  # the response's reader only; the socket stays open
        if complete and not self.response.will_close:
            self._pool.give_back(self._key, self._sock)
        else:
            _close(self._sock)


def _close(sock: socket.socket) -> None:
    try:
        sock.close()
    except OSError:
        pass


class NodeConnections:
    """Keep-alive connections to every node, shared by the threads of one worker process.
    (http.client's own connection class would send head and body in two writes: a packet and a
    wake-up of the node more per request.)"""

    def __init__(self, connect_timeout: float, read_timeout: float) -> None:
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self._idle: dict[tuple[str, str, int], list[tuple[socket.socket, float]]] = {}
        self._lock = threading.Lock()
        self._swept = time.monotonic()
        self._tls: ssl.SSLContext | None = None

    def _take_idle(self, key: tuple[str, str, int]) -> socket.socket | None:
        now = time.monotonic()
        with self._lock:
            if now - self._swept >= IDLE_SECONDS:
                self._sweep(now)
            idle = self._idle.get(key)
            while idle:
                sock, since = idle.pop()
                if now - since < IDLE_SECONDS:
                    return sock
                _close(sock)
        return None

    def _sweep(self, now: float) -> None:
        """Caller holds the lock. Close connections idle too long everywhere — also those to addresses
        no longer asked for (a node that registered again at another port)."""
        self._swept = now
        for key in list(self._idle):
            fresh = [(sock, since) for sock, since in self._idle[key] if now - since < IDLE_SECONDS]
            for sock, since in self._idle[key]:
                if now - since >= IDLE_SECONDS:
                    _close(sock)
            if fresh:
                self._idle[key] = fresh
            else:
                del self._idle[key]

    def give_back(self, key: tuple[str, str, int], sock: socket.socket) -> None:
        with self._lock:
            idle = self._idle.setdefault(key, [])
            if len(idle) < MAX_IDLE_PER_NODE:
                idle.append((sock, time.monotonic()))
                return
        _close(sock)

    def _connect(self, scheme: str, host: str, port: int) -> socket.socket:
        try:
            sock = socket.create_connection((host, port), timeout=self.connect_timeout)
        except TimeoutError:
            raise NodeUnreachable(f"no connection within {self.connect_timeout:g} s", timeout=True) from None
        except OSError as exc:
            raise NodeUnreachable(exc.strerror or type(exc).__name__) from None
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if scheme == "https":
                if self._tls is None:
                    self._tls = ssl.create_default_context()
                sock = self._tls.wrap_socket(sock, server_hostname=host)
        except OSError as exc:
            _close(sock)
            raise NodeUnreachable(exc.strerror or type(exc).__name__) from None
        sock.settimeout(self.read_timeout)  # between bytes of the answer, the first one included
        return sock

    def post(self, target: NodeTarget, path: str, body: bytes) -> Exchange:
        """Send the body; returns once the node's status line and headers have arrived."""
        key = target.key
        data = (f"POST {target.base_path}{path} HTTP/1.1\r\nHost: {target.host_header}\r\n"
                f"Authorization: {target.authorization}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode("latin-1") + body
        sock = self._take_idle(key)
        if sock is not None:
            try:
                return self._send(sock, key, data)
            except NodeUnreachable as exc:
                if exc.timeout:
                    raise
                # A reused connection that fails before any answer was most likely closed by the node
                # while idle: send once more on a new connection.
        return self._send(self._connect(*key), key, data)

    def _send(self, sock: socket.socket, key: tuple[str, str, int], data: bytes) -> Exchange:
        response = None
        try:
            sock.sendall(data)
            response = http.client.HTTPResponse(sock, method="POST")
            response.begin()
        except TimeoutError:
            _abandon(sock, response)
            raise NodeUnreachable(f"no answer within {self.read_timeout:g} s", timeout=True) from None
        except (OSError, http.client.HTTPException) as exc:
            _abandon(sock, response)
            raise NodeUnreachable(_describe(exc)) from None
        return Exchange(response, sock, self, key)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, {}
        for connections in idle.values():
            for sock, _since in connections:
                _close(sock)


def _abandon(sock: socket.socket, response: http.client.HTTPResponse | None) -> None:
    if response is not None:
        response.close()
    _close(sock)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, http.client.RemoteDisconnected):
        return "the node closed the connection without answering"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return type(exc).__name__
