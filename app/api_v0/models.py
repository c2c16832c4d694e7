"""Model registration, listing and deletion."""

from __future__ import annotations

from flask import abort, jsonify, request
from flask_babel import gettext as _

from ..errors import ApiError
from ..services import registry
from . import bp


def _json_body():
    """The parsed JSON body, or a 400 a person can act on (not Flask's HTML page)."""
    if not request.is_json:
        raise ApiError(400, "invalid_body", _("Send a JSON body with Content-Type: application/json."))
    body = request.get_json(silent=True)
    if body is None:
        raise ApiError(400, "invalid_json", _("The request body is not valid JSON."))
    return body


@bp.get("/models/hub")
def hub():
    query = request.args.get("q", "")
    if len(query) > 200:
        raise ApiError(400, "too_long", _("'%(field)s' is longer than %(limit)d characters.", field="q", limit=200),
                       "q")
    return jsonify({"models": registry.hub_entries(query)})


@bp.post("/models/register")
def register():
    model = registry.register(_json_body())
    return jsonify(registry.model_record(model, [])), 201


@bp.get("/models")
def list_models():
    return jsonify({"models": registry.model_records()})


@bp.get("/models/<path:model_id>")
def get_model(model_id: str):
    model = registry.get_model(model_id)
    return jsonify(registry.model_record(model, registry.node_states().get(model.id, [])))


@bp.delete("/models/<path:model_id>")
def delete_model(model_id: str):
    registry.delete_model(model_id)
    return "", 204


@bp.route("/models/<path:model_id>", methods=["POST", "PUT", "PATCH"])
def model_other_method(model_id: str):
    """404 for paths that name no model (`/v0/models/pull`, `/v0/models/discover-gguf` are gone), else 405."""
    if not registry.model_exists(model_id):
        abort(404)
    raise ApiError(405, "method_not_allowed", _("%(method)s is not allowed on %(path)s.", method=request.method,
                                                path=request.path))
