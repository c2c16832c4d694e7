"""Tokens for API clients: login, who am I, logout, own password."""

from __future__ import annotations

from flask import jsonify, request
from flask_babel import gettext as _

from ..access import Access, access, current_principal, sign_out
from ..errors import ApiError
from ..services.accounts import login_guard, tokens, users
from . import bp
from .common import json_object


@bp.post("/auth/login")
@access(Access.PUBLIC)
def login():
    body = json_object()
    username, password = body.get("username"), body.get("password")
    if not isinstance(username, str) or not isinstance(password, str):
        raise ApiError(400, "invalid_credentials_format", _("Send username and password as strings."))
    user = login_guard.authenticate(username, password, request.remote_addr)
    token, ttl = tokens.issue(user)
    return jsonify({"token": token, "token_type": "Bearer", "expires_in": ttl, "user": users.user_record(user)})


@bp.get("/auth/me")
@access(Access.USER)
def me():
    principal = current_principal()
    return jsonify({"user": users.user_record(principal.user), "auth": principal.kind})


@bp.post("/auth/logout")
@access(Access.USER)
def logout():
    principal = current_principal()
    if principal.kind == "jwt":
        tokens.revoke(principal.claims)
    else:
        sign_out()  # the session's sign-in ends on the server: a copy of its cookies no longer works
    return "", 204


@bp.post("/auth/password")
@access(Access.USER)
def change_password():
    body = json_object()
    users.change_own_password(current_principal().user, body.get("current_password"), body.get("new_password"))
    return "", 204
