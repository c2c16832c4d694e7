"""`GET /v1/models`: only models ready on at least one online node (FR-6)."""

from __future__ import annotations

from flask import jsonify
from flask_babel import gettext as _

from ..access import Access, access
from ..errors import ApiError
from ..database import RegisteredModel, as_utc
from ..services.registry import models as registry
from . import bp


def _openai_model(model: RegisteredModel) -> dict:
    owner = model.repo.split("/", 1)[0] if model.repo else "llm-router"
    return {"id": model.id, "object": "model", "created": int(as_utc(model.created_at).timestamp()), "owned_by": owner}


@bp.get("/models")
@access(Access.INFERENCE)
def list_models():
    return jsonify({"object": "list", "data": [_openai_model(model) for model in registry.ready_models()]})


@bp.get("/models/<path:model_id>")
@access(Access.INFERENCE)
def get_model(model_id: str):
    for model in registry.ready_models():
        if model.id == model_id:
            return jsonify(_openai_model(model))
    raise ApiError(404, "model_not_found", _("The model '%(id)s' does not exist or is not ready on any node.",
                                             id=model_id), "model")
