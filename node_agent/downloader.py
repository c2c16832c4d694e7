"""Resumable downloads of single files from the node's configured Hugging Face Hub endpoint.

Why not `huggingface_hub.hf_hub_download`: version 2.4.0 writes `<etag>.<random>.incomplete`
per process, so after the agent is killed the next run starts again from byte 0. Here every file
has one stable partial file; a restart sends `Range: bytes=<partial size>-` and appends. The
library is still used for what it is good at: building the URL (`hf_hub_url`, always with the
configured `endpoint=`, never `HF_ENDPOINT`, which the library reads at import time).

Behaviour, in short:

- bytes are written to the partial as soon as they arrive (unbuffered writes of what the socket
  has, up to `chunk_size`), so a SIGKILL loses only what was still in flight; disk writeback is
  started every 32 MiB so the final fsync does not stall on the whole file;
- no overall timeout: a transfer that delivers nothing for `stall_timeout` seconds is dropped
  and reconnected from the current partial size; network errors, 5xx, 408 and 429 are retried
  forever with exponential backoff (0.5 s, 1 s, 2 s ... capped at `max_backoff`; a Retry-After
  header may lengthen the wait up to that cap);
- 404 and other 4xx raise `DownloadError` at once (retrying cannot help);
- size and, when the spec has one, SHA-256 (computed while downloading, on a second thread; an
  existing partial is hashed first) are verified before the partial is renamed to its destination; on a mismatch the
  file is fetched once more from byte 0;
- `cancel` stops the transfer between reads and during backoff, keeping the partial;
- `<partial>.lock` (filelock) makes sure one file is downloaded by one thread/process at a time.

CLI (tests and manual use)::

    python -m node_agent.downloader --endpoint URL --repo R --revision REV --file NAME --size N \
        [--sha256 H] --dest PATH --partial PATH [--token T]
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import queue
import re
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
import urllib3
from filelock import FileLock
from filelock import Timeout as LockTimeout
from huggingface_hub import hf_hub_url

from node_agent import __version__
from node_agent.store import fsync_dir
from node_agent.units import MiB

__all__ = ["FileSpec", "Downloader", "DownloadError", "DownloadCancelled", "main"]

log = logging.getLogger(__name__)

DEFAULT_CHUNK_SIZE = MiB
HASH_READ_SIZE = 4 * MiB  # reading an existing partial/destination to hash it
HASH_QUEUE_CHUNKS = 8  # chunks received but not yet hashed, at most (see _HashThread)
FIRST_BACKOFF = 0.5
LOCK_POLL = 0.2  # seconds between checks of `cancel` while waiting for another downloader
WRITEBACK_BYTES = 32 * MiB  # start disk writeback of the partial every this many bytes
MAX_RESTARTS = 1  # fetches from byte 0 after a verification failure before giving up

# Errors that mean "the network/Hub failed, try again": raised by requests around the request,
# by urllib3 while reading the raw stream (timeouts, resets, truncated bodies), or by the socket.
_NETWORK_ERRORS: tuple[type[BaseException], ...] = (requests.RequestException, urllib3.exceptions.HTTPError,
                                                    ConnectionError, TimeoutError)
# RequestException subclasses that no retry can fix (a bad endpoint or file name, a redirect loop).
_PERMANENT_REQUEST_ERRORS: tuple[type[BaseException], ...] = (
    requests.exceptions.URLRequired, requests.exceptions.MissingSchema, requests.exceptions.InvalidSchema,
    requests.exceptions.InvalidURL, requests.exceptions.InvalidHeader, requests.exceptions.TooManyRedirects)
_RETRY_STATUSES = {408, 425, 429}
_CONTENT_RANGE = re.compile(r"^\s*bytes\s+(?:(\d+)-(\d+)|\*)/(\d+|\*)\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class FileSpec:
    """What the router says a file is: its path in the repo, exact size and (if known) SHA-256."""

    name: str
    size: int
    sha256: str | None = None


class DownloadError(Exception):
    """A download that cannot succeed by retrying (missing on the Hub, denied, corrupt twice...)."""


class DownloadCancelled(Exception):
    """The caller set `cancel`; the partial file is kept for a later resume."""


@dataclass
class _Job:
    """One file being fetched, and how far it got: kept across failed requests so a retry resumes."""

    url: str
    spec: FileSpec
    partial: Path
    report: Callable[[int], None]
    cancel: threading.Event
    where: str  # "repo@revision:name", for messages
    # SHA-256 of partial[:done]; None when the spec has no sha256 (hashing costs about as much CPU
    # as receiving the bytes on a fast link, so it is only done when there is something to compare).
    hasher: Any = None
    done: int = 0  # bytes in the partial

    def restart(self) -> None:
        self.hasher = hashlib.sha256() if self.spec.sha256 else None
        self.done = 0

    def check_cancel(self) -> None:
        if self.cancel.is_set():
            raise DownloadCancelled(f"cancelled at byte {self.done} of {self.where}; partial kept")


class _Retry(Exception):
    """Internal: a transient failure; the message says why, `retry_after` is the server's hint (s)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class _Restart(Exception):
    """Internal: the partial cannot be continued; delete it and start from byte 0."""


def _hash_file(path: Path, cancel: threading.Event, limit: int | None = None) -> tuple["hashlib._Hash", int]:
    """SHA-256 of a file's first `limit` bytes (all when None), read in chunks, honouring cancel."""
    hasher = hashlib.sha256()
    done = 0
    with open(path, "rb") as handle:
        while limit is None or done < limit:
            if cancel.is_set():
                raise DownloadCancelled(f"cancelled while hashing {path}")
            want = HASH_READ_SIZE if limit is None else min(HASH_READ_SIZE, limit - done)
            data = handle.read(want)
            if not data:
                break
            hasher.update(data)
            done += len(data)
    return hasher, done


class Downloader:
    """Downloads files of Hub repos from one endpoint; safe to share between threads."""

    def __init__(self, endpoint: str, token: str | None = None, chunk_size: int = DEFAULT_CHUNK_SIZE,
                 stall_timeout: float = 30.0, connect_timeout: float = 10.0, max_backoff: float = 60.0) -> None:
        if not endpoint.startswith(("http://", "https://")):
            raise ValueError(f"endpoint must be an http(s) URL, not {endpoint!r}")
        if chunk_size <= 0:
            raise ValueError("chunk_size must be positive")
        self.endpoint = endpoint.rstrip("/")
        self.token = token
        self.chunk_size = chunk_size
        self.stall_timeout = stall_timeout
        self.connect_timeout = connect_timeout
        self.max_backoff = max_backoff
        # One requests.Session per Downloader and thread: Sessions keep connections alive but are
        # not documented as thread-safe.
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._sessions_lock = threading.Lock()

    # -- public -----------------------------------------------------------------------------------

    def url(self, repo: str, revision: str, name: str) -> str:
        """The file's URL on the configured Hub (never on another endpoint)."""
        return hf_hub_url(repo, name, revision=revision, endpoint=self.endpoint)

    def download_file(self, repo: str, revision: str, spec: FileSpec, dest: Path, partial: Path,
                      progress: Callable[[int], None] | None = None,
                      cancel: threading.Event | None = None) -> None:
        """Make `dest` hold exactly the file `spec.name` of `repo` at `revision`, resuming `partial`.

        Returns when `dest` is complete and verified. Raises DownloadError for permanent failures
        and DownloadCancelled when `cancel` is set (the partial is kept).
        """
        if spec.size < 0:
            raise ValueError(f"{spec.name}: negative size")
        dest, partial = Path(dest), Path(partial)
        cancel = cancel if cancel is not None else threading.Event()
        report = progress or (lambda _done: None)
        where = f"{repo}@{revision}:{spec.name}"

        partial.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(partial) + ".lock")
        self._acquire(lock, cancel, where)
        try:
            if self._dest_complete(dest, spec, cancel):
                _unlink(partial)  # a leftover from an earlier run; the file is already in place
                report(spec.size)
                return
            job = _Job(self.url(repo, revision, spec.name), spec, partial, report, cancel, where)
            for attempt in range(MAX_RESTARTS + 1):
                try:
                    self._fetch(job)
                except _Restart as exc:
                    problem = str(exc)
                else:
                    digest = job.hasher.hexdigest() if job.hasher is not None else None
                    if spec.sha256 is None or digest == spec.sha256.lower():
                        self._publish(partial, dest)
                        log.info("downloaded %s (%d bytes)", where, spec.size)
                        return
                    problem = f"sha256 mismatch for {where}: got {digest}, expected {spec.sha256.lower()}"
                _unlink(partial)
                if attempt < MAX_RESTARTS:
                    log.warning("%s; deleted the partial, downloading again from byte 0", problem)
                else:
                    raise DownloadError(f"{problem} (after downloading again from byte 0)")
        finally:
            lock.release()

    def close(self) -> None:
        """Close the HTTP sessions (connections are otherwise closed at exit)."""
        with self._sessions_lock:
            sessions, self._sessions = self._sessions, []
        for session in sessions:
            session.close()

    def __enter__(self) -> "Downloader":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- steps ------------------------------------------------------------------------------------

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.headers["User-Agent"] = f"llm-router-node-agent/{__version__} {session.headers['User-Agent']}"
            # Byte offsets only make sense on the identity encoding (gzip would break Range resumes).
            session.headers["Accept-Encoding"] = "identity"
            if self.token:
                # requests drops this header when a redirect leaves the host (e.g. to the Hub's CDN).
                session.headers["Authorization"] = f"Bearer {self.token}"
            self._local.session = session
            with self._sessions_lock:
                self._sessions.append(session)
        return session

    @staticmethod
    def _acquire(lock: FileLock, cancel: threading.Event, where: str) -> None:
        """Wait (as long as it takes) for another downloader of this file, checking `cancel`."""
        waited = False
        while True:
            if cancel.is_set():
                raise DownloadCancelled(f"cancelled while waiting for another download of {where}")
            try:
                lock.acquire(timeout=LOCK_POLL)
                return
            except LockTimeout:
                if not waited:
                    log.info("%s is being downloaded by another thread or process; waiting", where)
                    waited = True

    @staticmethod
    def _dest_complete(dest: Path, spec: FileSpec, cancel: threading.Event) -> bool:
        """True when `dest` already holds the file (size, and sha256 when known)."""
        try:
            if dest.stat().st_size != spec.size:
                log.warning("%s exists with the wrong size; downloading it again", dest)
                return False
        except FileNotFoundError:
            return False
        if spec.sha256 is None:
            return True
        hasher, _ = _hash_file(dest, cancel)
        if hasher.hexdigest() == spec.sha256.lower():
            return True
        log.warning("%s exists with the wrong sha256; downloading it again", dest)
        return False

    @staticmethod
    def _resume(job: "_Job") -> None:
        """Set the job's position and hash from what the partial holds; drop a partial longer than the file."""
        job.restart()
        try:
            have = job.partial.stat().st_size
        except FileNotFoundError:
            return
        if have > job.spec.size:
            log.warning("partial of %s has %d bytes, more than the file's %d; starting from byte 0",
                        job.where, have, job.spec.size)
            _unlink(job.partial)
            return
        if job.hasher is not None:
            job.hasher, job.done = _hash_file(job.partial, job.cancel)
        else:
            job.done = have
        if job.done:
            log.info("resuming %s at byte %d of %d", job.where, job.done, job.spec.size)

    def _fetch(self, job: "_Job") -> None:
        """Bring the partial to `spec.size` bytes, retrying transient failures forever.

        On return `job.hasher` (if any) holds the SHA-256 of the whole partial. Raises _Restart when the
        partial cannot be used.
        """
        self._resume(job)
        job.report(job.done)
        failures = 0
        while job.done < job.spec.size:
            job.check_cancel()
            before = job.done
            try:
                self._transfer(job)
            except _Retry as exc:
                reason, hint = str(exc), exc.retry_after
            except _PERMANENT_REQUEST_ERRORS as exc:
                raise DownloadError(f"{job.where}: {type(exc).__name__}: {exc}") from exc
            except _NETWORK_ERRORS as exc:
                reason, hint = f"{type(exc).__name__}: {exc}", None
            else:
                continue
            if _size(job.partial) != job.done:  # a write failed half-way: trust the disk, not memory
                self._resume(job)
            failures = 1 if job.done > before else failures + 1  # progress resets the backoff
            delay = min(max(FIRST_BACKOFF * 2 ** (failures - 1), hint or 0.0), self.max_backoff)
            log.warning("download of %s failed at byte %d of %d (%s); retrying in %.1f s",
                        job.where, job.done, job.spec.size, reason, delay)
            if job.cancel.wait(delay):
                job.check_cancel()
        # Nothing fetched at all (complete partial, or an empty file): make sure the file exists.
        job.partial.touch(exist_ok=True)
        with open(job.partial, "rb+") as handle:
            os.fsync(handle.fileno())

    def _transfer(self, job: "_Job") -> None:
        """One HTTP request from byte `job.done`, streamed into the partial until the file is complete.

        Raises _Retry / network errors for transient failures; `job` keeps the bytes written so far.
        """
        response = self._session().get(job.url, headers={"Range": f"bytes={job.done}-"}, stream=True,
                                       allow_redirects=True,
                                       timeout=(self.connect_timeout, self.stall_timeout))
        with response:
            status, spec = response.status_code, job.spec
            if status == 416:
                self._unsatisfiable(response, job)
            if status >= 500 or status in _RETRY_STATUSES:
                raise _Retry(f"HTTP {status} from {response.url}", _retry_after(response))
            if status >= 400:
                raise DownloadError(_http_error_message(response, job.where))
            if status == 206:
                start, total = _content_range(response.headers.get("Content-Range"))
                if total is not None and total != spec.size:
                    raise DownloadError(f"{job.where} has {total} bytes on the Hub, expected {spec.size}")
                if start is None:
                    raise DownloadError(f"{job.where}: HTTP 206 without a usable Content-Range from {response.url}")
                if start != job.done:
                    raise _Retry(f"asked for bytes from {job.done}, got Content-Range "
                                 f"{response.headers.get('Content-Range')!r}")
                mode = "ab"
            elif status == 200:
                length = response.headers.get("Content-Length")
                if length is not None and length.isdigit() and int(length) != spec.size:
                    raise DownloadError(f"{job.where} has {length} bytes on the Hub, expected {spec.size}")
                if job.done:
                    log.info("server ignored the Range header for %s; starting over from byte 0", job.where)
                job.restart()
                job.report(0)
                mode = "wb"
            else:
                raise _Retry(f"unexpected HTTP {status} from {response.url}")
            self._stream(response, job, mode)

    def _stream(self, response: requests.Response, job: "_Job", mode: str) -> None:
        """Copy the body to the partial as it arrives (unbuffered: a kill loses only in-flight bytes)."""
        raw, size = response.raw, job.spec.size
        with open(job.partial, mode, buffering=0) as handle, _HashThread(job.hasher) as hash_later:
            flushed = job.done
            while job.done < size:
                if job.done - flushed >= WRITEBACK_BYTES:
                    _start_writeback(handle.fileno(), flushed, job.done - flushed)
                    flushed = job.done
                job.check_cancel()
                data = raw.read1(min(self.chunk_size, size - job.done), decode_content=False)
                if not data:
                    raise _Retry(f"connection closed at byte {job.done}")
                view = memoryview(data)
                while view:  # raw FileIO may write less than asked
                    view = view[handle.write(view):]
                hash_later(data)
                job.done += len(data)
                job.report(job.done)

    @staticmethod
    def _unsatisfiable(response: requests.Response, job: "_Job") -> None:
        """416: the Hub says the partial is already at/after the end of the file."""
        _, total = _content_range(response.headers.get("Content-Range"))
        if total is not None and total != job.spec.size:
            raise DownloadError(f"{job.where} has {total} bytes on the Hub, expected {job.spec.size}")
        raise _Restart(f"the Hub refused the range from byte {job.done} of {job.where} (HTTP 416)")

    @staticmethod
    def _publish(partial: Path, dest: Path) -> None:
        """Move the verified partial into place atomically and durably."""
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(partial, dest)
        fsync_dir(dest.parent)


class _HashThread:
    """Feeds written chunks to a SHA-256 object on a second thread while the transfer goes on.

    hashlib releases the GIL on large buffers, so on a fast link hashing overlaps receiving and
    writing instead of adding to them (on one thread sha256 cost as much as the transfer itself at
    loopback speed). The queue is bounded (HASH_QUEUE_CHUNKS chunks held in memory at most). On
    exit, normal or not, every chunk handed over has been hashed: the hasher then matches the bytes
    written, which is what a retry resumes from.
    """

    def __init__(self, hasher: Any) -> None:
        self._hasher = hasher
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=HASH_QUEUE_CHUNKS)
        self._thread = threading.Thread(target=self._run, name="sha256", daemon=True)

    def __enter__(self) -> Callable[[bytes], None]:
        if self._hasher is None:
            return lambda _data: None
        self._thread.start()
        return self._queue.put

    def __exit__(self, *exc_info: object) -> None:
        if self._hasher is not None:
            self._queue.put(None)
            self._thread.join()

    def _run(self) -> None:
        while (data := self._queue.get()) is not None:
            self._hasher.update(data)


def _start_writeback(fd: int, offset: int, length: int) -> None:
    """Ask the kernel to start writing this range to disk now (without waiting), so the final fsync
    has little left to do. POSIX_FADV_DONTNEED starts writeback of dirty pages on Linux."""
    if hasattr(os, "posix_fadvise"):
        try:
            os.posix_fadvise(fd, offset, length, os.POSIX_FADV_DONTNEED)
        except OSError:
            pass


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass


def _retry_after(response: requests.Response) -> float | None:
    """Seconds from a numeric Retry-After header (HTTP dates are ignored: the backoff applies)."""
    value = (response.headers.get("Retry-After") or "").strip()
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


def _content_range(value: str | None) -> tuple[int | None, int | None]:
    """(first byte, total size) from a Content-Range header; None for parts that are absent or `*`."""
    match = _CONTENT_RANGE.match(value or "")
    if not match:
        return None, None
    start = int(match.group(1)) if match.group(1) is not None else None
    total = int(match.group(3)) if match.group(3) != "*" else None
    return start, total


def _http_error_message(response: requests.Response, where: str) -> str:
    """A clear message for a permanent HTTP error, using the Hub's X-Error-* headers when present."""
    status = response.status_code
    code = response.headers.get("X-Error-Code")
    detail = response.headers.get("X-Error-Message")
    if status == 404:
        what = {"RepoNotFound": "repository not found", "RevisionNotFound": "revision not found",
                "EntryNotFound": "file not found in the repository"}.get(code or "", "not found")
        text = f"{where}: {what} on the Hub (HTTP 404, {response.url})"
    elif status in (401, 403):
        text = f"{where}: access denied by the Hub (HTTP {status}); is a token needed or wrong?"
    else:
        text = f"{where}: the Hub answered HTTP {status} ({response.url})"
    return f"{text}: {detail}" if detail else text


# --------------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------------


class _ProgressPrinter:
    """Prints a progress line to stderr at most every `interval` seconds (and at the end)."""

    def __init__(self, name: str, size: int, interval: float = 2.0) -> None:
        self.name, self.size, self.interval = name, size, interval
        self._last = 0.0

    def __call__(self, done: int) -> None:
        now = time.monotonic()
        if done >= self.size or now - self._last >= self.interval:
            self._last = now
            percent = 100.0 * done / self.size if self.size else 100.0
            print(f"progress {self.name}: {done}/{self.size} bytes ({percent:.1f}%)", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    """Download one file; exit 0 when done, 1 on DownloadError, 130 when interrupted (SIGINT/SIGTERM)."""
    parser = argparse.ArgumentParser(prog="python -m node_agent.downloader", description=__doc__.split("\n\n")[0])
    parser.add_argument("--endpoint", required=True, help="Hub base URL, e.g. https://huggingface.co")
    parser.add_argument("--repo", required=True)
    parser.add_argument("--revision", required=True)
    parser.add_argument("--file", required=True, dest="name", help="path of the file in the repo")
    parser.add_argument("--size", required=True, type=int)
    parser.add_argument("--sha256")
    parser.add_argument("--dest", required=True, type=Path)
    parser.add_argument("--partial", required=True, type=Path)
    parser.add_argument("--token", default=os.environ.get("HF_TOKEN"), help="default: $HF_TOKEN")
    parser.add_argument("--chunk-size", type=int, default=DEFAULT_CHUNK_SIZE)
    parser.add_argument("--stall-timeout", type=float, default=30.0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    cancel = threading.Event()

    def stop(signum: int, _frame: object) -> None:
        cancel.set()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    spec = FileSpec(args.name, args.size, args.sha256)
    with Downloader(args.endpoint, token=args.token, chunk_size=args.chunk_size,
                    stall_timeout=args.stall_timeout) as downloader:
        try:
            downloader.download_file(args.repo, args.revision, spec, args.dest, args.partial,
                                     progress=_ProgressPrinter(args.name, args.size), cancel=cancel)
        except DownloadCancelled as exc:
            print(f"cancelled: {exc}", file=sys.stderr)
            return 130
        except DownloadError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
