"""gunicorn settings for the router (`gunicorn -c gunicorn.conf.py wsgi:app`), read from the environment.

gthread workers: requests to the router are short or wait on I/O (nodes, the Hub), so threads per
worker serve many at once without one process per connection.
"""

import os

bind = f"{os.environ.get('LLM_ROUTER_HOST', '127.0.0.1')}:{os.environ.get('LLM_ROUTER_PORT', '8080')}"
workers = int(os.environ.get("LLM_ROUTER_WORKERS", "2"))
worker_class = "gthread"
threads = int(os.environ.get("LLM_ROUTER_THREADS", "8"))
timeout = 120
graceful_timeout = 10
accesslog = os.environ.get("LLM_ROUTER_ACCESS_LOG") or None
loglevel = os.environ.get("LLM_ROUTER_LOG_LEVEL", "info").lower()
