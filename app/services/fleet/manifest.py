"""The manifest: what one node should hold, read by the node at each sync (docs/protocol.md)."""

from __future__ import annotations

import logging
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select

from ...database import Node, RegisteredModel
from ...errors import ApiError
from ...extensions import db
from ...units import format_bytes
from ..catalog.hub_inspect import ModelReference, choose_artifact, list_repo_files
from ..catalog.platforms import platforms_of

log = logging.getLogger(__name__)


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
        if node.platform not in platforms_of(model.engine, model.platforms):
            continue
        if model.required_memory_bytes > node.capacity_bytes:
            errors.append({"id": model.id, "error": _(
                "insufficient memory: needs %(need)s, node has %(have)s",
                need=format_bytes(model.required_memory_bytes, unit="GiB", rounding="up"),
                have=format_bytes(node.capacity_bytes, unit="GiB", rounding="down"))})
            continue
        if not _resolve_files(model):
            continue  # asked again at the next sync
        entries.append({"id": model.id, "repo": model.repo, "revision": model.revision, "format": model.format,
                        "engine": model.engine, "files": model.files, "attempt": model.attempt})
    return {"models": entries, "errors": errors}

