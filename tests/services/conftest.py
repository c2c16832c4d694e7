"""Fixtures of the service tests (pytest finds them; test modules never import this file)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.status_node import StatusNode


@pytest.fixture
def node_server() -> Iterator[StatusNode]:
    """A node's management side (`GET /v0/status`, `POST /v0/sync`) on 127.0.0.1."""
    server = StatusNode()
    yield server
    server.stop()
