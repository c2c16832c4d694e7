"""The tiny test model in tests/data/tiny-model (built by scripts/build_tiny_model.py): where its
CTranslate2 and GGUF files are, and the greedy outputs every engine must give on it
(expected.json), shared by the engine, node server and data tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from node_agent.engines.common import Completion, GenerationParams

DATA = Path(__file__).resolve().parents[1] / "data" / "tiny-model"
CT2_DIR = DATA / "ct2"
GGUF_DIR = DATA / "gguf"
GGUF = GGUF_DIR / "tiny-llama-f16.gguf"
EXPECTED: dict[str, Any] = json.loads((DATA / "expected.json").read_text(encoding="utf-8"))
CASES: list[dict[str, Any]] = EXPECTED["cases"]
CASE = {case["name"]: case for case in CASES}
GREEDY = GenerationParams(temperature=0, max_tokens=64)


def case_input(case: dict[str, Any]) -> str | list[dict[str, str]]:
    """What an engine's stream() takes for a case: chat messages or the raw prompt."""
    return case["messages"] if case["kind"] == "chat" else case["prompt"]


def run(engine: Any, case: dict[str, Any], params: GenerationParams) -> Completion:
    """A non-streaming request for one case, on any generation engine."""
    if case["kind"] == "chat":
        return engine.chat(case["messages"], params)
    return engine.complete(case["prompt"], params)
