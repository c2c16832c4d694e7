"""Settings: what an admin may change without a restart (issue 13). Now: `secret_box`, which keeps the
settings' secrets (provider keys, the alert webhook) encrypted at rest. The store, the environment's
precedence, `/v0/settings` and the page come next."""
