"""Nodes: registration, manifests, status polling, and notifications (docs/protocol.md).

The router never downloads: it tells each node what to hold (the manifest), polls what the nodes
report, and derives each model's lifecycle from those reports.
"""

from __future__ import annotations

import hmac
import json
import logging
import math
import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from http.cookiejar import DefaultCookiePolicy
from typing import Any

import requests
import urllib3
from flask import Flask, current_app
from flask_babel import gettext as _
from requests.adapters import HTTPAdapter
from sqlalchemy import delete, func, select

from ..errors import ApiError
from ..extensions import db
from ..models import Node, NodeModel, NodeSample, RegisteredModel, iso_utc, utcnow
from .hub_inspect import ModelReference, choose_artifact, list_repo_files
from .lifecycle import NodeModelState, percent
from .node_client import Network, check_peer, denied_addresses, deny_networks, parse_node_url

log = logging.getLogger(__name__)

ENGINES = ("llama_cpp", "ctranslate2")
PLATFORMS = ("linux-cpu", "linux-cuda", "macos-metal", "macos-cpu", "windows-cpu", "windows-cuda")
DEFAULT_PLATFORMS = {
    "llama_cpp": ["linux-cpu", "linux-cuda", "macos-metal"],
    "ctranslate2": ["linux-cpu", "linux-cuda"],
}
NODE_STATES = ("pending", "downloading", "ready", "error")
OFFLINE_AFTER_FAILED_POLLS = 3
SAMPLE_RETENTION = timedelta(days=7)
_POLL_WORKERS = 64
# What a node may report (docs/protocol.md): a status answer is read up to this size, and only its
# known fields are kept, typed and bounded, so that what a node says never grows the database or
# breaks a page, and a URL pointing elsewhere than a node reads back nothing but "unreachable".
MAX_STATUS_BYTES = 1024 * 1024
STATUS_DEADLINE_SECONDS = 10.0
MAX_BYTES = 2 ** 60  # 1 EiB: more than any machine, and well within SQLite's 64-bit integers
MAX_CPUS = 1 << 20
MAX_GPUS = 64
MAX_REPORTS = 10_000
MAX_LOADED_MODELS = 1000
UNREACHABLE = "unreachable"  # all a failed poll says: no port scanner (details go to the router's log only)
MALFORMED = "malformed status"


# --- Registration ---------------------------------------------------------------------------------

def _require(condition: bool, field: str, message: str) -> None:
    if not condition:
        raise ApiError(400, "invalid_node", message, field)


def _is_count(value: Any, limit: int = MAX_BYTES) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= limit


def node_deny_networks() -> tuple[Network, ...]:
    """LLM_ROUTER_NODE_DENY_NETWORKS, parsed (once per value)."""
    return deny_networks(current_app.config.get("NODE_DENY_NETWORKS") or "")


def _check_url(url: Any) -> str:
    """The node's base URL without a trailing slash; a 400 for anything the router must not call."""
    message = _("'url' must be the node's http(s) address, such as http://10.0.0.5:8090: a host name or an IP "
                "address, a port from 1 to 65535, no user name, query or fragment.")
    try:
        parts = parse_node_url(url) if isinstance(url, str) and len(url) <= 255 else None
    except ValueError:
        parts = None
    _require(parts is not None, "url", message)
    assert parts is not None and isinstance(url, str)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    # An IP literal is checked without any lookup; a name is resolved now (and its address checked again at
    # every connection, for a name that resolves elsewhere later). A name that does not resolve yet is let be.
    denied = denied_addresses(host, port, node_deny_networks())
    _require(not denied, "url", _("The node's address %(address)s is in a network the router does not call "
                                  "(LLM_ROUTER_NODE_DENY_NETWORKS).", address=", ".join(denied or [])))
    return url.rstrip("/")


def parse_registration(body: Any) -> dict[str, Any]:
    _require(isinstance(body, dict), "body", _("The request body must be a JSON object."))
    name, platform = body.get("name"), body.get("platform")
    _require(isinstance(name, str) and 0 < len(name) <= 100 and name.isprintable(), "name",
             _("'name' must be 1 to 100 printable characters."))
    url = _check_url(body.get("url"))
    _require(platform in PLATFORMS, "platform", _("'platform' must be one of: %(values)s.", values=", ".join(PLATFORMS)))
    engines = body.get("engines")
    _require(isinstance(engines, list) and all(engine in ENGINES for engine in engines), "engines",
             _("'engines' must be a list of: %(values)s.", values=", ".join(ENGINES)))
    _require(_is_count(body.get("cpu_count", 0), MAX_CPUS), "cpu_count",
             _("'cpu_count' must be a whole number from 0 to %(max)s.", max=MAX_CPUS))
    _require(_is_count(body.get("memory_bytes", 0)), "memory_bytes",
             _("'memory_bytes' must be a whole number from 0 to %(max)s.", max=MAX_BYTES))
    gpus = body.get("gpus", [])
    _require(isinstance(gpus, list) and len(gpus) <= MAX_GPUS
             and all(isinstance(gpu, dict) and isinstance(gpu.get("name"), str)
                     and _is_count(gpu.get("memory_bytes")) for gpu in gpus), "gpus",
             _("'gpus' must be a list of at most %(count)s {name, memory_bytes}, with memory_bytes from 0 to "
               "%(max)s.", count=MAX_GPUS, max=MAX_BYTES))
    version = body.get("version", "")
    _require(isinstance(version, str) and len(version) <= 32, "version", _("'version' must be a short string."))
    return {"name": name, "url": url, "platform": platform, "engines": sorted(set(engines)),
            "cpu_count": body.get("cpu_count", 0), "memory_bytes": body.get("memory_bytes", 0),
            "gpus": [{"name": gpu["name"][:100], "memory_bytes": gpu["memory_bytes"]} for gpu in gpus],
            "version": version}


def register_node(body: Any, presented_token: str | None = None, admin: bool = False) -> tuple[Node, bool]:
    """Create the node, or update it in place when the name is known (its id stays).

    A known name is that node's only when the caller proves it: the node's current token (`presented_token`,
    which then stays the node's token, so that a registration retried after a lost answer still works), or
    an admin key (which replaces the token). Otherwise any node key could take over another node's name.
    """
    fields = parse_registration(body)
    node = db.session.scalar(select(Node).where(Node.name == fields["name"]))
    created = node is None
    proven = not created and token_matches(node, presented_token)
    if not created and not proven and not admin:
        raise ApiError(409, "node_name_taken", _(
            "A node named %(name)s is already registered. To register it again, send its current token in "
            "X-Node-Token, or remove that node first.", name=fields["name"]), "name")
    if created:
        node = Node(id=secrets.token_hex(16), **fields)
        db.session.add(node)
    else:
        for key, value in fields.items():
            setattr(node, key, value)
    if not proven:
        node.token = secrets.token_urlsafe(32)
    node.online, node.failed_polls, node.last_error, node.last_seen_at = True, 0, None, utcnow()
    db.session.commit()
    log.info("node %s (%s) %s at %s", node.name, node.id, "registered" if created else "registered again", node.url)
    return node, created


def token_matches(node: Node, presented: str | None) -> bool:
    return bool(presented) and hmac.compare_digest(node.token.encode(), presented.encode())  # type: ignore[union-attr]


def all_nodes() -> list[Node]:
    return list(db.session.scalars(select(Node).order_by(Node.name)))


def get_node(node_id: str) -> Node:
    node = db.session.get(Node, node_id)
    if node is None:
        raise ApiError(404, "node_not_found", _("There is no node with id %(id)s; register again.", id=node_id), "id")
    return node


def node_record(node: Node) -> dict[str, Any]:
    """What the API shows of a node: never its token."""
    return {"id": node.id, "name": node.name, "url": node.url, "platform": node.platform, "engines": node.engines,
            "cpu_count": node.cpu_count, "memory_bytes": node.memory_bytes, "gpus": node.gpus,
            "version": node.version, "online": node.online, "failed_polls": node.failed_polls,
            "last_error": node.last_error, "metrics": shape_metrics(node.metrics),
            "active_requests": node.active_requests,
            "loaded_models": node.loaded_models or [],
            "registered_at": iso_utc(node.registered_at), "last_seen_at": iso_utc(node.last_seen_at)}


def node_reports(node: Node) -> list[dict[str, Any]]:
    """The node's latest report about each model it was asked to hold, by model id, with its progress."""
    rows = db.session.scalars(select(NodeModel).where(NodeModel.node_id == node.id).order_by(NodeModel.model_id))
    return [{"model_id": row.model_id, "state": row.state, "error": row.error,
             "progress": {"downloaded_bytes": row.downloaded_bytes, "total_bytes": row.total_bytes,
                          "percent": percent(row.downloaded_bytes, row.total_bytes)}} for row in rows]


def model_counts() -> dict[str, dict[str, int]]:
    """How many models each node reported in each state: {node_id: {"ready": 2, "error": 1}}."""
    counts: dict[str, dict[str, int]] = {}
    rows = db.session.execute(select(NodeModel.node_id, NodeModel.state, func.count())
                              .group_by(NodeModel.node_id, NodeModel.state))
    for node_id, state, count in rows:
        counts.setdefault(node_id, {})[state] = count
    return counts


def delete_node(node: Node) -> None:
    """The node with everything it reported: its model reports and samples (also removed by the database's
    ON DELETE CASCADE now that foreign keys are on; explicit here so that no row is left either way)."""
    db.session.execute(delete(NodeModel).where(NodeModel.node_id == node.id))
    db.session.execute(delete(NodeSample).where(NodeSample.node_id == node.id))
    db.session.delete(node)
    db.session.commit()
    log.info("node %s (%s) removed", node.name, node.id)


# --- Manifest -------------------------------------------------------------------------------------

def _gib(value: int, round_up: bool) -> str:
    """One decimal, rounded so that a need never looks smaller, nor a capacity larger, than it is."""
    tenths = value / 1024 ** 3 * 10
    return f"{(math.ceil(tenths) if round_up else math.floor(tenths)) / 10:.1f}"


def _resolve_files(model: RegisteredModel) -> bool:
    """Catalog registrations store no file list (they need no Hub); read it when a node first asks."""
    if model.files:
        return True
    config = current_app.config
    try:
        listing = list_repo_files(ModelReference(model.repo, model.revision or "main"), config["HF_ENDPOINT"],
                                  config["HF_TOKEN"], config["HF_REQUEST_TIMEOUT_SECONDS"])
        artifact = choose_artifact(listing, model.filename)
    except ApiError as exc:
        log.warning("file list of %s (%s) unavailable: %s", model.id, model.repo, exc.message)
        return False
    model.files = [item.to_dict() for item in artifact.files]
    model.revision = listing.sha
    model.size_bytes = artifact.size_bytes
    db.session.commit()
    return True


def manifest(node: Node) -> dict[str, Any]:
    entries, errors = [], []
    for model in db.session.scalars(select(RegisteredModel).order_by(RegisteredModel.created_at)):
        if model.cancelled or model.engine not in node.engines:
            continue
        if node.platform not in (model.platforms or DEFAULT_PLATFORMS.get(model.engine, [])):
            continue
        if model.required_memory_bytes > node.capacity_bytes:
            errors.append({"id": model.id, "error": _(
                "insufficient memory: needs %(need)s GiB, node has %(have)s GiB",
                need=_gib(model.required_memory_bytes, True), have=_gib(node.capacity_bytes, False))})
            continue
        if not _resolve_files(model):
            continue  # asked again at the next sync
        entries.append({"id": model.id, "repo": model.repo, "revision": model.revision, "format": model.format,
                        "engine": model.engine, "files": model.files, "attempt": model.attempt})
    return {"models": entries, "errors": errors}


# --- What nodes report ----------------------------------------------------------------------------

def node_states() -> dict[str, list[NodeModelState]]:
    """Every node's latest report, per model id."""
    states: dict[str, list[NodeModelState]] = {}
    rows = db.session.execute(select(NodeModel, Node.name, Node.online).join(Node, Node.id == NodeModel.node_id))
    for report, name, online in rows:
        states.setdefault(report.model_id, []).append(NodeModelState(
            report.node_id, name, online, report.state, report.downloaded_bytes, report.total_bytes, report.error))
    return states


def _count(value: Any) -> int:
    """A byte or request count from a node; anything else is a malformed status."""
    if value is None:
        return 0
    if not _is_count(value):
        raise ValueError(f"not a count: {str(value)[:40]!r}")
    return value


def _short_text(value: Any, limit: int) -> str | None:
    return value[:limit] if isinstance(value, str) and value.isprintable() else None


def _number(value: Any, low: float, high: float) -> float | int | None:
    """A finite number from a node, clamped to [low, high]; None for anything else."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return min(max(value, low), high)


def _figures(raw: dict[str, Any], percent_key: str) -> dict[str, Any]:
    """One machine's or GPU's figures: its percentage (0 to 100) and memory byte counts, each kept only
    when it is one."""
    figures: dict[str, Any] = {}
    percent = _number(raw.get(percent_key), 0, 100)
    if percent is not None:
        figures[percent_key] = percent
    for key in ("memory_used_bytes", "memory_total_bytes"):
        if _is_count(raw.get(key)):
            figures[key] = raw[key]
    return figures


def shape_metrics(raw: Any) -> dict[str, Any]:
    """The protocol's `metrics`, typed and bounded: known numeric keys and a GPU list of known shape.
    Unknown fields are dropped and wrong types left out, so pages and graphs get numbers or nothing."""
    if not isinstance(raw, dict):
        return {}
    metrics = _figures(raw, "cpu_percent")
    gpus = raw.get("gpus")
    if isinstance(gpus, list):
        metrics["gpus"] = [{"name": _short_text(gpu.get("name"), 100) or "", **_figures(gpu, "utilization_percent")}
                           for gpu in gpus[:MAX_GPUS] if isinstance(gpu, dict)]
    return metrics


def _parse_report(item: Any) -> NodeModel:
    if not isinstance(item, dict) or not isinstance(item.get("id"), str) or item.get("state") not in NODE_STATES:
        raise ValueError("a model report needs an id and a known state")
    error = item.get("error")
    return NodeModel(model_id=item["id"][:255], state=item["state"],
                     downloaded_bytes=_count(item.get("downloaded_bytes")),
                     total_bytes=_count(item.get("total_bytes")),
                     error=str(error)[:2000] if error else None, updated_at=utcnow())


def apply_status(node: Node, status: dict[str, Any]) -> None:
    """A successful poll: the node's reports replace the previous ones; the node is online.
    Raises ValueError, before changing anything, when the status is malformed. Only the protocol's fields
    are kept, typed and bounded (see `shape_metrics`)."""
    models = status.get("models") or []
    if not isinstance(models, list) or len(models) > MAX_REPORTS:
        raise ValueError(f"'models' is not a list of at most {MAX_REPORTS} reports")
    reports = [_parse_report(item) for item in models]
    active_requests = _count(status.get("active_requests"))
    db.session.execute(delete(NodeModel).where(NodeModel.node_id == node.id))
    for report in reports:
        report.node_id = node.id
        db.session.merge(report)
    if not node.online:
        log.info("node %s (%s) is online again", node.name, node.id)
    node.online, node.failed_polls, node.last_error, node.last_seen_at = True, 0, None, utcnow()
    node.metrics = shape_metrics(status.get("metrics"))
    node.active_requests = active_requests
    loaded = status.get("loaded_models")
    node.loaded_models = ([model_id[:255] for model_id in loaded[:MAX_LOADED_MODELS] if isinstance(model_id, str)]
                          if isinstance(loaded, list) else [])
    node.version = _short_text(status.get("version"), 32) or node.version
    db.session.add(NodeSample(node_id=node.id, online=True, metrics=node.metrics,
                              active_requests=node.active_requests))


def record_failed_poll(node: Node, reason: str) -> None:
    node.failed_polls += 1
    node.last_error = reason[:2000]
    if node.online and node.failed_polls >= OFFLINE_AFTER_FAILED_POLLS:
        node.online = False
        log.warning("node %s (%s) is offline after %d failed polls: %s", node.name, node.id, node.failed_polls, reason)
    db.session.add(NodeSample(node_id=node.id, online=node.online, metrics={}, active_requests=0))


# --- HTTP to nodes' management endpoints ----------------------------------------------------------

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
        super().__init__(pool_maxsize=_POLL_WORKERS)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        plain = type("GuardedConnection", (_GuardedConnection,), {"deny": self._deny})
        tls = type("GuardedTlsConnection", (_GuardedTlsConnection,), {"deny": self._deny})
        self.poolmanager.pool_classes_by_scheme = {
            "http": type("GuardedPool", (urllib3.HTTPConnectionPool,), {"ConnectionCls": plain}),
            "https": type("GuardedTlsPool", (urllib3.HTTPSConnectionPool,), {"ConnectionCls": tls})}


_sessions: dict[tuple[Network, ...], requests.Session] = {}
_sessions_lock = threading.Lock()


def _session_for(deny: tuple[Network, ...]) -> requests.Session:
    """One pooled session per deny list. It keeps no cookies (a node's cookie would otherwise go to every
    node on the same host), follows no redirects (callers say so), and ignores the environment's proxies
    (nodes are called directly, as the inference path does)."""
    with _sessions_lock:
        session = _sessions.get(deny)
        if session is None:
            session = requests.Session()
            session.trust_env = False
            session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
            session.headers.update({"User-Agent": "llm-router", "Accept-Encoding": "identity"})
            adapter = _GuardedAdapter(deny)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            _sessions[deny] = session
        return session


def _read_capped(response: requests.Response, limit: int, deadline: float) -> bytes | None:
    """The body, or None when it is longer than `limit` or still arriving at `deadline`."""
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    body = bytearray()
    for chunk in response.iter_content(64 * 1024):
        body += chunk
        if len(body) > limit or time.monotonic() > deadline:
            return None
    return bytes(body)


def _fetch_status(target: tuple[str, str, str, tuple[Network, ...]]) -> tuple[str, dict | None, str | None]:
    """(node id, status, None), or (node id, None, what went wrong) for the router's log only: the node
    record says just UNREACHABLE, so that a registered URL cannot be used to scan ports."""
    node_id, url, token, deny = target
    deadline = time.monotonic() + STATUS_DEADLINE_SECONDS
    try:
        with _session_for(deny).get(f"{url}/v0/status", headers={"Authorization": f"Bearer {token}"},
                                    timeout=(2, 5), allow_redirects=False, stream=True) as response:
            if response.status_code != 200:
                return node_id, None, f"HTTP {response.status_code}"
            body = _read_capped(response, MAX_STATUS_BYTES, deadline)
    except requests.RequestException as exc:
        return node_id, None, type(exc).__name__
    if body is None:
        return node_id, None, f"an answer over {MAX_STATUS_BYTES} bytes, or slower than {STATUS_DEADLINE_SECONDS:g} s"
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        return node_id, None, "an answer that is not JSON"
    if not isinstance(payload, dict):
        return node_id, None, "an answer that is not a JSON object"
    return node_id, payload, None


def poll_all() -> None:
    """One poll cycle: every node at once (one slow node delays no other), then one transaction."""
    nodes = {node.id: node for node in all_nodes()}
    if not nodes:
        return
    deny = node_deny_networks()
    targets = [(node.id, node.url, node.token, deny) for node in nodes.values()]
    with ThreadPoolExecutor(max_workers=min(_POLL_WORKERS, len(targets)), thread_name_prefix="poll") as pool:
        results = list(pool.map(_fetch_status, targets))
    for node_id, payload, detail in results:
        node, problem = nodes[node_id], UNREACHABLE
        if payload is not None:
            try:
                apply_status(node, payload)
                continue
            except ValueError as exc:  # one node's bad answer must not stop the others' polls
                problem, detail = MALFORMED, f"malformed status: {exc}"
        # The details, in the log only: at the first failure in a row (then the node's record says it).
        log.log(logging.INFO if node.failed_polls == 0 else logging.DEBUG, "status poll of node %s (%s) at %s "
                "failed: %s", node.name, node.id, node.url, detail)
        record_failed_poll(node, problem)
    db.session.execute(delete(NodeSample).where(NodeSample.at < utcnow() - SAMPLE_RETENTION))
    db.session.commit()


# --- Telling nodes to sync ------------------------------------------------------------------------

def _send_one_sync(target: tuple[str, str, tuple[Network, ...]]) -> None:
    url, token, deny = target
    try:
        # The answer is not read: a node has nothing to say here, and a hostile one could say a lot.
        _session_for(deny).post(f"{url}/v0/sync", headers={"Authorization": f"Bearer {token}"}, timeout=(2, 3),
                                allow_redirects=False, stream=True).close()
    except requests.RequestException as exc:
        log.info("sync notification to %s failed (%s); the node will see the change at its next sync",
                 url, type(exc).__name__)


def _send_sync(targets: list[tuple[str, str, tuple[Network, ...]]]) -> None:
    """All at once, so a few unresponsive nodes delay no other."""
    with ThreadPoolExecutor(max_workers=min(_POLL_WORKERS, len(targets)), thread_name_prefix="notify") as pool:
        list(pool.map(_send_one_sync, targets))


def notify_all() -> None:
    """Best effort, off the request path: a missed notification only delays (nodes re-read manifests)."""
    deny = node_deny_networks()
    targets = [(node.url, node.token, deny) for node in all_nodes() if node.online]
    if targets:
        threading.Thread(target=_send_sync, args=(targets,), name="notify-nodes", daemon=True).start()


def poll_job(app: Flask) -> None:
    with app.app_context():
        poll_all()
