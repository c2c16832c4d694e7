"""The Playground page: chat with a ready model from the browser.

The page itself is static: its script lists models with `GET /v1/models` and chats through
`POST /v1/chat/completions` with the browser's session (plus the CSRF header), so the Playground
exercises exactly the API that programs use. Parameters and conversations live in the browser's
localStorage only: nothing about them is stored on the router.
"""

from __future__ import annotations

from flask import render_template, url_for

from ..access import Access, access, current_principal
from . import bp


def storage_owner() -> str:
    """Whose conversations the browser shows: one localStorage namespace per user name, so people
    sharing a browser profile do not see each other's chats (with authentication off there is no one)."""
    user = current_principal().user
    return user.username if user is not None else ""


@bp.get("/playground")
@access(Access.USER)
def playground():
    # "/v1" as this router serves it (behind a proxy with a path prefix too); /v1/models is its one
    # route that always exists, the chat route is derived from it.
    api_base = url_for("api_v1.list_models").rsplit("/", 1)[0]
    return render_template("dashboard/playground.html", api_base=api_base, storage_owner=storage_owner(),
                           active_nav="playground")
