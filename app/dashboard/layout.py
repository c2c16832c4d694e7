"""What the dashboard's pages share: the page context of base.html, the language
switch, and the page shown for a form without this site's CSRF token."""

from __future__ import annotations

from datetime import timedelta

from flask import abort, current_app, g, redirect, request
from flask_babel import get_locale
from flask_wtf.csrf import CSRFError

from ..access import Access, access, current_principal
from ..i18n import LANGUAGE_COOKIE, LANGUAGES
from ..pages import csrf_error_page, current_path, is_local_path
from . import bp

bp.register_error_handler(CSRFError, csrf_error_page)

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
