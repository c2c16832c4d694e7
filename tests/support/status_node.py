"""A node's management side (`GET /v0/status`, `POST /v0/sync`) as a small real HTTP server on
127.0.0.1, answering whatever a test sets: honest statuses for the router's rules, hostile ones
(huge, redirecting, cookie-setting, malformed) for its defences. The real node agent has its own
tests; NodeImitation (tests/node_imitation.py) imitates a node's inference side."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

GiB = 1024 ** 3


def node_body(**overrides: Any) -> dict[str, Any]:
    """A registration body (POST /v0/nodes) for a CPU node."""
    return {"name": "gpu-box", "url": "http://127.0.0.1:9", "platform": "linux-cpu",
            "engines": ["llama_cpp", "ctranslate2"], "cpu_count": 8, "memory_bytes": 16 * GiB, "gpus": [],
            "version": "0.1.0", **overrides}


def status(**overrides: Any) -> dict[str, Any]:
    """An honest status answer (docs/protocol.md)."""
    return {"version": "0.1.0", "active_requests": 0, "models": [], "loaded_models": [],
            "metrics": {"cpu_percent": 5.0, "memory_used_bytes": 1, "memory_total_bytes": 2, "gpus": []},
            **overrides}


class StatusNode:
    """Answers every request with `status_code`, `body` (bytes, or a JSON-able value) and `headers`,
    as they are when the request arrives. Every request is recorded as (method, path, headers)."""

    def __init__(self) -> None:
        self.status_code = 200
        self.body: Any = status()
        self.headers: dict[str, str] = {}
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self) -> None:
                outer.requests.append((self.command, self.path, dict(self.headers.items())))
                body = outer.body if isinstance(outer.body, bytes) else json.dumps(outer.body).encode()
                self.send_response(outer.status_code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for name, value in outer.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:  # noqa: N802 - BaseHTTPRequestHandler's name
                self._answer()

            def do_POST(self) -> None:  # noqa: N802
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self._answer()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def report(self, models: list[dict[str, Any]]) -> None:
        """From now on, the status reports these models."""
        self.body = status(models=models)

    def calls(self, method: str) -> list[dict[str, str]]:
        """The headers of every request with `method` so far (GET: polls, POST: sync notices)."""
        return [headers for verb, _path, headers in list(self.requests) if verb == method]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
