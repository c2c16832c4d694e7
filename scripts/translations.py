"""Translation catalog upkeep: extract every user-visible string, update `ja`, compile.

    python -m scripts.translations update   # extract, merge into app/translations/ja, compile .mo
    python -m scripts.translations check    # exit 1 if a string lacks its Japanese translation

Uses Babel's Python API because `supported_models.json` needs a custom extractor
(`app.i18n:extract_catalog`), which a babel.cfg section cannot name.
"""

from __future__ import annotations

import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
PO_PATH = ROOT / "app" / "translations" / "ja" / "LC_MESSAGES" / "messages.po"
MO_PATH = PO_PATH.with_suffix(".mo")
METHOD_MAP = [
    ("app/**.py", "python"),
    ("app/templates/**.html", "jinja2"),
    ("supported_models.json", "app.i18n:extract_catalog"),
]
# pgettext: one English word with two meanings gets a context per meaning (shared/notes: "Parameters"
# is a model's parameter count on a card and the sampling settings in the Playground).
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "_l": None, "lazy_gettext": None,
            "pgettext": ((1, "c"), 2), "lazy_pgettext": ((1, "c"), 2), "npgettext": ((1, "c"), 2, 3)}


def extract() -> Catalog:
    """Every translatable string in the project, as a template catalog."""
    template = Catalog(project="llm-router", charset="utf-8")
    sys.path.insert(0, str(ROOT))
    for filename, lineno, message, comments, context in extract_from_dir(
            str(ROOT), METHOD_MAP, keywords=KEYWORDS, comment_tags=("TRANSLATORS:",),
            directory_filter=lambda path: not Path(path).name.startswith((".", "_")) and Path(path).name != "node_modules"):
        template.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return template


def read_japanese() -> Catalog:
    with PO_PATH.open("rb") as handle:
        return read_po(handle, locale="ja")


def missing_translations() -> list[str]:
    """Message ids with no (or only a fuzzy) Japanese translation, in their context (pgettext): the
    same English in another context is another message."""
    japanese = read_japanese()
    missing = []
    for message in extract():
        if not message.id:
            continue
        translated = japanese.get(message.id, message.context)
        text = translated.string if translated is not None else None
        if translated is None or translated.fuzzy or not text or (isinstance(text, tuple) and not all(text)):
            text_id = message.id if isinstance(message.id, str) else message.id[0]
            missing.append(f"{text_id} (context: {message.context})" if message.context else text_id)
    return missing


def update() -> None:
    template = extract()
    if PO_PATH.exists():
        japanese = read_japanese()
    else:
        PO_PATH.parent.mkdir(parents=True, exist_ok=True)
        japanese = Catalog(locale="ja", project="llm-router", charset="utf-8")
    japanese.update(template, no_fuzzy_matching=True)
    japanese.fuzzy = False  # the header; untranslated entries stay visible to `check`
    with PO_PATH.open("wb") as handle:
        write_po(handle, japanese, width=100, sort_by_file=True, ignore_obsolete=True)
    compile_mo()


def compile_mo() -> None:
    japanese = read_japanese()
    with MO_PATH.open("wb") as handle:
        write_mo(handle, japanese, use_fuzzy=False)


def main(argv: list[str]) -> int:
    command = argv[1] if len(argv) > 1 else "check"
    if command == "update":
        update()
        print(f"updated {PO_PATH.relative_to(ROOT)}; untranslated: {len(missing_translations())}")
        return 0
    if command == "compile":
        compile_mo()
        return 0
    missing = missing_translations()
    for message_id in missing:
        print(f"missing Japanese translation: {message_id!r}")
    return 1 if missing else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
