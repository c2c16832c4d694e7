"""Observability: what the router tells its operators.

- Metrics: `metrics.py` (Prometheus).
- The request history: `recording.py` (what a `/v1` request leaves), `history.py` (the batching writer,
  summaries, purge), `history_queries.py` (filters, cursor pages), `body_search.py` (`q` and its index).
- The overview: `rollups.py` (per-minute and per-hour sums written with the history), `fleet_samples.py`
  (the fleet's counts), `overview.py` (`GET /v0/overview`, from those two only).
- Alerts: `alerts.py` (conditions raised and resolved at each poll; `GET /v0/alerts`) and
  `alert_webhook.py` (each one POSTed to an operator's chat webhook, off every request's path).
- Logs: `logs.py` (`POST /v0/logs/query` over the router's structured log files, or a node's) and
  `log_filters.py` (saved log filters per user).
- `process_thread.py`: the per-process thread the history writer and the webhook run in.
"""
