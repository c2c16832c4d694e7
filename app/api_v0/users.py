"""User management (admin)."""

from __future__ import annotations

from flask import jsonify
from flask_babel import gettext as _

from ..access import Access, access
from ..errors import ApiError
from ..services.accounts import users
from . import bp
from .common import json_object


@bp.get("/users")
@access(Access.ADMIN)
def list_users():
    return jsonify({"users": [users.user_record(user) for user in users.all_users()]})


@bp.post("/users")
@access(Access.ADMIN)
def create_user():
    body = json_object()
    user = users.create_user(body.get("username"), body.get("password"), body.get("role", "viewer"))
    return jsonify(users.user_record(user)), 201


@bp.patch("/users/<int:user_id>")
@access(Access.ADMIN)
def update_user(user_id: int):
    body = json_object()
    unknown = sorted(set(body) - {"role", "password"})
    if unknown or not body:
        raise ApiError(400, "invalid_body", _("Send role and/or password."), unknown[0] if unknown else None)
    user = users.get_user(user_id)
    if "role" in body:
        users.set_role(user, body["role"])
    if "password" in body:
        users.set_password(user, body["password"])
    return jsonify(users.user_record(user))


@bp.delete("/users/<int:user_id>")
@access(Access.ADMIN)
def delete_user(user_id: int):
    users.delete_user(users.get_user(user_id))
    return "", 204
