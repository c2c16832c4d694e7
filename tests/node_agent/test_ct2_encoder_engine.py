"""CTranslate2 encoder engine against the real tiny encoder in tests/data/tiny-encoder (no mocks).

The reference vectors in expected.json were computed by transformers (see the data's README.md),
so matching them checks tokenization, the CTranslate2 forward pass, pooling and normalisation.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import tokenizers

from node_agent.engines.common import Embeddings, GenerationParams, UnsupportedRequest
from node_agent.engines.ct2_encoder_engine import (
    MAX_INPUTS,
    CTranslate2EncoderEngine,
    is_encoder_model,
    read_model_header,
)
from tests.support.tiny_model import CT2_DIR

DATA = Path(__file__).resolve().parent.parent / "data"
ENC_DIR = DATA / "tiny-encoder" / "ct2"
EXPECTED = json.loads((DATA / "tiny-encoder" / "expected.json").read_text(encoding="utf-8"))
CASES = EXPECTED["cases"]
CASE = {c["name"]: c for c in CASES}
SHORT = [c for c in CASES if not c["truncated"]]
TOL = 1e-4


@pytest.fixture(scope="module")
def engine():
    with CTranslate2EncoderEngine(ENC_DIR, intra_threads=1) as eng:
        yield eng


@pytest.fixture(scope="module")
def truncating():
    with CTranslate2EncoderEngine(ENC_DIR, truncate=True, intra_threads=1) as eng:
        yield eng


@pytest.fixture
def model_copy(tmp_path: Path) -> Path:
    """A private copy of the tiny encoder whose config files a test may change."""
    return Path(shutil.copytree(ENC_DIR, tmp_path / "ct2"))


def close_to(vector: list[float], expected: list[float], tol: float = TOL) -> bool:
    return len(vector) == len(expected) and float(np.max(np.abs(np.array(vector) - np.array(expected)))) <= tol


# --------------------------------------------------------------------------- test data
def test_data_files_present_and_small():
    for rel in ("model.bin", "config.json", "vocabulary.json", "tokenizer.json", "tokenizer_config.json",
                "modules.json", "sentence_bert_config.json"):
        assert (ENC_DIR / rel).is_file(), rel
    total = sum(p.stat().st_size for p in ENC_DIR.parent.rglob("*") if p.is_file())
    assert total < 300 * 1024, total
    assert any(c["truncated"] for c in CASES) and len(SHORT) >= 4


def test_data_tokens_match_tokenizers():
    tok = tokenizers.Tokenizer.from_file(str(ENC_DIR / "tokenizer.json"))
    tok.no_padding()
    tok.enable_truncation(max_length=EXPECTED["max_seq_length"])
    for case in CASES:
        encoding = tok.encode(case["text"])
        assert encoding.tokens == case["tokens"]
        assert encoding.ids == case["ids"]
        assert encoding.tokens[0] == "[CLS]" and encoding.tokens[-1] == "[SEP]"


# --------------------------------------------------------------------------- vectors
@pytest.mark.parametrize("case", SHORT, ids=[c["name"] for c in SHORT])
def test_vector_matches_reference(engine, case):
    result = engine.embed([case["text"]])
    assert isinstance(result, Embeddings)
    assert len(result.vectors) == 1
    assert len(result.vectors[0]) == EXPECTED["dimensions"]
    assert close_to(result.vectors[0], case["vector"])
    assert result.prompt_tokens == len(case["ids"])


def test_vectors_are_unit_length(engine):
    for vector in engine.embed([c["text"] for c in SHORT]).vectors:
        assert abs(float(np.linalg.norm(vector)) - 1.0) < 1e-5


def test_batch_equals_one_by_one_and_keeps_order(engine):
    texts = [c["text"] for c in SHORT]
    texts = texts + texts[::-1]  # different lengths side by side: padding in every batch
    batch = engine.embed(texts)
    singles = [engine.embed([t]) for t in texts]
    assert batch.prompt_tokens == sum(s.prompt_tokens for s in singles)
    for vector, single in zip(batch.vectors, singles):
        assert close_to(vector, single.vectors[0], 1e-5)
    by_text = {c["text"]: c["vector"] for c in SHORT}
    for text, vector in zip(texts, batch.vectors):
        assert close_to(vector, by_text[text])


def test_small_batch_size_gives_same_vectors():
    texts = [c["text"] for c in SHORT]
    with CTranslate2EncoderEngine(ENC_DIR, batch_size=2, intra_threads=1) as eng:
        result = eng.embed(texts)
    for vector, case in zip(result.vectors, SHORT):
        assert close_to(vector, case["vector"])


def test_distinct_texts_give_distinct_vectors(engine):
    vectors = np.array(engine.embed([c["text"] for c in SHORT]).vectors)
    similarity = vectors @ vectors.T
    np.fill_diagonal(similarity, 0)
    assert similarity.max() < 0.99


def test_token_counts_include_cls_and_sep(engine):
    result = engine.embed([CASE["hello"]["text"], CASE["one_word"]["text"]])
    assert result.prompt_tokens == 4 + 3


def test_baked_tokenizer_padding_and_truncation_are_ignored(engine):
    raw = tokenizers.Tokenizer.from_file(str(ENC_DIR / "tokenizer.json"))
    # The file itself pads/truncates to 16, as real exports carry such settings ...
    assert len(raw.encode(CASE["hello"]["text"]).ids) == 16
    assert len(raw.encode(CASE["unknown"]["text"]).ids) == 16
    # ... but the model reads only the real tokens.
    assert engine.embed([CASE["hello"]["text"]]).prompt_tokens == 4
    assert engine.embed([CASE["unknown"]["text"]]).prompt_tokens == 14


def test_whitespace_only_input_reads_only_special_tokens(engine):
    result = engine.embed([" "])
    assert result.prompt_tokens == 2
    assert abs(float(np.linalg.norm(result.vectors[0])) - 1.0) < 1e-5


# Run in a process of its own when the kernels must be chosen (CT2_USE_MKL is read once per process):
# each short case's int8 vector against every case's float32 reference, as cosines.
_INT8_SIMILARITIES = """
import json, sys
import numpy as np
from node_agent.engines.ct2_encoder_engine import CTranslate2EncoderEngine
directory, texts, references = json.load(sys.stdin)
with CTranslate2EncoderEngine(directory, compute_type="int8", intra_threads=1) as engine:
    vectors = np.asarray(engine.embed(texts).vectors)
print(json.dumps((vectors @ np.asarray(references).T).tolist()))
"""


def _int8_similarities(use_mkl: bool | None) -> list[list[float]]:
    """None: the kernels CTranslate2 chooses for this CPU."""
    env = {name: value for name, value in os.environ.items() if name != "CT2_USE_MKL"}
    if use_mkl is not None:
        env["CT2_USE_MKL"] = "1" if use_mkl else "0"
    case_input = json.dumps([str(ENC_DIR), [c["text"] for c in SHORT], [c["vector"] for c in SHORT]])
    done = subprocess.run([sys.executable, "-c", _INT8_SIMILARITIES], input=case_input, capture_output=True,
                          text=True, timeout=120, cwd=Path(__file__).resolve().parents[2],
                          env=env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_int8_compute_type_stays_close():
    """CTranslate2 picks its int8 matrix kernels by CPU vendor: Intel MKL on Intel CPUs, its own
    otherwise (CT2_USE_MKL, read once per process). With MKL the tiny encoder's int8 vectors are
    within 0.999 of float32 on any x86-64 CPU (MKL runs on AMD too); the other kernels quantize
    coarser (0.949 to 0.991 on an AMD EPYC). So the tolerance is checked with MKL chosen, in a
    process of its own, and the CPU's default kernels must still put each text nearest its own
    reference."""
    for index, row in enumerate(_int8_similarities(use_mkl=True)):
        assert row[index] > 0.99, row
    for index, row in enumerate(_int8_similarities(use_mkl=None)):  # the CPU's default kernels
        assert row[index] > 0.9 and int(np.argmax(row)) == index, row


# --------------------------------------------------------------------------- long inputs
def test_limit_comes_from_sentence_bert_config(engine):
    assert engine.max_input_tokens == EXPECTED["max_seq_length"] == 32


def test_long_input_is_rejected_by_default(engine):
    case = CASE["long"]
    with pytest.raises(ValueError) as info:
        engine.embed([CASE["hello"]["text"], case["text"]])
    message = str(info.value)
    assert "input[1]" in message
    assert str(case["untruncated_token_count"]) in message and "at most 32 tokens" in message


def test_long_input_is_truncated_on_request(truncating):
    case = CASE["long"]
    result = truncating.embed([case["text"], CASE["hello"]["text"]])
    assert close_to(result.vectors[0], case["vector"])
    assert close_to(result.vectors[1], CASE["hello"]["vector"])
    assert result.prompt_tokens == EXPECTED["max_seq_length"] + 4


def test_limit_falls_back_to_tokenizer_config(model_copy):
    (model_copy / "sentence_bert_config.json").unlink()
    with CTranslate2EncoderEngine(model_copy, intra_threads=1) as eng:
        assert eng.max_input_tokens == EXPECTED["model_max_length"] == 64
        case = CASE["long"]
        result = eng.embed([case["text"]])
    assert result.prompt_tokens == case["untruncated_token_count"]
    assert not close_to(result.vectors[0], case["vector"])  # all 47 tokens read, not the first 32


def test_limit_never_exceeds_position_table(model_copy):
    # Configs that claim more than the model's 64 positions (or nothing at all) are capped.
    (model_copy / "sentence_bert_config.json").write_text('{"max_seq_length": 1000}', encoding="utf-8")
    with CTranslate2EncoderEngine(model_copy, intra_threads=1) as eng:
        assert eng.max_input_tokens == 64
    (model_copy / "sentence_bert_config.json").unlink()
    config = json.loads((model_copy / "tokenizer_config.json").read_text(encoding="utf-8"))
    config["model_max_length"] = 1e30  # HF's "unknown" sentinel
    (model_copy / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")
    with CTranslate2EncoderEngine(model_copy, intra_threads=1) as eng:
        assert eng.max_input_tokens == 64
        with pytest.raises(ValueError, match="at most 64 tokens"):
            eng.embed(["word " * 70])


# --------------------------------------------------------------------------- pooling config
def _write_pooling(model_dir: Path, **modes: bool) -> None:
    (model_dir / "1_Pooling").mkdir()
    config = {"word_embedding_dimension": EXPECTED["dimensions"], **{f"pooling_mode_{k}": v for k, v in modes.items()}}
    (model_dir / "1_Pooling" / "config.json").write_text(json.dumps(config), encoding="utf-8")


def test_cls_pooling_from_sentence_transformers_config(model_copy):
    _write_pooling(model_copy, cls_token=True, mean_tokens=False, max_tokens=False)
    with CTranslate2EncoderEngine(model_copy, intra_threads=1) as eng:
        assert eng.pooling == "cls"
        result = eng.embed([c["text"] for c in SHORT])
    for vector, case in zip(result.vectors, SHORT):
        assert close_to(vector, case["cls_vector"])


def test_explicit_mean_pooling_config(model_copy):
    _write_pooling(model_copy, cls_token=False, mean_tokens=True, max_tokens=False)
    with CTranslate2EncoderEngine(model_copy, intra_threads=1) as eng:
        assert eng.pooling == "mean"
        assert close_to(eng.embed([CASE["fox"]["text"]]).vectors[0], CASE["fox"]["vector"])


def test_unsupported_pooling_is_refused_at_load(model_copy):
    _write_pooling(model_copy, cls_token=False, mean_tokens=False, max_tokens=True)
    with pytest.raises(ValueError, match="pooling"):
        CTranslate2EncoderEngine(model_copy, intra_threads=1)


def test_unknown_module_is_refused_at_load(model_copy):
    modules = json.loads((model_copy / "modules.json").read_text(encoding="utf-8"))
    modules.append({"idx": 3, "name": "3", "path": "3_Dense", "type": "sentence_transformers.models.Dense"})
    (model_copy / "modules.json").write_text(json.dumps(modules), encoding="utf-8")
    with pytest.raises(ValueError, match="Dense"):
        CTranslate2EncoderEngine(model_copy, intra_threads=1)


def test_module_path_outside_model_dir_is_refused(model_copy):
    modules = json.loads((model_copy / "modules.json").read_text(encoding="utf-8"))
    modules[1]["path"] = "../.."
    (model_copy / "modules.json").write_text(json.dumps(modules), encoding="utf-8")
    with pytest.raises(ValueError, match="outside"):
        CTranslate2EncoderEngine(model_copy, intra_threads=1)


# --------------------------------------------------------------------------- model kind
def test_is_encoder_model():
    assert is_encoder_model(ENC_DIR) is True
    assert is_encoder_model(CT2_DIR) is False
    assert read_model_header(ENC_DIR).spec == EXPECTED["ct2_spec"] == "TransformerEncoderSpec"
    assert read_model_header(CT2_DIR).spec == "TransformerDecoderSpec"
    assert read_model_header(ENC_DIR).shapes["encoder/position_encodings/encodings"] == (64, 32)


def test_is_encoder_model_on_bad_directories(tmp_path):
    with pytest.raises(FileNotFoundError):
        is_encoder_model(tmp_path)
    (tmp_path / "model.bin").write_bytes(b"\x06\x00\x00\x00\xff")
    with pytest.raises(ValueError):
        is_encoder_model(tmp_path)


def test_generator_model_is_refused():
    with pytest.raises(ValueError, match="not an encoder"):
        CTranslate2EncoderEngine(CT2_DIR, intra_threads=1)


# --------------------------------------------------------------------------- bad requests
@pytest.mark.parametrize(
    "bad",
    [[], "a string", ("a", "tuple"), [""], ["ok", ""], [1], ["ok", None], [["nested"]], None],
    ids=["empty-list", "str", "tuple", "empty-str", "second-empty", "int", "none-item", "nested", "none"],
)
def test_bad_input_raises_value_error(engine, bad):
    with pytest.raises(ValueError) as info:
        engine.embed(bad)
    assert not isinstance(info.value, UnsupportedRequest)
    assert "input" in str(info.value)


def test_too_many_inputs(engine):
    with pytest.raises(ValueError, match=str(MAX_INPUTS)):
        engine.embed(["x"] * (MAX_INPUTS + 1))


def test_generation_requests_are_unsupported(engine):
    assert engine.capabilities == frozenset({"embeddings"})
    calls = [
        lambda: engine.chat([{"role": "user", "content": "hi"}], GenerationParams()),
        lambda: engine.complete("hi", GenerationParams()),
        lambda: engine.stream("hi", GenerationParams()),
        lambda: engine.stream([{"role": "user", "content": "hi"}], GenerationParams()),
    ]
    for call in calls:
        with pytest.raises(UnsupportedRequest, match="/v1/embeddings"):
            call()


# --------------------------------------------------------------------------- lifecycle, threads
def test_close_is_idempotent_and_final():
    eng = CTranslate2EncoderEngine(ENC_DIR, intra_threads=1)
    assert close_to(eng.embed([CASE["hello"]["text"]]).vectors[0], CASE["hello"]["vector"])
    eng.close()
    eng.close()
    with pytest.raises(RuntimeError, match="closed"):
        eng.embed([CASE["hello"]["text"]])


def test_concurrent_calls_give_the_same_results(engine):
    texts = [c["text"] for c in SHORT]
    requests = [texts[i % len(texts):] + texts[:i % len(texts)] for i in range(24)]  # rotated batches

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(engine.embed, requests))

    by_text = {c["text"]: c for c in SHORT}
    for request, result in zip(requests, results):
        assert result.prompt_tokens == sum(len(by_text[t]["ids"]) for t in request)
        for text, vector in zip(request, result.vectors):
            assert close_to(vector, by_text[text]["vector"])
