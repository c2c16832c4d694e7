"""The first admin, the create-admin command, and the development opt-out."""

from __future__ import annotations

import logging
import re

from app import create_app
from tests.support.factories import router_config


def test_first_start_without_credentials_prints_a_generated_password_once(tmp_path, hub, capfd):
    config = router_config(tmp_path, hub.url, ADMIN_USERNAME=None, ADMIN_PASSWORD=None)
    app = create_app(config)
    printed = capfd.readouterr().err
    match = re.search(r"user name: (\S+)\s+password:\s+(\S+)", printed)
    assert match and match.group(1) == "admin"
    client = app.test_client()
    assert client.post("/v0/auth/login", json={"username": "admin", "password": match.group(2)}).status_code == 200
    create_app(config)  # a restart (or a second worker) finds the admin and prints nothing
    assert "password" not in capfd.readouterr().err


def test_admin_from_the_environment(tmp_path, hub, capfd):
    app = create_app(router_config(tmp_path, hub.url, ADMIN_USERNAME="ops", ADMIN_PASSWORD="ops password 1"))
    assert "password" not in capfd.readouterr().err
    response = app.test_client().post("/v0/auth/login", json={"username": "ops", "password": "ops password 1"})
    assert response.status_code == 200 and response.get_json()["user"]["role"] == "admin"


def test_create_admin_command_creates_and_recovers(app):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["create-admin", "--username", "second", "--password", "second password"])
    assert result.exit_code == 0 and "Created admin second" in result.output
    result = runner.invoke(args=["create-admin", "--username", "admin", "--password", "recovered password"])
    assert result.exit_code == 0
    client = app.test_client()
    assert client.post("/v0/auth/login", json={"username": "admin", "password": "recovered password"}).status_code == 200
    result = runner.invoke(args=["create-admin", "--username", "bad name!", "--password", "whatever password"])
    assert result.exit_code != 0 and "user name" in result.output


def test_auth_disabled_is_loud_and_open(tmp_path, hub, caplog):
    with caplog.at_level(logging.WARNING):
        app = create_app(router_config(tmp_path, hub.url, AUTH_DISABLED=True))
    assert "AUTHENTICATION IS DISABLED" in caplog.text
    client = app.test_client()
    assert client.post("/v0/models/register", json={"id": "qwen3-0.6b"}).status_code == 201
    assert client.get("/v1/models").status_code == 200
    assert client.get("/models").status_code == 200
    # Everyone is admin now, so another site's form post must still be refused (CSRF on forms).
    forged = client.post("/users", data={"username": "mallory", "password": "mallory password", "role": "admin"})
    assert forged.status_code == 400
    assert client.get("/v0/users").get_json()["users"][0]["username"] == "admin"
    assert len(client.get("/v0/users").get_json()["users"]) == 1


def test_create_api_key_command_writes_a_private_file(app, tmp_path):
    import os
    import stat

    target = tmp_path / "keys" / "node.key"
    result = app.test_cli_runner().invoke(args=["create-api-key", "--name", "local-node", "--scope", "node",
                                                "--output", str(target)])
    assert result.exit_code == 0, result.output
    key = target.read_text().strip()
    assert key.startswith("llmr_") and key not in result.output
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    client = app.test_client()
    assert client.get("/v0/nodes/x/manifest", headers={"X-API-Key": key}).status_code == 404  # node scope: allowed
    assert client.get("/v0/users", headers={"X-API-Key": key}).status_code == 403
