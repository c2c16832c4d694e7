"""CTranslate2 engine against the real tiny model in tests/data/tiny-model (no mocks)."""

from __future__ import annotations

import pytest
import tokenizers

from node_agent.engines.ctranslate2_engine import CTranslate2Engine, GenerationParams
from tests.support.tiny_model import CASE, CASES, CT2_DIR, GREEDY, run


@pytest.fixture(scope="module")
def engine():
    with CTranslate2Engine(CT2_DIR, intra_threads=1) as eng:
        yield eng


@pytest.fixture(scope="module")
def tokenizer():
    return tokenizers.Tokenizer.from_file(str(CT2_DIR / "tokenizer.json"))


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_greedy_matches_expected(engine, case):
    result = run(engine, case, GREEDY)
    assert result.text == case["expected_text"]
    assert result.finish_reason == "stop"
    assert result.prompt_tokens == len(case["prompt_ids"])
    assert result.completion_tokens == len(case["expected_ids"])


def test_render_chat_matches_expected_prompt(engine):
    case = CASE["chat_capital"]
    assert engine.render_chat(case["messages"]) == case["prompt"]
    assert engine.chat_template.from_model


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


def test_unseeded_sampling_runs(engine):
    result = engine.complete("one", GenerationParams(temperature=0.8, top_p=0.9, top_k=10, max_tokens=8))
    assert result.finish_reason in ("stop", "length")
    assert 1 <= result.completion_tokens <= 8


def test_invalid_message_error_names_the_problem(engine):
    with pytest.raises(ValueError, match=r"messages\[1\]\.role"):
        engine.render_chat([{"role": "user", "content": "a"}, {"role": "tool", "content": "b"}])


def test_prompt_longer_than_context(engine):
    with pytest.raises(ValueError, match="context"):
        engine.complete("one two three " * 200, GREEDY)


def test_fallback_template_prompt_gets_bos_token(engine):
    # test_engine_contract shows a chat rendered without BOS (the fallback template) is tokenized
    # as the same raw prompt; here, that CTranslate2's tokenizer adds BOS to it.
    rendered = "system: Be brief.\nuser: Hi\nassistant:"
    expected_prompt = engine.tokenizer.encode(rendered)
    assert expected_prompt.tokens[0] == "<s>"
    result = engine.complete(rendered, GenerationParams(temperature=0, max_tokens=5))
    assert result.prompt_tokens == len(expected_prompt.ids)
