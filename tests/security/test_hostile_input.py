"""Audit findings 2, 12, 13 and 17 (docs/security.md): bodies, JSON, ids, log lines and file modes.

Each test sends the audit's request to the router: in process where the answer is the subject,
to a real gunicorn router where the process is (its memory, its log, the files it creates).
"""

from __future__ import annotations

import os
import socket
import stat

import pytest
import requests

from tests.support.factories import router_config
from tests.support.router_process import ADMIN_PASSWORD, start_router

MiB = 1024 * 1024
HUGE_ID = "99999999999999999999"


def assert_error(response, status: int, code: str | None = None) -> dict:
    """The OpenAI envelope with a message a person can read."""
    assert response.status_code == status, response.get_data(as_text=True)
    error = response.get_json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["message"]
    if code is not None:
        assert error["code"] == code
    return error


def post_raw(client, path: str, body: bytes):
    return client.post(path, data=body, content_type="application/json")


# --- 2: a body limit on every route, before parsing ----------------------------------------------

def test_2_a_48_mib_login_body_is_refused_before_it_is_read(live_router):
    """The audit's request: 48 MiB of JSON to POST /v0/auth/login, anonymous. Only the head is sent:
    the router must answer 413 from Content-Length alone, without waiting for (or reading) the body."""
    host, port = live_router.url.removeprefix("http://").split(":")
    head = (f"POST /v0/auth/login HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {48 * MiB}\r\nConnection: close\r\n\r\n").encode()
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(head)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line.split()[1] == b"413", answer[:500]
    assert b'"code":"request_too_large"' in rest.replace(b" ", b"")


def test_2_every_route_has_the_limit_and_v1_keeps_its_own(app, client, anonymous_client):
    too_big = b'{"username": "' + b"a" * MiB + b'", "password": "x"}'
    error = assert_error(post_raw(anonymous_client, "/v0/auth/login", too_big), 413, "request_too_large")
    assert f"{MiB:,}" in error["message"]  # says the limit
    assert anonymous_client.post("/login", data={"username": "a" * (2 * MiB), "password": "x"}).status_code == 413
    assert_error(post_raw(client, "/v0/models/register", too_big), 413, "request_too_large")
    # /v1 takes prompts up to INFERENCE_MAX_BODY_BYTES (8 MiB): a 2 MiB body is read and judged on its
    # content (unknown model), not refused for its size.
    prompt = b'{"model": "no-such-model", "messages": [{"role": "user", "content": "' + b"a" * (2 * MiB) + b'"}]}'
    assert_error(post_raw(client, "/v1/chat/completions", prompt), 404, "model_not_found")


# --- 12: bodies and ids that used to raise 500 -------------------------------------------------------

def test_12_deeply_nested_json_is_a_400_on_every_api(client, anonymous_client):
    nested = b"[" * 50_000 + b"]" * 50_000
    assert_error(post_raw(anonymous_client, "/v0/auth/login", nested), 400, "invalid_json")
    for path in ("/v0/users", "/v0/api-keys", "/v0/models/register", "/v0/nodes"):
        assert_error(post_raw(client, path, nested), 400, "invalid_json")
    inside = b'{"username": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"
    assert_error(post_raw(anonymous_client, "/v0/auth/login", inside), 400, "invalid_json")


@pytest.mark.parametrize("path, body", [
    ("/v0/auth/login", b'{"username": "\\ud800", "password": "whatever1"}'),
    ("/v0/api-keys", b'{"name": "\\ud800", "scopes": ["api"]}'),
    ("/v0/users", b'{"username": "ok", "password": "long enough", "role": "viewer", "\\udfff": 1}'),
    ("/v0/models/register", b'{"repo": "acme/\\ud800"}'),
])
def test_12_a_lone_surrogate_is_a_400(client, path, body):
    error = assert_error(post_raw(client, path, body), 400, "invalid_json")
    assert "surrogate" in error["message"]


def test_12_ids_beyond_the_database_are_a_400(client):
    for method, path in (("DELETE", f"/v0/users/{HUGE_ID}"), ("PATCH", f"/v0/users/{HUGE_ID}"),
                         ("DELETE", f"/v0/api-keys/{HUGE_ID}")):
        response = client.open(path, method=method, json={"role": "viewer"})
        assert_error(response, 400)
    # The largest id the database holds is a plain "no such user".
    assert_error(client.delete(f"/v0/users/{2 ** 63 - 1}"), 404, "user_not_found")


# --- 13: what clients send cannot forge log lines -----------------------------------------------------

def test_13_a_newline_in_a_user_name_or_node_url_stays_on_its_line(tmp_path, hub):
    router = start_router(tmp_path, hub.url, {"LLM_ROUTER_LOGIN_LOCK_AFTER": "2", "LLM_ROUTER_SCHEDULER": "0"})
    forged = "2026-12-03 09:00:00,000 INFO app.access: FORGED admin signed in"
    try:
        for _attempt in range(3):  # locking the name writes it to the log
            requests.post(f"{router.url}/v0/auth/login", json={"username": f"x\n{forged}", "password": "wrong"},
                          timeout=10)
        key = requests.post(f"{router.url}/v0/api-keys", headers=router.auth_headers, timeout=10,
                            json={"name": "node", "scopes": ["node"]}).json()["key"]
        requests.post(f"{router.url}/v0/nodes", headers={"Authorization": f"Bearer {key}"}, timeout=10,
                      json={"name": "forger", "url": f"http://127.0.0.1:9/\n{forged}",
                            "platform": "linux-cpu", "engines": ["llama_cpp"]})
        created = requests.post(f"{router.url}/v0/users", headers=router.auth_headers, timeout=10,
                                json={"username": "plain-user", "password": ADMIN_PASSWORD, "role": "viewer"})
        assert created.status_code == 201
    finally:
        router.stop()
    log = router.log_path.read_text(errors="replace")
    assert "user plain-user created" in log  # the log is the router's, and it is written
    assert not any(line.lower().startswith(forged.lower()) for line in log.splitlines()), log
    assert ("\\n" + forged).lower() in log.lower()  # the attempt is on record, escaped on the line reporting it


# --- 17: the database and the Hub cache are private ---------------------------------------------------

def test_17_database_and_hub_cache_are_created_owner_only(tmp_path, hub):
    previous = os.umask(0o022)  # an ordinary shell's umask, as with scripts/run.sh
    try:
        router = start_router(tmp_path, hub.url)
    finally:
        os.umask(previous)
    try:
        assert requests.get(f"{router.url}/v0/models", headers=router.auth_headers, timeout=10).status_code == 200
    finally:
        router.stop()
    files = [router.instance_path / name for name in ("router.db", "router-search.db", "hf_cache.sqlite")]
    files += [path for path in router.instance_path.glob("router*.db-*")]
    for path in files:
        assert path.exists(), path
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, f"{path.name} is {oct(path.stat().st_mode)}"


def test_17_an_older_world_readable_database_is_made_private(tmp_path, hub):
    from app import create_app

    instance = tmp_path / "instance"
    instance.mkdir()
    for name in ("router.db", "router-search.db", "hf_cache.sqlite"):
        (instance / name).touch(mode=0o644)
        (instance / name).chmod(0o644)
    application = create_app(router_config(tmp_path, hub.url))
    application.extensions["hub_stats"].close()
    for name in ("router.db", "router-search.db", "hf_cache.sqlite"):
        assert stat.S_IMODE((instance / name).stat().st_mode) == 0o600
