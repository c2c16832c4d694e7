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

PROJECT_ROOT = Path(__file__).resolve().parents[2]
ADMIN_USERNAME = "admin"
ADMIN_PASSWORD = "correct horse battery staple"
# Tests hash passwords cheaply (a production router keeps the scrypt default).
FAST_PASSWORD_HASH = "pbkdf2:sha256:1000"
PROVIDER_VARIABLES = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "GEMINI_API_KEY",
                      "GEMINI_BASE_URL")


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
    token: str = ""

    @property
    def auth_headers(self) -> dict[str, str]:
        """The first admin's JWT, for API calls from tests."""
        return {"Authorization": f"Bearer {self.token}"}

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
    # A developer's own provider keys must never reach a test router (its traffic stays on 127.0.0.0/8).
    inherited = {name: value for name, value in os.environ.items() if name not in PROVIDER_VARIABLES}
    env = {**inherited, "LLM_ROUTER_INSTANCE_PATH": str(instance), "HF_ENDPOINT": hub_url,
           "LLM_ROUTER_HOST": "127.0.0.1", "LLM_ROUTER_PORT": str(port), "LLM_ROUTER_HF_STATS_TIMEOUT": "1",
           "LLM_ROUTER_ADMIN_USERNAME": ADMIN_USERNAME, "LLM_ROUTER_ADMIN_PASSWORD": ADMIN_PASSWORD,
           "LLM_ROUTER_PASSWORD_HASH": FAST_PASSWORD_HASH, **(extra_env or {})}
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
            response = requests.post(f"{url}/v0/auth/login", timeout=1,
                                     json={"username": ADMIN_USERNAME, "password": ADMIN_PASSWORD})
            if response.status_code == 200:
                return RouterProcess(url, process, instance, log_path, response.json()["token"])
        except requests.RequestException:
            time.sleep(0.1)
    process.kill()
    process.wait()
    raise RuntimeError(f"router did not answer within 30 s: {log_path.read_text(errors='replace')}")
