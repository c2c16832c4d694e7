"""A log's files: `<name>` is written, `<name>.1` is the newest rotated one, `<name>.<count-1>` the oldest.

Why concurrent-log-handler: gunicorn runs several workers that log to one file; the standard
library's RotatingFileHandler would let each worker rotate on its own (lost and interleaved files).
concurrent-log-handler takes a lock file around every write and rotation, and rotates by renaming,
so a rotated file keeps its inode and its bytes, which the query cursor relies on.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from concurrent_log_handler import ConcurrentRotatingFileHandler

from .records import JsonLineFormatter

__all__ = ["log_files", "rotating_handler"]


def rotating_handler(path: str | os.PathLike[str], max_bytes: int, count: int) -> logging.Handler:
    """A handler writing JSON lines to `path` (its folder is created, mode 0700), rotated at `max_bytes`,
    keeping `count` files in all (the one written and `count - 1` rotated ones; `count` >= 2)."""
    if count < 2 or max_bytes < 1:
        raise ValueError("a rotating log needs max_bytes >= 1 and count >= 2")
    target = Path(path)
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    handler = ConcurrentRotatingFileHandler(str(target), maxBytes=max_bytes, backupCount=count - 1,
                                            encoding="utf-8", chmod=0o600)
    handler.setFormatter(JsonLineFormatter())
    return handler


def log_files(path: str | os.PathLike[str]) -> list[Path]:
    """The log's files that exist, newest first: `path`, then `path.1`, `path.2` ..."""
    base = Path(path)
    numbered: list[tuple[int, Path]] = []
    try:
        entries = list(base.parent.iterdir())
    except OSError:
        return []
    prefix = base.name + "."
    for entry in entries:
        suffix = entry.name[len(prefix):] if entry.name.startswith(prefix) else ""
        if suffix.isdigit():
            numbered.append((int(suffix), entry))
    files = [base] if base.is_file() else []
    return files + [entry for _number, entry in sorted(numbered)]
