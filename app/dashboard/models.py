"""The Models pages: the Model Hub (supported and URL-registered models) and the local list."""

from __future__ import annotations

from flask import abort, render_template, request

from ..access import Access, access
from ..pages import fragment
from ..services.catalog import cloud_models
from ..services.registry import models as registry
from . import bp


@bp.get("/models")
@access(Access.VIEW)
def models_hub():
    query = request.args.get("q", "")
    return render_template("dashboard/models_hub.html", entries=registry.hub_entries(query), query=query,
                           active_tab="hub", cloud_tabs=cloud_models.configured_providers())


@bp.get("/models/_hub")
@access(Access.VIEW)
def models_hub_fragment():
    query = request.args.get("q", "")
    return fragment("dashboard/_hub_list.html", entries=registry.hub_entries(query), query=query)


@bp.get("/models/local")
@access(Access.VIEW)
def models_local():
    return render_template("dashboard/models_local.html", records=registry.model_records(), active_tab="local",
                           cloud_tabs=cloud_models.configured_providers())


@bp.get("/models/_local")
@access(Access.VIEW)
def models_local_fragment():
    return fragment("dashboard/_local_list.html", records=registry.model_records())


@bp.get("/models/cloud/<provider>")
@access(Access.VIEW)
def models_cloud(provider: str):
    """A cloud provider's models: a tab only while that provider has a key."""
    tabs = cloud_models.configured_providers()
    label = dict(tabs).get(provider)
    if label is None:
        abort(404)
    return render_template("dashboard/models_cloud.html", provider=provider, provider_label=label,
                           entries=cloud_models.listing(provider), active_tab=provider, cloud_tabs=tabs)
