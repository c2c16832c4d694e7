"""API keys on the inference path are checked from a per-worker cache; revoking one still applies
at once, in the worker that revoked it and in every other worker (a marker file, checked at each lookup)."""

from __future__ import annotations

import time
from datetime import timedelta

from app import create_app
from app.extensions import db
from app.database import ApiKey, utcnow
from app.services.accounts import api_keys
from tests.support.factories import make_api_key, router_config


def status(client, key: str) -> int:
    return client.get("/v1/models", headers={"Authorization": f"Bearer {key}"}).status_code


def test_revocation_applies_at_once_in_the_same_worker(make_app):
    app = make_app()
    key = make_api_key(app, ["api"])
    client = app.test_client()
    assert status(client, key) == 200
    with app.app_context():
        api_keys.revoke_key(api_keys.find_key(key).id)
    assert status(client, key) == 401


def test_revocation_reaches_the_other_workers(tmp_path, hub):
    """Two app objects on one instance folder and database are two gunicorn workers."""
    settings = router_config(tmp_path, hub.url)
    worker_a, worker_b = create_app(settings), create_app(settings)
    try:
        key = make_api_key(worker_a, ["api"])
        client_b = worker_b.test_client()
        assert status(client_b, key) == 200  # now cached in worker b
        with worker_a.app_context():
            api_keys.revoke_key(api_keys.find_key(key).id)
        deadline = time.monotonic() + 5
        while status(client_b, key) == 200:
            assert time.monotonic() < deadline, "worker b still accepts the revoked key"
            time.sleep(0.05)
        assert status(client_b, key) == 401
    finally:
        for app in (worker_a, worker_b):
            app.extensions["inference"].connections.close()
            app.extensions["hub_stats"].close()


def test_a_key_expiring_while_cached_is_refused(make_app):
    app = make_app()
    key = make_api_key(app, ["api"], expires_at=utcnow() + timedelta(seconds=1))
    client = app.test_client()
    assert status(client, key) == 200  # cached for 10 s from here
    time.sleep(1.1)
    assert status(client, key) == 401


def test_last_use_is_written_at_most_once_a_minute(make_app):
    app = make_app()
    key = make_api_key(app, ["api"])
    client = app.test_client()

    def last_used():
        with app.app_context():
            return db.session.get(ApiKey, api_keys.find_key(key).id).last_used_at

    assert last_used() is None
    assert status(client, key) == 200
    first = last_used()
    assert first is not None
    assert status(client, key) == 200
    assert last_used() == first
