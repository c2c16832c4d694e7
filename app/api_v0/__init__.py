"""`/v0`: the management API (JSON in, JSON out, errors in the shared envelope)."""

from flask import Blueprint

bp = Blueprint("api_v0", __name__, url_prefix="/v0")

from . import api_keys, auth, history, metrics, models, nodes, users  # noqa: E402,F401
