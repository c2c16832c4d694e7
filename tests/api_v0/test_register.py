"""`POST /v0/models/register`: metadata only, checked against the (imitation) Hub, one error shape."""

from __future__ import annotations

import concurrent.futures

import pytest
import requests

from app import create_app
from tests.support.factories import CATALOG_FILE, CATALOG_REPO, CT2_REPO, GGUF_REPO, SAFETENSORS_REPO, make_api_key, router_config
from tests.support.router_process import free_port


def assert_error(response, status: int, code: str, fragment: str, param: str | None = "__any__") -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    error = response.get_json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["code"] == code
    assert fragment in error["message"]
    if param != "__any__":
        assert error["param"] == param
    return error


def registered_ids(client) -> list[str]:
    return [model["id"] for model in client.get("/v0/models").get_json()["models"]]


def test_supported_model_by_id(client, hub):
    hub.clear_requests()
    response = client.post("/v0/models/register", json={"id": "qwen3-0.6b"})
    assert response.status_code == 201
    record = response.get_json()
    assert {key: record[key] for key in ("id", "name", "repo", "filename", "format", "engine", "size_bytes",
                                         "required_memory_bytes", "lifecycle_status", "warnings")} == {
        "id": "qwen3-0.6b", "name": "Qwen3 0.6B", "repo": "bartowski/Qwen_Qwen3-0.6B-GGUF",
        "filename": "Qwen_Qwen3-0.6B-Q4_K_M.gguf", "format": "gguf", "engine": "llama_cpp",
        "size_bytes": 484220320, "required_memory_bytes": 1073741824, "lifecycle_status": "registered",
        "warnings": []}
    assert hub.requests == []  # a catalog entry needs nothing from the Hub
    assert registered_ids(client) == ["qwen3-0.6b"]


def test_gguf_repo_picks_the_recommended_quantization(client, hub):
    hub.clear_requests()
    response = client.post("/v0/models/register", json={"repo": GGUF_REPO})
    assert response.status_code == 201, response.get_json()
    record = response.get_json()
    assert record["id"] == "acme/tiny-chat-gguf:q4_k_m"
    assert (record["filename"], record["format"], record["engine"]) == ("tiny-chat.Q4_K_M.gguf", "gguf", "llama_cpp")
    assert (record["size_bytes"], record["required_memory_bytes"]) == (5000, 7500)
    assert record["revision"] == hub_repo_sha(hub, GGUF_REPO)
    assert record["files"][0]["name"] == "tiny-chat.Q4_K_M.gguf" and len(record["files"][0]["sha256"]) == 64
    assert record["lifecycle_status"] == "registered" and record["source"] == "url"
    # Metadata only: the router asked for the file list, never for a file's bytes (FR-5).
    assert all("/resolve/" not in request.path for request in hub.requests)


def hub_repo_sha(hub, repo_id: str) -> str:
    return requests.get(f"{hub.url}/api/models/{repo_id}", timeout=5).json()["sha"]


@pytest.mark.parametrize("body, expected_id, expected_file", [
    ({"repo": GGUF_REPO, "filename": "tiny-chat.Q8_0.gguf"}, "acme/tiny-chat-gguf:q8_0", "tiny-chat.Q8_0.gguf"),
    ({"repo": f"https://huggingface.co/{GGUF_REPO}/resolve/main/tiny-chat.Q2_K.gguf"}, "acme/tiny-chat-gguf:q2_k",
     "tiny-chat.Q2_K.gguf"),
    ({"repo": f"https://huggingface.co/{GGUF_REPO}/blob/main/tiny-chat.Q8_0.gguf", "display_name": "Mine"},
     "acme/tiny-chat-gguf:q8_0", "tiny-chat.Q8_0.gguf"),
])
def test_file_named_by_field_or_url(client, body, expected_id, expected_file):
    response = client.post("/v0/models/register", json=body)
    assert response.status_code == 201, response.get_json()
    assert (response.get_json()["id"], response.get_json()["filename"]) == (expected_id, expected_file)
    if "display_name" in body:
        assert response.get_json()["name"] == "Mine"


def test_ctranslate2_repo(client):
    response = client.post("/v0/models/register", json={"repo": f"https://huggingface.co/{CT2_REPO}"})
    assert response.status_code == 201, response.get_json()
    record = response.get_json()
    assert (record["id"], record["format"], record["engine"], record["filename"]) == \
        (CT2_REPO, "ctranslate2", "ctranslate2", "model.bin")
    names = {item["name"] for item in record["files"]}
    assert {"model.bin", "config.json", "tokenizer.json"} <= names
    assert not names & {"README.md", ".gitattributes"}
    assert record["size_bytes"] == sum(item["size"] for item in record["files"])


def test_catalog_file_registered_by_url_becomes_the_supported_model(client):
    response = client.post("/v0/models/register", json={"repo": f"https://huggingface.co/{CATALOG_REPO}/resolve/main/{CATALOG_FILE}"})
    assert response.status_code == 201
    assert response.get_json()["id"] == "qwen2.5-0.5b-instruct"
    assert_error(client.post("/v0/models/register", json={"id": "qwen2.5-0.5b-instruct"}), 409,
                 "model_already_registered", "already registered")


def test_unsupported_repo_is_refused_with_what_was_found(client):
    error = assert_error(client.post("/v0/models/register", json={"repo": SAFETENSORS_REPO}), 422,
                         "unsupported_model_format", "model.safetensors", "repo")
    assert "Supported: a .gguf file" in error["message"]
    assert registered_ids(client) == []


@pytest.mark.parametrize("body, status, code, fragment", [
    ({"repo": "acme/does-not-exist"}, 404, "repo_not_found", "acme/does-not-exist was not found"),
    ({"repo": GGUF_REPO, "filename": "nope.gguf"}, 404, "file_not_found", "nope.gguf was not found"),
    ({"repo": f"https://huggingface.co/{GGUF_REPO}/resolve/v9/tiny-chat.Q8_0.gguf"}, 404, "revision_not_found", "v9"),
    ({"id": "no-such-model"}, 404, "model_not_found", "not a supported model"),
])
def test_unknown_repo_file_revision_or_id(client, body, status, code, fragment):
    assert_error(client.post("/v0/models/register", json=body), status, code, fragment)
    assert registered_ids(client) == []


@pytest.mark.parametrize("kwargs, code, fragment", [
    ({"data": "repo=acme/x", "content_type": "text/plain"}, "invalid_body", "JSON body"),
    ({"data": "{not json", "content_type": "application/json"}, "invalid_json", "not valid JSON"),
    ({"json": ["acme/x"]}, "invalid_body", "must be a JSON object"),
    ({"json": {}}, "missing_field", "either 'id'"),
    ({"json": {"id": "qwen3-0.6b", "repo": GGUF_REPO}}, "missing_field", "not both"),
    ({"json": {"id": 5}}, "invalid_type", "'id' must be a string"),
    ({"json": {"repo": ["a/b"]}}, "invalid_type", "'repo' must be a string"),
    ({"json": {"repo": GGUF_REPO, "filename": 3}}, "invalid_type", "'filename' must be a string"),
    ({"json": {"repo": "  "}}, "empty_field", "must not be empty"),
    ({"json": {"repo": "https://example.com/acme/x"}}, "invalid_repo", "another host"),
    ({"json": {"repo": GGUF_REPO, "filename": "../secrets.gguf"}}, "invalid_filename", "relative path"),
    ({"json": {"repo": GGUF_REPO, "filename": "/etc/passwd"}}, "invalid_filename", "relative path"),
    ({"json": {"repo": "../../etc"}}, "invalid_repo", "not a Hugging Face repo id"),
    ({"json": {"repo": "a/" + "b" * 600}}, "too_long", "longer than 512"),
    ({"json": {"repo": GGUF_REPO, "display_name": "x" * 121}}, "too_long", "longer than 120"),
    ({"json": {"repo": GGUF_REPO, "display_name": "bad\nname"}}, "invalid_characters", "control characters"),
    ({"json": {"repos": GGUF_REPO}}, "unknown_field", "Unknown field 'repos'"),
    ({"json": {"id": "qwen3-0.6b", "filename": "x.gguf"}}, "unexpected_field", "go with 'repo'"),
    ({"json": {"repo": f"https://huggingface.co/{GGUF_REPO}/resolve/main/tiny-chat.Q8_0.gguf",
               "filename": "tiny-chat.Q2_K.gguf"}}, "conflicting_filename", "The URL names"),
])
def test_malformed_input_is_a_400_that_says_why(client, kwargs, code, fragment):
    assert_error(client.post("/v0/models/register", **kwargs), 400, code, fragment)
    assert registered_ids(client) == []


def test_hub_refusing_connections_is_a_503_and_stores_nothing(tmp_path, hub):
    closed = f"http://127.0.0.1:{free_port()}"
    app = create_app(router_config(tmp_path, closed))
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {make_api_key(app, ['admin'])}"
    assert_error(client.post("/v0/models/register", json={"repo": GGUF_REPO}), 503, "hub_unavailable",
                 "could not be reached")
    assert registered_ids(client) == []


@pytest.mark.parametrize("mode", ["hang", "error500"])
def test_hub_hanging_or_failing_is_a_503_and_stores_nothing(client, hub, mode):
    hub.mode = mode
    assert_error(client.post("/v0/models/register", json={"repo": GGUF_REPO}), 503, "hub_unavailable",
                 "Nothing was registered")
    hub.mode = "normal"
    assert registered_ids(client) == []


def test_second_registration_is_a_conflict(client):
    assert client.post("/v0/models/register", json={"repo": GGUF_REPO}).status_code == 201
    assert_error(client.post("/v0/models/register", json={"repo": GGUF_REPO}), 409, "model_already_registered",
                 "acme/tiny-chat-gguf:q4_k_m")


@pytest.mark.parametrize("body", [{"id": "gemma-3-4b-it"}, {"repo": GGUF_REPO}])
def test_concurrent_duplicates_yield_exactly_one_201(live_router, body):
    """Real gunicorn workers racing: the database constraint, not a check, decides."""
    def post(_):
        return requests.post(f"{live_router.url}/v0/models/register", json=body, headers=live_router.auth_headers,
                             timeout=30)

    with concurrent.futures.ThreadPoolExecutor(max_workers=12) as pool:
        responses = list(pool.map(post, range(12)))
    statuses = sorted(response.status_code for response in responses)
    assert statuses == [201] + [409] * 11, [r.text for r in responses if r.status_code not in (201, 409)]
    conflicts = [r.json()["error"]["code"] for r in responses if r.status_code == 409]
    assert set(conflicts) == {"model_already_registered"}
    listed = requests.get(f"{live_router.url}/v0/models", headers=live_router.auth_headers, timeout=5).json()["models"]
    assert len(listed) == 1
