"""Checks the committed tiny test model (tests/data/tiny-model/, built by scripts/build_tiny_model.py).

Needs only ctranslate2 (a project dependency). The `tokenizers` and `gguf` packages are used
when installed; without them the test falls back to the token strings stored in
expected.json, a GPT-2 byte-level decoder and a small GGUF reader written here, so it
never skips.
"""

from __future__ import annotations

import gc
import json
import struct
from pathlib import Path

import ctranslate2
import jinja2
import pytest

from tests.support.tiny_model import CASES, CT2_DIR, DATA, EXPECTED, GGUF

try:
    import tokenizers
except ImportError:  # not a project dependency
    tokenizers = None

try:
    import gguf
except ImportError:  # not a project dependency
    gguf = None


# --------------------------------------------------------------------------- helpers
def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's byte <-> printable character table, as used by byte-level BPE."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


_BYTE_OF_CHAR = {c: b for b, c in _bytes_to_unicode().items()}


def byte_level_decode(tokens: list[str], special: set[str]) -> str:
    data = bytearray()
    for tok in tokens:
        if tok in special:
            continue
        data.extend(_BYTE_OF_CHAR[c] for c in tok)
    return data.decode("utf-8")


def render_chat(messages: list[dict]) -> str:
    config = json.loads((CT2_DIR / "tokenizer_config.json").read_text(encoding="utf-8"))
    template = jinja2.Environment(keep_trailing_newline=True).from_string(config["chat_template"])
    return template.render(
        messages=messages, add_generation_prompt=True, bos_token=config["bos_token"], eos_token=config["eos_token"]
    )


_GGUF_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}


def read_gguf_plain(path: Path) -> tuple[int, dict, list[str]]:
    """Minimal GGUF reader (header, metadata, tensor names) for when `gguf` is not installed."""
    with path.open("rb") as f:

        def unpack(fmt: str):
            return struct.unpack(fmt, f.read(struct.calcsize(fmt)))[0]

        def string() -> str:
            return f.read(unpack("<Q")).decode("utf-8")

        def value(vtype: int):
            if vtype in _GGUF_SCALARS:
                return unpack(_GGUF_SCALARS[vtype])
            if vtype == 8:
                return string()
            if vtype == 9:
                item_type, count = unpack("<I"), unpack("<Q")
                return [value(item_type) for _ in range(count)]
            raise ValueError(f"unknown GGUF value type {vtype}")

        assert f.read(4) == b"GGUF"
        version = unpack("<I")
        n_tensors, n_kv = unpack("<Q"), unpack("<Q")
        assert n_tensors > 0
        meta = {}
        for _ in range(n_kv):
            key = string()
            meta[key] = value(unpack("<I"))
        names = []
        for _ in range(n_tensors):
            names.append(string())
            n_dims = unpack("<I")
            f.read(8 * n_dims + 4 + 8)  # dims, type, offset
        return version, meta, names


def read_gguf(path: Path) -> tuple[int, dict, list[str]]:
    if gguf is None:
        return read_gguf_plain(path)
    reader = gguf.GGUFReader(str(path))
    meta = {name: field.contents() for name, field in reader.fields.items()}
    return meta["GGUF.version"], meta, [t.name for t in reader.tensors]


# --------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def generator():
    gen = ctranslate2.Generator(str(CT2_DIR), device="cpu", intra_threads=1)
    yield gen
    # A Generator still alive at interpreter exit can abort the process.
    del gen
    gc.collect()


@pytest.fixture(scope="module")
def tokenizer():
    if tokenizers is None:
        return None
    return tokenizers.Tokenizer.from_file(str(CT2_DIR / "tokenizer.json"))


def _greedy(generator, prompt_tokens: list[str]):
    options = EXPECTED["generate_batch"]
    result = generator.generate_batch(
        [prompt_tokens],
        max_length=options["max_length"],
        sampling_topk=1,
        beam_size=1,
        include_prompt_in_result=False,
    )[0]
    return result.sequences[0], result.sequences_ids[0]


# --------------------------------------------------------------------------- tests
def test_files_present_and_small():
    for rel in ("ct2/model.bin", "ct2/config.json", "ct2/tokenizer.json", "ct2/tokenizer_config.json",
                "ct2/vocabulary.json", "gguf/tiny-llama-f16.gguf", "expected.json", "README.md"):
        assert (DATA / rel).is_file(), rel
    total = sum(p.stat().st_size for p in DATA.rglob("*") if p.is_file())
    assert total < 2 * 1024 * 1024, total
    assert len(CASES) >= 4
    assert {c["kind"] for c in CASES} == {"completion", "chat"}


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_prompt_tokens(case, tokenizer):
    prompt = case["prompt"]
    if case["kind"] == "chat":
        assert render_chat(case["messages"]) == prompt
    assert case["prompt_tokens"][0] == EXPECTED["bos_token"]
    special = {EXPECTED["bos_token"], EXPECTED["eos_token"], "<|system|>", "<|user|>", "<|assistant|>"}
    if case["kind"] == "completion":
        assert byte_level_decode(case["prompt_tokens"], special) == prompt
    if tokenizer is not None:
        encoding = tokenizer.encode(prompt, add_special_tokens=case["kind"] == "completion")
        assert encoding.tokens == case["prompt_tokens"]
        assert encoding.ids == case["prompt_ids"]


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_ct2_greedy_generation(case, generator, tokenizer):
    tokens, ids = _greedy(generator, case["prompt_tokens"])
    assert tokens == case["expected_tokens"]
    assert ids == case["expected_ids"]
    text = byte_level_decode(tokens, {EXPECTED["eos_token"]})
    assert text == case["expected_text"]
    if tokenizer is not None:
        assert tokenizer.decode(ids, skip_special_tokens=True) == case["expected_text"]


def test_chat_with_double_bos_gives_same_answer(generator):
    case = next(c for c in CASES if c["kind"] == "chat")
    tokens, _ = _greedy(generator, [EXPECTED["bos_token"]] + case["prompt_tokens"])
    assert tokens == case["expected_tokens"]


def test_expected_texts():
    texts = {c["name"]: c["expected_text"] for c in CASES}
    assert texts["count"] == " four five six seven eight nine ten"
    assert texts["chat_capital"] == "The capital of France is Paris."


def test_gguf_file():
    version, meta, tensor_names = read_gguf(GGUF)
    assert version == 3
    assert meta["general.architecture"] == "llama"
    assert meta["llama.block_count"] == 2
    assert meta["llama.embedding_length"] == 64
    assert meta["llama.attention.head_count"] == 4
    assert meta["llama.attention.head_count_kv"] == 2
    assert meta["tokenizer.ggml.model"] == "gpt2"
    assert "token_embd.weight" in tensor_names and "output.weight" in tensor_names
    assert "blk.1.attn_q.weight" in tensor_names
    assert len(tensor_names) == 2 + 2 * 9 + 1
    # Same vocabulary, special ids and chat template as the CTranslate2 model.
    vocab = json.loads((CT2_DIR / "vocabulary.json").read_text(encoding="utf-8"))
    assert list(meta["tokenizer.ggml.tokens"]) == vocab
    assert vocab[meta["tokenizer.ggml.bos_token_id"]] == EXPECTED["bos_token"]
    assert vocab[meta["tokenizer.ggml.eos_token_id"]] == EXPECTED["eos_token"]
    config = json.loads((CT2_DIR / "tokenizer_config.json").read_text(encoding="utf-8"))
    assert meta["tokenizer.chat_template"] == config["chat_template"]
