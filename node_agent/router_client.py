"""The node's side of the router protocol (docs/protocol.md, "Node -> router").

Why a class with state: the router answers a registration with this node's id and a token that
the router will present on every call to the node. The router lets a name be registered again only
by the node that holds its current token (409 `node_name_taken` otherwise, so that one node key
cannot take over another node), so the registration is also kept in a file (`state_path`, mode
0600, in the models directory): a restarted agent sends it back as `X-Node-Token` and keeps its
name. When the router says it does not know the node (404 `node_not_found`, e.g. its database was
reset or an admin removed the node) or refuses the credentials (401), the client registers again
and retries once; an unknown name needs no token.

The router may be down when the agent starts, or restart later; `register_until_done` retries
with exponential backoff until it succeeds or the agent stops. Neither the API key nor the token
ever appears in a log line or an exception message.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from node_agent import __version__

__all__ = ["Registration", "RouterClient", "RouterError", "RouterUnavailable", "RouterRejected"]

log = logging.getLogger(__name__)

FIRST_BACKOFF = 1.0
MAX_BACKOFF = 30.0
# (connect, read) seconds: the router answers these calls from its database, quickly.
DEFAULT_TIMEOUT = (5.0, 30.0)


@dataclass(frozen=True)
class Registration:
    """What the router answered to POST /v0/nodes."""

    node_id: str
    token: str = field(repr=False)
    poll_interval_seconds: float | None = None
    manifest_url: str | None = None


class RouterError(Exception):
    """A call to the router failed; the message is safe to log (no secrets)."""


class RouterUnavailable(RouterError):
    """The router could not be reached or answered 5xx/429: try again later."""


class RouterRejected(RouterError):
    """The router refused the call (4xx). `status` and `code` come from its error envelope."""

    def __init__(self, message: str, status: int, code: str | None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


def _error_of(response: requests.Response) -> tuple[str, str | None]:
    """(message, code) from the router's error envelope, or a generic sentence."""
    try:
        error = response.json().get("error") or {}
        message, code = error.get("message"), error.get("code")
    except (ValueError, AttributeError):
        message, code = None, None
    text = f"HTTP {response.status_code}" + (f": {message}" if isinstance(message, str) and message else "")
    return text, code if isinstance(code, str) else None


class RouterClient:
    """Registers this node and reads its manifest. Safe to call from several threads (calls are serialised)."""

    def __init__(self, router_url: str, api_key: str, registration_body: Callable[[], dict[str, Any]],
                 timeout: tuple[float, float] = DEFAULT_TIMEOUT, max_backoff: float = MAX_BACKOFF,
                 state_path: str | Path | None = None) -> None:
        self.router_url = router_url.rstrip("/")
        self._api_key = api_key
        self._registration_body = registration_body
        self.timeout = timeout
        self.max_backoff = max_backoff
        self._registration: Registration | None = None
        self._state_path = Path(state_path) if state_path else None
        self._saved_token = self._load_token()  # proves this node's name when registering again
        self._lock = threading.RLock()
        self._session = requests.Session()
        self._session.headers["User-Agent"] = f"llm-router-node-agent/{__version__}"

    # -- what the router issued -------------------------------------------------------------------

    @property
    def registration(self) -> Registration | None:
        return self._registration

    @property
    def node_id(self) -> str | None:
        registration = self._registration
        return registration.node_id if registration else None

    @property
    def token(self) -> str | None:
        """The token the router presents to this node (None until registered)."""
        registration = self._registration
        return registration.token if registration else None

    # -- the registration kept on disk ------------------------------------------------------------

    def _load_token(self) -> str | None:
        """The token of the last registration with this router, if one was kept (never logged)."""
        if self._state_path is None:
            return None
        try:
            state = json.loads(self._state_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            log.warning("ignoring the saved registration %s (%s)", self._state_path, type(exc).__name__)
            return None
        token = state.get("token") if isinstance(state, dict) else None
        if not isinstance(token, str) or not token or state.get("router_url") != self.router_url:
            return None  # another router's token proves nothing here (and is not sent to it)
        return token

    def _save(self, registration: Registration) -> None:
        """Written 0600 from the start, then renamed over the old file: never readable by others, never half
        written."""
        self._saved_token = registration.token
        if self._state_path is None:
            return
        state = {"router_url": self.router_url, "node_id": registration.node_id, "token": registration.token}
        temporary = self._state_path.with_name(self._state_path.name + ".tmp")
        try:
            self._state_path.parent.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(descriptor, "w", encoding="utf-8") as file:
                os.fchmod(file.fileno(), 0o600)  # an older file's mode does not carry over
                json.dump(state, file)
            os.replace(temporary, self._state_path)
        except OSError as exc:
            log.warning("could not save the registration to %s (%s): a restarted agent may need an admin to "
                        "remove this node before it can register again", self._state_path, type(exc).__name__)

    # -- calls ------------------------------------------------------------------------------------

    def _call(self, method: str, path: str, node_token: str | None = None, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {self._api_key}", "Accept": "application/json"}
        if node_token:  # proves which node asks: the router gives a manifest only to its own node
            headers["X-Node-Token"] = node_token
        try:
            response = self._session.request(method, f"{self.router_url}{path}", headers=headers,
                                             timeout=self.timeout, **kwargs)
        except requests.RequestException as exc:
            # The exception text can be long; its type and the URL (no secrets in it) say enough.
            raise RouterUnavailable(f"cannot reach the router at {self.router_url} ({type(exc).__name__})") from None
        if response.status_code >= 500 or response.status_code == 429:
            message, _ = _error_of(response)
            raise RouterUnavailable(f"the router answered {message} to {method} {path}")
        return response

    def register(self) -> Registration:
        """POST /v0/nodes; keeps and returns the id and token. Raises RouterError."""
        with self._lock:
            # The token proves that a name the router knows is this node's (the router keeps it then).
            response = self._call("POST", "/v0/nodes", node_token=self.token or self._saved_token,
                                  json=self._registration_body())
            if response.status_code not in (200, 201):
                message, code = _error_of(response)
                hint = ""
                if response.status_code == 401:
                    hint = " (is LLM_NODE_API_KEY a valid, unrevoked key?)"
                elif response.status_code == 403:
                    hint = " (the API key needs the node scope)"
                elif response.status_code == 409:
                    hint = (" (another node has this name, or this node's saved registration was lost: choose "
                            "another LLM_NODE_NAME, or have an admin remove the node on the router)")
                raise RouterRejected(f"the router refused the registration: {message}{hint}",
                                     response.status_code, code)
            try:
                body = response.json()
                node_id, token = body["id"], body["token"]
                if not (isinstance(node_id, str) and node_id and isinstance(token, str) and token):
                    raise TypeError
                interval = body.get("poll_interval_seconds")
                registration = Registration(node_id, token,
                                            float(interval) if isinstance(interval, (int, float)) else None,
                                            body.get("manifest_url") if isinstance(body.get("manifest_url"), str)
                                            else None)
            except (ValueError, KeyError, TypeError, AttributeError):
                raise RouterUnavailable("the router's registration answer has no id and token") from None
            known = self._registration is not None
            self._registration = registration
            self._save(registration)
            log.info("%s with the router at %s as node %s (%s)", "registered again" if known else "registered",
                     self.router_url, registration.node_id, "known name" if response.status_code == 200 else "new")
            return registration

    def register_until_done(self, stop: threading.Event) -> Registration | None:
        """Register, retrying with backoff (1 s, 2 s ... 30 s) until it works; None if `stop` is set first."""
        delay, attempt = FIRST_BACKOFF, 0
        while not stop.is_set():
            attempt += 1
            try:
                return self.register()
            except RouterError as exc:
                # The first failure and every tenth say so loudly; the others would only repeat it.
                level = logging.WARNING if attempt == 1 or attempt % 10 == 0 else logging.DEBUG
                log.log(level, "registration failed (attempt %d): %s; retrying in %.0f s", attempt, exc, delay)
            if stop.wait(delay):
                break
            delay = min(delay * 2, self.max_backoff)
        return None

    def manifest(self) -> dict[str, Any]:
        """GET /v0/nodes/<id>/manifest (registering first if needed). Raises RouterError.

        A 404 `node_not_found` or a 401 means the router forgot this node or its registration:
        register again and retry once.
        """
        with self._lock:
            if self._registration is None:
                self.register()
            for attempt in (1, 2):
                node_id = self.node_id
                response = self._call("GET", f"/v0/nodes/{node_id}/manifest", node_token=self.token)
                if response.status_code == 200:
                    try:
                        body = response.json()
                    except ValueError:
                        raise RouterUnavailable("the router's manifest is not JSON") from None
                    if not isinstance(body, dict):
                        raise RouterUnavailable("the router's manifest is not a JSON object")
                    return body
                message, code = _error_of(response)
                forgotten = response.status_code == 401 or (response.status_code == 404 and code == "node_not_found")
                if forgotten and attempt == 1:
                    log.warning("the router does not know node %s any more (%s); registering again", node_id, message)
                    self.register()
                    continue
                raise RouterRejected(f"the router refused the manifest of node {node_id}: {message}",
                                     response.status_code, code)
            raise AssertionError("unreachable")

    def close(self) -> None:
        self._session.close()
