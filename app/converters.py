"""URL converters: ids in paths stay within what the database can hold.

Flask's `int` converter takes any number of digits; an id such as 99999999999999999999 then reaches
SQLite, which cannot bind it (OverflowError, a 500). Here such an id is the client's mistake: 400.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from werkzeug.exceptions import BadRequest
from werkzeug.routing import IntegerConverter

MAX_ID = 2 ** 63 - 1  # SQLite's and PostgreSQL's BIGINT


class DatabaseId(IntegerConverter):
    """`<int:...>` for every route: 0 to 2**63 - 1; longer numbers are refused with 400."""

    def to_python(self, value: str) -> int:
        number = super().to_python(value)
        if number > MAX_ID:
            raise BadRequest(_l("An id is a whole number up to %(max)d.", max=MAX_ID))
        return number
