"""Which engine serves which ready model: loading on first use, unloading on delete, closing at exit.

Why the engine is chosen from the files and not from a field of the manifest: the files are what
the engine will read. A GGUF file means llama.cpp; a CTranslate2 directory (`model.bin` +
`config.json`) means CTranslate2, its Generator for language models or its Encoder for embedding
models. Users never pick an engine.

Backends are imported only when a model needs them, so a node without llama-cpp-python still
serves CTranslate2 models; a model whose engine cannot load answers 503 with the reason (the
error is remembered for a while so a broken model does not reload on every request).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Protocol

from node_agent.engines.common import Completion, CompletionStream, Embeddings, GenerationParams
from node_agent.store import ModelStore

__all__ = ["Engine", "EngineManager", "ModelNotReady", "EngineUnavailable", "engine_kind"]

log = logging.getLogger(__name__)

LOAD_FAILURE_MEMORY_SECONDS = 30.0


class Engine(Protocol):
    capabilities: frozenset[str]

    def complete(self, prompt: str, params: GenerationParams) -> Completion: ...
    def chat(self, messages: list[dict], params: GenerationParams) -> Completion: ...
    def stream(self, prompt_or_messages: str | list[dict], params: GenerationParams) -> CompletionStream: ...
    def embed(self, inputs: list[str]) -> Embeddings: ...
    def close(self) -> None: ...


class ModelNotReady(LookupError):
    """The model is not ready on this node (unknown, downloading or deleted): 404."""


class EngineUnavailable(RuntimeError):
    """The model is ready but its engine cannot run it here: 503 with this message."""


def engine_kind(model_dir: Path, file_names: Iterable[str]) -> tuple[str, Path]:
    """("llama_cpp" | "ctranslate2", path to load) for a ready model's files."""
    names = list(file_names)
    ggufs = sorted(name for name in names if name.lower().endswith(".gguf"))
    if ggufs:
        # Split GGUFs ("-00001-of-00003.gguf") load from their first part.
        return "llama_cpp", model_dir / ggufs[0]
    top_level = {name for name in names if "/" not in name}
    if {"model.bin", "config.json"} <= top_level:
        return "ctranslate2", model_dir
    raise EngineUnavailable("no engine can load this model: it has neither a GGUF file nor a CTranslate2 "
                            "model (model.bin and config.json)")


class EngineManager:
    """Loaded engines by model id. Thread-safe; each model loads once even under concurrent requests."""

    def __init__(self, store: ModelStore, is_ready: Callable[[str], bool], engines: Iterable[str],
                 platform: str = "linux-cpu", threads: int | None = None) -> None:
        self.store = store
        self.is_ready = is_ready
        self.engines = tuple(engines)
        self.platform = platform
        self.threads = threads or os.cpu_count() or 1
        self._lock = threading.Lock()
        self._loaded: dict[str, Engine] = {}
        self._loading: dict[str, threading.Lock] = {}
        self._failures: dict[str, tuple[float, str]] = {}
        self._closed = False
        self.active_requests = 0

    @contextlib.contextmanager
    def track(self) -> Iterator[None]:
        """Counts a request in progress (GET /v0/status reports the count; the router balances on it)."""
        with self._lock:
            self.active_requests += 1
        try:
            yield
        finally:
            with self._lock:
                self.active_requests -= 1

    def get(self, model_id: str) -> Engine:
        """The model's engine, loading it on first use. Raises ModelNotReady or EngineUnavailable."""
        with self._lock:
            engine = self._loaded.get(model_id)
            if engine is not None:
                return engine
            if self._closed:
                raise EngineUnavailable("the node is shutting down")
            load_lock = self._loading.setdefault(model_id, threading.Lock())
        if not self.is_ready(model_id):
            raise ModelNotReady(model_id)
        with load_lock:  # concurrent first requests wait for one load
            with self._lock:
                engine = self._loaded.get(model_id)
                failure = self._failures.get(model_id)
            if engine is not None:
                return engine
            if failure is not None and time.monotonic() - failure[0] < LOAD_FAILURE_MEMORY_SECONDS:
                raise EngineUnavailable(failure[1])
            engine = self._load(model_id)
            with self._lock:
                if self._closed or not self.is_ready(model_id):
                    engine.close()
                    raise ModelNotReady(model_id)
                self._loaded[model_id] = engine
                self._failures.pop(model_id, None)
            return engine

    def _load(self, model_id: str) -> Engine:
        manifest = self.store.read_manifest(model_id)
        if manifest is None:
            raise ModelNotReady(model_id)
        names = [item.get("name", "") for item in manifest["files"] if isinstance(item, dict)]
        kind, path = engine_kind(self.store.model_dir(model_id), names)
        started = time.monotonic()
        try:
            if kind not in self.engines:
                raise EngineUnavailable(f"this model needs the {kind} engine, which this node does not run "
                                        f"(--engines {','.join(self.engines)})")
            engine = self._construct(kind, path)
        except EngineUnavailable as exc:
            self._remember_failure(model_id, str(exc))
            raise
        except Exception as exc:  # a broken file, a missing library, not enough memory...
            message = f"the {kind} engine could not load this model: {exc}"
            log.error("cannot load %s from %s: %s", model_id, path, exc)
            self._remember_failure(model_id, message)
            raise EngineUnavailable(message) from exc
        log.info("loaded %s with %s in %.1f s", model_id, kind, time.monotonic() - started)
        return engine

    def _construct(self, kind: str, path: Path) -> Engine:
        gpu = self.platform in ("linux-cuda", "windows-cuda", "macos-metal")
        if kind == "llama_cpp":
            try:
                from node_agent.engines.llamacpp_engine import LlamaCppEngine
            except ImportError as exc:
                raise EngineUnavailable(f"llama-cpp-python is not installed on this node ({exc})") from exc
            return LlamaCppEngine(path, n_threads=self.threads, n_gpu_layers=-1 if gpu else 0)
        from node_agent.engines.ct2_encoder_engine import CTranslate2EncoderEngine, is_encoder_model
        from node_agent.engines.ctranslate2_engine import CTranslate2Engine

        device = "cuda" if self.platform in ("linux-cuda", "windows-cuda") else "cpu"
        if is_encoder_model(path):
            return CTranslate2EncoderEngine(path, device=device, intra_threads=self.threads)
        return CTranslate2Engine(path, device=device, intra_threads=self.threads)

    def _remember_failure(self, model_id: str, message: str) -> None:
        with self._lock:
            self._failures[model_id] = (time.monotonic(), message)

    def unload(self, model_ids: Iterable[str]) -> None:
        """Free the engines of deleted models (requests in flight on them end with an error)."""
        for model_id in model_ids:
            with self._lock:
                engine = self._loaded.pop(model_id, None)
                self._failures.pop(model_id, None)
            if engine is not None:
                log.info("unloading %s", model_id)
                engine.close()

    def loaded(self) -> list[str]:
        with self._lock:
            return sorted(self._loaded)

    def close(self) -> None:
        """Free every engine (before the interpreter exits: see the CTranslate2 engine's docstring)."""
        with self._lock:
            self._closed = True
            engines, self._loaded = list(self._loaded.values()), {}
        for engine in engines:
            try:
                engine.close()
            except Exception:
                log.exception("closing an engine failed")

