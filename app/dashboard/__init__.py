"""Dashboard pages (Jinja, server-rendered; refreshed by polling, no WebSocket)."""

from flask import Blueprint

bp = Blueprint("dashboard", __name__)

from . import admin, history, layout, logs, models, nodes, overview, playground  # noqa: E402,F401
