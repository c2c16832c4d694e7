"""Telling nodes to sync now, after a registration, a cancel, a retry or a delete."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor

import requests

from . import node_http
from .nodes import all_nodes, node_deny_networks

log = logging.getLogger(__name__)


def _send_one_sync(target: tuple[str, str, requests.Session]) -> None:
    url, token, session = target
    try:
        # The answer is not read: a node has nothing to say here, and a hostile one could say a lot.
        session.post(f"{url}/v0/sync", headers={"Authorization": f"Bearer {token}"}, timeout=(2, 3),
                     allow_redirects=False, stream=True).close()
    except requests.RequestException as exc:
        log.info("sync notification to %s failed (%s); the node will see the change at its next sync",
                 url, type(exc).__name__)


def _send_sync(targets: list[tuple[str, str, requests.Session]]) -> None:
    """All at once, so a few unresponsive nodes delay no other."""
    with ThreadPoolExecutor(max_workers=min(node_http.POOL_SIZE, len(targets)), thread_name_prefix="notify") as pool:
        list(pool.map(_send_one_sync, targets))


def notify_all() -> None:
    """Best effort, off the request path: a missed notification only delays (nodes re-read manifests)."""
    session = node_http.session_for(node_deny_networks())  # read here: the threads have no app context
    targets = [(node.url, node.token, session) for node in all_nodes() if node.online]
    if targets:
        threading.Thread(target=_send_sync, args=(targets,), name="notify-nodes", daemon=True).start()

