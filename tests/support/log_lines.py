"""Generated log lines in the structured format, for query tests and `bench/log_query.py`.

`write_log` writes records the way the router's handler does (the same formatter) but straight into
numbered files, so a million lines take seconds: `<name>` newest, `<name>.1` older, and so on.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from structured_logs import JsonLineFormatter

LOGGERS = ("app.services.inference.relay", "app.services.fleet.polling", "app.services.observability.history",
           "app.access", "app.services.catalog.hub_stats", "node_agent.downloader", "gunicorn.error")
NODES = ("gpu-1", "gpu-2", "gpu-3", "cpu-a", "cpu-b")
MODELS = ("qwen3-0.6b", "llama-3.2-1b", "bge-small", "phi-4-mini")


@dataclass(frozen=True)
class Spec:
    """What one generated record says; `created` is seconds since the epoch."""

    created: float
    level: int
    logger: str
    message: str
    request_id: str | None = None


def realistic(count: int, start: float, step: float = 0.01, seed: int = 7) -> Iterator[Spec]:
    """`count` records a busy router might write, oldest first, `step` seconds apart: mostly debug and
    info, about 9 % warnings and 3 % errors, four in ten made while serving a request."""
    rng = random.Random(seed)
    for index in range(count):
        node, model = rng.choice(NODES), rng.choice(MODELS)
        roll = rng.random()
        request_id = f"{rng.getrandbits(128):032x}" if rng.random() < 0.4 else None
        if roll < 0.03:
            level, message = logging.ERROR, f"POST /v1/chat/completions for {model} failed on every node: " \
                                            f"{node} answered HTTP 500"
        elif roll < 0.12:
            level, message = logging.WARNING, rng.choice((
                f"node {node} failed (no answer within 300 s); cooling it down for 5 s",
                f"node {node} failed (Connection refused); cooling it down for 5 s",
                f"status poll of node {node} at http://10.0.0.{index % 250}:8090 failed: ConnectTimeout",
                f"request history: {rng.randint(1, 40)} request(s) not recorded: database is locked"))
        elif roll < 0.6:
            level, message = logging.INFO, rng.choice((
                f"node {node} is online again",
                f"loaded {model} with ctranslate2 in {rng.uniform(0.2, 9):.1f} s",
                f"admin signed in from 192.168.1.{index % 200}",
                f"request history: removed {rng.randint(1, 900)} request(s) older than 7 days"))
        else:
            level, message = logging.DEBUG, f"127.0.0.1 \"POST /v1/chat/completions HTTP/1.1\" 200 - " \
                                            f"model={model} node={node} in {rng.randint(5, 4000)} ms"
        yield Spec(start + index * step, level, rng.choice(LOGGERS), message, request_id)


def format_line(formatter: logging.Formatter, spec: Spec) -> str:
    record = logging.LogRecord(spec.logger, spec.level, __file__, 0, "%s", (spec.message,), None)
    record.created = spec.created
    record.request_id = spec.request_id
    return formatter.format(record)


def write_log(path: Path, specs: list[Spec] | Iterator[Spec], lines_per_file: int) -> int:
    """Write `specs` (oldest first) as `path` and its rotated files, `lines_per_file` per file; returns the
    number of files."""
    formatter = JsonLineFormatter()
    path.parent.mkdir(parents=True, exist_ok=True)
    chunks: list[list[str]] = [[]]
    for spec in specs:
        if len(chunks[-1]) >= lines_per_file:
            chunks.append([])
        chunks[-1].append(format_line(formatter, spec))
    for age, chunk in enumerate(reversed(chunks)):
        target = path if age == 0 else path.with_name(f"{path.name}.{age}")
        target.write_text("".join(line + "\n" for line in chunk), encoding="utf-8")
    return len(chunks)
