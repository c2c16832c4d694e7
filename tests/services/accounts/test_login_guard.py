"""The brute-force guard for logins (app/services/accounts/login_guard.py): a stranger's failures lock
the stranger, not the user."""

from __future__ import annotations

import pytest

from app.errors import ApiError
from app.services.accounts import login_guard
from tests.support.router_process import ADMIN_PASSWORD, ADMIN_USERNAME

STRANGER, ADMIN_DESK = "203.0.113.7", "198.51.100.2"


@pytest.fixture
def guard(app):
    """Lock after 3 failures, no slowdown before (so that the lock is what the tests see)."""
    app.config.update(LOGIN_LOCK_AFTER=3, LOGIN_SLOWDOWN_AFTER=100, LOGIN_LOCK_SECONDS=900)
    with app.app_context():
        yield


def refused(username: str, password: str, address: str) -> ApiError:
    with pytest.raises(ApiError) as caught:
        login_guard.authenticate(username, password, address)
    return caught.value


@pytest.mark.parametrize("address, counted_as", [
    ("203.0.113.7", "203.0.113.7"),
    ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
    ("2001:db8:1:2:ffff::1%eth0", "2001:db8:1:2::/64"),
    ("::ffff:203.0.113.7", "203.0.113.7"),
    ("not an address", "unknown"),
    (None, "unknown"),
])
def test_client_network(address, counted_as):
    assert login_guard.client_network(address) == counted_as


def test_guard_keys_are_pair_address_and_name():
    assert login_guard.guard_keys("Admin", "2001:db8::1") == \
        ["pair:2001:db8::/64 admin", "addr:2001:db8::/64", "user:admin"]


def test_failures_lock_that_name_from_that_address_only(guard):
    for _ in range(3):
        error = refused(ADMIN_USERNAME, "wrong password", STRANGER)
        assert (error.status, error.code) == (401, "invalid_credentials")
    locked = refused(ADMIN_USERNAME, ADMIN_PASSWORD, STRANGER)  # even the right password, from there
    assert (locked.status, locked.code) == (429, "too_many_login_attempts")
    assert 840 < int(locked.headers["Retry-After"]) <= 900 and "locked" in locked.message
    assert refused("someone-else", "whatever pass", STRANGER).status == 429  # the address is locked too
    assert login_guard.authenticate(ADMIN_USERNAME, ADMIN_PASSWORD, ADMIN_DESK).username == ADMIN_USERNAME


def test_a_success_clears_the_counts(guard):
    for _ in range(2):
        refused(ADMIN_USERNAME, "wrong password", STRANGER)
    login_guard.authenticate(ADMIN_USERNAME, ADMIN_PASSWORD, STRANGER)
    for _ in range(2):  # two more do not lock: the count started over
        assert refused(ADMIN_USERNAME, "wrong password", STRANGER).status == 401
    assert login_guard.authenticate(ADMIN_USERNAME, ADMIN_PASSWORD, STRANGER).username == ADMIN_USERNAME


def test_slowdown_before_the_lock(app):
    """Past LOGIN_SLOWDOWN_AFTER failures each attempt waits 1 s, 2 s, 4 s ... (2 ** failures beyond)."""
    app.config.update(LOGIN_SLOWDOWN_AFTER=2, LOGIN_LOCK_AFTER=100)
    with app.app_context():
        for _ in range(2 + 5):
            login_guard.record_failure(login_guard.guard_keys(ADMIN_USERNAME, STRANGER))
        slowed = refused(ADMIN_USERNAME, ADMIN_PASSWORD, STRANGER)
        assert slowed.status == 429 and "wait" in slowed.message
        assert 16 < int(slowed.headers["Retry-After"]) <= 2 ** 5
        assert login_guard.authenticate(ADMIN_USERNAME, ADMIN_PASSWORD, ADMIN_DESK).username == ADMIN_USERNAME


def test_a_name_guessed_from_many_addresses_is_slowed_never_locked(guard):
    for index in range(3 + 1 + 5):  # one failure from each address: no address reaches its lock
        login_guard.record_failure(login_guard.guard_keys(ADMIN_USERNAME, f"192.0.2.{index}"))
    slowed = refused(ADMIN_USERNAME, ADMIN_PASSWORD, ADMIN_DESK)  # past LOGIN_LOCK_AFTER + 1 failures of the name
    assert slowed.status == 429 and "wait" in slowed.message
    assert 16 < int(slowed.headers["Retry-After"]) <= 2 ** 5
    assert refused("someone-else", "whatever pass", ADMIN_DESK).code == "invalid_credentials"  # not slowed
