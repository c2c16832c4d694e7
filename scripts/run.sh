#!/usr/bin/env bash
# Starts the router (gunicorn) on the embedded default (SQLite in instance/router.db) and one local
# node agent beside it, which registers with the router and keeps its models in instance/local-node/.
# Settings come from the environment (README: Configuration); LLM_ROUTER_PORT picks the port.
# Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh requirements.txt
host=${LLM_ROUTER_HOST:-127.0.0.1}
port=${LLM_ROUTER_PORT:-8080}
instance=${LLM_ROUTER_INSTANCE_PATH:-$PWD/instance}
export LLM_ROUTER_HOST=$host LLM_ROUTER_PORT=$port LLM_ROUTER_INSTANCE_PATH=$instance

# The local node's credential: a node-scope API key, created once, kept private in instance/.
# (On the very first start this also creates the admin user and prints its password.)
key_file="$instance/local-node.key"
if [ ! -s "$key_file" ]; then
  LLM_ROUTER_SCHEDULER=0 .venv/bin/flask --app wsgi create-api-key --name local-node --scope node \
    --output "$key_file"
fi

pids=()
stop() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap stop EXIT INT TERM

.venv/bin/gunicorn -c gunicorn.conf.py wsgi:app &
pids+=($!)
[ "$host" = "0.0.0.0" ] && router_host=127.0.0.1 || router_host=$host
LLM_NODE_ROUTER_URL="http://$router_host:$port" LLM_NODE_API_KEY="$(cat "$key_file")" \
  LLM_NODE_NAME="${LLM_NODE_NAME:-local}" LLM_NODE_LISTEN="${LLM_NODE_LISTEN:-127.0.0.1:8090}" \
  LLM_NODE_MODELS_DIR="${LLM_NODE_MODELS_DIR:-$instance/local-node/models}" \
  .venv/bin/python -m node_agent &
pids+=($!)
echo "LLM Router: open http://$host:$port/ (Models page) - the API is at http://$host:$port/v1 and /v0;"
echo "a local node agent serves on ${LLM_NODE_LISTEN:-127.0.0.1:8090}. Ctrl-C stops both."
wait -n "${pids[@]}"
