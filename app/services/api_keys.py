"""API keys with scopes: `api` (the OpenAI API, `/v1`), `node` (node agents), `admin` (everything).

A key is shown once, at creation; only its SHA-256 is kept. Lists show a short prefix so people
can tell keys apart.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from datetime import datetime, timedelta
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select

from ..errors import ApiError
from ..extensions import db
from ..models import ApiKey, as_utc, iso_utc, utcnow

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
        log.info("API key %s (%s) revoked", key.id, key.prefix)
    return key


def find_key(plaintext: str) -> ApiKey | None:
    """The key a client presented, whatever its state (the caller reports expired or revoked)."""
    if not plaintext.startswith(KEY_PREFIX) or len(plaintext) > 200:
        return None
    return db.session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_key(plaintext)))


def record_use(key: ApiKey) -> None:
    now = utcnow()
    if key.last_used_at is None or now - as_utc(key.last_used_at) >= _LAST_USE_RESOLUTION:
        key.last_used_at = now
        db.session.commit()

