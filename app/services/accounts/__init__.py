"""Accounts: who may use the router. Users and their passwords and sign-ins, API keys (with the
per-worker key cache), dashboard-issued JWTs, and the login guard that slows password guessing."""
