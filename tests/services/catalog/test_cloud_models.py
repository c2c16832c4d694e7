"""The Models page's cloud listing (app/services/catalog/cloud_models.py): a provider's own model list with the
price table's prices, against a local imitation of the provider."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from app import create_app
from app.services.catalog import cloud_models
from tests.support.cloud_imitation import CloudImitation, Failure
from tests.support.factories import router_config

PRICED = {"id": "gpt-4o-mini", "object": "model", "created": 1, "owned_by": "system"}
UNPRICED = {"id": "ft:gpt-4o-mini:acme::custom", "object": "model", "created": 2, "owned_by": "acme"}


@pytest.fixture
def openai_imitation() -> Iterator[CloudImitation]:
    with CloudImitation("openai", key="listing-key", models=[UNPRICED, PRICED]) as imitation:
        yield imitation


@pytest.fixture
def listing_app(tmp_path: Path, hub, openai_imitation: CloudImitation):
    app = create_app(router_config(tmp_path, hub.url, OPENAI_API_KEY="listing-key",
                                   OPENAI_BASE_URL=openai_imitation.base_url))
    yield app
    app.extensions["history"].close()
    app.extensions["hub_stats"].close()


def test_only_providers_with_a_key_have_a_tab(listing_app, app):
    with listing_app.app_context():
        assert cloud_models.configured_providers() == [("openai", "OpenAI")]
    with app.app_context():  # the plain test app has no provider key
        assert cloud_models.configured_providers() == []


def test_the_listing_is_sorted_with_prices_and_unpriced_models_stay_unpriced(listing_app):
    with listing_app.app_context():
        entries = cloud_models.listing("openai")
    assert [entry.model.id for entry in entries] == ["openai:ft:gpt-4o-mini:acme::custom", "openai:gpt-4o-mini"]
    unpriced, priced = entries
    assert unpriced.price is None
    assert priced.name == "gpt-4o-mini"
    assert priced.price is not None and priced.price.input > Decimal(0) and priced.price.output > priced.price.input


def test_an_override_prices_a_model_the_table_does_not_know(listing_app):
    override = {"provider": "openai", "model": "ft:gpt-4o-mini:acme::custom", "input": "0.3", "cached_input": None,
                "cache_write": None, "output": "1.2", "as_of": "2026-12-01", "source": "https://example.com/contract"}
    with listing_app.app_context():
        listing_app.extensions["prices"].use_overrides([override])
        custom = cloud_models.listing("openai")[0]
    assert custom.price is not None and custom.price.output == Decimal("1.2")


def test_a_provider_whose_list_fails_lists_nothing(listing_app, openai_imitation):
    openai_imitation.list_failure = Failure(503, "server_error", "down")
    with listing_app.app_context():
        assert cloud_models.listing("openai") == []
