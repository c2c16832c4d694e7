"""The node agent assembled: store, downloader, router client, sync loop and HTTP server.

Why a separate module from `__main__`: `__main__` deals with the process (flags, logging,
signals); this wires the parts together in the order the protocol needs. The server starts first
so the router can reach the node as soon as it has registered; the sync loop then registers
(retrying while the router is down) and keeps the models directory in line with the manifest.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from node_agent import __version__, system
from node_agent.config import LOG_DIR_NAME, Config
from node_agent.downloader import Downloader
from node_agent.inference import EngineManager
from node_agent.logs import LogQueries
from node_agent.router_client import RouterClient
from node_agent.server import NodeServer, make_server
from node_agent.store import ModelStore
from node_agent.sync import SyncLoop
from node_agent.units import format_bytes

__all__ = ["Agent", "GPU_PLATFORMS"]

log = logging.getLogger(__name__)

# Platforms whose engines run on the GPU: only there do GPUs count for what a model must fit in.
GPU_PLATFORMS = ("linux-cuda", "windows-cuda")
# This node's registration with the router (id and token, mode 0600), so that a restart keeps its name.
REGISTRATION_FILE = ".router-registration.json"


class Agent:
    """One node agent. `start()` then, at shutdown, `stop()`."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.store = ModelStore(config.models_dir)
        self.cpu = system.CpuSampler()
        # A CPU node must not be sized by a GPU it does not use (the router fits models to the largest GPU).
        self.gpus = system.gpus() if config.platform in GPU_PLATFORMS else []
        self.memory_bytes = config.memory_bytes or system.memory()[0]
        self.downloader = Downloader(config.hub_endpoint, token=config.hf_token)
        # Kept beside the models (a dot file, which the store never touches): see RouterClient.
        self.client = RouterClient(config.router_url, config.api_key, self.registration_body,
                                   state_path=Path(config.models_dir) / REGISTRATION_FILE)
        self.engines = EngineManager(self.store, self._model_ready, config.engines, config.platform)
        self.server: NodeServer | None = None
        self.sync: SyncLoop | None = None
        self.url: str | None = None

    def registration_body(self) -> dict[str, Any]:
        """POST /v0/nodes body (docs/protocol.md); asked at every registration."""
        return {"name": self.config.name, "url": self.url, "platform": self.config.platform,
                "engines": list(self.config.engines), "cpu_count": system.cpu_count(),
                "memory_bytes": self.memory_bytes,
                "gpus": [{"name": gpu.name, "memory_bytes": gpu.memory_total_bytes} for gpu in self.gpus],
                "version": __version__}

    def _model_ready(self, model_id: str) -> bool:
        return self.sync is not None and self.sync.is_ready(model_id)

    def status(self) -> dict[str, Any]:
        """GET /v0/status body."""
        return {"version": __version__, "active_requests": self.engines.active_requests,
                "loaded_models": self.engines.loaded(),
                "models": self.sync.snapshot() if self.sync else [],
                "metrics": system.metrics(self.cpu)}

    def token(self) -> str | None:
        return self.client.token

    def wake(self) -> None:
        if self.sync is not None:
            self.sync.wake()

    def start(self) -> None:
        """Raises OSError when the models directory is unusable or the listen address cannot be bound."""
        Path(self.config.models_dir).mkdir(parents=True, exist_ok=True)
        self.store.purge_trash()
        self.server = make_server(self.config.listen_host, self.config.listen_port, self.token, self.status,
                                  self.wake, self.engines,
                                  LogQueries(self.config.log_dir or Path(self.config.models_dir) / LOG_DIR_NAME)).start()
        self.url = self.config.advertised(self.server.port)
        self.sync = SyncLoop(self.store, self.downloader, self.client, self.config.sync_interval,
                             on_unready=self.engines.unload)
        log.info("node agent %s %r serving on %s:%d (router calls %s); platform %s, engines %s, memory %s%s; "
                 "models in %s; router %s; Hub %s", __version__, self.config.name, self.config.listen_host,
                 self.server.port, self.url, self.config.platform, ",".join(self.config.engines),
                 format_bytes(self.memory_bytes),
                 "".join(f", GPU {gpu.name} {format_bytes(gpu.memory_total_bytes)}" for gpu in self.gpus),
                 self.store.root, self.config.router_url, self.config.hub_endpoint)
        self.sync.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Cancel downloads (partials stay for the next start), stop serving, free the engines, close
        connections. Engines are freed explicitly: one still alive at interpreter exit can abort it."""
        if self.sync is not None:
            self.sync.stop(timeout)
        if self.server is not None:
            self.server.stop()
        self.engines.close()
        self.downloader.close()
        self.client.close()
