"""Saved log filters: a user's named Logs page queries (`/v0/log-filters`).

Filters belong to users. A caller without one (an admin-scope API key, or a router with authentication
turned off) has no filters of its own: it lists none and cannot save one (403), but an admin key may
delete anyone's, as an admin user may. Viewers save and delete their own.

The stored query is the validated one, normalized (defaults filled in, no cursor), plus its `source`
when one was given, so that the Logs page can apply it as it is.
"""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ...access import Principal
from ...database import LogFilter, iso_utc
from ...errors import ApiError
from ...extensions import db
from .logs import source_of, validate

MAX_NAME_CHARS = 100
MAX_FILTERS_PER_USER = 200


def filter_record(item: LogFilter, owner: str) -> dict[str, Any]:
    return {"id": item.id, "name": item.name, "query": item.query, "created_at": iso_utc(item.created_at),
            "owner": owner}


def list_filters(principal: Principal) -> list[dict[str, Any]]:
    if principal.user is None:
        return []
    items = db.session.scalars(select(LogFilter).where(LogFilter.user_id == principal.user.id)
                               .order_by(LogFilter.name, LogFilter.id))
    return [filter_record(item, principal.user.username) for item in items]


def _name(value: Any) -> str:
    name = value.strip() if isinstance(value, str) else ""
    if not 0 < len(name) <= MAX_NAME_CHARS or not name.isprintable():
        raise ApiError(400, "invalid_name", _("'name' must be 1 to %(limit)d printable characters.",
                                              limit=MAX_NAME_CHARS), "name")
    return name


def _stored_query(value: Any) -> dict[str, Any]:
    if value is None:
        value = {}
    parsed = validate(value, "query.")
    stored = dict(parsed.normalized)
    if isinstance(value, dict) and "source" in value:
        stored["source"] = source_of(value)
    return stored


def _duplicate(name: str) -> ApiError:
    return ApiError(409, "duplicate_name", _("You already have a saved filter named %(name)s.", name=name), "name")


def create_filter(principal: Principal, body: dict[str, Any]) -> dict[str, Any]:
    user = principal.user
    if user is None:
        raise ApiError(403, "user_required", _("Saved filters belong to a user: sign in, or use a token from "
                                               "POST /v0/auth/login, to save one."))
    unknown = sorted(set(body) - {"name", "query"})
    if unknown:
        raise ApiError(400, "invalid_body", _("Unknown field '%(name)s'.", name=unknown[0]), unknown[0])
    name = _name(body.get("name"))
    query = _stored_query(body.get("query"))
    mine = select(LogFilter.name).where(LogFilter.user_id == user.id)
    names = set(db.session.scalars(mine))
    if name in names:
        raise _duplicate(name)
    if len(names) >= MAX_FILTERS_PER_USER:
        raise ApiError(400, "too_many_filters", _("You have %(limit)d saved filters, the most there may be; "
                                                  "delete one first.", limit=MAX_FILTERS_PER_USER))
    item = LogFilter(user_id=user.id, name=name, query=query)
    db.session.add(item)
    try:
        db.session.commit()
    except IntegrityError:  # the same name saved at the same moment
        db.session.rollback()
        raise _duplicate(name) from None
    return filter_record(item, user.username)


def delete_filter(principal: Principal, filter_id: int) -> None:
    item = db.session.get(LogFilter, filter_id)
    if item is None:
        raise ApiError(404, "filter_not_found", _("There is no saved filter with id %(id)s.", id=filter_id))
    mine = principal.user is not None and principal.user.id == item.user_id
    if not mine and not principal.is_admin:
        raise ApiError(403, "not_your_filter", _("Only its owner or an admin may delete this saved filter."))
    db.session.delete(item)
    db.session.commit()

