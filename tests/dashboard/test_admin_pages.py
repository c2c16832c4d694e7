"""The signed-in dashboard through Flask's test client: the header, what viewers see, the Users, API Keys
and Account pages (plain forms with CSRF tokens), the sign-in page, the error page, and the banner
shown when authentication is disabled."""

from __future__ import annotations

import html as html_lib
import re

import pytest

from app import create_app
from app.services.accounts import users
from tests.support.factories import csrf_token_of, login_session, router_config
from tests.support.router_process import ADMIN_PASSWORD, ADMIN_USERNAME

VIEWER = ("vera", "viewer password 1")


def text(html: str) -> str:
    """Visible-ish text: tags dropped, entities decoded, whitespace collapsed."""
    return html_lib.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))).strip()


def main_of(html: str) -> str:
    return html.split('<main id="main"', 1)[1].split("</main>", 1)[0]


def header_of(html: str) -> str:
    return html.split('<header class="site-header">', 1)[1].split("</header>", 1)[0]


def add_user(app, username: str, password: str, role: str = "viewer") -> int:
    with app.app_context():
        return users.create_user(username, password, role).id


def user_id(app, username: str) -> int | None:
    with app.app_context():
        user = users.find_user(username)
        return user.id if user else None


def role_of(app, username: str) -> str | None:
    with app.app_context():
        user = users.find_user(username)
        return user.role if user else None


@pytest.fixture
def admin(app):
    """A test client signed in as the first admin through the login form, and its CSRF token."""
    browser = app.test_client()
    return browser, login_session(browser)


@pytest.fixture
def viewer(app):
    add_user(app, *VIEWER)
    browser = app.test_client()
    return browser, login_session(browser, *VIEWER)


def can_sign_in(app, username: str, password: str) -> bool:
    browser = app.test_client()
    token = csrf_token_of(browser.get("/login").get_data(as_text=True))
    response = browser.post("/login", data={"username": username, "password": password, "csrf_token": token})
    return response.status_code == 302


# --- Signing in and out ---------------------------------------------------------------------------

def test_pages_send_anonymous_visitors_to_the_login_page_and_back(app, anonymous_client):
    response = anonymous_client.get("/users")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/users"
    html = anonymous_client.get(response.headers["Location"]).get_data(as_text=True)
    assert '<input type="hidden" name="next" value="/users">' in html
    response = anonymous_client.post("/login", data={"username": ADMIN_USERNAME, "password": ADMIN_PASSWORD,
                                                     "next": "/users", "csrf_token": csrf_token_of(html)})
    assert response.status_code == 302 and response.headers["Location"] == "/users"


def test_login_page_shows_the_form_and_the_language_switcher(anonymous_client):
    html = anonymous_client.get("/login").get_data(as_text=True)
    assert '<label for="login-username">User name</label>' in html
    assert 'autocomplete="current-password"' in html
    assert '<nav class="lang-switch" aria-label="Language">' in html
    assert 'href="/lang/ja?next=/login"' in html
    assert '<nav class="site-nav"' not in html  # nothing to open before signing in
    assert "Sign out" not in html
    japanese = anonymous_client.get("/login", headers={"Accept-Language": "ja"}).get_data(as_text=True)
    assert '<html lang="ja">' in japanese and "ユーザー名" in japanese and "ログイン" in japanese


def test_wrong_password_shows_an_alert_and_keeps_the_user_name(anonymous_client):
    token = csrf_token_of(anonymous_client.get("/login").get_data(as_text=True))
    response = anonymous_client.post("/login", data={"username": "admin", "password": "nope", "csrf_token": token})
    assert response.status_code == 401
    html = response.get_data(as_text=True)
    assert '<p class="form-error" role="alert" id="login-error">Wrong user name or password.</p>' in html
    assert 'value="admin"' in html
    assert 'aria-describedby="login-error"' in html
    assert "nope" not in html  # the password is never sent back


def test_throttled_login_shows_the_servers_message(app, anonymous_client):
    app.config["LOGIN_SLOWDOWN_AFTER"] = 1
    token = csrf_token_of(anonymous_client.get("/login").get_data(as_text=True))
    form = {"username": "admin", "password": "nope", "csrf_token": token}
    assert anonymous_client.post("/login", data=form).status_code == 401
    response = anonymous_client.post("/login", data=form)
    assert response.status_code == 429
    assert response.headers["Retry-After"]
    alert = re.search(r'<p class="form-error" role="alert" id="login-error">(.*?)</p>', response.get_data(as_text=True))
    assert alert and alert.group(1).startswith("Too many failed logins: wait")
    japanese = anonymous_client.post("/login", data=form, headers={"Accept-Language": "ja"})
    assert japanese.status_code == 429 and "ログインの失敗が多すぎます" in japanese.get_data(as_text=True)


def test_header_shows_the_user_the_pages_and_sign_out(admin):
    browser, _token = admin
    header = header_of(browser.get("/models").get_data(as_text=True))
    assert '<span class="user-menu__name" id="signed-in-user">admin</span>' in header
    assert ">Admin</span>" in header
    for link in ('href="/models"', 'href="/users"', 'href="/api-keys"', 'href="/account"'):
        assert link in header
    assert '<form method="post" action="/logout"' in header
    assert 'name="csrf_token"' in header


def test_csrf_token_is_on_every_page_for_the_scripts(admin):
    browser, _token = admin
    for path in ("/models", "/models/local", "/users", "/api-keys", "/account"):
        assert re.search(r'<meta name="csrf-token" content="[^"]+">', browser.get(path).get_data(as_text=True)), path


def test_sign_out_ends_the_session(admin):
    browser, token = admin
    response = browser.post("/logout", data={"csrf_token": token})
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert browser.get("/models").status_code == 302


def test_page_json_calls_need_the_csrf_header(admin):
    browser, token = admin
    assert browser.post("/v0/models/register", json={"id": "phi-4"}).status_code == 400
    response = browser.post("/v0/models/register", json={"id": "phi-4"}, headers={"X-CSRFToken": token})
    assert response.status_code == 201
    assert browser.delete("/v0/models/phi-4").status_code == 400
    assert browser.delete("/v0/models/phi-4", headers={"X-CSRFToken": token}).status_code == 204


# --- Viewers ----------------------------------------------------------------------------------------

def test_viewer_sees_the_models_read_only(client, viewer):
    client.post("/v0/models/register", json={"id": "phi-4"})  # as admin (API key)
    browser, _token = viewer
    hub = browser.get("/models").get_data(as_text=True)
    assert 'data-model-id="phi-4"' in hub
    for control in ('data-action="register"', 'data-action="delete"', 'id="open-register-dialog"',
                    'id="register-dialog"', 'id="delete-dialog"', "Register from Hugging Face"):
        assert control not in hub, control
    fragment = browser.get("/models/_hub").get_data(as_text=True)
    assert 'data-action=' not in fragment
    local = browser.get("/models/local").get_data(as_text=True)
    assert '<tr data-model-id="phi-4">' in local and 'data-action="delete"' not in local
    header = header_of(hub)
    assert ">vera</span>" in header and ">Viewer</span>" in header
    assert 'href="/account"' in header and 'href="/users"' not in header and 'href="/api-keys"' not in header


def test_admin_sees_the_controls(client, admin):
    client.post("/v0/models/register", json={"id": "phi-4"})
    browser, _token = admin
    hub = browser.get("/models").get_data(as_text=True)
    assert 'id="open-register-dialog"' in hub and 'data-action="register"' in hub and 'data-action="delete"' in hub


@pytest.mark.parametrize("path", ["/users", "/api-keys"])
def test_viewer_gets_the_forbidden_page(viewer, path):
    browser, _token = viewer
    response = browser.get(path)
    assert response.status_code == 403
    assert response.mimetype == "text/html"
    page = text(main_of(response.get_data(as_text=True)))
    assert "Error 403" in page and "You may not open this page" in page
    assert "it needs admin rights" in page
    assert 'href="/models"' in response.get_data(as_text=True)


def test_forbidden_page_in_japanese(viewer):
    browser, _token = viewer
    browser.set_cookie("lang", "ja")
    html = browser.get("/users").get_data(as_text=True)
    assert '<html lang="ja">' in html
    assert "このページを開く権限がありません" in html


def test_viewer_cannot_post_admin_forms(app, viewer):
    browser, token = viewer
    response = browser.post("/users", data={"username": "eve", "password": "long enough 1", "role": "admin",
                                            "csrf_token": token})
    assert response.status_code == 403
    assert user_id(app, "eve") is None
    response = browser.post(f"/users/{user_id(app, 'vera')}/role", data={"role": "admin", "csrf_token": token})
    assert response.status_code == 403 and role_of(app, "vera") == "viewer"


# --- Users page -----------------------------------------------------------------------------------

def test_users_page_lists_users_without_password_hashes(app, admin):
    add_user(app, *VIEWER)
    browser, _token = admin
    response = browser.get("/users")
    html = response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "no-store"
    assert re.findall(r'<tr data-user-id="\d+" data-username="([^"]+)">', html) == ["admin", "vera"]
    assert "pbkdf2" not in html and "scrypt" not in html and "password_hash" not in html
    assert "(you)" in text(html)
    assert '<dialog id="delete-user-' in html


def test_admin_adds_changes_and_deletes_a_user(app, admin):
    browser, token = admin
    response = browser.post("/users", data={"username": "bob", "password": "bob password 1", "role": "viewer",
                                            "csrf_token": token})
    assert response.status_code == 302 and response.headers["Location"] == "/users"
    html = browser.get("/users").get_data(as_text=True)
    assert '<p class="flash flash--success">Added the user bob (Viewer).</p>' in html
    assert 'data-username="bob"' in html
    assert "Added the user bob" not in browser.get("/users").get_data(as_text=True)  # shown once
    bob = user_id(app, "bob")

    response = browser.post(f"/users/{bob}/role", data={"role": "admin", "csrf_token": token}, follow_redirects=True)
    assert "The role of bob is now Admin." in response.get_data(as_text=True)
    assert role_of(app, "bob") == "admin"

    response = browser.post(f"/users/{bob}/password", data={"password": "bob new password", "csrf_token": token},
                            follow_redirects=True)
    assert "New password set for bob" in response.get_data(as_text=True)
    assert not can_sign_in(app, "bob", "bob password 1")
    assert can_sign_in(app, "bob", "bob new password")

    response = browser.post(f"/users/{bob}/delete", data={"csrf_token": token}, follow_redirects=True)
    assert "Deleted the user bob." in response.get_data(as_text=True)
    assert user_id(app, "bob") is None


def test_add_user_errors_keep_the_input(app, admin):
    browser, token = admin
    response = browser.post("/users", data={"username": "admin", "password": "long enough 1", "role": "admin",
                                            "csrf_token": token})
    assert response.status_code == 409
    html = response.get_data(as_text=True)
    assert '<p class="form-error" role="alert" id="create-user-error">The user name admin is taken.</p>' in html
    field = re.search(r'<input id="new-username"[^>]*>', html).group(0)
    assert 'value="admin"' in field and 'aria-invalid="true"' in field and "create-user-error" in field
    assert '<option value="admin" selected>' in html
    assert "long enough 1" not in html  # a password is never sent back

    response = browser.post("/users", data={"username": "carol", "password": "short", "csrf_token": token})
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "A password is 8 to 256 characters long." in html
    assert 'aria-invalid="true"' in re.search(r'<input id="new-password"[^>]*>', html).group(0)
    assert 'value="carol"' in html
    assert user_id(app, "carol") is None


def test_the_last_admin_stays(app, admin):
    browser, token = admin
    me = user_id(app, "admin")
    response = browser.post(f"/users/{me}/role", data={"role": "viewer", "csrf_token": token})
    assert response.status_code == 400
    assert "admin is the last admin" in response.get_data(as_text=True)
    assert 'role="alert" id="users-error"' in response.get_data(as_text=True)
    response = browser.post(f"/users/{me}/delete", data={"csrf_token": token})
    assert response.status_code == 400
    assert role_of(app, "admin") == "admin"


def test_unknown_user_is_reported_on_the_page(admin):
    browser, token = admin
    response = browser.post("/users/999/password", data={"password": "long enough 1", "csrf_token": token})
    assert response.status_code == 404
    assert "There is no user with id 999." in response.get_data(as_text=True)


def test_own_changes_on_the_users_page_keep_the_admin_signed_in(app, admin):
    browser, token = admin
    add_user(app, "other-admin", "other password 1", "admin")
    me = user_id(app, "admin")
    response = browser.post(f"/users/{me}/password", data={"password": "my new password", "csrf_token": token})
    assert response.status_code == 302
    assert browser.get("/users").status_code == 200  # still signed in, with the new session version
    response = browser.post(f"/users/{me}/role", data={"role": "viewer", "csrf_token": token})
    assert response.status_code == 302 and response.headers["Location"] == "/"  # no longer allowed on /users
    html = browser.get("/models").get_data(as_text=True)
    assert ">Viewer</span>" in header_of(html)


# --- CSRF ---------------------------------------------------------------------------------------------

def test_forms_without_the_csrf_token_are_refused_and_change_nothing(app, admin):
    browser, token = admin
    vera = add_user(app, *VIEWER)
    posts = [
        ("/users", {"username": "mallory", "password": "long enough 1", "role": "admin"}),
        (f"/users/{vera}/role", {"role": "admin"}),
        (f"/users/{vera}/password", {"password": "mallory's password"}),
        (f"/users/{vera}/delete", {}),
        ("/api-keys", {"name": "stolen", "scopes": "admin"}),
        ("/account/password", {"current_password": ADMIN_PASSWORD, "new_password": "owned owned",
                               "confirm_password": "owned owned"}),
        ("/logout", {}),
    ]
    for path, form in posts:
        for bad in ({}, {"csrf_token": "not-the-token"}):
            response = browser.post(path, data={**form, **bad})
            assert response.status_code == 400, path
            assert "Form refused" in response.get_data(as_text=True), path
    assert user_id(app, "mallory") is None
    assert role_of(app, "vera") == "viewer"
    assert can_sign_in(app, *VIEWER)
    assert can_sign_in(app, ADMIN_USERNAME, ADMIN_PASSWORD)
    assert "stolen" not in browser.get("/api-keys").get_data(as_text=True)
    assert browser.get("/users").status_code == 200  # /logout was refused too: still signed in
    assert browser.post("/users", data={"username": "fine", "password": "long enough 1",
                                        "csrf_token": token}).status_code == 302


def test_login_form_needs_its_csrf_token(anonymous_client):
    response = anonymous_client.post("/login", data={"username": ADMIN_USERNAME, "password": ADMIN_PASSWORD})
    assert response.status_code == 400
    assert anonymous_client.get("/models").status_code == 302  # not signed in


def test_header_authenticated_requests_need_no_csrf_token(app, client):
    response = client.post("/users", data={"username": "scripted", "password": "long enough 1"})
    assert response.status_code == 302
    assert user_id(app, "scripted") is not None


# --- API keys page --------------------------------------------------------------------------------

def new_key_of(html: str) -> str:
    match = re.search(r'<input id="new-key-value" type="text" class="mono" readonly value="(llmr_[^"]+)"', html)
    assert match, "no new key on the page"
    return match.group(1)


def test_a_new_api_key_is_shown_once_and_works(app, admin, anonymous_client):
    browser, token = admin
    response = browser.post("/api-keys", data={"name": "chat app", "scopes": ["api"], "expires_in_days": "30",
                                               "csrf_token": token})
    assert response.status_code == 201
    assert response.headers["Cache-Control"] == "no-store"
    html = response.get_data(as_text=True)
    key = new_key_of(html)
    assert "will not be shown again" in html
    assert 'id="copy-key"' in html
    assert key not in browser.get("/api-keys").get_data(as_text=True)
    with browser.session_transaction() as session:
        assert key not in repr(dict(session))

    listing = browser.get("/api-keys").get_data(as_text=True)
    row = re.search(r'<tr data-key-id="(\d+)" data-state="active">(.*?)</tr>', listing, re.S)
    assert row and "chat app" in row.group(2) and key[:12] in row.group(2)
    assert "by admin" in text(row.group(2)) and "Not yet" in text(row.group(2))

    bearer = {"Authorization": f"Bearer {key}"}
    assert anonymous_client.get("/v1/models", headers=bearer).status_code == 200
    assert "Not yet" not in text(re.search(r'<tr data-key-id="\d+" data-state="active">(.*?)</tr>',
                                           browser.get("/api-keys").get_data(as_text=True), re.S).group(1))

    response = browser.post(f"/api-keys/{row.group(1)}/revoke", data={"csrf_token": token}, follow_redirects=True)
    page = response.get_data(as_text=True)
    assert "Revoked the API key chat app" in text(page)
    assert f'<tr data-key-id="{row.group(1)}" data-state="revoked">' in page
    assert anonymous_client.get("/v1/models", headers=bearer).status_code == 401


def test_api_key_scopes_are_those_checked(app, admin, anonymous_client):
    browser, token = admin
    html = browser.post("/api-keys", data={"name": "node only", "scopes": ["node"], "csrf_token": token}) \
        .get_data(as_text=True)
    key = new_key_of(html)
    assert anonymous_client.get("/v1/models", headers={"Authorization": f"Bearer {key}"}).status_code == 403
    assert "Never" in text(html)  # no expiry


@pytest.mark.parametrize("form, message, field", [
    ({"name": "x"}, "Scopes must be a non-empty list of: api, node, admin.", None),
    ({"name": "", "scopes": ["api"]}, "Give the key a name of 1 to 100 characters.", "key-name"),
    ({"name": "x", "scopes": ["api"], "expires_in_days": "0"}, "expires_in_days must be a whole number", "key-expiry"),
    ({"name": "x", "scopes": ["api"], "expires_in_days": "soon"}, "expires_in_days must be a whole number",
     "key-expiry"),
])
def test_api_key_form_errors_keep_the_input(admin, form, message, field):
    browser, token = admin
    response = browser.post("/api-keys", data={**form, "csrf_token": token})
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert re.search(r'<p class="form-error" role="alert" id="create-key-error">([^<]*)</p>', html).group(1) \
        .startswith(message)
    assert 'id="new-key-value"' not in html
    assert f'value="{form["name"]}"' in re.search(r'<input id="key-name"[^>]*>', html).group(0)
    if field:
        assert 'aria-invalid="true"' in re.search(rf'<input id="{field}"[^>]*>', html).group(0)
    else:
        assert '<fieldset class="field fieldset" aria-invalid="true"' in html
    assert ('checked' in re.search(r'<input type="checkbox" id="scope-api"[^>]*>', html).group(0)) == \
        ("api" in form.get("scopes", []))


def test_revoking_an_unknown_key_is_reported(admin):
    browser, token = admin
    response = browser.post("/api-keys/999/revoke", data={"csrf_token": token})
    assert response.status_code == 404
    assert 'role="alert" id="keys-error">There is no API key with id 999.' in response.get_data(as_text=True)


# --- Account page ---------------------------------------------------------------------------------

def test_account_page_shows_the_user(viewer):
    browser, _token = viewer
    html = browser.get("/account").get_data(as_text=True)
    assert '<dd id="account-username">vera</dd>' in html
    assert ">Viewer</span>" in main_of(html)
    assert 'autocomplete="current-password"' in html and 'autocomplete="new-password"' in html


def test_changing_the_own_password(app, viewer):
    browser, token = viewer
    other_browser = app.test_client()
    login_session(other_browser, *VIEWER)

    response = browser.post("/account/password", data={"current_password": VIEWER[1], "new_password": "vera new pass",
                                                        "confirm_password": "vera new pass", "csrf_token": token})
    assert response.status_code == 302 and response.headers["Location"] == "/account"
    html = browser.get("/account").get_data(as_text=True)  # still signed in here
    assert "Your password was changed." in html
    assert '<dd id="account-username">vera</dd>' in html
    assert other_browser.get("/account").status_code == 302  # the other session ended
    assert not can_sign_in(app, *VIEWER)
    assert can_sign_in(app, "vera", "vera new pass")


@pytest.mark.parametrize("form, status, message, field", [
    ({"current_password": VIEWER[1], "new_password": "one new password", "confirm_password": "another"}, 400,
     "The two new passwords are not the same.", "confirm-password"),
    ({"current_password": "wrong", "new_password": "vera new pass", "confirm_password": "vera new pass"}, 400,
     "The current password is not correct.", "current-password"),
    ({"current_password": VIEWER[1], "new_password": "short", "confirm_password": "short"}, 400,
     "A password is 8 to 256 characters long.", "new-password"),
])
def test_own_password_errors(app, viewer, form, status, message, field):
    browser, token = viewer
    response = browser.post("/account/password", data={**form, "csrf_token": token})
    assert response.status_code == status
    html = response.get_data(as_text=True)
    assert f'<p class="form-error" role="alert" id="password-error">{message}</p>' in html
    assert 'aria-invalid="true"' in re.search(rf'<input id="{field}"[^>]*>', html).group(0)
    assert can_sign_in(app, *VIEWER)


# --- Authentication disabled ----------------------------------------------------------------------

BANNER = "Authentication is disabled (LLM_ROUTER_AUTH_DISABLED): anyone who can reach this router can change it."


def test_banner_when_authentication_is_disabled(tmp_path, hub):
    open_app = create_app(router_config(tmp_path, hub.url, AUTH_DISABLED=True))
    try:
        browser = open_app.test_client()
        for path in ("/models", "/users", "/api-keys", "/account", "/login"):
            html = browser.get(path).get_data(as_text=True)
            assert '<div class="security-banner" role="alert" id="auth-disabled-banner">' in html, path
            assert BANNER in text(html), path
        browser.set_cookie("lang", "ja")
        assert "認証が無効" in browser.get("/models").get_data(as_text=True)
    finally:
        open_app.extensions["hub_stats"].close()


def test_no_banner_normally(admin, anonymous_client):
    browser, _token = admin
    assert "auth-disabled-banner" not in browser.get("/models").get_data(as_text=True)
    assert "auth-disabled-banner" not in anonymous_client.get("/login").get_data(as_text=True)
