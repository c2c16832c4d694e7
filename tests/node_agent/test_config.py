"""Node agent settings: flags win over the environment, defaults, and errors that name the setting."""

from __future__ import annotations

import socket
import sys

import pytest

from node_agent import system
from node_agent.config import ConfigError, parse_config

REQUIRED_ENV = {"LLM_NODE_ROUTER_URL": "http://router:8080", "LLM_NODE_API_KEY": "node-key"}


def test_defaults() -> None:
    config = parse_config([], {**REQUIRED_ENV, "LLM_NODE_PLATFORM": "linux-cpu"})
    assert config.router_url == "http://router:8080"
    assert (config.listen_host, config.listen_port) == ("127.0.0.1", 8090)
    assert config.advertised(8090) == "http://127.0.0.1:8090"
    assert config.name == socket.gethostname()
    assert config.models_dir == "./node-models"
    assert config.hub_endpoint == "https://huggingface.co"
    assert config.hf_token is None
    assert config.sync_interval == 10.0
    assert config.memory_bytes is None
    assert config.engines == ("llama_cpp", "ctranslate2")
    assert config.log_level == "INFO"


def test_flags_win_over_the_environment() -> None:
    env = {**REQUIRED_ENV, "LLM_NODE_LISTEN": "0.0.0.0:9000", "LLM_NODE_NAME": "env-name",
           "LLM_NODE_SYNC_INTERVAL": "30", "LLM_NODE_ENGINES": "ctranslate2", "HF_ENDPOINT": "http://env-hub",
           "LLM_NODE_MEMORY_BYTES": "1000", "LLM_NODE_PLATFORM": "linux-cuda", "HF_TOKEN": "hf_secret"}
    config = parse_config(["--router-url", "https://flag-router/", "--listen", "127.0.0.1:0", "--name", "flag-name",
                           "--sync-interval", "0.5", "--engines", "llama_cpp", "--hub-endpoint", "http://flag-hub",
                           "--memory-bytes", "2000", "--platform", "linux-cpu", "--advertise-url",
                           "http://10.0.0.5:8090", "--log-level", "debug"], env)
    assert config.router_url == "https://flag-router"
    assert (config.listen_host, config.listen_port) == ("127.0.0.1", 0)
    assert config.name == "flag-name" and config.sync_interval == 0.5 and config.engines == ("llama_cpp",)
    assert config.hub_endpoint == "http://flag-hub" and config.memory_bytes == 2000 and config.platform == "linux-cpu"
    assert config.advertised(1234) == "http://10.0.0.5:8090" and config.log_level == "DEBUG"
    assert config.hf_token == "hf_secret"


def test_environment_alone() -> None:
    config = parse_config([], {**REQUIRED_ENV, "LLM_NODE_LISTEN": "0.0.0.0:9000", "LLM_NODE_ENGINES": "ctranslate2",
                               "HF_ENDPOINT": "http://env-hub/", "LLM_NODE_MEMORY_BYTES": "1000",
                               "LLM_NODE_PLATFORM": "macos-metal"})
    assert config.engines == ("ctranslate2",) and config.hub_endpoint == "http://env-hub"
    assert config.memory_bytes == 1000 and config.platform == "macos-metal"
    # A wildcard listen address is nobody's address: the host name is advertised instead.
    assert config.advertised(9000) == f"http://{socket.gethostname()}:9000"


def test_secrets_stay_out_of_repr() -> None:
    config = parse_config([], {**REQUIRED_ENV, "HF_TOKEN": "hf_secret", "LLM_NODE_PLATFORM": "linux-cpu"})
    assert "node-key" not in repr(config) and "hf_secret" not in repr(config)


@pytest.mark.parametrize(("argv", "env", "names"), [
    ([], {"LLM_NODE_API_KEY": "k"}, "LLM_NODE_ROUTER_URL"),
    ([], {"LLM_NODE_ROUTER_URL": "http://r"}, "LLM_NODE_API_KEY"),
    (["--router-url", "ftp://r"], {"LLM_NODE_API_KEY": "k"}, "--router-url"),
    (["--listen", "8090"], REQUIRED_ENV, "LLM_NODE_LISTEN"),
    (["--platform", "amiga"], REQUIRED_ENV, "LLM_NODE_PLATFORM"),
    (["--engines", "vllm"], REQUIRED_ENV, "LLM_NODE_ENGINES"),
    (["--sync-interval", "0"], REQUIRED_ENV, "LLM_NODE_SYNC_INTERVAL"),
    (["--memory-bytes", "-1"], REQUIRED_ENV, "LLM_NODE_MEMORY_BYTES"),
    (["--log-level", "loud"], REQUIRED_ENV, "LLM_NODE_LOG_LEVEL"),
])
def test_errors_name_the_flag_or_variable(argv, env, names) -> None:
    with pytest.raises(ConfigError, match=names):
        parse_config(argv, {"LLM_NODE_PLATFORM": "linux-cpu", **env})


def test_system_facts_without_new_dependencies() -> None:
    total, used = system.memory()
    assert 0 < used < total
    assert system.cpu_count() >= 1
    sampler = system.CpuSampler()
    assert 0.0 <= sampler.percent() <= 100.0
    assert all(gpu.memory_total_bytes > 0 for gpu in system.gpus())  # [] without nvidia-smi, never an error


def _system_facts_with(tmp_path, nvidia_smi: str) -> dict:
    """system.gpus() and detect_platform() in a child whose PATH has a stand-in nvidia-smi first."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "nvidia-smi"
    script.write_text(f"#!/bin/sh\n{nvidia_smi}\n")
    script.chmod(0o755)
    code = ("import dataclasses, json; from node_agent import system, config; "
            "print(json.dumps({'gpus': [dataclasses.asdict(g) for g in system.gpus()], "
            "'platform': config.detect_platform()}))")
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=30,
                            cwd=Path(__file__).resolve().parents[2], check=True)
    return json.loads(result.stdout)


@pytest.mark.skipif(sys.platform != "linux", reason="platform detection by nvidia-smi is the Linux path")
def test_gpus_come_from_nvidia_smi(tmp_path) -> None:
    facts = _system_facts_with(tmp_path, "printf 'NVIDIA L4, 23034, 1024, 3\\nNVIDIA H100 80GB HBM3, 81559, [N/A], "
                                         "[Not Supported]\\n'")
    assert facts["platform"] == "linux-cuda"
    assert facts["gpus"] == [
        {"name": "NVIDIA L4", "memory_total_bytes": 23034 * 1024 * 1024, "memory_used_bytes": 1024 * 1024 * 1024,
         "utilization_percent": 3.0},
        {"name": "NVIDIA H100 80GB HBM3", "memory_total_bytes": 81559 * 1024 * 1024, "memory_used_bytes": None,
         "utilization_percent": None},
    ]


@pytest.mark.skipif(sys.platform != "linux", reason="platform detection by nvidia-smi is the Linux path")
def test_a_failing_nvidia_smi_means_no_gpu(tmp_path) -> None:
    facts = _system_facts_with(tmp_path, "echo 'NVIDIA-SMI has failed' >&2; exit 9")
    assert facts == {"gpus": [], "platform": "linux-cpu"}
