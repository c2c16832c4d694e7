"""JWTs for API clients (`POST /v0/auth/login`): HS256, short-lived, ended early by logout.

A token names the user by `uid` (random, never reused: SQLite may hand a deleted user's `id` to the
next user, and the token must not follow it) and the user's `session_version`; a password or role
change bumps that version, so older tokens stop working without a list of them.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

import jwt
from flask import current_app
from sqlalchemy import delete, select

from ...extensions import db
from ...database import RevokedToken, User, utcnow

ALGORITHM = "HS256"


def issue(user: User) -> tuple[str, int]:
    """A signed token and its lifetime in seconds."""
    ttl = int(current_app.config["JWT_TTL_SECONDS"])
    now = utcnow()
    claims = {"sub": user.uid, "ver": user.session_version, "iat": now, "exp": now + timedelta(seconds=ttl),
              "jti": secrets.token_hex(16)}
    return jwt.encode(claims, current_app.config["JWT_SECRET"], algorithm=ALGORITHM), ttl


def decode(token: str) -> dict | None:
    """The claims of a valid, unexpired, unrevoked token; None otherwise."""
    try:
        claims = jwt.decode(token, current_app.config["JWT_SECRET"], algorithms=[ALGORITHM],
                            options={"require": ["sub", "exp", "jti", "ver"]})
    except jwt.InvalidTokenError:
        return None
    if db.session.get(RevokedToken, claims["jti"]) is not None:
        return None
    return claims


def user_of(claims: dict) -> User | None:
    """The user the token names; None once that user is gone (tokens from before `uid`, which named
    the id, name nobody)."""
    if not isinstance(claims["sub"], str):
        return None
    user = db.session.scalar(select(User).where(User.uid == claims["sub"]))
    return user if user is not None and user.session_version == claims["ver"] else None


def revoke(claims: dict) -> None:
    """Logout: the token stops working now; expired entries are swept at the same time."""
    db.session.execute(delete(RevokedToken).where(RevokedToken.expires_at < utcnow()))
    expires_at = utcnow() + timedelta(seconds=max(0, int(claims["exp"]) - int(utcnow().timestamp())))
    db.session.merge(RevokedToken(jti=claims["jti"], expires_at=expires_at))
    db.session.commit()
