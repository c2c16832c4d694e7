"""JWT login, me, logout, own password, and the brute-force guard."""

from __future__ import annotations

import time

import pytest

from app import create_app
from tests.support.factories import router_config
from tests.support.router_process import ADMIN_PASSWORD, ADMIN_USERNAME


def login(client, username=ADMIN_USERNAME, password=ADMIN_PASSWORD, **kwargs):
    return client.post("/v0/auth/login", json={"username": username, "password": password}, **kwargs)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_login_gives_a_jwt_that_opens_v0(anonymous_client):
    response = login(anonymous_client)
    assert response.status_code == 200
    body = response.get_json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 12 * 3600
    assert body["user"]["username"] == ADMIN_USERNAME and body["user"]["role"] == "admin"
    assert "password" not in str(body["user"]) and "hash" not in str(body["user"])
    assert anonymous_client.get("/v0/models", headers=bearer(body["token"])).status_code == 200
    me = anonymous_client.get("/v0/auth/me", headers=bearer(body["token"])).get_json()
    assert me == {"user": body["user"], "auth": "jwt"}


@pytest.mark.parametrize("body, status, code", [
    ({"username": ADMIN_USERNAME, "password": "wrong password"}, 401, "invalid_credentials"),
    ({"username": "nobody", "password": "whatever1"}, 401, "invalid_credentials"),
    ({"username": ADMIN_USERNAME}, 400, "invalid_credentials_format"),
    ({"username": 5, "password": "x"}, 400, "invalid_credentials_format"),
])
def test_bad_logins(anonymous_client, body, status, code):
    response = anonymous_client.post("/v0/auth/login", json=body)
    assert response.status_code == status
    assert response.get_json()["error"]["code"] == code


def test_logout_ends_the_token(anonymous_client):
    token = login(anonymous_client).get_json()["token"]
    assert anonymous_client.post("/v0/auth/logout", headers=bearer(token)).status_code == 204
    response = anonymous_client.get("/v0/models", headers=bearer(token))
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "authentication_required"
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_tampered_and_expired_tokens_are_refused(tmp_path, hub):
    app = create_app(router_config(tmp_path, hub.url, JWT_TTL_SECONDS=1))
    client = app.test_client()
    token = login(client).get_json()["token"]
    assert client.get("/v0/auth/me", headers=bearer(token[:-2] + "xx")).status_code == 401
    assert client.get("/v0/auth/me", headers=bearer(token)).status_code == 200
    time.sleep(1.5)
    assert client.get("/v0/auth/me", headers=bearer(token)).status_code == 401


def test_changing_the_password_ends_older_tokens(anonymous_client):
    token = login(anonymous_client).get_json()["token"]
    wrong = anonymous_client.post("/v0/auth/password", headers=bearer(token),
                                  json={"current_password": "nope", "new_password": "new password 1"})
    assert wrong.status_code == 400 and wrong.get_json()["error"]["code"] == "wrong_password"
    short = anonymous_client.post("/v0/auth/password", headers=bearer(token),
                                  json={"current_password": ADMIN_PASSWORD, "new_password": "short"})
    assert short.status_code == 400 and short.get_json()["error"]["param"] == "new_password"
    changed = anonymous_client.post("/v0/auth/password", headers=bearer(token),
                                    json={"current_password": ADMIN_PASSWORD, "new_password": "new password 1"})
    assert changed.status_code == 204
    assert anonymous_client.get("/v0/auth/me", headers=bearer(token)).status_code == 401
    assert login(anonymous_client).status_code == 401
    assert login(anonymous_client, password="new password 1").status_code == 200


def guarded_app(tmp_path, hub):
    return create_app(router_config(tmp_path, hub.url, LOGIN_SLOWDOWN_AFTER=3, LOGIN_LOCK_AFTER=5,
                                    LOGIN_LOCK_SECONDS=600))


def test_repeated_failures_slow_down_then_lock(tmp_path, hub):
    client = guarded_app(tmp_path, hub).test_client()
    for _ in range(3):
        assert login(client, password="wrong password").status_code == 401
    slowed = login(client, password="wrong password")
    assert slowed.status_code == 429
    assert slowed.headers["Retry-After"] == "1"
    assert "wait 1 seconds" in slowed.get_json()["error"]["message"]
    # Even the right password must wait: a guesser cannot tell.
    assert login(client).status_code == 429
    time.sleep(1.05)
    assert login(client, password="wrong password").status_code == 401  # 4th failure: the wait doubles
    doubled = login(client, password="wrong password")
    assert (doubled.status_code, doubled.headers["Retry-After"]) == (429, "2")
    time.sleep(2.05)
    assert login(client, password="wrong password").status_code == 401  # 5th failure: locked
    locked = login(client)
    assert locked.status_code == 429
    assert "locked" in locked.get_json()["error"]["message"]
    assert int(locked.headers["Retry-After"]) > 500


def test_failures_count_per_address_across_user_names(tmp_path, hub):
    client = guarded_app(tmp_path, hub).test_client()
    for name in ("alice", "bob", "carol"):
        assert login(client, username=name, password="wrong password").status_code == 401
    assert login(client, username="dave", password="wrong password").status_code == 429
    other_address = login(client, username="dave", password="wrong password",
                          environ_base={"REMOTE_ADDR": "10.9.8.7"})
    assert other_address.status_code == 401


def test_success_resets_the_counter(tmp_path, hub):
    client = guarded_app(tmp_path, hub).test_client()
    for _ in range(2):
        login(client, password="wrong password")
    assert login(client).status_code == 200
    for _ in range(2):
        assert login(client, password="wrong password").status_code == 401
