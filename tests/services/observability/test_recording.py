"""Naming a `/v1` request and handing it to the history (app/services/observability/recording.py)."""

from __future__ import annotations

import pytest
from flask import g

from app.services.observability import recording


@pytest.mark.parametrize(("given", "kept"), [("client-42", "client-42"), ("", None), ("x" * 129, None),
                                             ("tab\there", None), ("x" * 128, "x" * 128)])
def test_a_clients_own_request_id_is_kept_when_it_is_short_printable_text(app, given, kept):
    with app.test_request_context("/v1/models", headers={"X-Request-Id": given} if given else {}):
        recording.start()
        assert g.client_request_id == kept
        assert len(g.request_id) == 32 and g.request_id != given  # ours is always our own


def test_every_request_gets_a_different_id(app):
    ids = set()
    for _ in range(100):
        with app.test_request_context("/v1/models"):
            recording.start()
            ids.add(g.request_id)
    assert len(ids) == 100

