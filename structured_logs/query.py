"""Queries over a log's files: validate (`parse_query`), then run (`run_query`), newest line first.

A query (JSON, or the node's query-string parameters decoded to the same dict)::

    {"level": "warning",                      minimum level: debug | info | warning | error
     "since": "2026-12-03T09:00:00Z",         ISO 8601, inclusive (no zone: UTC)
     "until": "2026-12-03T10:00:00Z",         ISO 8601, exclusive
     "match": "all",                          all: every condition holds (AND); any: one does (OR)
     "conditions": [{"field": "message",      message | logger | any (message, logger or request id)
                     "op": "regex",           contains | not_contains | regex | not_regex
                     "value": "timed? out"}],
     "limit": 200,                            1 to 1000
     "cursor": "..."}                         the previous page's next_cursor

`contains` ignores case; a regular expression is RE2's syntax (add `(?i)` to ignore case) and runs in
time linear in the text, so no pattern can hang a worker (`(a+)+$` answers as fast as any other). An
invalid one raises `QueryError` naming `conditions[i].value`, with RE2's reason and the position.

How it stays fast on a million lines (bench/log_query.py): the files are read backwards in 1 MiB blocks.
With `match: all`, a block is first judged whole: it is skipped when it lacks a `contains` condition's
text (ASCII, lower case) anywhere, or when a regex condition finds no match in it (the block with its
quoted quotes unescaped; a message regex anchored with ^ or $ is tied to the message's place in the raw
line). Otherwise, line by line: `at` and `level` sit at fixed offsets (see `records`), so time and level
cost no parsing; the fields are cut out on their quotes rather than parsed as JSON; and each condition
on the message runs once over all of the block's candidate messages joined by newlines (RE2's never_nl
keeps a match inside one message). Only the lines returned are parsed as JSON.

The cursor: the identity of the file (device and inode) and the byte offset of the oldest line returned.
Rotation renames files and never rewrites them, so a file keeps its inode and every offset in it stays
valid while it moves from `router.log` to `router.log.1` and on; appends only add bytes after the offset.
The next page continues in that file before that offset, then in the files older than it. A cursor whose
file has been deleted (rotated out) ends the listing: those lines no longer exist. Choosing the time of the
line instead would skip or repeat lines logged in the same millisecond by several processes.

Each call scans for at most `budget` seconds: a page may then hold fewer than `limit` lines while
`next_cursor` is not null (keep asking); `next_cursor` is null only when no older line can match. With
`since`, the scan stops at the first line more than a minute older than `since` (processes may write
lines slightly out of time order, never by that much).
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import time
from bisect import bisect_right
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from itertools import accumulate
from typing import Any

import re2

from .files import log_files
from .records import LEVELS

__all__ = ["Condition", "Cursor", "Page", "Query", "QueryError", "parse_query", "run_query"]

MAX_LIMIT = 1000
DEFAULT_LIMIT = 200
MAX_CONDITIONS = 20
MAX_VALUE_CHARS = 1000
QUERY_LEVELS = ("debug", "info", "warning", "error")
FIELDS = ("message", "logger", "any")
OPS = ("contains", "not_contains", "regex", "not_regex")
BLOCK_BYTES = 1 << 20
SCAN_SECONDS = 5.0
SINCE_MARGIN = timedelta(seconds=60)

_HEAD = b'{"at":"'
_LEVEL_KEY = b'","level":"'
_AT_END = len(_HEAD) + len("2026-12-03T09:30:00.123Z")
_LEVEL_AT = _AT_END + len(_LEVEL_KEY)
_RANK_BY_INITIAL = {name.encode()[0]: rank for name, rank in LEVELS.items()}


class QueryError(ValueError):
    """A query that cannot run. `param` names the part (`conditions[1].value`), `reason` is a code the
    caller can turn into its own sentence (with `details`), `message` an English sentence."""

    def __init__(self, param: str | None, reason: str, message: str, **details: Any) -> None:
        super().__init__(message)
        self.param = param
        self.reason = reason
        self.message = message
        self.details = details


@dataclass(frozen=True)
class Cursor:
    device: int
    inode: int
    offset: int

    def encode(self) -> str:
        raw = json.dumps([self.device, self.inode, self.offset], separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> "Cursor":
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            device, inode, offset = json.loads(raw)
        except (ValueError, TypeError, binascii.Error):
            raise QueryError("cursor", "cursor", "'cursor' is not a cursor this log gave out.") from None
        if not all(isinstance(value, int) and not isinstance(value, bool) and value >= 0
                   for value in (device, inode, offset)):
            raise QueryError("cursor", "cursor", "'cursor' is not a cursor this log gave out.")
        return cls(device, inode, offset)


@dataclass(frozen=True)
class Condition:
    field: str
    op: str
    value: str
    test: Callable[[bytes], bool] = field(repr=False, compare=False)
    # The same test over many messages at once: the indices of those that hold a match, or None when that
    # is not cheaper (too many matches); see `_batch`.
    batch: Callable[[list[bytes]], set[int] | None] | None = field(default=None, repr=False, compare=False)
    # For a regex: whether a whole block (quoted quotes unescaped) holds a match anywhere, which every line the
    # regex matches needs: see `_Scan._may_match`.
    anywhere: Callable[[bytes], bool] | None = field(default=None, repr=False, compare=False)

    @property
    def negated(self) -> bool:
        return self.op.startswith("not_")

    @property
    def needle(self) -> bytes | None:
        """For a `contains`: the text (ASCII lower case) that a line's raw bytes must hold, when that can be
        told from the raw line (no character that JSON escapes, ASCII only); else None."""
        if self.op != "contains" or not self.value.isascii() or not self.value.isprintable():
            return None
        if '"' in self.value or "\\" in self.value:
            return None
        return self.value.lower().encode()


@dataclass(frozen=True)
class Query:
    min_rank: int = LEVELS["debug"]
    since: datetime | None = None
    until: datetime | None = None
    match_any: bool = False
    conditions: tuple[Condition, ...] = ()
    limit: int = DEFAULT_LIMIT
    cursor: Cursor | None = None
    normalized: dict[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class Page:
    lines: list[dict[str, Any]]
    next_cursor: str | None

    def as_dict(self) -> dict[str, Any]:
        return {"lines": self.lines, "next_cursor": self.next_cursor}


# -- validation -----------------------------------------------------------------------------------


def _moment(body: Mapping[str, Any], name: str) -> datetime | None:
    value = body.get(name)
    if value is None or value == "":
        return None
    try:
        if not isinstance(value, str):
            raise ValueError
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise QueryError(name, "time", f"'{name}' must be a time in ISO 8601, such as 2026-12-03T09:30:00Z.",
                         name=name) from None
    return moment.astimezone(timezone.utc) if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _batch(search: Callable[[bytes, int], Any]) -> Callable[[list[bytes]], set[int] | None]:
    """A test of many messages (none holding a newline) by one search over them joined by newlines, resumed
    after each hit at the next message. Worth it while hits are few: each resumed search costs several
    times a search of one message, so past a sixteenth of the messages it gives up (None)."""
    def batch(messages: list[bytes]) -> set[int] | None:
        joined = b"\n".join(messages)
        starts = list(accumulate((len(message) + 1 for message in messages), initial=0))
        give_up = max(32, len(messages) // 16)
        hits: set[int] = set()
        pos, end = 0, len(joined)
        while pos <= end:
            found = search(joined, pos)
            if found is None:
                break
            index = bisect_right(starts, found.start()) - 1
            hits.add(index)
            if len(hits) > give_up:
                return None
            pos = starts[index + 1]
        return hits
    return batch


def _contains_search(needle: bytes) -> Callable[[bytes, int], Any]:
    """`search(text, pos)` for an ASCII text, ignoring case, shaped like a regular expression's."""
    class Found:
        def __init__(self, start: int) -> None:
            self._start = start

        def start(self) -> int:
            return self._start

    last: list[bytes] = [b"", b""]  # the text last searched (held, so that it is never another's), lowered

    def search(text: bytes, pos: int) -> Found | None:
        if last[0] is not text:
            last[:] = [text, text.lower()]
        at = last[1].find(needle, pos)
        return None if at < 0 else Found(at)
    return search


# Patterns that cannot run over joined messages: anchors to the whole text, or a flag group turning
# multi-line mode off. (Conservative: an escaped backslash before A or z also counts.)
_WHOLE_TEXT_ONLY = re.compile(r"\\[Az]|\(\?[A-Za-z]*-[A-Za-z]*m")


_ANCHORS = re.compile(r"(?<!\[)\^|\$|\\[Az]")


# Where each field's text begins and ends in a raw line (see records): a key is unique in a line, since a
# quote inside a string is escaped.
_BOUNDS = {"message": ('"message":"', '"}$'), "logger": ('"logger":"', '","request_id":'),
           "request_id": ('"request_id":"', '","message":')}


def _alternates_at_top(pattern: str) -> bool:
    """Whether `pattern` has a | outside any group (then an anchor binds only one alternative)."""
    depth, in_class, escaped, class_start = 0, False, False, False
    for char in pattern:
        opening, class_start = class_start, False
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif in_class:
            if opening and char == "^":
                class_start = True  # "[^]" still opens: a "]" right after it is a member
            elif char == "]" and not opening:
                in_class = False
        elif char == "[":
            in_class = class_start = True
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "|" and depth == 0:
            return True
    return False


def _anywhere_pattern(pattern: str, field_name: str, matches_empty: bool) -> str | None:
    """The regex that a whole block must match for some line's `field_name` to match `pattern`, or None
    when that cannot be told cheaply. Without anchors, the pattern itself (a match in a field is a match in
    its line). A regex starting with ^ or ending with $ (and without a | outside groups, so that the anchor
    binds everything) is tied to the field's place in the raw line (`_BOUNDS`): `"message":"` before the
    message and `"}` after it, and so on; for `any`, to any of the three fields."""
    if not _ANCHORS.search(pattern):
        return pattern
    if _alternates_at_top(pattern):
        return None
    body, starts, ends = pattern, pattern.startswith("^"), pattern.endswith("$")
    body = body[1 if starts else 0:len(body) - 1 if ends else len(body)]
    if _ANCHORS.search(body):
        return None
    fields = ("message", "logger", "request_id") if field_name == "any" else (field_name,)
    alternatives = [f"{_BOUNDS[name][0] if starts else ''}(?:{body}){_BOUNDS[name][1] if ends else ''}"
                    for name in fields]
    if field_name == "any" and matches_empty:  # a line without a request id has "" there
        alternatives.append('"request_id":null')
    return "|".join(alternatives)


def _regex(pattern: str, param: str, field_name: str) -> tuple[Callable[[bytes], bool], Callable[[list[bytes]], set[int] | None] | None,
                                              Callable[[bytes], bool] | None]:
    options = re2.Options()
    options.log_errors = False  # the reason goes to the client, not to stderr
    encoded = pattern.encode("utf-8", "surrogatepass")
    try:
        compiled = re2.compile(encoded, options)
    except re2.error as exc:
        text = exc.args[0] if exc.args else b""
        text = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
        # RE2 says "<problem>: <the pattern from where it went wrong>"; for an unclosed group, the whole
        # pattern, so the place to point at is its end.
        problem, _sep, fragment = text.partition(": ")
        found = pattern.find(fragment) if fragment and problem != "missing )" else -1
        position = (found if found >= 0 else len(pattern)) + 1
        raise QueryError(param, "regex", f"The regular expression is not valid at character {position}: "
                                         f"{problem}.", position=position, problem=problem) from None
    search = compiled.search
    batch = None
    if not _WHOLE_TEXT_ONLY.search(pattern):
        # Over joined messages: ^ and $ at each message's bounds, and no match across a newline.
        joined_options = re2.Options()
        joined_options.log_errors = False
        joined_options.never_nl = True
        batch = _batch(re2.compile(b"(?m)" + encoded, joined_options).search)
        in_block = _anywhere_pattern(pattern, field_name, compiled.search(b"") is not None)
        if in_block is not None:
            anywhere = re2.compile(b"(?m)" + in_block.encode("utf-8", "surrogatepass"), joined_options).search
            return (lambda text: search(text) is not None), batch, (lambda block: anywhere(block) is not None)
    return (lambda text: search(text) is not None), batch, None


def _contains(value: str) -> tuple[Callable[[bytes], bool], Callable[[list[bytes]], set[int] | None] | None, None]:
    if value.isascii():
        needle = value.lower().encode()
        return (lambda text: needle in text.lower()), _batch(_contains_search(needle)), None
    folded = value.lower()
    return (lambda text: folded in text.decode("utf-8", "replace").lower()), None, None


def _condition(item: Any, index: int) -> Condition:
    where = f"conditions[{index}]"
    if not isinstance(item, Mapping):
        raise QueryError(where, "condition", "Each condition must be an object with field, op and value.",
                         index=index)
    unknown = sorted(set(item) - {"field", "op", "value"})
    if unknown:
        raise QueryError(f"{where}.{unknown[0]}", "unknown", f"Unknown field '{unknown[0]}'.", name=unknown[0])
    name = item.get("field", "message")
    if name not in FIELDS:
        raise QueryError(f"{where}.field", "field", "'field' must be message, logger or any.")
    op = item.get("op", "contains")
    if op not in OPS:
        raise QueryError(f"{where}.op", "op", "'op' must be contains, not_contains, regex or not_regex.")
    value = item.get("value")
    if not isinstance(value, str) or not 0 < len(value) <= MAX_VALUE_CHARS:
        raise QueryError(f"{where}.value", "value", f"'value' must be text of 1 to {MAX_VALUE_CHARS} characters.",
                         limit=MAX_VALUE_CHARS)
    test, batch, anywhere = _regex(value, f"{where}.value", name) if op.endswith("regex") else _contains(value)
    return Condition(name, op, value, test, batch, anywhere)


def _limit(value: Any) -> int:
    if value is None:
        return DEFAULT_LIMIT
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_LIMIT:
        raise QueryError("limit", "limit", f"'limit' must be a whole number from 1 to {MAX_LIMIT}.", limit=MAX_LIMIT)
    return value


def parse_query(body: Any, allowed_extra: tuple[str, ...] = ()) -> Query:
    """A validated `Query`; raises `QueryError` for the first problem. Keys in `allowed_extra` (the
    router's `source`) are the caller's business and ignored here; any other unknown key is an error."""
    if not isinstance(body, Mapping):
        raise QueryError(None, "not_object", "The query must be a JSON object.")
    known = {"level", "since", "until", "match", "conditions", "limit", "cursor", *allowed_extra}
    unknown = sorted(set(body) - known)
    if unknown:
        raise QueryError(unknown[0], "unknown", f"Unknown field '{unknown[0]}'.", name=unknown[0])
    level = body.get("level") or "debug"
    if level not in QUERY_LEVELS:
        raise QueryError("level", "level", "'level' must be one of debug, info, warning, error.")
    match = body.get("match") or "all"
    if match not in ("all", "any"):
        raise QueryError("match", "match", "'match' must be all or any.")
    items = body.get("conditions")
    items = [] if items is None else items
    if not isinstance(items, list) or len(items) > MAX_CONDITIONS:
        raise QueryError("conditions", "conditions", f"'conditions' must be a list of at most {MAX_CONDITIONS} "
                         "conditions.", limit=MAX_CONDITIONS)
    conditions = tuple(_condition(item, index) for index, item in enumerate(items))
    since, until = _moment(body, "since"), _moment(body, "until")
    limit = _limit(body.get("limit"))
    cursor_text = body.get("cursor")
    if cursor_text is not None and not isinstance(cursor_text, str):
        raise QueryError("cursor", "cursor", "'cursor' is not a cursor this log gave out.")
    cursor = Cursor.decode(cursor_text) if cursor_text else None
    normalized = {"level": level, "since": since.isoformat().replace("+00:00", "Z") if since else None,
                  "until": until.isoformat().replace("+00:00", "Z") if until else None, "match": match,
                  "conditions": [{"field": c.field, "op": c.op, "value": c.value} for c in conditions],
                  "limit": limit}
    return Query(LEVELS[level], since, until, match == "any", conditions, limit, cursor, normalized)


# -- running --------------------------------------------------------------------------------------


def _at_bytes(moment: datetime) -> bytes:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.").encode() + \
        f"{moment.microsecond // 1000:03d}Z".encode()


_MESSAGE_KEY = b'"message":"'  # its first occurrence is the key: inside a string, a quote is escaped


def _unescape(text: bytes) -> bytes:
    """A JSON string's content (without its quotes) as the bytes of its text."""
    escapes = text.count(b"\\")
    if escapes == text.count(b'\\"'):  # only quoted quotes (common: access lines)
        return text.replace(b'\\"', b'"')
    try:
        return json.loads(b'"' + text + b'"').encode("utf-8", "replace")
    except ValueError:
        return text


def _message(line: bytes) -> bytes | None:
    """The message of a line in the written layout (None otherwise), without parsing the rest."""
    key = line.find(_MESSAGE_KEY)
    if key < 0 or not line.endswith(b'"}'):
        return None
    message = line[key + len(_MESSAGE_KEY):-2]
    return _unescape(message) if b"\\" in message else message


def _fields(line: bytes) -> tuple[bytes, bytes, bytes, bytes, int] | None:
    """(at, logger, request id, message, rank) of a line; None for a line that is not a record."""
    key = line.find(_MESSAGE_KEY)
    if key > 0 and line.endswith(b'"}') and b"\\" not in line[:key]:
        parts = line[:key].split(b'"')  # at, level, logger, request id: no escapes, so quotes bound them
        if len(parts) == 15 and parts[14] == b":null,":
            request_id = b""
        elif len(parts) == 17 and parts[16] == b",":
            request_id = parts[15]
        else:
            parts = []
        if parts and parts[5] == b"level" and parts[9] == b"logger" and parts[13] == b"request_id":
            message = line[key + len(_MESSAGE_KEY):-2]
            if b"\\" in message:
                message = _unescape(message)
            return parts[3], parts[11], request_id, message, LEVELS.get(parts[7].decode(), 0)
    try:
        record = json.loads(line)
        at, logger, message = record["at"], record["logger"], record["message"]
        request_id, level = record.get("request_id") or "", record["level"]
        return (at.encode(), logger.encode("utf-8", "replace"), str(request_id).encode(),
                message.encode("utf-8", "replace"), LEVELS.get(level, 0))
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def _shape(line: bytes) -> dict[str, Any] | None:
    try:
        record = json.loads(line)
        return {"at": record["at"], "level": record["level"], "logger": record["logger"],
                "message": record["message"], "request_id": record.get("request_id")}
    except (ValueError, KeyError, TypeError):
        return None


class _Scan:
    """One run of a query: the state shared by the loops over files and blocks."""

    def __init__(self, query: Query, budget: float) -> None:
        self.query = query
        self.deadline = time.monotonic() + budget
        self.found: list[bytes] = []
        self.until = _at_bytes(query.until) if query.until else None
        self.since = _at_bytes(query.since) if query.since else None
        self.give_up = _at_bytes(query.since - SINCE_MARGIN) if query.since else None
        self.required = [c.needle for c in query.conditions if not query.match_any and c.needle]
        self.anywhere = [c.anywhere for c in query.conditions
                         if not query.match_any and not c.negated and c.anywhere is not None]
        # Per condition: indices into (message, logger, request id), negated, the test of one value, and for
        # a condition on the message, the test of a block's messages at once (see Condition.batch).
        self.checks = [((0, 1, 2) if c.field == "any" else (0,) if c.field == "message" else (1,), c.negated, c.test,
                        c.batch if c.field == "message" else None) for c in query.conditions]

    def _matching(self, candidates: list[tuple[int, bytes, tuple]]) -> list[tuple[int, bytes]]:
        """The candidates (newest first) that the conditions accept. Conditions on the message are run over
        all the block's messages joined by newlines, once (a message holding a newline is tested alone)."""
        messages = [fields[3] for _pos, _line, fields in candidates]
        alone = {index for index, message in enumerate(messages) if b"\n" in message}
        if any(batch for *_rest, batch in self.checks):
            joined = [b"" if index in alone else message for index, message in enumerate(messages)] if alone \
                else messages
            hits = [batch(joined) if batch else None for *_rest, batch in self.checks]
        else:
            hits = [None] * len(self.checks)
        match_any = self.query.match_any
        accepted = []
        for index, (pos, line, fields) in enumerate(candidates):
            values = (fields[3], fields[1], fields[2])
            verdict = not match_any
            for (indices, negated, test, _batch), hit_set in zip(self.checks, hits):
                if hit_set is not None and index not in alone:
                    hit = index in hit_set
                else:
                    hit = any(test(values[which]) for which in indices)
                if hit != negated:
                    if match_any:
                        verdict = True
                        break
                elif not match_any:
                    verdict = False
                    break
            if verdict:
                accepted.append((pos, line))
        return accepted

    def _may_match(self, data: bytes) -> bool:
        """False when no line of the block can match (conditions that must all hold, and that need a text
        somewhere in the line). A block with escapes other than quoted quotes is read line by line."""
        if self.required:
            lowered = data.lower()
            if not all(needle in lowered for needle in self.required):
                return False
        if self.anywhere:
            text = data.replace(b'\\"', b'"')
            if b"\\" in text:  # other escapes: the block's text is not the messages' text
                return True
            return all(anywhere(text) for anywhere in self.anywhere)
        return True

    def _keep(self, pos: int, line: bytes) -> bool:
        """Adds a match; True once the page is full."""
        self.found.append(line)
        return len(self.found) >= self.query.limit

    def file(self, handle: Any, end: int) -> tuple[str, int]:
        """Scan one file backwards from byte `end` (a line's start or the file's size). Returns
        ("full" | "budget", offset to resume at) or ("done" | "stop", 0)."""
        query, checks = self.query, self.checks
        message_only = all(condition.field == "message" for condition in query.conditions)
        min_rank, until, since, give_up = query.min_rank, self.until, self.since, self.give_up
        block = BLOCK_BYTES
        while end > 0:
            start = max(0, end - block)
            handle.seek(start)
            data = handle.read(end - start)
            if start > 0:
                cut = data.find(b"\n") + 1
                if cut in (0, len(data)):  # no whole line in the block: read a larger one
                    block *= 2
                    continue
                data, start = data[cut:], start + cut
            if not data.endswith(b"\n"):  # the file's last line is still being written: leave it
                cut = data.rfind(b"\n") + 1
                if cut == 0:
                    if start == 0:
                        return "done", 0
                    block *= 2
                    continue
                data, end = data[:cut], start + cut
            pos = end
            end = start
            if self.required or self.anywhere:
                if not self._may_match(data):
                    if time.monotonic() > self.deadline:
                        return "budget", start
                    continue
            candidates: list[tuple[int, bytes, tuple]] = []
            stop = False
            for line in reversed(data[:-1].split(b"\n")):
                pos -= len(line) + 1
                if line[:7] == _HEAD and line[_AT_END:_LEVEL_AT] == _LEVEL_KEY:
                    rank = _RANK_BY_INITIAL.get(line[_LEVEL_AT], 0) if len(line) > _LEVEL_AT else 0
                    at = line[7:_AT_END]
                    fields = None
                else:
                    fields = _fields(line)
                    if fields is None:
                        continue
                    at, rank = fields[0], fields[4]
                if give_up is not None and at < give_up:
                    stop = True
                    break
                if rank < min_rank or (until is not None and at >= until) or (since is not None and at < since):
                    continue
                if not checks:
                    if self._keep(pos, line):
                        return "full", pos
                    continue
                if fields is None:
                    if message_only:  # the message alone is needed: no need to split the rest
                        message = _message(line)
                        fields = (at, b"", b"", message, rank) if message is not None else _fields(line)
                    else:
                        fields = _fields(line)
                if fields is not None:
                    candidates.append((pos, line, fields))
            if candidates:
                for line_pos, line in self._matching(candidates):
                    if self._keep(line_pos, line):
                        return "full", line_pos
            if stop:
                return "stop", 0
            if time.monotonic() > self.deadline:
                return "budget", start
        return "done", 0


def run_query(path: str | os.PathLike[str], query: Query, budget: float = SCAN_SECONDS) -> Page:
    """The newest lines of the log at `path` (and its rotated files) that `query` matches."""
    handles = []
    try:
        for candidate in log_files(path):
            try:
                handles.append(open(candidate, "rb"))  # noqa: SIM115 - closed below
            except OSError:
                continue  # rotated away since the listing
        identities = [os.fstat(handle.fileno()) for handle in handles]
        first, end = 0, None
        if query.cursor is not None:
            cursor = query.cursor
            first = next((index for index, stat in enumerate(identities)
                          if (stat.st_dev, stat.st_ino) == (cursor.device, cursor.inode)
                          and stat.st_size >= cursor.offset), -1)
            if first < 0:
                return Page([], None)
            end = cursor.offset
        scan = _Scan(query, budget)
        next_cursor = None
        for index in range(first, len(handles)):
            start = end if index == first and end is not None else identities[index].st_size
            outcome, offset = scan.file(handles[index], start)
            if outcome in ("full", "budget"):
                last = offset == 0 and index == len(handles) - 1
                stat = identities[index]
                next_cursor = None if last else (
                    Cursor(stat.st_dev, stat.st_ino, offset).encode() if offset > 0 else
                    Cursor(identities[index + 1].st_dev, identities[index + 1].st_ino,
                           identities[index + 1].st_size).encode())
                break
            if outcome == "stop":
                break
    finally:
        for handle in handles:
            handle.close()
    lines = [shaped for shaped in map(_shape, scan.found) if shaped is not None]
    return Page(lines, next_cursor)

