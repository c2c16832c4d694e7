"""Page routes."""

from flask import redirect, url_for

from . import bp


@bp.get("/")
def index():
    return redirect(url_for("dashboard.models_hub"))


@bp.get("/models")
def models_hub():
    return "models"
