"""Users: creation, password checks and changes, roles, and the first admin."""

from __future__ import annotations

import logging
import re
import secrets
import sys
from typing import Any

from flask import Flask, current_app
from flask_babel import gettext as _
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from werkzeug.security import check_password_hash, generate_password_hash

from ...errors import ApiError
from ...extensions import db
from ...database import SignIn, User, iso_utc

log = logging.getLogger(__name__)

ROLES = ("admin", "viewer")


def role_label(role: str) -> str:
    """A role as people read it, in the page's language (the API and the database keep `ROLES`)."""
    return {"admin": _("Admin"), "viewer": _("Viewer")}.get(role, role)
USERNAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 256


def hash_password(password: str) -> str:
    return generate_password_hash(password, method=current_app.config["PASSWORD_HASH_METHOD"])


def check_username(username: Any) -> str:
    if not isinstance(username, str) or not USERNAME_PATTERN.fullmatch(username):
        raise ApiError(400, "invalid_username", _("A user name is 1 to 64 letters, digits or . _ @ -, starting with a "
                                                  "letter or digit."), "username")
    return username


def check_password(password: Any, param: str = "password") -> str:
    if not isinstance(password, str) or not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise ApiError(400, "invalid_password", _("A password is %(min)d to %(max)d characters long.",
                                                  min=MIN_PASSWORD_LENGTH, max=MAX_PASSWORD_LENGTH), param)
    return password


def check_role(role: Any) -> str:
    if role not in ROLES:
        raise ApiError(400, "invalid_role", _("The role must be admin or viewer."), "role")
    return role


def user_record(user: User) -> dict[str, Any]:
    """What the API shows of a user: never the password hash."""
    return {"id": user.id, "username": user.username, "role": user.role,
            "created_at": iso_utc(user.created_at)}


def all_users() -> list[User]:
    return list(db.session.scalars(select(User).order_by(User.username)))


def get_user(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        raise ApiError(404, "user_not_found", _("There is no user with id %(id)s.", id=user_id), "id")
    return user


def find_user(username: str) -> User | None:
    return db.session.scalar(select(User).where(func.lower(User.username) == username.lower()))


def create_user(username: Any, password: Any, role: Any = "viewer") -> User:
    user = User(username=check_username(username), password_hash=hash_password(check_password(password)),
                role=check_role(role))
    if find_user(user.username) is not None:
        raise ApiError(409, "user_exists", _("The user name %(name)s is taken.", name=user.username), "username")
    db.session.add(user)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise ApiError(409, "user_exists", _("The user name %(name)s is taken.", name=user.username), "username")
    log.info("user %s created (%s)", user.username, user.role)
    return user


def _dummy_hash() -> str:
    """What an unknown user name is checked against (`dummy_hash_for`, kept in `app.extensions`)."""
    return current_app.extensions["dummy_password_hash"]


def dummy_hash_for(app: Flask) -> str:
    """A hash of a random password made with the configured method, once per process by `create_app`:
    checking against it costs what checking a real user's password costs, and no login pays for making it."""
    return generate_password_hash(secrets.token_hex(8), method=app.config["PASSWORD_HASH_METHOD"])


def verify_password(username: str, password: str) -> User | None:
    """The user, if the password is theirs. An unknown name costs one hash check, like a wrong password
    for a known one, so the answer's time does not tell which names exist."""
    user = find_user(username) if isinstance(username, str) and username else None
    if user is None:
        check_password_hash(_dummy_hash(), password or "")
        return None
    return user if check_password_hash(user.password_hash, password or "") else None


def end_sign_ins(user: User) -> None:
    """Ends every browser sign-in of `user` (the caller commits)."""
    db.session.execute(delete(SignIn).where(SignIn.user_uid == user.uid))


def set_password(user: User, password: Any, param: str = "password") -> None:
    """New password; every session, remember cookie and token issued before stops working."""
    user.password_hash = hash_password(check_password(password, param))
    user.session_version += 1
    end_sign_ins(user)
    db.session.commit()
    log.info("password of user %s changed", user.username)


def change_own_password(user: User, current: Any, new: Any) -> None:
    if not isinstance(current, str) or not check_password_hash(user.password_hash, current):
        raise ApiError(400, "wrong_password", _("The current password is not correct."), "current_password")
    set_password(user, new, "new_password")


def _admin_count() -> int:
    return db.session.scalar(select(func.count()).select_from(User).where(User.role == "admin")) or 0


def set_role(user: User, role: Any) -> None:
    role = check_role(role)
    if user.role == "admin" and role != "admin" and _admin_count() <= 1:
        raise ApiError(400, "last_admin", _("%(name)s is the last admin; make another user admin first.",
                                            name=user.username), "role")
    if role != user.role:
        user.role = role
        user.session_version += 1  # a role change takes effect at once, in every session
        end_sign_ins(user)
        db.session.commit()
        log.info("user %s is now %s", user.username, role)


def delete_user(user: User) -> None:
    if user.role == "admin" and _admin_count() <= 1:
        raise ApiError(400, "last_admin", _("%(name)s is the last admin and cannot be removed.", name=user.username),
                       "id")
    end_sign_ins(user)  # explicitly: SQLite applies ON DELETE CASCADE only with its foreign keys on
    db.session.delete(user)
    db.session.commit()
    log.info("user %s deleted", user.username)


def ensure_first_admin() -> None:
    """At start: with no user at all, create the admin from the environment, or with a random password
    printed once to standard error (the only place a password is ever written)."""
    if db.session.scalar(select(func.count()).select_from(User)):
        return
    config = current_app.config
    username = config.get("ADMIN_USERNAME") or "admin"
    password = config.get("ADMIN_PASSWORD")
    generated = not password
    if generated:
        password = secrets.token_urlsafe(12)
    try:
        create_user(username, password, "admin")
    except ApiError as exc:
        if exc.status == 409:  # another worker created it first
            return
        raise RuntimeError(f"cannot create the first admin from LLM_ROUTER_ADMIN_USERNAME/PASSWORD: {exc.message}") \
            from None
    if generated:
        sys.stderr.write(
            "\n" + "=" * 72 + "\n"
            f"  First start: created the admin user.\n    user name: {username}\n    password:  {password}\n"
            "  Log in at /login and change it (Account page). This is shown only once.\n" + "=" * 72 + "\n\n")
        sys.stderr.flush()
