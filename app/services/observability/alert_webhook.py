"""Alerts to a chat room: each raised alert POSTed to `LLM_ROUTER_ALERT_WEBHOOK_URL` as Slack's
`{"text": "..."}` (Mattermost, Rocket.Chat, Discord's /slack endpoint and most others take it too).

Nothing waits on it: `send` puts the sentence on a bounded queue and returns; one thread of the
process posts them in order, each with a timeout and one retry. Redirects are not followed (the
router calls only the host the operator configured). A webhook URL usually carries a token in its
path, so the log names only its scheme and host, and never an exception's text (which may quote
the URL).
"""

from __future__ import annotations

import logging
import queue
import threading
from urllib.parse import urlsplit

import requests

from .process_thread import ProcessThread

log = logging.getLogger(__name__)

QUEUE_SIZE = 100  # sentences waiting to be posted; beyond it they are dropped (and logged), never waited for
TIMEOUT_SECONDS = 5.0
RETRY_DELAY_SECONDS = 1.0
ATTEMPTS = 2  # the first try and one retry


def safe_target(url: str) -> str:
    """What the log may say of a webhook URL: its scheme and host (and port), never path or query."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    return f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port else "")


class AlertWebhook:
    """Posts sentences to one URL from its own thread, started on the first `send` in each process
    (a thread does not survive gunicorn's fork)."""

    def __init__(self, url: str, timeout: float = TIMEOUT_SECONDS, retry_delay: float = RETRY_DELAY_SECONDS) -> None:
        self._url = url
        self._target = safe_target(url)
        self._timeout = timeout
        self._retry_delay = retry_delay
        self._queue: queue.Queue[str | None] = queue.Queue(QUEUE_SIZE)  # None: stop
        self._session = requests.Session()
        self._session.trust_env = False  # no proxy or .netrc from the environment: the configured host only
        self._thread = ProcessThread(self._run, "alert-webhook")
        self._stop = threading.Event()

    def send(self, text: str) -> None:
        """Queue `text` for posting; never blocks, never raises."""
        self._thread.ensure()
        try:
            self._queue.put_nowait(text)
        except queue.Full:
            log.warning("alert webhook %s: %d alerts are waiting already; this one is not sent", self._target,
                        QUEUE_SIZE)

    def close(self, timeout: float = 5.0) -> None:
        """End the thread after what is queued (tests; the scheduler's process just exits)."""
        self._stop.set()
        if self._thread.running_here:
            try:
                self._queue.put_nowait(None)
            except queue.Full:
                pass
            self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            text = self._queue.get()
            if text is None:
                return
            self._deliver(text)

    def _deliver(self, text: str) -> bool:
        for attempt in range(1, ATTEMPTS + 1):
            problem = self._post(text)
            if problem is None:
                return True
            log.warning("alert webhook %s: attempt %d of %d failed: %s", self._target, attempt, ATTEMPTS, problem)
            if attempt < ATTEMPTS and self._stop.wait(self._retry_delay):
                break
        log.error("alert webhook %s: an alert was not delivered", self._target)
        return False

    def _post(self, text: str) -> str | None:
        """None when the hook took it (2xx), else what went wrong, safe to log."""
        try:
            response = self._session.post(self._url, json={"text": text}, timeout=self._timeout,
                                          allow_redirects=False)
            response.close()
        except requests.RequestException as exc:
            return type(exc).__name__
        if 200 <= response.status_code < 300:
            return None
        if 300 <= response.status_code < 400:
            return f"HTTP {response.status_code} (a redirect, not followed)"
        return f"HTTP {response.status_code}"
