"""Brute-force guard for logins, built so that a stranger cannot lock the real user out.

Failures are counted three ways:
- per (user name, client address): after `LOGIN_SLOWDOWN_AFTER` failures in a row, each further
  attempt must wait a growing delay (1 s, 2 s, 4 s ... up to 60 s); after `LOGIN_LOCK_AFTER`, that
  name is locked *from that address* for `LOGIN_LOCK_SECONDS`. The same name from another address
  is not: ten wrong passwords for `admin` from a stranger lock the stranger, not the admin.
- per client address, whatever the name (one address trying many names): slowed down and locked the
  same way.
- per user name, whatever the address (a guesser spread over many addresses): slowed down only,
  never locked, and only past `LOGIN_LOCK_AFTER` failures, more than one address can make before its
  lock; the delay is the same 1 s ... 60 s. A name's count is forgotten `LOGIN_LOCK_SECONDS` after its
  last failure.

The client address is `request.remote_addr`, which `create_app` takes from `X-Forwarded-For` behind
`LLM_ROUTER_TRUSTED_PROXIES` proxies (ProxyFix) and from the socket otherwise. IPv6 clients count per
/64 network: one machine usually holds a whole /64 and could otherwise pick a fresh address per try.
The counters live in the database so every worker sees them. A refused attempt is answered at once
with 429 and Retry-After: no thread sleeps.
"""

from __future__ import annotations

import ipaddress
import logging
import math
from datetime import datetime, timedelta

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import delete

from ...errors import ApiError
from ...extensions import db
from .users import verify_password
from ...database import LoginFailures, User, as_utc, utcnow

log = logging.getLogger(__name__)
MAX_DELAY_SECONDS = 60
IPV6_PREFIX = 64


def client_network(address: str | None) -> str:
    """The address a client is counted by: an IPv4 address, or an IPv6 address's /64 network."""
    try:
        ip = ipaddress.ip_address((address or "").split("%")[0])
    except ValueError:
        return "unknown"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, IPV6_PREFIX), strict=False))
    return str(ip)


def guard_keys(username: str, address: str | None) -> list[str]:
    """The counters one login attempt touches: (name, address), address, name."""
    name, network = (username or "").lower()[:100], client_network(address)
    return [f"pair:{network} {name}", f"addr:{network}", f"user:{name}"]


def _per_name(key: str) -> bool:
    return key.startswith("user:")


def _wait_until(entry: LoginFailures) -> datetime | None:
    config = current_app.config
    if entry.locked_until is not None:
        return as_utc(entry.locked_until)
    # A name is slowed down only past what one address may try before its lock.
    free = config["LOGIN_LOCK_AFTER"] + 1 if _per_name(entry.key) else config["LOGIN_SLOWDOWN_AFTER"]
    beyond = entry.failures - free
    if beyond < 0:
        return None
    return as_utc(entry.last_failure_at) + timedelta(seconds=min(MAX_DELAY_SECONDS, 2 ** beyond))


def _forgotten(entry: LoginFailures, now: datetime) -> bool:
    """An expired lock starts the count over; so does a name's quiet spell (names never lock)."""
    if entry.locked_until is not None:
        return as_utc(entry.locked_until) <= now
    return _per_name(entry.key) and \
        as_utc(entry.last_failure_at) + timedelta(seconds=current_app.config["LOGIN_LOCK_SECONDS"]) <= now


def check_allowed(keys: list[str]) -> None:
    """429 with Retry-After when any counter says wait (the longest wait is the one told)."""
    now = utcnow()
    longest: tuple[datetime, LoginFailures] | None = None
    for key in keys:
        entry = db.session.get(LoginFailures, key)
        if entry is None or _forgotten(entry, now):
            continue
        until = _wait_until(entry)
        if until is not None and until > now and (longest is None or until > longest[0]):
            longest = (until, entry)
    if longest is None:
        return
    until, entry = longest
    seconds = max(1, math.ceil((until - now).total_seconds()))
    if entry.locked_until is not None:
        message = _("Too many failed logins: locked for %(minutes)d more minutes. Try again later or ask an "
                    "admin.", minutes=max(1, math.ceil(seconds / 60)))
    else:
        message = _("Too many failed logins: wait %(seconds)d seconds before trying again.", seconds=seconds)
    raise ApiError(429, "too_many_login_attempts", message, headers={"Retry-After": str(seconds)})


def record_failure(keys: list[str]) -> None:
    now = utcnow()
    config = current_app.config
    for key in keys:
        entry = db.session.get(LoginFailures, key)
        if entry is None or _forgotten(entry, now):
            entry = db.session.merge(LoginFailures(key=key, failures=0, last_failure_at=now, locked_until=None))
        entry.failures += 1
        entry.last_failure_at = now
        if not _per_name(key) and entry.failures >= config["LOGIN_LOCK_AFTER"] and entry.locked_until is None:
            entry.locked_until = now + timedelta(seconds=config["LOGIN_LOCK_SECONDS"])
            log.warning("logins for %s locked for %d s after %d failures", key, config["LOGIN_LOCK_SECONDS"],
                        entry.failures)
    db.session.commit()


def record_success(keys: list[str]) -> None:
    db.session.execute(delete(LoginFailures).where(LoginFailures.key.in_(keys)))
    db.session.commit()


def authenticate(username: str, password: str, address: str | None) -> User:
    """The one login sequence (dashboard form and `POST /v0/auth/login`): refused with 429 while locked,
    401 for a wrong name or password (counted), the user otherwise (the counters cleared)."""
    keys = guard_keys(username, address)
    check_allowed(keys)
    user = verify_password(username, password)
    if user is None:
        record_failure(keys)
        raise ApiError(401, "invalid_credentials", _("Wrong user name or password."))
    record_success(keys)
    return user
