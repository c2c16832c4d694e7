"""Factories shared by tests: the imitation Hub's repos, a router's test configuration, API keys,
signed-in browsers, node registrations and statuses, and reading pages."""

from __future__ import annotations

import re
from pathlib import Path

from tests.support.hub_imitation import HubFile, HubRepo, ct2_repo_files, gguf_bytes
from tests.support.router_process import ADMIN_PASSWORD, ADMIN_USERNAME, FAST_PASSWORD_HASH
from tests.support.status_node import GiB, node_body

# Repos of the imitation Hub used across tests.
GGUF_REPO = "acme/Tiny-Chat-GGUF"
CT2_REPO = "acme/tiny-chat-ct2"
SAFETENSORS_REPO = "acme/tiny-safetensors"
CATALOG_REPO = "Qwen/Qwen2.5-0.5B-Instruct-GGUF"  # first entry of supported_models.json
CATALOG_FILE = "qwen2.5-0.5b-instruct-q4_k_m.gguf"


def default_repos() -> list[HubRepo]:
    return [
        HubRepo(GGUF_REPO, [
            HubFile("README.md", b"# Tiny chat\n"),
            HubFile("tiny-chat.Q8_0.gguf", gguf_bytes("q8", 9000)),
            HubFile("tiny-chat.Q4_K_M.gguf", gguf_bytes("q4km", 5000)),
            HubFile("tiny-chat.Q2_K.gguf", gguf_bytes("q2k", 3000)),
        ], downloads=1234, likes=56, tags=["gguf"]),
        HubRepo(CT2_REPO, ct2_repo_files("ct2"), downloads=10, likes=2),
        HubRepo(SAFETENSORS_REPO, [
            HubFile("config.json", b"{}"),
            HubFile("model.safetensors", b"\0" * 2048),
            HubFile("tokenizer.json", b"{}"),
        ]),
        HubRepo(CATALOG_REPO, [HubFile(CATALOG_FILE, gguf_bytes("qwen", 4096))], downloads=98765, likes=4321),
    ]


TINY_CHAT_REPO = "acme/tiny-llama-ct2"


def router_config(tmp_path: Path, hub_url: str, **overrides) -> dict:
    return {
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "HF_ENDPOINT": hub_url,
        "HF_STATS_TIMEOUT_SECONDS": 1.0,
        "HF_REQUEST_TIMEOUT_SECONDS": 2.0,
        "SCHEDULER_ENABLED": False,
        "TESTING": True,
        "ADMIN_USERNAME": ADMIN_USERNAME,
        "ADMIN_PASSWORD": ADMIN_PASSWORD,
        "PASSWORD_HASH_METHOD": FAST_PASSWORD_HASH,
        # no provider unless a test configures one: a developer's own keys never reach a test app
        "OPENAI_API_KEY": None, "ANTHROPIC_API_KEY": None, "GEMINI_API_KEY": None,
        **overrides,
    }


def make_api_key(app, scopes: list[str], name: str = "test key", **kwargs) -> str:
    """A key created through the service (as an admin would), returned in plaintext."""
    from app.services.accounts import api_keys

    with app.app_context():
        return api_keys.create_key(name, scopes, kwargs.get("expires_at"), "tests")[1]


def csrf_token_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html) or \
        re.search(r'<meta name="csrf-token" content="([^"]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)


def login_session(test_client, username: str = ADMIN_USERNAME, password: str = ADMIN_PASSWORD) -> str:
    """Signs a test client in through the login form; returns the CSRF token of a page after sign-in
    for later posts (login replaces the token: the login page's one no longer works)."""
    token = csrf_token_of(test_client.get("/login").get_data(as_text=True))
    response = test_client.post("/login", data={"username": username, "password": password, "csrf_token": token})
    assert response.status_code == 302, response.get_data(as_text=True)
    return csrf_token_of(test_client.get("/account").get_data(as_text=True))



# A GPU node's registration and a status report with one model in each state (the Nodes pages, metrics).
NODE = node_body(platform="linux-cuda", cpu_count=16, memory_bytes=64 * GiB,
                 gpus=[{"name": "NVIDIA L4", "memory_bytes": 24 * GiB}])
STATUS = {"version": "0.1.1", "active_requests": 2,
          "models": [{"id": "a", "state": "ready"}, {"id": "b", "state": "ready"},
                     {"id": "c", "state": "downloading", "downloaded_bytes": 1, "total_bytes": 4},
                     {"id": "d", "state": "error", "error": "disk full"}],
          "metrics": {"cpu_percent": 12.5, "memory_used_bytes": 16 * GiB, "memory_total_bytes": 64 * GiB,
                      "gpus": [{"name": "NVIDIA L4", "utilization_percent": 87.0, "memory_used_bytes": 6 * GiB,
                                "memory_total_bytes": 24 * GiB}]}}


def add_rollup(start, resolution: int = 60, **sums: int) -> None:
    """A rollup row (per minute by default) as the history writer leaves it, with the given sums
    (`requests`, `errors`, `refused`, ...). Call inside an app context."""
    from app.database import RequestRollup
    from app.extensions import db

    db.session.merge(RequestRollup(resolution=resolution, start=start, **{"requests": 0, "errors": 0,
                                                                         "client_errors": 0, "refused": 0, **sums}))
    db.session.commit()


def add_request_record(request_body: str = "", response_body: str = "", truncated: bool = False, **fields) -> str:
    """A request history row with its bodies, as the history writer leaves it, for what a real request
    cannot easily produce (failover, an old time, many rows); returns its id. Call inside an app context."""
    import secrets

    from app.database import RequestBody, RequestRecord, utcnow
    from app.extensions import db

    record = {"id": secrets.token_hex(16), "at": utcnow(), "endpoint": "/v1/chat/completions", "status": 200,
              "failed_nodes": [], "duration_ms": 12.0, "queue_ms": 0.0, **fields}
    db.session.add(RequestRecord(**record))
    db.session.flush()  # the record first: the bodies' row refers to it
    db.session.add(RequestBody(id=record["id"], request_body=request_body, response_body=response_body,
                               truncated=truncated))
    db.session.commit()
    return record["id"]


def add_cloud_request(at, model: str, cost: str | None, api_key: tuple[int, str] | None = None, **fields) -> str:
    """A cloud request (`model` is "provider:model", answered by that provider) as the history writer
    records it, at `at`: `cost` in USD as a decimal string, or None for an unpriced one. Call inside an
    app context."""
    from decimal import Decimal

    key_id, key_name = api_key if api_key else (None, None)
    return add_request_record(at=at, model=model, node=model.partition(":")[0], api_key_id=key_id,
                              api_key_name=key_name, cost_usd=Decimal(cost) if cost is not None else None,
                              unpriced=cost is None, **fields)


def get(client, path: str, lang: str | None = None, **kwargs) -> str:
    if lang:
        client.set_cookie("lang", lang)
    return client.get(path, **kwargs).get_data(as_text=True)


def text(html: str) -> str:
    """Visible-ish text: tags dropped, whitespace collapsed."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()
