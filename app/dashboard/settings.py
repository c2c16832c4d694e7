"""The settings page (`/settings`, admins): every setting an admin may change without a restart, one section
per group, and the bootstrap settings read-only at the end. The page renders the values in force; its script
(js/settings.js) saves through `PATCH /v0/settings` and shows a refused field's error beside it."""

from __future__ import annotations

import json
from typing import Any

from flask import current_app, make_response, render_template, url_for

from ..access import Access, access
from ..pages import no_store
from ..services.settings.definitions import DEFINITIONS, SECTIONS
from ..services.settings.store import bootstrap
from . import bp


def _json_text(value: Any) -> str:
    """A JSON setting as its textarea shows it (the template escapes it as text)."""
    return json.dumps(value, indent=2, ensure_ascii=False) if value else ""


@bp.get("/settings")
@access(Access.ADMIN)
def settings_page():
    live = current_app.extensions["settings"]
    live.refresh()  # a change another worker saved a moment ago shows at once
    described = {item["name"]: item for item in live.describe()}
    sections = [{"key": key, "label": label,
                 "fields": [{"definition": definition, "state": described[definition.name],
                             "json": _json_text(described[definition.name]["value"])}
                            for definition in DEFINITIONS if definition.section == key]}
                for key, label in SECTIONS.items()]
    html = render_template("dashboard/settings.html", sections=sections, bootstrap=bootstrap(current_app),
                           api_url=url_for("api_v0.patch_settings"), active_nav="settings")
    return no_store(make_response(html))  # it shows which secrets are set, and holds what is being typed
