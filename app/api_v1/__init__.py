"""`/v1`: the OpenAI-compatible API."""

from flask import Blueprint

bp = Blueprint("api_v1", __name__, url_prefix="/v1")

from . import inference, models  # noqa: E402,F401
