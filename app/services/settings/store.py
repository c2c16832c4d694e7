"""The settings in force in this process (`app.extensions["settings"]`, made by `create_app`).

Each setting's effective value is the environment's when its variable is set (then the page cannot change
it), else the value stored on the settings page, else the default. "Applied" means written into
`app.config`, which every module reads, and handed to the objects `create_app` built from the config at
start (the cloud providers' clients, the price book, the history's body cap, the leader's alert webhook).

Every gunicorn worker, and every router on the same database, keeps its own copy: a change bumps one
counter row, and each process reads that counter at most every `CHECK_SECONDS` (from a `before_request`
hook, and from the scheduler for workers that see no requests) and reloads only when it moved. So a change
is applied everywhere within a few seconds, well inside one dashboard poll cycle, without a restart.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Mapping
from typing import Any

from flask import Flask
from flask_babel import gettext as _
from sqlalchemy import delete, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from ...database import Setting, SettingsVersion, utcnow
from ...errors import ApiError
from ...extensions import db
from .definitions import BY_NAME, DEFINITIONS, Definition, InvalidSetting, masked
from .secret_box import SecretBox, SecretUnreadable

log = logging.getLogger(__name__)

CHECK_SECONDS = 2.0  # how often a process looks at the version counter (config SETTINGS_CHECK_SECONDS)


def fixed_by_environment(environ: Mapping[str, str], overrides: Mapping[str, Any]) -> frozenset[str]:
    """The settings set outside the page at start: by their environment variable, or by `create_app`'s
    explicit config (which stands for the environment in tests); an empty value counts as unset."""
    fixed = set()
    for definition in DEFINITIONS:
        if definition.env_variable is None:
            continue
        value = overrides[definition.config_key] if definition.config_key in overrides \
            else environ.get(definition.env_variable)
        if value not in (None, ""):
            fixed.add(definition.name)
    return frozenset(fixed)


class LiveSettings:
    def __init__(self, app: Flask, fixed: frozenset[str]) -> None:
        self._app = app
        self._fixed = fixed
        self._box = SecretBox(app.config["SECRET_KEY"])
        self._check_seconds = float(app.config.get("SETTINGS_CHECK_SECONDS", CHECK_SECONDS))
        self._lock = threading.Lock()
        self._checked = float("-inf")
        self._version: int | None = None
        self._stored: dict[str, Any] = {}  # name -> value from the database (secrets opened)
        self._unreadable_logged: set[str] = set()

    # --- reading and applying ------------------------------------------------------------------------

    def check(self) -> None:
        """The `before_request` hook: at most every CHECK_SECONDS, one query for the version counter."""
        if time.monotonic() - self._checked >= self._check_seconds:
            self.refresh(wait=False)

    def refresh(self, wait: bool = True) -> bool:
        """Reload and apply the settings if their version moved; True when something was applied. Needs an
        app context. Without `wait`, a process already refreshing in another thread is left to it."""
        if not self._lock.acquire(blocking=wait):
            return False
        try:
            self._checked = time.monotonic()
            try:
                with db.engine.connect() as connection:
                    version = connection.execute(
                        select(SettingsVersion.version).where(SettingsVersion.id == 1)).scalar()
                    if version == self._version and self._version is not None:
                        return False
                    rows = connection.execute(select(Setting.name, Setting.value)).all()
            except SQLAlchemyError as exc:  # a busy or unreachable database: keep what is in force
                log.warning("the settings could not be read (%s); the ones in force stay", type(exc).__name__)
                return False
            first = self._version is None
            before = {definition.name: self.effective(definition) for definition in DEFINITIONS}
            self._stored = self._opened(rows)
            self._version = version if version is not None else 0
            self._apply(first, before)
            return True
        finally:
            self._lock.release()

    def _opened(self, rows: list[Any]) -> dict[str, Any]:
        stored: dict[str, Any] = {}
        for name, text in rows:
            definition = BY_NAME.get(name)
            if definition is None:  # a setting a newer router version added
                continue
            try:
                value = json.loads(text)
                if definition.secret:
                    value = self._box.open(value)
                stored[name] = definition.validate(value)
            except SecretUnreadable:
                if name not in self._unreadable_logged:
                    self._unreadable_logged.add(name)
                    log.warning("the stored setting %s cannot be decrypted with this instance's SECRET_KEY (it "
                                "was changed); it is treated as unset: enter it again on the settings page", name)
            except (ValueError, TypeError, InvalidSetting):
                log.warning("the stored setting %s is not valid (any more); its default is used", name)
        return stored

    def _apply(self, first: bool, before: dict[str, Any]) -> None:
        config = self._app.config
        webhook_before = config.get("ALERT_WEBHOOK_URL")
        for definition in DEFINITIONS:
            if definition.name not in self._fixed:
                config[definition.config_key] = self._stored.get(definition.name, definition.default)
        self._apply_to_objects(webhook_before)
        changed = sorted(definition.name for definition in DEFINITIONS if before[definition.name]
                         != self.effective(definition))
        if changed and not first:
            log.info("settings applied in process %d: %s", os.getpid(), ", ".join(changed))

    def _apply_to_objects(self, webhook_before: str | None) -> None:
        """What `create_app` built from the config at start follows it now."""
        app, config = self._app, self._app.config
        from ..inference.providers.registry import settings_from

        providers = app.extensions.get("providers")
        if providers is not None:
            providers.configure(settings_from(config))
        prices = app.extensions.get("prices")
        if prices is not None:
            try:
                prices.use_overrides(config.get("PRICE_OVERRIDES") or [])
            except ValueError as exc:
                log.warning("the price overrides are not valid with this price table (%s); the prices in force "
                            "stay", exc)
        recording = config["REQUEST_HISTORY_DAYS"] > 0
        history = app.extensions.get("history")
        if history is not None:
            history.set_max_body_bytes(config["REQUEST_HISTORY_MAX_BODY_BYTES"])
        inference = app.extensions.get("inference")
        if inference is not None:
            inference.capture_bytes = config["REQUEST_HISTORY_MAX_BODY_BYTES"] if recording else 0
            inference.recording = recording
        if config.get("ALERT_WEBHOOK_URL") != webhook_before:
            _follow_webhook(app, config.get("ALERT_WEBHOOK_URL"))

    # --- what the page and the API show --------------------------------------------------------------

    def source(self, definition: Definition) -> str:
        if definition.name in self._fixed:
            return "environment"
        return "database" if definition.name in self._stored else "default"

    def effective(self, definition: Definition) -> Any:
        if definition.name in self._fixed:
            return self._app.config.get(definition.config_key)
        return self._stored.get(definition.name, definition.default)

    def describe(self) -> list[dict[str, Any]]:
        """Every setting as `GET /v0/settings` shows it: a secret's value is never included, only whether it
        is set and its masked last characters."""
        described = []
        for definition in DEFINITIONS:
            value = self.effective(definition)
            source = self.source(definition)
            item = {"name": definition.name, "section": definition.section,
                    "value": None if definition.secret else value,
                    "default": None if definition.secret else definition.default,
                    "source": source, "env_variable": definition.env_variable, "read_only": source == "environment",
                    "secret": definition.secret, "is_set": value not in (None, "", []),
                    "hint": masked(str(value)) if definition.secret and value else None}
            described.append(item)
        return described

    # --- changing ------------------------------------------------------------------------------------

    def save(self, changes: Mapping[str, Any], who: str) -> list[str]:
        """Validate every change, then store them all in one transaction (a `null` deletes the stored value:
        back to the default) and apply them here at once. The first bad one refuses the lot (400 naming it)."""
        prepared: dict[str, str | None] = {}
        for name, value in changes.items():
            definition = BY_NAME.get(name)
            if definition is None:
                raise ApiError(400, "unknown_setting", _("There is no setting named %(name)s.", name=name), name)
            if name in self._fixed:
                raise ApiError(400, "setting_read_only",
                               _("%(name)s is set by the environment variable %(variable)s: change it there and "
                                 "restart the router.", name=name, variable=definition.env_variable), name)
            if value is None:
                prepared[name] = None
                continue
            try:
                converted = definition.validate(value)
            except InvalidSetting as exc:
                raise ApiError(400, "invalid_setting", exc.message, name) from None
            prepared[name] = json.dumps(self._box.seal(converted) if definition.secret else converted)
        if prepared:
            self._store(prepared, who)
            log.info("settings changed by %s: %s", who, ", ".join(sorted(prepared)))
            self.refresh(wait=True)
        return sorted(prepared)

    def _store(self, prepared: dict[str, str | None], who: str) -> None:
        for attempt in (1, 2):  # two routers inserting the same new name at once: the loser tries again
            try:
                db.session.execute(delete(Setting).where(Setting.name.in_(list(prepared))))
                now = utcnow()
                db.session.add_all(Setting(name=name, value=text, updated_at=now, updated_by=who[:200])
                                   for name, text in prepared.items() if text is not None)
                bumped = db.session.execute(update(SettingsVersion).where(SettingsVersion.id == 1)
                                            .values(version=SettingsVersion.version + 1))
                if bumped.rowcount == 0:
                    db.session.add(SettingsVersion(id=1, version=1))
                db.session.commit()
                return
            except IntegrityError:
                db.session.rollback()
                if attempt == 2:
                    raise


def _follow_webhook(app: Flask, url: str | None) -> None:
    """The leader (which judges alerts) posts them to the URL in force; other workers hold no webhook."""
    if "scheduler_lock" not in app.extensions:
        return
    from ..observability.alert_webhook import AlertWebhook

    old = app.extensions.pop("alert_webhook", None)
    if old is not None:
        old.close(timeout=0)  # what it has queued still goes out, from its own thread
    if url:
        app.extensions["alert_webhook"] = AlertWebhook(url)


def bootstrap(app: Flask) -> list[dict[str, Any]]:
    """What only a restart changes, shown read-only: never a password or a secret's value."""
    database = make_url(app.config["SQLALCHEMY_DATABASE_URI"]).render_as_string(hide_password=True)
    listen = f"{os.environ.get('LLM_ROUTER_HOST') or '127.0.0.1'}:{os.environ.get('LLM_ROUTER_PORT') or '8080'}"
    return [
        {"name": "database_url", "value": database, "env_variable": "DATABASE_URL"},
        {"name": "instance_path", "value": app.instance_path, "env_variable": "LLM_ROUTER_INSTANCE_PATH"},
        {"name": "listen_address", "value": listen, "env_variable": "LLM_ROUTER_HOST, LLM_ROUTER_PORT"},
        {"name": "secret_key", "value": "set" if app.config.get("SECRET_KEY") else "unset",
         "env_variable": "SECRET_KEY"},
        {"name": "jwt_secret", "value": "set" if app.config.get("JWT_SECRET") else "unset",
         "env_variable": "LLM_ROUTER_JWT_SECRET"},
    ]
