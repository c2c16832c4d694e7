"""Every user-visible string has its Japanese translation, and the compiled catalog is current.

Fix a failure with `python -m scripts.translations update`, fill the empty msgstr entries in
app/translations/ja/LC_MESSAGES/messages.po, then run `update` again (it compiles the .mo).
"""

from __future__ import annotations

from babel.messages.mofile import read_mo

from scripts import translations


def test_every_extracted_string_has_a_japanese_translation():
    missing = translations.missing_translations()
    assert not missing, (f"{len(missing)} string(s) lack a Japanese translation (run `python -m scripts.translations "
                         f"update` and fill messages.po): " + "; ".join(repr(message) for message in missing[:20]))


def _plain(value):
    return tuple(value) if isinstance(value, (list, tuple)) else value


def _messages(catalog) -> dict:
    """(context, msgid) -> msgstr of the translated messages (plural forms as tuples, whichever reader
    made them): one English word in two contexts is two messages."""
    return {(_text(message.context), _plain(message.id)): _plain(message.string) for message in catalog
            if message.id and message.string and not message.fuzzy}


def _text(context):
    """Babel's .mo reader gives a context as bytes, its .po reader as text."""
    return context.decode("utf-8") if isinstance(context, bytes) else context


def test_compiled_catalog_matches_the_po_file():
    with translations.MO_PATH.open("rb") as handle:
        compiled = _messages(read_mo(handle))
    source = _messages(translations.read_japanese())
    stale = sorted({str(key) for key in source.keys() ^ compiled.keys()} |
                   {str(key) for key in source.keys() & compiled.keys() if source[key] != compiled[key]})
    assert not stale, (f"messages.mo is stale for {len(stale)} message(s) (run `python -m scripts.translations "
                       f"compile`): " + "; ".join(stale[:20]))


def test_placeholders_survive_translation():
    problems = [f"{message.id!r}: {', '.join(map(str, errors))}"
                for message, errors in translations.read_japanese().check()]
    assert not problems, "; ".join(problems)
