"""gunicorn settings for the router (`gunicorn -c gunicorn.conf.py wsgi:app`), read from the environment.

Worker class (`LLM_ROUTER_WORKER_CLASS`): `gevent` (pinned in requirements.txt) by default; `gthread` works too.
An inference request stays open until the node's answer is complete — a stream until its last
token — so the router holds many slow requests at once. gevent serves them all from one OS thread
per worker; with gthread each open request holds a thread and every token wakes one, and under CPU
contention the threads' competition for the GIL delays new requests (in bench/proxy_overhead.py,
256 streams: gthread met the time-to-first-token target only on an otherwise idle machine; see
docs/benchmarks.md). gunicorn patches the standard library for gevent in each worker before the
application is imported. Database calls (SQLite, psycopg) are not cooperative under gevent: while one
runs, its worker waits — which is why the inference path reads the database at most once a second
(routing table) and keeps API keys in memory.

With gthread, every request in flight or waiting in the router's queue holds one of the worker's
`LLM_ROUTER_THREADS` threads: size it for the streams a worker carries plus `LLM_ROUTER_QUEUE_SIZE`
(requests beyond it wait unseen inside gunicorn, outside the router's queue and its limits).
"""

import logging
import os
from pathlib import Path

bind = f"{os.environ.get('LLM_ROUTER_HOST', '127.0.0.1')}:{os.environ.get('LLM_ROUTER_PORT', '8080')}"
workers = int(os.environ.get("LLM_ROUTER_WORKERS", "2"))
worker_class = os.environ.get("LLM_ROUTER_WORKER_CLASS") or "gevent"
threads = int(os.environ.get("LLM_ROUTER_THREADS", "128"))  # gthread: requests open at once, per worker
worker_connections = int(os.environ.get("LLM_ROUTER_WORKER_CONNECTIONS", "1000"))  # gevent: per worker
timeout = 120
graceful_timeout = 10
accesslog = os.environ.get("LLM_ROUTER_ACCESS_LOG") or None
loglevel = os.environ.get("LLM_ROUTER_LOG_LEVEL", "info").lower()
# gunicorn's control socket (for `gunicornc`) defaults to one path per user, which a second router
# on the same host (or a test run beside a service) would take over; it is off unless a path is given.
control_socket = os.environ.get("LLM_ROUTER_CONTROL_SOCKET") or "gunicorn.ctl"
control_socket_disable = not os.environ.get("LLM_ROUTER_CONTROL_SOCKET")


# Prometheus (GET /v0/metrics): each worker writes its counters into this folder and a scrape sums
# them (prometheus_client's multiprocess mode). Emptied of its files at each start, so counts begin at 0;
# it lives in the instance folder (default as in app/config.py) unless PROMETHEUS_MULTIPROC_DIR names one.
_metrics_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or str(
    Path(os.environ.get("LLM_ROUTER_INSTANCE_PATH") or Path(__file__).resolve().parent / "instance") / "metrics")


def on_starting(server):  # noqa: ANN001 - gunicorn's hook signature
    os.makedirs(_metrics_dir, exist_ok=True)
    for stale in Path(_metrics_dir).glob("*.db"):  # the last run's workers' files, nothing else
        stale.unlink()
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = _metrics_dir  # inherited by the workers, read at their first import


def child_exit(server, worker):  # noqa: ANN001 - gunicorn's hook signature
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid, _metrics_dir)


class _ClientStoppedReading(logging.Filter):
    """A client that stopped reading its answer for LLM_ROUTER_CLIENT_IDLE_TIMEOUT_SECONDS: the router
    sets that timeout on gunicorn's client socket (app/services/inference/relay.py), the blocked write fails with
    a TimeoutError, and gunicorn closes the connection (which frees the node). That is the limit
    working, not a fault of the router: one line instead of gunicorn's "Socket error" traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, TimeoutError) and record.msg == "Socket error processing request.":
            record.msg = "A client stopped reading (LLM_ROUTER_CLIENT_IDLE_TIMEOUT_SECONDS); its connection was closed."
            record.args, record.exc_info, record.exc_text = (), None, None
            record.levelno, record.levelname = logging.INFO, "INFO"
        return True


def post_worker_init(worker):  # noqa: ANN001 - gunicorn's hook signature
    worker.log.error_log.addFilter(_ClientStoppedReading())
