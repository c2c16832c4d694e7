#!/usr/bin/env bash
# Starts the router (gunicorn) on the embedded default: SQLite in instance/router.db.
# Settings come from the environment (README: Configuration); LLM_ROUTER_PORT picks the port.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh requirements.txt
host=${LLM_ROUTER_HOST:-127.0.0.1}
port=${LLM_ROUTER_PORT:-8080}
export LLM_ROUTER_HOST=$host LLM_ROUTER_PORT=$port
echo "LLM Router: open http://$host:$port/ (Models page) - the API is at http://$host:$port/v1 and /v0. Ctrl-C stops it."
exec .venv/bin/gunicorn -c gunicorn.conf.py wsgi:app
