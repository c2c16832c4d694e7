"""What every HTML page shares, whichever blueprint serves it: the CSRF refusal page, the checks on
a redirect target, the current path for the language switcher, and partials for polling scripts."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError


def csrf_error_page(error: CSRFError):
    """A form without this site's CSRF token (another site's, or a page older than the session): a page
    saying what to do, not Werkzeug's bare 400."""
    message = _("The form could not be accepted: it did not come from this site's own page, or your session "
                "changed since the page was loaded. Reload the page and try again.")
    return render_template("errors/error.html", status=400, title=_("Form refused"), message=message), 400


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


def no_store(response):
    """Pages with secrets or form input, and polled partials: never cached."""
    response.headers["Cache-Control"] = "no-store"
    return response


def fragment(template: str, **context):
    """Just a partial's HTML, for the page's JavaScript to swap in; never cached."""
    return no_store(current_app.make_response(render_template(template, **context)))
