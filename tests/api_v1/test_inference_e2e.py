"""Inference end to end: the official `openai` client → the real router (gunicorn) → two real node
agents, which downloaded the tiny models from the Hub imitation and run them with CTranslate2 and
llama.cpp. Texts must equal what the engine itself gives for the same prompt and parameters.

One cluster serves the module (starting it is most of the time).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
import requests

from node_agent.engines.common import GenerationParams
from node_agent.engines.ct2_encoder_engine import CTranslate2EncoderEngine
from node_agent.engines.ctranslate2_engine import CTranslate2Engine
from node_agent.engines.llamacpp_engine import LlamaCppEngine
from tests.support.cluster import Cluster, start_cluster
from tests.support import tiny_model
from tests.support.hub_imitation import HubImitation, repo_from_directory

DATA = Path(__file__).resolve().parent.parent / "data"
CT2_REPO, CT2_ID = "acme/tiny-llama-ct2", "acme/tiny-llama-ct2"
GGUF_REPO, GGUF_ID = "acme/Tiny-Llama-GGUF", "acme/tiny-llama-gguf:f16"
ENCODER_REPO, ENCODER_ID = "acme/tiny-encoder-ct2", "acme/tiny-encoder-ct2"
CHAT_MODELS = [CT2_ID, GGUF_ID]
CAPITAL = [{"role": "user", "content": "What is the capital of France?"}]


def hub_repos():
    return [repo_from_directory(CT2_REPO, tiny_model.CT2_DIR),
            repo_from_directory(GGUF_REPO, tiny_model.GGUF_DIR),
            repo_from_directory(ENCODER_REPO, DATA / "tiny-encoder" / "ct2")]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    hub = HubImitation(hub_repos()).start()
    cluster = start_cluster(tmp_path_factory.mktemp("inference-e2e"), hub)
    try:
        cluster.start_node("a")
        cluster.start_node("b")
        for repo in (CT2_REPO, GGUF_REPO, ENCODER_REPO):
            cluster.register(repo)
        cluster.wait(lambda: set(cluster.v1_ids()) == {CT2_ID, GGUF_ID, ENCODER_ID}
                     and all(state["state"] == "ready" for model in (CT2_ID, GGUF_ID, ENCODER_ID)
                             for state in cluster.node_states(model).values()), 90,
                     "the tiny models to be ready on both nodes")
        yield cluster
    finally:
        cluster.stop()
        hub.stop()


@pytest.fixture(scope="module")
def client(cluster: Cluster) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{cluster.router.url}/v1", api_key=cluster.api_key, max_retries=0)


@pytest.fixture(scope="module")
def engines() -> Iterator[dict[str, object]]:
    """The same models in this process: what the router's answers must equal."""
    loaded = {CT2_ID: CTranslate2Engine(tiny_model.CT2_DIR, intra_threads=1),
              GGUF_ID: LlamaCppEngine(tiny_model.GGUF, n_threads=1),
              ENCODER_ID: CTranslate2EncoderEngine(DATA / "tiny-encoder" / "ct2", intra_threads=1)}
    yield loaded
    for engine in loaded.values():
        engine.close()


def test_models_list(client: openai.OpenAI) -> None:
    assert {model.id for model in client.models.list()} == {CT2_ID, GGUF_ID, ENCODER_ID}


@pytest.mark.parametrize("model", CHAT_MODELS)
def test_chat(client: openai.OpenAI, engines: dict, model: str) -> None:
    answer = client.chat.completions.create(model=model, messages=CAPITAL, temperature=0)
    expected = engines[model].chat(CAPITAL, GenerationParams(temperature=0, max_tokens=2048))
    assert answer.choices[0].message.content == expected.text == "The capital of France is Paris."
    assert answer.choices[0].finish_reason == "stop"
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == \
        (expected.prompt_tokens, expected.completion_tokens)


@pytest.mark.parametrize("model", CHAT_MODELS)
def test_streamed_chat_with_usage(client: openai.OpenAI, engines: dict, model: str) -> None:
    chunks = list(client.chat.completions.create(model=model, messages=CAPITAL, temperature=0, stream=True,
                                                 stream_options={"include_usage": True}))
    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)
    expected = engines[model].chat(CAPITAL, GenerationParams(temperature=0, max_tokens=2048))
    assert text == expected.text
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == expected.completion_tokens
    assert [chunk.choices[0].finish_reason for chunk in chunks if chunk.choices][-1] == "stop"


@pytest.mark.parametrize("model", CHAT_MODELS)
@pytest.mark.parametrize("stream", [False, True])
def test_completions_with_sampling_parameters(client: openai.OpenAI, engines: dict, model: str,
                                              stream: bool) -> None:
    """Seeded sampling with every parameter: the router must pass them on untouched."""
    params = GenerationParams(temperature=1.3, top_p=0.9, top_k=40, seed=1234, max_tokens=20, stop=["\n"])
    answer = client.completions.create(model=model, prompt="alpha beta", temperature=1.3, top_p=0.9, seed=1234,
                                       max_tokens=20, stop=["\n"], extra_body={"top_k": 40}, stream=stream)
    text = "".join(chunk.choices[0].text for chunk in answer if chunk.choices) if stream else answer.choices[0].text
    assert text == engines[model].complete("alpha beta", params).text


def test_embeddings_ctranslate2_encoder(client: openai.OpenAI, engines: dict) -> None:
    inputs = ["The quick brown fox", "東京の天気"]
    answer = client.embeddings.create(model=ENCODER_ID, input=inputs)  # the SDK asks for base64
    expected = engines[ENCODER_ID].embed(inputs)
    assert [item.index for item in answer.data] == [0, 1]
    for item, vector in zip(answer.data, expected.vectors):
        assert item.embedding == pytest.approx(vector, abs=1e-6)
    assert answer.usage.prompt_tokens == expected.prompt_tokens


def test_embeddings_llama_cpp(client: openai.OpenAI, engines: dict) -> None:
    answer = client.embeddings.create(model=GGUF_ID, input="one two three", encoding_format="float")
    assert answer.data[0].embedding == pytest.approx(engines[GGUF_ID].embed(["one two three"]).vectors[0], abs=1e-5)


def test_unknown_model_is_404(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(model="acme/no-such-model", messages=CAPITAL)
    assert caught.value.body["code"] == "model_not_found"


def test_chat_on_an_embeddings_model_is_400(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model=ENCODER_ID, messages=CAPITAL)
    assert "embeddings" in caught.value.body["message"]


def test_malformed_body_is_400_in_the_openai_envelope(cluster: Cluster) -> None:
    response = requests.post(f"{cluster.router.url}/v1/chat/completions", data=b"{oops", timeout=10,
                             headers={"Authorization": f"Bearer {cluster.api_key}", "Content-Type": "application/json"})
    assert response.status_code == 400
    assert set(response.json()["error"]) == {"message", "type", "param", "code"}


def test_both_nodes_serve(cluster: Cluster, client: openai.OpenAI) -> None:
    """Requests spread over both nodes (each node counts what it served in its log)."""
    for _ in range(6):
        client.completions.create(model=CT2_ID, prompt="one two three", temperature=0, max_tokens=3)
    served = {name: node.log_path.read_text(errors="replace").count("loaded " + CT2_ID)
              for name, node in cluster.nodes.items()}
    assert all(served.values()), served
