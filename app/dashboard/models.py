"""The Models pages: the Model Hub (supported and URL-registered models) and the local list."""

from __future__ import annotations

from flask import render_template, request

from ..access import Access, access
from ..pages import fragment
from ..services.registry import models as registry
from . import bp


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
