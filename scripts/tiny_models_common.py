"""What the two tiny-model builders share (scripts/build_tiny_model.py, scripts/build_tiny_encoder.py).

Both build a model from seeded random weights in a throwaway virtual environment (torch,
transformers, tokenizers, ctranslate2), save it as Hugging Face files, convert it with CTranslate2,
install the result under tests/data/ with a README, and must give the same files on every run.
The parts that make a build reproducible and its output look alike live here, once: the
single-threaded, offline environment, the seeding, the tokenizer_config.json both transformers 4
and 5 load, the README's file table and rebuild steps, and the size budget check.

Imports only the standard library at module level: `deterministic_environment()` has to run before
numpy, torch or tokenizers are imported.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
BUILD_VENV = "/tmp/buildvenv"


def deterministic_environment() -> None:
    """Single thread everywhere, deterministic cuBLAS, no network: call before numpy/torch/tokenizers load."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "RAYON_NUM_THREADS"):
        os.environ[var] = "1"
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    os.environ["CUBLAS_WORKSPACE_CONFIG"] = ":4096:8"  # only read on CUDA; the builds run on the CPU
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"


def log(msg: str) -> None:
    print(msg, flush=True)


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch; one torch thread and deterministic algorithms only."""
    import random

    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)


def rewrite_tokenizer_config(path: Path, updates: dict[str, Any]) -> None:
    """Make the tokenizer_config.json transformers saved loadable by transformers 4 and 5, plus `updates`.

    transformers 5 writes `"tokenizer_class": "TokenizersBackend"` (and a `backend` key), which 4
    cannot load; "PreTrainedTokenizerFast" loads with both. Keys are sorted so the file is stable.
    """
    config = json.loads(path.read_text(encoding="utf-8"))
    config["tokenizer_class"] = "PreTrainedTokenizerFast"
    config.pop("backend", None)
    config.update(updates)
    path.write_text(json.dumps(config, indent=2, ensure_ascii=False, sort_keys=True) + "\n", encoding="utf-8")


def file_sizes(out: Path, what: dict[str, str]) -> list[tuple[str, int, str]]:
    """(path relative to `out`, bytes, description) of every built file but the README, sorted."""
    files = sorted(p for p in out.rglob("*") if p.is_file() and p.name != "README.md")
    return [(str(p.relative_to(out)), p.stat().st_size, what.get(str(p.relative_to(out)), "")) for p in files]


def files_table(sizes: Iterable[tuple[str, int, str]]) -> list[str]:
    """The README's "Files" table (markdown lines)."""
    return ["| file | what | bytes |", "| --- | --- | --- |", *(f"| `{rel}` | {what} | {size} |" for rel, size, what in sizes)]


def rebuild_commands(packages: str, script: str) -> list[str]:
    """The README's rebuild steps (a markdown code block) for `scripts/<script>`."""
    return ["```sh", f"python3 -m venv {BUILD_VENV}", f"{BUILD_VENV}/bin/pip install {packages}",
            f"{BUILD_VENV}/bin/python scripts/{script}", "```"]


def within_size_budget(out: Path, limit: int) -> bool:
    """Log every installed file and the total; False (after saying so) when the total reaches `limit` bytes."""
    total = 0
    log("\nfiles:")
    for p in sorted(q for q in out.rglob("*") if q.is_file()):
        size = p.stat().st_size
        total += size
        log(f"  {size:9d}  {p.relative_to(REPO) if p.is_relative_to(REPO) else p}")
    log(f"  {total:9d}  total ({total / 1024:.1f} KiB)")
    if total >= limit:
        log(f"PROBLEM: total size is over {limit} bytes ({limit / 1024 / 1024:.1f} MiB)")
        return False
    return True
