"""JWTs for API clients: issue, verify, revoke (app/services/accounts/tokens.py)."""

from __future__ import annotations

import jwt
import pytest

from app.extensions import db
from app.services.accounts import tokens, users
from tests.support.router_process import ADMIN_USERNAME


@pytest.fixture
def admin(app):
    with app.app_context():
        yield users.find_user(ADMIN_USERNAME)


def test_an_issued_token_names_the_user(app, admin):
    token, ttl = tokens.issue(admin)
    claims = tokens.decode(token)
    assert ttl == app.config["JWT_TTL_SECONDS"]
    assert claims is not None and (claims["sub"], claims["ver"]) == (admin.uid, admin.session_version)
    assert claims["exp"] - claims["iat"] == ttl
    assert tokens.user_of(claims) is admin
    assert tokens.decode(tokens.issue(admin)[0])["jti"] != claims["jti"]


def test_logout_revokes_that_token_only(app, admin):
    kept, ended = tokens.issue(admin)[0], tokens.issue(admin)[0]
    tokens.revoke(tokens.decode(ended))
    assert tokens.decode(ended) is None
    assert tokens.decode(kept) is not None


def test_a_password_change_ends_earlier_tokens(app, admin):
    claims = tokens.decode(tokens.issue(admin)[0])
    users.set_password(admin, "another long password")
    assert tokens.decode(tokens.issue(admin)[0])["ver"] == claims["ver"] + 1
    assert tokens.user_of(claims) is None


def test_tokens_for_a_deleted_user_name_nobody(app, admin):
    viewer = users.create_user("viewer1", "viewer password", "viewer")
    claims = tokens.decode(tokens.issue(viewer)[0])
    users.delete_user(viewer)
    db.session.expire_all()
    assert tokens.user_of(claims) is None
    assert tokens.user_of({**claims, "sub": 1}) is None  # an old token naming an id


def test_forged_expired_and_incomplete_tokens_are_refused(app, admin):
    secret = app.config["JWT_SECRET"]
    claims = tokens.decode(tokens.issue(admin)[0])
    assert tokens.decode(jwt.encode(claims, "not the secret" * 4, algorithm="HS256")) is None
    assert tokens.decode(jwt.encode({**claims, "exp": claims["iat"] - 1}, secret, algorithm="HS256")) is None
    incomplete = {key: value for key, value in claims.items() if key != "ver"}
    assert tokens.decode(jwt.encode(incomplete, secret, algorithm="HS256")) is None
    assert tokens.decode(jwt.encode(claims, secret, algorithm="HS512")) is None  # only HS256 is accepted
    assert tokens.decode("not.a.token") is None
    assert tokens.decode(jwt.encode(claims, secret, algorithm="HS256")) is not None  # the control
