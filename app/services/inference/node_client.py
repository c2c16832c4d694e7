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

Which addresses the router may call at all is decided here too (`parse_node_url`, `deny_networks`),
for registration, polls and inference alike: a node URL is a plain http(s) base URL, and no
connection goes to an address in LLM_ROUTER_NODE_DENY_NETWORKS (checked on the connected socket, so a
name that resolves elsewhere later is caught too).
"""

from __future__ import annotations

import http.client
import ipaddress
import re
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import SplitResult, urlsplit

from flask import g, has_app_context

# Idle connections older than this are dropped, not reused: the node agent closes keep-alive
# connections idle for 60 s, and reusing one it is about to close would waste a round trip.
IDLE_SECONDS = 30.0
MAX_IDLE_PER_NODE = 256

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# A host name's labels as DNS has them (RFC 1123; "_" too, as container names use it).
_LABEL = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?")
_NUMBER = re.compile(r"[0-9]+|0x[0-9a-f]*", re.IGNORECASE)
_PATH = re.compile(r"(?:/[A-Za-z0-9._~-]+)*/?")


# --- Which node addresses the router may call (docs/security.md) -----------------------------------

def deny_networks(spec: str) -> tuple[Network, ...]:
    """LLM_ROUTER_NODE_DENY_NETWORKS ("169.254.0.0/16,fe80::/10"); ValueError names a bad entry."""
    networks = []
    for item in spec.split(","):
        if item.strip():
            try:
                networks.append(ipaddress.ip_network(item.strip(), strict=False))
            except ValueError:
                raise ValueError(f"LLM_ROUTER_NODE_DENY_NETWORKS: {item.strip()!r} is not a network "
                                 "such as 169.254.0.0/16") from None
    return tuple(networks)


def is_denied(address: str, networks: tuple[Network, ...]) -> bool:
    """True when `address` (an IP literal, as getaddrinfo or getpeername gives it) is in a denied network.
    IPv4 written as IPv6 (::ffff:169.254.169.254) counts as the IPv4 address; anything unparsable is denied."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return True
    candidates = [ip]
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        candidates.append(ip.ipv4_mapped)
    return any(candidate in network for candidate in candidates for network in networks)


def parse_node_url(url: str) -> SplitResult:
    """The parts of a node's base URL, or ValueError saying why it is none: http(s), a host name or an IP
    literal, a port in 1..65535, an optional plain base path, and nothing else (no user, query or
    fragment: what the router appends must stay the path it calls)."""
    if not url.isascii() or not url.isprintable() or any(char in url for char in " ?#\\@"):
        raise ValueError("unexpected characters")
    parts = urlsplit(url)  # ValueError for an unclosed "[" and other garbled hosts
    if parts.scheme not in ("http", "https") or parts.username is not None or parts.query or parts.fragment:
        raise ValueError("not a plain http(s) URL")
    host = parts.hostname or ""
    if not (_is_ip(host) or _is_hostname(host)):
        raise ValueError("not a host name or an IP address")
    port = parts.port  # ValueError when out of range or not a number
    if port is not None and not 0 < port < 65536:
        raise ValueError("port out of range")
    if not _PATH.fullmatch(parts.path) or any(part in (".", "..") for part in parts.path.split("/")):
        raise ValueError("not a plain base path")
    return parts


def _is_hostname(host: str) -> bool:
    """A DNS name whose last label is not a number: "10.1", "0x7f.1" or "2852039166" are numbers that the
    resolver would turn into addresses (2852039166 is 169.254.169.254)."""
    labels = host[:-1].split(".") if host.endswith(".") else host.split(".")
    return (0 < len(host) <= 253 and all(_LABEL.fullmatch(label) for label in labels)
            and not _NUMBER.fullmatch(labels[-1]))


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def denied_addresses(host: str, port: int, networks: tuple[Network, ...]) -> list[str] | None:
    """The addresses of `host` that are denied ([] when none is); None when the name does not resolve now.
    An IP literal is checked as it is, without any lookup."""
    if _is_ip(host):
        return [host] if is_denied(host, networks) else []
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return None
    return [str(info[4][0]) for info in infos if is_denied(str(info[4][0]), networks)]


def check_peer(sock: socket.socket, networks: tuple[Network, ...]) -> None:
    """At connection time, whatever the name resolved to: OSError when the peer is in a denied network."""
    if networks and is_denied(str(sock.getpeername()[0]), networks):
        raise OSError("the node's address is in LLM_ROUTER_NODE_DENY_NETWORKS")


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
    deny: tuple[Network, ...] = field(default=(), compare=False, repr=False)  # checked on every new connection

    @classmethod
    def of(cls, node_id: str, name: str, url: str, token: str, deny: tuple[Network, ...] = ()) -> "NodeTarget":
        """ValueError when `url` is no valid node URL (a row stored by an older router) or its host is an
        address in `deny`."""
        parts = parse_node_url(url)
        scheme = parts.scheme
        host = parts.hostname or ""
        if _is_ip(host) and is_denied(host, deny):
            raise ValueError("the node's address is in LLM_ROUTER_NODE_DENY_NETWORKS")
        return cls(node_id, name, scheme, host, parts.port or (443 if scheme == "https" else 80),
                   parts.path.rstrip("/"), f"Bearer {token}", deny)

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

    def _connect(self, scheme: str, host: str, port: int, deny: tuple[Network, ...] = ()) -> socket.socket:
        try:
            sock = socket.create_connection((host, port), timeout=self.connect_timeout)
        except TimeoutError:
            raise NodeUnreachable(f"no connection within {self.connect_timeout:g} s", timeout=True) from None
        except OSError as exc:
            raise NodeUnreachable(exc.strerror or type(exc).__name__) from None
        try:
            check_peer(sock, deny)  # the name may resolve elsewhere now than at registration
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if scheme == "https":
                if self._tls is None:
                    self._tls = ssl.create_default_context()
                sock = self._tls.wrap_socket(sock, server_hostname=host)
        except OSError as exc:
            _close(sock)
            raise NodeUnreachable(exc.strerror or str(exc) or type(exc).__name__) from None
        sock.settimeout(self.read_timeout)  # between bytes of the answer, the first one included
        return sock

    def post(self, target: NodeTarget, path: str, body: bytes, credentials: str | None = None) -> Exchange:
        """Send the body; returns once the node's status line and headers have arrived. `credentials`: header
        lines ("Name: value\r\n"...) in place of the node token's Authorization (a cloud provider's key)."""
        key = target.key
        request_id = _request_id()  # the node logs it with what it does for this request
        if credentials is None:
            credentials = f"Authorization: {target.authorization}\r\n"
        data = (f"POST {target.base_path}{path} HTTP/1.1\r\nHost: {target.host_header}\r\n"
                f"{credentials}Content-Type: application/json\r\n"
                + (f"X-Request-Id: {request_id}\r\n" if request_id else "")
                + f"Content-Length: {len(body)}\r\n\r\n").encode("latin-1") + body
        sock = self._take_idle(key)
        if sock is not None:
            try:
                return self._send(sock, key, data)
            except NodeUnreachable as exc:
                if exc.timeout:
                    raise
                # A reused connection that fails before any answer was most likely closed by the node
                # while idle: send once more on a new connection.
        return self._send(self._connect(*key, target.deny), key, data)

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


def _request_id() -> str | None:
    """The router's id of the `/v1` request being served (hex, set by observability.recording), if any."""
    request_id = g.get("request_id") if has_app_context() else None
    valid = isinstance(request_id, str) and request_id.isascii() and request_id.isalnum() and len(request_id) <= 64
    return request_id if valid else None


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
