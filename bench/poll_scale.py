"""How long one router poll cycle takes with many nodes (target: 200 nodes well within the 10 s interval).

What runs:

1. the real router under gunicorn (`tests.support.router_process.start_router`), with
   `LLM_ROUTER_NODE_POLL_SECONDS=3600` so its own scheduler never polls during the measurement;
2. N simulated nodes on 127.0.0.1, one `tests.support.json_server.JsonServer` (own port) each, answering
   `GET /v0/status` like a node agent (protocol shape, a few models each, bearer token checked).
   They live in child processes (up to 250 nodes each), so they do not compete with the poller for
   this process's GIL; they still share the machine's CPUs, so on a small machine the numbers are
   an upper bound;
3. every simulated node registers through the router's API (`POST /v0/nodes`, node-scope key), so
   the router's database holds N nodes with real tokens;
4. `app.services.fleet.polling.poll_all()` is timed in this process, inside `create_app(...).app_context()`
   against the same instance folder (same SQLite database) as the router process. That is exactly
   the function the scheduler runs every interval: fetch every status (thread pool), then write every
   report and one sample per node in one transaction.

Also shown: the HTTP part alone (the router's `_fetch_status` over the same thread pool size), to
tell network time from database time.

    .venv/bin/python -m bench.poll_scale [--nodes 200 1000] [--models 3] [--cycles 3]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.hub_imitation import HubImitation  # noqa: E402
from tests.support.json_server import JsonServer, Request, error_body  # noqa: E402
from tests.support.router_process import start_router  # noqa: E402

INTERVAL_SECONDS = 10.0
TARGET_NODES, TARGET_SECONDS = 200, 10.0
GiB = 1024 ** 3


def raise_fd_limit() -> tuple[int, int]:
    """Soft RLIMIT_NOFILE up to the hard limit: N listening sockets plus the router's connections."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


# --------------------------------------------------------------------------------------------------
# Simulated nodes
# --------------------------------------------------------------------------------------------------


class SimulatedNode:
    """Answers GET /v0/status like a node agent holding `models` ready models (and POST /v0/sync with 202)."""

    def __init__(self, index: int, models: int) -> None:
        self.name = f"sim-{index:05d}"
        self.token = ""
        self.polls = 0
        self.status = json.dumps({
            "version": "0.1.0", "active_requests": 0,
            "models": [{"id": f"acme/model-{m}:q4_k_m", "state": "ready", "downloaded_bytes": 4 * GiB,
                        "total_bytes": 4 * GiB, "error": None} for m in range(models)],
            "metrics": {"cpu_percent": 12.5, "memory_used_bytes": 8 * GiB, "memory_total_bytes": 64 * GiB,
                        "gpus": [{"name": "NVIDIA L4", "utilization_percent": 3.0, "memory_used_bytes": GiB,
                                  "memory_total_bytes": 24 * GiB}]},
        }).encode()
        # HTTP/1.1 keep-alive as the real agent's server; a long poll interval: hundreds of these per process.
        self.server = JsonServer({"GET /v0/status": self._status, "POST /v0/sync": self._sync}, http11=True,
                                 poll_interval=1.0, request_queue_size=64).start()
        self.url = self.server.url

    def _status(self, request: Request) -> tuple[int, Any]:
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return 401, error_body("bad token", "invalid_token", "authentication_error")
        self.polls += 1
        return 200, self.status, {"Content-Type": "application/json"}

    def _sync(self, _request: Request) -> tuple[int, Any]:
        return 202, {"status": "sync scheduled"}

    def registration(self) -> dict[str, Any]:
        return {"name": self.name, "url": self.url, "platform": "linux-cuda", "engines": ["llama_cpp", "ctranslate2"],
                "cpu_count": 16, "memory_bytes": 64 * GiB, "gpus": [{"name": "NVIDIA L4", "memory_bytes": 24 * GiB}],
                "version": "0.1.0"}

    def stop(self) -> None:
        self.server.stop()


def register_all(router_url: str, key: str, nodes: list[SimulatedNode]) -> float:
    """POST /v0/nodes for each node (16 at a time); returns the seconds it took."""
    def register(node: SimulatedNode) -> None:
        response = requests.post(f"{router_url}/v0/nodes", json=node.registration(), timeout=30,
                                 headers={"Authorization": f"Bearer {key}"})
        response.raise_for_status()
        node.token = response.json()["token"]

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(register, nodes))
    return time.perf_counter() - started


NODES_PER_PROCESS = 250


def serve_nodes(first: int, count: int, models: int, router_url: str) -> int:
    """Child process: start and register `count` nodes, say READY, serve until stdin closes."""
    raise_fd_limit()
    key = sys.stdin.readline().strip()  # the node key comes on stdin, not in the process list
    nodes = [SimulatedNode(index, models) for index in range(first, first + count)]
    seconds = register_all(router_url, key, nodes)
    print(f"READY {count} {seconds:.2f}", flush=True)
    sys.stdin.read()  # until the parent closes our stdin
    with ThreadPoolExecutor(max_workers=64) as pool:  # each shutdown waits up to one poll_interval
        list(pool.map(SimulatedNode.stop, nodes))
    return 0


def spawn_nodes(first: int, count: int, models: int, router_url: str, key: str) -> list[subprocess.Popen]:
    """Start `count` simulated nodes numbered from `first` in child processes; returns once all registered."""
    children = []
    for start in range(first, first + count, NODES_PER_PROCESS):
        size = min(NODES_PER_PROCESS, first + count - start)
        child = subprocess.Popen([sys.executable, "-m", "bench.poll_scale", "--serve-nodes", str(start), str(size),
                                  "--models", str(models), "--router-url", router_url], cwd=ROOT,
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        child.stdin.write(key + "\n")
        child.stdin.flush()
        children.append(child)
    for child in children:
        line = child.stdout.readline()
        if not line.startswith("READY"):
            raise RuntimeError(f"a simulated-node process failed (exit {child.poll()}): {line!r}")
    return children


def stop_children(children: list[subprocess.Popen]) -> None:
    for child in children:
        try:
            child.stdin.close()
        except OSError:
            pass
    for child in children:
        try:
            child.wait(30)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


# --------------------------------------------------------------------------------------------------
# Measurement
# --------------------------------------------------------------------------------------------------


def measure(app: Any, count: int, cycles: int) -> dict[str, Any]:
    """Time `cycles` runs of poll_all() and of its HTTP part alone; check every node answered."""
    from sqlalchemy import func, select

    from app.extensions import db
    from app.database import Node, NodeModel
    from app.services.fleet import node_http, nodes, polling

    with app.app_context():
        timings = []
        for _ in range(cycles):
            started = time.perf_counter()
            polling.poll_all()
            timings.append(time.perf_counter() - started)
        db.session.expire_all()
        online = db.session.scalar(select(func.count()).select_from(Node).where(Node.online.is_(True),
                                                                                 Node.failed_polls == 0))
        reports = db.session.scalar(select(func.count()).select_from(NodeModel))
        session = node_http.session_for(nodes.node_deny_networks())
        targets = [(node.id, node.url, node.token, session) for node in nodes.all_nodes()]
        fetches = []
        for _ in range(cycles):
            started = time.perf_counter()
            with ThreadPoolExecutor(max_workers=min(node_http.POOL_SIZE, len(targets))) as pool:
                results = list(pool.map(polling.fetch_status, targets))
            fetches.append(time.perf_counter() - started)
        failures = [problem for _, payload, problem in results if payload is None]
    return {"nodes": count, "online": online, "reports": reports, "poll": timings, "fetch": fetches,
            "fetch_failures": failures[:3], "fetch_failure_count": len(failures)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, nargs="+", default=[200, 1000], help="node counts, ascending")
    parser.add_argument("--models", type=int, default=3, help="models each node reports")
    parser.add_argument("--cycles", type=int, default=3, help="poll cycles timed per node count")
    parser.add_argument("--serve-nodes", type=int, nargs=2, metavar=("FIRST", "COUNT"), help=argparse.SUPPRESS)
    parser.add_argument("--router-url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_nodes:
        return serve_nodes(args.serve_nodes[0], args.serve_nodes[1], args.models, args.router_url)
    soft, hard = raise_fd_limit()
    print(f"RLIMIT_NOFILE: soft {soft}, hard {hard}; {os.cpu_count()} CPUs", flush=True)
    if max(args.nodes) * 3 > soft:
        print(f"warning: {max(args.nodes)} nodes may need more file descriptors than {soft}", flush=True)

    children: list[subprocess.Popen] = []
    registered = 0
    hub = HubImitation([]).start()
    workdir = Path(tempfile.mkdtemp(prefix="poll-scale-"))
    router = start_router(workdir, hub.url, {"LLM_ROUTER_NODE_POLL_SECONDS": "3600", "LLM_ROUTER_LOG_LEVEL": "WARNING"})
    results = []
    try:
        response = requests.post(f"{router.url}/v0/api-keys", headers=router.auth_headers, timeout=10,
                                 json={"name": "bench nodes", "scopes": ["node"]})
        response.raise_for_status()
        key = response.json()["key"]

        from app import create_app

        app = create_app({"INSTANCE_PATH": str(router.instance_path), "HF_ENDPOINT": hub.url,
                          "SCHEDULER_ENABLED": False, "LOG_LEVEL": "WARNING"})
        for count in sorted(args.nodes):
            started = time.perf_counter()
            children += spawn_nodes(registered, count - registered, args.models, router.url, key)
            print(f"{count} nodes: started and registered {count - registered} more in "
                  f"{time.perf_counter() - started:.1f} s", flush=True)
            registered = count
            result = measure(app, count, args.cycles)
            results.append(result)
            print(f"{count} nodes: poll_all {', '.join(f'{t:.2f}' for t in result['poll'])} s; "
                  f"HTTP only {', '.join(f'{t:.2f}' for t in result['fetch'])} s; online {result['online']}, "
                  f"reports {result['reports']}; failed fetches {result['fetch_failure_count']} "
                  f"{result['fetch_failures'] or ''}", flush=True)
        app.extensions["hub_stats"].close()
    finally:
        router.stop()
        stop_children(children)
        hub.stop()

    print()
    print(f"{'nodes':>6} {'poll_all median (s)':>20} {'best (s)':>9} {'HTTP only (s)':>14} "
          f"{'share of 10 s interval':>23} {'all polled':>11}")
    ok = True
    for result in results:
        median, best = statistics.median(result["poll"]), min(result["poll"])
        complete = result["online"] == result["nodes"] and result["reports"] == result["nodes"] * args.models
        print(f"{result['nodes']:>6} {median:>20.2f} {best:>9.2f} {statistics.median(result['fetch']):>14.2f} "
              f"{median / INTERVAL_SECONDS:>22.0%} {'yes' if complete else 'NO':>11}")
        if result["nodes"] == TARGET_NODES:
            passed = median < TARGET_SECONDS and complete
            ok &= passed
            print(f"       target for {TARGET_NODES} nodes: < {TARGET_SECONDS:.0f} s -> {'PASS' if passed else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
