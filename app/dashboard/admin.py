"""Admin and account pages: users, API keys, and the signed-in user's own password.

Plain HTML forms posting to page routes, answered Post/Redirect/Get with a flashed message; a refused
change re-renders the page with the service's message (and the form's input, never a password).
The views only turn form fields into calls of `app.services` and pick a template: who may do what
is `app.access`'s decision, what is valid (user names, the last admin, scopes) the services'.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import flash, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _

from ..access import Access, access, current_principal, sign_in
from ..database import User
from ..errors import ApiError
from ..pages import no_store
from ..services.accounts import api_keys, users
from ..services.accounts.users import role_label
from . import bp


@dataclass
class FormError:
    """A refused form: which form (and row), the message, and the field it is about."""
    form: str  # "create" | "role" | "password" | "delete" | "revoke"
    message: str
    param: str | None = None
    row_id: int | None = None


_SERVICES_PARAM = object()  # FormError.param: the one the service's error names


def refused_with(page: Callable[..., Any], form: str, param: Any = _SERVICES_PARAM,
                 keep: Callable[[], dict[str, Any]] | None = None) -> Callable:
    """A form view whose service refuses (ApiError) re-renders `page` with the service's status and message,
    the form (and the row, the view's id argument) it is about, and the input worth keeping (`keep`; never a
    password)."""
    def decorate(view: Callable) -> Callable:
        @functools.wraps(view)
        def run(**kwargs: Any):
            try:
                return view(**kwargs)
            except ApiError as exc:
                row_id = next(iter(kwargs.values()), None)
                error = FormError(form, exc.message, exc.param if param is _SERVICES_PARAM else param, row_id)
                return page(exc.status, error, keep() if keep else None)
        return run
    return decorate


def _stay_signed_in(user: User) -> None:
    """A password or role change ends every sign-in of that user, this one too when it is the user's
    own: sign this browser in again (a new sign-in) so the person who made the change stays in."""
    principal = current_principal()
    if principal.kind == "session" and principal.user is not None and principal.user.id == user.id:
        sign_in(user)


# --- Users ----------------------------------------------------------------------------------------

def _users_page(status: int = 200, error: FormError | None = None, form: dict[str, Any] | None = None):
    html = render_template("dashboard/users.html", users=users.all_users(), roles=users.ROLES, error=error,
                           form=form or {"role": "viewer"}, min_password=users.MIN_PASSWORD_LENGTH,
                           max_password=users.MAX_PASSWORD_LENGTH, active_nav="users")
    return no_store(make_response(html, status))


@bp.get("/users")
@access(Access.ADMIN)
def users_page():
    return _users_page()


def _new_user_input() -> dict[str, Any]:
    return {"username": request.form.get("username", "").strip(), "role": request.form.get("role", "viewer")}


@bp.post("/users")
@access(Access.ADMIN)
@refused_with(_users_page, "create", keep=_new_user_input)
def create_user():
    fields = _new_user_input()
    user = users.create_user(fields["username"], request.form.get("password", ""), fields["role"])
    flash(_("Added the user %(name)s (%(role)s).", name=user.username, role=role_label(user.role)), "success")
    return redirect(url_for("dashboard.users_page"))


@bp.post("/users/<int:user_id>/role")
@access(Access.ADMIN)
@refused_with(_users_page, "role", param="role")
def change_user_role(user_id: int):
    user = users.get_user(user_id)
    users.set_role(user, request.form.get("role"))
    _stay_signed_in(user)
    flash(_("The role of %(name)s is now %(role)s.", name=user.username, role=role_label(user.role)), "success")
    # Who demoted themselves may no longer open the Users page.
    target = "dashboard.users_page" if current_principal().may(Access.ADMIN) else "dashboard.overview_page"
    return redirect(url_for(target))


@bp.post("/users/<int:user_id>/password")
@access(Access.ADMIN)
@refused_with(_users_page, "password", param="password")
def reset_user_password(user_id: int):
    user = users.get_user(user_id)
    users.set_password(user, request.form.get("password", ""))
    _stay_signed_in(user)
    flash(_("New password set for %(name)s; their sessions and tokens have ended.", name=user.username), "success")
    return redirect(url_for("dashboard.users_page"))


@bp.post("/users/<int:user_id>/delete")
@access(Access.ADMIN)
@refused_with(_users_page, "delete", param=None)
def delete_user(user_id: int):
    user = users.get_user(user_id)
    username = user.username
    users.delete_user(user)
    flash(_("Deleted the user %(name)s.", name=username), "success")
    return redirect(url_for("dashboard.users_page"))


# --- API keys -------------------------------------------------------------------------------------

def _whole_number(text: str) -> Any:
    """The expiry field: empty is "never"; anything not a whole number goes to the service as typed,
    which refuses it with its own message."""
    text = text.strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        return text


def _api_keys_page(status: int = 200, error: FormError | None = None, form: dict[str, Any] | None = None,
                   new_key: dict[str, str] | None = None):
    rows = [{"key": key, "state": api_keys.key_state(key)} for key in api_keys.all_keys()]
    html = render_template("dashboard/api_keys.html", rows=rows, scopes=api_keys.SCOPES, error=error,
                           form=form or {"scopes": ["api"]}, new_key=new_key, max_days=api_keys.MAX_EXPIRY_DAYS,
                           active_nav="api_keys")
    return no_store(make_response(html, status))


@bp.get("/api-keys")
@access(Access.ADMIN)
def api_keys_page():
    return _api_keys_page()


def _new_key_input() -> dict[str, Any]:
    return {"name": request.form.get("name", ""), "scopes": request.form.getlist("scopes"),
            "expires_in_days": request.form.get("expires_in_days", "")}


@bp.post("/api-keys")
@access(Access.ADMIN)
@refused_with(_api_keys_page, "create", keep=_new_key_input)
def create_api_key():
    form = _new_key_input()
    name, scopes, expires_at = api_keys.parse_new_key({
        "name": form["name"], "scopes": form["scopes"], "expires_in_days": _whole_number(form["expires_in_days"])})
    key, plaintext = api_keys.create_key(name, scopes, expires_at, current_principal().name)
    # Shown on this response only (never redirected, flashed or kept in the session), and not cached.
    return _api_keys_page(201, new_key={"name": key.name, "prefix": key.prefix, "plaintext": plaintext})


@bp.post("/api-keys/<int:key_id>/revoke")
@access(Access.ADMIN)
@refused_with(_api_keys_page, "revoke", param=None)
def revoke_api_key(key_id: int):
    key = api_keys.revoke_key(key_id)
    flash(_("Revoked the API key %(name)s (%(prefix)s…); programs using it are refused from now on.",
            name=key.name, prefix=key.prefix), "success")
    return redirect(url_for("dashboard.api_keys_page"))


# --- Own account ----------------------------------------------------------------------------------

def _account_page(status: int = 200, error: FormError | None = None, _form: dict[str, Any] | None = None):
    html = render_template("dashboard/account.html", user=current_principal().user, error=error,
                           min_password=users.MIN_PASSWORD_LENGTH, max_password=users.MAX_PASSWORD_LENGTH,
                           active_nav="account")
    return no_store(make_response(html, status))


@bp.get("/account")
@access(Access.USER)
def account_page():
    return _account_page()


@bp.post("/account/password")
@access(Access.USER)
@refused_with(_account_page, "password")
def change_own_password():
    user = current_principal().user
    if user is None:  # authentication is disabled: nobody is signed in
        return _account_page(400, FormError("password", _("Authentication is disabled, so there is no account whose "
                                                           "password could be changed.")))
    new = request.form.get("new_password", "")
    if new != request.form.get("confirm_password", ""):
        return _account_page(400, FormError("password", _("The two new passwords are not the same."),
                                            "confirm_password"))
    users.change_own_password(user, request.form.get("current_password", ""), new)
    _stay_signed_in(user)
    flash(_("Your password was changed. Other browsers and API tokens signed in as you have been signed out."),
          "success")
    return redirect(url_for("dashboard.account_page"))
