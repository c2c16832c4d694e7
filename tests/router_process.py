"""Starting the real router (gunicorn) as a separate process, for tests and benchmarks."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import requests

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class RouterProcess:
    url: str
    process: subprocess.Popen
    instance_path: Path
    log_path: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_router(workdir: Path, hub_url: str, extra_env: dict[str, str] | None = None) -> RouterProcess:
    """The real router under gunicorn, as operators run it; waits until it answers."""
    port = free_port()
    instance = workdir / "router-instance"
    env = {**os.environ, "LLM_ROUTER_INSTANCE_PATH": str(instance), "HF_ENDPOINT": hub_url,
           "LLM_ROUTER_HOST": "127.0.0.1", "LLM_ROUTER_PORT": str(port), "LLM_ROUTER_HF_STATS_TIMEOUT": "1",
           **(extra_env or {})}
    log_path = workdir / "router.log"
    with log_path.open("ab") as log:  # the child keeps its own descriptor
        process = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
                                   cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"router exited with {process.returncode}: "
                               f"{(workdir / 'router.log').read_text(errors='replace')}")
        try:
            if requests.get(f"{url}/v0/models/hub", timeout=1).status_code == 200:
                return RouterProcess(url, process, instance, log_path)
        except requests.RequestException:
            time.sleep(0.1)
    process.kill()
    process.wait()
    raise RuntimeError(f"router did not answer within 30 s: {log_path.read_text(errors='replace')}")
