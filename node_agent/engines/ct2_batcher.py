"""Batches concurrent generation requests on one `ctranslate2.Generator`.

Why: on CPU a decoding step for 8 sequences costs little more than for one (the weights are read
once per step either way), so 8 concurrent requests served as one `generate_batch` get several
times the aggregate tokens/s of 8 serialised ones. CTranslate2 has no continuous batching, so this
is static batching with per-request streaming:

* Requests wait in one pending list. A worker thread (one per Generator replica, i.e. per
  `inter_threads`) takes the oldest request plus every compatible one (below) and runs ONE
  `generate_batch` for them. Its per-step `callback` (called for each batch item at each step,
  with `batch_id`, `token_id`, `is_last`; returning True ends that item only) pushes every token
  into its request's own queue, so each request streams on its own and finishes as soon as *its*
  generation ends, not when the whole batch does.
* Gather window: a request that finds a worker idle waits up to `window_s` (default 3 ms) for
  companions, measured from its own arrival. A burst of simultaneous requests (what a router
  fanning out clients produces) then becomes one batch instead of a batch of 1 followed by a batch
  of N-1 that waits for the first one's whole generation. The cost for a lone request is at most
  the window once, before its first token: less than one decoding step of any real model
  (~10-30 ms on CPU), too small to measure end to end. Requests that arrive while the workers are
  busy have already waited longer than the window, so they go into the next batch with no extra
  wait; a batch is also sent at once when it reaches `max_batch_size`.
* Compatible means: the same batch-wide sampling options (top-k, top-p, temperature are per call
  in `generate_batch`), and prompt lengths within `max_prompt_spread` tokens of each other.
  CTranslate2 forwards only the shortest prompt of a batch at once and feeds the rest of each
  longer prompt one token per decoding step, so a large spread turns a cheap prefill into
  hundreds of decoding steps (measured: a 3- and an 841-token prompt batched took 13.7 s against
  1.4 s run separately, 110M model, 2 CPU cores). `max_tokens` may differ: the batch runs with
  the largest budget and the callback ends each item at its own.
* Ending an item early (stop string found by the reader, client gone) is a flag the reader sets
  (`BatchRequest.close`); the next callback for that item returns True, so CTranslate2 stops
  computing it and the other items go on.
* An exception from `generate_batch` reaches every request of that batch as `GenerationFailed`
  (a RuntimeError: an engine failure, not the client's fault) from its iterator, so nobody hangs.
  `close()` fails pending requests with `EngineClosed`, makes running batches stop at their next
  step (their readers get `EngineClosed` too), joins the workers and frees the Generator, which
  the Batcher owns (see `CTranslate2Engine` for why that must happen before exit).
"""

from __future__ import annotations

import gc
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import ctranslate2


class EngineClosed(RuntimeError):
    """The engine was closed before or while this request was generated."""


class GenerationFailed(RuntimeError):
    """CTranslate2 raised while generating the batch this request was in."""


@dataclass(frozen=True)
class SamplingOptions:
    """The `generate_batch` options that are per call, not per item: requests must share them."""

    sampling_topk: int = 1
    sampling_topp: float = 1.0
    sampling_temperature: float = 1.0


_DONE = object()


class BatchRequest(Iterator[int]):
    """One request: its prompt and budget, and the queue of generated token ids it reads.

    The batch worker writes (`_push`, `_finish`); the reader iterates and may `close()`. The end
    token, when generated, is passed through like any token (the reader's TokenSource detects it).
    """

    def __init__(self, prompt_tokens: list[str], max_new: int, options: SamplingOptions) -> None:
        self.prompt_tokens = prompt_tokens
        self.max_new = max_new
        self.options = options
        self.arrival = time.monotonic()
        self.generated = 0
        self.cancelled = False  # set by the reader: stop generating this item
        self._finished = False  # set by the worker once the end marker or an error is queued
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._outcome: Any = None  # what ended the iteration, replayed on later next() calls

    # ---- worker side
    def _push(self, token_id: int, is_last: bool) -> bool:
        """Queue one token; return True when this item must stop (for the step callback)."""
        if self._finished:
            return True
        if self.cancelled:
            self._finish()
            return True
        self._queue.put(token_id)
        self.generated += 1
        if is_last or self.generated >= self.max_new:
            self._finish()
            return True
        return False

    def _finish(self, error: BaseException | None = None) -> None:
        if not self._finished:
            self._finished = True
            self._queue.put(_DONE if error is None else error)

    # ---- reader side
    def __iter__(self) -> BatchRequest:
        return self

    def __next__(self) -> int:
        item = self._outcome if self._outcome is not None else self._queue.get()
        if item is _DONE:
            self._outcome = item
            raise StopIteration
        if isinstance(item, BaseException):
            self._outcome = item
            raise item
        return item

    def close(self) -> None:
        """The reader needs no more tokens (stop string, client gone)."""
        self.cancelled = True


class Batcher:
    """Runs `BatchRequest`s on `generator` in batches (see the module docstring)."""

    def __init__(
        self,
        generator: ctranslate2.Generator,
        end_token: list[str] | None,
        *,
        window_s: float = 0.003,
        max_batch_size: int = 16,
        max_prompt_spread: int = 32,
    ) -> None:
        self.check_settings(window_s, max_batch_size, max_prompt_spread)
        self._generator: ctranslate2.Generator | None = generator
        self._end_token = end_token
        self.window_s = window_s
        self.max_batch_size = max_batch_size
        self.max_prompt_spread = max_prompt_spread
        self._cond = threading.Condition()
        self._pending: list[BatchRequest] = []
        self._closing = False
        # Observable behaviour (tests, status): how many generate_batch calls, the largest one.
        self.batches_run = 0
        self.largest_batch = 0
        self._workers = [
            threading.Thread(target=self._work, name=f"ct2-batch-{i}", daemon=True)
            for i in range(max(1, generator.num_generators))
        ]
        for worker in self._workers:
            worker.start()

    @staticmethod
    def check_settings(window_s: float, max_batch_size: int, max_prompt_spread: int) -> None:
        """Raise ValueError for bad settings (callable before loading a model for nothing)."""
        if window_s < 0:
            raise ValueError("batch window must be >= 0")
        if max_batch_size < 1:
            raise ValueError("max_batch_size must be >= 1")
        if max_prompt_spread < 0:
            raise ValueError("max_prompt_spread must be >= 0")

    @property
    def workers(self) -> int:
        """Batches that can run at once: one per Generator replica."""
        return len(self._workers)

    @property
    def alive(self) -> bool:
        """Whether any worker thread still runs (False once close() has returned)."""
        return any(worker.is_alive() for worker in self._workers)

    def submit(self, request: BatchRequest) -> None:
        with self._cond:
            if self._closing:
                raise EngineClosed("engine is closed")
            self._pending.append(request)
            self._cond.notify()

    @property
    def generator(self) -> ctranslate2.Generator:
        if self._generator is None:
            raise EngineClosed("engine is closed")
        return self._generator

    def close(self) -> None:
        """Fail what is pending, stop running batches at their next step, join the workers, and
        drop the Generator (this object holds the only long-lived reference to it)."""
        with self._cond:
            self._closing = True
            for request in self._pending:
                request._finish(EngineClosed("engine was closed before this request started"))
            self._pending.clear()
            self._cond.notify_all()
        current = threading.current_thread()
        for worker in self._workers:
            if worker is not current:
                worker.join()
        if self._generator is not None:
            generator, self._generator = self._generator, None
            del generator
            gc.collect()  # cycles (e.g. tracebacks of failed batches) may still point at it

    # ------------------------------------------------------------------ worker
    def _work(self) -> None:
        while True:
            with self._cond:
                batch = self._take()
            if batch is None:
                return
            self._run(batch)

    def _take(self) -> list[BatchRequest] | None:
        """Wait for a batch to be due and remove it from the pending list (lock held)."""
        while True:
            if self._closing:
                return None
            for request in [r for r in self._pending if r.cancelled]:
                self._pending.remove(request)
                request._finish()
            if not self._pending:
                self._cond.wait()
                continue
            batch = self._compatible(self._pending[0])
            wait = self._pending[0].arrival + self.window_s - time.monotonic()
            if len(batch) >= self.max_batch_size or wait <= 0:
                for request in batch:
                    self._pending.remove(request)
                if self._pending:  # what is left may be due for another (idle) worker
                    self._cond.notify()
                self.batches_run += 1
                self.largest_batch = max(self.largest_batch, len(batch))
                return batch
            self._cond.wait(wait)  # a new request may fill the batch before the window ends

    def _compatible(self, oldest: BatchRequest) -> list[BatchRequest]:
        """`oldest` plus the pending requests that can share its batch, oldest first.

        Among the prompt-length ranges of width max_prompt_spread that contain `oldest`, the one
        holding the most candidates wins, so a burst of similar prompts stays together.
        """
        same = [r for r in self._pending if r.options == oldest.options]
        length = len(oldest.prompt_tokens)
        lows = {len(r.prompt_tokens) for r in same if length - self.max_prompt_spread <= len(r.prompt_tokens) <= length}

        def members(low: int) -> list[BatchRequest]:
            return [r for r in same if low <= len(r.prompt_tokens) <= low + self.max_prompt_spread]

        best = max((members(low) for low in sorted(lows)), key=len)
        return best[: self.max_batch_size]

    def _run(self, batch: list[BatchRequest]) -> None:
        def callback(step: Any) -> bool:
            request = batch[step.batch_id]
            if self._closing:
                request._finish(EngineClosed("engine was closed during generation"))
                return True
            return request._push(step.token_id, step.is_last)

        options = batch[0].options
        generator = self._generator
        assert generator is not None  # close() drops it only after the workers have stopped
        try:
            generator.generate_batch(
                [r.prompt_tokens for r in batch],
                max_length=max(r.max_new for r in batch),
                beam_size=1,
                include_prompt_in_result=False,
                end_token=self._end_token,
                callback=callback,
                sampling_topk=options.sampling_topk,
                sampling_topp=options.sampling_topp,
                sampling_temperature=options.sampling_temperature,
            )
        except BaseException as exc:  # every reader must learn of it, or it would wait forever
            for request in batch:
                error = GenerationFailed(f"generation failed: {exc}")
                error.__cause__ = exc
                request._finish(error)
            if not isinstance(exc, Exception):
                raise
            return
        for request in batch:  # items normally end in the callback (is_last); this is a safety net
            request._finish(EngineClosed("engine was closed during generation") if self._closing else None)
