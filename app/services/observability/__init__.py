"""Observability: what the router tells its operators. Prometheus metrics, the request history, and logs:
`logs.py` (`POST /v0/logs/query` over the router's structured log files, or a node's) and `log_filters.py`
(saved log filters per user). Alerts: `alerts.py` (conditions raised and resolved at each poll; `GET /v0/alerts`)
and `alert_webhook.py` (each one POSTed to an operator's chat webhook, off every request's path)."""
