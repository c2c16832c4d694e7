"""Who is calling, and may they? One place decides for every route.

Every request gets a `Principal`: from `Authorization: Bearer` (a JWT or an API key) or
`X-API-Key` when present — a header always wins over cookies — else from the Flask-Login session.
Every view declares an access level with `@access(...)`; a view without one is refused (deny by
default), and a test checks that every route declares one.

CSRF: cookie-authenticated requests that change state must carry the page's CSRF token (forms:
hidden field; pages' JSON calls: `X-CSRFToken`). Header-authenticated requests cannot be forged
by another site, so they need none.

Browser sign-ins: the session and the remember cookie hold the id of a `SignIn` row, never the
user's id. Logout deletes the row, so a copy of either cookie stops working at once; a password or
role change deletes all of the user's rows. The CSRF token is replaced at login.
"""

from __future__ import annotations

import enum
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from flask import Flask, current_app, g, redirect, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user
from sqlalchemy import delete, select

from .errors import ApiError, is_api_request
from .extensions import csrf, db, login_manager
from .database import ApiKey, SignIn, User, as_utc, utcnow
from .services.accounts import api_keys, tokens

log = logging.getLogger(__name__)


STATE_CHANGING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
PUBLIC_ENDPOINTS = frozenset({"static"})  # Flask's own view: cannot carry a mark


class Access(enum.Enum):
    PUBLIC = "public"        # anyone (login, language switch, static files)
    USER = "user"            # a signed-in user of any role (session or JWT): own account
    VIEW = "view"            # read-only management: users of any role, admin-scope keys
    ADMIN = "admin"          # changes: admin users, admin-scope keys
    INFERENCE = "inference"  # the OpenAI API: api- or admin-scope keys, and signed-in users (Playground)
    NODE = "node"            # node agents: node- or admin-scope keys
    METRICS = "metrics"      # Prometheus scrapes: users of any role, api- or admin-scope keys


@dataclass
class Principal:
    kind: str  # "anonymous" | "session" | "jwt" | "api_key" | "auth_disabled"
    user: User | None = None
    key: ApiKey | None = None
    claims: dict | None = None
    scopes: frozenset[str] = field(default_factory=frozenset)
    problem: str | None = None  # why presented credentials were refused

    @property
    def name(self) -> str:
        """Who did it, for logs and `created_by`: a user name or a key's prefix."""
        if self.user is not None:
            return self.user.username
        if self.key is not None:
            return f"key {self.key.prefix}"
        return self.kind

    @property
    def authenticated(self) -> bool:
        return self.kind != "anonymous"

    @property
    def is_admin(self) -> bool:
        if self.kind == "auth_disabled":
            return True
        if self.user is not None:
            return self.user.is_admin
        return "admin" in self.scopes

    def may(self, level: Access) -> bool:
        if level is Access.PUBLIC or self.kind == "auth_disabled":
            return True
        if level is Access.USER:
            return self.user is not None
        if level is Access.VIEW:
            return self.user is not None or "admin" in self.scopes
        if level is Access.ADMIN:
            return self.is_admin
        if level is Access.METRICS:  # read-only figures: a scraper needs no admin key
            return self.user is not None or bool(self.scopes & {"api", "admin"})
        if level is Access.INFERENCE:
            # Users of any role may chat: the Playground calls /v1 with the session (plus CSRF),
            # and generating text changes nothing on the router.
            return self.user is not None or bool(self.scopes & {"api", "admin"})
        if level is Access.NODE:
            return bool(self.scopes & {"node", "admin"})
        return False


def access(level: Access) -> Callable:
    """Declares who may call a view; `enforce_access` reads it before the view runs."""
    def mark(view: Callable) -> Callable:
        view.access_level = level
        return view
    return mark


def current_principal() -> Principal:
    return g.principal


def _credential_from_headers() -> str | None:
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _sep, value = header.partition(" ")
        return value.strip() if scheme.lower() == "bearer" else header
    return request.headers.get("X-API-Key")


def _principal_from_credential(credential: str) -> Principal:
    if credential.startswith(api_keys.KEY_PREFIX):
        key = api_keys.find_key(credential)
        if key is None:
            return Principal("anonymous", problem="invalid")
        state = api_keys.key_state(key)
        if state != "active":
            return Principal("anonymous", problem=state)
        api_keys.record_use(key)
        return Principal("api_key", key=key, scopes=frozenset(key.scopes))
    claims = tokens.decode(credential)
    user = tokens.user_of(claims) if claims else None
    if user is None:
        return Principal("anonymous", problem="invalid")
    return Principal("jwt", user=user, claims=claims)


def resolve_principal() -> Principal:
    if current_app.config["AUTH_DISABLED"]:
        return Principal("auth_disabled")
    credential = _credential_from_headers()
    if credential is not None:
        return _principal_from_credential(credential)
    if current_user.is_authenticated:
        return Principal("session", user=current_user._get_current_object())
    return Principal("anonymous")


def _refuse(principal: Principal, level: Access):
    if not principal.authenticated:
        if not (is_api_request() or principal.problem):
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        inference = request.path.startswith("/v1/")
        problems = {"expired": _("The API key has expired."), "revoked": _("The API key has been revoked."),
                    "invalid": _("The credentials are not valid (unknown key, or an expired or ended token).")}
        missing = _("A valid API key is required: send it as Authorization: Bearer <key>.") if inference else \
            _("Sign in first: log in, or send a token or API key as Authorization: Bearer <token>.")
        raise ApiError(401, "invalid_api_key" if inference else "authentication_required",
                       problems.get(principal.problem or "", missing), headers={"WWW-Authenticate": "Bearer"})
    if level is Access.INFERENCE:
        raise ApiError(403, "permission_denied", _("This API needs an API key with the api scope."))
    if level is Access.NODE:
        raise ApiError(403, "permission_denied", _("Node agents need an API key with the node scope."))
    if level is Access.METRICS:
        raise ApiError(403, "permission_denied", _("Metrics need an API key with the api or admin scope."))
    raise ApiError(403, "permission_denied", _("Your account or key may not do this; it needs admin rights."))


def enforce_access():
    """before_request: authenticate, authorise, then check CSRF for cookie sessions."""
    principal = resolve_principal()
    g.principal = principal
    view = current_app.view_functions.get(request.endpoint) if request.endpoint else None
    if view is None:
        return None  # 404/405: nothing to protect
    level = Access.PUBLIC if request.endpoint in PUBLIC_ENDPOINTS else getattr(view, "access_level", None)
    if level is None:
        log.error("route %s declares no access level; refused", request.endpoint)
        raise ApiError(403, "permission_denied", _("This route is not open to anyone."))
    if not principal.may(level):
        return _refuse(principal, level)
    if request.method in STATE_CHANGING_METHODS and _needs_csrf_check(principal):
        csrf.protect()
    return None


def _needs_csrf_check(principal: Principal) -> bool:
    """Cookie sessions always. With authentication disabled, every visitor is admin, so another site
    could post the dashboard's forms through a browser: forms are checked then too. JSON API calls
    are safe without it (another site cannot send a JSON content type without CORS, which is off)."""
    if principal.kind == "session":
        return True
    return principal.kind == "auth_disabled" and not is_api_request()


def sign_in(user: User) -> None:
    """Signs this browser in as `user`: a new `SignIn` row whose random id is all the session and the
    remember cookie hold. Expired rows are swept here, so the table holds live sign-ins only."""
    now = utcnow()
    db.session.execute(delete(SignIn).where(SignIn.created_at < now - _sign_in_lifetime()))
    sign_in_id = secrets.token_urlsafe(32)
    db.session.add(SignIn(id=sign_in_id, user_uid=user.uid, created_at=now))
    db.session.commit()
    user.sign_in_id = sign_in_id
    login_user(user, remember=True)  # the remember cookie keeps the sign-in across browser restarts


def rotate_csrf_token() -> None:
    """At login: forget the CSRF token of the signed-out page, so that a token someone saw or planted
    before the login is worthless after it; the next page gets a new one (Flask-WTF keeps the raw
    token in the session and caches the signed one in `g`)."""
    field_name = current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token")
    session.pop(field_name, None)
    g.pop(field_name, None)


def sign_out() -> None:
    """Ends this browser's sign-in on the server: copies of its session or remember cookie, replayed
    later, name a row that is gone. The user's other browsers stay signed in."""
    sign_in_id = getattr(current_user, "sign_in_id", None)
    if sign_in_id:
        db.session.execute(delete(SignIn).where(SignIn.id == sign_in_id))
        db.session.commit()
    logout_user()


def _sign_in_lifetime() -> timedelta:
    return timedelta(days=current_app.config["SESSION_DAYS"])


def _load_user(sign_in_id: str) -> User | None:
    """Flask-Login's loader, for the session and the remember cookie: both hold a sign-in's id. The
    row is gone after logout, a password or role change, or the user's deletion; it binds the user by
    `uid`, which is never reused, so it can never come to name another user."""
    record = db.session.get(SignIn, sign_in_id)
    if record is None or as_utc(record.created_at) + _sign_in_lifetime() <= utcnow():
        return None
    user = db.session.scalar(select(User).where(User.uid == record.user_uid))
    if user is not None:
        user.sign_in_id = record.id
    return user


def init_auth(app: Flask) -> None:
    login_manager.init_app(app)
    login_manager.user_loader(_load_user)
    login_manager.session_protection = "basic"
    csrf.init_app(app)
    app.before_request(enforce_access)
    if app.config["AUTH_DISABLED"]:
        log.warning("!" * 72)
        log.warning("AUTHENTICATION IS DISABLED (LLM_ROUTER_AUTH_DISABLED): anyone who reaches this router "
                    "can change it and use every model. Use this for local development only.")
        log.warning("!" * 72)
