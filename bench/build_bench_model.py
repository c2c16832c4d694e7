"""Build a ~110M-parameter Llama-style CTranslate2 model with random weights, for speed benchmarks.

No torch and no download: the spec is filled with numpy arrays and saved by ctranslate2 itself, so
it runs in the node's runtime venv. Random weights say nothing about quality but cost exactly what
trained ones of the same shape cost per token, which is all a throughput benchmark measures.

Shape (SmolLM/Llama-like): 12 layers, d_model 768, 12 heads (head dim 64), SwiGLU FFN 2048,
RMSNorm, rotary positions, vocabulary 32000, output projection tied to the embeddings.

Tokenizer: the tiny test model's byte-level BPE (tests/data/tiny-model/ct2/tokenizer.json) with its
vocabulary padded to 32000 by tokens made of ASCII letters, so every id the random model picks
decodes to real text (" kqz", ...) and streams produce deltas like a real model's.

End token: the output projection gets a bias of -1e4 on `</s>`, so the model never ends a
sequence early: every request generates exactly max_tokens, which keeps runs comparable.

    .venv/bin/python -m bench.build_bench_model [OUT_DIR] [--quantization int8|float32|...]
"""

from __future__ import annotations

import argparse
import json
import shutil
import string
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ctranslate2.specs import common_spec, transformer_spec

ROOT = Path(__file__).resolve().parent.parent
TINY = ROOT / "tests" / "data" / "tiny-model" / "ct2"
DEFAULT_OUT = ROOT / ".cache" / "bench-model-100m"

CONTEXT = 2048
EOS_BIAS = -1e4


@dataclass(frozen=True)
class Shape:
    layers: int = 12
    d_model: int = 768
    heads: int = 12
    ffn: int = 2048
    vocab: int = 32000

    def parameters(self) -> int:
        per_layer = 4 * self.d_model ** 2 + 3 * self.d_model * self.ffn + 2 * self.d_model
        return self.vocab * self.d_model + self.layers * per_layer + self.d_model + self.vocab  # tied + bias


BENCH = Shape()  # ~110M parameters: the "model of ~100M parameters"
# ~25M parameters: slow enough that a test can kill a node while its streams are in flight (a few
# hundred tokens/s on 2 cores), small enough to build and download in a second or two.
SLOW_TEST = Shape(layers=6, d_model=512, heads=8, ffn=1536, vocab=8000)


def padded_tokenizer(vocab_size: int) -> dict:
    """The tiny tokenizer with extra, decodable tokens ("Ġ" + letters) up to `vocab_size`."""
    tokenizer = json.loads((TINY / "tokenizer.json").read_text(encoding="utf-8"))
    vocab: dict[str, int] = tokenizer["model"]["vocab"]
    letters = string.ascii_lowercase
    n = 0
    while len(vocab) < vocab_size:
        word, k = "", n
        while True:  # bijective base-26 name: a..z, aa..zz, ...
            word = letters[k % 26] + word
            k = k // 26 - 1
            if k < 0:
                break
        token = "\u0120" + word  # "Ġ" is the byte-level form of a space
        if token not in vocab:
            vocab[token] = len(vocab)
        n += 1
    return tokenizer


def build_spec(tokens: list[str], seed: int, shape: Shape) -> transformer_spec.TransformerDecoderModelSpec:
    rng = np.random.default_rng(seed)

    def weight(*shape: int) -> np.ndarray:
        return (rng.standard_normal(shape, dtype=np.float32) * 0.02).astype(np.float32)

    D_MODEL, FFN = shape.d_model, shape.ffn  # noqa: N806 - the usual names in transformer code
    spec = transformer_spec.TransformerDecoderModelSpec.from_config(
        shape.layers,
        shape.heads,
        activation=common_spec.Activation.SWISH,
        pre_norm=True,
        ffn_glu=True,
        rms_norm=True,
        rotary_dim=0,
        rotary_interleave=False,
    )
    decoder = spec.decoder
    decoder.scale_embeddings = False
    embeddings = weight(len(tokens), D_MODEL)
    decoder.embeddings.weight = embeddings
    decoder.layer_norm.gamma = np.ones(D_MODEL, dtype=np.float32)
    decoder.projection.weight = embeddings  # tied, as in small Llama-style models
    bias = np.zeros(len(tokens), dtype=np.float32)
    bias[tokens.index("</s>")] = EOS_BIAS
    decoder.projection.bias = bias
    for layer in decoder.layer:
        layer.self_attention.layer_norm.gamma = np.ones(D_MODEL, dtype=np.float32)
        layer.self_attention.linear[0].weight = weight(3 * D_MODEL, D_MODEL)  # fused q, k, v
        layer.self_attention.linear[1].weight = weight(D_MODEL, D_MODEL)
        layer.ffn.layer_norm.gamma = np.ones(D_MODEL, dtype=np.float32)
        layer.ffn.linear_0.weight = weight(FFN, D_MODEL)  # gate
        layer.ffn.linear_0_noact.weight = weight(FFN, D_MODEL)  # up
        layer.ffn.linear_1.weight = weight(D_MODEL, FFN)  # down
    spec.register_vocabulary(tokens)
    spec.config.bos_token = "<s>"
    spec.config.eos_token = "</s>"
    spec.config.unk_token = "<unk>"
    spec.config.layer_norm_epsilon = 1e-5
    return spec


def build(out_dir: Path, quantization: str, seed: int = 0, shape: Shape = BENCH, quiet: bool = False) -> Path:
    started = time.monotonic()
    tokenizer = padded_tokenizer(shape.vocab)
    vocab = tokenizer["model"]["vocab"]
    tokens = [t for t, _ in sorted(vocab.items(), key=lambda item: item[1])]
    assert tokens[:3] == ["<unk>", "<s>", "</s>"] and len(tokens) == shape.vocab
    spec = build_spec(tokens, seed, shape)
    spec.validate()
    spec.optimize(quantization=quantization)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    spec.save(str(out_dir))
    (out_dir / "tokenizer.json").write_text(json.dumps(tokenizer, ensure_ascii=False), encoding="utf-8")
    config = json.loads((TINY / "tokenizer_config.json").read_text(encoding="utf-8"))
    config["model_max_length"] = CONTEXT
    (out_dir / "tokenizer_config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    size = sum(p.stat().st_size for p in out_dir.iterdir())
    if not quiet:
        print(f"{out_dir}: {shape.parameters() / 1e6:.1f}M parameters, {quantization}, "
              f"{size / 2**20:.0f} MiB, built in {time.monotonic() - started:.1f} s")
    return out_dir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", nargs="?", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--quantization", default="int8", help="ctranslate2 weight type (default int8)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    build(args.out_dir, args.quantization, args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
