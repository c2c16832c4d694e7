"""Catalog: which models exist to be registered. The curated supported list (`supported`), what the
Hugging Face Hub says about a repo (`hub_inspect`: files, format, engine, size), download and like
counts from the Hub (`hub_stats`), the checks that keep names from becoming unsafe paths, and the cloud
models' prices with the cost of one request (`cloud_prices`, from the shipped `cloud_prices.json`)."""
