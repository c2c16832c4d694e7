"""A streamed `/v1` answer as the request history sees it, whatever it comes from (a node's relay, a cloud
provider's translated stream): the events the client got, kept up to a limit, and one call when it ends.

Streams ask their upstream for usage even when the client did not (the history records tokens and costs of
every stream); `without_usage` takes it out again before the client sees it.
"""

from __future__ import annotations

import http.client
import json
import logging
import re
from collections.abc import Callable, Iterator

log = logging.getLogger(__name__)

DONE_EVENTS = (b"data: [DONE]\n\n", b"data: [DONE]\r\n\r\n")
MAX_EVENT_BYTES = 1024 * 1024  # one server-sent event from upstream (a token's event is a few hundred bytes)
MAX_ANSWER_BYTES = 64 * 1024 * 1024  # a whole non-streamed answer from upstream (large embedding batches)


class AnswerTooLarge(Exception):
    """An upstream's whole answer is larger than the limit it is read with."""


def read_whole(response: http.client.HTTPResponse, limit: int) -> bytes:
    """A whole answer, at most `limit` bytes (AnswerTooLarge beyond). A declared length is checked before
    reading; without one (chunked, or until the connection closes) one byte more than the limit is read."""
    if response.length is not None:
        if response.length > limit:
            raise AnswerTooLarge()
        return response.read()  # IncompleteRead when cut short
    body = response.read(limit + 1)
    if len(body) > limit:
        raise AnswerTooLarge()
    return body


class EventTooLarge(Exception):
    """An upstream sent more than `MAX_EVENT_BYTES` without an event boundary."""


class EventBuffer:
    """What an upstream (a node, a provider) sent of a stream and was not relayed yet: the start of an event. Each byte is
    searched for a boundary once (plus the 3 before a new chunk, where a boundary may begin), and
    complete events are taken off the front, so buffering costs time linear in the stream's size
    however the node cuts it into chunks; at most `MAX_EVENT_BYTES` wait."""

    __slots__ = ("pending", "scanned")

    def __init__(self) -> None:
        self.pending = bytearray()
        self.scanned = 0  # bytes of `pending` already searched: they hold no complete boundary

    def add(self, chunk: bytes) -> bytes:
        """Append a chunk; returns the complete events now buffered, b"" when none.
        Raises EventTooLarge when an unfinished event has grown past the limit."""
        pending = self.pending
        pending += chunk
        start = max(0, self.scanned - 3)
        end = pending.rfind(b"\n\n", start)
        end_crlf = pending.rfind(b"\r\n\r\n", start)
        cut = max(end + 2 if end >= 0 else 0, end_crlf + 4 if end_crlf >= 0 else 0)
        events = b""
        if cut:
            events = bytes(pending[:cut])
            del pending[:cut]
        self.scanned = len(pending)
        if len(pending) > MAX_EVENT_BYTES:
            raise EventTooLarge()
        return events


class RecordedStream:
    """Iterated by gunicorn's write loop, which calls `close()` when the client went away or the stream
    ended. `captured` holds what the upstream sent, usage included, up to `capture_limit` bytes; `on_end`
    is told once, at close: what was kept, and whether more was relayed than kept."""

    def __init__(self, events: Iterator[bytes], capture_limit: int, strip_usage: bool) -> None:
        self._events = events
        self._strip_usage = strip_usage
        self.captured = bytearray()
        self._capture_limit = capture_limit
        self._capture_cut = False
        self.on_end: Callable[[bytes, bool], None] | None = None

    def __iter__(self) -> "RecordedStream":
        return self

    def __next__(self) -> bytes:
        while True:
            chunk = next(self._events)
            room = self._capture_limit - len(self.captured)
            if room > 0:
                self.captured += chunk[:room]
            self._capture_cut = self._capture_cut or len(chunk) > room
            if self._strip_usage:
                chunk = without_usage(chunk)
            if chunk:
                return chunk

    def close(self) -> None:
        self._events.close()
        self._ended()
        on_end, self.on_end = self.on_end, None
        if on_end is not None:
            try:
                on_end(bytes(self.captured), self._capture_cut)
            except Exception:  # noqa: BLE001 - recording must never break the end of a stream
                log.exception("recording the end of a stream failed")

    def _ended(self) -> None:
        """What the stream's source gives back when it closes (a node's connection and slot)."""


_NULL_USAGE = re.compile(rb',\s*"usage"\s*:\s*null|"usage"\s*:\s*null\s*,?')


def without_usage(events: bytes) -> bytes:
    """Complete stream events as the client would have had them without asking for usage: no
    `"usage": null` in each chunk, no usage chunk at the end. Only events still naming usage after
    the cheap byte edit are decoded (the last one, normally)."""
    events = _NULL_USAGE.sub(b"", events)
    if b'"usage"' not in events:
        return events
    kept: list[bytes] = []
    for event in re.split(rb"(?<=\n\n)|(?<=\r\n\r\n)", events):
        if b'"usage"' in event and event.startswith(b"data:"):
            try:
                chunk = json.loads(event[5:])
            except ValueError:
                kept.append(event)
                continue
            if isinstance(chunk, dict) and "usage" in chunk:
                if not chunk.get("choices"):
                    continue  # the usage chunk itself
                del chunk["usage"]
                event = b"data: " + json.dumps(chunk, ensure_ascii=False).encode("utf-8") + b"\n\n"
        kept.append(event)
    return b"".join(kept)
