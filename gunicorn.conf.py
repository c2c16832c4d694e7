"""gunicorn settings for the router (`gunicorn -c gunicorn.conf.py wsgi:app`), read from the environment.

Worker class (`LLM_ROUTER_WORKER_CLASS`): `gthread` (default) serves each request on a thread of
its own; an inference request holds its thread until the node's answer is complete (a stream: to
its last token), so `LLM_ROUTER_THREADS` bounds the requests in flight per worker — size it for the
streams you expect, plus the queue. docs/benchmarks.md compares worker classes.
"""

import os

bind = f"{os.environ.get('LLM_ROUTER_HOST', '127.0.0.1')}:{os.environ.get('LLM_ROUTER_PORT', '8080')}"
workers = int(os.environ.get("LLM_ROUTER_WORKERS", "2"))
worker_class = os.environ.get("LLM_ROUTER_WORKER_CLASS") or "gthread"
threads = int(os.environ.get("LLM_ROUTER_THREADS", "8"))
worker_connections = int(os.environ.get("LLM_ROUTER_WORKER_CONNECTIONS", "1000"))
timeout = 120
graceful_timeout = 10
accesslog = os.environ.get("LLM_ROUTER_ACCESS_LOG") or None
loglevel = os.environ.get("LLM_ROUTER_LOG_LEVEL", "info").lower()
