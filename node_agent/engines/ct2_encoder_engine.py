"""Embeddings with a CTranslate2 encoder: BERT-like sentence-transformers models converted with
`ct2-transformers-converter`, as michaelfeil/ct2fast-all-MiniLM-L6-v2 ships them (model.bin,
config.json, vocabulary, tokenizer.json, tokenizer_config.json, modules.json,
sentence_bert_config.json, special_tokens_map.json, ...).

Design notes (the WHY):

* Vectors are what sentence-transformers computes for the original model: tokens from
  tokenizer.json (the post-processor adds `[CLS] ... [SEP]`), `last_hidden_state` from
  `ctranslate2.Encoder.forward_batch`, mean pooling over the real tokens (padding excluded),
  then L2 normalisation. OpenAI's embeddings are unit vectors and clients compare them with a dot
  product, so vectors are always normalised. A `Pooling/config.json` listed in modules.json may
  select CLS pooling instead (e.g. BGE models); any other pooling, or a module this engine does
  not apply (e.g. `Dense`), is refused at load time: serving vectors that differ from the model's
  own would be silent garbage.
* The tokenizer's own truncation and padding settings are ignored (sentence-transformers
  overrides them on every call too): real exports carry e.g. `Fixed` padding to 128, which would
  put `[PAD]` tokens into the mean.
* Input length: the limit is `max_seq_length` from sentence_bert_config.json (what
  sentence-transformers truncates at: 256 for all-MiniLM-L6-v2), else tokenizer_config.json's
  `model_max_length`, else 512; never more than the model's position table (read from model.bin;
  CTranslate2 raises an error past it). Longer inputs are REJECTED by default (ValueError -> 400,
  naming the input and the limit), as OpenAI's API, vLLM and text-embeddings-inference do:
  silently embedding only the beginning of a document gives a vector the client cannot tell is
  wrong, while an error tells it to split the text. `truncate=True` gives sentence-transformers'
  behaviour (keep the first tokens) for deployments that prefer it.
* Token accounting: `prompt_tokens` counts every token the model read, `[CLS]`/`[SEP]` included
  (after truncation, when truncating).
* Batching: inputs are sorted by length and sent in chunks of `batch_size`, so one long input does
  not pad a whole request; results go back in request order. Padding does not change a vector
  (the mean excludes padded positions and CTranslate2 masks them in attention).
* An empty batch or an empty token sequence makes CTranslate2 4.8.5 die with SIGFPE (checked):
  inputs are validated so that neither can reach it.
* `ctranslate2.Encoder` is thread-safe; the tokenizers are configured once in __init__ and only
  read afterwards, so `embed()` can run from many threads at once.
"""

from __future__ import annotations

import gc
import json
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import ctranslate2
import numpy as np
import tokenizers

from node_agent.engines.common import ClosableEngine, Embeddings, GenerationParams, UnsupportedRequest

ENCODER_SPEC = "TransformerEncoderSpec"
DEFAULT_MAX_TOKENS = 512  # BERT's position table, when no config says otherwise
MAX_INPUTS = 2048  # OpenAI's limit on inputs per embeddings request
DEFAULT_BATCH_SIZE = 32

# sentence-transformers modules this engine reproduces; the Transformer module is the CT2 model.
_TRANSFORMER_MODULE = "sentence_transformers.models.Transformer"
_POOLING_MODULE = "sentence_transformers.models.Pooling"
_NORMALIZE_MODULE = "sentence_transformers.models.Normalize"
_POSITION_TABLE = "encoder/position_encodings/encodings"


# --------------------------------------------------------------------------- model.bin header
@dataclass(frozen=True)
class ModelHeader:
    """What model.bin says about itself without loading any weights."""

    binary_version: int
    spec: str  # "" for legacy files (binary version 1) that predate spec names
    shapes: dict[str, tuple[int, ...]] | None  # variable shapes; None when the layout is unknown


_KNOWN_LAYOUT = 6  # ctranslate2 >= 3 writes binary version 6 (checked against 4.8.5's writer)


def read_model_header(model_dir: str | Path) -> ModelHeader:
    """Read the spec name (and, for binary version 6, the variable shapes) from model.bin.

    Raises FileNotFoundError without model.bin, ValueError when it is not a CTranslate2 file.
    """
    path = Path(model_dir) / "model.bin"
    with path.open("rb") as f:

        def read(fmt: str) -> Any:
            size = struct.calcsize(fmt)
            data = f.read(size)
            if len(data) != size:
                raise ValueError(f"{path} is truncated or not a CTranslate2 model")
            return struct.unpack(fmt, data)[0]

        def string() -> str:
            length = read("<H")
            raw = f.read(length)
            if len(raw) != length or not raw.endswith(b"\0"):
                raise ValueError(f"{path} is not a CTranslate2 model (bad string in header)")
            return raw[:-1].decode("utf-8", errors="replace")

        version = read("<I")
        if not 1 <= version <= 100:
            raise ValueError(f"{path} is not a CTranslate2 model (binary version {version})")
        if version < 2:
            return ModelHeader(version, "", None)
        spec = string()
        if version != _KNOWN_LAYOUT:
            return ModelHeader(version, spec, None)
        read("<I")  # spec revision
        shapes: dict[str, tuple[int, ...]] = {}
        for _ in range(read("<I")):
            name = string()
            rank = read("<B")
            shape = tuple(read("<I") for _ in range(rank))
            read("<B")  # dtype
            f.seek(read("<I"), 1)  # skip the data
            shapes[name] = shape
        return ModelHeader(version, spec, shapes)


def is_encoder_model(model_dir: str | Path) -> bool:
    """True when the CTranslate2 model in `model_dir` is an encoder (load it with this engine).

    The signal is the spec name in model.bin's header ("TransformerEncoderSpec" for BERT-like
    conversions, "TransformerDecoderSpec" for generators): it is what CTranslate2 itself uses to
    pick the model class, and reading it costs a few bytes. Opening the wrong class also fails
    (`ctranslate2.Generator` on an encoder raises RuntimeError "This model cannot be used as a
    sequence generator", `Encoder` on a decoder "... as a sequence encoder"), but only after
    loading all the weights, and matching error text is fragile. config.json carries no reliable
    marker. Raises FileNotFoundError / ValueError when there is no readable model.bin.
    """
    return read_model_header(model_dir).spec == ENCODER_SPEC


# --------------------------------------------------------------------------- configuration
def _read_json(path: Path) -> Any:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read {path.name}: {exc}") from exc


def _positive_int(value: Any, ceiling: float = float("inf")) -> int | None:
    # HF writes a huge sentinel (1e30) for "unknown" model_max_length: treat as absent.
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < ceiling:
        return None
    return int(value)


def _max_tokens(model_dir: Path, header: ModelHeader) -> int:
    st_config = _read_json(model_dir / "sentence_bert_config.json")
    tok_config = _read_json(model_dir / "tokenizer_config.json")
    st_config = st_config if isinstance(st_config, dict) else {}
    tok_config = tok_config if isinstance(tok_config, dict) else {}
    limit = (
        _positive_int(st_config.get("max_seq_length"))
        or _positive_int(tok_config.get("model_max_length"), ceiling=10**7)
        or DEFAULT_MAX_TOKENS
    )
    table = (header.shapes or {}).get(_POSITION_TABLE)
    if table:
        limit = min(limit, table[0])
    return limit


def _pooling(model_dir: Path) -> str:
    """'mean' or 'cls', from the sentence-transformers files; refuse what would give other vectors."""
    modules = _read_json(model_dir / "modules.json")
    if modules is None:
        return "mean"  # no sentence-transformers files: its default for a plain encoder
    if not isinstance(modules, list):
        raise ValueError("modules.json is not a list of modules")
    pooling = "mean"
    for module in modules:
        kind = module.get("type") if isinstance(module, dict) else None
        if kind in (_TRANSFORMER_MODULE, _NORMALIZE_MODULE):
            continue
        if kind != _POOLING_MODULE:
            raise ValueError(f"modules.json lists {kind!r}, which this engine cannot apply")
        folder = (model_dir / str(module.get("path", ""))).resolve()
        if not folder.is_relative_to(model_dir.resolve()):
            raise ValueError(f"modules.json points outside the model directory: {module.get('path')!r}")
        config = _read_json(folder / "config.json")
        if config is None:
            continue  # not shipped (ct2fast conversions copy no Pooling dir): sentence-transformers' default
        modes = {k.removeprefix("pooling_mode_").removesuffix("_token").removesuffix("_tokens")
                 for k, v in config.items() if k.startswith("pooling_mode_") and v is True}
        if modes not in ({"mean"}, {"cls"}):
            raise ValueError(f"pooling {sorted(modes)} is not supported (only mean or cls)")
        pooling = modes.pop()
    return pooling


def _load_tokenizer(path: Path, max_tokens: int | None) -> tokenizers.Tokenizer:
    tokenizer = tokenizers.Tokenizer.from_file(str(path))
    tokenizer.no_padding()
    if max_tokens is None:
        tokenizer.no_truncation()
    else:
        tokenizer.enable_truncation(max_length=max_tokens)
    return tokenizer


# --------------------------------------------------------------------------- engine
class CTranslate2EncoderEngine(ClosableEngine):
    """One CTranslate2 encoder loaded for embeddings. Use as a context manager or call close()
    (`ClosableEngine`: a CTranslate2 model alive at interpreter exit can abort it, its worker threads
    torn down in an unsafe order)."""

    capabilities: frozenset[str] = frozenset({"embeddings"})

    def __init__(
        self,
        model_dir: str | Path,
        device: str = "cpu",
        compute_type: str = "default",
        *,
        truncate: bool = False,
        batch_size: int = DEFAULT_BATCH_SIZE,
        **encoder_kwargs: Any,
    ) -> None:
        self.model_dir = Path(model_dir)
        header = read_model_header(self.model_dir)
        if header.spec != ENCODER_SPEC:
            raise ValueError(f"{self.model_dir} holds a {header.spec or 'legacy'} model, not an encoder")
        self.max_input_tokens = _max_tokens(self.model_dir, header)
        self.pooling = _pooling(self.model_dir)
        self.truncate = truncate
        self.batch_size = max(1, batch_size)
        tokenizer_path = self.model_dir / "tokenizer.json"
        self._tokenizer = _load_tokenizer(tokenizer_path, None)
        self._truncating = _load_tokenizer(tokenizer_path, self.max_input_tokens) if truncate else None
        self._encoder: ctranslate2.Encoder | None = ctranslate2.Encoder(
            str(self.model_dir), device=device, compute_type=compute_type, **encoder_kwargs
        )

    # ------------------------------------------------------------------ lifecycle
    def close(self) -> None:
        """Free the model now (see the class docstring for why this must happen before exit)."""
        if self._encoder is not None:
            encoder, self._encoder = self._encoder, None
            del encoder
            gc.collect()

    @property
    def encoder(self) -> ctranslate2.Encoder:
        if self._encoder is None:
            raise RuntimeError("engine is closed")
        return self._encoder

    # ------------------------------------------------------------------ embeddings
    def _tokenize(self, inputs: list[str]) -> list[list[str]]:
        encodings = self._tokenizer.encode_batch(inputs, add_special_tokens=True)
        tokens = [e.tokens for e in encodings]
        too_long = [i for i, t in enumerate(tokens) if len(t) > self.max_input_tokens]
        if too_long and self._truncating is None:
            i = too_long[0]
            raise ValueError(
                f"input[{i}] is {len(tokens[i])} tokens long; this model reads at most "
                f"{self.max_input_tokens} tokens per input. Split the text into smaller pieces."
            )
        if too_long:
            for i, encoding in zip(too_long, self._truncating.encode_batch([inputs[i] for i in too_long])):
                tokens[i] = encoding.tokens
        for i, t in enumerate(tokens):
            if not t:  # CTranslate2 crashes the process on an empty sequence
                raise ValueError(f"input[{i}] has no tokens for this model")
        return tokens

    def _pool(self, hidden: np.ndarray, lengths: list[int]) -> list[list[float]]:
        vectors = []
        for row, n in zip(hidden, lengths):
            v = row[0] if self.pooling == "cls" else row[:n].mean(axis=0)
            v = v / max(float(np.linalg.norm(v)), 1e-12)
            vectors.append(v.astype(np.float32).tolist())
        return vectors

    def _forward(self, batch: list[list[str]]) -> list[list[float]]:
        hidden = self.encoder.forward_batch(batch).last_hidden_state
        if hidden.device != "cpu":
            hidden = hidden.to_device(ctranslate2.Device.cpu)
        if hidden.dtype != ctranslate2.DataType.float32:
            hidden = hidden.to(ctranslate2.DataType.float32)
        return self._pool(np.array(hidden, dtype=np.float64), [len(t) for t in batch])

    def embed(self, inputs: list[str]) -> Embeddings:
        """One unit vector per input, in order; prompt_tokens = all tokens the model read."""
        if not isinstance(inputs, list) or not inputs:
            raise ValueError("input must be a non-empty string or a non-empty list of strings")
        if len(inputs) > MAX_INPUTS:
            raise ValueError(f"input has {len(inputs)} items; at most {MAX_INPUTS} per request")
        for i, text in enumerate(inputs):
            if not isinstance(text, str):
                raise ValueError(f"input[{i}] must be a string, got {type(text).__name__}")
            if not text:
                raise ValueError(f"input[{i}] is an empty string")
        tokens = self._tokenize(inputs)
        order = sorted(range(len(tokens)), key=lambda i: len(tokens[i]), reverse=True)
        vectors: list[list[float]] = [[] for _ in tokens]
        for start in range(0, len(order), self.batch_size):
            chunk = order[start:start + self.batch_size]
            for i, vector in zip(chunk, self._forward([tokens[i] for i in chunk])):
                vectors[i] = vector
        return Embeddings(vectors=vectors, prompt_tokens=sum(len(t) for t in tokens))

    # ------------------------------------------------------------------ not an LLM
    def _unsupported(self, kind: str) -> NoReturn:
        raise UnsupportedRequest(f"this model is an embeddings model and cannot do {kind}; use /v1/embeddings")

    def complete(self, prompt: str, params: GenerationParams | None = None) -> NoReturn:
        self._unsupported("text completions")

    def chat(self, messages: list[dict], params: GenerationParams | None = None) -> NoReturn:
        self._unsupported("chat completions")

    def stream(self, prompt_or_messages: str | list[dict], params: GenerationParams | None = None) -> NoReturn:
        self._unsupported("completions")
