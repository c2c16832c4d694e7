"""Page routes. Views only gather data from `app.services` and pick a template."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

from flask import abort, current_app, g, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError

from ..access import Access, access, current_principal
from ..i18n import LANGUAGE_COOKIE, LANGUAGES
from ..services.registry import models as registry
from . import bp

LANGUAGE_COOKIE_MAX_AGE = timedelta(days=365)


@bp.app_context_processor
def page_context() -> dict:
    """What base.html needs on every page: the language, the switcher's links, the poll interval, and who
    is signed in (for the header and for hiding controls the user may not use; the server decides anyway)."""
    locale = get_locale()
    # A template rendered outside a request's access check (a test rendering a partial) gets nobody.
    principal = current_principal() if "principal" in g else None
    return {
        "current_language": locale.language if locale else "en",
        "languages": LANGUAGES,
        "current_path": current_path(),
        "poll_seconds": current_app.config["UI_POLL_SECONDS"],
        "principal": principal,
        "can_view": principal is not None and principal.may(Access.VIEW),
        "can_admin": principal is not None and principal.may(Access.ADMIN),
        "can_chat": principal is not None and principal.may(Access.USER),
        "auth_disabled": current_app.config["AUTH_DISABLED"],
    }


def csrf_error_page(error: CSRFError):
    """A form without this site's CSRF token (another site's, or a page older than the session): a page
    saying what to do, not Werkzeug's bare 400."""
    message = _("The form could not be accepted: it did not come from this site's own page, or your session "
                "changed since the page was loaded. Reload the page and try again.")
    return render_template("errors/error.html", status=400, title=_("Form refused"), message=message), 400


bp.register_error_handler(CSRFError, csrf_error_page)


def current_path() -> str:
    """This page's path and query, for the language switcher to come back to."""
    query = request.query_string.decode("utf-8", "replace")
    return f"{request.path}?{query}" if query else request.path


def is_local_path(target: str | None) -> bool:
    """True for a path on this site ("/models?q=x"); false for "//host", "https://host", "/\\host" and
    anything with control characters (browsers drop tabs and newlines, turning "/\\t/host" into "//host")."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return False
    if "\\" in target or any(ord(char) < 32 or ord(char) == 127 for char in target):
        return False
    parts = urlsplit(target)
    return not parts.scheme and not parts.netloc


@bp.get("/")
@access(Access.VIEW)
def index():
    return redirect(url_for("dashboard.models_hub"))


@bp.get("/lang/<code>")
@access(Access.PUBLIC)
def set_language(code: str):
    if code not in LANGUAGES:
        abort(404)
    target = request.args.get("next")
    response = redirect(target if is_local_path(target) else "/")
    response.set_cookie(LANGUAGE_COOKIE, code, max_age=LANGUAGE_COOKIE_MAX_AGE, samesite="Lax",
                        secure=request.is_secure)
    return response


def fragment(template: str, **context):
    """Just a partial's HTML, for the page's JavaScript to swap in; never cached."""
    response = current_app.make_response(render_template(template, **context))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/models")
@access(Access.VIEW)
def models_hub():
    query = request.args.get("q", "")
    return render_template("dashboard/models_hub.html", entries=registry.hub_entries(query), query=query,
                           active_tab="hub")


@bp.get("/models/_hub")
@access(Access.VIEW)
def models_hub_fragment():
    query = request.args.get("q", "")
    return fragment("dashboard/_hub_list.html", entries=registry.hub_entries(query), query=query)


@bp.get("/models/local")
@access(Access.VIEW)
def models_local():
    return render_template("dashboard/models_local.html", records=registry.model_records(), active_tab="local")


@bp.get("/models/_local")
@access(Access.VIEW)
def models_local_fragment():
    return fragment("dashboard/_local_list.html", records=registry.model_records())
