"""Nodes: registration, manifests, status polling, and notifications (docs/protocol.md).

The router never downloads: it tells each node what to hold (the manifest), polls what the nodes
report, and derives each model's lifecycle from those reports.
"""

from __future__ import annotations

import hmac
import logging
import math
import secrets
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import requests
from flask import Flask, current_app
from flask_babel import gettext as _
from sqlalchemy import delete, func, select

from ..errors import ApiError
from ..extensions import db
from ..models import Node, NodeModel, NodeSample, RegisteredModel, iso_utc, utcnow
from .hub_inspect import ModelReference, choose_artifact, list_repo_files
from .lifecycle import NodeModelState, percent

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
_session = requests.Session()
_session.headers["User-Agent"] = "llm-router"


# --- Registration ---------------------------------------------------------------------------------

def _require(condition: bool, field: str, message: str) -> None:
    if not condition:
        raise ApiError(400, "invalid_node", message, field)


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def parse_registration(body: Any) -> dict[str, Any]:
    _require(isinstance(body, dict), "body", _("The request body must be a JSON object."))
    name, url, platform = body.get("name"), body.get("url"), body.get("platform")
    _require(isinstance(name, str) and 0 < len(name) <= 100 and name.isprintable(), "name",
             _("'name' must be 1 to 100 printable characters."))
    parts = urlsplit(url) if isinstance(url, str) and len(url) <= 255 else None
    _require(parts is not None and parts.scheme in ("http", "https") and bool(parts.hostname), "url",
             _("'url' must be the node's http(s) address, such as http://10.0.0.5:8090."))
    _require(platform in PLATFORMS, "platform", _("'platform' must be one of: %(values)s.", values=", ".join(PLATFORMS)))
    engines = body.get("engines")
    _require(isinstance(engines, list) and all(engine in ENGINES for engine in engines), "engines",
             _("'engines' must be a list of: %(values)s.", values=", ".join(ENGINES)))
    _require(_is_count(body.get("cpu_count", 0)), "cpu_count", _("'cpu_count' must be a whole number."))
    _require(_is_count(body.get("memory_bytes", 0)), "memory_bytes", _("'memory_bytes' must be a whole number."))
    gpus = body.get("gpus", [])
    _require(isinstance(gpus, list) and all(isinstance(gpu, dict) and isinstance(gpu.get("name"), str)
                                            and _is_count(gpu.get("memory_bytes")) for gpu in gpus), "gpus",
             _("'gpus' must be a list of {name, memory_bytes}."))
    version = body.get("version", "")
    _require(isinstance(version, str) and len(version) <= 32, "version", _("'version' must be a short string."))
    return {"name": name, "url": url.rstrip("/"), "platform": platform, "engines": sorted(set(engines)),
            "cpu_count": body.get("cpu_count", 0), "memory_bytes": body.get("memory_bytes", 0),
            "gpus": [{"name": gpu["name"][:100], "memory_bytes": gpu["memory_bytes"]} for gpu in gpus],
            "version": version}


def register_node(body: Any) -> tuple[Node, bool]:
    """Create the node, or update it in place when the name is known (its id stays)."""
    fields = parse_registration(body)
    node = db.session.scalar(select(Node).where(Node.name == fields["name"]))
    created = node is None
    if created:
        node = Node(id=secrets.token_hex(16), **fields)
        db.session.add(node)
    else:
        for key, value in fields.items():
            setattr(node, key, value)
    node.token = secrets.token_urlsafe(32)
    node.online, node.failed_polls, node.last_error, node.last_seen_at = True, 0, None, utcnow()
    db.session.commit()
    log.info("node %s (%s) %s at %s", node.name, node.id, "registered" if created else "registered again", node.url)
    return node, created


def token_matches(node: Node, presented: str | None) -> bool:
    return bool(presented) and hmac.compare_digest(node.token.encode(), presented.encode())


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
            "last_error": node.last_error, "metrics": node.metrics, "active_requests": node.active_requests,
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
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"not a count: {value!r}")
    return value


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
    Raises ValueError, before changing anything, when the status is malformed."""
    models = status.get("models") or []
    if not isinstance(models, list):
        raise ValueError("'models' is not a list")
    reports = [_parse_report(item) for item in models]
    active_requests = _count(status.get("active_requests"))
    db.session.execute(delete(NodeModel).where(NodeModel.node_id == node.id))
    for report in reports:
        report.node_id = node.id
        db.session.merge(report)
    if not node.online:
        log.info("node %s (%s) is online again", node.name, node.id)
    node.online, node.failed_polls, node.last_error, node.last_seen_at = True, 0, None, utcnow()
    node.metrics = status.get("metrics") if isinstance(status.get("metrics"), dict) else {}
    node.active_requests = active_requests
    loaded = status.get("loaded_models")
    node.loaded_models = [str(model_id)[:255] for model_id in loaded[:1000]] if isinstance(loaded, list) else []
    node.version = str(status.get("version") or node.version)[:32]
    db.session.add(NodeSample(node_id=node.id, online=True, metrics=node.metrics,
                              active_requests=node.active_requests))


def record_failed_poll(node: Node, reason: str) -> None:
    node.failed_polls += 1
    node.last_error = reason[:2000]
    if node.online and node.failed_polls >= OFFLINE_AFTER_FAILED_POLLS:
        node.online = False
        log.warning("node %s (%s) is offline after %d failed polls: %s", node.name, node.id, node.failed_polls, reason)
    db.session.add(NodeSample(node_id=node.id, online=node.online, metrics={}, active_requests=0))


def _fetch_status(target: tuple[str, str, str]) -> tuple[str, dict | None, str | None]:
    node_id, url, token = target
    try:
        response = _session.get(f"{url}/v0/status", headers={"Authorization": f"Bearer {token}"}, timeout=(2, 5))
    except requests.RequestException as exc:
        return node_id, None, f"{type(exc).__name__} reaching {url}"
    if response.status_code != 200:
        return node_id, None, f"HTTP {response.status_code} from {url}/v0/status"
    try:
        payload = response.json()
    except ValueError:
        return node_id, None, f"{url}/v0/status did not answer JSON"
    return (node_id, payload, None) if isinstance(payload, dict) else (node_id, None, "status is not an object")


def poll_all() -> None:
    """One poll cycle: every node at once (one slow node delays no other), then one transaction."""
    nodes = {node.id: node for node in all_nodes()}
    if not nodes:
        return
    targets = [(node.id, node.url, node.token) for node in nodes.values()]
    with ThreadPoolExecutor(max_workers=min(_POLL_WORKERS, len(targets)), thread_name_prefix="poll") as pool:
        results = list(pool.map(_fetch_status, targets))
    for node_id, payload, problem in results:
        if payload is not None:
            try:
                apply_status(nodes[node_id], payload)
                continue
            except ValueError as exc:  # one node's bad answer must not stop the others' polls
                problem = f"malformed status from {nodes[node_id].url}: {exc}"
        record_failed_poll(nodes[node_id], problem or "unknown error")
    db.session.execute(delete(NodeSample).where(NodeSample.at < utcnow() - SAMPLE_RETENTION))
    db.session.commit()


# --- Telling nodes to sync ------------------------------------------------------------------------

def _send_one_sync(target: tuple[str, str]) -> None:
    url, token = target
    try:
        _session.post(f"{url}/v0/sync", headers={"Authorization": f"Bearer {token}"}, timeout=(2, 3))
    except requests.RequestException as exc:
        log.info("sync notification to %s failed (%s); the node will see the change at its next sync",
                 url, type(exc).__name__)


def _send_sync(targets: list[tuple[str, str]]) -> None:
    """All at once, so a few unresponsive nodes delay no other."""
    with ThreadPoolExecutor(max_workers=min(_POLL_WORKERS, len(targets)), thread_name_prefix="notify") as pool:
        list(pool.map(_send_one_sync, targets))


def notify_all() -> None:
    """Best effort, off the request path: a missed notification only delays (nodes re-read manifests)."""
    targets = [(node.url, node.token) for node in all_nodes() if node.online]
    if targets:
        threading.Thread(target=_send_sync, args=(targets,), name="notify-nodes", daemon=True).start()


def poll_job(app: Flask) -> None:
    with app.app_context():
        poll_all()
