"""The dashboard's number and size formatting (binary units, the page's locale)."""

from __future__ import annotations

import pytest
from flask import Flask
from flask_babel import Babel, force_locale

from app.dashboard import formatting


@pytest.fixture(scope="module")
def context():
    app = Flask(__name__)
    Babel(app)
    with app.test_request_context():
        yield


@pytest.mark.parametrize("value, expected", [
    (None, "—"), (0, "0 B"), (1023, "1,023 B"), (1024, "1.0 KiB"), (1536, "1.5 KiB"),
    (491400032, "468.6 MiB"), (1073741824, "1.0 GiB"), (4683073248, "4.4 GiB"), (9053114816, "8.4 GiB"),
    (5 * 1024 ** 4, "5.0 TiB"), (3 * 1024 ** 6, "3,072.0 PiB"),
])
def test_filesize_uses_binary_units(context, value, expected):
    assert formatting.filesize(value) == expected


def test_numbers_and_percentages_follow_the_locale(context):
    assert formatting.number(98765) == "98,765"
    assert formatting.percent(12.5) == "12.5%"
    assert formatting.percent(100) == "100.0%"
    with force_locale("de"):
        assert formatting.number(98765) == "98.765"
        assert formatting.filesize(1610612736) == "1,5 GiB"
    with force_locale("ja"):
        assert formatting.number(98765) == "98,765"


@pytest.mark.parametrize("value, expected", [("gguf", "GGUF"), ("ctranslate2", "CTranslate2"), ("onnx", "onnx"),
                                             (None, "—")])
def test_model_format_names(value, expected):
    assert formatting.model_format(value) == expected


def test_catalog_text_is_never_a_format_string(context):
    assert formatting.catalog_text("100% mine") == "100% mine"
    assert formatting.catalog_text("") == ""
