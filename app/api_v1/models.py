"""`GET /v1/models`: models ready on at least one online node (FR-6), then each configured cloud provider's
models with its prefix (`openai:gpt-4o`), from that provider's own list (cached; a failing one is left out)."""

from __future__ import annotations

from flask import current_app, jsonify
from flask_babel import gettext as _

from ..access import Access, access
from ..errors import ApiError
from ..database import RegisteredModel, as_utc
from ..services.inference.providers.base import CloudModel
from ..services.inference.providers.registry import CloudProviders, cloud_reference
from ..services.registry import models as registry
from . import bp


def _openai_model(model: RegisteredModel) -> dict:
    owner = model.repo.split("/", 1)[0] if model.repo else "llm-router"
    return {"id": model.id, "object": "model", "created": int(as_utc(model.created_at).timestamp()), "owned_by": owner}


def _cloud_model(model: CloudModel) -> dict:
    return {"id": model.id, "object": "model", "created": model.created, "owned_by": model.provider}


def _cloud_models(only: str | None = None) -> list[CloudModel]:
    providers: CloudProviders = current_app.extensions["providers"]
    return [model for name in providers.configured() if only in (None, name) for model in providers.models(name)]


@bp.get("/models")
@access(Access.INFERENCE)
def list_models():
    local = [_openai_model(model) for model in registry.ready_models()]
    return jsonify({"object": "list", "data": local + [_cloud_model(model) for model in _cloud_models()]})


@bp.get("/models/<path:model_id>")
@access(Access.INFERENCE)
def get_model(model_id: str):
    reference = cloud_reference(model_id)
    if reference is not None:
        for model in _cloud_models(reference[0]):
            if model.id == model_id:
                return jsonify(_cloud_model(model))
    else:
        for model in registry.ready_models():
            if model.id == model_id:
                return jsonify(_openai_model(model))
    raise ApiError(404, "model_not_found", _("The model '%(id)s' does not exist or is not ready on any node.",
                                             id=model_id), "model")
