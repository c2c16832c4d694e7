"""Configuration from the environment, and the secrets generated into instance/."""

from __future__ import annotations

import os
import stat

import pytest

from app.config import load_config


def test_defaults_and_overrides():
    config = load_config({})
    assert (config["HF_ENDPOINT"], config["SCHEDULER_ENABLED"], config["AUTH_DISABLED"]) == \
        ("https://huggingface.co", True, False)
    config = load_config({"LLM_ROUTER_SCHEDULER": "0", "LLM_ROUTER_HF_STATS_TTL": "60",
                          "HF_ENDPOINT": "http://mirror.local"})
    assert (config["SCHEDULER_ENABLED"], config["HF_STATS_TTL_SECONDS"], config["HF_ENDPOINT"]) == \
        (False, 60, "http://mirror.local")


def test_a_malformed_number_names_the_variable():
    with pytest.raises(ValueError, match="LLM_ROUTER_JWT_TTL='soon'"):
        load_config({"LLM_ROUTER_JWT_TTL": "soon"})


def test_a_malformed_deny_network_stops_the_start_naming_it():
    with pytest.raises(ValueError, match="LLM_ROUTER_NODE_DENY_NETWORKS=.*'banana' is not a network"):
        load_config({"LLM_ROUTER_NODE_DENY_NETWORKS": "169.254.0.0/16, banana"})
    assert load_config({"LLM_ROUTER_NODE_DENY_NETWORKS": "10.0.0.0/8"})["NODE_DENY_NETWORKS"] == "10.0.0.0/8"


def test_generated_secrets_are_private_and_stable(app):
    instance = app.instance_path
    for name in ("secret_key", "jwt_secret"):
        path = f"{instance}/{name}"
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert app.config["SECRET_KEY"] == open(f"{instance}/secret_key").read().strip()
    assert app.config["JWT_SECRET"] == open(f"{instance}/jwt_secret").read().strip()
    assert app.config["SESSION_COOKIE_HTTPONLY"] and app.config["REMEMBER_COOKIE_HTTPONLY"]
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"
