"""What the router adds to inference requests: through the router vs. straight to the same node.

Targets (the inference proxy issue):
  (a) non-streaming, 32 concurrent clients, the node answering after 20 ms:
      added latency p50 <= 2 ms and p99 <= 10 ms;
  (b) 256 concurrent streams from a fixed-rate token source: tokens/s through the router >= 0.98x
      direct, and time to first token added p50 <= 5 ms.

What runs:
1. the real router under gunicorn (`gunicorn -c gunicorn.conf.py wsgi:app`, settings from the
   environment as operators set them; --workers/--threads choose LLM_ROUTER_WORKERS/THREADS), called
   with a real api-scope API key;
2. two node imitations (tests/support/node_imitation.py, the node protocol), each in a child process of its
   own, registered with the router through `POST /v0/nodes` and polled by it like real nodes: one
   serves model A answering after 20 ms, one serves model B streaming `--tokens` tokens at one per
   `--interval` seconds (event i is due at start + i x interval: a fixed rate);
3. load generators in this process, one thread with non-blocking sockets and a selector (no HTTP
   library: on 2 cores the client's own CPU time must stay small), persistent connections. "direct"
   sends the same bytes to the node itself (with its node token); "router" to the router. Phases
   alternate direct / router / direct / router, so drift on a shared machine hits both alike.

Also shown: the router's own `X-Router-Overhead-Ms` header (p50/p99) and the CPU time the router
processes used per request, to tell the router's work from queueing for the 2 shared cores.

    .venv/bin/python -m bench.proxy_overhead [--duration 8] [--workers 2] [--threads 320]
    .venv/bin/python -m bench.proxy_overhead --only history   # (c) the request history on vs off
    .venv/bin/python -m bench.proxy_overhead --only cloud     # (d) cloud providers: passthrough, translation

(d) cloud models (issue 13): an imitation of OpenAI and one of Anthropic (tests/support/cloud_imitation.py), each
in a child process answering after 20 ms; "direct" sends each provider its own request (OpenAI's chat body, an
Anthropic Messages body), "router" sends `openai:` / `anthropic:` requests through the router's SDK clients.
Targets: added p50 <= 2 ms passing through (OpenAI), <= 3 ms translating (Anthropic).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import select
import selectors
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TypeVar

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.hub_imitation import HubImitation  # noqa: E402
from tests.support.router_process import start_router  # noqa: E402

JSON_MODEL, STREAM_MODEL = "qwen2.5-0.5b-instruct", "qwen3-0.6b"  # catalog ids: registering needs no Hub
UPSTREAM_DELAY = 0.020
TARGET_P50_MS, TARGET_P99_MS = 2.0, 10.0
TARGET_TOKENS_RATIO, TARGET_TTFT_MS = 0.98, 5.0
TARGET_HISTORY_MS = 0.3  # what recording a request may add to p50
TARGET_CLOUD_MS = {"openai": 2.0, "anthropic": 3.0}  # passthrough, translation
CLOUD_KEY = "bench-provider-key"
READ_PAUSE = 0.001  # the stream client's pause between reads (its TTFT figures carry up to this much)


# --------------------------------------------------------------------------------------------------
# Upstream: a node imitation in a child process
# --------------------------------------------------------------------------------------------------


def serve_upstream(model: str, delay: float, tokens: int, interval: float) -> int:
    """Child process: print the port, read the node token from stdin, serve until stdin closes."""
    from tests.support.node_imitation import NodeImitation

    raise_fd_limit()
    node = NodeImitation((model,), name=f"bench-{model}")
    node.delay, node.tokens, node.token_interval = delay, tokens, interval
    node.start()
    print(f"PORT {node.port}", flush=True)
    node.token = sys.stdin.readline().strip()
    print("READY", flush=True)
    sys.stdin.read()
    node.stop()
    return 0


@dataclass
class Upstream:
    model: str
    process: subprocess.Popen
    port: int
    token: str = ""


def serve_cloud(provider: str, delay: float) -> int:
    """Child process: an imitation of `provider`'s API answering after `delay`; prints its port, serves until
    stdin closes."""
    from tests.support.cloud_imitation import CloudImitation, Reply

    raise_fd_limit()
    imitation = CloudImitation(provider, key=CLOUD_KEY,  # type: ignore[arg-type]
                               default=Reply(text="A short answer of a few words.", delay=delay))
    imitation.start()
    print(f"PORT {imitation.server.port}", flush=True)
    sys.stdin.read()
    imitation.stop()
    return 0


def spawn_cloud(provider: str, delay: float) -> tuple[subprocess.Popen, int]:
    child = subprocess.Popen([sys.executable, "-m", "bench.proxy_overhead", "--serve-cloud", provider, str(delay)],
                             cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    line = child.stdout.readline()
    if not line.startswith("PORT "):
        raise RuntimeError(f"the {provider} imitation failed to start: {line!r}")
    return child, int(line.split()[1])


def spawn_upstream(model: str, delay: float, tokens: int, interval: float) -> Upstream:
    child = subprocess.Popen([sys.executable, "-m", "bench.proxy_overhead", "--serve-upstream", model, str(delay),
                              str(tokens), str(interval)], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             text=True)
    line = child.stdout.readline()
    if not line.startswith("PORT "):
        raise RuntimeError(f"upstream for {model} failed to start: {line!r}")
    return Upstream(model, child, int(line.split()[1]))


def register_upstream(router_url: str, node_key: str, upstream: Upstream) -> None:
    body = {"name": f"bench-{upstream.model}", "url": f"http://127.0.0.1:{upstream.port}", "platform": "linux-cpu",
            "engines": ["llama_cpp"], "cpu_count": 2, "memory_bytes": 64 * 1024 ** 3, "gpus": [], "version": "bench"}
    response = requests.post(f"{router_url}/v0/nodes", json=body, headers={"Authorization": f"Bearer {node_key}"},
                             timeout=10)
    response.raise_for_status()
    upstream.token = response.json()["token"]
    upstream.process.stdin.write(upstream.token + "\n")
    upstream.process.stdin.flush()
    if not upstream.process.stdout.readline().startswith("READY"):
        raise RuntimeError(f"upstream for {upstream.model} did not take its token")


def stop_upstream(upstream: Upstream) -> None:
    try:
        upstream.process.stdin.close()
        upstream.process.wait(10)
    except (OSError, subprocess.TimeoutExpired):
        upstream.process.kill()
        upstream.process.wait()


def raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


# --------------------------------------------------------------------------------------------------
# Load generators
# --------------------------------------------------------------------------------------------------


def http_request(path: str, host_port: int, token: str, body: dict) -> bytes:
    data = json.dumps(body).encode()
    return (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{host_port}\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n").encode() + data


def _connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setblocking(False)
    return sock


@dataclass
class JsonResult:
    latencies: list[float] = field(default_factory=list)  # seconds
    overheads: list[float] = field(default_factory=list)  # X-Router-Overhead-Ms values
    errors: int = 0
    elapsed: float = 0.0
    answered: int = 0  # warm-up included: what the router's CPU time was spent on


def run_json(port: int, request: bytes, clients: int, duration: float, warmup: float) -> JsonResult:
    """`clients` persistent connections, each sending the next request as soon as an answer is complete."""
    selector = selectors.DefaultSelector()
    result = JsonResult()
    state: dict[socket.socket, list] = {}
    start = time.perf_counter()
    measure_from, stop_at = start + warmup, start + warmup + duration
    for _ in range(clients):
        sock = _connect(port)
        state[sock] = [bytearray(), time.perf_counter()]
        sock.send(request)
        selector.register(sock, selectors.EVENT_READ)
    open_sockets = clients
    while open_sockets:
        for key, _events in selector.select(1.0):
            sock = key.fileobj
            entry = state[sock]
            data = sock.recv(65536)
            if not data:
                raise RuntimeError("the server closed a connection")
            buffer = entry[0]
            buffer += data
            head_end = buffer.find(b"\r\n\r\n")
            if head_end < 0:
                continue
            head = bytes(buffer[:head_end]).lower() + b"\r\n"
            length_at = head.find(b"content-length:")
            length = int(head[length_at + 15:head.find(b"\r\n", length_at)]) if length_at >= 0 else 0
            if len(buffer) < head_end + 4 + length:
                continue
            now = time.perf_counter()
            result.answered += 1
            if now >= measure_from and entry[1] >= measure_from:
                result.latencies.append(now - entry[1])
                if not head.startswith(b"http/1.1 200"):
                    result.errors += 1
                overhead_at = head.find(b"x-router-overhead-ms:")
                if overhead_at >= 0:
                    result.overheads.append(float(head[overhead_at + 21:head.find(b"\r\n", overhead_at)]))
            del buffer[:head_end + 4 + length]
            if now >= stop_at:
                selector.unregister(sock)
                sock.close()
                open_sockets -= 1
                continue
            entry[1] = time.perf_counter()
            sock.send(request)
    result.elapsed = duration
    return result


@dataclass
class StreamResult:
    tokens: int = 0
    all_tokens: int = 0  # warm-up included: what the router's CPU time was spent on
    ttft: list[float] = field(default_factory=list)  # seconds
    streams: int = 0
    errors: int = 0
    elapsed: float = 0.0


def run_streams(port: int, request: bytes, clients: int, duration: float, warmup: float) -> StreamResult:
    """`clients` persistent connections, each reading one stream after another; counts token events in
    the measurement window and each stream's time to its first token. epoll directly, and as little
    work per read as possible: at ~13,000 events/s the client's own CPU time matters."""
    poller = select.epoll()
    result = StreamResult()
    marker = b'"tok'
    keep = len(marker) - 1
    connections: dict[int, list] = {}  # fd -> [socket, tail, sent at, first token seen, [DONE] seen]
    start = time.perf_counter()
    measure_from, stop_at = start + warmup, start + warmup + duration
    spread = min(warmup, 1.0) / clients  # starts spread over the warm-up: streams out of phase
    starts = [(start + index * spread, _connect(port)) for index in range(clients)]
    starts.reverse()
    open_sockets = clients
    while open_sockets:
        now = time.perf_counter()
        while starts and starts[-1][0] <= now:
            sock = starts.pop()[1]
            connections[sock.fileno()] = [sock, b"", now, False, False]
            sock.send(request)
            poller.register(sock.fileno(), select.EPOLLIN)
        timeout = max(0.0, starts[-1][0] - now) if starts else 1.0
        ready = poller.poll(timeout)
        for fd, _events in ready:
            entry = connections[fd]
            sock = entry[0]
            data = sock.recv(262144)
            if not data:
                raise RuntimeError("the server closed a stream connection")
            now = time.perf_counter()
            window = entry[1] + data
            count = window.count(marker)
            result.all_tokens += count
            if count:
                if not entry[3]:
                    entry[3] = True
                    if measure_from <= entry[2] and now < stop_at:
                        result.ttft.append(now - entry[2])
                if measure_from <= now < stop_at:
                    result.tokens += count
            entry[1] = window[-keep:]
            if not entry[4]:
                if b"data: [DONE]" not in window:
                    continue
                entry[4] = True
                if b'"error"' in window:
                    result.errors += 1
            if window.endswith(b"0\r\n\r\n"):  # end of the chunked body
                if measure_from <= now < stop_at:
                    result.streams += 1
                if now >= stop_at:
                    poller.unregister(fd)
                    sock.close()
                    open_sockets -= 1
                    continue
                entry[1:] = [b"", time.perf_counter(), False, False]
                sock.send(request)
        if ready:
            time.sleep(READ_PAUSE)  # read in batches: one wake-up per batch, not per token
    poller.close()
    result.elapsed = duration
    return result


# --------------------------------------------------------------------------------------------------
# Measurement helpers
# --------------------------------------------------------------------------------------------------


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else float("nan")


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its children (gunicorn's master and workers)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    pids = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        children = []
    pids += [int(child) for child in children]
    for one in pids:
        try:
            fields = Path(f"/proc/{one}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine spent busy (all cores), from /proc/stat."""
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """CPU used by the router, the node imitations, this client, and everything else on the machine
    (other people's work on a shared machine skews latencies; this says how much there was)."""

    def __init__(self, router_pid: int, upstream_pids: list[int]) -> None:
        self.router_pid, self.upstream_pids = router_pid, upstream_pids
        self.totals = {"router": 0.0, "nodes": 0.0, "client": 0.0, "other": 0.0, "seconds": 0.0}

    def _read(self) -> tuple[float, ...]:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return (process_cpu_seconds(self.router_pid), sum(process_cpu_seconds(pid) for pid in self.upstream_pids),
                usage.ru_utime + usage.ru_stime, machine_busy_seconds(), time.perf_counter())

    def __enter__(self) -> "CpuMeter":
        self._start = self._read()
        return self

    def __exit__(self, *_exc: object) -> None:
        router, nodes, client, machine, wall = (end - start for end, start in zip(self._read(), self._start))
        self.totals["router"] += router
        self.totals["nodes"] += nodes
        self.totals["client"] += client
        self.totals["other"] += max(0.0, machine - router - nodes - client)
        self.totals["seconds"] += wall

    def summary(self) -> str:
        seconds = max(self.totals["seconds"], 1e-9)
        return ("CPU in use while measuring through the router (cores of 2): router "
                f"{self.totals['router'] / seconds:.2f}, node imitations {self.totals['nodes'] / seconds:.2f}, "
                f"client {self.totals['client'] / seconds:.2f}, other processes {self.totals['other'] / seconds:.2f}")


def wait_until_ready(router_url: str, key: str, models: set[str], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        listed = requests.get(f"{router_url}/v1/models", headers={"Authorization": f"Bearer {key}"}, timeout=5)
        if models <= {model["id"] for model in listed.json()["data"]}:
            return
        time.sleep(0.2)
    raise RuntimeError(f"models {models} never became ready on the router")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=8.0, help="seconds measured per phase")
    parser.add_argument("--rounds", type=int, default=2, help="direct/router phase pairs per case")
    parser.add_argument("--clients", type=int, default=32, help="concurrent non-streaming clients")
    parser.add_argument("--streams", type=int, default=256, help="concurrent streams")
    parser.add_argument("--tokens", type=int, default=100, help="tokens per stream")
    parser.add_argument("--interval", type=float, default=0.02, help="seconds between a stream's tokens")
    parser.add_argument("--workers", default=os.environ.get("LLM_ROUTER_WORKERS", "2"))
    parser.add_argument("--threads", default=os.environ.get("LLM_ROUTER_THREADS", "320"))
    parser.add_argument("--worker-class", choices=("gthread", "gevent"),  # default: gunicorn.conf.py's
                        default=os.environ.get("LLM_ROUTER_WORKER_CLASS") or "gevent")
    parser.add_argument("--only", choices=("json", "stream", "history", "cloud"), help="run one case only "
                        "(history: the request history's cost, two routers with it on and off; cloud: the cloud "
                        "providers' passthrough and translation; neither runs by default)")
    parser.add_argument("--serve-upstream", nargs=4, help=argparse.SUPPRESS)
    parser.add_argument("--serve-cloud", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_upstream:
        model, delay, tokens, interval = args.serve_upstream
        return serve_upstream(model, float(delay), int(tokens), float(interval))
    if args.serve_cloud:
        return serve_cloud(args.serve_cloud[0], float(args.serve_cloud[1]))
    raise_fd_limit()
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} before the run; gunicorn "
          f"{args.worker_class}, {args.workers} workers"
          f"{f' x {args.threads} threads' if args.worker_class == 'gthread' else ''}", flush=True)

    hub = HubImitation([]).start()
    workdir = Path(tempfile.mkdtemp(prefix="proxy-overhead-"))
    if args.only in ("history", "cloud"):
        try:
            return 0 if (bench_history if args.only == "history" else bench_cloud)(args, workdir, hub) else 1
        finally:
            hub.stop()
    router = start_router(workdir, hub.url, router_env(args))
    upstreams = [spawn_upstream(JSON_MODEL, UPSTREAM_DELAY, 16, 0.0),
                 spawn_upstream(STREAM_MODEL, 0.0, args.tokens, args.interval)]
    ok = True
    try:
        admin = router.auth_headers
        keys = api_keys(router)
        for model in (JSON_MODEL, STREAM_MODEL):
            requests.post(f"{router.url}/v0/models/register", headers=admin, json={"id": model},
                          timeout=10).raise_for_status()
        for upstream in upstreams:
            register_upstream(router.url, keys["node"], upstream)
        wait_until_ready(router.url, keys["api"], {JSON_MODEL, STREAM_MODEL})
        router_port = int(router.url.rsplit(":", 1)[1])
        json_up, stream_up = upstreams
        pids = [upstream.process.pid for upstream in upstreams]
        if args.only in (None, "json"):
            ok &= bench_json(args, router, router_port, keys["api"], json_up, pids)
        if args.only in (None, "stream"):
            ok &= bench_streams(args, router, router_port, keys["api"], stream_up, pids)
    finally:
        router.stop()
        for upstream in upstreams:
            stop_upstream(upstream)
        hub.stop()
    return 0 if ok else 1


def router_env(args: argparse.Namespace, **more: str) -> dict[str, str]:
    return {"LLM_ROUTER_WORKERS": str(args.workers), "LLM_ROUTER_THREADS": str(args.threads),
            "LLM_ROUTER_WORKER_CLASS": args.worker_class,
            "LLM_ROUTER_LOG_LEVEL": "WARNING",
            "LLM_ROUTER_NODE_MAX_CONCURRENCY": str(max(args.streams, args.clients) * 2),
            "LLM_ROUTER_QUEUE_SIZE": "1024",
            "LLM_ROUTER_KEY_MAX_CONCURRENCY": "0",  # one key sends every stream: measure the proxy, not the cap
            **more}


def api_keys(router) -> dict[str, str]:
    keys = {}
    for scope in ("api", "node"):
        response = requests.post(f"{router.url}/v0/api-keys", headers=router.auth_headers, timeout=10,
                                 json={"name": f"bench {scope}", "scopes": [scope]})
        response.raise_for_status()
        keys[scope] = response.json()["key"]
    return keys


def bench_history(args: argparse.Namespace, workdir: Path, hub: HubImitation) -> bool:
    """The request history's cost: two routers, one recording (the default) and one with
    LLM_ROUTER_REQUEST_HISTORY_DAYS=0, each in front of its own node answering after 20 ms, measured
    in turns like (a). Target: recording adds <= TARGET_HISTORY_MS to p50."""
    routers, phases = [], []
    try:
        for name, days in (("history off", "0"), ("history on", "7")):
            folder = workdir / name.replace(" ", "-")
            folder.mkdir()
            router = start_router(folder, hub.url,
                                  router_env(args, LLM_ROUTER_REQUEST_HISTORY_DAYS=days))
            upstream = spawn_upstream(JSON_MODEL, UPSTREAM_DELAY, 16, 0.0)
            routers.append((router, upstream))
            keys = api_keys(router)
            requests.post(f"{router.url}/v0/models/register", headers=router.auth_headers, json={"id": JSON_MODEL},
                          timeout=10).raise_for_status()
            register_upstream(router.url, keys["node"], upstream)
            wait_until_ready(router.url, keys["api"], {JSON_MODEL})
            port = int(router.url.rsplit(":", 1)[1])
            body = {"model": JSON_MODEL, "messages": [{"role": "user", "content": "Say something."}], "max_tokens": 16}
            request = http_request("/v1/chat/completions", port, keys["api"], body)
            run_json(port, request, args.clients, 1.0, 0.5)  # warm up
            phases.append((name, port, request))
        meter = CpuMeter(routers[1][0].process.pid, [upstream.process.pid for _router, upstream in routers])
        cpu_before = [process_cpu_seconds(router.process.pid) for router, _upstream in routers]
        results = alternate(args.rounds, tuple(phases), meter, lambda port, request: run_json(
            port, request, args.clients, args.duration, 0.5), lambda name, one: (
            f"  {name:11}: {len(one.latencies) / one.elapsed:7.0f} req/s  p50 "
            f"{percentile(one.latencies, 0.5) * 1000:6.2f} ms  p99 {percentile(one.latencies, 0.99) * 1000:6.2f} ms"
            f"  errors {one.errors}"))
        cpu = [process_cpu_seconds(router.process.pid) - before for (router, _upstream), before in
               zip(routers, cpu_before)]
    finally:
        for router, upstream in routers:
            router.stop()
            stop_upstream(upstream)
    off, on = results["history off"], results["history on"]
    cpu_off, cpu_on = (seconds / max(1, result.answered) * 1e6 for seconds, result in zip(cpu, (off, on)))
    off50, on50 = percentile(off.latencies, 0.5) * 1000, percentile(on.latencies, 0.5) * 1000
    added = on50 - off50
    print(f"\n(c) the request history, {args.clients} clients, node answers after {UPSTREAM_DELAY * 1000:.0f} ms")
    print(f"history off p50 {off50:.2f} ms, on p50 {on50:.2f} ms: ratio {on50 / off50:.3f}x, added {added:.2f} ms "
          f"(target <= {TARGET_HISTORY_MS:g}) -> {'PASS' if added <= TARGET_HISTORY_MS else 'FAIL'}; router CPU per "
          f"request {cpu_off:.0f} us off, {cpu_on:.0f} us on (+{cpu_on - cpu_off:.0f} us: the history's own cost)"
          f"{'; ERRORS ' + str(off.errors + on.errors) if off.errors + on.errors else ''}", flush=True)
    return added <= TARGET_HISTORY_MS and not off.errors + on.errors


def bench_cloud(args: argparse.Namespace, workdir: Path, hub: HubImitation) -> bool:
    """(d): each provider's imitation called directly and through the router, in turns like (a)."""
    children = {provider: spawn_cloud(provider, UPSTREAM_DELAY) for provider in TARGET_CLOUD_MS}
    base_urls = {"openai": f"http://127.0.0.1:{children['openai'][1]}/v1",
                 "anthropic": f"http://127.0.0.1:{children['anthropic'][1]}"}
    router = start_router(workdir, hub.url, router_env(
        args, OPENAI_API_KEY=CLOUD_KEY, OPENAI_BASE_URL=base_urls["openai"], ANTHROPIC_API_KEY=CLOUD_KEY,
        ANTHROPIC_BASE_URL=base_urls["anthropic"]))
    ok = True
    try:
        key = api_keys(router)["api"]
        router_port = int(router.url.rsplit(":", 1)[1])
        question = [{"role": "user", "content": "Say something."}]
        direct_bodies = {"openai": ("/v1/chat/completions", {"model": "gpt-4o-mini", "messages": question,
                                                             "max_tokens": 16}),
                         "anthropic": ("/v1/messages", {"model": "claude-sonnet-4-5", "messages": question,
                                                        "max_tokens": 16})}
        for provider, target in TARGET_CLOUD_MS.items():
            path, body = direct_bodies[provider]
            port = children[provider][1]
            direct_request = http_request(path, port, CLOUD_KEY, body)
            router_request = http_request("/v1/chat/completions", router_port, key,
                                          {**direct_bodies["openai"][1], "model": f"{provider}:{body['model']}"})
            run_json(router_port, router_request, args.clients, 1.0, 0.5)  # warm the SDK clients' pools
            meter = CpuMeter(router.process.pid, [children[provider][0].pid])
            phases = (("direct", port, direct_request), ("router", router_port, router_request))
            results = alternate(args.rounds, phases, meter, lambda port, request: run_json(
                port, request, args.clients, args.duration, 0.5), lambda name, one: (
                f"  {provider} {name:6}: {len(one.latencies) / one.elapsed:7.0f} req/s  p50 "
                f"{percentile(one.latencies, 0.5) * 1000:6.2f} ms  p99 {percentile(one.latencies, 0.99) * 1000:6.2f}"
                f" ms  errors {one.errors}"))
            direct, routed = results["direct"], results["router"]
            d50, r50 = percentile(direct.latencies, 0.5) * 1000, percentile(routed.latencies, 0.5) * 1000
            added = r50 - d50
            errors = direct.errors + routed.errors
            kind = "passthrough" if provider == "openai" else "translation"
            print(f"\n(d) {provider} ({kind}), {args.clients} clients, provider answers after "
                  f"{UPSTREAM_DELAY * 1000:.0f} ms")
            print(f"direct p50 {d50:.2f} ms, router p50 {r50:.2f} ms: ratio {r50 / d50:.3f}x, added {added:.2f} ms "
                  f"(target <= {target:g}) -> {'PASS' if added <= target else 'FAIL'}; router's X-Router-Overhead-Ms "
                  f"p50 {percentile(routed.overheads, 0.5):.2f} ms; router CPU per request "
                  f"{meter.totals['router'] / max(1, routed.answered) * 1e6:.0f} us"
                  f"{'; ERRORS ' + str(errors) if errors else ''}", flush=True)
            print(meter.summary(), flush=True)
            ok &= added <= target and not errors
    finally:
        router.stop()
        for child, _port in children.values():
            child.stdin.close()
            child.wait(10)
    return ok


Result = TypeVar("Result", JsonResult, StreamResult)


def alternate(rounds: int, phases: tuple[tuple[str, int, bytes], ...], meter: CpuMeter,
              measure: Callable[[int, bytes], Result], describe: Callable[[str, Result], str]) -> dict[str, Result]:
    """Measure each (name, port, request) phase in turn, `rounds` times, summing each name's results
    (alternating keeps slow drifts of the machine from favouring one path); the router's phases run
    under the CPU meter."""
    totals: dict[str, Result] = {}
    for _round in range(rounds):
        for name, port, request in phases:
            with meter if name == "router" else contextlib.nullcontext():
                one = measure(port, request)
            print(describe(name, one), flush=True)
            previous = totals.get(name)
            totals[name] = one if previous is None else type(one)(
                **{f.name: getattr(previous, f.name) + getattr(one, f.name) for f in fields(one)})
    return totals


def bench_json(args: argparse.Namespace, router, router_port: int, key: str, upstream: Upstream,
               upstream_pids: list[int]) -> bool:
    body = {"model": JSON_MODEL, "messages": [{"role": "user", "content": "Say something."}], "max_tokens": 16}
    path = "/v1/chat/completions"
    direct_request = http_request(path, upstream.port, upstream.token, body)
    router_request = http_request(path, router_port, key, body)
    run_json(router_port, router_request, args.clients, 1.0, 0.5)  # warm the router's connections and caches
    meter = CpuMeter(router.process.pid, upstream_pids)
    phases = (("direct", upstream.port, direct_request), ("router", router_port, router_request))
    results = alternate(args.rounds, phases, meter, lambda port, request: run_json(
        port, request, args.clients, args.duration, 0.5), lambda name, one: (
        f"  json {name:6}: {len(one.latencies) / one.elapsed:7.0f} req/s  p50 "
        f"{percentile(one.latencies, 0.5) * 1000:6.2f} ms  p99 {percentile(one.latencies, 0.99) * 1000:6.2f} ms"
        f"  errors {one.errors}"))
    direct, routed = results["direct"], results["router"]
    d50, d99 = percentile(direct.latencies, 0.5) * 1000, percentile(direct.latencies, 0.99) * 1000
    r50, r99 = percentile(routed.latencies, 0.5) * 1000, percentile(routed.latencies, 0.99) * 1000
    added50, added99 = r50 - d50, r99 - d99
    pass50, pass99 = added50 <= TARGET_P50_MS, added99 <= TARGET_P99_MS
    errors = direct.errors + routed.errors
    print()
    print(f"(a) non-streaming, {args.clients} clients, node answers after {UPSTREAM_DELAY * 1000:.0f} ms")
    print(f"{'path':8} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}")
    for name, result, p50, p99 in (("direct", direct, d50, d99), ("router", routed, r50, r99)):
        print(f"{name:8} {len(result.latencies) / result.elapsed:8.0f} {p50:8.2f} {p99:8.2f}")
    print(f"router's X-Router-Overhead-Ms: p50 {percentile(routed.overheads, 0.5):.2f} ms, "
          f"p99 {percentile(routed.overheads, 0.99):.2f} ms; router CPU per request "
          f"{meter.totals['router'] / max(1, routed.answered) * 1e6:.0f} us")
    print(meter.summary())
    print(f"ratio: router/direct p50 {r50 / d50:.3f}x, p99 {r99 / d99:.3f}x, throughput "
          f"{len(routed.latencies) / len(direct.latencies):.3f}x")
    print(f"added p50 {added50:.2f} ms (target <= {TARGET_P50_MS:g}) -> {'PASS' if pass50 else 'FAIL'}; "
          f"added p99 {added99:.2f} ms (target <= {TARGET_P99_MS:g}) -> {'PASS' if pass99 else 'FAIL'}"
          f"{'; ERRORS ' + str(errors) if errors else ''}", flush=True)
    return pass50 and pass99 and not errors


def bench_streams(args: argparse.Namespace, router, router_port: int, key: str, upstream: Upstream,
                  upstream_pids: list[int]) -> bool:
    body = {"model": STREAM_MODEL, "messages": [{"role": "user", "content": "Count."}], "stream": True}
    path = "/v1/chat/completions"
    direct_request = http_request(path, upstream.port, upstream.token, body)
    router_request = http_request(path, router_port, key, body)
    warmup = args.tokens * args.interval + 1.0  # every client is streaming when measuring starts
    meter = CpuMeter(router.process.pid, upstream_pids)
    phases = (("direct", upstream.port, direct_request), ("router", router_port, router_request))
    results = alternate(args.rounds, phases, meter, lambda port, request: run_streams(
        port, request, args.streams, args.duration, warmup), lambda name, one: (
        f"  stream {name:6}: {one.tokens / one.elapsed:8.0f} tokens/s  {one.streams} streams  TTFT p50 "
        f"{percentile(one.ttft, 0.5) * 1000:6.2f} ms  p99 {percentile(one.ttft, 0.99) * 1000:6.2f} ms  "
        f"errors {one.errors}"))
    direct, routed = results["direct"], results["router"]
    ideal = args.streams / args.interval
    d_rate, r_rate = direct.tokens / direct.elapsed, routed.tokens / routed.elapsed
    d50, r50 = percentile(direct.ttft, 0.5) * 1000, percentile(routed.ttft, 0.5) * 1000
    d99, r99 = percentile(direct.ttft, 0.99) * 1000, percentile(routed.ttft, 0.99) * 1000
    ratio, added = r_rate / d_rate, r50 - d50
    pass_rate, pass_ttft = ratio >= TARGET_TOKENS_RATIO, added <= TARGET_TTFT_MS
    errors = direct.errors + routed.errors
    print()
    print(f"(b) {args.streams} concurrent streams, {args.tokens} tokens each, one per {args.interval * 1000:g} ms "
          f"(source rate {ideal:.0f} tokens/s)")
    print(f"{'path':8} {'tokens/s':>9} {'streams':>8} {'TTFT p50 ms':>12} {'TTFT p99 ms':>12}")
    for name, result, rate, p50, p99 in (("direct", direct, d_rate, d50, d99), ("router", routed, r_rate, r50, r99)):
        print(f"{name:8} {rate:9.0f} {result.streams:8d} {p50:12.2f} {p99:12.2f}")
    print(f"router CPU per token {meter.totals['router'] / max(1, routed.all_tokens) * 1e6:.1f} us "
          "(stream starts included)")
    print(meter.summary())
    print(f"ratio: router/direct tokens/s {ratio:.4f}x (target >= {TARGET_TOKENS_RATIO}) -> "
          f"{'PASS' if pass_rate else 'FAIL'}; TTFT added p50 {added:.2f} ms (target <= {TARGET_TTFT_MS:g}) -> "
          f"{'PASS' if pass_ttft else 'FAIL'}{'; ERRORS ' + str(errors) if errors else ''}", flush=True)
    return pass_rate and pass_ttft and not errors


if __name__ == "__main__":
    sys.exit(main())
