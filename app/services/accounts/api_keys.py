"""API keys with scopes: `api` (the OpenAI API, `/v1`), `node` (node agents), `admin` (everything).

A key is shown once, at creation; only its SHA-256 is kept. Lists show a short prefix so people
can tell keys apart.

Checking a key is on the path of every inference request, so known keys are kept in memory per
worker process (`KeyCache`) instead of read from the database each time — under load the lookup was
the router's largest own cost, and SQLite readers wait behind the poller's writes. A revocation still
applies at once on this machine: revoking (or creating) a key touches a marker file in the instance
folder, and every worker checks the marker (one stat, microseconds) at each lookup and drops its
cache when it changed. Entries also expire after
`LLM_ROUTER_API_KEY_CACHE_SECONDS` (default 10), the bound for routers on other machines sharing the
database. Expiry dates are checked on every request, cached or not. Unknown keys are never cached.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from flask import Flask, current_app
from flask_babel import gettext as _
from sqlalchemy import inspect, select, update

from ...errors import ApiError
from ...extensions import db
from ...database import ApiKey, as_utc, iso_utc, utcnow

log = logging.getLogger(__name__)

SCOPES = ("api", "node", "admin")
KEY_PREFIX = "llmr_"
_LAST_USE_RESOLUTION = timedelta(seconds=60)  # at most one write per key and minute, not one per request
MAX_EXPIRY_DAYS = 3650


def hash_key(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode("utf-8")).hexdigest()


def key_state(key: ApiKey, now: datetime | None = None) -> str:
    now = now or utcnow()
    if key.revoked_at is not None:
        return "revoked"
    if key.expires_at is not None and as_utc(key.expires_at) <= now:
        return "expired"
    return "active"


def key_record(key: ApiKey) -> dict[str, Any]:
    """What lists show: never the key, never its hash."""
    return {"id": key.id, "name": key.name, "prefix": key.prefix, "scopes": key.scopes, "created_by": key.created_by,
            "created_at": iso_utc(key.created_at), "expires_at": iso_utc(key.expires_at),
            "last_used_at": iso_utc(key.last_used_at), "revoked_at": iso_utc(key.revoked_at), "state": key_state(key)}


def parse_new_key(body: Any) -> tuple[str, list[str], datetime | None]:
    """`{name, scopes, expires_in_days?}` from a client; 400 naming the field otherwise."""
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_body", _("The request body must be a JSON object."))
    name = body.get("name")
    if not isinstance(name, str) or not name.strip() or len(name.strip()) > 100:
        raise ApiError(400, "invalid_name", _("Give the key a name of 1 to 100 characters."), "name")
    scopes = body.get("scopes")
    if not isinstance(scopes, list) or not scopes or any(scope not in SCOPES for scope in scopes):
        raise ApiError(400, "invalid_scopes", _("Scopes must be a non-empty list of: api, node, admin."), "scopes")
    days = body.get("expires_in_days")
    expires_at = None
    if days is not None:
        if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_EXPIRY_DAYS:
            raise ApiError(400, "invalid_expiry", _("expires_in_days must be a whole number from 1 to %(max)d.",
                                                    max=MAX_EXPIRY_DAYS), "expires_in_days")
        expires_at = utcnow() + timedelta(days=days)
    return name.strip(), sorted(set(scopes), key=SCOPES.index), expires_at


def create_key(name: str, scopes: list[str], expires_at: datetime | None, created_by: str | None) -> tuple[ApiKey, str]:
    """The stored key and its plaintext, which exists only in this return value."""
    plaintext = KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(name=name, prefix=plaintext[:12], key_hash=hash_key(plaintext), scopes=scopes,
                 expires_at=expires_at, created_by=created_by)
    db.session.add(key)
    db.session.commit()
    _key_cache().changed()
    log.info("API key %s (%s, scopes %s) created by %s", key.id, key.prefix, ",".join(scopes), created_by)
    return key, plaintext


def all_keys() -> list[ApiKey]:
    return list(db.session.scalars(select(ApiKey).order_by(ApiKey.created_at.desc(), ApiKey.id.desc())))


def revoke_key(key_id: int) -> ApiKey:
    key = db.session.get(ApiKey, key_id)
    if key is None:
        raise ApiError(404, "api_key_not_found", _("There is no API key with id %(id)s.", id=key_id), "id")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        db.session.commit()
        _key_cache().changed()
        log.info("API key %s (%s) revoked", key.id, key.prefix)
    return key


class KeyCache:
    """Keys found recently, by hash, as detached copies (safe to share between threads and requests)."""

    def __init__(self, marker: Path, ttl_seconds: float) -> None:
        self.marker = marker
        self.ttl = ttl_seconds
        self._entries: dict[str, tuple[ApiKey, float]] = {}
        self._marker_state = self._read_marker()
        self._lock = threading.Lock()

    def _read_marker(self) -> tuple[int, int] | None:
        try:
            status = os.stat(self.marker)
        except OSError:
            return None
        return status.st_mtime_ns, status.st_size

    def get(self, key_hash: str) -> ApiKey | None:
        if self.ttl <= 0:
            return None
        marker = self._read_marker()  # another worker may have revoked a key just now
        if marker != self._marker_state:
            with self._lock:
                self._entries.clear()
                self._marker_state = marker
            return None
        now = time.monotonic()
        entry = self._entries.get(key_hash)
        if entry is None or entry[1] <= now:
            return None
        return entry[0]

    def put(self, key_hash: str, key: ApiKey) -> ApiKey:
        """Keep a detached copy of `key`; returns it."""
        columns = {attribute.key: getattr(key, attribute.key) for attribute in inspect(ApiKey).column_attrs}
        copy = ApiKey(**columns)
        if self.ttl > 0:
            with self._lock:
                self._entries[key_hash] = (copy, time.monotonic() + self.ttl)
        return copy

    def changed(self) -> None:
        """A key was created or revoked: every worker on this machine drops its cache (marker file)."""
        with self._lock:
            self._entries.clear()
        try:
            with open(self.marker, "a", encoding="utf-8") as handle:
                handle.write(".")  # size and mtime change, even within one clock tick
            if self.marker.stat().st_size > 4096:
                self.marker.write_text("", encoding="utf-8")
        except OSError as exc:
            log.warning("could not touch %s (%s); other workers see the key change within %g s",
                        self.marker, exc, self.ttl)


def key_cache_for(app: Flask) -> KeyCache:
    """The per-process cache `create_app` keeps in `app.extensions["api_key_cache"]`."""
    return KeyCache(Path(app.instance_path) / "api_keys.changed", app.config.get("API_KEY_CACHE_SECONDS", 10.0))


def _key_cache() -> KeyCache:
    return current_app.extensions["api_key_cache"]


def find_key(plaintext: str) -> ApiKey | None:
    """The key a client presented, whatever its state (the caller reports expired or revoked).
    A detached copy: read it; change keys through this module's functions."""
    if not plaintext.startswith(KEY_PREFIX) or len(plaintext) > 200:
        return None
    key_hash = hash_key(plaintext)
    cache = _key_cache()
    key = cache.get(key_hash)
    if key is not None:
        return key
    key = db.session.scalar(select(ApiKey).where(ApiKey.key_hash == key_hash))
    return None if key is None else cache.put(key_hash, key)


def record_use(key: ApiKey) -> None:
    """Notes the last use, at most once a minute per key and worker (a write per request would make
    every inference request wait for the database)."""
    now = utcnow()
    if key.last_used_at is None or now - as_utc(key.last_used_at) >= _LAST_USE_RESOLUTION:
        key.last_used_at = now  # this worker's copy: no second write within the minute
        db.session.execute(update(ApiKey).where(ApiKey.id == key.id).values(last_used_at=now))
        db.session.commit()
