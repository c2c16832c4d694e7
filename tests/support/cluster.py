"""A real router (gunicorn) and real node agent processes, for end-to-end tests and benchmarks."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from node_agent.store import ModelStore
from tests.support.hub_imitation import HubImitation
from tests.support.router_process import PROJECT_ROOT, RouterProcess, start_router

SYNC_INTERVAL = 2.0


def wait_for(condition: Callable[[], Any], timeout: float, what: str,
             diagnostics: Callable[[], str] = lambda: "") -> Any:
    """Poll `condition` until it returns something truthy (returned); fail with logs after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}\n{diagnostics()}")
        time.sleep(0.1)


def tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


_REGISTERED = re.compile(r"registered (again )?with the router")


@dataclass
class NodeProcess:
    """One `python -m node_agent` process that can be killed and started again with the same settings."""

    name: str
    models_dir: Path
    log_path: Path
    args: list[str]
    env: dict[str, str]
    process: subprocess.Popen | None = None

    def start(self) -> None:
        registrations = self.registrations()
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen([sys.executable, "-m", "node_agent", *self.args], cwd=PROJECT_ROOT,
                                            env=self.env, stdout=log, stderr=subprocess.STDOUT)
        wait_for(lambda: self.registrations() > registrations or self.process.poll() is not None, 30,
                 f"node {self.name} to register", lambda: tail(self.log_path))
        assert self.process.poll() is None, f"node {self.name} exited:\n{tail(self.log_path)}"

    def registrations(self) -> int:
        try:
            return len(_REGISTERED.findall(self.log_path.read_text(errors="replace")))
        except FileNotFoundError:
            return 0

    def signal(self, signum: int, timeout: float = 10) -> int:
        assert self.process is not None
        self.process.send_signal(signum)
        return self.process.wait(timeout)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    @property
    def store(self) -> ModelStore:
        return ModelStore(self.models_dir)


@dataclass
class Cluster:
    router: RouterProcess
    hub: HubImitation
    node_key: str
    api_key: str
    workdir: Path
    nodes: dict[str, NodeProcess] = field(default_factory=dict)

    # -- router API -------------------------------------------------------------------------------

    def api(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return requests.request(method, f"{self.router.url}{path}", headers=self.router.auth_headers, timeout=10,
                                **kwargs)

    def model(self, model_id: str) -> dict[str, Any]:
        response = self.api("GET", f"/v0/models/{model_id}")
        assert response.status_code == 200, response.text
        return response.json()

    def node_states(self, model_id: str) -> dict[str, dict[str, Any]]:
        return {state["node_name"]: state for state in self.model(model_id)["nodes"]}

    def node_record(self, name: str) -> dict[str, Any]:
        nodes = self.api("GET", "/v0/nodes").json()["nodes"]
        return next(node for node in nodes if node["name"] == name)

    def node_token(self, node_id: str) -> str:
        """The token the router issued to a node, from its database (the API never shows it)."""
        with closing(sqlite3.connect(self.router.instance_path / "router.db")) as db:
            return db.execute("SELECT token FROM nodes WHERE id = ?", (node_id,)).fetchone()[0]

    def v1_ids(self) -> list[str]:
        response = requests.get(f"{self.router.url}/v1/models", headers={"Authorization": f"Bearer {self.api_key}"},
                                timeout=10)
        assert response.status_code == 200, response.text
        return [entry["id"] for entry in response.json()["data"]]

    def register(self, repo: str) -> dict[str, Any]:
        response = self.api("POST", "/v0/models/register", json={"repo": repo})
        assert response.status_code == 201, response.text
        return response.json()

    # -- processes --------------------------------------------------------------------------------

    def start_node(self, name: str, *extra: str, router_url: str | None = None) -> NodeProcess:
        models_dir = self.workdir / f"models-{name}"
        args = ["--router-url", router_url or self.router.url, "--listen", "127.0.0.1:0", "--name", name,
                "--models-dir", str(models_dir), "--platform", "linux-cpu", "--hub-endpoint", self.hub.url,
                "--sync-interval", str(SYNC_INTERVAL), "--engines", "llama_cpp,ctranslate2", *extra]
        env = {key: value for key, value in os.environ.items()
               if not key.startswith(("LLM_NODE_", "HF_"))}
        env["LLM_NODE_API_KEY"] = self.node_key  # not a flag: flags show in the process list
        node = NodeProcess(name, models_dir, self.workdir / f"node-{name}.log", args, env)
        self.nodes[name] = node
        node.start()
        return node

    def logs(self) -> str:
        parts = [f"--- router log ---\n{tail(self.router.log_path)}"]
        parts += [f"--- node {name} log ---\n{tail(node.log_path)}" for name, node in self.nodes.items()]
        return "\n".join(parts)

    def wait(self, condition: Callable[[], Any], timeout: float, what: str) -> Any:
        return wait_for(condition, timeout, what, self.logs)


    def stop(self) -> None:
        for node in self.nodes.values():
            node.kill()
        self.router.stop()


def start_cluster(workdir: Path, hub: HubImitation, router_env: dict[str, str] | None = None) -> Cluster:
    """A router polling every second, with a node key and an api key; start nodes with `start_node`."""
    router = start_router(workdir, hub.url, {"LLM_ROUTER_NODE_POLL_SECONDS": "1", **(router_env or {})})
    try:
        keys = {}
        for scope in ("node", "api"):
            response = requests.post(f"{router.url}/v0/api-keys", headers=router.auth_headers, timeout=10,
                                     json={"name": f"{scope} key", "scopes": [scope]})
            assert response.status_code == 201, response.text
            keys[scope] = response.json()["key"]
    except BaseException:
        router.stop()
        raise
    return Cluster(router, hub, keys["node"], keys["api"], workdir)
