"""Registered models: registration (metadata only, FR-4/FR-5), listing, deletion, the Hub list.

Blueprints and dashboard pages call these functions; nothing here knows about HTTP beyond raising
`ApiError` with a status and a sentence for a person.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from ...errors import ApiError
from ...extensions import db
from ...database import NodeModel, RegisteredModel, iso_utc
from ..catalog.supported import Catalog, SupportedModel
from ..catalog.hub_stats import HubStatsCache
from ..catalog.hub_inspect import (
    choose_artifact,
    list_repo_files,
    listed_size,
    parse_model_reference,
    url_model_id,
)
from ..fleet import notify
from ..fleet.reports import NodeReport, reports_by_model
from ..fleet.reports import reports as fleet_reports
from ..statuses import HubStatus, Lifecycle
from .lifecycle import ModelSummary, summarize
from ..catalog.platforms import platforms_of
from ..catalog.paths import is_safe_relative_path

log = logging.getLogger(__name__)

_REGISTER_FIELDS = {"id": 128, "repo": 512, "filename": 255, "display_name": 120}


def catalog() -> Catalog:
    return current_app.extensions["catalog"]


def hub_stats() -> HubStatsCache:
    return current_app.extensions["hub_stats"]


# --- Registration -------------------------------------------------------------------------------

def parse_register_body(body: Any) -> dict[str, str]:
    """Checks the JSON body of `POST /v0/models/register`; 400 with the field at fault otherwise."""
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_body", _("The request body must be a JSON object."))
    unknown = sorted(set(body) - set(_REGISTER_FIELDS))
    if unknown:
        raise ApiError(400, "unknown_field", _("Unknown field '%(field)s'. Send either id, or repo with optional "
                                               "filename and display_name.", field=unknown[0]), unknown[0])
    fields: dict[str, str] = {}
    for name, limit in _REGISTER_FIELDS.items():
        value = body.get(name)
        if value is None:
            continue
        if not isinstance(value, str):
            raise ApiError(400, "invalid_type", _("'%(field)s' must be a string.", field=name), name)
        value = value.strip()
        if not value:
            raise ApiError(400, "empty_field", _("'%(field)s' must not be empty.", field=name), name)
        if len(value) > limit:
            raise ApiError(400, "too_long", _("'%(field)s' is longer than %(limit)d characters.", field=name,
                                              limit=limit), name)
        if any(ord(char) < 32 or ord(char) == 127 for char in value):
            raise ApiError(400, "invalid_characters", _("'%(field)s' contains control characters.", field=name), name)
        fields[name] = value
    if ("id" in fields) == ("repo" in fields):
        raise ApiError(400, "missing_field", _("Send either 'id' (a supported model) or 'repo' (a Hugging Face "
                                               "repo or URL), not both or neither."), "id" if "id" in fields else "repo")
    if "id" in fields and ({"filename", "display_name"} & set(fields)):
        raise ApiError(400, "unexpected_field", _("'filename' and 'display_name' go with 'repo', not with 'id'."),
                       "filename" if "filename" in fields else "display_name")
    if "filename" in fields and not is_safe_relative_path(fields["filename"]):
        raise ApiError(400, "invalid_filename", _("'filename' must be a relative path inside the repository "
                                                  "(no '..', no leading '/')."), "filename")
    return fields


def register(body: Any) -> RegisteredModel:
    fields = parse_register_body(body)
    if "id" in fields:
        supported = catalog().get(fields["id"])
        if supported is None:
            raise ApiError(404, "model_not_found", _("'%(id)s' is not a supported model. GET /v0/models/hub lists "
                                                     "them; other models can be registered by repo.",
                                                     id=fields["id"]), "id")
        return _store(_from_supported(supported))
    config = current_app.config
    reference = parse_model_reference(fields["repo"], config["HF_ENDPOINT"])
    if "filename" in fields and reference.filename and fields["filename"] != reference.filename:
        raise ApiError(400, "conflicting_filename", _("The URL names %(url_file)s but 'filename' says %(file)s.",
                                                      url_file=reference.filename, file=fields["filename"]), "filename")
    listing = list_repo_files(reference, config["HF_ENDPOINT"], config["HF_TOKEN"],
                              config["HF_REQUEST_TIMEOUT_SECONDS"])
    artifact = choose_artifact(listing, fields.get("filename") or reference.filename)
    supported = catalog().find_file(listing.repo, artifact.filename)
    if supported is not None:  # the same file as a catalog entry: one model, one id
        model = _from_supported(supported)
        model.revision = listing.sha
        model.files = [item.to_dict() for item in artifact.files]
        model.name = fields.get("display_name", model.name)
        return _store(model)
    repo_name = listing.repo.split("/", 1)[1]
    default_name = f"{repo_name} {artifact.quantization}" if artifact.quantization else repo_name
    return _store(RegisteredModel(
        id=url_model_id(listing.repo, artifact), source="url", name=fields.get("display_name", default_name),
        description="", repo=listing.repo, revision=listing.sha, filename=artifact.filename,
        files=[item.to_dict() for item in artifact.files], format=artifact.format, engine=artifact.engine,
        size_bytes=artifact.size_bytes, required_memory_bytes=artifact.required_memory_bytes,
        quantization=artifact.quantization, capabilities=["chat", "completion"], tags=[],
        platforms=platforms_of(artifact.engine, None),
    ))


def _from_supported(supported: SupportedModel) -> RegisteredModel:
    return RegisteredModel(
        id=supported.id, source="supported", name=supported.name, description=supported.description,
        repo=supported.repo, revision="main", filename=supported.recommended_filename, files=[],
        format=supported.format, engine=supported.engine, size_bytes=_best_size(supported),
        required_memory_bytes=supported.required_memory_bytes, quantization=supported.quantization,
        capabilities=list(supported.capabilities), tags=list(supported.tags), platforms=list(supported.platforms),
    )


def _store(model: RegisteredModel) -> RegisteredModel:
    """Insert; the primary key decides who wins when two requests register the same model."""
    db.session.add(model)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        log.info("registration of %s refused: already registered", model.id)
        raise ApiError(409, "model_already_registered", _("'%(id)s' is already registered.", id=model.id), "id")
    log.info("registered %s: %s %s (%s, %s bytes)", model.id, model.repo, model.filename, model.engine,
             model.size_bytes)
    notify.notify_all()
    return model


# --- Reading and deleting -------------------------------------------------------------------------

def registered_models() -> list[RegisteredModel]:
    return list(db.session.scalars(select(RegisteredModel).order_by(RegisteredModel.created_at,
                                                                    RegisteredModel.id)))


def model_exists(model_id: str) -> bool:
    return db.session.get(RegisteredModel, model_id) is not None


def get_model(model_id: str) -> RegisteredModel:
    model = db.session.get(RegisteredModel, model_id)
    if model is None:
        raise ApiError(404, "model_not_found", _("Model '%(id)s' is not registered.", id=model_id), "id")
    return model


def delete_model(model_id: str) -> None:
    """Metadata goes now; each node deletes its files at its next sync (told at once, best effort)."""
    model = get_model(model_id)
    db.session.delete(model)
    db.session.execute(delete(NodeModel).where(NodeModel.model_id == model_id))
    db.session.commit()
    log.info("deleted %s", model_id)
    notify.notify_all()


def cancel(model_id: str) -> RegisteredModel:
    """Every node stops and drops its partial files (the model leaves the manifests) while the model
    stays registered, shown as an error, until it is retried or deleted."""
    model = get_model(model_id)
    if not model.cancelled:
        model.cancelled = True
        db.session.execute(delete(NodeModel).where(NodeModel.model_id == model_id))
        db.session.commit()
        log.info("cancelled downloads of %s", model_id)
        notify.notify_all()
    return model


def retry(model_id: str) -> RegisteredModel:
    """A cancelled model goes back into the manifests; a failed one is tried again at once (the raised
    `attempt` in its manifest entry tells nodes not to wait for their own back-off)."""
    model = get_model(model_id)
    model.cancelled = False
    model.attempt += 1
    db.session.commit()
    log.info("retrying %s (attempt %d)", model_id, model.attempt)
    notify.notify_all()
    return model


def summary_of(model: RegisteredModel, reports: list[NodeReport]) -> ModelSummary:
    if model.cancelled:
        return ModelSummary(Lifecycle.ERROR, HubStatus.AVAILABLE, None, _("Download cancelled by an admin: retry or delete it."))
    return summarize(True, reports)


def model_record(model: RegisteredModel, reports: list[NodeReport] | None = None) -> dict[str, Any]:
    """What the API shows of a registered model; `reports` defaults to what the nodes last said of it."""
    reports = fleet_reports(model_id=model.id) if reports is None else reports
    summary = summary_of(model, reports)
    return {
        "id": model.id, "name": model.name, "source": model.source, "repo": model.repo, "revision": model.revision,
        "filename": model.filename, "files": model.files, "format": model.format, "engine": model.engine,
        "size_bytes": model.size_bytes, "required_memory_bytes": model.required_memory_bytes,
        "quantization": model.quantization, "capabilities": model.capabilities, "cancelled": model.cancelled,
        "lifecycle_status": summary.lifecycle_status, "status": summary.status,
        "download_progress": summary.download_progress, "error": summary.error,
        "created_at": iso_utc(model.created_at),
        "nodes": [state.to_dict() for state in reports], "warnings": [],
    }


def model_records(reports: dict[str, list[NodeReport]] | None = None) -> list[dict[str, Any]]:
    """Registered models with their state; `reports` defaults to what the nodes last reported."""
    reports = reports_by_model() if reports is None else reports
    return [model_record(model, reports.get(model.id, [])) for model in registered_models()]


def ready_models() -> list[RegisteredModel]:
    """Models ready on at least one online node: the only ones `/v1` shows (FR-6)."""
    reports = reports_by_model()
    return [model for model in registered_models()
            if summary_of(model, reports.get(model.id, [])).lifecycle_status == Lifecycle.READY]


# --- The Model Hub list (FR-2) --------------------------------------------------------------------

def _best_size(supported: SupportedModel) -> int:
    """The Hub's own size of the file when known (catalog sizes can be approximate), else the catalog's."""
    stats = hub_stats().get(supported.repo)
    listed = listed_size(supported.format, supported.recommended_filename, stats.file_sizes) if stats else None
    return listed or supported.size_bytes


def _hub_fields(summary: ModelSummary, repo: str) -> dict[str, Any]:
    stats = hub_stats().get(repo)
    return {"status": summary.status, "lifecycle_status": summary.lifecycle_status,
            "download_progress": summary.download_progress, "error": summary.error,
            "hf_info": stats.to_info() if stats else None}


def _as_catalog_entry(model: RegisteredModel) -> SupportedModel:
    """A model registered by URL, in the shape of a catalog entry (the Hub list shows both alike)."""
    return SupportedModel(
        id=model.id, name=model.name, description=model.description, repo=model.repo,
        recommended_filename=model.filename, size_bytes=model.size_bytes,
        required_memory_bytes=model.required_memory_bytes, tags=tuple(model.tags or ()),
        capabilities=tuple(model.capabilities or ()), quantization=model.quantization,
        parameter_count=None, format=model.format, engine=model.engine,  # type: ignore[arg-type]
        platforms=tuple(platforms_of(model.engine, model.platforms)))


def _matches(entry: dict[str, Any], query: str) -> bool:
    haystack = [entry["name"], entry["id"], *entry["tags"]]
    return any(query in text.lower() for text in haystack)


def hub_entries(query: str | None = None,
                reports: dict[str, list[NodeReport]] | None = None) -> list[dict[str, Any]]:
    """Every supported model in file order, then URL-registered ones. Reads only local state;
    `reports` defaults to what the nodes last reported."""
    registered = {model.id: model for model in registered_models()}
    reports = reports_by_model() if reports is None else reports
    entries = []
    for supported in catalog():
        model = registered.get(supported.id)
        summary = summary_of(model, reports.get(supported.id, [])) if model else summarize(False, [])
        entries.append({**supported.to_dict(), "size_bytes": _best_size(supported), "source": "supported",
                        **_hub_fields(summary, supported.repo)})
    for model in registered.values():
        if model.source == "supported" and catalog().get(model.id) is not None:
            continue
        summary = summary_of(model, reports.get(model.id, []))
        entries.append({**_as_catalog_entry(model).to_dict(), "source": model.source,
                        **_hub_fields(summary, model.repo)})
    if query:
        needle = query.strip().lower()
        entries = [entry for entry in entries if _matches(entry, needle)]
    return entries
