"""User management through /v0/users: roles, validation, and the last admin."""

from __future__ import annotations

import pytest


def create(client, username="viewer1", password="viewer password", role="viewer"):
    return client.post("/v0/users", json={"username": username, "password": password, "role": role})


def test_create_list_update_delete(client):
    response = create(client)
    assert response.status_code == 201
    user = response.get_json()
    assert set(user) == {"id", "username", "role", "created_at"}
    names = [u["username"] for u in client.get("/v0/users").get_json()["users"]]
    assert names == ["admin", "viewer1"]
    promoted = client.patch(f"/v0/users/{user['id']}", json={"role": "admin"})
    assert promoted.status_code == 200 and promoted.get_json()["role"] == "admin"
    assert client.patch(f"/v0/users/{user['id']}", json={"password": "another password"}).status_code == 200
    assert client.post("/v0/auth/login", json={"username": "viewer1", "password": "another password"}).status_code == 200
    assert client.delete(f"/v0/users/{user['id']}").status_code == 204
    assert client.delete(f"/v0/users/{user['id']}").status_code == 404


@pytest.mark.parametrize("body, code, param", [
    ({"username": "x y", "password": "long enough", "role": "viewer"}, "invalid_username", "username"),
    ({"username": "", "password": "long enough"}, "invalid_username", "username"),
    ({"username": "ok", "password": "short"}, "invalid_password", "password"),
    ({"username": "ok", "password": 12345678}, "invalid_password", "password"),
    ({"username": "ok", "password": "long enough", "role": "root"}, "invalid_role", "role"),
])
def test_invalid_users_are_refused(client, body, code, param):
    response = client.post("/v0/users", json=body)
    assert response.status_code == 400
    assert (response.get_json()["error"]["code"], response.get_json()["error"]["param"]) == (code, param)


def test_duplicate_names_conflict_case_insensitively(client):
    assert create(client, "Alice").status_code == 201
    response = create(client, "alice")
    assert response.status_code == 409 and response.get_json()["error"]["code"] == "user_exists"


def test_the_last_admin_cannot_be_demoted_or_removed(client):
    admin_id = client.get("/v0/users").get_json()["users"][0]["id"]
    demote = client.patch(f"/v0/users/{admin_id}", json={"role": "viewer"})
    assert demote.status_code == 400 and demote.get_json()["error"]["code"] == "last_admin"
    remove = client.delete(f"/v0/users/{admin_id}")
    assert remove.status_code == 400 and remove.get_json()["error"]["code"] == "last_admin"
    second = create(client, "second", role="admin").get_json()
    assert client.patch(f"/v0/users/{admin_id}", json={"role": "viewer"}).status_code == 200
    assert client.delete(f"/v0/users/{second['id']}").status_code == 400  # now the last admin


def test_patch_validation(client):
    user = create(client).get_json()
    assert client.patch(f"/v0/users/{user['id']}", json={}).status_code == 400
    assert client.patch(f"/v0/users/{user['id']}", json={"name": "x"}).status_code == 400
    assert client.patch("/v0/users/9999", json={"role": "viewer"}).status_code == 404
