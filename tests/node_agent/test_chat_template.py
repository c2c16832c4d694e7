"""Chat templates as transformers renders them: the helpers real templates call, the fallback,
refusals and templates that do not compile (node_agent/engines/chat_template.py)."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from node_agent.engines.chat_template import FALLBACK_CHAT_TEMPLATE, ChatTemplate
from node_agent.engines.common import UnsupportedRequest

USER = [{"role": "user", "content": "こんにちは <b>&"}]


def render(source: str | None, messages: list[dict] = USER) -> str:
    return ChatTemplate(source, "test-model").render(messages, bos_token="<s>", eos_token="</s>")


def test_model_template_gets_messages_tokens_and_generation_prompt() -> None:
    source = "{{ bos_token }}{% for m in messages %}[{{ m.role }}]{{ m.content }}{{ eos_token }}{% endfor %}" \
             "{% if add_generation_prompt %}[assistant]{% endif %}"
    assert render(source) == "<s>[user]こんにちは <b>&</s>[assistant]"


@pytest.mark.parametrize("source", [None, ""])
def test_no_template_uses_the_documented_fallback(source: str | None) -> None:
    template = ChatTemplate(source, "test-model")
    assert not template.from_model and template.source == FALLBACK_CHAT_TEMPLATE and template.usable
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    assert render(source, messages) == "system: Be brief.\nuser: Hi\nassistant:"


def test_strftime_now_prints_todays_date() -> None:
    # Llama 3.x templates: {%- set date_string = strftime_now("%d %b %Y") %}
    rendered = render('{{ strftime_now("%d %b %Y") }}')
    assert rendered == datetime.now().strftime("%d %b %Y")


def test_tojson_keeps_text_as_it_is() -> None:
    # Jinja's own tojson would write \u3053... and \u003cb\u003e; transformers' keeps the text.
    rendered = render("{{ messages[0] | tojson }}")
    assert rendered == json.dumps(USER[0], ensure_ascii=False)
    assert render("{{ messages[0] | tojson(indent=2) }}") == json.dumps(USER[0], ensure_ascii=False, indent=2)


def test_loop_controls_are_available() -> None:
    messages = [{"role": "user", "content": str(i)} for i in range(5)]
    assert render("{% for m in messages %}{% if loop.index > 2 %}{% break %}{% endif %}{{ m.content }}{% endfor %}",
                  messages) == "01"


def test_raise_exception_is_a_client_error() -> None:
    source = "{% if messages[0].role != 'system' %}{{ raise_exception('a system message must come first') }}{% endif %}"
    with pytest.raises(ValueError, match="chat template error: a system message must come first"):
        render(source)


@pytest.mark.parametrize("source", ["{{ ''.__class__.__mro__ }}", "{{ messages.append(1) }}"])
def test_template_cannot_reach_python_internals_or_change_the_request(source: str) -> None:
    with pytest.raises(ValueError, match="unsafe"):
        render(source)


def test_template_that_does_not_compile_disables_chat_only() -> None:
    template = ChatTemplate("{% for m in messages %}", "broken-model")
    assert template.from_model and not template.usable and template.error
    with pytest.raises(UnsupportedRequest, match="chat template cannot be used"):
        template.render(USER, bos_token="", eos_token="")


def test_messages_are_validated_before_rendering() -> None:
    with pytest.raises(ValueError, match="role"):
        render(FALLBACK_CHAT_TEMPLATE, [{"role": "wizard", "content": "x"}])
