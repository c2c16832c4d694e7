"""The cloud price table and the cost of one request: the shipped table loads, a broken entry is
refused with its index and field, snapshots fall back only to their own base id, cached tokens are
charged once at their own rate, and a request with no price is unpriced (None), never $0."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from app.services.catalog.cloud_prices import (
    PROVIDERS,
    Price,
    cost,
    load_prices,
    price_for,
    with_overrides,
)
from tests.support.router_process import PROJECT_ROOT

SHIPPED = PROJECT_ROOT / "app" / "services" / "catalog" / "cloud_prices.json"


def entry(**changes) -> dict:
    base = {
        "provider": "openai",
        "model": "gpt-4o",
        "input": "2.50",
        "cached_input": "1.25",
        "cache_write": None,
        "output": "10.00",
        "as_of": "2026-05-27",
        "source": "https://example.com/pricing",
    }
    base.update(changes)
    return base


def write_prices(tmp_path: Path, entries) -> Path:
    path = tmp_path / "cloud_prices.json"
    path.write_text(json.dumps({"prices": entries}), encoding="utf-8")
    return path


def table(tmp_path: Path, *entries: dict) -> dict:
    return load_prices(write_prices(tmp_path, list(entries)))


def price(**changes) -> Price:
    values = {
        "provider": "openai",
        "model": "m",
        "input": Decimal("2.50"),
        "cached_input": Decimal("1.25"),
        "cache_write": None,
        "output": Decimal("10"),
        "as_of": date(2026, 1, 1),
        "source": "https://example.com/pricing",
    }
    values.update(changes)
    return Price(**values)


# --- the shipped table -------------------------------------------------------------------------


def test_shipped_table_loads_with_a_dated_https_source_for_every_entry():
    prices = load_prices(SHIPPED)
    raw = json.loads(SHIPPED.read_text(encoding="utf-8"))["prices"]
    assert len(prices) == len(raw)
    assert {provider for provider, _ in prices} == set(PROVIDERS)
    for (provider, model), item in prices.items():
        assert item.source.startswith("https://"), (provider, model)
        assert isinstance(item.as_of, date) and item.as_of <= date.today(), (provider, model)
        assert item.input > 0, (provider, model)
        if item.cached_input is not None:  # a cache hit is a discount, never a surcharge
            assert item.cached_input < item.input, (provider, model)
        if item.cache_write is not None:
            assert provider == "anthropic" and item.cache_write > item.input, model


def test_shipped_table_prices_a_dated_snapshot_through_its_base_model():
    prices = load_prices(SHIPPED)
    assert price_for(prices, "anthropic", "claude-sonnet-4-5-20250929").model == "claude-sonnet-4-5"
    assert price_for(prices, "openai", "gpt-4o-2024-08-06").model == "gpt-4o"


# --- validation --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"provider": "azure"}, "provider"),
        ({"model": ""}, "model"),
        ({"input": "-0.01"}, "input"),
        ({"output": -1}, "output"),
        ({"input": "cheap"}, "input"),
        ({"cached_input": "NaN"}, "cached_input"),
        ({"output": True}, "output"),
        ({"output": None}, "output"),
        ({"cache_write": "3.75"}, "cache_write"),  # cache creation is an Anthropic price
        ({"as_of": "2026-13-01"}, "as_of"),
        ({"as_of": "27/05/2026"}, "as_of"),
        ({"source": "pricing page"}, "source"),
        ({"currency": "EUR"}, "currency"),
    ],
)
def test_a_bad_entry_is_refused_naming_its_index_and_field(tmp_path, changes, field):
    path = write_prices(tmp_path, [entry(model="gpt-4.1"), entry(**changes)])
    with pytest.raises(ValueError) as excinfo:
        load_prices(path)
    assert "entry 1" in str(excinfo.value)
    assert f"'{field}'" in str(excinfo.value)


def test_a_missing_field_is_refused(tmp_path):
    broken = entry()
    del broken["as_of"]
    with pytest.raises(ValueError, match=r"entry 0: field 'as_of': missing"):
        load_prices(write_prices(tmp_path, [broken]))


def test_a_duplicate_provider_and_model_is_refused(tmp_path):
    path = write_prices(tmp_path, [entry(), entry(model="gpt-4.1"), entry(input="3")])
    with pytest.raises(ValueError, match=r"entry 2: field 'model': duplicate openai:gpt-4o"):
        load_prices(path)


def test_the_same_model_id_under_two_providers_is_two_prices(tmp_path):
    prices = table(tmp_path, entry(), entry(provider="google"))
    assert set(prices) == {("openai", "gpt-4o"), ("google", "gpt-4o")}


def test_prices_may_be_numbers_or_decimal_strings_and_stay_exact(tmp_path):
    prices = table(tmp_path, entry(input=0.1, output=3, cached_input=None))
    loaded = prices[("openai", "gpt-4o")]
    assert loaded.input == Decimal("0.1") and loaded.output == Decimal(3)
    assert loaded.cached_input is None and loaded.as_of == date(2026, 5, 27)


def test_a_file_without_a_prices_list_is_refused(tmp_path):
    path = tmp_path / "cloud_prices.json"
    path.write_text(json.dumps([entry()]), encoding="utf-8")
    with pytest.raises(ValueError, match="prices"):
        load_prices(path)


# --- price_for ---------------------------------------------------------------------------------


def test_price_for_finds_the_exact_id(tmp_path):
    prices = table(tmp_path, entry(), entry(model="gpt-4o-mini", input="0.15"))
    assert price_for(prices, "openai", "gpt-4o-mini").input == Decimal("0.15")
    assert price_for(prices, "anthropic", "gpt-4o") is None  # the provider is part of the key


def test_a_dated_snapshot_falls_back_to_its_base_only_when_absent(tmp_path):
    prices = table(
        tmp_path,
        entry(),
        entry(model="gpt-4o-2024-05-13", input="5.00", cached_input=None, output="15.00"),
        entry(provider="anthropic", model="claude-sonnet-4-5", cache_write="3.75"),
    )
    assert price_for(prices, "openai", "gpt-4o-2024-08-06").model == "gpt-4o"
    assert price_for(prices, "openai", "gpt-4o-2024-05-13").input == Decimal("5.00")  # own price
    assert price_for(prices, "anthropic", "claude-sonnet-4-5-20250929").model == "claude-sonnet-4-5"


@pytest.mark.parametrize(
    "model",
    [
        "gpt-4o-mini",  # another model, not a snapshot of gpt-4o
        "gpt-4o-mini-2024-07-18",  # its base gpt-4o-mini is absent: no second step to gpt-4o
        "gpt-4o-2024-08",  # not a full date
        "gpt-4o-latest",
        "GPT-4o",
        "gpt-4",
    ],
)
def test_nothing_fuzzier_than_a_dated_snapshot_finds_a_price(tmp_path, model):
    assert price_for(table(tmp_path, entry()), "openai", model) is None


# --- cost --------------------------------------------------------------------------------------


def test_cost_of_a_plain_request():
    usage = {"prompt_tokens": 1000, "completion_tokens": 200, "total_tokens": 1200}
    # 1000 * 2.50e-6 + 200 * 10e-6 = 0.0025 + 0.002
    assert cost(price(), usage) == Decimal("0.0045")


def test_cached_tokens_are_charged_once_at_the_cached_rate():
    usage = {
        "prompt_tokens": 1000,
        "completion_tokens": 200,
        "prompt_tokens_details": {"cached_tokens": 400},
    }
    # 1,000 prompt tokens of which 400 cached, at input 2.50 / cached 1.25 / output 10 per 1M,
    # with 200 output: 600*2.5e-6 + 400*1.25e-6 + 200*10e-6 = 0.0015 + 0.0005 + 0.002 = 0.004
    assert cost(price(), usage) == Decimal("0.004")


def test_anthropic_cache_creation_is_charged_at_the_cache_write_rate():
    sonnet = price(
        provider="anthropic",
        input=Decimal("3"),
        cached_input=Decimal("0.30"),
        cache_write=Decimal("3.75"),
        output=Decimal("15"),
    )
    usage = {
        "prompt_tokens": 3000,  # 500 uncached + 1,000 cache read + 1,500 cache creation
        "completion_tokens": 100,
        "prompt_tokens_details": {"cached_tokens": 1000, "cache_creation_tokens": 1500},
    }
    # 500*3e-6 + 1000*0.30e-6 + 1500*3.75e-6 + 100*15e-6
    # = 0.0015 + 0.0003 + 0.005625 + 0.0015 = 0.008925
    assert cost(sonnet, usage) == Decimal("0.008925")


def test_without_a_cache_price_cached_and_created_tokens_cost_the_input_rate():
    plain = price(cached_input=None, cache_write=None)
    usage = {
        "prompt_tokens": 1000,
        "completion_tokens": 0,
        "prompt_tokens_details": {"cached_tokens": 400, "cache_creation_tokens": 100},
    }
    assert cost(plain, usage) == Decimal("0.0025")  # 1000 * 2.50e-6, each token once


def test_an_embedding_usage_without_completion_tokens_is_costed():
    embedding = price(input=Decimal("0.02"), cached_input=None, output=Decimal("0"))
    assert cost(embedding, {"prompt_tokens": 5000, "total_tokens": 5000}) == Decimal("0.0001")


def test_cost_is_rounded_to_ten_decimal_places():
    cheap = price(input=Decimal("0.05"), cached_input=Decimal("0.005"), output=Decimal("0.40"))
    usage = {
        "prompt_tokens": 3,
        "completion_tokens": 1,
        "prompt_tokens_details": {"cached_tokens": 1},
    }
    # 2*0.05e-6 + 1*0.005e-6 + 1*0.40e-6 = 0.000000505
    result = cost(cheap, usage)
    assert result == Decimal("0.000000505")
    assert result.as_tuple().exponent == -10


def test_a_request_with_no_price_is_unpriced_never_zero():
    assert cost(None, {"prompt_tokens": 1000, "completion_tokens": 200}) is None


@pytest.mark.parametrize(
    "usage",
    [
        None,
        {},
        {"completion_tokens": 10},
        {"prompt_tokens": "10", "completion_tokens": 1},
        {"prompt_tokens": -1, "completion_tokens": 1},
        {"prompt_tokens": 10, "prompt_tokens_details": {"cached_tokens": 11}},
    ],
)
def test_missing_or_inconsistent_usage_is_unpriced(usage):
    assert cost(price(), usage) is None


def test_cost_of_a_shipped_price_through_a_snapshot_id():
    prices = load_prices(SHIPPED)
    sonnet = price_for(prices, "anthropic", "claude-sonnet-4-5-20250929")
    usage = {"prompt_tokens": 2000, "completion_tokens": 1000}
    expected = (2000 * sonnet.input + 1000 * sonnet.output) / 10**6
    assert cost(sonnet, usage) == expected


# --- overrides ---------------------------------------------------------------------------------


def test_overrides_replace_and_add_entries_without_touching_the_table(tmp_path):
    prices = table(tmp_path, entry(), entry(model="gpt-4.1", input="2.00", output="8.00"))
    merged = with_overrides(
        prices,
        [
            entry(input="2.00", as_of="2026-12-01"),
            entry(
                provider="google",
                model="gemini-2.5-flash",
                input="0.30",
                cached_input=None,
                output="2.50",
            ),
        ],
    )
    assert merged[("openai", "gpt-4o")].input == Decimal("2.00")
    assert merged[("openai", "gpt-4o")].as_of == date(2026, 12, 1)
    assert merged[("openai", "gpt-4.1")] is prices[("openai", "gpt-4.1")]
    assert price_for(merged, "google", "gemini-2.5-flash").output == Decimal("2.50")
    assert prices[("openai", "gpt-4o")].input == Decimal("2.50")
    assert ("google", "gemini-2.5-flash") not in prices


def test_a_bad_override_is_refused_naming_its_index_and_field(tmp_path):
    prices = table(tmp_path, entry())
    with pytest.raises(ValueError, match=r"override 1: field 'output': must not be negative"):
        with_overrides(prices, [entry(model="gpt-4.1"), entry(output="-5")])
    with pytest.raises(ValueError, match=r"override 1: field 'model': duplicate"):
        with_overrides(prices, [entry(), entry()])
    with pytest.raises(ValueError, match="list"):
        with_overrides(prices, entry())
