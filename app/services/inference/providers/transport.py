"""The HTTP of `/v1` requests to a cloud provider: the router's own pooled keep-alive connections (`NodeConnections`,
the client it uses for nodes), not the providers' SDKs.

Why not the SDKs here (issue 13 asks for them unless they cost the proxy budget; they do): one chat request
through `openai`'s or `anthropic`'s client took ~1.0 ms of CPU, through these connections ~0.18 ms (sequential
calls to the local imitation on this 2-core machine, 2026-12; docs/benchmarks.md), and through the router under 32 concurrent clients the SDK path cost 3.4-5.2 ms of router CPU per request
against 1.4 ms for a node, saturating the cores (bench/proxy_overhead.py --only cloud). The SDKs still write
the credentials: each client's own auth and version headers are what is sent here, so the wire stays theirs.
They also read the model lists, which are off the request path.

Answers are read bounded like a node's (`MAX_ANSWER_BYTES`, `MAX_EVENT_BYTES` per stream event). Every failure
becomes the client's `ApiError` through `base`'s one mapping.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator, Mapping
from typing import Any

from ....errors import ApiError
from ..node_client import Exchange, NodeConnections, NodeTarget, NodeUnreachable
from ..streams import MAX_ANSWER_BYTES, AnswerTooLarge, EventBuffer, EventTooLarge, read_whole
from .base import (ProviderSettings, interrupted_failure, provider_code, status_failure, timeout_failure,
                   unreachable_failure)

READ_SIZE = 65536
_ERROR_BODY_BYTES = 1024 * 1024


class ProviderHttp:
    """POSTs to one provider's base URL with its credentials; `label` names it in messages."""

    def __init__(self, name: str, label: str, settings: ProviderSettings, credentials: Mapping[str, str]) -> None:
        self.label = label
        self.settings = settings
        self.target = NodeTarget.of(name, label, settings.base_url, "")
        if any(not value.isprintable() for value in credentials.values()):  # no header can be smuggled in
            raise ValueError(f"{label}: a credential holds a line break or another control character")
        self.credentials = "".join(f"{header}: {value}\r\n" for header, value in credentials.items())
        self.connections = NodeConnections(settings.connect_timeout, settings.read_timeout)

    def close(self) -> None:
        self.connections.close()

    def _post(self, path: str, body: dict[str, Any]) -> Exchange:
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        try:
            exchange = self.connections.post(self.target, path, data, self.credentials)
        except NodeUnreachable as exc:
            if exc.timeout:
                raise timeout_failure(self.label, self.settings.read_timeout) from None
            raise unreachable_failure(self.label, self.settings.base_url) from None
        if exchange.response.status != 200:
            raise self._refusal(exchange)
        return exchange

    def _refusal(self, exchange: Exchange) -> ApiError:
        """The provider's error answer, read (bounded) and mapped."""
        response = exchange.response
        try:
            raw = read_whole(response, _ERROR_BODY_BYTES)
            exchange.finish(complete=True)
        except (OSError, http.client.HTTPException, ValueError, AnswerTooLarge):
            exchange.finish(complete=False)
            raw = b""
        error: Any = None
        try:
            error = json.loads(raw).get("error")
        except (ValueError, AttributeError):
            pass
        message = error.get("message") if isinstance(error, dict) and isinstance(error.get("message"), str) else \
            raw[:500].decode("utf-8", "replace")
        return status_failure(self.label, response.status, message, self.settings.api_key,
                              response.getheader("Retry-After"), provider_code(error))

    def answer(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """The provider's whole JSON answer to a POST."""
        exchange = self._post(path, body)
        try:
            raw = read_whole(exchange.response, MAX_ANSWER_BYTES)
            answer = json.loads(raw)
        except TimeoutError:
            exchange.finish(complete=False)
            raise timeout_failure(self.label, self.settings.read_timeout) from None
        except (OSError, http.client.HTTPException, ValueError, AnswerTooLarge):
            exchange.finish(complete=False)
            raise interrupted_failure(self.label, False, self.settings.read_timeout) from None
        exchange.finish(complete=True)
        if not isinstance(answer, dict):
            raise interrupted_failure(self.label, False, self.settings.read_timeout)
        return answer

    def events(self, path: str, body: dict[str, Any]) -> Iterator[tuple[str | None, Any]]:
        """Sends the request now (failures raise here), then yields the stream's (event name, JSON data);
        `data: [DONE]` ends it. A stream that breaks or stalls raises ApiError from the iterator."""
        exchange = self._post(path, body)
        return self._events(exchange)

    def _events(self, exchange: Exchange) -> Iterator[tuple[str | None, Any]]:
        buffer = EventBuffer()
        complete = False
        try:
            while True:
                try:
                    chunk = exchange.response.read1(READ_SIZE)
                except TimeoutError:
                    raise interrupted_failure(self.label, True, self.settings.read_timeout) from None
                except (OSError, http.client.HTTPException, ValueError):
                    raise interrupted_failure(self.label, False, self.settings.read_timeout) from None
                if not chunk:
                    complete = True
                    return
                try:
                    events = buffer.add(chunk)
                except EventTooLarge:
                    raise interrupted_failure(self.label, False, self.settings.read_timeout) from None
                for event in split_events(events):
                    name, data = event
                    if data == "[DONE]":
                        complete = True
                        return
                    try:
                        yield name, json.loads(data)
                    except ValueError:
                        raise interrupted_failure(self.label, False, self.settings.read_timeout) from None
        finally:
            exchange.finish(complete=complete and not buffer.pending.strip())


def sdk_credentials(client: Any) -> dict[str, str]:
    """The headers a Stainless SDK client (`openai`, `anthropic`) sends with every request, less what the
    transport writes itself and the SDK's telemetry: its auth, API version, user agent."""
    headers = {**client.auth_headers, **client.default_headers}
    return {name: value for name, value in headers.items() if isinstance(value, str)
            and name.lower() != "content-type" and not name.lower().startswith("x-stainless")}


def split_events(events: bytes) -> Iterator[tuple[str | None, str]]:
    """(event name, data) of each complete server-sent event; events without data (comments, pings with
    no data) are skipped. Multi-line data is joined with newlines, as the SSE format says."""
    for block in events.replace(b"\r\n", b"\n").split(b"\n\n"):
        name: str | None = None
        data: list[str] = []
        for line in block.decode("utf-8", "replace").split("\n"):
            field, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if field == "event":
                name = value
            elif field == "data":
                data.append(value)
        if data:
            yield name, "\n".join(data)
