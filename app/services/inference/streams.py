"""A streamed `/v1` answer as the request history sees it, whatever it comes from (a node's relay, a cloud
provider's translated stream): the events the client got, kept up to a limit, and one call when it ends.

Streams ask their upstream for usage even when the client did not (the history records tokens and costs of
every stream); `without_usage` takes it out again before the client sees it.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterator

log = logging.getLogger(__name__)

DONE_EVENTS = (b"data: [DONE]\n\n", b"data: [DONE]\r\n\r\n")


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
