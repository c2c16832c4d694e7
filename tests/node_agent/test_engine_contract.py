"""The behaviour every generation engine must share, run on both engines (CTranslate2 and
llama.cpp) against the real tiny model in tests/data/tiny-model (no mocks): the same answers,
stop strings, streaming, usage, sampling with seeds, chat templates and close.

What only one engine has (its tokenizer API, embeddings, threads, settings) is tested in that
engine's own file.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from node_agent.engines.common import Completion, GenerationParams, UnsupportedRequest, validate_messages
from node_agent.engines.ctranslate2_engine import CTranslate2Engine
from node_agent.engines.llamacpp_engine import LlamaCppEngine
from tests.support.tiny_model import CASE, CASES, CT2_DIR, GGUF, GREEDY, case_input, run

ENGINE_KINDS = ["ctranslate2", "llama_cpp"]

Engine = CTranslate2Engine | LlamaCppEngine
EngineWithTemplate = Callable[[str | None], Engine]


def open_engine(kind: str) -> Engine:
    """A fresh engine of `kind` on the tiny model with the model's own chat template."""
    if kind == "ctranslate2":
        return CTranslate2Engine(CT2_DIR, intra_threads=1)
    return LlamaCppEngine(GGUF, n_threads=1)


@pytest.fixture(scope="module", params=ENGINE_KINDS)
def engine_kind(request: pytest.FixtureRequest) -> str:
    """Which engine a test runs on; `engine` and `engine_with_template` share it, so a test that
    takes both gets two engines of the same kind."""
    return request.param


@pytest.fixture(scope="module")
def engine(engine_kind: str) -> Iterator[Engine]:
    """One engine per kind for the whole module: loading is the slow part, requests leave no state."""
    with open_engine(engine_kind) as eng:
        yield eng


@pytest.fixture
def engine_with_template(engine_kind: str, tmp_path: Path) -> Iterator[EngineWithTemplate]:
    """Makes engines whose chat template is `template` (None: the model has none).

    The engines take a template from different places: CTranslate2 reads the model dir's
    tokenizer_config.json (so the model is copied and the copy edited), llama.cpp takes
    `chat_template=` ("" for none). Every engine made is closed at teardown.
    """
    made: list[Engine] = []

    def make(template: str | None) -> Engine:
        if engine_kind == "ctranslate2":
            model_dir = tmp_path / f"ct2-{len(made)}"
            shutil.copytree(CT2_DIR, model_dir)
            config_path = model_dir / "tokenizer_config.json"
            config = json.loads(config_path.read_text(encoding="utf-8"))
            config.pop("chat_template")
            if template is not None:
                config["chat_template"] = template
            config_path.write_text(json.dumps(config), encoding="utf-8")
            made.append(CTranslate2Engine(model_dir, intra_threads=1))
        else:
            made.append(LlamaCppEngine(GGUF, n_threads=1, chat_template="" if template is None else template))
        return made[-1]

    yield make
    for eng in made:
        eng.close()


# ---------------------------------------------------------------- streaming and usage
@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_stream_equals_non_streaming(engine: Engine, case: dict) -> None:
    stream = engine.stream(case_input(case), GREEDY)
    deltas = list(stream)
    assert "".join(deltas) == case["expected_text"]
    assert all("\ufffd" not in d for d in deltas)
    assert stream.finish_reason == "stop"
    assert stream.prompt_tokens == len(case["prompt_ids"])
    assert stream.completion_tokens == len(case["expected_ids"])
    assert stream.completion == run(engine, case, GREEDY)


def test_stream_unicode_never_splits_characters(engine: Engine) -> None:
    case = CASE["unicode"]
    deltas = list(engine.stream(case["prompt"], GREEDY))
    assert "".join(deltas) == " café, naïve, Köln, 東京 ☕"
    for delta in deltas:
        assert "\ufffd" not in delta
        delta.encode("utf-8")  # no lone surrogates either
    # Multi-token characters arrive whole: fewer deltas than tokens, each such character one delta.
    assert len(deltas) < len(case["expected_ids"])
    assert "東" in deltas and "☕" in deltas


def test_on_finish_callback(engine: Engine) -> None:
    seen: list[Completion] = []
    stream = engine.stream("The quick brown fox", GREEDY, on_finish=seen.append)
    assert "".join(stream) == CASE["fox"]["expected_text"]
    assert seen == [stream.completion]


# ---------------------------------------------------------------- stop strings and limits
@pytest.mark.parametrize("streaming", [False, True])
def test_stop_string_cuts_output(engine: Engine, streaming: bool) -> None:
    params = GenerationParams(temperature=0, max_tokens=64, stop=[" six"])
    if streaming:
        stream = engine.stream("one two three", params)
        text = "".join(stream)
        reason, used = stream.finish_reason, stream.completion_tokens
    else:
        result = engine.complete("one two three", params)
        text, reason, used = result.text, result.finish_reason, result.completion_tokens
    assert text == " four five"
    assert reason == "stop"
    # Generation stopped early: "Ġs", "ix" completed the stop string (6 tokens), not the whole sentence.
    assert used == 6


def test_stop_string_partial_prefix_is_never_emitted(engine: Engine) -> None:
    # " sev" is first a possible prefix of " seventy": held back, then released when the text
    # diverges. " nine" is the real stop.
    params = GenerationParams(temperature=0, max_tokens=64, stop=[" seventy", " nine"])
    deltas = list(engine.stream("one two three", params))
    assert "".join(deltas) == " four five six seven eight"
    assert not any(" nin" in d for d in deltas)
    assert engine.complete("one two three", params).text == " four five six seven eight"


def test_stop_string_earliest_wins_and_inside_token(engine: Engine) -> None:
    params = GenerationParams(temperature=0, max_tokens=64, stop=["ive", "ou"])
    # "ou" is inside the token " four"; "ive" comes later.
    assert engine.complete("one two three", params).text == " f"
    assert "".join(engine.stream("one two three", params)) == " f"


def test_stop_string_in_multibyte_text(engine: Engine) -> None:
    params = GenerationParams(temperature=0, max_tokens=64, stop=["京"])
    expected = " café, naïve, Köln, 東"
    assert engine.complete("Unicode test:", params).text == expected
    deltas = list(engine.stream("Unicode test:", params))
    assert "".join(deltas) == expected and all("\ufffd" not in d for d in deltas)


@pytest.mark.parametrize("streaming", [False, True])
def test_max_tokens_gives_length(engine: Engine, streaming: bool) -> None:
    params = GenerationParams(temperature=0, max_tokens=3)
    if streaming:
        stream = engine.stream("one two three", params)
        text = "".join(stream)
        result = stream.completion
    else:
        result = engine.complete("one two three", params)
        text = result.text
    assert text == result.text == " four"
    assert result.finish_reason == "length"
    assert result.completion_tokens == 3


# ---------------------------------------------------------------- sampling
@pytest.mark.parametrize("streaming", [False, True])
def test_seed_makes_sampling_reproducible(engine: Engine, streaming: bool) -> None:
    def sample(seed: int) -> str:
        params = GenerationParams(temperature=1.0, top_k=5, max_tokens=24, seed=seed)
        if streaming:
            return "".join(engine.stream("hello world", params))
        return engine.complete("hello world", params).text

    first = [sample(seed) for seed in range(6)]
    assert [sample(seed) for seed in range(6)] == first
    # The model knows nothing about "hello world": its next-token distribution is flat enough
    # that seeds 0 and 1 already pick different tokens.
    assert first[0] != first[1]
    assert len(set(first)) > 1


def test_seeded_stream_equals_seeded_complete(engine: Engine) -> None:
    params = GenerationParams(temperature=1.0, top_k=5, top_p=0.9, max_tokens=24, seed=7, stop=["."])
    result = engine.complete("Say", params)
    stream = engine.stream("Say", params)
    assert "".join(stream) == result.text
    assert stream.completion == result


@pytest.mark.parametrize("top_p", [1.0, 0.5])
def test_seeded_low_temperature_follows_the_model(engine: Engine, top_p: float) -> None:
    params = GenerationParams(temperature=0.01, top_p=top_p, max_tokens=64, seed=1)
    assert engine.complete("The quick brown fox", params).text == CASE["fox"]["expected_text"]


# ---------------------------------------------------------------- bad requests
@pytest.mark.parametrize(
    "messages",
    [
        [],
        "hello",
        [{"role": "robot", "content": "hi"}],
        [{"role": "user"}],
        [{"role": "user", "content": ["a"]}],
        [{"role": "user", "content": ["a", "b"]}],
        [{"role": "user", "content": None}],
        ["user: hi"],
    ],
)
def test_invalid_messages(engine: Engine, messages: object) -> None:
    with pytest.raises(ValueError):
        engine.chat(messages, GREEDY)
    if not isinstance(messages, str):  # stream() takes a str as a raw prompt
        with pytest.raises(ValueError):
            engine.stream(messages, GREEDY)
    with pytest.raises(ValueError):
        validate_messages(messages)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_tokens": 0},
        {"temperature": -1},
        {"top_p": 0},
        {"top_k": -1},
        {"stop": "x"},
        {"stop": [""]},
        {"seed": 1.5},
    ],
)
def test_invalid_params(kwargs: dict) -> None:
    # Both engines take the same GenerationParams: checked once, no engine needed.
    with pytest.raises(ValueError):
        GenerationParams(**kwargs)


# ---------------------------------------------------------------- chat templates
def test_fallback_template_without_chat_template(engine_with_template: EngineWithTemplate) -> None:
    eng = engine_with_template(None)
    assert not eng.chat_template.from_model
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    rendered = eng.render_chat(messages)
    assert rendered == "system: Be brief.\nuser: Hi\nassistant:"
    params = GenerationParams(temperature=0, max_tokens=5)
    result = eng.chat(messages, params)
    # No BOS in the rendered text, so the tokenizer adds it, as for a raw prompt (each engine's
    # file checks that a raw prompt gets BOS from its tokenizer).
    assert result == eng.complete(rendered, params)
    assert 1 <= result.completion_tokens <= 5
    assert "".join(eng.stream(messages, params)) == result.text
    with pytest.raises(ValueError):
        eng.chat([{"role": "user", "content": 1}])


def test_template_raise_exception_becomes_value_error(engine_with_template: EngineWithTemplate) -> None:
    template = "{% if messages[0]['role'] != 'user' %}{{ raise_exception('first must be user') }}{% endif %}x"
    eng = engine_with_template(template)
    assert eng.render_chat([{"role": "user", "content": "a"}]) == "x"
    with pytest.raises(ValueError, match="first must be user"):
        eng.render_chat([{"role": "system", "content": "a"}])
    with pytest.raises(ValueError, match="first must be user"):
        eng.chat([{"role": "system", "content": "a"}], GREEDY)


@pytest.mark.parametrize("template", ["{{ messages.__class__.__mro__ }}", "{{ messages.append(1) }}"])
def test_template_is_sandboxed(engine_with_template: EngineWithTemplate, template: str) -> None:
    # Templates come from the network: no Python internals, no mutating the request.
    eng = engine_with_template(template)
    with pytest.raises(ValueError, match="unsafe"):
        eng.render_chat([{"role": "user", "content": "a"}])


@pytest.mark.parametrize(
    "template", ["{% for m in messages %}", "{% generation %}{{ x }}"], ids=["unclosed_for", "unknown_tag"]
)
def test_broken_template_disables_chat_only(
    engine: Engine, engine_with_template: EngineWithTemplate, template: str
) -> None:
    eng = engine_with_template(template)
    assert "chat" in engine.capabilities
    assert eng.capabilities == engine.capabilities - {"chat"}  # completions (and embeddings) stay
    with pytest.raises(UnsupportedRequest, match="chat template"):
        eng.chat([{"role": "user", "content": "a"}], GREEDY)
    assert eng.complete("one two three", GREEDY).text == CASE["count"]["expected_text"]


# ---------------------------------------------------------------- lifecycle
def test_close_is_idempotent_and_blocks_use(engine_kind: str) -> None:
    eng = open_engine(engine_kind)
    assert eng.complete("one two three", GREEDY).text == CASE["count"]["expected_text"]
    eng.close()
    eng.close()
    with pytest.raises(RuntimeError, match="closed"):
        eng.complete("one", GREEDY)
