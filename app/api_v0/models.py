"""Model registration, listing and deletion."""

from __future__ import annotations

from flask import abort, jsonify, request
from flask_babel import gettext as _

from ..access import Access, access
from ..errors import ApiError
from ..services.registry import models as registry
from . import bp
from .common import json_body


@bp.get("/models/hub")
@access(Access.VIEW)
def hub():
    query = request.args.get("q", "")
    if len(query) > 200:
        raise ApiError(400, "too_long", _("'%(field)s' is longer than %(limit)d characters.", field="q", limit=200),
                       "q")
    return jsonify({"models": registry.hub_entries(query)})


@bp.post("/models/register")
@access(Access.ADMIN)
def register():
    model = registry.register(json_body())
    return jsonify(registry.model_record(model, [])), 201


@bp.get("/models")
@access(Access.VIEW)
def list_models():
    return jsonify({"models": registry.model_records()})


@bp.get("/models/<path:model_id>")
@access(Access.VIEW)
def get_model(model_id: str):
    model = registry.get_model(model_id)
    return jsonify(registry.model_record(model))


@bp.delete("/models/<path:model_id>")
@access(Access.ADMIN)
def delete_model(model_id: str):
    registry.delete_model(model_id)
    return "", 204


@bp.post("/models/<path:model_id>/cancel")
@access(Access.ADMIN)
def cancel_model(model_id: str):
    model = registry.cancel(model_id)
    return jsonify(registry.model_record(model, []))


@bp.post("/models/<path:model_id>/retry")
@access(Access.ADMIN)
def retry_model(model_id: str):
    model = registry.retry(model_id)
    return jsonify(registry.model_record(model))


@bp.route("/models/<path:model_id>", methods=["POST", "PUT", "PATCH"])
@access(Access.ADMIN)
def model_other_method(model_id: str):
    """404 for paths that name no model (`/v0/models/pull`, `/v0/models/discover-gguf` are gone), else 405."""
    if not registry.model_exists(model_id):
        abort(404)
    raise ApiError(405, "method_not_allowed", _("%(method)s is not allowed on %(path)s.", method=request.method,
                                                path=request.path))
