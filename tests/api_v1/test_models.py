"""`/v1/models` in OpenAI's format: only models ready on an online node (FR-6)."""


def test_registered_but_not_ready_models_are_not_listed(client):
    assert client.get("/v1/models").get_json() == {"object": "list", "data": []}
    assert client.post("/v0/models/register", json={"id": "qwen3-0.6b"}).status_code == 201
    assert client.get("/v1/models").get_json() == {"object": "list", "data": []}


def test_unknown_or_unready_model_is_model_not_found(client):
    client.post("/v0/models/register", json={"id": "qwen3-0.6b"})
    for model_id in ("qwen3-0.6b", "org/never-registered:q4_k_m"):
        response = client.get(f"/v1/models/{model_id}")
        assert response.status_code == 404
        error = response.get_json()["error"]
        assert (error["code"], error["param"]) == ("model_not_found", "model")
        assert model_id in error["message"]


def test_unknown_v1_route_uses_the_openai_envelope(client):
    response = client.post("/v1/nope", json={})
    assert response.status_code == 404
    assert set(response.get_json()["error"]) == {"message", "type", "param", "code"}
