"""Byte sizes as people read them: the router's one formatter, for pages, API messages and logs.

Binary units throughout (KiB, MiB, GiB, TiB, PiB: powers of 1024), one decimal, digits in the page's
locale (Flask-Babel), so 4,683,073,248 bytes reads "4.4 GiB" in English and Japanese alike.
"""

from __future__ import annotations

import math
from typing import Literal

from flask_babel import format_decimal

UNITS = ("KiB", "MiB", "GiB", "TiB", "PiB")
Rounding = Literal["nearest", "up", "down"]


def format_bytes(value: int | float, *, unit: str | None = None, rounding: Rounding = "nearest") -> str:
    """"468.6 MiB", "1.0 GiB"; below 1 KiB "512 B". `unit` fixes the unit (so that two sizes in one sentence
    compare); `rounding` "up" keeps a need from looking smaller, "down" a capacity from looking larger."""
    size = float(value)
    if unit is None and abs(size) < 1024:
        return f"{format_decimal(int(size))} B"
    for name in UNITS:
        size /= 1024
        if name == unit or (unit is None and (abs(size) < 1024 or name == UNITS[-1])):
            break
    else:
        raise ValueError(f"unknown unit {unit!r}; one of {', '.join(UNITS)}")
    if rounding != "nearest":
        size = (math.ceil if rounding == "up" else math.floor)(size * 10) / 10
    return f"{format_decimal(size, format='#,##0.0')} {name}"
