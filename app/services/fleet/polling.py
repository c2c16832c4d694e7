"""Polling nodes: every node's status at once, then one transaction that records what each said."""

from __future__ import annotations

import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import requests
from flask import Flask
from sqlalchemy import delete

from ...database import Node, NodeModel, NodeSample, utcnow
from ...extensions import db
from . import node_http
from .nodes import all_nodes, node_deny_networks
from .status import MAX_LOADED_MODELS, MAX_REPORTS, MAX_STATUS_BYTES, STATUS_DEADLINE_SECONDS, count, \
    parse_report, shape_metrics, short_text

log = logging.getLogger(__name__)

OFFLINE_AFTER_FAILED_POLLS = 3
SAMPLE_RETENTION = timedelta(days=7)
UNREACHABLE = "unreachable"  # all a failed poll says: no port scanner (details go to the router's log only)
MALFORMED = "malformed status"


def apply_status(node: Node, status: dict[str, Any]) -> None:
    """A successful poll: the node's reports replace the previous ones; the node is online.
    Raises ValueError, before changing anything, when the status is malformed. Only the protocol's fields
    are kept, typed and bounded (see `shape_metrics`)."""
    models = status.get("models") or []
    if not isinstance(models, list) or len(models) > MAX_REPORTS:
        raise ValueError(f"'models' is not a list of at most {MAX_REPORTS} reports")
    reports = [parse_report(item) for item in models]
    active_requests = count(status.get("active_requests"))
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
    node.version = short_text(status.get("version"), 32) or node.version
    db.session.add(NodeSample(node_id=node.id, online=True, metrics=node.metrics,
                              active_requests=node.active_requests))


def record_failed_poll(node: Node, reason: str) -> None:
    node.failed_polls += 1
    node.last_error = reason[:2000]
    if node.online and node.failed_polls >= OFFLINE_AFTER_FAILED_POLLS:
        node.online = False
        log.warning("node %s (%s) is offline after %d failed polls: %s", node.name, node.id, node.failed_polls, reason)
    db.session.add(NodeSample(node_id=node.id, online=node.online, metrics={}, active_requests=0))


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


def fetch_status(target: tuple[str, str, str, requests.Session]) -> tuple[str, dict | None, str | None]:
    """(node id, status, None), or (node id, None, what went wrong) for the router's log only: the node
    record says just UNREACHABLE, so that a registered URL cannot be used to scan ports."""
    node_id, url, token, session = target
    deadline = time.monotonic() + STATUS_DEADLINE_SECONDS
    try:
        with session.get(f"{url}/v0/status", headers={"Authorization": f"Bearer {token}"}, timeout=(2, 5),
                         allow_redirects=False, stream=True) as response:
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
    session = node_http.session_for(node_deny_networks())  # read here: the pool's threads have no app context
    targets = [(node.id, node.url, node.token, session) for node in nodes.values()]
    with ThreadPoolExecutor(max_workers=min(node_http.POOL_SIZE, len(targets)), thread_name_prefix="poll") as pool:
        results = list(pool.map(fetch_status, targets))
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
    db.session.execute(delete(NodeSample).where(NodeSample.at < utcnow() - SAMPLE_RETENTION),
                       execution_options={"synchronize_session": False})  # loaded samples hold naive times
    db.session.commit()


def poll_job(app: Flask) -> None:
    with app.app_context():
        poll_all()
