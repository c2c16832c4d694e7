"""CTranslate2 engine against the real tiny model in tests/data/tiny-model (no mocks)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import tokenizers

from node_agent.engines.common import UnsupportedRequest, validate_messages
from node_agent.engines.ctranslate2_engine import (
    Completion,
    CTranslate2Engine,
    GenerationParams,
)

DATA = Path(__file__).resolve().parent.parent / "data" / "tiny-model"
CT2_DIR = DATA / "ct2"
EXPECTED = json.loads((DATA / "expected.json").read_text(encoding="utf-8"))
CASES = EXPECTED["cases"]
CASE = {c["name"]: c for c in CASES}
GREEDY = GenerationParams(temperature=0, max_tokens=64)


@pytest.fixture(scope="module")
def engine():
    with CTranslate2Engine(CT2_DIR, intra_threads=1) as eng:
        yield eng


@pytest.fixture(scope="module")
def tokenizer():
    return tokenizers.Tokenizer.from_file(str(CT2_DIR / "tokenizer.json"))


def run(engine: CTranslate2Engine, case: dict, params: GenerationParams) -> Completion:
    if case["kind"] == "chat":
        return engine.chat(case["messages"], params)
    return engine.complete(case["prompt"], params)


def stream_input(case: dict):
    return case["messages"] if case["kind"] == "chat" else case["prompt"]


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_greedy_matches_expected(engine, case):
    result = run(engine, case, GREEDY)
    assert result.text == case["expected_text"]
    assert result.finish_reason == "stop"
    assert result.prompt_tokens == len(case["prompt_ids"])
    assert result.completion_tokens == len(case["expected_ids"])


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_stream_equals_non_streaming(engine, case):
    stream = engine.stream(stream_input(case), GREEDY)
    deltas = list(stream)
    assert "".join(deltas) == case["expected_text"]
    assert all("\ufffd" not in d for d in deltas)
    assert stream.finish_reason == "stop"
    assert stream.prompt_tokens == len(case["prompt_ids"])
    assert stream.completion_tokens == len(case["expected_ids"])
    assert stream.completion == run(engine, case, GREEDY)


def test_stream_unicode_never_splits_characters(engine):
    case = CASE["unicode"]
    deltas = list(engine.stream(case["prompt"], GREEDY))
    assert "".join(deltas) == " café, naïve, Köln, 東京 ☕"
    for delta in deltas:
        assert "\ufffd" not in delta
        delta.encode("utf-8")  # no lone surrogates either
    # Multi-token characters arrive whole: fewer deltas than tokens.
    assert len(deltas) < len(case["expected_ids"])
    assert any("東" in d for d in deltas)


def test_render_chat_matches_expected_prompt(engine):
    case = CASE["chat_capital"]
    assert engine.render_chat(case["messages"]) == case["prompt"]
    assert engine.chat_template.from_model


@pytest.mark.parametrize("streaming", [False, True])
def test_stop_string_cuts_output(engine, streaming):
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
    # Generation stopped early: "Ġs", "ix" were generated (6 tokens), not the whole sentence.
    assert used == 6


def test_stop_string_partial_prefix_is_never_emitted(engine):
    # " sev" is first a possible prefix of " seventy"; it must be held back, then released when
    # the text diverges. " nine" is the real stop.
    params = GenerationParams(temperature=0, max_tokens=64, stop=[" seventy", " nine"])
    deltas = list(engine.stream("one two three", params))
    assert "".join(deltas) == " four five six seven eight"
    assert engine.complete("one two three", params).text == " four five six seven eight"


def test_stop_string_earliest_wins_and_inside_token(engine):
    params = GenerationParams(temperature=0, max_tokens=64, stop=["ive", "ou"])
    # "ou" is a whole token of " four"; "ive" comes later.
    assert engine.complete("one two three", params).text == " f"
    assert "".join(engine.stream("one two three", params)) == " f"


def test_stop_string_in_multibyte_text(engine):
    params = GenerationParams(temperature=0, max_tokens=64, stop=["京"])
    expected = " café, naïve, Köln, 東"
    assert engine.complete("Unicode test:", params).text == expected
    deltas = list(engine.stream("Unicode test:", params))
    assert "".join(deltas) == expected and all("\ufffd" not in d for d in deltas)


@pytest.mark.parametrize("streaming", [False, True])
def test_max_tokens_gives_length(engine, streaming):
    params = GenerationParams(temperature=0, max_tokens=3)
    if streaming:
        stream = engine.stream("one two three", params)
        text = "".join(stream)
        result = stream.completion
    else:
        result = engine.complete("one two three", params)
        text = result.text
    assert text == " four"
    assert result.text == text
    assert result.finish_reason == "length"
    assert result.completion_tokens == 3


def test_usage_matches_tokenizer(engine, tokenizer):
    for case in CASES:
        result = run(engine, case, GREEDY)
        if case["kind"] == "chat":
            prompt_ids = tokenizer.encode(case["prompt"], add_special_tokens=False).ids
        else:
            prompt_ids = tokenizer.encode(case["prompt"]).ids
        assert result.prompt_tokens == len(prompt_ids) == len(case["prompt_ids"])
        assert result.completion_tokens == len(case["expected_ids"])
        assert tokenizer.decode(case["expected_ids"], skip_special_tokens=True) == result.text


def test_on_finish_callback(engine):
    seen: list[Completion] = []
    stream = engine.stream("The quick brown fox", GREEDY, on_finish=seen.append)
    assert "".join(stream) == CASE["fox"]["expected_text"]
    assert seen == [stream.completion]


@pytest.mark.parametrize("streaming", [False, True])
def test_seed_makes_sampling_reproducible(engine, streaming):
    def sample(seed: int) -> str:
        params = GenerationParams(temperature=1.0, top_k=5, max_tokens=24, seed=seed)
        if streaming:
            return "".join(engine.stream("hello world", params))
        return engine.complete("hello world", params).text

    first = [sample(seed) for seed in range(6)]
    assert [sample(seed) for seed in range(6)] == first
    assert len(set(first)) > 1  # different seeds do sample differently


def test_seeded_stream_equals_seeded_complete(engine):
    params = GenerationParams(temperature=1.0, top_k=5, top_p=0.9, max_tokens=24, seed=7, stop=["."])
    result = engine.complete("Say", params)
    stream = engine.stream("Say", params)
    assert "".join(stream) == result.text
    assert stream.completion == result


def test_seeded_low_temperature_follows_the_model(engine):
    params = GenerationParams(temperature=0.01, max_tokens=64, seed=1)
    assert engine.complete("The quick brown fox", params).text == CASE["fox"]["expected_text"]


def test_unseeded_sampling_runs(engine):
    result = engine.complete("one", GenerationParams(temperature=0.8, top_p=0.9, top_k=10, max_tokens=8))
    assert result.finish_reason in ("stop", "length")
    assert 1 <= result.completion_tokens <= 8


@pytest.mark.parametrize(
    "messages",
    [
        [],
        "hello",
        [{"role": "robot", "content": "hi"}],
        [{"role": "user"}],
        [{"role": "user", "content": ["a", "b"]}],
        [{"role": "user", "content": None}],
        ["user: hi"],
    ],
)
def test_invalid_messages(engine, messages):
    with pytest.raises(ValueError):
        engine.chat(messages, GREEDY)
    if not isinstance(messages, str):  # stream() takes a str as a raw prompt
        with pytest.raises(ValueError):
            engine.stream(messages, GREEDY)
    with pytest.raises(ValueError):
        validate_messages(messages)


def test_invalid_message_error_names_the_problem(engine):
    with pytest.raises(ValueError, match=r"messages\[1\]\.role"):
        engine.render_chat([{"role": "user", "content": "a"}, {"role": "tool", "content": "b"}])


@pytest.mark.parametrize(
    "kwargs",
    [{"max_tokens": 0}, {"temperature": -1}, {"top_p": 0}, {"top_k": -1}, {"stop": "x"}, {"stop": [""]}],
)
def test_invalid_params(kwargs):
    with pytest.raises(ValueError):
        GenerationParams(**kwargs)


def test_prompt_longer_than_context(engine):
    with pytest.raises(ValueError, match="context"):
        engine.complete("one two three " * 200, GREEDY)


def _copy_model(tmp_path: Path, edit) -> Path:
    target = tmp_path / "ct2"
    shutil.copytree(CT2_DIR, target)
    config_path = target / "tokenizer_config.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    edit(config)
    config_path.write_text(json.dumps(config), encoding="utf-8")
    return target


def test_fallback_template_without_chat_template(tmp_path):
    model_dir = _copy_model(tmp_path, lambda c: c.pop("chat_template"))
    with CTranslate2Engine(model_dir) as eng:
        assert not eng.chat_template.from_model
        messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
        assert eng.render_chat(messages) == "system: Be brief.\nuser: Hi\nassistant:"
        result = eng.chat(messages, GenerationParams(temperature=0, max_tokens=5))
        # No BOS in the rendered text, so the tokenizer adds it: BOS + tokens of the text.
        expected_prompt = eng.tokenizer.encode("system: Be brief.\nuser: Hi\nassistant:")
        assert expected_prompt.tokens[0] == "<s>"
        assert result.prompt_tokens == len(expected_prompt.ids)
        assert 1 <= result.completion_tokens <= 5
        assert "".join(eng.stream(messages, GenerationParams(temperature=0, max_tokens=5))) == result.text
        with pytest.raises(ValueError):
            eng.chat([{"role": "user", "content": 1}])


def test_template_raise_exception_becomes_value_error(tmp_path):
    template = "{% if messages[0]['role'] != 'user' %}{{ raise_exception('first must be user') }}{% endif %}x"
    model_dir = _copy_model(tmp_path, lambda c: c.update(chat_template=template))
    with CTranslate2Engine(model_dir) as eng:
        assert eng.render_chat([{"role": "user", "content": "a"}]) == "x"
        with pytest.raises(ValueError, match="first must be user"):
            eng.render_chat([{"role": "system", "content": "a"}])


@pytest.mark.parametrize("template", ["{{ messages.__class__.__mro__ }}", "{{ messages.append(1) }}"])
def test_template_is_sandboxed(tmp_path, template):
    # Templates come from the network: no Python internals, no mutating the request.
    model_dir = _copy_model(tmp_path, lambda c: c.update(chat_template=template))
    with CTranslate2Engine(model_dir) as eng:
        with pytest.raises(ValueError, match="unsafe"):
            eng.render_chat([{"role": "user", "content": "a"}])


def test_broken_template_disables_chat_only(tmp_path):
    model_dir = _copy_model(tmp_path, lambda c: c.update(chat_template="{% for m in messages %}"))
    with CTranslate2Engine(model_dir) as eng:
        assert eng.capabilities == {"completions"}
        with pytest.raises(UnsupportedRequest, match="chat template"):
            eng.chat([{"role": "user", "content": "a"}], GREEDY)
        assert eng.complete("one two three", GREEDY).text == CASE["count"]["expected_text"]


def test_close_is_idempotent_and_blocks_use(tmp_path):
    eng = CTranslate2Engine(CT2_DIR)
    eng.close()
    eng.close()
    with pytest.raises(RuntimeError):
        eng.complete("one", GREEDY)
