"""Configuration: every setting the router reads, in one place, from the environment.

`load_config` turns environment variables into Flask config keys. `create_app(config=...)`
applies explicit overrides on top (tests use this), so a setting is never read anywhere else.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from datetime import timedelta
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_INSTANCE_PATH = PROJECT_ROOT / "instance"

def _flag(value: str) -> bool:
    return value.strip().lower() not in ("0", "false", "no", "off", "")


def _at_least(minimum: float, convert: Any) -> Any:
    """A converter that also refuses values below `minimum` (a zero timeout or limit makes no sense)."""
    def checked(raw: str) -> Any:
        value = convert(raw)
        if value < minimum:
            raise ValueError(f"must be at least {minimum}")
        return value
    return checked


def _networks(raw: str) -> str:
    """A comma-separated list of networks (CIDR): checked at start, so a typo stops the router there."""
    for item in filter(None, (part.strip() for part in raw.split(","))):
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            raise ValueError(f"{item!r} is not a network such as 169.254.0.0/16") from None
    return raw


def _fraction(raw: str) -> float:
    """A share from 0 to 1 (0.2 is 20%)."""
    value = float(raw)
    if not 0 <= value <= 1:
        raise ValueError("must be a fraction from 0 to 1, such as 0.2 for 20%")
    return value


def _http_url(raw: str) -> str:
    """An http(s) URL with a host: checked at start, so a typo stops the router there, not at the first use."""
    from urllib.parse import urlsplit

    parts = urlsplit(raw.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL")
    return raw.strip()


def _language(raw: str) -> str:
    """The dashboard's language when no cookie chose one: "en" or "ja" ("" follows the browser)."""
    value = raw.strip()
    if value not in ("", "en", "ja"):
        raise ValueError('must be "en", "ja" or empty (follow the browser)')
    return value


def _time_zone(raw: str) -> str:
    """An IANA time zone name (UTC, Asia/Tokyo): checked at start, so a typo stops the router there."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    name = raw.strip()
    if name != "UTC":  # UTC needs no time zone database
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("must be a time zone name such as UTC, Europe/Paris or Asia/Tokyo") from None
    return name


# Environment variable -> (config key, default, converter). The README's configuration table
# documents the same names; keep them in step.
_ENVIRONMENT: dict[str, tuple[str, Any, Any]] = {
    "LLM_ROUTER_INSTANCE_PATH": ("INSTANCE_PATH", str(DEFAULT_INSTANCE_PATH), str),
    "DATABASE_URL": ("SQLALCHEMY_DATABASE_URI", None, str),
    "HF_ENDPOINT": ("HF_ENDPOINT", "https://huggingface.co", str),
    "HF_TOKEN": ("HF_TOKEN", None, str),
    "SECRET_KEY": ("SECRET_KEY", None, str),
    "LLM_ROUTER_SUPPORTED_MODELS": ("SUPPORTED_MODELS_PATH", str(PROJECT_ROOT / "supported_models.json"), str),
    "LLM_ROUTER_HF_STATS_TTL": ("HF_STATS_TTL_SECONDS", 600, int),
    "LLM_ROUTER_HF_STATS_TIMEOUT": ("HF_STATS_TIMEOUT_SECONDS", 5.0, float),
    "LLM_ROUTER_HF_TIMEOUT": ("HF_REQUEST_TIMEOUT_SECONDS", 15.0, float),
    "LLM_ROUTER_SCHEDULER": ("SCHEDULER_ENABLED", True, _flag),
    "LLM_ROUTER_UI_POLL_SECONDS": ("UI_POLL_SECONDS", 10, _at_least(1, int)),
    "LLM_ROUTER_DEFAULT_LANGUAGE": ("DEFAULT_LANGUAGE", "", _language),  # "": the browser's Accept-Language
    "LLM_ROUTER_NODE_POLL_SECONDS": ("NODE_POLL_SECONDS", 10, float),
    "LLM_ROUTER_LOG_LEVEL": ("LOG_LEVEL", "INFO", str),
    "LLM_ROUTER_LOG_FILE_BYTES": ("LOG_FILE_BYTES", 10 * 1024 * 1024, _at_least(1024, int)),  # instance/logs/
    "LLM_ROUTER_LOG_FILE_COUNT": ("LOG_FILE_COUNT", 5, _at_least(2, int)),  # router.log and its rotated files
    "LLM_ROUTER_ADMIN_USERNAME": ("ADMIN_USERNAME", None, str),
    "LLM_ROUTER_ADMIN_PASSWORD": ("ADMIN_PASSWORD", None, str),
    "LLM_ROUTER_AUTH_DISABLED": ("AUTH_DISABLED", False, _flag),
    "LLM_ROUTER_JWT_SECRET": ("JWT_SECRET", None, str),
    "LLM_ROUTER_JWT_TTL": ("JWT_TTL_SECONDS", 12 * 3600, int),
    "LLM_ROUTER_SESSION_DAYS": ("SESSION_DAYS", 7, int),
    "LLM_ROUTER_SECURE_COOKIES": ("SECURE_COOKIES", False, _flag),
    "LLM_ROUTER_PASSWORD_HASH": ("PASSWORD_HASH_METHOD", "scrypt", str),
    "LLM_ROUTER_LOGIN_SLOWDOWN_AFTER": ("LOGIN_SLOWDOWN_AFTER", 5, int),
    "LLM_ROUTER_LOGIN_LOCK_AFTER": ("LOGIN_LOCK_AFTER", 10, int),
    "LLM_ROUTER_LOGIN_LOCK_SECONDS": ("LOGIN_LOCK_SECONDS", 900, int),
    # Inference proxy (/v1/chat/completions, /v1/completions, /v1/embeddings). Counters and the queue
    # live in each gunicorn worker process: with W workers a node may get W x NODE_MAX_CONCURRENCY.
    "LLM_ROUTER_NODE_MAX_CONCURRENCY": ("NODE_MAX_CONCURRENCY", 8, _at_least(1, int)),
    "LLM_ROUTER_QUEUE_SIZE": ("QUEUE_SIZE", 64, _at_least(0, int)),
    "LLM_ROUTER_QUEUE_TIMEOUT_SECONDS": ("QUEUE_TIMEOUT_SECONDS", 30.0, _at_least(0, float)),
    "LLM_ROUTER_NODE_ATTEMPTS": ("NODE_ATTEMPTS", 3, _at_least(1, int)),
    "LLM_ROUTER_NODE_COOLDOWN_SECONDS": ("NODE_COOLDOWN_SECONDS", 5.0, _at_least(0, float)),
    "LLM_ROUTER_NODE_CONNECT_TIMEOUT_SECONDS": ("NODE_CONNECT_TIMEOUT_SECONDS", 3.0, _at_least(0.001, float)),
    "LLM_ROUTER_NODE_READ_TIMEOUT_SECONDS": ("NODE_READ_TIMEOUT_SECONDS", 300.0, _at_least(0.001, float)),
    "LLM_ROUTER_ROUTING_CACHE_SECONDS": ("ROUTING_CACHE_SECONDS", 1.0, _at_least(0, float)),
    "LLM_ROUTER_API_KEY_CACHE_SECONDS": ("API_KEY_CACHE_SECONDS", 10.0, _at_least(0, float)),
    "LLM_ROUTER_INFERENCE_MAX_BODY_BYTES": ("INFERENCE_MAX_BODY_BYTES", 8 * 1024 * 1024, _at_least(1, int)),
    # Hardening (docs/security.md): limits a hostile client, node or Hub cannot get past.
    "LLM_ROUTER_MAX_BODY_BYTES": ("MAX_CONTENT_LENGTH", 1024 * 1024, _at_least(1024, int)),
    "LLM_ROUTER_TRUSTED_PROXIES": ("TRUSTED_PROXIES", 0, _at_least(0, int)),
    "LLM_ROUTER_KEY_MAX_CONCURRENCY": ("KEY_MAX_CONCURRENCY", 32, _at_least(0, int)),
    "LLM_ROUTER_CLIENT_IDLE_TIMEOUT_SECONDS": ("CLIENT_IDLE_TIMEOUT_SECONDS", 60.0, _at_least(0.001, float)),
    "LLM_ROUTER_REQUEST_HISTORY_DAYS": ("REQUEST_HISTORY_DAYS", 7.0, _at_least(0, float)),  # 0: history off
    "LLM_ROUTER_REQUEST_HISTORY_MAX_BODY_BYTES": ("REQUEST_HISTORY_MAX_BODY_BYTES", 262144, _at_least(0, int)),
    "LLM_ROUTER_ALERT_ERROR_RATE": ("ALERT_ERROR_RATE", 0.2, _fraction),
    "LLM_ROUTER_ALERT_WEBHOOK_URL": ("ALERT_WEBHOOK_URL", None, _http_url),
    # Cloud costs are summed per day, week and month in this time zone (read at each query: it may change).
    "LLM_ROUTER_COST_TIME_ZONE": ("COST_TIME_ZONE", "UTC", _time_zone),
    # Cloud providers (`openai:`, `anthropic:` and `google:` models): a provider is used when its key is set. The
    # base URLs are as each SDK takes them: OpenAI's ends in /v1, the other two are bare host roots.
    "OPENAI_API_KEY": ("OPENAI_API_KEY", None, str),
    "OPENAI_BASE_URL": ("OPENAI_BASE_URL", "https://api.openai.com/v1", _http_url),
    "ANTHROPIC_API_KEY": ("ANTHROPIC_API_KEY", None, str),
    "ANTHROPIC_BASE_URL": ("ANTHROPIC_BASE_URL", "https://api.anthropic.com", _http_url),
    "GEMINI_API_KEY": ("GEMINI_API_KEY", None, str),
    "GEMINI_BASE_URL": ("GEMINI_BASE_URL", "https://generativelanguage.googleapis.com", _http_url),
    "LLM_ROUTER_PROVIDER_CONNECT_TIMEOUT_SECONDS": ("PROVIDER_CONNECT_TIMEOUT_SECONDS", 10.0, _at_least(0.001, float)),
    "LLM_ROUTER_PROVIDER_READ_TIMEOUT_SECONDS": ("PROVIDER_READ_TIMEOUT_SECONDS", 600.0, _at_least(0.001, float)),
    "LLM_ROUTER_CLOUD_MODELS_TTL_SECONDS": ("CLOUD_MODELS_TTL_SECONDS", 86400.0, _at_least(0, float)),
    "LLM_ROUTER_CLOUD_MODELS_TIMEOUT_SECONDS": ("CLOUD_MODELS_TIMEOUT_SECONDS", 10.0, _at_least(0.001, float)),
    "LLM_ROUTER_NODE_DENY_NETWORKS": ("NODE_DENY_NETWORKS", "169.254.0.0/16,fe80::/10,0.0.0.0/8,224.0.0.0/4,"
                                      "ff00::/8,255.255.255.255/32", _networks),
}


def environment_entry(variable: str) -> tuple[str, Any, Any] | None:
    """(config key, default, converter) of an environment variable, for the settings page
    (app/services/settings/definitions.py), which validates a stored value as the environment's would be."""
    return _ENVIRONMENT.get(variable)


def load_config(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Settings from the environment, with the documented defaults for what is unset."""
    environ = os.environ if environ is None else environ
    config: dict[str, Any] = {}
    for variable, (key, default, convert) in _ENVIRONMENT.items():
        raw = environ.get(variable)
        if raw is None or raw == "":
            config[key] = default
            continue
        try:
            config[key] = convert(raw)
        except ValueError as exc:
            raise ValueError(f"environment variable {variable}={raw!r} is not valid: {exc}") from exc
    return config


def finish_config(config: dict[str, Any], instance_path: Path) -> None:
    """Fill in the settings whose defaults live in the instance folder."""
    instance_path.mkdir(parents=True, exist_ok=True)
    if not config.get("SQLALCHEMY_DATABASE_URI"):
        config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{instance_path / 'router.db'}"
    if not config.get("SECRET_KEY"):
        config["SECRET_KEY"] = read_or_create_secret(instance_path / "secret_key")
    config["HF_ENDPOINT"] = str(config["HF_ENDPOINT"]).rstrip("/")
    config.setdefault("HF_CACHE_PATH", str(instance_path / "hf_cache"))
    # The database holds password hashes and node tokens: owner-only, whatever the umask (outside
    # systemd's UMask=0077, e.g. scripts/run.sh, files are 0644 by default). SQLite gives its -wal and
    # -shm files the database's mode. The Hub cache is requests-cache's SQLite file (it adds ".sqlite").
    database = make_url(config["SQLALCHEMY_DATABASE_URI"])
    if database.get_backend_name() == "sqlite" and database.database not in (None, "", ":memory:"):
        make_private(instance_path / database.database)  # Flask-SQLAlchemy: relative to the instance folder
    search = search_database(database.database, instance_path) if database.get_backend_name() == "sqlite" else None
    config.setdefault("REQUEST_SEARCH_DATABASE", str(search) if search else "")  # the history's body search index
    if config["REQUEST_SEARCH_DATABASE"]:
        make_private(Path(config["REQUEST_SEARCH_DATABASE"]))  # it holds the bodies' words
    make_private(Path(f"{config['HF_CACHE_PATH']}.sqlite"))
    if not config.get("JWT_SECRET"):
        config["JWT_SECRET"] = read_or_create_secret(instance_path / "jwt_secret")
    # Cookies: HttpOnly and SameSite=Lax always; Secure when the router is served over HTTPS.
    days = timedelta(days=config["SESSION_DAYS"])
    config.update(
        SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax", SESSION_COOKIE_SECURE=config["SECURE_COOKIES"],
        REMEMBER_COOKIE_HTTPONLY=True, REMEMBER_COOKIE_SAMESITE="Lax", REMEMBER_COOKIE_SECURE=config["SECURE_COOKIES"],
        REMEMBER_COOKIE_DURATION=days, PERMANENT_SESSION_LIFETIME=days,
        WTF_CSRF_CHECK_DEFAULT=False,  # checked in app.access, for cookie-authenticated requests only
        WTF_CSRF_TIME_LIMIT=None,  # valid as long as the session: a page left open overnight still works
    )


def search_database(database_path: str | None, instance_path: Path) -> Path | None:
    """Where the request history's body search index of an SQLite database file lives: beside it, named
    after it (app/services/observability/body_search.py); None for a database in memory."""
    if database_path in (None, "", ":memory:") or database_path.startswith("file:"):
        return None
    database = instance_path / database_path  # Flask-SQLAlchemy: relative to the instance folder
    return database.with_name(f"{database.stem}-search{database.suffix or '.db'}")


def make_private(path: Path) -> None:
    """Create `path` empty and readable by its owner only, or take group and other bits off an
    existing file of ours (one created by an earlier version)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        mode = path.stat().st_mode
        if mode & 0o077 and path.stat().st_uid == os.getuid():
            path.chmod(mode & 0o700)
        return
    except FileNotFoundError:  # a folder that does not exist yet: its creator chooses
        return
    os.close(fd)


def read_or_create_secret(path: Path) -> str:
    """A secret kept in the instance folder, readable by the owner only, created once."""
    try:
        return path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        pass
    value = secrets.token_hex(32)
    # Write a private temporary file, then link it into place: a concurrent worker either wins
    # the link or reads the complete file of the one that did.
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(value)
    try:
        os.link(temporary, path)
    except FileExistsError:
        value = path.read_text(encoding="utf-8").strip()
    finally:
        temporary.unlink()
    return value
