"""The guard in conftest.py: these tests can reach nothing but this machine."""

from __future__ import annotations

import socket

import pytest
import requests


@pytest.mark.parametrize("family, address", [
    (socket.AF_INET, ("169.254.169.254", 80)),  # the cloud metadata service
    (socket.AF_INET, ("10.0.0.1", 80)),
    (socket.AF_INET6, ("fe80::1", 80, 0, 0)),
])
def test_other_addresses_are_refused_before_connecting(family, address):
    with socket.socket(family, socket.SOCK_STREAM) as sock, pytest.raises(AssertionError, match="127.0.0.0/8"):
        sock.connect(address)


def test_http_clients_go_through_the_guard():
    with pytest.raises(AssertionError, match="127.0.0.0/8"):
        requests.get("http://169.254.169.254/latest/meta-data/", timeout=1)


def test_loopback_still_works(hub):
    assert requests.get(f"{hub.url}/api/models/acme/Tiny-Chat-GGUF", timeout=5).status_code == 200
