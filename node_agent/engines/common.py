"""What every engine shares: request parameters, results, chat-message checks, and the text side
of generation (incremental detokenizing with stop strings), so CTranslate2 and llama.cpp give the
same answers to the same request, streamed or not.

Engine-neutral on purpose: importing this module imports no backend library. An engine supplies a
`Decoder` (token ids -> text) and a source of generated token ids; `CompletionStream` and
`TextAssembler` do the rest (see `ctranslate2_engine`'s module docstring for the design).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, Self

import numpy as np

from node_agent.chat_roles import engine_role

FinishReason = Literal["stop", "length"]

@dataclass(frozen=True)
class GenerationParams:
    """Sampling options of one request (OpenAI names). temperature == 0 means greedy decoding."""

    max_tokens: int = 256
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0  # 0 = no top-k limit
    stop: list[str] = field(default_factory=list)
    seed: int | None = None

    def __post_init__(self) -> None:
        # Validated here so bad client input fails before any model work, with a clear message.
        if not isinstance(self.max_tokens, int) or isinstance(self.max_tokens, bool) or self.max_tokens < 1:
            raise ValueError(f"max_tokens must be an integer >= 1, got {self.max_tokens!r}")
        if not isinstance(self.temperature, (int, float)) or not 0 <= self.temperature <= 100:
            raise ValueError(f"temperature must be a number in [0, 100], got {self.temperature!r}")
        if not isinstance(self.top_p, (int, float)) or not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be a number in (0, 1], got {self.top_p!r}")
        if not isinstance(self.top_k, int) or isinstance(self.top_k, bool) or self.top_k < 0:
            raise ValueError(f"top_k must be an integer >= 0, got {self.top_k!r}")
        if isinstance(self.stop, str) or not all(isinstance(s, str) and s for s in self.stop):
            raise ValueError("stop must be a list of non-empty strings")
        if self.seed is not None and (not isinstance(self.seed, int) or isinstance(self.seed, bool)):
            raise ValueError(f"seed must be an integer, got {self.seed!r}")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0


@dataclass(frozen=True)
class Completion:
    """Result of a non-streaming request (what becomes an OpenAI choice plus usage)."""

    text: str
    finish_reason: FinishReason
    prompt_tokens: int
    completion_tokens: int


def validate_messages(messages: Any) -> list[dict[str, str]]:
    """Check OpenAI-style chat messages; raise ValueError naming the first bad one.

    Only plain-text messages with the roles of `node_agent.chat_roles` are accepted, each given to
    the template under the role it maps to (`developer` becomes `system`): the standard roles are
    what chat templates are written for, and an unexpected shape would otherwise surface as an
    obscure template error (or silently render wrong).
    """
    if not isinstance(messages, (list, tuple)) or not messages:
        raise ValueError("messages must be a non-empty list of {'role', 'content'} objects")
    clean = []
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise ValueError(f"messages[{i}] must be an object with 'role' and 'content'")
        role = engine_role(message, i)  # a RoleError is a ValueError
        content = message.get("content")
        if content is None and role == "assistant":  # an earlier answer echoed back with "content": null
            content = ""
        if not isinstance(content, str):
            raise ValueError(f"messages[{i}].content must be a string; got {type(content).__name__}")
        clean.append({"role": role, "content": content})
    return clean


class Decoder(Protocol):
    """Turns token ids into text; `tokenizers.Tokenizer` is one."""

    def decode(self, ids: list[int], skip_special_tokens: bool = True) -> str: ...


@dataclass(frozen=True)
class Embeddings:
    """Result of an embeddings request: one vector per input, and the tokens read."""

    vectors: list[list[float]]
    prompt_tokens: int


class UnsupportedRequest(ValueError):
    """The model cannot do this kind of request (e.g. chat on an embeddings model)."""


class ClosableEngine:
    """Base of the engines: a loaded model must be freed by close(), or by leaving a `with` block.

    Why it matters: a native model (CTranslate2, llama.cpp) still alive when the interpreter shuts
    down can abort the process, so its owner frees it explicitly. Each engine's close() says what it
    frees; it must be idempotent.
    """

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class TextAssembler:
    """Incremental detokenizer with stop strings, shared by streaming and non-streaming paths."""

    def __init__(self, tokenizer: Decoder, stop: Sequence[str]) -> None:
        self._tokenizer = tokenizer
        self._stop = list(stop)
        self.ids: list[int] = []
        self.text = ""  # everything emitted so far
        self.stopped = False  # a stop string was found

    def _decode(self) -> str:
        return self._tokenizer.decode(self.ids, skip_special_tokens=True)

    def _cut_at_stop(self, text: str) -> int | None:
        hits = [i for i in (text.find(s) for s in self._stop) if i >= 0]
        return min(hits) if hits else None

    def _held_tail(self, text: str) -> int:
        """Length of the longest suffix of `text` that is a proper prefix of some stop string."""
        longest = 0
        for s in self._stop:
            for k in range(min(len(s) - 1, len(text)), longest, -1):
                if text.endswith(s[:k]):
                    longest = k
                    break
        return longest

    def _emit_upto(self, full: str, end: int) -> str:
        # Byte-level decoders are prefix-stable, so `full` starts with what was emitted; if a
        # decoder ever rewrote earlier text, we can only continue from the emitted length.
        if end <= len(self.text):
            return ""
        delta = full[len(self.text):end]
        self.text += delta
        return delta

    def push(self, token_id: int) -> str:
        """Add one generated token; return the text that is now safe to emit (maybe "")."""
        if self.stopped:
            return ""
        self.ids.append(token_id)
        full = self._decode()
        stable = full.rstrip("\ufffd")  # an incomplete UTF-8 sequence decodes to U+FFFD: wait
        cut = self._cut_at_stop(stable)
        if cut is not None:
            self.stopped = True
            return self._emit_upto(stable, cut)
        return self._emit_upto(stable, len(stable) - self._held_tail(stable))

    def finish(self) -> str:
        """Generation ended (end token or length): flush what was held back."""
        if self.stopped:
            return ""
        full = self._decode()
        cut = self._cut_at_stop(full)
        if cut is not None:
            self.stopped = True
            return self._emit_upto(full, cut)
        return self._emit_upto(full, len(full))


class CompletionStream(Iterator[str]):
    """Iterator of text deltas for one streamed request.

    After it is exhausted, `finish_reason`, `prompt_tokens`, `completion_tokens` and
    `completion` hold the final values (the HTTP layer sends them in the last chunk/usage).
    `on_finish`, if given, is called once with the `Completion`. `close()` stops generation early
    (e.g. the client disconnected).
    """

    def __init__(
        self,
        token_ids: Iterator[int],
        assembler: TextAssembler,
        prompt_tokens: int,
        max_tokens: int,
        on_finish: Callable[[Completion], None] | None = None,
    ) -> None:
        self._token_ids = token_ids
        self._assembler = assembler
        self._max_tokens = max_tokens
        self._on_finish = on_finish
        self.prompt_tokens = prompt_tokens
        self.completion_tokens = 0
        self.finish_reason: FinishReason | None = None
        self.completion: Completion | None = None
        self._pending: list[str] = []
        self._done = False

    def __iter__(self) -> CompletionStream:
        return self

    def __next__(self) -> str:
        while not self._pending:
            if self._done:
                raise StopIteration
            self._advance()
        return self._pending.pop(0)

    def _advance(self) -> None:
        token_id = next(self._token_ids, None)
        if token_id is None:  # end token or context/max_tokens exhausted
            tail = self._assembler.finish()
            reason: FinishReason = "stop" if self._assembler.stopped or self._hit_end else "length"
            self._finish(reason, tail)
            return
        self.completion_tokens += 1
        delta = self._assembler.push(token_id)
        if delta:
            self._pending.append(delta)
        if self._assembler.stopped:
            self._finish("stop", "")

    @property
    def _hit_end(self) -> bool:
        return bool(getattr(self._token_ids, "hit_end", False))

    def _finish(self, reason: FinishReason, tail: str) -> None:
        if tail:
            self._pending.append(tail)
        self._done = True
        self.finish_reason = reason
        self._close_source()
        self.completion = Completion(self._assembler.text, reason, self.prompt_tokens, self.completion_tokens)
        if self._on_finish is not None:
            self._on_finish(self.completion)

    def _close_source(self) -> None:
        close = getattr(self._token_ids, "close", None)
        if close is not None:
            close()

    def close(self) -> None:
        """Stop generating (client went away); no final values are produced."""
        self._done = True
        self._pending.clear()
        self._close_source()


class TokenSource(Iterator[int]):
    """Generated token ids without the end token; records whether the end token was reached."""

    def __init__(self, steps: Iterator[Any], end_ids: set[int]) -> None:
        self._steps = steps
        self._end_ids = end_ids
        self.hit_end = False

    def __iter__(self) -> TokenSource:
        return self

    def __next__(self) -> int:
        if self.hit_end:
            raise StopIteration
        token_id = int(next(self._steps))
        if token_id in self._end_ids:
            self.hit_end = True
            self.close()
            raise StopIteration
        return token_id

    def close(self) -> None:
        close = getattr(self._steps, "close", None)
        if close is not None:
            close()  # closing ctranslate2's generate_tokens iterator stops the decoding


def sample_token(scores: np.ndarray, top_k: int, top_p: float, rng: np.random.Generator) -> int:
    """Sample one id from temperature-scaled logits with top-k then top-p filtering."""
    order = np.argsort(-scores, kind="stable")
    if top_k > 0:
        order = order[:top_k]
    kept = scores[order]
    probs = np.exp(kept - kept.max())
    probs /= probs.sum()
    if top_p < 1.0:
        cumulative = np.cumsum(probs)
        n = int(np.searchsorted(cumulative, top_p)) + 1  # smallest set reaching top_p
        order, probs = order[:n], probs[:n] / probs[:n].sum()
    return int(order[rng.choice(len(order), p=probs)])
