"""HTTP to nodes' management endpoints (status, sync): pooled sessions that refuse denied peers.

One `NodeHttp` per application (`app.extensions["node_http"]`, made in `create_app`), holding one
session per deny list.
"""

from __future__ import annotations

import threading
from http.cookiejar import DefaultCookiePolicy
from typing import Any

import requests
import urllib3
from flask import current_app
from requests.adapters import HTTPAdapter

from ..inference.node_client import Network, check_peer

POOL_SIZE = 64  # the most nodes polled or notified at once


class _PeerCheck:
    """Refuses, once connected, a peer in LLM_ROUTER_NODE_DENY_NETWORKS: what a node's name resolves to
    may have changed since it registered."""

    deny: tuple[Network, ...] = ()

    def _new_conn(self):  # type: ignore[no-untyped-def]
        sock = super()._new_conn()  # type: ignore[misc]
        try:
            check_peer(sock, self.deny)
        except OSError as exc:
            sock.close()
            raise urllib3.exceptions.NewConnectionError(self, str(exc)) from None  # type: ignore[arg-type]
        return sock


class _GuardedConnection(_PeerCheck, urllib3.connection.HTTPConnection):
    pass


class _GuardedTlsConnection(_PeerCheck, urllib3.connection.HTTPSConnection):
    pass


class _GuardedAdapter(HTTPAdapter):
    def __init__(self, deny: tuple[Network, ...]) -> None:
        self._deny = deny
        super().__init__(pool_maxsize=POOL_SIZE)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        plain = type("GuardedConnection", (_GuardedConnection,), {"deny": self._deny})
        tls = type("GuardedTlsConnection", (_GuardedTlsConnection,), {"deny": self._deny})
        self.poolmanager.pool_classes_by_scheme = {
            "http": type("GuardedPool", (urllib3.HTTPConnectionPool,), {"ConnectionCls": plain}),
            "https": type("GuardedTlsPool", (urllib3.HTTPSConnectionPool,), {"ConnectionCls": tls})}



class NodeHttp:
    """Pooled sessions to nodes, one per deny list. A session keeps no cookies (a node's cookie would
    otherwise go to every node on the same host), follows no redirects (callers say so), and ignores the
    environment's proxies (nodes are called directly, as the inference path does)."""

    def __init__(self) -> None:
        self._sessions: dict[tuple[Network, ...], requests.Session] = {}
        self._lock = threading.Lock()

    def session(self, deny: tuple[Network, ...]) -> requests.Session:
        with self._lock:
            session = self._sessions.get(deny)
            if session is None:
                session = requests.Session()
                session.trust_env = False
                session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
                session.headers.update({"User-Agent": "llm-router", "Accept-Encoding": "identity"})
                adapter = _GuardedAdapter(deny)
                session.mount("http://", adapter)
                session.mount("https://", adapter)
                self._sessions[deny] = session
            return session

    def close(self) -> None:
        with self._lock:
            for session in self._sessions.values():
                session.close()
            self._sessions.clear()


def session_for(deny: tuple[Network, ...]) -> requests.Session:
    """The current application's session for `deny`."""
    return current_app.extensions["node_http"].session(deny)
