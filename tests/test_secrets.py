"""Passwords and API keys never show up again after creation: not in logs, pages or API answers."""

from __future__ import annotations

import re

import requests

from tests.support.router_process import ADMIN_PASSWORD, start_router

PASSWORD = "Sup3r-Secret-Passw0rd!"


def signed_in_session(url: str, username: str, password: str) -> requests.Session:
    session = requests.Session()
    token = re.search(r'name="csrf_token" value="([^"]+)"', session.get(f"{url}/login", timeout=10).text).group(1)
    response = session.post(f"{url}/login", data={"username": username, "password": password, "csrf_token": token},
                            timeout=10, allow_redirects=False)
    assert response.status_code == 302
    return session


def test_secrets_never_reappear(tmp_path, hub):
    router = start_router(tmp_path, hub.url, {"LLM_ROUTER_LOG_LEVEL": "DEBUG", "LLM_ROUTER_ACCESS_LOG": "-"})
    try:
        url, admin = router.url, router.auth_headers
        created = requests.post(f"{url}/v0/users", headers=admin, timeout=10,
                                json={"username": "alice", "password": PASSWORD, "role": "admin"})
        assert created.status_code == 201 and PASSWORD not in created.text
        new_key = requests.post(f"{url}/v0/api-keys", headers=admin, timeout=10,
                                json={"name": "ci", "scopes": ["api", "admin"]}).json()
        key = new_key["key"]  # the one answer allowed to contain it

        answers: list[str] = []
        def keep(response: requests.Response) -> requests.Response:
            answers.append(response.text)
            answers.append(str(dict(response.headers)))
            return response

        # Use both secrets the ways clients do, rightly and wrongly.
        token = keep(requests.post(f"{url}/v0/auth/login", json={"username": "alice", "password": PASSWORD},
                                   timeout=10)).json()["token"]
        keep(requests.post(f"{url}/v0/auth/login", json={"username": "alice", "password": PASSWORD + "x"}, timeout=10))
        keep(requests.post(f"{url}/v0/auth/login", json={"username": PASSWORD, "password": PASSWORD}, timeout=10))
        for headers in ({"Authorization": f"Bearer {key}"}, {"X-API-Key": key}, {"Authorization": f"Bearer {key}x"}):
            keep(requests.get(f"{url}/v1/models", headers=headers, timeout=10))
            keep(requests.get(f"{url}/v0/models", headers=headers, timeout=10))
        jwt = {"Authorization": f"Bearer {token}"}
        for path in ("/v0/users", "/v0/api-keys", "/v0/auth/me"):
            keep(requests.get(f"{url}{path}", headers=jwt, timeout=10))
        keep(requests.post(f"{url}/v0/auth/password", headers=jwt, timeout=10,
                           json={"current_password": PASSWORD + "?", "new_password": PASSWORD}))
        pages = signed_in_session(url, "alice", PASSWORD)
        for path in ("/models", "/models/local", "/users", "/api-keys", "/account"):
            assert keep(pages.get(f"{url}{path}", timeout=10)).status_code == 200
        wrong_form = requests.Session()
        keep(wrong_form.post(f"{url}/login", data={"username": "alice", "password": PASSWORD + "x"}, timeout=10))
    finally:
        router.stop()

    log = router.log_path.read_text(errors="replace")
    assert "alice" in log  # the log does record what happened...
    for secret in (PASSWORD, key, key[12:], ADMIN_PASSWORD):
        assert secret not in log, "a secret is in the router log"
        for answer in answers:
            assert secret not in answer, "a secret is in an answer"
