"""The per-process price book (`app.extensions["prices"]`): the shipped table, with overrides swapped in whole
or not at all."""

from __future__ import annotations

from decimal import Decimal

import pytest

from app.services.catalog.cloud_prices import PriceBook, price_for

OVERRIDE = {"provider": "anthropic", "model": "claude-sonnet-4-5", "input": "2", "cached_input": "0.2",
            "cache_write": "2.5", "output": "10", "as_of": "2026-12-03", "source": "https://example.com/prices"}


def test_the_app_has_the_shipped_prices(app):
    table = app.extensions["prices"].table()
    assert price_for(table, "anthropic", "claude-sonnet-4-5").input == Decimal("3")


def test_overrides_replace_and_add_prices_and_can_be_taken_back():
    book = PriceBook.shipped()
    book.use_overrides([OVERRIDE, {**OVERRIDE, "provider": "openai", "model": "my-finetune", "cache_write": None}])
    assert price_for(book.table(), "anthropic", "claude-sonnet-4-5").input == Decimal("2")
    assert price_for(book.table(), "openai", "my-finetune").output == Decimal("10")
    assert book.overrides[0]["model"] == "claude-sonnet-4-5"
    book.use_overrides([])
    assert price_for(book.table(), "anthropic", "claude-sonnet-4-5").input == Decimal("3")
    assert price_for(book.table(), "openai", "my-finetune") is None


def test_a_bad_override_changes_nothing():
    book = PriceBook.shipped()
    book.use_overrides([OVERRIDE])
    before = book.table()
    with pytest.raises(ValueError, match="price override 1: field 'input'"):
        book.use_overrides([{**OVERRIDE, "input": "0.5"}, {**OVERRIDE, "model": "other", "input": "-1"}])
    assert book.table() is before and book.overrides == [OVERRIDE]
