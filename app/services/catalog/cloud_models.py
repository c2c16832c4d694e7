"""What the Models page shows of a cloud provider: its own model list (from the provider, cached by
`CloudProviders`), each with its context window, output limit and price where the price table knows one.

A model without a price is shown as unpriced, never as free: its requests are recorded with no cost."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from ..inference.providers.base import CloudModel
from ..inference.providers.registry import LABELS, CloudProviders
from .cloud_prices import Price, price_for


@dataclass(frozen=True)
class CloudListing:
    model: CloudModel
    name: str  # as the provider calls it: "gpt-4o" of "openai:gpt-4o"
    price: Price | None


def configured_providers() -> list[tuple[str, str]]:
    """(name, label) of the providers with a key, in the router's order: the Models page's cloud tabs."""
    providers: CloudProviders = current_app.extensions["providers"]
    return [(name, LABELS[name]) for name in providers.configured()]


def listing(provider: str) -> list[CloudListing]:
    """The provider's models, sorted by name, with their prices; empty when its list cannot be read."""
    providers: CloudProviders = current_app.extensions["providers"]
    table = current_app.extensions["prices"].table()
    found = []
    for model in providers.models(provider):
        name = model.id.partition(":")[2]
        found.append(CloudListing(model, name, price_for(table, provider, name)))
    return sorted(found, key=lambda entry: entry.name)
