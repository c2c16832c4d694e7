"""Settings: what an admin may change without a restart (issue 13). `definitions` is the one table of editable
settings and their checks, `store` keeps the ones in force in each process (environment over database over
default) and applies a change everywhere, and `secret_box` keeps their secrets (provider keys, the alert
webhook) encrypted at rest."""
