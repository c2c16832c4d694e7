"""The Japanese catalogue speaks in one voice: the rules and glossary of shared/notes/ja-style.md.

Each check reads app/translations/ja/LC_MESSAGES/messages.po and names every offending msgid. The
tables below are the data: add a row when the glossary gains a term.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import NamedTuple

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.pofile import read_po

PO_PATH = Path(__file__).resolve().parent.parent / "app" / "translations" / "ja" / "LC_MESSAGES" / "messages.po"

# Japanese script (kana and kanji), without 「・」, which sits between Latin words as a list separator.
JAPANESE = r"[\u3040-\u30fa\u30fc-\u30ff\u4e00-\u9fff]"

# Forbidden wordings: (name, pattern in msgstr, only where the msgid matches this (None: everywhere), reason).
FORBIDDEN = [
    ("sign-in", r"サインイン|サインアウト", None, "Sign in / Sign out is ログイン / ログアウト, never サインイン"),
    ("long-vowel-parameter", r"パラメータ(?!ー)", None, "katakana keeps the long vowel: パラメーター"),
    ("long-vowel-browser", r"ブラウザ(?!ー)", None, "katakana keeps the long vowel: ブラウザー"),
    ("long-vowel-user", r"ユーザ(?!ー)", None, "katakana keeps the long vowel: ユーザー"),
    ("long-vowel-router", r"ルータ(?!ー)", None, "katakana keeps the long vowel: ルーター"),
    ("long-vowel-server", r"サーバ(?!ー)", None, "katakana keeps the long vowel: サーバー"),
    ("long-vowel-filter", r"フィルタ(?!ー)", None, "katakana keeps the long vowel: フィルター"),
    ("long-vowel-viewer", r"ビューア(?!ー)", None, "katakana keeps the long vowel: ビューアー"),
    ("route", r"ルート", None, "an HTTP route is パス or エンドポイント; ルート reads as 'root'"),
    ("default", r"デフォルト", None, "Default is 既定値"),
    # 数値 stays right for "must be a number"; only the figures shown are データ.
    ("figures", r"数値", r"(?i)\bfigures?\b", "Figures (the numbers shown) are データ"),
    ("retry-not-resume", r"再開", r"(?i)\bretry|\bretrying\b|\bagain\b", "a retry is 再試行; 再開 means resume"),
    ("cancel-download", r"キャンセル", r"(?i)\bdownload", "cancelling a download is ダウンロードを中止"),
    ("cancel-dialog", r"中止", r"^Cancel$", "Cancel (a dialog) is キャンセル"),
    ("retry-advice", r"もう一度試して|再試行してください|数秒後に|少し待って", r"(?i)\btry(ing)? again\b",
     "retry advice is 「しばらくしてからもう一度お試しください。」"),
    ("answer", r"応答", r"(?i)\bthe answer\b", "the answer of a model is 回答; 応答 is an HTTP response"),
    ("last-hour", r"直近", r"(?i)\blast (hour|\d+ (hours|days))\b",
     "Last hour / last 7 days is 過去 1 時間 / 過去 7 日間"),
    ("expires", r"有効期間|期限のない", r"(?i)\bexpires?\b", "Expires / never expires is 有効期限 / 無期限"),
    ("never-seen", r"応答なし", None, "never seen is 未応答"),
    ("curly-quotes", r"[“”]", None, "UI text quotes with 「」, not “”"),
]

# Required wordings: (msgid pattern, msgctxt (None: any), text the msgstr must contain, reason). A row
# for one msgctxt takes its messages over from the rows for any context.
REQUIRED = [
    (r"(?i)\bretry(ing)?\b", None, "再試行", "Retry is 再試行"),
    (r"^Cancel$", None, "キャンセル", "Cancel (a dialog) is キャンセル"),
    (r"(?i)\bcancel(led|ling)? (the )?download|^Cancelling…$", None, "中止",
     "Cancel a download is ダウンロードを中止"),
    (r"(?i)\btry again (later|in a moment|in a few seconds)", None, "しばらくしてからもう一度お試しください。",
     "retry advice is 「しばらくしてからもう一度お試しください。」"),
    (r"(?i)\btry(ing)? again\b", None, "もう一度お試しください", "try again is 「もう一度お試しください」"),
    (r"(?i)\bsign(s|ed|ing)?[- ]?(in|out)\b|\blog in\b", None, "ログ", "Sign in / Sign out is ログイン / ログアウト"),
    (r"(?i)\bfigures\b", None, "データ", "Figures (the numbers shown) are データ"),
    (r"(?i)\bthe answer\b", None, "回答", "the answer of a model is 回答"),
    (r"(?i)\bready\b", None, "準備完了", "Ready is 準備完了"),
    (r"(?i)\bserv(e|es|ed|ing)\b", None, "提供", "Serve is 提供"),
    (r"(?i)\bpolls?\b", None, "ポーリング", "Poll is ポーリング"),
    (r"(?i)\brevoked?\b", None, "取り消", "Revoke / Revoked is 取り消し / 取り消し済み"),
    (r"(?i)\b(delete[ds]?|deleting|remove[ds]?|removing)\b", None, "削除", "Delete / Remove is 削除"),
    (r"(?i)\bmodel hub\b", None, "モデルハブ", "Model Hub is モデルハブ"),
    (r"(?i)\bscopes?\b", None, "スコープ", "Scope is スコープ"),
    (r"(?i)\bapi keys?\b", None, "API キー", "API key is API キー"),
    (r"(?i)\bparameters\b", None, "パラメーター", "Parameters is パラメーター (model size: パラメーター数)"),
    (r"^Parameters$", None, "パラメーター数", "Parameters on a model card (its size) is パラメーター数"),
    (r"^Parameters$", "sampling", "パラメーター", "Parameters (sampling) is パラメーター"),
    (r"(?i)\btemperature\b", None, "温度", "Temperature is 温度"),
    (r"(?i)\bmax tokens\b", None, "最大トークン数", "Max tokens is 最大トークン数"),
    (r"(?i)\bsystem prompt\b", None, "システムプロンプト", "System prompt is システムプロンプト"),
    (r"(?i)\bdefaults?\b", None, "既定", "Default is 既定値 (by default: 既定では)"),
    (r"(?i)\bexpires\b", None, "有効期限", "Expires is 有効期限"),
    (r"^Never$", None, "無期限", "Never (expires) is 無期限"),
    (r"^Last seen$", None, "最終応答", "Last seen is 最終応答"),
    (r"^Not yet$", "never seen", "未応答", "never seen is 未応答"),
    (r"(?i)^last used$", None, "最終使用日時", "Last used is 最終使用日時"),
    (r"^Not yet$", None, "未使用", "never used is 未使用"),
    (r"^Registered$", "date", "登録日時", "Registered (date) is 登録日時"),
    (r"^Registered$", None, "登録済み", "Registered (state) is 登録済み"),
    (r"^Registered %\(moment\)s$", None, "登録日時", "Registered (date) is 登録日時"),
    (r"(?i)\blast (hour|\d+ (hours|days))\b", None, "過去 ", "Last hour / last 7 days is 過去 1 時間 / 過去 7 日間"),
    (r"(?i)\b(prompt|input) tokens\b", None, "入力トークン", "Input tokens is 入力トークン"),
    (r"(?i)\b(completion|output) tokens\b", None, "出力トークン", "Output tokens is 出力トークン"),
    (r"(?i)^downloading$", None, "ダウンロード中", "Downloading is ダウンロード中"),
    (r"(?i)^waiting to download$", None, "ダウンロード待ち", "Waiting to download is ダウンロード待ち"),
    (r"(?i)\brequest history\b", None, "リクエスト履歴", "Request history is リクエスト履歴"),
    (r"(?i)\blog viewer\b", None, "ログビューアー", "Log viewer is ログビューアー"),
    (r"(?i)\bsaved filters?\b", None, "保存済みフィルター", "saved filter is 保存済みフィルター"),
    (r"(?i)\boverview\b", None, "概要", "Overview is 概要"),
    (r"(?i)\balerts?\b", None, "アラート", "Alert is アラート"),
    (r"(?i)\bcosts?\b", None, "コスト", "Cost is コスト"),
    (r"(?i)\bsettings?\b", None, "設定", "Settings is 設定"),
    (r"(?i)cannot be undone", None, "この操作は元に戻せません。",
     "irreversible actions add 「この操作は元に戻せません。」"),
]

# Counts: an English noun after the number, and the counter its Japanese count takes.
COUNTERS = {"model": "件", "request": "件", "key": "件", "node": "台", "user": "人", "poll": "回"}
COUNT_NOUN = re.compile(r"(?i)(%\((?:num|count)\)[sd]) (?:[a-z]+ )?(model|request|key|node|user|poll)s?\b")
COUNT_FIRST = re.compile(r"\s*%\((?:num|count)\)[sd]\s*\S")

# A busy label: a verb in -ing ending in "…" ("Registering…", "Loading models…", "Signing in…").
BUSY_LABEL = re.compile(r"^[A-Z][a-z]*ing\b[^.?!;:]*…$")
# Busy labels and the idle label of the button they replace (short enough not to reflow it).
BUSY_LABELS = {"Registering…": "Register", "Deleting…": "Delete", "Retrying…": "Retry",
               "Cancelling…": "Cancel download"}

PLACEHOLDER = re.compile(r"%(?:\(\w+\))?[#0 +-]*\d*(?:\.\d+)?[diouxXeEfFgGcrsa%]")
BRACES = re.compile(r"\{[^{}]*\}")
NO_SPACE = re.compile(JAPANESE + r"[A-Za-z0-9%{]|[A-Za-z0-9}]" + JAPANESE)
PLAIN_SENTENCE_END = re.compile(r"(?:する|できる|なる|ある|いる|れる|(?<![まで])した|ない|だ|である)。")


class Entry(NamedTuple):
    message: Message
    context: str | None
    msgid: str
    plural: str | None  # msgid_plural
    strings: list[str]  # msgstr, or msgstr[0..]

    @property
    def name(self) -> str:
        return f"{self.msgid!r} (context {self.context!r})" if self.context else repr(self.msgid)


def _entries() -> tuple[Catalog, list[Entry]]:
    with PO_PATH.open("rb") as handle:
        catalog = read_po(handle, locale="ja")
    entries = []
    for message in catalog:
        if not message.id:
            continue
        if isinstance(message.id, (list, tuple)):
            strings = list(message.string) if isinstance(message.string, (list, tuple)) else [message.string]
            entries.append(Entry(message, message.context, message.id[0], message.id[1], strings))
        else:
            entries.append(Entry(message, message.context, message.id, None, [message.string or ""]))
    return catalog, entries


CATALOG, ENTRIES = _entries()


def _each_string():
    for entry in ENTRIES:
        for text in entry.strings:
            yield entry, text or ""


def _report(problems: list[str]) -> str:
    return f"{len(problems)} message(s):\n" + "\n".join(problems)


def test_every_message_is_translated_and_not_fuzzy():
    problems = [entry.name + (": fuzzy" if entry.message.fuzzy else ": empty msgstr") for entry in ENTRIES
                if entry.message.fuzzy or not all(entry.strings)]
    assert not problems, _report(problems)


def test_plural_messages_have_the_one_japanese_form():
    assert CATALOG.num_plurals == 1, f"Plural-Forms must give Japanese one form, not {CATALOG.num_plurals}"
    problems = [f"{entry.name}: {len(entry.strings)} plural forms" for entry in ENTRIES
                if entry.plural is not None and len(entry.strings) != 1]
    assert not problems, _report(problems)


@pytest.mark.parametrize("pattern, where, reason", [row[1:] for row in FORBIDDEN], ids=[row[0] for row in FORBIDDEN])
def test_forbidden_wording(pattern, where, reason):
    problems = [f"{entry.name}: {reason} (msgstr {text!r})" for entry, text in _each_string()
                if re.search(pattern, text) and (where is None or re.search(where, entry.msgid)
                                                 or (entry.plural and re.search(where, entry.plural)))]
    assert not problems, _report(problems)


def _taken_over(entry: Entry) -> bool:
    """A row for this message's own msgctxt decides it, not the rows for any context."""
    return entry.context is not None and any(row_context == entry.context and re.search(where, entry.msgid)
                                             for where, row_context, _required, _reason in REQUIRED)


@pytest.mark.parametrize("where, wanted_context, required, reason", REQUIRED,
                         ids=[f"{row[0]}-{row[1]}" for row in REQUIRED])
def test_required_glossary_term(where, wanted_context, required, reason):
    problems = [f"{entry.name}: {reason} (msgstr {text!r})" for entry, text in _each_string()
                if re.search(where, entry.msgid) and required not in text
                and (entry.context == wanted_context if wanted_context is not None else not _taken_over(entry))]
    assert not problems, _report(problems)


def test_busy_labels_end_in_chu_and_stay_short():
    problems = []
    for entry, text in _each_string():
        if not BUSY_LABEL.match(entry.msgid):
            continue
        if not text.endswith("中…"):
            problems.append(f"{entry.name}: a busy label takes the form 「〜中…」 (msgstr {text!r})")
        idle = CATALOG.get(BUSY_LABELS.get(entry.msgid, ""))
        if idle is not None and idle.string and len(text) - len("中…") > len(idle.string):
            problems.append(f"{entry.name}: {text!r} is longer than its button {idle.string!r} plus 「中…」")
    assert not problems, _report(problems)


def test_busy_label_table_matches_the_catalogue():
    """The labels named in BUSY_LABELS exist; a renamed one would silently skip its length check."""
    missing = [msgid for pair in BUSY_LABELS.items() for msgid in pair if CATALOG.get(msgid) is None]
    assert not missing, f"BUSY_LABELS names msgids the catalogue lacks: {missing}"


def test_placeholders_are_kept_exactly():
    problems = []
    for entry, text in _each_string():
        source = entry.plural if entry.plural is not None else entry.msgid
        checks = [("brace fields", BRACES)]
        if "%" in source or "%(" in text:
            checks.append(("placeholders", PLACEHOLDER))
        for name, pattern in checks:
            expected, found = Counter(pattern.findall(source)), Counter(pattern.findall(text))
            if expected != found:
                problems.append(f"{entry.name}: {name} {sorted(expected.elements())} became "
                                f"{sorted(found.elements())} (msgstr {text!r})")
    assert not problems, _report(problems)


def test_counts_put_the_noun_first_with_its_counter():
    problems = []
    for entry, text in _each_string():
        if COUNT_FIRST.match(text) and not text.endswith("。"):
            problems.append(f"{entry.name}: a count is noun + number + counter (「モデル 14 件」), "
                            f"not number first (msgstr {text!r})")
        for placeholder, noun in COUNT_NOUN.findall(entry.plural or entry.msgid):
            counter = COUNTERS[noun.lower()]
            if f"{placeholder} {counter}" not in text:
                problems.append(f"{entry.name}: {noun} counts as 「{placeholder} {counter}」 (msgstr {text!r})")
    assert not problems, _report(problems)


def test_half_width_space_between_japanese_and_latin():
    problems = [f"{entry.name}: no space at {match.group()!r} (msgstr {text!r})" for entry, text in _each_string()
                for match in [NO_SPACE.search(text)] if match]
    assert not problems, _report(problems)


def test_japanese_text_uses_full_width_brackets():
    problems = [f"{entry.name}: Japanese in ASCII parentheses {group!r}; use （） (msgstr {text!r})"
                for entry, text in _each_string() for group in re.findall(r"\([^()]*\)", PLACEHOLDER.sub("", text))
                if re.search(JAPANESE, group)]
    assert not problems, _report(problems)


def test_labels_have_no_full_stop():
    """A msgid without end punctuation is a button, header, badge or label: its msgstr has no 「。」 at the end."""
    problems = [f"{entry.name}: a label ends without 「。」 (msgstr {text!r})" for entry, text in _each_string()
                if not re.search(r"[.?!:…)]\s*$", entry.msgid) and text.endswith("。")]
    assert not problems, _report(problems)


def test_sentences_are_polite():
    problems = [f"{entry.name}: sentences use です・ます (msgstr {text!r})" for entry, text in _each_string()
                if PLAIN_SENTENCE_END.search(text)]
    assert not problems, _report(problems)


def test_confirmations_ask_shimasuka():
    problems = [f"{entry.name}: a confirmation ends in 「〜しますか？」 (msgstr {text!r})"
                for entry, text in _each_string() if entry.msgid.endswith("?") and not text.endswith("しますか？")]
    assert not problems, _report(problems)
