"""Audit findings 1, 3, 8, 14 and 15 (docs/security.md): who a credential names, the login guard,
logout, login timing, and the CSRF token at login.

Each test sends the audit's requests to the router (the Flask app of the `app` fixture): logins
through `POST /v0/auth/login` and the `/login` form, cookies replayed by a fresh client as an
attacker holding a copy would, client addresses set the way a socket (or a trusted proxy) sets them.
"""

from __future__ import annotations

import importlib
from collections import Counter
from collections.abc import Callable

import pytest
import werkzeug.security

from app import create_app
from tests.support.factories import csrf_token_of, login_session, router_config
from tests.support.router_process import ADMIN_PASSWORD, ADMIN_USERNAME

STRANGER = "203.0.113.7"  # documentation addresses (RFC 5737): never contacted, only named
ADMIN_DESK = "198.51.100.20"
VIEWER_PASSWORD = "contractor password"


def api_login(client, username: str = ADMIN_USERNAME, password: str = ADMIN_PASSWORD, address: str | None = None,
              **kwargs):
    if address:
        kwargs["environ_base"] = {"REMOTE_ADDR": address}
    return client.post("/v0/auth/login", json={"username": username, "password": password}, **kwargs)


def form_login(client, username: str = ADMIN_USERNAME, password: str = ADMIN_PASSWORD, address: str | None = None):
    where = {"environ_base": {"REMOTE_ADDR": address}} if address else {}
    token = csrf_token_of(client.get("/login", **where).get_data(as_text=True))
    return client.post("/login", data={"username": username, "password": password, "csrf_token": token}, **where)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def cookie(client, name: str) -> str:
    found = client.get_cookie(name)
    assert found is not None, f"no {name} cookie"
    return found.value


def replayed(app, **cookies: str):
    """A fresh client holding nothing but copies of these cookies (what a thief would have)."""
    thief = app.test_client()
    for name, value in cookies.items():
        thief.set_cookie(name, value)
    return thief


def assert_signed_out(client) -> None:
    me = client.get("/v0/auth/me")
    assert me.status_code == 401, me.get_data(as_text=True)
    page = client.get("/account")
    assert page.status_code == 302 and page.headers["Location"].startswith("/login")


# --- 1: a credential never names another user ------------------------------------------------------

def test_1_deleted_users_jwt_and_remember_cookie_do_not_become_the_next_users(app, client):
    created = client.post("/v0/users", json={"username": "contractor", "password": VIEWER_PASSWORD, "role": "viewer"})
    contractor = created.get_json()
    jwt = api_login(app.test_client(), "contractor", VIEWER_PASSWORD).get_json()["token"]
    browser = app.test_client()
    login_session(browser, "contractor", VIEWER_PASSWORD)
    session, remember = cookie(browser, "session"), cookie(browser, "remember_token")
    assert app.test_client().get("/v0/auth/me", headers=bearer(jwt)).get_json()["user"]["username"] == "contractor"

    assert client.delete(f"/v0/users/{contractor['id']}").status_code == 204
    newadmin = client.post("/v0/users", json={"username": "newadmin", "password": "new admin password",
                                              "role": "admin"}).get_json()
    assert newadmin["id"] == contractor["id"]  # SQLite hands the freed id to the next user

    by_token = app.test_client().get("/v0/auth/me", headers=bearer(jwt))
    assert by_token.status_code == 401, by_token.get_data(as_text=True)
    assert_signed_out(replayed(app, remember_token=remember))
    assert_signed_out(replayed(app, session=session))
    assert_signed_out(browser)
    # newadmin's own credentials work, and name newadmin.
    fresh = api_login(app.test_client(), "newadmin", "new admin password").get_json()["token"]
    assert app.test_client().get("/v0/auth/me", headers=bearer(fresh)).get_json()["user"]["username"] == "newadmin"


# --- 3: a stranger cannot lock the admin out -------------------------------------------------------

def stranger_fails_ten_times(app, login: Callable) -> None:
    """The audit's attack: ten wrong passwords for admin from another address (the guard's slow-down is
    lifted to the lock threshold so that all ten are really tried, as the audit's were over time)."""
    app.config["LOGIN_SLOWDOWN_AFTER"] = app.config["LOGIN_LOCK_AFTER"] = 10
    for _attempt in range(10):
        response = login(app.test_client(), ADMIN_USERNAME, "wrong password", STRANGER)
        assert response.status_code == 401, response.get_data(as_text=True)


def test_3_ten_failures_from_a_stranger_do_not_lock_the_admin_out_of_the_api(app):
    stranger_fails_ten_times(app, api_login)
    # The stranger is locked out, the right password included (a guesser cannot tell) ...
    locked = api_login(app.test_client(), address=STRANGER)
    assert locked.status_code == 429 and "locked" in locked.get_json()["error"]["message"]
    # ... the admin, at their own desk, is not.
    assert api_login(app.test_client(), address=ADMIN_DESK).status_code == 200
    assert form_login(app.test_client(), address=ADMIN_DESK).status_code == 302


def test_3_ten_failures_from_a_stranger_do_not_lock_the_admin_out_of_the_login_page(app):
    stranger_fails_ten_times(app, form_login)
    assert form_login(app.test_client(), address=STRANGER).status_code == 429
    assert form_login(app.test_client(), address=ADMIN_DESK).status_code == 302
    assert api_login(app.test_client(), address=ADMIN_DESK).status_code == 200


def test_3_failures_from_many_addresses_slow_the_name_down_but_never_lock_it(app):
    app.config.update(LOGIN_SLOWDOWN_AFTER=3, LOGIN_LOCK_AFTER=3)
    for _attempt in range(3):  # as many as one address may make: that address is locked, the name is not
        assert api_login(app.test_client(), password="wrong password", address="203.0.113.1").status_code == 401
    assert api_login(app.test_client(), address="203.0.113.1").status_code == 429
    assert api_login(app.test_client(), password="wrong password", address="203.0.113.2").status_code == 401
    # Four failures for one name: more than one address may make, so a guesser spread over addresses is
    # slowed down, from every address, but only for seconds: the name is never locked.
    slowed = api_login(app.test_client(), address="203.0.113.3")
    assert slowed.status_code == 429
    message = slowed.get_json()["error"]["message"]
    assert "wait" in message and "locked" not in message
    assert 1 <= int(slowed.headers["Retry-After"]) <= 60
    # Other names are not affected from a fresh address.
    assert api_login(app.test_client(), "nobody", "wrong password", "203.0.113.3").status_code == 401


def test_3_ipv6_clients_are_counted_per_64_network(app):
    app.config.update(LOGIN_SLOWDOWN_AFTER=3, LOGIN_LOCK_AFTER=10)
    for host in range(1, 4):  # one machine rotating addresses within its /64
        assert api_login(app.test_client(), f"user{host}", "wrong password", f"2001:db8:1:2::{host}").status_code == 401
    assert api_login(app.test_client(), "user9", "wrong password", "2001:db8:1:2::99").status_code == 429
    assert api_login(app.test_client(), "user9", "wrong password", "2001:db8:1:3::1").status_code == 401


@pytest.mark.parametrize("trusted_proxies", [1, 0])
def test_3_behind_a_trusted_proxy_each_client_has_its_own_counter(tmp_path, hub, trusted_proxies):
    app = create_app(router_config(tmp_path, hub.url, TRUSTED_PROXIES=trusted_proxies, LOGIN_SLOWDOWN_AFTER=10))
    try:
        client = app.test_client()  # every request comes from the proxy, 127.0.0.1

        def via_proxy(client_address: str, password: str):
            return api_login(client, password=password, headers={"X-Forwarded-For": client_address})

        for _attempt in range(10):
            assert via_proxy(STRANGER, "wrong password").status_code == 401
        assert via_proxy(STRANGER, ADMIN_PASSWORD).status_code == 429
        # With a trusted proxy, X-Forwarded-For names the client: the admin is another client. Without
        # one, the header is anybody's to write and is ignored: every request is the proxy's address.
        assert via_proxy(ADMIN_DESK, ADMIN_PASSWORD).status_code == (200 if trusted_proxies else 429)
    finally:
        app.extensions["hub_stats"].close()


# --- 8: logout ends the session on the server -----------------------------------------------------

def test_8_logout_ends_the_session_and_remember_cookies_when_replayed(app):
    browser, other_browser = app.test_client(), app.test_client()
    token = login_session(browser)
    login_session(other_browser)
    session, remember = cookie(browser, "session"), cookie(browser, "remember_token")

    assert browser.post("/logout", data={"csrf_token": token}).status_code == 302
    assert_signed_out(browser)
    assert_signed_out(replayed(app, session=session))
    assert_signed_out(replayed(app, remember_token=remember))
    assert_signed_out(replayed(app, session=session, remember_token=remember))
    # Signing out one browser leaves the user's other browsers signed in.
    assert other_browser.get("/v0/auth/me").status_code == 200


def test_8_api_logout_with_a_session_ends_it_when_replayed(app):
    browser = app.test_client()
    token = login_session(browser)
    session, remember = cookie(browser, "session"), cookie(browser, "remember_token")
    assert browser.post("/v0/auth/logout", headers={"X-CSRFToken": token}).status_code == 204
    assert_signed_out(replayed(app, session=session, remember_token=remember))
    assert_signed_out(replayed(app, remember_token=remember))


def test_8_a_password_change_ends_every_sign_in(app):
    browser, other_browser = app.test_client(), app.test_client()
    token = login_session(browser)
    login_session(other_browser)
    remember = cookie(other_browser, "remember_token")
    changed = browser.post("/v0/auth/password", headers={"X-CSRFToken": token},
                           json={"current_password": ADMIN_PASSWORD, "new_password": "a new password"})
    assert changed.status_code == 204
    assert_signed_out(other_browser)
    assert_signed_out(replayed(app, remember_token=remember))


# --- 14: an unknown user name costs what a wrong password costs --------------------------------------

def test_14_an_unknown_user_name_costs_one_hash_check_like_a_wrong_password(app, monkeypatch):
    """Counts werkzeug's hashing calls as the users service makes them: a login for a name that does
    not exist must hash exactly as a wrong password for one that does (one check, no new hash, the
    same method), so the answer's time cannot tell the two apart."""
    users_module = importlib.import_module("app.services.accounts.users")
    calls: Counter[str] = Counter()
    methods: list[str] = []

    def generate(password: str, *args, **kwargs) -> str:
        calls["generate"] += 1
        return werkzeug.security.generate_password_hash(password, *args, **kwargs)

    def check(pwhash: str, password: str) -> bool:
        calls["check"] += 1
        methods.append(pwhash.split("$", 1)[0])
        return werkzeug.security.check_password_hash(pwhash, password)

    monkeypatch.setattr(users_module, "generate_password_hash", generate)
    monkeypatch.setattr(users_module, "check_password_hash", check)
    client = app.test_client()
    assert api_login(client, "warm-up", "wrong password").status_code == 401

    def cost(username: str) -> tuple[dict[str, int], str]:
        calls.clear()
        methods.clear()
        assert api_login(client, username, "wrong password").status_code == 401
        return dict(calls), methods[-1]

    known, known_method = cost(ADMIN_USERNAME)
    for unknown in ("nobody", "somebody-else"):
        assert cost(unknown) == (known, known_method) == ({"check": 1}, app.config["PASSWORD_HASH_METHOD"])


# --- 15: the CSRF token changes at login ----------------------------------------------------------

def test_15_the_csrf_token_of_the_login_page_stops_working_at_login(app):
    browser = app.test_client()
    before = csrf_token_of(browser.get("/login").get_data(as_text=True))
    response = browser.post("/login", data={"username": ADMIN_USERNAME, "password": ADMIN_PASSWORD,
                                            "csrf_token": before})
    assert response.status_code == 302
    after = csrf_token_of(browser.get("/account").get_data(as_text=True))
    assert after != before
    refused = browser.post("/v0/auth/logout", headers={"X-CSRFToken": before})
    assert refused.status_code == 400
    form_refused = browser.post("/logout", data={"csrf_token": before})
    assert form_refused.status_code == 400
    assert browser.get("/v0/auth/me").status_code == 200  # nothing happened
    assert browser.post("/v0/auth/logout", headers={"X-CSRFToken": after}).status_code == 204
