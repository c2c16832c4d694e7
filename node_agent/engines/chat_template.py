"""A model's chat template, compiled and rendered the way Hugging Face `transformers` does.

Both engines format chat requests with the template the model ships (`chat_template` in
`tokenizer_config.json`, or `tokenizer.chat_template` in a GGUF). Templates come from the network,
so they run in Jinja2's `ImmutableSandboxedEnvironment`. The environment offers what templates
written for `transformers.apply_chat_template` rely on: `raise_exception(message)`,
`strftime_now(format)` (Llama 3.x and Mistral templates print today's date), a `tojson` that keeps
non-ASCII text as it is, and the `loopcontrols` extension (`break`/`continue`).

A model without a template gets `FALLBACK_CHAT_TEMPLATE`: a plain, model-agnostic transcript. Base
models without a template were not trained on any chat format, so nothing better exists;
"assistant:" at the end asks the model to continue as the assistant. A template that does not
compile leaves the model without chat (completions still work), and chat requests are refused with
the reason instead of failing the whole model.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any

import jinja2.ext
from jinja2.exceptions import TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from node_agent.engines.common import UnsupportedRequest, validate_messages

__all__ = ["FALLBACK_CHAT_TEMPLATE", "ChatTemplate"]

log = logging.getLogger(__name__)

FALLBACK_CHAT_TEMPLATE = (
    "{% for message in messages %}{{ message['role'] }}: {{ message['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}assistant:{% endif %}"
)


def _raise_exception(message: str) -> None:
    """Many templates call raise_exception('...') on input they cannot format."""
    raise TemplateError(message)


def _strftime_now(date_format: str) -> str:
    return datetime.now().strftime(date_format)


def _tojson(value: Any, ensure_ascii: bool = False, indent: int | None = None,
            separators: tuple[str, str] | None = None, sort_keys: bool = False) -> str:
    """transformers' tojson: JSON as the model saw it in training (Jinja's own escapes <, > and &)."""
    return json.dumps(value, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def _environment() -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols])
    env.globals["raise_exception"] = _raise_exception
    env.globals["strftime_now"] = _strftime_now
    env.filters["tojson"] = _tojson
    return env


class ChatTemplate:
    """The compiled template of one model; `usable` is False when it does not compile."""

    def __init__(self, source: str | None, model_name: str) -> None:
        self.from_model = isinstance(source, str) and bool(source)
        self.source: str = source if self.from_model else FALLBACK_CHAT_TEMPLATE
        self.error: str | None = None
        self._template: jinja2.Template | None = None
        try:
            self._template = _environment().from_string(self.source)
        except TemplateError as exc:
            self.error = str(exc)
            log.warning("%s: chat template does not compile (%s); chat is disabled", model_name, exc)

    @property
    def usable(self) -> bool:
        return self._template is not None

    def render(self, messages: list[dict], bos_token: str, eos_token: str) -> str:
        """The prompt for `messages`. ValueError for messages the template refuses (a client error);
        UnsupportedRequest when the model's template cannot be used at all."""
        clean = validate_messages(messages)
        if self._template is None:
            raise UnsupportedRequest(f"this model's chat template cannot be used: {self.error}")
        try:
            return self._template.render(
                messages=clean, add_generation_prompt=True, bos_token=bos_token, eos_token=eos_token
            )
        except TemplateError as exc:  # template-level refusals (raise_exception) are input errors
            raise ValueError(f"chat template error: {exc}") from exc
