"""A daemon thread of the current process, started on first use.

Not in `create_app`: gunicorn may fork after it, and a thread does not survive a fork. The history
writer and the alert webhook each own one; `ensure` is cheap enough for every call on the request path.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable


class ProcessThread:
    def __init__(self, target: Callable[[], None], name: str) -> None:
        self._target = target
        self._name = name
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._lock = threading.Lock()

    @property
    def running_here(self) -> bool:
        """Started in this process (a thread inherited from a parent through fork is gone)."""
        return self._thread is not None and self._pid == os.getpid()

    def ensure(self) -> None:
        if self.running_here:
            return
        with self._lock:
            if not self.running_here:
                self._pid = os.getpid()
                self._thread = threading.Thread(target=self._target, name=self._name, daemon=True)
                self._thread.start()

    def join(self, timeout: float) -> None:
        """Wait for the thread to end (its target was told to stop) and forget it."""
        if self.running_here:
            self._thread.join(timeout)
            self._thread = None
