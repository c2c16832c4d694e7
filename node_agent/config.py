"""The node agent's settings, from command-line flags and the environment (a flag wins).

Why both: systemd units pass settings through an EnvironmentFile (secrets stay out of `ps`), while
people and tests find flags easier. Every problem is reported as a `ConfigError` that names the
flag and the variable, so a misconfigured unit fails at start with a sentence, not a traceback.

Secrets (`LLM_NODE_API_KEY`, `HF_TOKEN`) are never part of `Config.__repr__` or any log line.
"""

from __future__ import annotations

import argparse
import os
import platform as platform_module
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from node_agent import system

__all__ = ["Config", "ConfigError", "ENGINES", "PLATFORMS", "parse_config", "detect_platform"]

# What the router accepts (app/services/fleet/nodes.py); an unknown value would only earn a 400 at registration.
ENGINES = ("llama_cpp", "ctranslate2")
PLATFORMS = ("linux-cpu", "linux-cuda", "macos-metal", "macos-cpu", "windows-cpu", "windows-cuda")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")

DEFAULT_LISTEN = "127.0.0.1:8090"
DEFAULT_MODELS_DIR = "./node-models"
DEFAULT_HUB = "https://huggingface.co"
DEFAULT_SYNC_INTERVAL = 10.0
DEFAULT_ENGINES = "llama_cpp,ctranslate2"
DEFAULT_LOG_FILE_BYTES = 10 * 1024 * 1024
DEFAULT_LOG_FILE_COUNT = 5
LOG_DIR_NAME = ".logs"  # inside the models directory: a dot name, which the model store never touches

_WILDCARD_HOSTS = ("0.0.0.0", "::", "")


class ConfigError(ValueError):
    """A setting that is missing or invalid; the message names the flag and the variable."""


@dataclass(frozen=True)
class Config:
    """Resolved settings. `advertise_url` is None until known: the default depends on the bound port."""

    router_url: str
    api_key: str = field(repr=False)
    listen_host: str
    listen_port: int
    advertise_url: str | None
    name: str
    models_dir: str
    platform: str
    hub_endpoint: str
    hf_token: str | None = field(repr=False)
    sync_interval: float
    memory_bytes: int | None  # None: detect
    engines: tuple[str, ...]
    log_level: str
    log_dir: str = ""  # JSON-lines log (node_agent/logs.py); "" means <models_dir>/.logs
    log_file_bytes: int = DEFAULT_LOG_FILE_BYTES
    log_file_count: int = DEFAULT_LOG_FILE_COUNT

    def advertised(self, bound_port: int) -> str:
        """The URL the router should call: the explicit one, else derived from the listen address.

        A wildcard listen address (0.0.0.0) is no address for anyone else, so the host name stands in.
        """
        if self.advertise_url:
            return self.advertise_url
        host = self.listen_host
        if host in _WILDCARD_HOSTS:
            host = socket.gethostname()
        if ":" in host:  # IPv6 literal
            host = f"[{host}]"
        return f"http://{host}:{bound_port}"


def detect_platform() -> str:
    """macos-metal on Apple silicon, linux-cuda when nvidia-smi sees a GPU, else the CPU flavour."""
    os_name, machine = platform_module.system(), platform_module.machine().lower()
    if os_name == "Darwin":
        return "macos-metal" if machine in ("arm64", "aarch64") else "macos-cpu"
    has_gpu = bool(system.gpus())
    if os_name == "Windows":
        return "windows-cuda" if has_gpu else "windows-cpu"
    return "linux-cuda" if has_gpu else "linux-cpu"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m node_agent",
        description="LLM router node agent: registers with the router, keeps the models it is told to hold, "
                    "and answers the router's status polls. Every flag can also be set by the variable shown.")
    add = parser.add_argument
    add("--router-url", help="the router's base URL, e.g. http://10.0.0.2:8080 [LLM_NODE_ROUTER_URL] (required)")
    add("--api-key", help="an API key with the node scope [LLM_NODE_API_KEY] (required; prefer the variable: "
                          "flags are visible in the process list)")
    add("--listen", help=f"host:port to serve on [LLM_NODE_LISTEN] (default {DEFAULT_LISTEN}; port 0 picks a free one)")
    add("--advertise-url", help="the URL the router should use to reach this node [LLM_NODE_ADVERTISE_URL] "
                                "(default http://<listen>)")
    add("--name", help="this node's name, unique among nodes [LLM_NODE_NAME] (default: the host name)")
    add("--models-dir", help=f"where model files are kept [LLM_NODE_MODELS_DIR] (default {DEFAULT_MODELS_DIR})")
    add("--platform", help=f"one of {', '.join(PLATFORMS)} [LLM_NODE_PLATFORM] (default: detected)")
    add("--hub-endpoint", help=f"Hugging Face Hub base URL [HF_ENDPOINT] (default {DEFAULT_HUB}); "
                               "the token comes from HF_TOKEN")
    add("--sync-interval", help=f"seconds between manifest reads [LLM_NODE_SYNC_INTERVAL] "
                                f"(default {DEFAULT_SYNC_INTERVAL:g})")
    add("--memory-bytes", help="memory to report instead of the detected total [LLM_NODE_MEMORY_BYTES]")
    add("--engines", help=f"comma-separated engines this node runs [LLM_NODE_ENGINES] (default {DEFAULT_ENGINES})")
    add("--log-level", help=f"one of {', '.join(LOG_LEVELS)} [LLM_NODE_LOG_LEVEL] (default INFO)")
    add("--log-dir", help=f"where the JSON-lines log node.log and its rotated files are kept, served to the "
                          f"router by GET /v0/logs [LLM_NODE_LOG_DIR] (default <models dir>/{LOG_DIR_NAME})")
    add("--log-file-bytes", help=f"size at which node.log is rotated [LLM_NODE_LOG_FILE_BYTES] "
                                 f"(default {DEFAULT_LOG_FILE_BYTES})")
    add("--log-file-count", help=f"log files kept, node.log included (at least 2) [LLM_NODE_LOG_FILE_COUNT] "
                                 f"(default {DEFAULT_LOG_FILE_COUNT})")
    return parser


def _pick(flag_value: str | None, env: Mapping[str, str], variable: str, default: str | None = None) -> str | None:
    """Flag, else a non-empty variable, else the default."""
    if flag_value is not None:
        return flag_value
    value = env.get(variable)
    return value if value not in (None, "") else default


def _url(value: str | None, what: str) -> str:
    parts = urlsplit(value or "")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{what} must be an http(s) URL such as http://10.0.0.2:8080, not {value!r}")
    return value.rstrip("/")  # type: ignore[union-attr]


def _listen(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise ConfigError(f"--listen / LLM_NODE_LISTEN must be host:port such as 127.0.0.1:8090, not {value!r}")
    return host.strip("[]"), int(port)


def _positive_float(value: str, what: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise ConfigError(f"{what} must be a number of seconds, not {value!r}") from None
    if not number > 0:
        raise ConfigError(f"{what} must be greater than 0, not {value!r}")
    return number


def _memory(value: str | None) -> int | None:
    if value is None:
        return None
    if not value.isdigit() or int(value) <= 0:
        raise ConfigError(f"--memory-bytes / LLM_NODE_MEMORY_BYTES must be a positive whole number of bytes, "
                          f"not {value!r}")
    return int(value)


def _whole(value: str, minimum: int, what: str) -> int:
    if not value.isdigit() or int(value) < minimum:
        raise ConfigError(f"{what} must be a whole number of at least {minimum}, not {value!r}")
    return int(value)


def _engines(value: str) -> tuple[str, ...]:
    engines = tuple(dict.fromkeys(item.strip() for item in value.split(",") if item.strip()))
    unknown = [engine for engine in engines if engine not in ENGINES]
    if not engines or unknown:
        raise ConfigError(f"--engines / LLM_NODE_ENGINES must list some of {', '.join(ENGINES)}, not {value!r}")
    return engines


def parse_config(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Settings from `argv` (default sys.argv[1:]) and `env` (default os.environ); raises ConfigError.

    `--help` exits through argparse, as usual.
    """
    env = os.environ if env is None else env
    args = _parser().parse_args(argv)

    router_url = _pick(args.router_url, env, "LLM_NODE_ROUTER_URL")
    if not router_url:
        raise ConfigError("the router's URL is required: --router-url or LLM_NODE_ROUTER_URL")
    api_key = _pick(args.api_key, env, "LLM_NODE_API_KEY")
    if not api_key:
        raise ConfigError("an API key with the node scope is required: LLM_NODE_API_KEY (or --api-key); "
                          "create one on the router's API Keys page")
    host, port = _listen(_pick(args.listen, env, "LLM_NODE_LISTEN", DEFAULT_LISTEN))  # type: ignore[arg-type]
    advertise = _pick(args.advertise_url, env, "LLM_NODE_ADVERTISE_URL")
    name = _pick(args.name, env, "LLM_NODE_NAME") or socket.gethostname()
    if not (0 < len(name) <= 100 and name.isprintable()):
        raise ConfigError(f"--name / LLM_NODE_NAME must be 1 to 100 printable characters, not {name!r}")
    platform = _pick(args.platform, env, "LLM_NODE_PLATFORM") or detect_platform()
    if platform not in PLATFORMS:
        raise ConfigError(f"--platform / LLM_NODE_PLATFORM must be one of {', '.join(PLATFORMS)}, not {platform!r}")
    log_level = (_pick(args.log_level, env, "LLM_NODE_LOG_LEVEL", "INFO") or "INFO").upper()
    if log_level not in LOG_LEVELS:
        raise ConfigError(f"--log-level / LLM_NODE_LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, "
                          f"not {log_level!r}")
    models_dir: str = _pick(args.models_dir, env, "LLM_NODE_MODELS_DIR", DEFAULT_MODELS_DIR)  # type: ignore[assignment]
    log_dir = _pick(args.log_dir, env, "LLM_NODE_LOG_DIR") or os.path.join(models_dir, LOG_DIR_NAME)
    log_file_bytes = _whole(_pick(args.log_file_bytes, env, "LLM_NODE_LOG_FILE_BYTES",  # type: ignore[arg-type]
                                  str(DEFAULT_LOG_FILE_BYTES)), 1024, "--log-file-bytes / LLM_NODE_LOG_FILE_BYTES")
    log_file_count = _whole(_pick(args.log_file_count, env, "LLM_NODE_LOG_FILE_COUNT",  # type: ignore[arg-type]
                                  str(DEFAULT_LOG_FILE_COUNT)), 2, "--log-file-count / LLM_NODE_LOG_FILE_COUNT")
    return Config(
        router_url=_url(router_url, "--router-url / LLM_NODE_ROUTER_URL"),
        api_key=api_key,
        listen_host=host,
        listen_port=port,
        advertise_url=_url(advertise, "--advertise-url / LLM_NODE_ADVERTISE_URL") if advertise else None,
        name=name,
        models_dir=models_dir,
        platform=platform,
        hub_endpoint=_url(_pick(args.hub_endpoint, env, "HF_ENDPOINT", DEFAULT_HUB), "--hub-endpoint / HF_ENDPOINT"),
        hf_token=env.get("HF_TOKEN") or None,
        sync_interval=_positive_float(_pick(args.sync_interval, env, "LLM_NODE_SYNC_INTERVAL",  # type: ignore[arg-type]
                                            str(DEFAULT_SYNC_INTERVAL)), "--sync-interval / LLM_NODE_SYNC_INTERVAL"),
        memory_bytes=_memory(_pick(args.memory_bytes, env, "LLM_NODE_MEMORY_BYTES")),
        engines=_engines(_pick(args.engines, env, "LLM_NODE_ENGINES", DEFAULT_ENGINES)),  # type: ignore[arg-type]
        log_level=log_level,
        log_dir=log_dir,
        log_file_bytes=log_file_bytes,
        log_file_count=log_file_count,
    )
