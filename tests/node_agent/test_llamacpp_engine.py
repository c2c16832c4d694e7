"""llama.cpp engine against the real tiny GGUF in tests/data/tiny-model (no mocks)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from node_agent.engines.common import GenerationParams
from node_agent.engines.ctranslate2_engine import CTranslate2Engine
from node_agent.engines.llamacpp_engine import LlamaCppEngine
from tests.support.tiny_model import CASE, CASES, CT2_DIR, GGUF, GREEDY, case_input, run

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def engine():
    with LlamaCppEngine(GGUF, n_threads=1) as eng:
        yield eng


@pytest.fixture(scope="module")
def ct2_engine():
    with CTranslate2Engine(CT2_DIR, intra_threads=1) as eng:
        yield eng


# ---------------------------------------------------------------- greedy output, usage, streaming
@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_greedy_matches_expected_and_ctranslate2(engine, ct2_engine, case):
    result = run(engine, case, GREEDY)
    assert result.text == case["expected_text"]
    assert result.finish_reason == "stop"
    assert result.prompt_tokens == len(case["prompt_ids"])
    assert result.completion_tokens == len(case["expected_ids"])
    assert result == run(ct2_engine, case, GREEDY)


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_prompt_tokens_are_the_expected_ids(engine, case):
    if case["kind"] == "chat":
        rendered = engine.render_chat(case["messages"])
        assert rendered == case["prompt"]
        ids = engine.tokenize(rendered, add_special=False)  # the template wrote <s>
    else:
        ids = engine.tokenize(case["prompt"], add_special=True)  # the GGUF says add_bos_token
    assert ids == case["prompt_ids"]
    assert engine.decode(case["expected_ids"]) == case["expected_text"]


def test_decoder_marks_incomplete_utf8(engine):
    ids = CASE["unicode"]["expected_ids"]
    # "東" is three byte tokens (ids 168, 257, 115): two of them are an incomplete character.
    cut = ids.index(168) + 2
    assert engine.decode(ids[:cut]).endswith("\ufffd")
    assert engine.decode(ids[:cut + 1]).endswith("東")


# ---------------------------------------------------------------- context limits
def test_context_is_clipped_to_the_training_context(engine):
    assert engine.context_length == 256  # asked 4096; the GGUF says llama.context_length = 256
    with pytest.raises(ValueError, match="context"):
        engine.complete("one two three " * 100, GREEDY)


def test_context_window_ends_generation():
    with LlamaCppEngine(GGUF, n_ctx=12, n_threads=1) as small:
        result = small.complete("one two three", GREEDY)  # 8 prompt tokens: room for 4 more
        assert (result.text, result.finish_reason, result.completion_tokens) == (" four five", "length", 4)
        with pytest.raises(ValueError, match="12 tokens"):
            small.complete("one two three four five six", GREEDY)


# ---------------------------------------------------------------- sampling
def sample(engine, seed: int | None, streaming: bool, prompt: str = "hello world") -> str:
    params = GenerationParams(temperature=1.0, top_k=5, max_tokens=24, seed=seed)
    if streaming:
        return "".join(engine.stream(prompt, params))
    return engine.complete(prompt, params).text


def test_unseeded_requests_get_fresh_randomness(engine):
    # Each request without a seed draws a new one; eight identical 24-token samples of this
    # near-uniform nonsense would mean a fixed seed was reused.
    texts = {sample(engine, None, streaming=False) for _ in range(8)}
    assert len(texts) > 1


def test_huge_and_negative_seeds_are_accepted(engine):
    for seed in (-1, 2**63, 0xFFFFFFFF):
        assert sample(engine, seed, False) == sample(engine, seed, False)


# ---------------------------------------------------------------- state and threads
def test_closed_early_stream_leaves_no_state(engine):
    stream = engine.stream("The quick brown fox", GREEDY)
    assert next(stream) == " "
    stream.close()  # client went away mid-generation
    assert engine.complete("one two three", GREEDY).text == CASE["count"]["expected_text"]
    assert engine.complete("The quick brown fox", GREEDY).text == CASE["fox"]["expected_text"]


def test_concurrent_requests_are_served_correctly(engine):
    barrier = threading.Barrier(6)
    failures: list[str] = []

    def worker(index: int) -> None:
        barrier.wait()
        for round_ in range(3):
            case = CASES[(index + round_) % len(CASES)]
            if (index + round_) % 2:
                text = "".join(engine.stream(case_input(case), GREEDY))
            else:
                text = run(engine, case, GREEDY).text
            if text != case["expected_text"]:
                failures.append(f"{case['name']}: {text!r}")

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []


def test_paused_stream_holds_the_model(engine):
    stream = engine.stream("one two three", GREEDY)
    first = next(stream)  # this stream now holds the model
    results: list[str] = []
    other = threading.Thread(target=lambda: results.append(engine.complete("The quick brown fox", GREEDY).text))
    other.start()
    # Prompt work does not wait for the model: a bad request is still rejected at once.
    with pytest.raises(ValueError):
        engine.stream("one two three " * 100, GREEDY)
    other.join(timeout=0.5)
    assert other.is_alive() and results == []  # waiting for the model (a broken lock could only pass here)
    # The same thread starting another generation would wait for itself: refused instead.
    with pytest.raises(RuntimeError, match="unfinished stream"):
        engine.complete("one", GREEDY)
    assert first + "".join(stream) == CASE["count"]["expected_text"]
    other.join()
    assert results == [CASE["fox"]["expected_text"]]


# ---------------------------------------------------------------- embeddings
def test_embeddings(engine):
    texts = [CASE["count"]["prompt"], CASE["fox"]["prompt"], CASE["unicode"]["prompt"]]
    result = engine.embed(texts)
    vectors = np.array(result.vectors)
    assert vectors.shape == (3, 64)  # n_inputs x n_embd
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0)
    assert result.prompt_tokens == sum(len(CASE[n]["prompt_ids"]) for n in ("count", "fox", "unicode"))
    again = np.array(engine.embed([texts[1], texts[0]]).vectors)
    assert np.allclose(again[0], vectors[1], atol=1e-6) and np.allclose(again[1], vectors[0], atol=1e-6)
    for i in range(3):
        for j in range(i + 1, 3):
            assert not np.allclose(vectors[i], vectors[j], atol=1e-3)
    assert "embeddings" in engine.capabilities


@pytest.mark.parametrize("inputs", [[], "text", [""], ["ok", 3], None, [None]])
def test_embeddings_reject_bad_input(engine, inputs):
    with pytest.raises(ValueError):
        engine.embed(inputs)


def test_embeddings_reject_input_longer_than_context(engine):
    with pytest.raises(ValueError, match=r"input\[1\] is \d+ tokens"):
        engine.embed(["one", "one two three " * 100])


# ---------------------------------------------------------------- bad requests
@pytest.mark.parametrize("prompt", [None, 3, ["one"], b"one"])
def test_invalid_prompt(engine, prompt):
    with pytest.raises(ValueError, match="prompt must be a string"):
        engine.complete(prompt, GREEDY)


def test_lone_surrogate_is_a_value_error(engine):
    with pytest.raises(ValueError, match="Unicode"):
        engine.complete("one \ud800", GREEDY)


@pytest.mark.parametrize("kwargs", [{"n_ctx": -1}, {"n_ctx": 1.5}, {"n_threads": 0}])
def test_invalid_engine_settings(kwargs):
    with pytest.raises(ValueError):
        LlamaCppEngine(GGUF, **kwargs)


def test_unloadable_file_is_a_runtime_error(tmp_path):
    with pytest.raises(RuntimeError, match="no GGUF file"):
        LlamaCppEngine(tmp_path / "missing.gguf")
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"not a gguf file at all" * 10)
    with pytest.raises(RuntimeError, match="junk.gguf"):
        LlamaCppEngine(junk)


# ---------------------------------------------------------------- chat templates
def test_fallback_template_prompt_gets_bos_token(engine):
    # test_engine_contract shows a chat rendered without BOS (the fallback template) is tokenized
    # as the same raw prompt; here, that llama.cpp's tokenizer adds BOS to it.
    rendered = "system: Be brief.\nuser: Hi\nassistant:"
    expected_ids = engine.tokenize(rendered, add_special=True)
    assert expected_ids[0] == 1 and expected_ids[1:] == engine.tokenize(rendered, add_special=False)
    result = engine.complete(rendered, GenerationParams(temperature=0, max_tokens=5))
    assert result.prompt_tokens == len(expected_ids)


# ---------------------------------------------------------------- lifecycle
def test_close_also_blocks_embeddings():
    # The rest of close() is in test_engine_contract; `closed` and embed() are llama.cpp's own.
    eng = LlamaCppEngine(GGUF, n_threads=1)
    eng.embed(["one"])
    assert not eng.closed
    eng.close()
    eng.close()
    assert eng.closed
    with pytest.raises(RuntimeError, match="closed"):
        eng.embed(["one"])


def test_close_stops_a_paused_stream():
    eng = LlamaCppEngine(GGUF, n_threads=1)
    stream = eng.stream("one two three", GREEDY)
    next(stream)
    closer = threading.Thread(target=eng.close)
    closer.start()
    deadline = time.monotonic() + 30
    while not eng.closed and time.monotonic() < deadline:
        time.sleep(0.01)
    assert eng.closed
    with pytest.raises(RuntimeError, match="unloaded"):
        list(stream)
    closer.join()  # returns once the stream let go of the model
    with pytest.raises(RuntimeError, match="closed"):
        eng.complete("one", GREEDY)


@pytest.mark.parametrize("close", [True, False])
def test_process_is_quiet_and_exits_cleanly(close):
    # verbose=False must mean silent: no llama.cpp log lines on stdout/stderr, at load or use,
    # and a process exiting with a live engine (or a paused stream) must exit normally.
    code = f"""
from node_agent.engines.llamacpp_engine import LlamaCppEngine
from node_agent.engines.common import GenerationParams
eng = LlamaCppEngine({str(GGUF)!r}, n_threads=1)
eng.complete("one two three", GenerationParams(temperature=0))
eng.embed(["one"])
stream = eng.stream("The quick", GenerationParams(temperature=0))
next(stream)
if {close}:
    stream.close()
    eng.close()
"""
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")
