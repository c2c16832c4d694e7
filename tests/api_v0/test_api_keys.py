"""API keys: shown once, stored hashed, scoped, expiring, revocable."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.database import utcnow
from tests.support.factories import make_api_key


def create(client, **body):
    return client.post("/v0/api-keys", json={"name": "ci", "scopes": ["api"], **body})


def test_created_key_is_shown_once_and_works_on_v1(client, anonymous_client):
    response = create(client, expires_in_days=30)
    assert response.status_code == 201
    record = response.get_json()
    key = record["key"]
    assert key.startswith("llmr_") and len(key) > 40
    assert record["prefix"] == key[:12] and record["state"] == "active" and record["expires_at"]
    listed = client.get("/v0/api-keys").get_json()["api_keys"]
    assert key not in str(listed) and all("key" not in item and "key_hash" not in item for item in listed)
    for headers in ({"Authorization": f"Bearer {key}"}, {"X-API-Key": key}):
        assert anonymous_client.get("/v1/models", headers=headers).status_code == 200
    used = next(item for item in client.get("/v0/api-keys").get_json()["api_keys"] if item["id"] == record["id"])
    assert used["last_used_at"] is not None


def test_scopes_decide_where_a_key_works(app, anonymous_client):
    api, node, admin = (make_api_key(app, [scope]) for scope in ("api", "node", "admin"))
    def status(key, path):
        return anonymous_client.get(path, headers={"Authorization": f"Bearer {key}"}).status_code
    assert (status(api, "/v1/models"), status(node, "/v1/models"), status(admin, "/v1/models")) == (200, 403, 200)
    assert (status(api, "/v0/models"), status(node, "/v0/models"), status(admin, "/v0/models")) == (403, 403, 200)


def test_revoked_and_expired_keys_are_401_with_the_reason(client, app, anonymous_client):
    record = create(client).get_json()
    assert client.delete(f"/v0/api-keys/{record['id']}").status_code == 204
    revoked = anonymous_client.get("/v1/models", headers={"Authorization": f"Bearer {record['key']}"})
    assert revoked.status_code == 401
    assert revoked.get_json()["error"]["code"] == "invalid_api_key"
    assert "revoked" in revoked.get_json()["error"]["message"]
    expired = make_api_key(app, ["api"], expires_at=utcnow() - timedelta(seconds=1))
    response = anonymous_client.get("/v1/models", headers={"X-API-Key": expired})
    assert response.status_code == 401 and "expired" in response.get_json()["error"]["message"]
    unknown = anonymous_client.get("/v1/models", headers={"Authorization": "Bearer llmr_not-a-real-key"})
    assert unknown.status_code == 401 and unknown.get_json()["error"]["code"] == "invalid_api_key"
    states = {item["id"]: item["state"] for item in client.get("/v0/api-keys").get_json()["api_keys"]}
    assert states[record["id"]] == "revoked"
    assert client.delete("/v0/api-keys/9999").status_code == 404


@pytest.mark.parametrize("body, param", [
    ({"name": "", "scopes": ["api"]}, "name"),
    ({"name": "x" * 101, "scopes": ["api"]}, "name"),
    ({"name": "k", "scopes": []}, "scopes"),
    ({"name": "k", "scopes": ["root"]}, "scopes"),
    ({"name": "k", "scopes": "api"}, "scopes"),
    ({"name": "k", "scopes": ["api"], "expires_in_days": 0}, "expires_in_days"),
    ({"name": "k", "scopes": ["api"], "expires_in_days": "7"}, "expires_in_days"),
    ({"name": "k", "scopes": ["api"], "expires_in_days": True}, "expires_in_days"),
])
def test_invalid_key_requests(client, body, param):
    response = client.post("/v0/api-keys", json=body)
    assert response.status_code == 400
    assert response.get_json()["error"]["param"] == param
