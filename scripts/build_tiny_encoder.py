#!/usr/bin/env python3
"""Build the tiny test encoder under tests/data/tiny-encoder/ (CTranslate2 + reference embeddings).

A real but tiny BERT encoder (2 layers, hidden size 32) with a WordPiece tokenizer
whose vocabulary is built here from a few sentences written for it, laid out like a CTranslate2
conversion of a sentence-transformers model (michaelfeil/ct2fast-all-MiniLM-L6-v2:
model.bin, config.json, vocabulary, tokenizer.json, tokenizer_config.json,
modules.json, sentence_bert_config.json). The weights are random (seeded):
embeddings need no training to be checkable, only a reference to compare with.
The reference vectors are computed by transformers (torch, float32) the way
sentence-transformers embeds: mean pooling over the attention mask, then L2
normalisation. No third-party weights or data are used.

This needs torch, transformers, tokenizers and ctranslate2, which are NOT all
project dependencies. Run it from its own virtual environment:

    python3 -m venv /tmp/buildvenv
    /tmp/buildvenv/bin/pip install torch==2.13.0 transformers tokenizers ctranslate2==4.8.5
    /tmp/buildvenv/bin/python scripts/build_tiny_encoder.py

It overwrites tests/data/tiny-encoder/{ct2/,expected.json,README.md}. The tests
(tests/node_agent/test_ct2_encoder_engine.py) need only ctranslate2 + tokenizers.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a file, sys.path[0] is scripts/

from scripts.tiny_models_common import (  # noqa: E402
    REPO,
    deterministic_environment,
    file_sizes,
    files_table,
    log,
    rebuild_commands,
    rewrite_tokenizer_config,
    seed_everything,
    within_size_budget,
)

deterministic_environment()  # before numpy, torch and tokenizers load

import argparse  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402

import numpy as np  # noqa: E402

OUT_DIR = REPO / "tests" / "data" / "tiny-encoder"
BUILD_PACKAGES = "torch==2.13.0 transformers tokenizers ctranslate2==4.8.5"
SEED = 4321
SIZE_LIMIT = 300 * 1024
DECIMALS = 7  # float32 has ~7 significant digits; the tests compare at 1e-4

PAD, UNK, CLS, SEP, MASK = "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"
SPECIAL_TOKENS = [PAD, UNK, CLS, SEP, MASK]  # ids 0..4

HIDDEN = 32
LAYERS = 2
HEADS = 4
FFN = 64
MAX_POSITIONS = 64  # the model's position table (MiniLM: 512)
MAX_SEQ_LENGTH = 32  # sentence_bert_config.json max_seq_length (MiniLM: 256), what embedders read
# Baked into tokenizer.json like real sentence-transformers exports do; embedders must ignore
# them (transformers and sentence-transformers override them per call).
BAKED_TRUNCATION = 16

# The tokenizer's vocabulary comes from these sentences, written for this model.
SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "A small model turns each sentence into a vector of numbers.",
    "Similar sentences should get similar vectors, and different ones should not.",
    "Search engines compare vectors to find the closest documents.",
    "Hello world, this is a tiny encoder built for tests.",
    "Cafe, naive and Koln keep their letters once accents are removed.",
    "Numbers like 1, 2, 3 and 42 are split into pieces.",
    "Tokyo is written 東京 in Japanese.",
    "Embeddings are read by the router and served by the node.",
]

# What the tests check: name -> text. "long" is longer than MAX_SEQ_LENGTH tokens.
CASES = [
    ("hello", "Hello world"),
    ("fox", "The quick brown fox jumps over the lazy dog."),
    ("accents", "Café naïve Köln"),
    ("unknown", "東京 ☕ xylophone"),
    ("one_word", "vectors"),
    ("long", " ".join(SENTENCES[:4])),
]


# --------------------------------------------------------------------------- tokenizer
def build_tokenizer(texts: list[str]):
    """BERT-style uncased WordPiece tokenizer whose vocabulary is read off `texts`.

    Why not `trainers.WordPieceTrainer`: with tokenizers 0.23 it picks a different vocabulary on
    every run (ties between equally frequent pairs are broken in hash-map order), so the ids and
    every reference vector would change from one build to the next. Here the vocabulary is every
    word of the texts plus every character (alone and as a `##` continuation), sorted: the same
    on every run, and any word made of known characters is still spelled out piece by piece.
    """
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    normalizer = normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=True
    )
    pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    words: set[str] = set()
    for text in texts:
        words.update(w for w, _ in pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(text)))
    chars = sorted({c for w in words for c in w})
    vocab_list = SPECIAL_TOKENS + chars + ["##" + c for c in chars] + sorted(w for w in words if len(w) > 1)
    vocab = {t: i for i, t in enumerate(vocab_list)}

    tok = Tokenizer(models.WordPiece(vocab, unk_token=UNK, max_input_chars_per_word=100))
    # BERT uncased: lower-case and strip accents, split CJK characters, punctuation apart.
    tok.normalizer = normalizer
    tok.pre_tokenizer = pre_tokenizer
    tok.decoder = decoders.WordPiece(prefix="##")
    tok.add_special_tokens(SPECIAL_TOKENS)
    assert [tok.token_to_id(t) for t in SPECIAL_TOKENS] == list(range(len(SPECIAL_TOKENS)))
    tok.post_processor = processors.TemplateProcessing(
        single=f"{CLS} $A {SEP}",
        pair=f"{CLS} $A {SEP} $B:1 {SEP}:1",
        special_tokens=[(CLS, tok.token_to_id(CLS)), (SEP, tok.token_to_id(SEP))],
    )
    return tok


# --------------------------------------------------------------------------- model
def build_model(vocab_size: int):
    import torch
    from transformers import BertConfig, BertModel

    config = BertConfig(
        vocab_size=vocab_size,
        hidden_size=HIDDEN,
        num_hidden_layers=LAYERS,
        num_attention_heads=HEADS,
        intermediate_size=FFN,
        hidden_act="gelu",
        max_position_embeddings=MAX_POSITIONS,
        type_vocab_size=2,
        layer_norm_eps=1e-12,
        pad_token_id=0,
        initializer_range=0.2,
        position_embedding_type="absolute",
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )
    torch.manual_seed(SEED)
    model = BertModel(config, add_pooling_layer=True).float()
    with torch.no_grad():
        # Random (not identity) layer norms and biases, so every weight the conversion maps
        # matters in the comparison with CTranslate2.
        g = torch.Generator().manual_seed(SEED + 1)
        for name, p in model.named_parameters():
            if "LayerNorm.weight" in name:
                p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=g))
            elif name.endswith("bias"):
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
    model.eval()
    return model


def mean_pool(hidden, mask):
    """sentence-transformers' Pooling(mean) + Normalize, in float32 torch."""
    import torch

    m = mask.unsqueeze(-1).to(hidden.dtype)
    summed = (hidden * m).sum(dim=1)
    counts = torch.clamp(m.sum(dim=1), min=1e-9)
    return torch.nn.functional.normalize(summed / counts, p=2, dim=1)


def cls_pool(hidden):
    import torch

    return torch.nn.functional.normalize(hidden[:, 0], p=2, dim=1)


def torch_embed(model, hf_tok, texts: list[str]):
    """Reference vectors (mean and CLS pooling) and token ids, as sentence-transformers tokenizes."""
    import torch

    batch = hf_tok(texts, padding=True, truncation=True, max_length=MAX_SEQ_LENGTH, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"]
    ids = [row[: int(n)].tolist() for row, n in zip(batch["input_ids"], mask.sum(dim=1))]
    return mean_pool(hidden, mask).numpy(), cls_pool(hidden).numpy(), ids


# --------------------------------------------------------------------------- CT2
def ct2_embed(encoder, token_lists: list[list[str]], with_type_ids: bool):
    """Mean-pooled, normalised vectors from CTranslate2 (independent of the engine under test)."""
    kwargs = {"token_type_ids": [[0] * len(t) for t in token_lists]} if with_type_ids else {}
    out = encoder.forward_batch(token_lists, **kwargs)
    hidden = np.array(out.last_hidden_state, dtype=np.float64)
    vecs = []
    for row, tokens in zip(hidden, token_lists):
        v = row[: len(tokens)].mean(axis=0)
        vecs.append(v / np.linalg.norm(v))
    return np.array(vecs)


# --------------------------------------------------------------------------- README
def write_readme(path: Path, expected: dict, n_params: int, vocab_size: int, sizes, checks: list[str]) -> None:
    lines: list[str] = []
    a = lines.append
    a("# Tiny test encoder")
    a("")
    a("A real, tiny BERT encoder for the embeddings tests: 2 layers, hidden size 32, 4 attention heads, "
      f"FFN 64, {MAX_POSITIONS} positions, {n_params} parameters, uncased WordPiece vocabulary of "
      f"{vocab_size} tokens (like all-MiniLM-L6-v2's, much smaller). Its weights are random (seeded): "
      "an embedding needs no training to be checked, only a reference. The vectors mean nothing; "
      "the tests compare them with the reference vectors in `expected.json`, computed by transformers "
      "the way sentence-transformers embeds (mean pooling over the attention mask, then L2 normalisation).")
    a("")
    a("Licence: generated in this repository by `scripts/build_tiny_encoder.py` (random weights, and a "
      "tokenizer whose vocabulary is read off the sentences below, written for it); no third-party "
      "weights, tokenizer or data, so it is under the project's own terms.")
    a("")
    a("## Files")
    a("")
    lines += files_table(sizes)
    a("")
    a("`ct2/` is laid out like `michaelfeil/ct2fast-all-MiniLM-L6-v2` (a `ct2-transformers-converter` "
      "conversion of a sentence-transformers model, with the tokenizer and sentence-transformers files "
      "copied in): CTranslate2 spec `TransformerEncoderSpec`, weights float32. Load it with "
      "`ctranslate2.Encoder(path, device=\"cpu\")` (any compute_type) and "
      "`tokenizers.Tokenizer.from_file(path + \"/tokenizer.json\")`. Like the ct2fast repo it has no "
      "`1_Pooling/` folder (sentence-transformers then pools by mean); unlike it, no `vocab.txt`, "
      "`special_tokens_map.json` (transformers 5 writes none), `data_config.json` or model card, which "
      "no embedder needs.")
    a("")
    a("## Tokens and limits")
    a("")
    a("- Special tokens: `[PAD]`=0, `[UNK]`=1, `[CLS]`=2, `[SEP]`=3, `[MASK]`=4. `tokenizer.encode(text)` "
      "wraps the text in `[CLS] ... [SEP]` (post-processor), as BERT tokenizers do; those two tokens are "
      "read by the model and count in the mean pooling and in the token counts.")
    a("- The normaliser lower-cases and strips accents (`Café` -> `cafe`) and splits CJK characters; "
      "characters not in the vocabulary text (`☕`) and words that cannot be spelled with the vocabulary "
      "become `[UNK]`.")
    a(f"- `sentence_bert_config.json` says `max_seq_length` = {MAX_SEQ_LENGTH} (all-MiniLM-L6-v2: 256): "
      "sentence-transformers truncates inputs there. `tokenizer_config.json` says `model_max_length` = "
      f"{MAX_POSITIONS} (all-MiniLM-L6-v2: 512), the size of the position table.")
    a(f"- `tokenizer.json` carries a truncation ({BAKED_TRUNCATION} tokens) and a fixed padding setting, "
      "as real exports often do (all-MiniLM-L6-v2's has its own). transformers and sentence-transformers "
      "override both on every call, so an embedder must not rely on them: encoding with the raw "
      f"`tokenizers` settings gives {BAKED_TRUNCATION} tokens padded with `[PAD]`, which is wrong.")
    a("")
    a("## Expected embeddings")
    a("")
    a(f"`expected.json` holds, for each case, the token strings and ids (`[CLS]`/`[SEP]` included, "
      f"truncated at {MAX_SEQ_LENGTH} tokens), `vector` (mean pooling + L2 normalisation, float32 torch, "
      f"rounded to {DECIMALS} decimals) and `cls_vector` (the `[CLS]` token's hidden state, normalised: "
      "what a sentence-transformers model with CLS pooling gives). The vectors have "
      f"{HIDDEN} dimensions.")
    a("")
    a("| case | text | tokens |")
    a("| --- | --- | --- |")
    for c in expected["cases"]:
        note = f" (of {c['untruncated_token_count']}; truncated)" if c["truncated"] else ""
        a(f"| {c['name']} | `{c['text']}` | {len(c['ids'])}{note} |")
    a("")
    a("Checks done by the build before writing anything:")
    a("")
    for line in checks:
        a(f"- {line}")
    a("")
    a("## Vocabulary text")
    a("")
    a("The vocabulary is the special tokens, every character of these sentences (after normalisation; "
      "alone and as a `##` continuation) and every word of them, sorted. (`tokenizers`' WordPieceTrainer "
      "was not used: it picks a different vocabulary on every run, breaking ties in hash-map order.)")
    a("")
    for s in SENTENCES:
        a(f"- `{s}`")
    a("")
    a("## Rebuild")
    a("")
    lines += rebuild_commands(BUILD_PACKAGES, "build_tiny_encoder.py")
    a("")
    a("Built with torch 2.13.0 (CPU), transformers 5, tokenizers 0.23, ctranslate2 4.8.5. The build is "
      "seeded and single-threaded; bit-identical weights need the same library versions, the expected "
      "vectors are what the tests rely on (within 1e-4).")
    a("")
    path.write_text("\n".join(lines), encoding="utf-8")


# --------------------------------------------------------------------------- main
def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=OUT_DIR)
    args = ap.parse_args()

    import ctranslate2
    from ctranslate2.converters import TransformersConverter
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    seed_everything(SEED)

    tok = build_tokenizer(SENTENCES)
    vocab_size = tok.get_vocab_size()
    log(f"tokenizer: {vocab_size} tokens")
    model = build_model(vocab_size)
    n_params = sum(p.numel() for p in model.parameters())
    log(f"model: {n_params} parameters")

    problems: list[str] = []
    checks: list[str] = []
    with tempfile.TemporaryDirectory(prefix="tiny-encoder-") as tmp:
        tmp = Path(tmp)
        hf_dir = tmp / "hf"
        model.save_pretrained(hf_dir, safe_serialization=True)
        hf_tok = PreTrainedTokenizerFast(
            tokenizer_object=tok, unk_token=UNK, pad_token=PAD, cls_token=CLS, sep_token=SEP, mask_token=MASK,
            model_max_length=MAX_POSITIONS,
        )
        hf_tok.save_pretrained(hf_dir)
        rewrite_tokenizer_config(hf_dir / "tokenizer_config.json",
                                 {"do_lower_case": True, "model_max_length": MAX_POSITIONS})
        # tokenizer.json as trained, plus the baked truncation/padding real exports carry.
        baked = Tokenizer.from_str(tok.to_str())
        baked.enable_truncation(max_length=BAKED_TRUNCATION)
        baked.enable_padding(pad_id=0, pad_token=PAD, length=BAKED_TRUNCATION)
        (hf_dir / "tokenizer.json").write_text(baked.to_str(pretty=True), encoding="utf-8")
        # sentence-transformers files, as all-MiniLM-L6-v2 ships them (Pooling dir not copied by ct2fast).
        (hf_dir / "modules.json").write_text(json.dumps([
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
        ], indent=2) + "\n", encoding="utf-8")
        (hf_dir / "sentence_bert_config.json").write_text(
            json.dumps({"max_seq_length": MAX_SEQ_LENGTH, "do_lower_case": False}) + "\n", encoding="utf-8"
        )

        # Reference vectors with transformers, from the saved files (as a user would load them).
        from transformers import AutoModel, AutoTokenizer

        ref_model = AutoModel.from_pretrained(hf_dir).float().eval()
        ref_tok = AutoTokenizer.from_pretrained(hf_dir)
        texts = [t for _, t in CASES]
        mean_b, cls_b, ids_b = torch_embed(ref_model, ref_tok, texts)
        singles = [torch_embed(ref_model, ref_tok, [t]) for t in texts]
        mean_s = np.concatenate([s[0] for s in singles])
        diff = float(np.abs(mean_b - mean_s).max())
        checks.append(f"transformers: padded batch vs one by one, max abs difference {diff:.1e}")
        if diff > 1e-5:
            problems.append(f"torch batch vs single differ by {diff}")
        if [s[2][0] for s in singles] != ids_b:
            problems.append("torch token ids differ between batch and single")
        sims = mean_b @ mean_b.T
        off_diag = float(np.max(sims - np.eye(len(texts)) * 2))
        checks.append(f"distinct texts give distinct vectors: largest cosine between two cases {off_diag:.3f}")
        if off_diag > 0.99:
            problems.append(f"vectors of different texts are nearly equal ({off_diag})")

        # Convert. Files as ct2fast-all-MiniLM-L6-v2 copies them (minus README/vocab.txt/data_config).
        ct2_dir = tmp / "ct2"
        copy = ["tokenizer.json", "tokenizer_config.json", "modules.json", "sentence_bert_config.json"]
        TransformersConverter(str(hf_dir), copy_files=copy).convert(str(ct2_dir), quantization="float32", force=True)
        log(f"ct2: model.bin {(ct2_dir / 'model.bin').stat().st_size} bytes")

        ct_tok = Tokenizer.from_file(str(ct2_dir / "tokenizer.json"))
        ct_tok.no_padding()
        ct_tok.enable_truncation(max_length=MAX_SEQ_LENGTH)
        encs = ct_tok.encode_batch(texts)
        if [e.ids for e in encs] != ids_b:
            problems.append("tokenizers and transformers tokenize differently")
        encoder = ctranslate2.Encoder(str(ct2_dir), device="cpu", intra_threads=1)
        token_lists = [e.tokens for e in encs]
        ct_batch = ct2_embed(encoder, token_lists, with_type_ids=False)
        ct_typed = ct2_embed(encoder, token_lists, with_type_ids=True)
        ct_single = np.concatenate([ct2_embed(encoder, [t], with_type_ids=False) for t in token_lists])
        for label, got in (("batch", ct_batch), ("batch with token_type_ids", ct_typed), ("one by one", ct_single)):
            d = float(np.abs(got - mean_b).max())
            checks.append(f"CTranslate2 float32 ({label}) vs transformers: max abs difference {d:.1e}")
            if d > 1e-5:
                problems.append(f"ct2 {label} differs from torch by {d}")
        enc_i8 = ctranslate2.Encoder(str(ct2_dir), device="cpu", intra_threads=1, compute_type="int8")
        i8 = ct2_embed(enc_i8, token_lists, with_type_ids=False)
        min_cos = float(np.min(np.sum(i8 * mean_b, axis=1)))
        checks.append(f"CTranslate2 int8 vs transformers: smallest cosine similarity {min_cos:.4f}")
        del encoder, enc_i8
        gc.collect()

        # Untruncated token counts (for the long case).
        full_tok = Tokenizer.from_file(str(ct2_dir / "tokenizer.json"))
        full_tok.no_padding()
        full_tok.no_truncation()
        full_counts = [len(e.ids) for e in full_tok.encode_batch(texts)]
        if not any(n > MAX_SEQ_LENGTH for n in full_counts):
            problems.append("no case is longer than max_seq_length")
        if not all(n <= MAX_POSITIONS for n in full_counts):
            problems.append("a case is longer than the position table")

        cases = []
        for i, (name, text) in enumerate(CASES):
            cases.append({
                "name": name,
                "text": text,
                "tokens": encs[i].tokens,
                "ids": encs[i].ids,
                "untruncated_token_count": full_counts[i],
                "truncated": full_counts[i] > MAX_SEQ_LENGTH,
                "vector": [round(float(x), DECIMALS) for x in mean_b[i]],
                "cls_vector": [round(float(x), DECIMALS) for x in cls_b[i]],
            })
        expected = {
            "description": "Reference embeddings of the tiny test encoder (see README.md).",
            "reference": "transformers (torch float32): mean pooling over the attention mask, L2 normalised",
            "dimensions": HIDDEN,
            "max_seq_length": MAX_SEQ_LENGTH,
            "model_max_length": MAX_POSITIONS,
            "special_tokens": {"pad": PAD, "unk": UNK, "cls": CLS, "sep": SEP, "mask": MASK},
            "ct2_spec": "TransformerEncoderSpec",
            "ct2_quantization": "float32",
            "decimals": DECIMALS,
            "cases": cases,
        }

        if problems:
            for p in problems:
                log("PROBLEM: " + p)
            return 1

        out = args.out
        shutil.rmtree(out / "ct2", ignore_errors=True)
        (out / "ct2").mkdir(parents=True)
        for f in sorted(ct2_dir.iterdir()):
            if f.is_file():
                shutil.copy2(f, out / "ct2" / f.name)
        (out / "expected.json").write_text(json.dumps(expected, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")

    what = {
        "ct2/model.bin": "CTranslate2 weights (float32, `TransformerEncoderSpec`)",
        "ct2/config.json": "CTranslate2 config (unk token, layer norm epsilon)",
        "ct2/vocabulary.json": "CTranslate2 vocabulary (token strings by id)",
        "ct2/tokenizer.json": "WordPiece tokenizer (`tokenizers`), with baked truncation/padding",
        "ct2/tokenizer_config.json": "special tokens, `model_max_length`",
        "ct2/modules.json": "sentence-transformers modules (Transformer, Pooling, Normalize)",
        "ct2/sentence_bert_config.json": "sentence-transformers `max_seq_length`",
        "expected.json": "texts, tokens and reference vectors",
    }
    write_readme(args.out / "README.md", expected, n_params, vocab_size, file_sizes(args.out, what), checks)
    for line in checks:
        log("  " + line)
    return 0 if within_size_budget(args.out, SIZE_LIMIT) else 1


if __name__ == "__main__":
    sys.exit(main())
