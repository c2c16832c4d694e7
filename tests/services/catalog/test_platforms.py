"""Engines, platforms, and where each engine runs by default (app/services/catalog/platforms.py)."""

from __future__ import annotations

import pytest

from app.services.catalog.platforms import DEFAULT_PLATFORMS, ENGINES, PLATFORMS, platforms_of


@pytest.mark.parametrize("engine, own, expected", [
    ("llama_cpp", None, ["linux-cpu", "linux-cuda", "macos-metal"]),
    ("ctranslate2", None, ["linux-cpu", "linux-cuda"]),
    ("ctranslate2", [], ["linux-cpu", "linux-cuda"]),  # an empty list means "not said", not "nowhere"
    ("llama_cpp", ["windows-cuda"], ["windows-cuda"]),
    ("vllm", None, []),
])
def test_platforms_of(engine, own, expected):
    assert platforms_of(engine, own) == expected


def test_the_result_is_a_copy():
    platforms = platforms_of("llama_cpp", None)
    platforms.append("windows-cpu")
    assert "windows-cpu" not in DEFAULT_PLATFORMS["llama_cpp"]
    own = ["linux-cpu"]
    assert platforms_of("llama_cpp", own) is not own


def test_defaults_name_known_engines_and_platforms():
    assert set(DEFAULT_PLATFORMS) == set(ENGINES)
    assert all(set(platforms) <= set(PLATFORMS) for platforms in DEFAULT_PLATFORMS.values())
