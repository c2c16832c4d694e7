"""Hugging Face statistics (downloads, likes, real file sizes) for the Model Hub.

The Hub list must never wait on the Hub (NFR-1, NFR-2): readers only look at the in-memory
snapshot kept here, and `refresh` fills it from a background job. Responses go through a
requests-cache SQLite cache in `instance/` with a 10-minute TTL; when the Hub fails, the last
cached answer is used (`stale_if_error`), so statistics survive a restart with the Hub down.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import quote

import requests
import requests_cache
from filelock import FileLock

from .hub_inspect import hub_count, hub_size
from .paths import is_safe_relative_path

log = logging.getLogger(__name__)

_MAX_PARALLEL_FETCHES = 8


@dataclass(frozen=True)
class HubStats:
    downloads: int
    likes: int
    fetched_at: datetime
    file_sizes: dict[str, int]

    def to_info(self) -> dict:
        """The `hf_info` object of the Hub list."""
        return {"downloads": self.downloads, "likes": self.likes,
                "fetched_at": self.fetched_at.isoformat(timespec="seconds")}


class HubStatsCache:
    """Latest known statistics per repo; reads are lock-free dictionary look-ups."""

    def __init__(self, endpoint: str, cache_path: str, ttl_seconds: int, timeout_seconds: float,
                 token: str | None = None) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.timeout = timeout_seconds
        self._token = token
        self._stats: dict[str, HubStats] = {}
        self._refresh_lock = threading.Lock()
        # Every gunicorn worker opens this file as it boots. Creating it and switching it to WAL take
        # an exclusive lock that SQLite refuses at once ('database is locked') rather than wait for,
        # so the workers take turns.
        with FileLock(f"{cache_path}.open.lock"):
            self._session = requests_cache.CachedSession(
                cache_path, backend="sqlite", expire_after=ttl_seconds, stale_if_error=True,
                allowable_codes=(200,), allowable_methods=("GET",),
                wal=True,  # every worker refreshes through this file: readers must not wait for a writer
            )

    def get(self, repo: str) -> HubStats | None:
        return self._stats.get(repo)

    def refresh(self, repos: Iterable[str]) -> int:
        """Fetch statistics for `repos` (cached ones cost nothing); returns how many are known.

        Runs in the scheduler's thread. A refresh already under way makes a second one a no-op,
        so a hanging Hub never piles up threads.
        """
        if not self._refresh_lock.acquire(blocking=False):
            return len(self._stats)
        try:
            unique = list(dict.fromkeys(repos))
            failures = []
            with ThreadPoolExecutor(max_workers=_MAX_PARALLEL_FETCHES, thread_name_prefix="hf-stats") as pool:
                for repo, (stats, problem) in zip(unique, pool.map(self._fetch_one, unique)):
                    if stats is not None:
                        self._stats[repo] = stats
                    else:
                        failures.append(f"{repo}: {problem}")
            if failures:  # one line, not one per repo: a Hub outage is one event
                log.warning("Hugging Face statistics unavailable for %d of %d repos at %s (first: %s); the Model Hub "
                            "shows the last known figures", len(failures), len(unique), self.endpoint, failures[0])
            return len(self._stats)
        finally:
            self._refresh_lock.release()

    def _fetch_one(self, repo: str) -> tuple[HubStats | None, str | None]:
        """`_fetch`, with any surprise in one repo's answer kept to that repo: it never ends the refresh."""
        try:
            return self._fetch(repo)
        except Exception as exc:  # noqa: BLE001 - reported in the refresh's warning line
            return None, f"unexpected answer ({type(exc).__name__})"

    def _fetch(self, repo: str) -> tuple[HubStats | None, str | None]:
        url = f"{self.endpoint}/api/models/{quote(repo, safe='/')}"
        headers = {"Authorization": f"Bearer {self._token}"} if self._token else {}
        try:
            response = self._session.get(url, params={"blobs": "true"}, headers=headers,
                                         timeout=(self.timeout, self.timeout))
        except requests.RequestException as exc:
            return None, type(exc).__name__
        if response.status_code != 200:
            return None, f"HTTP {response.status_code}"
        try:
            data = response.json()
            fetched_at = getattr(response, "created_at", None) or datetime.now(timezone.utc)
            if fetched_at.tzinfo is None:
                fetched_at = fetched_at.replace(tzinfo=timezone.utc)
            siblings = data.get("siblings") or []
            if not isinstance(siblings, list):
                return None, "unexpected answer (siblings is not a list)"
            # Only sizes the router can store, of names that can be paths; others are left unknown.
            sizes = {item["rfilename"]: item["size"] for item in siblings
                     if isinstance(item, dict) and isinstance(item.get("rfilename"), str)
                     and is_safe_relative_path(item["rfilename"]) and hub_size(item.get("size")) is not None}
            downloads, likes = hub_count(data.get("downloads") or 0), hub_count(data.get("likes") or 0)
            if downloads is None or likes is None:  # e.g. `Infinity`: this repo's figures stay unknown
                return None, "unexpected answer (downloads or likes is not a count)"
            return HubStats(downloads=downloads, likes=likes, fetched_at=fetched_at, file_sizes=sizes), None
        except (ValueError, TypeError, AttributeError, KeyError, OverflowError) as exc:
            return None, f"unexpected answer ({type(exc).__name__})"

    def close(self) -> None:
        self._session.close()
