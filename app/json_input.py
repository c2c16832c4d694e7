"""Reading JSON that a client wrote, for every API: what `json.loads` accepts but the router cannot use.

`json.loads` accepts two things that fail later, far from the request, as a 500:
- nesting deeper than the interpreter's stack (50,000 `[` raise RecursionError, not ValueError);
- lone surrogates (`"\\ud800"`): valid JSON escapes, but not text, so SQLite, the log and every
  UTF-8 encoder refuse them.
Both are refused here, at the door, as a client's mistake.
"""

from __future__ import annotations

import json
from typing import Any


class UnusableJson(ValueError):
    """The body is not JSON the router can use; `reason` is "invalid", "too_deep" or "not_text"."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def loads(data: bytes | str) -> Any:
    try:
        value = json.loads(data)
    except RecursionError:
        raise UnusableJson("too_deep") from None
    except ValueError:  # also UnicodeDecodeError: bytes that are not UTF-8
        raise UnusableJson("invalid") from None
    if has_lone_surrogate(value):
        raise UnusableJson("not_text")
    return value


def has_lone_surrogate(value: Any) -> bool:
    """Whether any string (key or value) holds a surrogate code point. Iterative: the parsed
    document may be as deep as the parser allowed."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if not item.isascii() and _is_not_text(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _is_not_text(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False
