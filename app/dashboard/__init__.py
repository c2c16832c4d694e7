"""Dashboard pages (Jinja, server-rendered; refreshed by polling, no WebSocket)."""

from flask import Blueprint

bp = Blueprint("dashboard", __name__)

from . import admin, layout, models, nodes, playground  # noqa: E402,F401
