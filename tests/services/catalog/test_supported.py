"""The catalog file: the shipped one is valid and complete; a broken one stops start-up with a
message naming the entry and the field."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from app import create_app
from app.services.catalog.supported import CatalogError, load_catalog
from tests.support.factories import router_config
from tests.support.router_process import PROJECT_ROOT

CATALOG_PATH = PROJECT_ROOT / "supported_models.json"


def shipped_entries() -> list[dict]:
    return json.loads(CATALOG_PATH.read_text(encoding="utf-8"))


def write_catalog(tmp_path: Path, entries) -> Path:
    path = tmp_path / "supported_models.json"
    path.write_text(json.dumps(entries), encoding="utf-8")
    return path


def test_shipped_catalog_is_valid_and_covers_both_engines_and_embeddings():
    catalog = load_catalog(CATALOG_PATH)
    formats = [model.format for model in catalog]
    assert formats.count("gguf") >= 3
    assert "ctranslate2" in formats
    assert any("embeddings" in model.capabilities for model in catalog)
    assert [model.id for model in catalog] == [entry["id"] for entry in shipped_entries()]  # file order kept


@pytest.mark.parametrize("mutate, expected", [
    (lambda e: e[2].__setitem__("size_bytes", -5), "entry 2 (id 'smollm2-1.7b-instruct'): field 'size_bytes'"),
    (lambda e: e[0].pop("repo"), "entry 0 (id 'qwen2.5-0.5b-instruct'): field 'repo' is missing"),
    (lambda e: e[1].__setitem__("engine", "vllm"), "entry 1 (id 'qwen3-0.6b'): field 'engine'"),
    (lambda e: e[3].__setitem__("format", "ctranslate2"), "entry 3 (id 'llama-3.2-3b-instruct'): field 'engine'"),
    (lambda e: e[4].__setitem__("colour", "red"), "entry 4 (id 'gemma-3-4b-it'): field 'colour' is not part"),
    (lambda e: e[5].__setitem__("recommended_filename", "../../etc/passwd.gguf"),
     "entry 5 (id 'phi-3-mini-4k-instruct'): field 'recommended_filename'"),
    (lambda e: e[6].__setitem__("repo", "not a repo"), "entry 6 (id 'mistral-7b-instruct-v0.3'): field 'repo'"),
    (lambda e: e[7].__setitem__("id", e[0]["id"]), "entry 7 (id 'qwen2.5-0.5b-instruct'): field 'id': duplicate"),
    (lambda e: e[8].__setitem__("tags", "llama"), "entry 8 (id 'llama-3.1-8b-instruct'): field 'tags'"),
    (lambda e: e[9].__setitem__("platforms", []), "entry 9 (id 'phi-4'): field 'platforms'"),
])
def test_broken_entry_is_named_with_index_id_and_field(tmp_path, mutate, expected):
    entries = shipped_entries()
    mutate(entries)
    with pytest.raises(CatalogError) as caught:
        load_catalog(write_catalog(tmp_path, entries))
    assert expected in str(caught.value)


def test_not_json_and_wrong_top_level_are_reported(tmp_path):
    path = tmp_path / "supported_models.json"
    path.write_text("[{", encoding="utf-8")
    with pytest.raises(CatalogError, match="not valid JSON"):
        load_catalog(path)
    with pytest.raises(CatalogError, match="JSON array"):
        load_catalog(write_catalog(tmp_path, {"models": []}))


def test_create_app_refuses_a_broken_catalog(tmp_path, hub):
    entries = shipped_entries()
    entries[0]["size_bytes"] = "big"
    config = router_config(tmp_path, hub.url, SUPPORTED_MODELS_PATH=str(write_catalog(tmp_path, entries)))
    with pytest.raises(CatalogError, match="entry 0"):
        create_app(config)


def test_router_process_stops_with_a_clear_message(tmp_path):
    entries = shipped_entries()
    del entries[1]["engine"]
    env = {**os.environ, "LLM_ROUTER_SUPPORTED_MODELS": str(write_catalog(tmp_path, entries)),
           "LLM_ROUTER_INSTANCE_PATH": str(tmp_path / "instance"), "LLM_ROUTER_SCHEDULER": "0"}
    result = subprocess.run([sys.executable, "-c", "import wsgi"], cwd=PROJECT_ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "llm-router cannot start" in result.stderr
    assert "entry 1 (id 'qwen3-0.6b'): field 'engine' is missing" in result.stderr
