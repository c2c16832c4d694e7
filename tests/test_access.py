"""Every route x every kind of caller: the expected status, and no state change without rights.

A route missing from ROUTES fails `test_every_route_is_in_the_table`: routes added later join here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.extensions import db
from app.database import ApiKey, Node, RegisteredModel, RevokedToken, Setting, User, utcnow
from app.services.accounts import api_keys
from app.services.fleet import nodes
from app.services.accounts import users
from tests.support.factories import login_session, make_api_key
from tests.support.router_process import ADMIN_PASSWORD, ADMIN_USERNAME

PRINCIPALS = ("anonymous", "viewer_session", "admin_session", "viewer_jwt", "admin_jwt", "api_key", "node_key",
              "admin_key", "expired_key", "revoked_key")
VIEWER = ("viewer", "viewer password")
LOGIN_PAGE = "login"  # expected "status" of a page asked for without signing in: a redirect to /login

# Expected status per access level when the caller is refused; None means "allowed".
_API_REFUSALS = {
    "public": {},
    "user": {"anonymous": 401, "api_key": 403, "node_key": 403, "admin_key": 403, "expired_key": 401,
             "revoked_key": 401},
    "view": {"anonymous": 401, "api_key": 403, "node_key": 403, "expired_key": 401, "revoked_key": 401},
    "admin": {"anonymous": 401, "viewer_session": 403, "viewer_jwt": 403, "api_key": 403, "node_key": 403,
              "expired_key": 401, "revoked_key": 401},
    "node": {"anonymous": 401, "viewer_session": 403, "admin_session": 403, "viewer_jwt": 403, "admin_jwt": 403,
             "api_key": 403, "expired_key": 401, "revoked_key": 401},
    "inference": {"anonymous": 401, "node_key": 403, "expired_key": 401, "revoked_key": 401},
    "metrics": {"anonymous": 401, "node_key": 403, "expired_key": 401, "revoked_key": 401},
}


@dataclass(frozen=True)
class Route:
    method: str
    rule: str            # as in app.url_map, to prove the table is complete
    path: str            # {model}, {user}, {key} are filled in per test
    level: str
    allowed: int         # status when the caller may
    json: dict | None = None
    form: dict | None = None
    setup: tuple[str, ...] = ()  # "model": a registered model; "node": a registered node
    overrides: dict = field(default_factory=dict)  # principal -> status, where the rule above does not fit
    headers: dict = field(default_factory=dict)  # {node_token} is filled in per test

    @property
    def page(self) -> bool:
        return not self.path.startswith(("/v0/", "/v1/"))

    def expected(self, principal: str) -> int | str:
        if principal in self.overrides:
            return self.overrides[principal]
        refused = _API_REFUSALS[self.level].get(principal)
        if refused == 401 and self.page and principal == "anonymous":
            return LOGIN_PAGE
        return self.allowed if refused is None else refused


MODEL = "qwen3-0.6b"
NODE_BODY = {"name": "node-1", "url": "http://127.0.0.1:9", "platform": "linux-cpu", "engines": ["llama_cpp"],
             "cpu_count": 2, "memory_bytes": 8 * 1024 ** 3, "gpus": [], "version": "0.1.0"}
ROUTES = [
    # /v0 models
    Route("GET", "/v0/models/hub", "/v0/models/hub", "view", 200),
    Route("POST", "/v0/models/register", "/v0/models/register", "admin", 201, json={"id": MODEL}),
    Route("GET", "/v0/models", "/v0/models", "view", 200),
    Route("GET", "/v0/models/<path:model_id>", f"/v0/models/{MODEL}", "view", 200, setup=("model",)),
    Route("DELETE", "/v0/models/<path:model_id>", f"/v0/models/{MODEL}", "admin", 204, setup=("model",)),
    Route("POST", "/v0/models/<path:model_id>", f"/v0/models/{MODEL}", "admin", 405, setup=("model",)),
    Route("PUT", "/v0/models/<path:model_id>", f"/v0/models/{MODEL}", "admin", 405, setup=("model",)),
    Route("PATCH", "/v0/models/<path:model_id>", f"/v0/models/{MODEL}", "admin", 405, setup=("model",)),
    Route("POST", "/v0/models/<path:model_id>/cancel", f"/v0/models/{MODEL}/cancel", "admin", 200, setup=("model",)),
    Route("POST", "/v0/models/<path:model_id>/retry", f"/v0/models/{MODEL}/retry", "admin", 200, setup=("model",)),
    # /v0 nodes
    Route("POST", "/v0/nodes", "/v0/nodes", "node", 201, json=NODE_BODY),
    Route("GET", "/v0/nodes", "/v0/nodes", "view", 200),
    Route("GET", "/v0/nodes/<node_id>", "/v0/nodes/{node}", "view", 200, setup=("node",)),
    Route("GET", "/v0/nodes/<node_id>/history", "/v0/nodes/{node}/history?window=6h", "view", 200, setup=("node",)),
    Route("DELETE", "/v0/nodes/<node_id>", "/v0/nodes/{node}", "admin", 204, setup=("node",)),
    Route("GET", "/v0/nodes/<node_id>/manifest", "/v0/nodes/{node}/manifest", "node", 200, setup=("node",),
          headers={"X-Node-Token": "{node_token}"}),
    # /v0 auth, users, keys
    Route("POST", "/v0/auth/login", "/v0/auth/login", "public", 200,
          json={"username": ADMIN_USERNAME, "password": ADMIN_PASSWORD}),
    Route("GET", "/v0/auth/me", "/v0/auth/me", "user", 200),
    Route("POST", "/v0/auth/logout", "/v0/auth/logout", "user", 204),
    Route("POST", "/v0/auth/password", "/v0/auth/password", "user", 400,
          json={"current_password": "not it", "new_password": "a new password"}),
    Route("GET", "/v0/users", "/v0/users", "admin", 200),
    Route("POST", "/v0/users", "/v0/users", "admin", 201,
          json={"username": "newcomer", "password": "newcomer password", "role": "admin"}),
    Route("PATCH", "/v0/users/<int:user_id>", "/v0/users/{user}", "admin", 200, json={"role": "admin"}),
    Route("DELETE", "/v0/users/<int:user_id>", "/v0/users/{user}", "admin", 204),
    Route("GET", "/v0/api-keys", "/v0/api-keys", "admin", 200),
    Route("POST", "/v0/api-keys", "/v0/api-keys", "admin", 201, json={"name": "k", "scopes": ["admin"]}),
    Route("DELETE", "/v0/api-keys/<int:key_id>", "/v0/api-keys/{key}", "admin", 204),
    Route("GET", "/v0/metrics", "/v0/metrics", "metrics", 200, setup=("node",)),
    Route("GET", "/v0/requests", "/v0/requests?status=error", "view", 200),
    Route("GET", "/v0/requests/<request_id>", "/v0/requests/0123456789abcdef0123456789abcdef", "view", 404),
    Route("GET", "/v0/alerts", "/v0/alerts?active=1", "view", 200),
    Route("GET", "/v0/overview", "/v0/overview?window=24h", "view", 200),
    Route("GET", "/v0/settings", "/v0/settings", "admin", 200),
    Route("PATCH", "/v0/settings", "/v0/settings", "admin", 200, json={"ui_poll_seconds": 5}),
    Route("GET", "/v0/costs", "/v0/costs?period=week&group_by=model", "view", 200),
    Route("POST", "/v0/logs/query", "/v0/logs/query", "view", 200, json={"source": "router", "level": "error"}),
    Route("GET", "/v0/log-filters", "/v0/log-filters", "view", 200),
    # Saved filters belong to users: a key without one saves none (it may still delete, as an admin).
    Route("POST", "/v0/log-filters", "/v0/log-filters", "view", 201, json={"name": "errors", "query": {}},
          overrides={"admin_key": 403}),
    Route("DELETE", "/v0/log-filters/<int:filter_id>", "/v0/log-filters/999999", "view", 404),
    # /v1
    Route("GET", "/v1/models", "/v1/models", "inference", 200),
    Route("GET", "/v1/models/<path:model_id>", f"/v1/models/{MODEL}", "inference", 404, setup=("model",)),
    # Registered but on no node: the caller got past access control to the model's availability.
    Route("POST", "/v1/chat/completions", "/v1/chat/completions", "inference", 503, setup=("model",),
          json={"model": MODEL, "messages": [{"role": "user", "content": "Hello"}]}),
    Route("POST", "/v1/completions", "/v1/completions", "inference", 503, setup=("model",),
          json={"model": MODEL, "prompt": "Hello"}),
    Route("POST", "/v1/embeddings", "/v1/embeddings", "inference", 503, setup=("model",),
          json={"model": MODEL, "input": "Hello"}),
    # pages
    Route("GET", "/", "/", "view", 200),  # the Overview
    Route("GET", "/models", "/models", "view", 200),
    Route("GET", "/models/_hub", "/models/_hub", "view", 200),
    Route("GET", "/models/local", "/models/local", "view", 200),
    # No provider has a key here: the caller got past access control to the tab's absence.
    Route("GET", "/models/cloud/<provider>", "/models/cloud/openai", "view", 404),
    Route("GET", "/models/_local", "/models/_local", "view", 200),
    Route("GET", "/nodes", "/nodes", "view", 200),
    Route("GET", "/nodes/_list", "/nodes/_list", "view", 200, setup=("node",)),
    Route("GET", "/nodes/<node_id>", "/nodes/{node}", "view", 200, setup=("node",)),
    Route("GET", "/nodes/<node_id>/_summary", "/nodes/{node}/_summary", "view", 200, setup=("node",)),
    Route("POST", "/nodes/<node_id>/remove", "/nodes/{node}/remove", "admin", 302, setup=("node",)),
    Route("GET", "/requests", "/requests?status=error", "view", 200),
    Route("GET", "/requests/<request_id>", "/requests/0123456789abcdef0123456789abcdef", "view", 404),
    Route("GET", "/costs", "/costs?period=month", "view", 200),
    Route("GET", "/costs/_live", "/costs/_live?period=week", "view", 200),
    Route("GET", "/logs", "/logs", "view", 200, setup=("node",)),
    Route("GET", "/lang/<code>", "/lang/ja?next=/models", "public", 302),
    Route("GET", "/login", "/login", "public", 200,
          overrides={"viewer_session": 302, "admin_session": 302, "viewer_jwt": 302, "admin_jwt": 302}),
    # A form post without the page's CSRF token is refused (sessions send theirs, as pages do).
    Route("POST", "/login", "/login", "public", 400, form={"username": ADMIN_USERNAME, "password": ADMIN_PASSWORD},
          overrides={"viewer_session": 302, "admin_session": 302}),
    Route("POST", "/logout", "/logout", "user", 302),
    Route("GET", "/users", "/users", "admin", 200),
    Route("POST", "/users", "/users", "admin", 302,
          form={"username": "newcomer", "password": "newcomer password", "role": "admin"}),
    Route("POST", "/users/<int:user_id>/role", "/users/{user}/role", "admin", 302, form={"role": "admin"}),
    Route("POST", "/users/<int:user_id>/password", "/users/{user}/password", "admin", 302,
          form={"password": "a new password"}),
    Route("POST", "/users/<int:user_id>/delete", "/users/{user}/delete", "admin", 302),
    Route("GET", "/api-keys", "/api-keys", "admin", 200),
    Route("GET", "/settings", "/settings", "admin", 200),
    Route("POST", "/api-keys", "/api-keys", "admin", 201, form={"name": "k", "scopes": "admin"}),
    Route("POST", "/api-keys/<int:key_id>/revoke", "/api-keys/{key}/revoke", "admin", 302),
    Route("GET", "/account", "/account", "user", 200),
    Route("GET", "/playground", "/playground", "user", 200),
    Route("POST", "/account/password", "/account/password", "user", 400,
          form={"current_password": "not it", "new_password": "a new password", "confirm_password": "a new password"}),
    Route("GET", "/static/<path:filename>", "/static/css/app.css", "public", 200),
]


def snapshot() -> tuple:
    """Everything a caller could change (not bookkeeping such as a key's last use)."""
    return (
        tuple(db.session.execute(select(RegisteredModel.id)).all()),
        tuple(db.session.execute(select(User.id, User.username, User.role, User.password_hash,
                                        User.session_version).order_by(User.id)).all()),
        tuple(db.session.execute(select(ApiKey.id, ApiKey.scopes, ApiKey.revoked_at).order_by(ApiKey.id)).all()),
        tuple(db.session.execute(select(RevokedToken.jti)).all()),
        tuple(db.session.execute(select(RegisteredModel.id, RegisteredModel.cancelled)).all()),
        tuple(db.session.execute(select(Node.id, Node.name, Node.token)).all()),
        tuple(db.session.execute(select(Setting.name, Setting.value)).all()),
    )


def caller(app, principal: str):
    """A test client acting as `principal`; returns (client, headers for state-changing requests)."""
    client = app.test_client()
    headers: dict[str, str] = {}
    if principal in ("viewer_session", "admin_session"):
        name, password = VIEWER if principal == "viewer_session" else (ADMIN_USERNAME, ADMIN_PASSWORD)
        headers["X-CSRFToken"] = login_session(client, name, password)
    elif principal in ("viewer_jwt", "admin_jwt"):
        name, password = VIEWER if principal == "viewer_jwt" else (ADMIN_USERNAME, ADMIN_PASSWORD)
        token = client.post("/v0/auth/login", json={"username": name, "password": password}).get_json()["token"]
        client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    elif principal != "anonymous":
        scope = {"api_key": "api", "node_key": "node", "admin_key": "admin"}.get(principal, "admin")
        expires_at = utcnow() - timedelta(minutes=1) if principal == "expired_key" else None
        key = make_api_key(app, [scope], principal, expires_at=expires_at)
        if principal == "revoked_key":
            with app.app_context():
                api_keys.revoke_key(api_keys.find_key(key).id)
        client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {key}"
    return client, headers


@pytest.mark.parametrize("principal", PRINCIPALS)
@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{r.method} {r.path}")
def test_access(app, route: Route, principal: str):
    with app.app_context():
        users.create_user(*VIEWER, "viewer")
        target_user = users.create_user("target", "target password", "viewer").id
        target_key = api_keys.create_key("target", ["api"], None, "tests")[0].id
        if "model" in route.setup:
            db.session.add(RegisteredModel(id=MODEL, source="supported", name="Qwen3", repo="a/b", filename="f.gguf",
                                           format="gguf", engine="llama_cpp", size_bytes=1, required_memory_bytes=1,
                                           files=[{"name": "f.gguf", "size": 1, "sha256": None}]))
            db.session.commit()
        node = nodes.register_node(NODE_BODY)[0] if "node" in route.setup else None
        node_id, node_token = (node.id, node.token) if node else (None, None)
    client, headers = caller(app, principal)
    with app.app_context():
        before = snapshot()
    path = route.path.format(user=target_user, key=target_key, node=node_id)
    headers = {**headers, **{name: value.format(node_token=node_token) for name, value in route.headers.items()}}
    response = client.open(path, method=route.method, json=route.json, data=route.form, headers=headers)
    expected = route.expected(principal)
    if expected == LOGIN_PAGE:
        assert response.status_code == 302 and response.headers["Location"].startswith("/login"), response.status
    else:
        assert response.status_code == expected, response.get_data(as_text=True)[:300]
    if response.status_code in (401, 403) and route.path.startswith(("/v0/", "/v1/")):
        assert set(response.get_json()["error"]) == {"message", "type", "param", "code"}
    # Pages answer a successful form with a redirect; anything else at or above 300 changed nothing.
    refused = response.status_code >= 300 and not (route.page and response.status_code == route.allowed)
    if refused or route.method == "GET":
        with app.app_context():
            assert snapshot() == before, "refused or read-only request changed state"


def test_every_route_is_in_the_table(app):
    covered = {(route.method, route.rule) for route in ROUTES}
    for rule in app.url_map.iter_rules():
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert (method, rule.rule) in covered, f"{method} {rule.rule} is missing from tests/test_access.py"
