"""The table of editable settings (app/services/settings/definitions.py): names, environment variables, and
each setting's check of a value (the same converter the environment's value goes through)."""

from __future__ import annotations

import re

import pytest

from app.config import environment_entry
from app.services.settings.definitions import BY_NAME, DEFINITIONS, SECTIONS, InvalidSetting, masked

PRICE = {"provider": "openai", "model": "gpt-imitation", "input": "1.25", "cached_input": None, "cache_write": None,
         "output": 5, "as_of": "2026-11-01", "source": "https://openai.com/api/pricing"}
# name -> (values it takes, as sent -> as stored), (values it refuses)
CASES = {
    "openai_api_key": ([(" sk-abc ", "sk-abc")], ["", "two words", 12, None, "a\x00b"]),
    "openai_base_url": ([("http://127.0.0.1:9/v1", "http://127.0.0.1:9/v1")], ["ftp://host", "api.openai.com", 1]),
    "anthropic_api_key": ([("sk-ant-api03-x", "sk-ant-api03-x")], ["sk ant", "\t", ["k"]]),
    "anthropic_base_url": ([("https://api.anthropic.com", "https://api.anthropic.com")], ["", "https://"]),
    "gemini_api_key": ([("AIza" + "k" * 35, "AIza" + "k" * 35)], ["x" * 5000, "key\nmore"]),
    "gemini_base_url": ([("http://localhost:8/", "http://localhost:8/")], ["localhost:8", None]),
    "request_history_days": ([(0, 0.0), ("2.5", 2.5), (30, 30.0)], [-1, "nan", "inf", True, "seven", [7]]),
    "request_history_max_body_bytes": ([(0, 0), ("4096", 4096)], [-1, 1.5, "1e3", False]),
    "alert_error_rate": ([(0.25, 0.25), ("1", 1.0)], [1.5, -0.1, "nan", "20%"]),
    "alert_webhook_url": ([("https://hooks.example/T/abc", "https://hooks.example/T/abc")], ["not a url", "", 3]),
    "ui_poll_seconds": ([(5, 5), ("60", 60)], [0, -3, 2.5, "ten", {}]),
    "default_language": ([("ja", "ja"), ("", ""), ("en", "en")], ["fr", "JA", 1]),
    "cost_time_zone": ([("Asia/Tokyo", "Asia/Tokyo"), ("UTC", "UTC")], ["Mars/Olympus", "", "../etc/passwd", 9]),
    "price_overrides": ([([PRICE], [PRICE]), ([], [])], [{"prices": []}, [{"provider": "openai"}], "[]",
                                                         [{**PRICE, "input": -1}], [PRICE, PRICE]]),
}


def test_every_setting_is_in_the_table_of_cases_and_named_as_the_api_names_it():
    assert set(BY_NAME) == set(CASES)
    for definition in DEFINITIONS:
        assert re.fullmatch(r"[a-z][a-z0-9_]*", definition.name)
        assert definition.section in SECTIONS


def test_each_environment_variable_is_the_one_config_reads_for_the_same_key():
    for definition in DEFINITIONS:
        if definition.env_variable is None:
            assert definition.name == "price_overrides"  # set on the page only
            continue
        entry = environment_entry(definition.env_variable)
        assert entry is not None, definition.env_variable
        assert entry[0] == definition.config_key
        if not definition.secret:
            assert entry[1] == definition.default, definition.name


def test_provider_settings_are_the_config_keys_the_providers_read():
    from app.services.inference.providers.registry import ENVIRONMENT

    keys = {key for names in ENVIRONMENT.values() for key in names[:2]}
    assert keys == {definition.config_key for definition in DEFINITIONS if definition.section == "providers"}
    assert {definition.name for definition in DEFINITIONS if definition.secret} == {
        "openai_api_key", "anthropic_api_key", "gemini_api_key", "alert_webhook_url"}


@pytest.mark.parametrize("name", sorted(CASES))
def test_values_taken_and_refused(app, name):
    definition = BY_NAME[name]
    accepted, refused = CASES[name]
    with app.test_request_context():
        for sent, stored in accepted:
            assert definition.validate(sent) == stored
        for value in refused:
            with pytest.raises(InvalidSetting) as caught:
                definition.validate(value)
            assert caught.value.name == name
            assert caught.value.message.endswith((".", ")"))  # a sentence, not a converter's fragment


def test_a_refused_price_override_says_which_entry_and_field(app):
    with app.test_request_context():
        with pytest.raises(InvalidSetting) as caught:
            BY_NAME["price_overrides"].validate([PRICE, {**PRICE, "model": "other", "output": "lots"}])
    assert "price override 1" in caught.value.message and "'output'" in caught.value.message


def test_masked_shows_the_last_four_characters_of_long_secrets_only():
    assert masked("sk-0123456789abcdefWXYZ") == "••••WXYZ"
    assert masked("short-key-123") == "••••"
    assert masked("") == "••••"
