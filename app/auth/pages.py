"""Login and logout for the dashboard."""

from __future__ import annotations

from flask import redirect, render_template, request, url_for

from flask_wtf.csrf import CSRFError

from ..access import Access, access, current_principal, rotate_csrf_token, sign_in, sign_out
from ..extensions import csrf
from ..pages import csrf_error_page, is_local_path
from ..errors import ApiError
from ..services.accounts import login_guard
from . import bp

bp.register_error_handler(CSRFError, csrf_error_page)  # a login form without this site's token


@bp.route("/login", methods=["GET", "POST"])
@access(Access.PUBLIC)
def login():
    target = request.values.get("next")
    target = target if is_local_path(target) else url_for("dashboard.overview_page")
    if request.method == "GET":
        if current_principal().user is not None:
            return redirect(target)
        return render_template("auth/login.html", next=target, error=None, username="")
    csrf.protect()  # login CSRF: another site must not sign a visitor into its account
    username = request.form.get("username", "")
    try:
        user = login_guard.authenticate(username, request.form.get("password", ""), request.remote_addr)
    except ApiError as exc:  # locked (429, with Retry-After) or a wrong name or password (401)
        response = render_template("auth/login.html", next=target, error=exc.message, username=username)
        return response, exc.status, exc.headers
    rotate_csrf_token()
    sign_in(user)
    return redirect(target)


@bp.post("/logout")
@access(Access.USER)
def logout():
    sign_out()
    return redirect(url_for("auth.login"))
