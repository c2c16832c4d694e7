"""The router's Flask application factory."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import flask_migrate
from filelock import FileLock
from flask import Flask, current_app, request
from werkzeug.middleware.proxy_fix import ProxyFix

from .converters import DatabaseId
from .config import DEFAULT_INSTANCE_PATH, PROJECT_ROOT, finish_config, load_config
from .access import init_auth
from .cli import register_cli
from .errors import register_error_handlers
from .log_format import configure_logging
from .extensions import babel, db, migrate
from .i18n import select_locale
from .services.catalog.supported import load_catalog
from .services.catalog.hub_stats import HubStatsCache
from .services.catalog.cloud_prices import PriceBook
from .dashboard.formatting import register_filters
from .services.accounts.api_keys import key_cache_for
from .services.accounts.users import dummy_hash_for, ensure_first_admin
from .services.fleet.node_http import NodeHttp
from .services.inference.providers.registry import CloudProviders
from .services.inference.relay import Inference, RequestClock
from .services.observability.body_search import attach_to_connections
from .services.observability.history import HistoryWriter
from .services.observability.metrics import RouterMetrics
from .services.settings.store import LiveSettings, fixed_by_environment

MIGRATIONS_PATH = PROJECT_ROOT / "migrations"
__version__ = "0.1.0"


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the router. `config` overrides what the environment says (tests pass their own)."""
    settings = load_config()
    settings.update(config or {})
    instance_path = Path(settings.pop("INSTANCE_PATH", DEFAULT_INSTANCE_PATH)).resolve()
    finish_config(settings, instance_path)

    app = Flask(__name__, instance_path=str(instance_path))
    app.url_map.converters["int"] = DatabaseId  # before any route is added
    app.config.update(settings)
    app.json.sort_keys = False
    if app.config["TRUSTED_PROXIES"]:
        # Behind N reverse proxies, the client is the address the outermost trusted one saw; without
        # this, every client shares the proxy's address (one login counter for all). Never trust more
        # hops than there are proxies: a client could then name any address it likes.
        hops = app.config["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]
    configure_logging(app.config["LOG_LEVEL"], instance_path / "logs", app.config["LOG_FILE_BYTES"],
                      app.config["LOG_FILE_COUNT"])
    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # one line per job run is noise
    logging.getLogger("requests_cache").setLevel(logging.ERROR)  # Hub outages: hf_stats logs one line
    # The provider SDKs and their HTTP client log each request's options at DEBUG, headers included: the
    # providers' keys must never reach a log, whatever LLM_ROUTER_LOG_LEVEL says.
    for sdk_logger in ("openai", "anthropic", "google_genai", "httpx", "httpx2", "httpcore", "httpcore2"):
        logging.getLogger(sdk_logger).setLevel(logging.WARNING)

    db.init_app(app)
    attach_to_connections(app)  # before the first connection: each one attaches the search index
    migrate.init_app(app, db, directory=str(MIGRATIONS_PATH))
    babel.init_app(app, locale_selector=select_locale)
    register_extensions(app)
    register_error_handlers(app)
    app.before_request(_limit_body)  # before init_auth's check, which may read a form
    init_auth(app)
    register_cli(app)

    from . import api_v0, api_v1, auth, dashboard

    app.register_blueprint(api_v0.bp)
    app.register_blueprint(api_v1.bp)
    app.register_blueprint(auth.bp)
    app.register_blueprint(dashboard.bp)
    register_filters(app)

    upgrade_database(app)
    with app.app_context():
        ensure_first_admin()
        # The settings page's values over the defaults (the environment's win), applied before the scheduler
        # starts; every request then looks for changes made elsewhere (another worker, another router).
        app.extensions["settings"] = LiveSettings(app, fixed_by_environment(os.environ, config or {}))
        app.extensions["settings"].refresh()
    app.before_request(app.extensions["settings"].check)
    if app.config["SCHEDULER_ENABLED"]:
        from .scheduler import start_scheduler

        app.extensions["scheduler"] = start_scheduler(app)
    return app


def register_extensions(app: Flask) -> None:
    """This process's state, one object per concern in `app.extensions`: nothing is built at import time
    or on first use, so each app (a test's, a gunicorn worker's) has its own."""
    app.extensions["catalog"] = load_catalog(app.config["SUPPORTED_MODELS_PATH"])  # a broken catalog stops here
    app.extensions["hub_stats"] = HubStatsCache(
        app.config["HF_ENDPOINT"], app.config["HF_CACHE_PATH"], app.config["HF_STATS_TTL_SECONDS"],
        app.config["HF_STATS_TIMEOUT_SECONDS"], app.config["HF_TOKEN"])
    app.extensions["api_key_cache"] = key_cache_for(app)
    app.extensions["dummy_password_hash"] = dummy_hash_for(app)
    app.extensions["node_http"] = NodeHttp()
    app.extensions["metrics"] = RouterMetrics()
    app.extensions["inference"] = Inference.for_app(app, app.extensions["metrics"])
    app.extensions["providers"] = CloudProviders.from_config(app.config)
    app.extensions["prices"] = PriceBook.shipped()  # a broken price file stops here; overrides: settings
    app.extensions["history"] = HistoryWriter(app, app.config["REQUEST_HISTORY_MAX_BODY_BYTES"],
                                              app.extensions["metrics"].record_history_dropped)
    app.wsgi_app = RequestClock(app.wsgi_app)  # type: ignore[method-assign]


def _limit_body() -> None:
    """Every route takes at most MAX_CONTENT_LENGTH bytes (LLM_ROUTER_MAX_BODY_BYTES); /v1's inference
    bodies (prompts, conversations) up to INFERENCE_MAX_BODY_BYTES. Werkzeug checks Content-Length
    before reading a byte, and stops a chunked body at the limit: nothing larger is ever parsed."""
    if request.path.startswith("/v1/"):
        request.max_content_length = current_app.config["INFERENCE_MAX_BODY_BYTES"]


def upgrade_database(app: Flask) -> None:
    """Bring the schema to the newest migration; the lock keeps concurrent workers from racing."""
    with app.app_context(), FileLock(str(Path(app.instance_path) / "migrate.lock")):
        flask_migrate.upgrade(directory=str(MIGRATIONS_PATH))
