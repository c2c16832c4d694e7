"""`/v0`: the management API (JSON in, JSON out, errors in the shared envelope)."""

from flask import Blueprint

bp = Blueprint("api_v0", __name__, url_prefix="/v0")

from . import (alerts, api_keys, auth, costs, history, log_filters, logs, metrics, models, nodes,  # noqa: E402,F401
               overview, settings, users)
