"""Sign-in pages: the dashboard's cookie session (Flask-Login, persistent remember cookie)."""

from flask import Blueprint

bp = Blueprint("auth", __name__)

from . import pages  # noqa: E402,F401
