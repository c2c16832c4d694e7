"""gunicorn settings for the router (`gunicorn -c gunicorn.conf.py wsgi:app`), read from the environment.

Worker class (`LLM_ROUTER_WORKER_CLASS`): `gthread` (default) or `gevent` (when gevent is
installed; it is not a pinned dependency). An inference request stays open until the node's answer
is complete — a stream until its last token — so with gthread every request in flight, and every
request waiting in the router's queue, holds one of the worker's `LLM_ROUTER_THREADS` threads:
size it for the streams you expect per worker plus `LLM_ROUTER_QUEUE_SIZE` (requests beyond it wait
unseen in gunicorn, outside the router's queue and its limits). gevent serves every connection from
one OS thread per worker and used ~10-20% less CPU in bench/proxy_overhead.py; both meet the proxy's
targets there. docs/benchmarks.md has the figures.
"""

import os

bind = f"{os.environ.get('LLM_ROUTER_HOST', '127.0.0.1')}:{os.environ.get('LLM_ROUTER_PORT', '8080')}"
workers = int(os.environ.get("LLM_ROUTER_WORKERS", "2"))
worker_class = os.environ.get("LLM_ROUTER_WORKER_CLASS") or "gthread"
threads = int(os.environ.get("LLM_ROUTER_THREADS", "128"))  # gthread: requests open at once, per worker
worker_connections = int(os.environ.get("LLM_ROUTER_WORKER_CONNECTIONS", "1000"))  # gevent: per worker
timeout = 120
graceful_timeout = 10
accesslog = os.environ.get("LLM_ROUTER_ACCESS_LOG") or None
loglevel = os.environ.get("LLM_ROUTER_LOG_LEVEL", "info").lower()
