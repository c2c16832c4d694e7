"""Batching of concurrent requests in the CTranslate2 engine, on the real tiny model (no mocks).

Batches are made deterministic without timing: with a long gather window (10 s) a batch is sent
exactly when `max_batch_size` compatible requests are pending, so "these N requests ran as one
generate_batch" can be read from `batcher.batches_run` / `largest_batch`.
"""

from __future__ import annotations

import gc
import json
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from node_agent.engines.ct2_batcher import BatchRequest, SamplingOptions
from node_agent.engines.ctranslate2_engine import (
    Completion,
    CompletionStream,
    CTranslate2Engine,
    EngineClosed,
    GenerationFailed,
    GenerationParams,
    UnsupportedRequest,
)
from tests.support.tiny_model import CASE, CASES, CT2_DIR, GREEDY

ROOT = Path(__file__).resolve().parents[2]
LONG_WINDOW_MS = 10_000  # a batch then starts exactly when it is full (see module docstring)


@pytest.fixture
def make_engine() -> Iterator[Callable[..., CTranslate2Engine]]:
    engines: list[CTranslate2Engine] = []

    def make(model_dir: Path = CT2_DIR, **kwargs) -> CTranslate2Engine:
        kwargs.setdefault("intra_threads", 1)
        engine = CTranslate2Engine(model_dir, **kwargs)
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        engine.close()


def source(case: dict) -> str | list[dict]:
    return case["messages"] if case["kind"] == "chat" else case["prompt"]


def expected_completion(case: dict) -> Completion:
    return Completion(case["expected_text"], "stop", len(case["prompt_ids"]), len(case["expected_ids"]))


def run_in_threads(fns: list[Callable[[], object]]) -> list[object]:
    """Run each fn in its own thread, all released together; exceptions are returned, not lost."""
    results: list[object] = [None] * len(fns)
    barrier = threading.Barrier(len(fns))

    def target(i: int) -> None:
        barrier.wait()
        try:
            results[i] = fns[i]()
        except Exception as exc:  # noqa: BLE001 - handed back to the test
            results[i] = exc

    threads = [threading.Thread(target=target, args=(i,)) for i in range(len(fns))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a request hung"
    return results


@pytest.mark.parametrize("intra_threads", [1, 2])
def test_batched_greedy_equals_expected_for_every_case(make_engine, intra_threads):
    # Prompts of 8, 11, 8 and 15 tokens, each twice, in ONE batch: padding must not change them.
    engine = make_engine(intra_threads=intra_threads, batch_window_ms=LONG_WINDOW_MS, max_batch_size=2 * len(CASES))
    streams = [(case, engine.stream(source(case), GREEDY)) for case in CASES + CASES]
    for case, stream in streams:
        assert "".join(stream) == case["expected_text"]
        assert stream.completion == expected_completion(case)
    assert (engine.batcher.batches_run, engine.batcher.largest_batch) == (1, 2 * len(CASES))


def test_eight_concurrent_requests_from_threads_share_one_batch(make_engine):
    engine = make_engine(batch_window_ms=LONG_WINDOW_MS, max_batch_size=8)

    def streamed(case: dict) -> Callable[[], tuple[str, Completion | None]]:
        def go() -> tuple[str, Completion | None]:
            stream = engine.stream(source(case), GREEDY)
            return "".join(stream), stream.completion
        return go

    def completed(case: dict) -> Callable[[], tuple[str, Completion]]:
        def go() -> tuple[str, Completion]:
            if case["kind"] == "chat":
                result = engine.chat(case["messages"], GREEDY)
            else:
                result = engine.complete(case["prompt"], GREEDY)
            return result.text, result
        return go

    cases = CASES + CASES
    fns = [streamed(c) for c in CASES] + [completed(c) for c in CASES]
    results = run_in_threads(fns)
    for case, result in zip(cases, results):
        assert result == (case["expected_text"], expected_completion(case))
    assert (engine.batcher.batches_run, engine.batcher.largest_batch) == (1, 8)


def test_concurrent_requests_with_default_window_give_their_own_texts(make_engine):
    engine = make_engine()  # the real default gather window; how requests batch is up to timing
    cases = [CASES[i % len(CASES)] for i in range(8)]
    results = run_in_threads([lambda c=c: "".join(engine.stream(source(c), GREEDY)) for c in cases])
    assert results == [c["expected_text"] for c in cases]
    assert engine.batcher.batches_run <= 8


def test_two_replicas_run_two_batches_at_once(make_engine):
    # inter_threads=2: one batch worker per Generator replica.
    engine = make_engine(inter_threads=2, batch_window_ms=LONG_WINDOW_MS, max_batch_size=4)
    cases = CASES + CASES
    results = run_in_threads([lambda c=c: "".join(engine.stream(source(c), GREEDY)) for c in cases])
    assert results == [c["expected_text"] for c in cases]
    assert (engine.batcher.batches_run, engine.batcher.largest_batch) == (2, 4)
    assert engine.batcher.workers == 2


def test_mixed_max_tokens_share_a_batch(make_engine):
    budgets = [1, 3, 5, 12, 64]
    alone = make_engine(batch_window_ms=0, max_batch_size=1)
    reference = [alone.complete("one two three", GenerationParams(temperature=0, max_tokens=n)) for n in budgets]
    assert [r.completion_tokens for r in reference] == [1, 3, 5, 12, 18]
    assert reference[1].text == " four" and reference[1].finish_reason == "length"
    assert reference[-1].finish_reason == "stop"

    engine = make_engine(batch_window_ms=LONG_WINDOW_MS, max_batch_size=len(budgets))
    streams = [engine.stream("one two three", GenerationParams(temperature=0, max_tokens=n)) for n in budgets]
    texts = ["".join(s) for s in streams]
    assert [s.completion for s in streams] == reference
    assert texts == [r.text for r in reference]
    assert (engine.batcher.batches_run, engine.batcher.largest_batch) == (1, len(budgets))


@pytest.mark.parametrize("streaming", [False, True])
def test_stop_string_on_one_item_does_not_stop_the_others(make_engine, streaming):
    engine = make_engine(batch_window_ms=LONG_WINDOW_MS, max_batch_size=3)
    requests = [
        ("one two three", GenerationParams(temperature=0, max_tokens=64, stop=[" six"])),
        ("one two three", GREEDY),
        ("The quick brown fox", GenerationParams(temperature=0, max_tokens=64, stop=["lazy"])),
    ]
    if streaming:
        streams = [engine.stream(prompt, params) for prompt, params in requests]
        results = []
        for stream in streams:
            text = "".join(stream)
            assert stream.completion is not None and stream.completion.text == text
            results.append(stream.completion)
    else:
        results = run_in_threads([lambda p=p, q=q: engine.complete(p, q) for p, q in requests])
    assert results[0] == Completion(" four five", "stop", 8, 6)
    assert results[1] == expected_completion(CASE["count"])
    assert results[2].text == " jumps over the " and results[2].finish_reason == "stop"
    assert engine.batcher.largest_batch == 3


def test_closing_one_stream_early_leaves_the_others_alone(make_engine):
    engine = make_engine(batch_window_ms=LONG_WINDOW_MS, max_batch_size=len(CASES))
    streams = [engine.stream(source(case), GREEDY) for case in CASES]
    first = next(streams[0])
    streams[0].close()
    assert first and CASE["count"]["expected_text"].startswith(first)
    assert list(streams[0]) == []  # nothing more after close()
    assert streams[0].completion is None
    for case, stream in zip(CASES[1:], streams[1:]):
        assert "".join(stream) == case["expected_text"]
        assert stream.completion == expected_completion(case)
    assert engine.batcher.largest_batch == len(CASES)


def test_a_closed_request_tells_the_step_callback_to_stop():
    # What makes close()/a stop string end a batch item: its next step callback returns True.
    request = BatchRequest(["<s>", "one"], max_new=10, options=SamplingOptions())
    assert request._push(5, is_last=False) is False
    request.close()
    assert request._push(6, is_last=False) is True
    assert list(request) == [5]  # the token after close() was not queued; then the end marker
    budget = BatchRequest(["<s>"], max_new=2, options=SamplingOptions())
    assert [budget._push(7, False), budget._push(8, False)] == [False, True]  # its own max_tokens
    assert list(budget) == [7, 8]


def test_incompatible_sampling_settings_run_as_separate_batches(make_engine):
    engine = make_engine(batch_window_ms=LONG_WINDOW_MS, max_batch_size=3)
    hot = GenerationParams(temperature=5.0, max_tokens=8)
    # Interleaved arrivals: a batch of 3 fills only if greedy and sampled requests are kept apart.
    streams = []
    for _ in range(3):
        streams.append(("greedy", engine.stream("one two three", GREEDY)))
        streams.append(("hot", engine.stream("one two three", hot)))
    for kind, stream in streams:
        text = "".join(stream)
        if kind == "greedy":
            assert text == CASE["count"]["expected_text"]
        else:
            # Unseeded at temperature 5, the end of the sequence may be drawn first: 0 tokens is an answer too.
            assert 0 <= stream.completion_tokens <= 8
    assert (engine.batcher.batches_run, engine.batcher.largest_batch) == (2, 3)


def test_prompts_of_very_different_lengths_run_as_separate_batches(make_engine):
    engine = make_engine(batch_window_ms=LONG_WINDOW_MS, max_batch_size=2, max_prompt_spread=4)
    # count: 8 tokens, chat_capital: 15, fox: 11. count+fox fit a spread of 4; chat waits for its own.
    order = [CASE["count"], CASE["chat_capital"], CASE["fox"], CASE["chat_capital"]]
    streams = [engine.stream(source(case), GREEDY) for case in order]
    assert ["".join(s) for s in streams] == [c["expected_text"] for c in order]
    assert (engine.batcher.batches_run, engine.batcher.largest_batch) == (2, 2)


def test_seeded_requests_still_work_next_to_batched_ones(make_engine):
    engine = make_engine()
    seeded = GenerationParams(temperature=1.0, top_k=5, max_tokens=12, seed=3)
    results = run_in_threads(
        [lambda: engine.complete("hello world", seeded), lambda: engine.complete("one two three", GREEDY)] * 2
    )
    assert results[0] == results[2]  # same seed, same text
    assert results[1] == results[3] == expected_completion(CASE["count"])


def test_prompt_longer_than_context_fails_alone(make_engine):
    engine = make_engine()
    good = engine.stream("one two three", GREEDY)
    with pytest.raises(ValueError, match="context"):
        engine.stream("one two three " * 200, GREEDY)
    assert "".join(good) == CASE["count"]["expected_text"]


def _copy_model(tmp_path: Path) -> Path:
    target = tmp_path / "ct2"
    shutil.copytree(CT2_DIR, target)
    return target


def test_generation_error_reaches_every_request_of_the_batch(make_engine, tmp_path):
    # A converted model whose tokenizer and CTranslate2 vocabulary disagree: the tokenizer's eos
    # token is missing from vocabulary.json, so generate_batch itself raises.
    model_dir = _copy_model(tmp_path)
    vocab_path = model_dir / "vocabulary.json"
    vocab = json.loads(vocab_path.read_text(encoding="utf-8"))
    vocab[vocab.index("<|system|>")] = "<|renamed|>"
    vocab_path.write_text(json.dumps(vocab), encoding="utf-8")
    config_path = model_dir / "tokenizer_config.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    config["eos_token"] = "<|system|>"
    config_path.write_text(json.dumps(config), encoding="utf-8")

    engine = make_engine(model_dir, batch_window_ms=LONG_WINDOW_MS, max_batch_size=4)
    streams: list[CompletionStream] = [engine.stream(p, GREEDY) for p in ("one two three", "The quick", "one")]

    def complete() -> Completion:
        return engine.complete("Unicode test:", GREEDY)

    def drain(stream: CompletionStream) -> Callable[[], str]:
        return lambda: "".join(stream)

    results = run_in_threads([complete] + [drain(s) for s in streams])
    for result in results:
        # RuntimeError, not ValueError: it is the model's fault, not the client's (500, not 400).
        assert isinstance(result, GenerationFailed) and not isinstance(result, ValueError)
        assert "not in the vocabulary" in str(result)
    assert engine.batcher.largest_batch == 4


def test_empty_prompt_is_refused_before_batching(make_engine, tmp_path):
    # Without a BOS-adding post-processor "" encodes to nothing, which would fail a whole batch.
    model_dir = _copy_model(tmp_path)
    tokenizer_path = model_dir / "tokenizer.json"
    tokenizer = json.loads(tokenizer_path.read_text(encoding="utf-8"))
    tokenizer["post_processor"] = None
    tokenizer_path.write_text(json.dumps(tokenizer), encoding="utf-8")
    engine = make_engine(model_dir)
    with pytest.raises(ValueError, match="prompt is empty"):
        engine.complete("", GREEDY)
    with pytest.raises(ValueError, match="prompt is empty"):
        engine.stream("", GREEDY)
    assert engine.complete("one two three", GenerationParams(temperature=0, max_tokens=3)).completion_tokens == 3


def test_closed_engine_refuses_requests(make_engine):
    engine = make_engine()
    engine.close()
    for call in (
        lambda: engine.stream("one", GREEDY),
        lambda: engine.complete("one", GREEDY),
        lambda: engine.chat([{"role": "user", "content": "hi"}], GREEDY),
    ):
        with pytest.raises(EngineClosed, match="closed"):
            call()


def test_close_fails_requests_waiting_for_a_batch(make_engine):
    engine = make_engine(batch_window_ms=LONG_WINDOW_MS, max_batch_size=8)
    streams = [engine.stream(source(case), GREEDY) for case in CASES]  # 4 of 8: the batch waits
    batcher = engine.batcher
    results = run_in_threads([lambda s=s: "".join(s) for s in streams] + [engine.close])
    assert all(isinstance(r, EngineClosed) for r in results[:-1])
    assert not batcher.alive


def test_an_engine_dropped_without_close_frees_its_model():
    engine = CTranslate2Engine(CT2_DIR, intra_threads=1)
    batcher = engine.batcher
    assert batcher.alive
    del engine
    gc.collect()
    assert not batcher.alive  # the finalizer closed it: threads joined, Generator dropped
    with pytest.raises(EngineClosed):
        batcher.generator


CLOSE_IN_FLIGHT = r"""
import sys
from node_agent.engines.ctranslate2_engine import CTranslate2Engine, EngineClosed, GenerationParams

engine = CTranslate2Engine(sys.argv[1], intra_threads=1, max_batch_size=16)
prompts = ["one two three", "The quick brown fox", "hello world", "Unicode test:"] * 4
streams = [engine.stream(p, GenerationParams(temperature=0.7, max_tokens=240)) for p in prompts]
for stream in streams:
    next(stream, None)
if sys.argv[2] == "close":
    engine.close()
    outcomes = []
    for stream in streams:
        try:
            "".join(stream)
            outcomes.append("finished")
        except EngineClosed:
            outcomes.append("closed")
    print("resolved", len(outcomes), "interrupted", outcomes.count("closed"))
else:
    print("resolved", 0, "left to exit")  # the engine is still generating as the interpreter exits
"""


@pytest.mark.parametrize("how", ["close", "exit"])
def test_close_or_exit_with_streams_in_flight_neither_hangs_nor_aborts(how):
    # "exit" leaves the engine open on purpose: the atexit safety net must free the Generator.
    for _ in range(3):
        done = subprocess.run(
            [sys.executable, "-c", CLOSE_IN_FLIGHT, str(CT2_DIR), how],
            cwd=ROOT, capture_output=True, text=True, timeout=60,
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith("resolved 16" if how == "close" else "resolved 0"), done.stdout


def test_capabilities_and_embed(make_engine):
    engine = make_engine()
    assert engine.capabilities == frozenset({"chat", "completions"})
    with pytest.raises(UnsupportedRequest):
        engine.embed(["hello"])


@pytest.mark.parametrize("kwargs", [{"batch_window_ms": -1}, {"max_batch_size": 0}, {"max_prompt_spread": -1}])
def test_invalid_batching_settings(kwargs):
    with pytest.raises(ValueError):
        CTranslate2Engine(CT2_DIR, **kwargs)
