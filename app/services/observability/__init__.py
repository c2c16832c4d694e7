"""Observability: what the router tells its operators. Prometheus metrics now; request history and
logs will join it."""
