"""llama.cpp engine: OpenAI-style completion, chat and embedding requests on one GGUF model.

Built on llama-cpp-python's `Llama` (model, context, batch) and llama.cpp's C API (tokenizer,
sampler chain); the text side is `common.TextAssembler`/`CompletionStream`, so a request gets the
same answer here as from the CTranslate2 engine (same stop-string, streaming and usage rules).

Design notes (the "why"):

* Prompts are tokenized here with the GGUF's own tokenizer, so usage counts are what the model
  saw. Special-token text (`<s>`, `<|user|>`) is parsed as special tokens, as Hugging Face
  tokenizers do. A raw prompt gets BOS when the GGUF says so (`add_bos_token`); a chat prompt is
  rendered from the GGUF's `tokenizer.chat_template` (see `chat_template`: sandboxed, as
  transformers renders it, with a documented fallback) and gets no second BOS when the rendered
  text already starts with it. A template that does not compile makes chat
  unsupported instead of failing the load: completions still work.
* One request at a time per model. A `Llama` is not thread-safe (one KV cache, one logits buffer,
  one batch), so `_lock` guards it: a stream takes it at its first token and holds it until it
  ends or is closed; other requests on the same model wait their turn. A thread that starts a
  generation while its own paused stream holds the model gets a RuntimeError, not a deadlock.
  Tokenizing and token -> text only read the vocabulary, immutable after load (llama-server
  tokenizes in its HTTP threads the same way), so they take a separate, short `_vocab_lock` whose
  job is to keep them off a model close() is freeing; a bad prompt is rejected at once even while
  another request generates.
* Fresh state for every request: `Llama.reset()` then `Llama.eval(prompt)`, and eval removes every
  KV cell past position 0, so no request sees another's tokens. There is no prefix reuse across
  requests: llama.cpp's numbers depend slightly on batch shapes, and a cached prefix could change
  greedy output between two identical requests.
* Sampling is llama.cpp's native sampler chain, built per request: greedy when temperature == 0,
  else top-k (if > 0) -> temperature -> top-p (if < 1) -> a random draw seeded with the request's
  `seed` (a random seed without one). That is `common.sample_token`'s order. `Llama.generate` is
  not used: its fixed chain applies top-p before temperature and adds min-p 0.05, which the
  request did not ask for.
* Text: token pieces come from `llama_token_to_piece` (buffer grown as needed; llama-cpp-python's
  `detokenize` silently truncates pieces over 32 bytes), cached by id because the assembler
  re-decodes the whole output at each step, and decoded with errors="replace": an incomplete UTF-8
  character shows as U+FFFD, which the assembler holds back until the next token completes it.
* Generation ends on an end-of-generation token (`llama_vocab_is_eog`: EOS, EOT, `<|im_end|>`...),
  a stop string, `max_tokens`, or the context window. `n_ctx` is clipped to the model's training
  context (past it llama.cpp only warns, and output degrades); a prompt that leaves no room is a
  ValueError. Usage: prompt_tokens = tokens fed; completion_tokens = tokens generated, without
  the end token.
* Embeddings use a second `Llama` in embedding mode, created on the first embed() call (under its
  own lock): mean pooling (or the pooling a GGUF embedding model declares), each vector
  L2-normalised so a dot product is the cosine similarity; prompt_tokens = tokens read (BOS
  included). Weights are memory-mapped, so on CPU the second instance shares them via the page
  cache; its context (KV cache, n_ctx tokens) is extra memory.
* Quiet: llama.cpp logs through one process-wide callback, and llama-cpp-python 0.3.36 maps its
  levels off by one, so warnings reach stderr even with verbose=False. This module routes them to
  the logger `node_agent.engines.llamacpp_engine.native` (llama.cpp errors at ERROR, the rest at
  DEBUG). With verbose=False llama-cpp-python also points file descriptors 1 and 2 at /dev/null
  during a model load; two loads at once could leave them there for good, so loads are serialized.
* close() frees both `Llama` objects (idempotent). A request still generating stops with a
  RuntimeError at its next token; close() waits for it to let go of the model (at most
  `CLOSE_WAIT_SECONDS`, after which the model is left to the garbage collector rather than freed
  under a running request).
"""

from __future__ import annotations

import ctypes
import logging
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import llama_cpp
import numpy as np

from node_agent.engines.chat_template import ChatTemplate
from node_agent.engines.common import (
    ClosableEngine,
    Completion,
    CompletionStream,
    Embeddings,
    GenerationParams,
    TextAssembler,
    TokenSource,
)

log = logging.getLogger(__name__)
_native_log = logging.getLogger(__name__ + ".native")

CLOSE_WAIT_SECONDS = 30.0
_GGML_LOG_ERROR = 4  # enum ggml_log_level: NONE 0, DEBUG 1, INFO 2, WARN 3, ERROR 4, CONT 5
_SEED_MODULUS = 0xFFFFFFFF  # llama.cpp seeds are uint32, and 0xFFFFFFFF means "pick one at random"
# llama.cpp's loader and its log hook (below) are the C library's, one per process whatever the agents or
# engines in it: they belong to this module, not to an object.
_LOAD_LOCK = threading.Lock()


@llama_cpp.llama_log_callback
def _route_native_log(level: int, text: bytes | None, user_data: ctypes.c_void_p) -> None:
    try:
        message = (text or b"").decode("utf-8", "replace").rstrip()
        if message.strip("."):  # skip the dots of progress bars
            _native_log.log(logging.ERROR if level == _GGML_LOG_ERROR else logging.DEBUG, message)
    except Exception:  # noqa: BLE001 - never raise into C (e.g. at interpreter shutdown)
        pass


llama_cpp.llama_log_set(_route_native_log, ctypes.c_void_p(0))


class LlamaCppEngine(ClosableEngine):
    """One GGUF model served by llama.cpp. Use as a context manager or call close()."""

    def __init__(
        self,
        model_path: Path,
        n_ctx: int = 4096,
        n_threads: int | None = None,
        chat_template: str | None = None,
        **llama_kwargs: Any,
    ) -> None:
        """`n_ctx` 0 means the model's training context; `chat_template` overrides the GGUF's
        ("" = none: the plain fallback transcript); `llama_kwargs` go to `llama_cpp.Llama`."""
        self.model_path = Path(model_path)
        if not isinstance(n_ctx, int) or isinstance(n_ctx, bool) or n_ctx < 0:
            raise ValueError(f"n_ctx must be an integer >= 0, got {n_ctx!r}")
        if n_threads is not None and (not isinstance(n_threads, int) or n_threads < 1):
            raise ValueError(f"n_threads must be an integer >= 1, got {n_threads!r}")
        if not self.model_path.is_file():
            raise RuntimeError(f"no GGUF file at {self.model_path}")
        trained = _training_context(self.model_path)
        context = n_ctx or trained
        self.context_length = min(context, trained) if trained > 0 else context
        if self.context_length < 1:
            raise RuntimeError(f"{self.model_path.name} does not say its context length: pass n_ctx")

        self._llama_kwargs = {"verbose": False, **llama_kwargs}
        if n_threads is not None:
            self._llama_kwargs.update(n_threads=n_threads, n_threads_batch=n_threads)
        self._lock = threading.Lock()  # the generation context
        self._vocab_lock = threading.Lock()  # tokenizer reads vs close()
        self._embed_lock = threading.Lock()  # the embedding instance
        self._closing = False
        self._holder: int | None = None  # thread that started the generation holding `_lock`
        self._embedder: llama_cpp.Llama | None = None
        self._llm: llama_cpp.Llama | None = _load(self.model_path, n_ctx=self.context_length, **self._llama_kwargs)

        vocab = llama_cpp.llama_model_get_vocab(self._llm.model)
        self._vocab = vocab
        self._pieces: dict[tuple[int, bool], bytes] = {}
        self.bos_token = self._token_text(llama_cpp.llama_vocab_bos(vocab))
        self.eos_token = self._token_text(llama_cpp.llama_vocab_eos(vocab))
        n_vocab = llama_cpp.llama_vocab_n_tokens(vocab)
        self._end_ids = {t for t in range(n_vocab) if llama_cpp.llama_vocab_is_eog(vocab, t)}

        metadata = self._llm.metadata
        arch = metadata.get("general.architecture", "")
        # Embedding models (BERT, nomic...) declare how they were trained to pool; LLMs do not.
        self._declares_pooling = f"{arch}.pooling_type" in metadata
        source = metadata.get("tokenizer.chat_template") if chat_template is None else chat_template
        self.chat_template = ChatTemplate(source, self.model_path.name)
        kinds = {"completions", "embeddings"} | ({"chat"} if self.chat_template.usable else set())
        self.capabilities: frozenset[str] = frozenset(kinds)

    # ------------------------------------------------------------------ lifecycle
    def close(self) -> None:
        """Free the model (see the module docstring: in-flight requests stop with an error)."""
        self._closing = True
        for lock, name in ((self._lock, "_llm"), (self._embed_lock, "_embedder")):
            if not lock.acquire(timeout=CLOSE_WAIT_SECONDS):
                log.warning("%s: a request still holds the model; leaving it to the garbage collector",
                            self.model_path.name)
                continue
            try:
                with self._vocab_lock:
                    llm = getattr(self, name)
                    setattr(self, name, None)
                if llm is not None:
                    llm.close()
            finally:
                lock.release()

    @property
    def closed(self) -> bool:
        """close() was called (requests now fail with RuntimeError)."""
        return self._closing

    def _open_llm(self) -> llama_cpp.Llama:
        if self._llm is None:
            raise RuntimeError("engine is closed")
        return self._llm

    # ------------------------------------------------------------------ vocabulary
    def _token_text(self, token_id: int) -> str:
        if token_id < 0:  # LLAMA_TOKEN_NULL: the model has no such token
            return ""
        return llama_cpp.llama_vocab_get_text(self._vocab, token_id).decode("utf-8", "replace")

    def tokenize(self, text: str, add_special: bool) -> list[int]:
        """Token ids of `text`; special-token text is parsed; BOS added if `add_special` and the model wants it."""
        try:
            data = text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValueError("text contains characters that are not valid Unicode (lone surrogates)") from exc
        with self._vocab_lock:
            return self._open_llm().tokenize(data, add_bos=add_special, special=True)

    def _piece(self, token_id: int, special: bool) -> bytes:
        key = (token_id, special)
        piece = self._pieces.get(key)
        if piece is None:
            with self._vocab_lock:
                self._open_llm()
                size = 64
                buf = ctypes.create_string_buffer(size)
                n = llama_cpp.llama_token_to_piece(self._vocab, token_id, buf, size, 0, special)
                if n < 0:  # too small: -n is the size needed
                    size = -n
                    buf = ctypes.create_string_buffer(size)
                    n = llama_cpp.llama_token_to_piece(self._vocab, token_id, buf, size, 0, special)
                piece = buf.raw[:max(n, 0)]
            self._pieces[key] = piece
        return piece

    def decode(self, ids: list[int], skip_special_tokens: bool = True) -> str:
        """Text of `ids` (the `common.Decoder` the assembler uses); incomplete UTF-8 ends in U+FFFD."""
        data = b"".join(self._piece(i, not skip_special_tokens) for i in ids)
        return data.decode("utf-8", errors="replace")

    # ------------------------------------------------------------------ prompts
    def render_chat(self, messages: list[dict]) -> str:
        """Render messages with the model's chat template (or the plain fallback)."""
        return self.chat_template.render(messages, self.bos_token, self.eos_token)

    def _encode_prompt(self, prompt: str) -> list[int]:
        return self.tokenize(prompt, add_special=True)

    def _encode_chat(self, messages: list[dict]) -> list[int]:
        rendered = self.render_chat(messages)
        # The template wrote BOS itself: do not add a second one.
        return self.tokenize(rendered, add_special=not (self.bos_token and rendered.startswith(self.bos_token)))

    def _prepare(self, prompt_or_messages: str | list[dict]) -> list[int]:
        if isinstance(prompt_or_messages, str):
            return self._encode_prompt(prompt_or_messages)
        return self._encode_chat(prompt_or_messages)

    def _budget(self, prompt_ids: list[int], params: GenerationParams) -> int:
        """New tokens allowed: max_tokens, clipped to what is left of the context window."""
        if not prompt_ids:
            raise ValueError("prompt is empty")
        left = self.context_length - len(prompt_ids)
        if left < 1:
            raise ValueError(
                f"prompt is {len(prompt_ids)} tokens; the model's context is {self.context_length} tokens"
            )
        return min(params.max_tokens, left)

    # ------------------------------------------------------------------ generation
    def _generate_ids(self, prompt_ids: list[int], params: GenerationParams, max_new: int) -> Iterator[int]:
        """Token ids from llama.cpp; holds the model from the first id until it ends or is closed."""
        if self._holder == threading.get_ident():  # would wait for itself forever
            raise RuntimeError("this thread has an unfinished stream on this model: finish or close it first")
        with self._lock:
            llm = self._open_llm()
            sampler = _Sampler(params)
            self._holder = threading.get_ident()
            try:
                llm.reset()
                llm.eval(prompt_ids)
                token = -1
                for i in range(max_new):
                    if self._closing:
                        raise RuntimeError("the model was unloaded during generation")
                    if i:
                        llm.eval([token])
                    token = sampler.sample(llm.ctx)
                    yield token
            finally:
                self._holder = None
                sampler.close()
                llm.reset()

    def stream(
        self,
        prompt_or_messages: str | list[dict],
        params: GenerationParams | None = None,
        on_finish: Callable[[Completion], None] | None = None,
    ) -> CompletionStream:
        """Stream text deltas for a raw prompt (str) or chat messages (list of dicts).

        Prompt errors raise ValueError here, before the first delta (and before waiting for the model).
        """
        params = params or GenerationParams()
        prompt_ids = self._prepare(prompt_or_messages)
        max_new = self._budget(prompt_ids, params)
        source = TokenSource(self._generate_ids(prompt_ids, params, max_new), self._end_ids)
        return CompletionStream(source, TextAssembler(self, params.stop), len(prompt_ids), max_new, on_finish)

    def _run(self, prompt_or_messages: str | list[dict], params: GenerationParams | None) -> Completion:
        # Non-streaming is the stream run to its end: the two can never disagree.
        stream = self.stream(prompt_or_messages, params)
        try:
            for _ in stream:
                pass
        finally:
            stream.close()  # releases the model even if decoding failed midway
        assert stream.completion is not None
        return stream.completion

    def complete(self, prompt: str, params: GenerationParams | None = None) -> Completion:
        """Raw text completion of `prompt` (BOS added when the model wants it)."""
        return self._run(self._require_str(prompt), params)

    def chat(self, messages: list[dict], params: GenerationParams | None = None) -> Completion:
        """Chat completion: messages rendered with the chat template, then generated."""
        if isinstance(messages, str):
            raise ValueError("messages must be a non-empty list of {'role', 'content'} objects")
        return self._run(messages, params)

    @staticmethod
    def _require_str(prompt: Any) -> str:
        if not isinstance(prompt, str):
            raise ValueError("prompt must be a string")
        return prompt

    # ------------------------------------------------------------------ embeddings
    def embed(self, inputs: list[str]) -> Embeddings:
        """One L2-normalised vector per input (mean pooling), and the tokens read."""
        if isinstance(inputs, str) or not isinstance(inputs, (list, tuple)) or not inputs:
            raise ValueError("input must be a non-empty list of strings")
        data = []
        for i, text in enumerate(inputs):
            if not isinstance(text, str) or not text:
                raise ValueError(f"input[{i}] must be a non-empty string")
            try:
                data.append(text.encode("utf-8"))
            except UnicodeEncodeError as exc:
                raise ValueError(f"input[{i}] contains characters that are not valid Unicode") from exc
        with self._embed_lock:
            embedder = self._open_embedder()
            counts = [len(embedder.tokenize(d)) for d in data]  # as Llama.embed tokenizes (BOS, no special)
            for i, n in enumerate(counts):
                if n > self.context_length:
                    raise ValueError(
                        f"input[{i}] is {n} tokens; the model's context is {self.context_length} tokens"
                    )
            raw = embedder.embed(list(inputs), normalize=False, truncate=False)
        vectors = np.asarray(raw, dtype=np.float64)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        vectors /= np.where(norms > 0, norms, 1.0)
        return Embeddings([row.tolist() for row in vectors], sum(counts))

    def _open_embedder(self) -> llama_cpp.Llama:
        """The embedding-mode instance, loaded on first use (caller holds `_embed_lock`)."""
        if self._closing:
            raise RuntimeError("engine is closed")
        if self._embedder is None:
            declared = llama_cpp.LLAMA_POOLING_TYPE_UNSPECIFIED  # use the GGUF's own pooling
            pooling = declared if self._declares_pooling else llama_cpp.LLAMA_POOLING_TYPE_MEAN
            # A whole input must fit one batch (non-causal encoders need it in one micro-batch too).
            size = self.context_length
            kwargs = {**self._llama_kwargs, "n_ctx": size, "n_batch": size, "n_ubatch": size}
            self._embedder = _load(self.model_path, embedding=True, pooling_type=pooling, **kwargs)
        return self._embedder


class _Sampler:
    """A per-request llama.cpp sampler chain (see the module docstring for the order)."""

    def __init__(self, params: GenerationParams) -> None:
        chain = llama_cpp.llama_sampler_chain_init(llama_cpp.llama_sampler_chain_default_params())
        if params.greedy:
            steps = [llama_cpp.llama_sampler_init_greedy()]
        else:
            seed = llama_cpp.LLAMA_DEFAULT_SEED if params.seed is None else params.seed % _SEED_MODULUS
            steps = [llama_cpp.llama_sampler_init_top_k(params.top_k)] if params.top_k > 0 else []
            steps.append(llama_cpp.llama_sampler_init_temp(float(params.temperature)))
            if params.top_p < 1.0:
                steps.append(llama_cpp.llama_sampler_init_top_p(float(params.top_p), 1))
            steps.append(llama_cpp.llama_sampler_init_dist(seed))
        for step in steps:
            llama_cpp.llama_sampler_chain_add(chain, step)  # the chain owns and frees them
        self._chain: Any = chain

    def sample(self, ctx: Any) -> int:
        """Sample from the logits of the last evaluated token."""
        return int(llama_cpp.llama_sampler_sample(self._chain, ctx, -1))

    def close(self) -> None:
        if self._chain is not None:
            chain, self._chain = self._chain, None
            llama_cpp.llama_sampler_free(chain)


def _load(model_path: Path, **kwargs: Any) -> llama_cpp.Llama:
    """A `Llama` for the file; load failures are the node's problem (RuntimeError), not the client's."""
    with _LOAD_LOCK:
        try:
            return llama_cpp.Llama(model_path=str(model_path), **kwargs)
        except (ValueError, RuntimeError, OSError) as exc:
            raise RuntimeError(f"llama.cpp cannot load {model_path.name}: {exc}") from exc


def _training_context(model_path: Path) -> int:
    """`<arch>.context_length` from the GGUF, read with a vocabulary-only load (0 if absent)."""
    params = llama_cpp.llama_model_default_params()
    params.vocab_only = True
    with _LOAD_LOCK:
        model = llama_cpp.llama_model_load_from_file(str(model_path).encode("utf-8"), params)
    if not model:
        raise RuntimeError(f"llama.cpp cannot read {model_path.name} (not a GGUF model it supports)")
    try:
        arch = _meta(model, "general.architecture")
        value = _meta(model, f"{arch}.context_length") if arch else ""
        return int(value) if value.isdigit() else 0
    finally:
        llama_cpp.llama_model_free(model)


def _meta(model: Any, key: str) -> str:
    buf = ctypes.create_string_buffer(256)
    n = llama_cpp.llama_model_meta_val_str(model, key.encode("utf-8"), buf, len(buf))
    return buf.value.decode("utf-8", "replace") if n >= 0 else ""
