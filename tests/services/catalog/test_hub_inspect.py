"""Reading references and repo listings: which file, which engine, and clear refusals."""

from __future__ import annotations

import pytest

from app.errors import ApiError
from app.services.catalog.hub_inspect import (
    HubFile,
    ModelReference,
    RepoListing,
    choose_artifact,
    parse_model_reference,
    quantization_of,
    url_model_id,
)

HUB = "https://huggingface.co"


@pytest.mark.parametrize("text, expected", [
    ("org/name", ModelReference("org/name")),
    ("  org/name  ", ModelReference("org/name")),
    ("https://huggingface.co/org/name", ModelReference("org/name")),
    ("https://hf.co/org/name/", ModelReference("org/name")),
    ("https://huggingface.co/org/name/resolve/main/m.Q4_K_M.gguf?download=true",
     ModelReference("org/name", "main", "m.Q4_K_M.gguf")),
    ("https://huggingface.co/org/name/blob/abc123/sub/dir/m.gguf", ModelReference("org/name", "abc123", "sub/dir/m.gguf")),
    ("https://huggingface.co/org/name/tree/v1.0", ModelReference("org/name", "v1.0")),
    ("http://127.0.0.1:9999/org/name", ModelReference("org/name")),  # the configured endpoint's own host
])
def test_references_that_are_understood(text, expected):
    assert parse_model_reference(text, "http://127.0.0.1:9999") == expected


@pytest.mark.parametrize("text, fragment", [
    ("https://example.com/org/name", "another host"),
    ("ftp://huggingface.co/org/name", "another host"),
    ("https://huggingface.co/", "does not name a repository"),
    ("https://huggingface.co/org/name/resolve/main/../../etc/passwd", "safe relative path"),
    ("https://huggingface.co/org/name/resolve/main/%2Fetc%2Fpasswd", "safe relative path"),
    ("https://huggingface.co/org/name/discussions", "not a repository"),
    ("../name", "not a Hugging Face repo id"),
    ("org/../name", "not a Hugging Face repo id"),
    ("/abs/path", "not a Hugging Face repo id"),
    ("org/name/extra", "not a Hugging Face repo id"),
    ("org--x/name", "not a Hugging Face repo id"),
])
def test_references_that_are_refused(text, fragment):
    with pytest.raises(ApiError) as caught:
        parse_model_reference(text, HUB)
    assert caught.value.status == 400
    assert fragment in caught.value.message


def listing(*names_and_sizes) -> RepoListing:
    return RepoListing("org/name", "a" * 40, [HubFile(name, size) for name, size in names_and_sizes])


def test_recommended_quantization_is_chosen_among_several():
    artifact = choose_artifact(listing(("m.Q8_0.gguf", 80), ("m.Q4_K_M.gguf", 40), ("m.Q2_K.gguf", 20),
                                       ("mmproj-m-f16.gguf", 5)), None)
    assert (artifact.filename, artifact.quantization, artifact.engine, artifact.size_bytes) == \
        ("m.Q4_K_M.gguf", "Q4_K_M", "llama_cpp", 40)
    assert artifact.required_memory_bytes == 60


def test_unknown_naming_falls_back_to_the_smallest_gguf():
    assert choose_artifact(listing(("big.gguf", 80), ("small.gguf", 20)), None).filename == "small.gguf"


def test_split_gguf_brings_all_its_parts():
    files = listing(("m-Q4_K_M-00002-of-00002.gguf", 50), ("m-Q4_K_M-00001-of-00002.gguf", 60), ("x.txt", 1))
    artifact = choose_artifact(files, None)
    assert artifact.filename == "m-Q4_K_M-00001-of-00002.gguf"
    assert [f.name for f in artifact.files] == ["m-Q4_K_M-00001-of-00002.gguf", "m-Q4_K_M-00002-of-00002.gguf"]
    assert artifact.size_bytes == 110


def test_ctranslate2_layout_needs_weights_config_and_tokenizer():
    files = listing(("model.bin", 100), ("config.json", 2), ("tokenizer.json", 3), ("README.md", 1),
                    ("model.safetensors", 100))
    artifact = choose_artifact(files, None)
    assert (artifact.format, artifact.engine, artifact.filename) == ("ctranslate2", "ctranslate2", "model.bin")
    assert sorted(f.name for f in artifact.files) == ["config.json", "model.bin", "tokenizer.json"]
    with pytest.raises(ApiError) as caught:
        choose_artifact(listing(("model.bin", 100), ("config.json", 2)), None)
    assert caught.value.status == 422


def test_nothing_runnable_says_what_was_found_and_what_is_supported():
    with pytest.raises(ApiError) as caught:
        choose_artifact(listing(("model.safetensors", 10), ("config.json", 1)), None)
    assert caught.value.status == 422
    assert "found: config.json, model.safetensors" in caught.value.message
    assert "Supported: a .gguf file" in caught.value.message


def test_named_file_must_exist_and_be_runnable():
    with pytest.raises(ApiError) as missing:
        choose_artifact(listing(("m.gguf", 1)), "other.gguf")
    assert missing.value.status == 404
    with pytest.raises(ApiError) as wrong:
        choose_artifact(listing(("m.gguf", 1), ("model.safetensors", 1)), "model.safetensors")
    assert wrong.value.status == 422


@pytest.mark.parametrize("name, quant", [("Qwen_Qwen3-0.6B-Q4_K_M.gguf", "Q4_K_M"), ("m.q8_0.gguf", "Q8_0"),
                                         ("m-IQ4_XS.gguf", "IQ4_XS"), ("m-f16.gguf", "F16"), ("model.gguf", None)])
def test_quantization_from_file_name(name, quant):
    assert quantization_of(name) == quant


def test_url_model_ids():
    gguf = choose_artifact(listing(("M.Q4_K_M.gguf", 1)), None)
    assert url_model_id("Org/Name-GGUF", gguf) == "org/name-gguf:q4_k_m"
    plain = choose_artifact(listing(("model.gguf", 1)), None)
    assert url_model_id("org/name", plain) == "org/name:model"
