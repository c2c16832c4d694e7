"""API keys: creation, lookup, revocation, expiry, and the per-worker key cache
(app/services/accounts/api_keys.py)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.database import ApiKey, utcnow
from app.errors import ApiError
from app.extensions import db
from app.services.accounts import api_keys


@pytest.mark.parametrize("body, code, param", [
    ([], "invalid_body", None),
    ({"scopes": ["api"]}, "invalid_name", "name"),
    ({"name": "   ", "scopes": ["api"]}, "invalid_name", "name"),
    ({"name": "k" * 101, "scopes": ["api"]}, "invalid_name", "name"),
    ({"name": "k", "scopes": []}, "invalid_scopes", "scopes"),
    ({"name": "k", "scopes": ["api", "root"]}, "invalid_scopes", "scopes"),
    ({"name": "k", "scopes": "api"}, "invalid_scopes", "scopes"),
    ({"name": "k", "scopes": ["api"], "expires_in_days": 0}, "invalid_expiry", "expires_in_days"),
    ({"name": "k", "scopes": ["api"], "expires_in_days": True}, "invalid_expiry", "expires_in_days"),
    ({"name": "k", "scopes": ["api"], "expires_in_days": 1.5}, "invalid_expiry", "expires_in_days"),
    ({"name": "k", "scopes": ["api"], "expires_in_days": api_keys.MAX_EXPIRY_DAYS + 1}, "invalid_expiry",
     "expires_in_days"),
])
def test_parse_new_key_names_the_field(app, body, code, param):
    with app.app_context(), pytest.raises(ApiError) as caught:
        api_keys.parse_new_key(body)
    assert (caught.value.status, caught.value.code, caught.value.param) == (400, code, param)


def test_parse_new_key_normalises(app):
    with app.app_context():
        name, scopes, expires_at = api_keys.parse_new_key({"name": " ci ", "scopes": ["admin", "api", "admin"],
                                                           "expires_in_days": 30})
    assert (name, scopes) == ("ci", ["api", "admin"])
    assert timedelta(days=29, hours=23) < expires_at - utcnow() <= timedelta(days=30)


def test_a_created_key_is_found_by_its_plaintext_only(app):
    with app.app_context():
        key, plaintext = api_keys.create_key("ci", ["api"], None, "admin")
        stored = db.session.scalar(select(ApiKey).where(ApiKey.id == key.id))
        found = api_keys.find_key(plaintext)
        record = api_keys.key_record(key)
        assert found is not None and (found.id, found.scopes) == (key.id, ["api"])
        assert api_keys.find_key(plaintext + "x") is None
        assert api_keys.find_key(plaintext.removeprefix(api_keys.KEY_PREFIX)) is None
    assert plaintext.startswith(api_keys.KEY_PREFIX) and key.prefix == plaintext[:12]
    assert stored.key_hash == api_keys.hash_key(plaintext) and plaintext not in stored.key_hash
    assert record["state"] == "active" and record["created_by"] == "admin"
    assert plaintext not in json.dumps(record) and stored.key_hash not in json.dumps(record)


def test_revocation_applies_at_once_through_the_cache(app):
    with app.app_context():
        key, plaintext = api_keys.create_key("ci", ["api"], None, None)
        assert api_keys.key_state(api_keys.find_key(plaintext)) == "active"  # now cached
        assert api_keys.find_key(plaintext) is api_keys.find_key(plaintext)
        revoked_at = api_keys.revoke_key(key.id).revoked_at
        assert api_keys.key_state(api_keys.find_key(plaintext)) == "revoked"
        assert api_keys.revoke_key(key.id).revoked_at == revoked_at  # revoking twice changes nothing
        with pytest.raises(ApiError) as caught:
            api_keys.revoke_key(key.id + 1000)
    assert (caught.value.status, caught.value.code, caught.value.param) == (404, "api_key_not_found", "id")


def test_expiry_is_checked_against_the_time(app):
    with app.app_context():
        key, plaintext = api_keys.create_key("short", ["node"], utcnow() + timedelta(hours=1), None)
        found = api_keys.find_key(plaintext)
    assert api_keys.key_state(found) == "active"
    assert api_keys.key_state(found, now=utcnow() + timedelta(hours=2)) == "expired"
    with app.app_context():
        _key, old = api_keys.create_key("old", ["api"], utcnow() - timedelta(seconds=1), None)
        assert api_keys.key_state(api_keys.find_key(old)) == "expired"


def test_another_workers_change_empties_the_cache(app, tmp_path):
    with app.app_context():
        key = api_keys.create_key("k", ["api"], None, None)[0]
        marker = tmp_path / "keys.changed"
        this_worker, other_worker = api_keys.KeyCache(marker, 60), api_keys.KeyCache(marker, 60)
        copy = this_worker.put("hash", key)
        assert copy is not key and copy.id == key.id  # a detached copy
        assert this_worker.get("hash") is copy
        other_worker.changed()
        assert this_worker.get("hash") is None
        uncached = api_keys.KeyCache(marker, 0)
        uncached.put("hash", key)
        assert uncached.get("hash") is None


def test_last_use_is_written_at_most_once_a_minute(app):
    with app.app_context():
        key, plaintext = api_keys.create_key("ci", ["api"], None, None)
        found = api_keys.find_key(plaintext)
        api_keys.record_use(found)
        first = db.session.get(ApiKey, key.id).last_used_at
        assert first is not None
        api_keys.record_use(found)
        db.session.expire_all()
        assert db.session.get(ApiKey, key.id).last_used_at == first
