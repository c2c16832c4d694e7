"""API keys (admin): create (the key is shown once), list, revoke."""

from __future__ import annotations

from flask import jsonify

from ..access import Access, access, current_principal
from ..services.accounts import api_keys
from . import bp
from .common import json_object


@bp.get("/api-keys")
@access(Access.ADMIN)
def list_api_keys():
    return jsonify({"api_keys": [api_keys.key_record(key) for key in api_keys.all_keys()]})


@bp.post("/api-keys")
@access(Access.ADMIN)
def create_api_key():
    name, scopes, expires_at = api_keys.parse_new_key(json_object())
    key, plaintext = api_keys.create_key(name, scopes, expires_at, current_principal().name)
    return jsonify({**api_keys.key_record(key), "key": plaintext}), 201


@bp.delete("/api-keys/<int:key_id>")
@access(Access.ADMIN)
def revoke_api_key(key_id: int):
    api_keys.revoke_key(key_id)
    return "", 204
