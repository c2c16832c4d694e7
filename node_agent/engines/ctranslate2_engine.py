"""CTranslate2 engine: turns OpenAI-style completion and chat requests into text for one model.

The node's HTTP layer (later) will call this module; it is pure Python on top of
`ctranslate2.Generator` (the weights), `tokenizers.Tokenizer` (`tokenizer.json`) and the model's
`tokenizer_config.json` (`bos_token`, `eos_token`, `chat_template`), which is what a CTranslate2
model converted from a Hugging Face repo ships with.

Design notes (the "why"):

* Prompts are tokenized here, not by CTranslate2, so the token counts we report as usage are the
  ones the model actually saw. A raw completion prompt is encoded *with* special tokens (the
  tokenizer's post-processor prepends `<s>`, as Llama tokenizers do). A chat prompt rendered from
  `chat_template` usually writes `<s>` itself, so it is encoded *without* special tokens when the
  rendered text already starts with the BOS token (what `transformers.apply_chat_template` and
  llama-cpp-python do); otherwise a double BOS would be fed to the model.
* Chat templates come from the network (a Hub repo), so they are rendered in Jinja2's
  `ImmutableSandboxedEnvironment` (module `chat_template`, shared with the llama.cpp engine): a
  template cannot reach Python internals or mutate its inputs; one that does not compile leaves
  the model with completions only.
* Streaming decodes the *whole* list of generated ids at every step and emits only the new
  suffix. Byte-level BPE splits characters like "東" over several tokens; decoding token by token
  would produce U+FFFD halves. Text that ends in U+FFFD is held back until the next token
  completes it. Stop strings are handled on the same text: output is cut at the earliest stop
  string, and any tail that could still become a stop string is held back, so no part of a stop
  string is ever emitted. Decoding the whole list is O(n^2) in the number of generated tokens,
  which is negligible next to the model for the output lengths served here.
* Concurrent requests are batched: every non-seeded request goes to a `Batcher`
  (`ct2_batcher`), which runs compatible requests that arrive together as ONE `generate_batch`
  and streams each item through its own queue from the per-step callback (see that module for the
  gather window and what "compatible" means). Greedy output is the same batched or alone (checked
  on the tiny model's cases). `stream()` hands the queued ids to a `CompletionStream`;
  `complete()`/`chat()` read the same ids, so the streamed concatenation always equals the
  non-streaming text. Without stop strings `complete()` decodes once at the end instead of at
  every token. Stop strings and `CompletionStream.close()` end only that request's item.
* Seeds: CTranslate2's sampler uses a *thread-local* `std::mt19937` in each worker thread, seeded
  once from `ctranslate2.set_random_seed()` when that thread first samples; calling
  `set_random_seed` again later has no effect on it (checked with ctranslate2 4.8.5), so it cannot
  give per-request reproducibility. A request with a `seed` (and temperature > 0) is therefore
  sampled here, in Python, from the logits of `Generator.forward_batch` with a
  `numpy.random.Generator(seed)`. That path has no KV cache (each step re-runs the whole
  sequence) and is slower; it is used only when a client asks for a seed, and is not batched.
* Token accounting: `completion_tokens` counts the tokens the model generated, excluding the end
  token (`</s>`), including the token that completed a stop string (it was generated and paid
  for). `finish_reason` is "stop" for the end token or a stop string, "length" when `max_tokens`
  (or the context window) ran out.
"""

from __future__ import annotations

import json
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import ctranslate2
import numpy as np
import tokenizers

from node_agent.engines.chat_template import ChatTemplate
from node_agent.engines.common import (  # noqa: F401 - re-exported for callers of this engine
    ClosableEngine,
    Completion,
    CompletionStream,
    Embeddings,
    FinishReason,
    GenerationParams,
    TextAssembler,
    TokenSource,
    UnsupportedRequest,
    sample_token,
)
from node_agent.engines.ct2_batcher import (  # noqa: F401 - re-exported: callers may catch them
    Batcher,
    BatchRequest,
    EngineClosed,
    GenerationFailed,
    SamplingOptions,
)

class CTranslate2Engine(ClosableEngine):
    """One CTranslate2 model loaded for generation. Use as a context manager or call close().

    Why close() matters: a `ctranslate2.Generator` still alive when the interpreter shuts down can
    abort the process (its worker threads and allocator are torn down in an unsafe order), so the
    owner must delete it explicitly before exit. As a safety net, an engine that is garbage
    collected or still open at exit is closed by a `weakref.finalize` (the Generator and the batch
    threads live in the `Batcher`, which holds no reference back to the engine).

    Batching knobs (see `ct2_batcher`): `batch_window_ms` (gather window for a request that finds
    the engine idle), `max_batch_size`, `max_prompt_spread` (tokens). Other keyword arguments go
    to `ctranslate2.Generator` (e.g. `intra_threads`, `inter_threads`: one batch runs per replica).
    """

    def __init__(
        self,
        model_dir: Path,
        device: str = "cpu",
        compute_type: str = "default",
        *,
        batch_window_ms: float = 3.0,
        max_batch_size: int = 16,
        max_prompt_spread: int = 32,
        **generator_kwargs: Any,
    ) -> None:
        self.model_dir = Path(model_dir)
        config_path = self.model_dir / "tokenizer_config.json"
        config = json.loads(config_path.read_text(encoding="utf-8")) if config_path.is_file() else {}
        self.bos_token = _token_text(config.get("bos_token"))
        self.eos_token = _token_text(config.get("eos_token"))
        template = config.get("chat_template")
        if isinstance(template, list):  # newer HF format: [{"name": "default", "template": "..."}]
            named = {t.get("name"): t.get("template") for t in template if isinstance(t, dict)}
            template = named.get("default") or next(iter(named.values()), None)
        max_len = config.get("model_max_length")
        # HF writes a huge sentinel (1e30) when unknown; treat anything silly as "no limit".
        self.context_length: int | None = int(max_len) if isinstance(max_len, (int, float)) and 0 < max_len < 10**7 else None

        self.tokenizer = tokenizers.Tokenizer.from_file(str(self.model_dir / "tokenizer.json"))
        self.chat_template = ChatTemplate(template, self.model_dir.name)
        self.capabilities = frozenset({"completions"} | ({"chat"} if self.chat_template.usable else set()))

        # End tokens: CTranslate2's own (config.json) plus the tokenizer's eos, if different
        # (chat models often end turns with a token other than the base model's eos).
        ct2_config_path = self.model_dir / "config.json"
        ct2_config = json.loads(ct2_config_path.read_text(encoding="utf-8")) if ct2_config_path.is_file() else {}
        end_tokens = [t for t in (ct2_config.get("eos_token"), self.eos_token) if t]
        self._end_tokens = [t for t in dict.fromkeys(end_tokens) if self.tokenizer.token_to_id(t) is not None]
        self._end_ids = {self.tokenizer.token_to_id(t) for t in self._end_tokens}
        Batcher.check_settings(batch_window_ms / 1000, max_batch_size, max_prompt_spread)
        # The request batcher owns the Generator; its batches_run/largest_batch show batching at work.
        self.batcher = Batcher(
            ctranslate2.Generator(str(self.model_dir), device=device, compute_type=compute_type, **generator_kwargs),
            self._end_tokens or None,
            window_s=batch_window_ms / 1000,
            max_batch_size=max_batch_size,
            max_prompt_spread=max_prompt_spread,
        )
        # Runs batcher.close() once: from close(), when the engine is collected, or at exit.
        self._finalizer = weakref.finalize(self, self.batcher.close)

    # ------------------------------------------------------------------ lifecycle
    def close(self) -> None:
        """Free the model now (see the class docstring for why this must happen before exit).

        Requests not started fail with EngineClosed; running ones stop at their next step and
        their readers get EngineClosed too. `batcher`'s counters stay readable.
        """
        self._finalizer()

    @property
    def generator(self) -> ctranslate2.Generator:
        """The loaded model; EngineClosed (a RuntimeError) once the engine is closed."""
        return self.batcher.generator

    # ------------------------------------------------------------------ prompts
    def render_chat(self, messages: list[dict]) -> str:
        """Render messages with the model's chat template (or the plain fallback)."""
        return self.chat_template.render(messages, self.bos_token, self.eos_token)

    def _encode_prompt(self, prompt: str) -> list[str]:
        return self.tokenizer.encode(prompt, add_special_tokens=True).tokens

    def _encode_chat(self, messages: list[dict]) -> list[str]:
        rendered = self.render_chat(messages)
        # The template wrote BOS itself: do not let the post-processor add a second one.
        add_special = not (self.bos_token and rendered.startswith(self.bos_token))
        return self.tokenizer.encode(rendered, add_special_tokens=add_special).tokens

    def _prepare(self, prompt_or_messages: str | list[dict]) -> list[str]:
        if isinstance(prompt_or_messages, str):
            tokens = self._encode_prompt(prompt_or_messages)
        else:
            tokens = self._encode_chat(prompt_or_messages)
        if not tokens:  # only a tokenizer that adds no BOS can get here; CTranslate2 would fail the batch
            raise ValueError("prompt is empty: give at least one token of text")
        return tokens

    def _budget(self, prompt_tokens: list[str], params: GenerationParams) -> int:
        """New tokens allowed: max_tokens, clipped to what is left of the context window."""
        if self.context_length is None:
            return params.max_tokens
        left = self.context_length - len(prompt_tokens)
        if left < 1:
            raise ValueError(
                f"prompt is {len(prompt_tokens)} tokens; the model's context is {self.context_length} tokens"
            )
        return min(params.max_tokens, left)

    # ------------------------------------------------------------------ generation
    @staticmethod
    def _sampling_options(params: GenerationParams) -> SamplingOptions:
        if params.greedy:
            return SamplingOptions(sampling_topk=1)
        return SamplingOptions(
            sampling_topk=params.top_k, sampling_topp=params.top_p, sampling_temperature=params.temperature
        )

    def _seeded_steps(self, prompt_tokens: list[str], params: GenerationParams, max_new: int) -> Iterator[int]:
        """Reproducible sampling for seeded requests (see module docstring: why not CTranslate2's)."""
        rng = np.random.default_rng(params.seed)
        ids = [self.tokenizer.token_to_id(t) for t in prompt_tokens]
        for _ in range(max_new):
            logits = self.generator.forward_batch([ids])
            if logits.device != "cpu":
                logits = logits.to_device(ctranslate2.Device.cpu)
            if logits.dtype != ctranslate2.DataType.float32:
                logits = logits.to(ctranslate2.DataType.float32)
            scores = np.array(logits, dtype=np.float64)[0, -1] / params.temperature
            token_id = sample_token(scores, params.top_k, params.top_p, rng)
            yield token_id
            if token_id in self._end_ids:
                return
            ids.append(token_id)

    def _token_ids(self, prompt_tokens: list[str], params: GenerationParams, max_new: int) -> TokenSource:
        """Generated ids (without the end token) of one request: batched, or the seeded path."""
        if params.seed is not None and not params.greedy:
            return TokenSource(self._seeded_steps(prompt_tokens, params, max_new), self._end_ids)
        request = BatchRequest(prompt_tokens, max_new, self._sampling_options(params))
        self.batcher.submit(request)
        return TokenSource(request, self._end_ids)

    def stream(
        self,
        prompt_or_messages: str | list[dict],
        params: GenerationParams | None = None,
        on_finish: Callable[[Completion], None] | None = None,
    ) -> CompletionStream:
        """Stream text deltas for a raw prompt (str) or chat messages (list of dicts).

        Prompt errors (bad messages, prompt too long) raise ValueError here, before the first
        delta, so the HTTP layer can still answer with a 400. Generation starts now (the request
        joins a batch), not at the first next().
        """
        params = params or GenerationParams()
        prompt_tokens = self._prepare(prompt_or_messages)
        max_new = self._budget(prompt_tokens, params)
        source = self._token_ids(prompt_tokens, params, max_new)
        assembler = TextAssembler(self.tokenizer, params.stop)
        return CompletionStream(source, assembler, len(prompt_tokens), max_new, on_finish)

    def _generate(self, prompt_tokens: list[str], params: GenerationParams) -> Completion:
        max_new = self._budget(prompt_tokens, params)
        source = self._token_ids(prompt_tokens, params, max_new)
        assembler = TextAssembler(self.tokenizer, params.stop)
        try:
            if params.stop:  # watch every token, so the item stops as soon as a stop string shows
                for token_id in source:
                    assembler.push(token_id)
                    if assembler.stopped:
                        break
            else:  # nothing to watch: decode once at the end
                assembler.ids = list(source)
        finally:
            source.close()  # ends the batch item early after a stop string; no-op otherwise
        generated = len(assembler.ids)
        assembler.finish()
        reason: FinishReason = "stop" if source.hit_end or assembler.stopped else "length"
        return Completion(assembler.text, reason, len(prompt_tokens), generated)

    def complete(self, prompt: str, params: GenerationParams | None = None) -> Completion:
        """Raw text completion of `prompt` (BOS is added by the tokenizer)."""
        if not isinstance(prompt, str):
            raise ValueError("prompt must be a string")
        return self._generate(self._prepare(prompt), params or GenerationParams())

    def chat(self, messages: list[dict], params: GenerationParams | None = None) -> Completion:
        """Chat completion: messages rendered with the chat template, then generated."""
        if isinstance(messages, str):  # _prepare would take it for a raw prompt
            raise ValueError("messages must be a non-empty list of {'role', 'content'} objects")
        return self._generate(self._prepare(messages), params or GenerationParams())

    def embed(self, inputs: list[str]) -> Embeddings:
        """Generation models do not embed here (CTranslate2 encoders have their own engine)."""
        raise UnsupportedRequest("this model generates text; it cannot create embeddings")


def _token_text(token: Any) -> str:
    """tokenizer_config.json writes special tokens as a string or as {"content": ...}."""
    if isinstance(token, dict):
        token = token.get("content")
    return token if isinstance(token, str) else ""
