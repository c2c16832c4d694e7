"""A TCP proxy that counts the response body bytes actually delivered to each client.

Why: after a SIGKILL, the interesting number is how many bytes the Hub sent that the killed
process never saved (they are fetched again on resume). The Hub imitation records requests, not
bytes sent, and the killed client cannot report anything, so the tests and the benchmark put this
proxy between the client and the Hub and count what was forwarded to the client.

Assumptions (true for the node downloader): HTTP/1.1 without pipelining, requests without bodies
(GET/HEAD), responses framed by Content-Length. A response without Content-Length is counted up to
the end of the connection.
"""

from __future__ import annotations

import socket
import threading
from collections import deque
from dataclasses import dataclass

__all__ = ["CountingProxy", "ServedResponse"]


@dataclass
class ServedResponse:
    """One response as delivered through the proxy; `body_bytes` grows while it streams."""

    method: str
    path: str
    range: str | None
    status: int
    content_length: int | None
    body_bytes: int = 0


class _Connection:
    def __init__(self, proxy: "CountingProxy", client: socket.socket, upstream: socket.socket) -> None:
        self.proxy, self.client, self.upstream = proxy, client, upstream
        self.pending: deque[tuple[str, str, str | None]] = deque()  # requests awaiting a response
        self.pending_ready = threading.Condition()

    def close(self) -> None:
        for sock in (self.client, self.upstream):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    # client -> upstream: forward, noting (method, path, Range) of each request header block
    def pump_requests(self) -> None:
        buffer = b""
        try:
            while True:
                data = self.client.recv(65536)
                if not data:
                    break
                self.upstream.sendall(data)
                buffer += data
                while b"\r\n\r\n" in buffer:
                    head, buffer = buffer.split(b"\r\n\r\n", 1)
                    lines = head.decode("latin-1").split("\r\n")
                    method, path = (lines[0].split(" ") + ["", ""])[:2]
                    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
                    with self.pending_ready:
                        self.pending.append((method, path, headers.get("range")))
                        self.pending_ready.notify_all()
        except OSError:
            pass
        finally:
            try:
                self.upstream.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    # upstream -> client: forward, counting body bytes once the client socket accepted them
    def pump_responses(self) -> None:
        buffer = b""
        current: ServedResponse | None = None
        remaining: int | None = 0  # body bytes left in `current`; None = until the connection closes
        try:
            while True:
                data = self.upstream.recv(65536)
                if not data:
                    break
                self.client.sendall(data)
                buffer += data
                while buffer:
                    if current is not None and remaining != 0:
                        take = len(buffer) if remaining is None else min(remaining, len(buffer))
                        with self.proxy.lock:
                            current.body_bytes += take
                        buffer = buffer[take:]
                        if remaining is not None:
                            remaining -= take
                        continue
                    if b"\r\n\r\n" not in buffer:
                        break
                    head, buffer = buffer.split(b"\r\n\r\n", 1)
                    current, remaining = self._start_response(head)
        except OSError:
            pass
        finally:
            self.close()

    def _start_response(self, head: bytes) -> tuple[ServedResponse, int | None]:
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        with self.pending_ready:
            self.pending_ready.wait_for(lambda: bool(self.pending), timeout=5)
            method, path, range_header = self.pending.popleft() if self.pending else ("?", "?", None)
        length = headers.get("content-length")
        content_length = int(length) if length is not None and length.isdigit() else None
        response = ServedResponse(method, path, range_header, status, content_length)
        with self.proxy.lock:
            self.proxy.responses.append(response)
        if method == "HEAD" or status < 200 or status in (204, 304):
            return response, 0
        return response, content_length


class CountingProxy:
    """Listens on 127.0.0.1 and forwards every connection to `upstream` ("http://host:port")."""

    def __init__(self, upstream: str) -> None:
        host_port = upstream.split("://", 1)[-1].rstrip("/")
        host, _, port = host_port.rpartition(":")
        self.upstream = (host, int(port))
        self.lock = threading.Lock()
        self.responses: list[ServedResponse] = []
        self._listener: socket.socket | None = None
        self._connections: list[_Connection] = []
        self._threads: list[threading.Thread] = []

    def start(self) -> "CountingProxy":
        listener = socket.create_server(("127.0.0.1", 0))
        self._listener = listener
        thread = threading.Thread(target=self._accept_loop, args=(listener,), daemon=True, name="counting-proxy")
        thread.start()
        self._threads.append(thread)
        return self

    @property
    def url(self) -> str:
        assert self._listener is not None, "not started"
        host, port = self._listener.getsockname()[:2]
        return f"http://{host}:{port}"

    def _accept_loop(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.upstream)
            except OSError:
                client.close()
                continue
            for sock in (client, upstream):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            connection = _Connection(self, client, upstream)
            with self.lock:
                self._connections.append(connection)
            for target in (connection.pump_requests, connection.pump_responses):
                thread = threading.Thread(target=target, daemon=True, name="counting-proxy-pump")
                thread.start()
                with self.lock:
                    self._threads.append(thread)

    def body_bytes(self, path: str, method: str = "GET") -> int:
        """Body bytes delivered for responses to `method path` (path as sent, URL-encoded)."""
        with self.lock:
            return sum(r.body_bytes for r in self.responses if r.path == path and r.method == method)

    def stop(self) -> None:
        if self._listener is not None:
            try:
                self._listener.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept()
            except OSError:
                pass
            self._listener.close()
            self._listener = None
        with self.lock:
            connections, threads = list(self._connections), list(self._threads)
        for connection in connections:
            connection.close()
        for thread in threads:
            thread.join(timeout=2)

    def __enter__(self) -> "CountingProxy":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
