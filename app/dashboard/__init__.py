"""Dashboard pages (Jinja, server-rendered; refreshed by polling, no WebSocket)."""

from flask import Blueprint

from .formatting import register_filters

bp = Blueprint("dashboard", __name__)
bp.record_once(lambda state: register_filters(state.app))

from . import admin_views, nodes_page, playground, views  # noqa: E402,F401
