"""The security tests talk to 127.0.0.0/8 (and ::1) only, and prove it: in this process, any
connection to another address fails the test before a packet leaves. A hostile address the router
must refuse (169.254.169.254, fe80::1, ...) is therefore refused by validation, never by a timeout.
The routers these tests start in other processes are covered by the same rule in their own code
paths: the tests give them nothing but loopback addresses to reach."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator

import pytest


class NonLoopbackConnection(AssertionError):
    """A test (or the code under test, in this process) tried to reach an address off this machine."""


def _check(family: int, address: object) -> None:
    if family not in (socket.AF_INET, socket.AF_INET6):
        return  # Unix sockets and the like stay on this machine
    host = address[0] if isinstance(address, tuple) else address
    try:
        loopback = ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise NonLoopbackConnection(f"connection to {host!r} attempted: tests reach 127.0.0.0/8 and ::1 only")


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex

    def connect(self: socket.socket, address: object) -> None:
        _check(self.family, address)
        return real_connect(self, address)

    def connect_ex(self: socket.socket, address: object) -> int:
        _check(self.family, address)
        return real_connect_ex(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    yield

