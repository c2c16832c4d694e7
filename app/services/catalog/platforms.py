"""The engines and platforms a model or node names, and where each engine runs by default."""

ENGINES = ("llama_cpp", "ctranslate2")
PLATFORMS = ("linux-cpu", "linux-cuda", "macos-metal", "macos-cpu", "windows-cpu", "windows-cuda")
DEFAULT_PLATFORMS = {
    "llama_cpp": ["linux-cpu", "linux-cuda", "macos-metal"],
    "ctranslate2": ["linux-cpu", "linux-cuda"],
}


def platforms_of(engine: str, platforms: list[str] | None) -> list[str]:
    """A model's platforms: its own list, or its engine's default."""
    return list(platforms or DEFAULT_PLATFORMS.get(engine, []))
