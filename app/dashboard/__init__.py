"""Dashboard pages (Jinja, server-rendered; refreshed by polling, no WebSocket)."""

from flask import Blueprint

bp = Blueprint("dashboard", __name__)

from . import admin, costs, history, layout, logs, models, nodes, overview, playground, settings  # noqa: E402,F401
