"""The manifest: what one node should hold, read by the node at each sync (docs/protocol.md)."""

from __future__ import annotations

import logging
import math
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select

from ...database import Node, RegisteredModel
from ...errors import ApiError
from ...extensions import db
from ..catalog.hub_inspect import ModelReference, choose_artifact, list_repo_files
from ..catalog.platforms import DEFAULT_PLATFORMS

log = logging.getLogger(__name__)


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


def manifest_for(node: Node) -> dict[str, Any]:
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

