"""Domain services, one package per domain; blueprints stay thin and call into these.

- `accounts`: users, API keys, tokens and the login guard.
- `catalog`: the supported-model list, what the Hub says about a repo, Hub statistics.
- `registry`: registered models: registration, cancel, retry, delete, and their lifecycle.
- `fleet`: nodes: registration, the manifest each node reads, status polling, reports, history.
- `inference`: `/v1`: request validation, routing, balancing, the relay and the node client.
- `observability`: what the router tells operators (Prometheus metrics).

`statuses` holds the status vocabularies these domains share. Nothing here imports a blueprint or
builds process state at import time: per-process objects are made in `create_app`.
"""
