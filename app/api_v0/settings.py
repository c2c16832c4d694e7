"""`GET/PATCH /v0/settings` (admins): the settings page's values, where each comes from, and the bootstrap
settings only a restart changes. A secret's value is never in an answer (app/services/settings/store.py)."""

from __future__ import annotations

from flask import current_app, jsonify

from ..access import Access, access, current_principal
from ..services.settings.store import bootstrap
from . import bp
from .common import json_object


def _settings_answer():
    live = current_app.extensions["settings"]
    live.refresh()  # what another worker changed a moment ago, too: an admin reads what they just saved
    return jsonify({"settings": live.describe(), "bootstrap": bootstrap(current_app)})


@bp.get("/settings")
@access(Access.ADMIN)
def get_settings():
    return _settings_answer()


@bp.patch("/settings")
@access(Access.ADMIN)
def patch_settings():
    current_app.extensions["settings"].save(json_object(), current_principal().name)
    return _settings_answer()
