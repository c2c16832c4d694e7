"""The sync loop: make the models directory match the router's manifest, and remember how it goes.

Why a loop and not commands: the router only says *what* this node must hold (docs/protocol.md);
the node works out the difference itself, every `sync_interval` seconds and at once when the
router calls POST /v0/sync. A lost notification or a restart on either side therefore only delays
things, and the same code handles first start, resume after a crash and deletion.

Per model (one worker thread per download, files one after another):

    pending -> downloading -> ready          (files verified, model.json written)
                           -> error          (DownloadError; retried at a later sync, with backoff)

Models in the manifest's `errors` are reported as errors and never downloaded (their files, if
any, stay). Anything else on disk or in progress is cancelled and deleted. While the router cannot
be reached nothing is deleted: only a manifest actually received is acted on.

The state table behind GET /v0/status is in memory and guarded by one lock; download threads update
it through `_progress`, which ignores a job once it has been replaced or cancelled.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from node_agent.downloader import DownloadCancelled, Downloader, DownloadError, FileSpec
from node_agent.router_client import RouterClient, RouterError
from node_agent.store import ModelStore, UnsafePathError, validate_model_id

__all__ = ["ManifestModel", "ModelStatus", "DownloadJob", "SyncLoop", "parse_manifest"]

log = logging.getLogger(__name__)

ERROR_RETRY_SECONDS = 30.0  # an errored download is tried again no sooner than this ...
MAX_ERROR_RETRY_SECONDS = 600.0  # ... doubling after each failure, up to this
STOP_WAIT_SECONDS = 10.0  # how long a sync waits for a cancelled download to stop before deleting
STATES = ("pending", "downloading", "ready", "error")


# --------------------------------------------------------------------------------------------------
# The manifest
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ManifestModel:
    """One entry of the manifest's `models`: what to download and from where."""

    id: str
    repo: str
    revision: str
    files: tuple[FileSpec, ...]
    format: str | None = None
    engine: str | None = None
    attempt: int = 0  # raised by the router's retry: a failed download is tried again at once

    @property
    def total_bytes(self) -> int:
        return sum(spec.size for spec in self.files)

    def same_download(self, other: "ManifestModel") -> bool:
        """True when both entries fetch the same bytes (a running job for one serves the other)."""
        return (self.repo, self.revision, self.files) == (other.repo, other.revision, other.files)


def _parse_model(item: Mapping[str, Any]) -> ManifestModel:
    repo, revision, files = item.get("repo"), item.get("revision"), item.get("files")
    if not isinstance(repo, str) or not repo:
        raise ValueError("'repo' is missing")
    if not isinstance(revision, str) or not revision:
        raise ValueError("'revision' is missing")
    if not isinstance(files, list) or not files:
        raise ValueError("'files' must be a non-empty list")
    specs = []
    for entry in files:
        if not isinstance(entry, Mapping):
            raise ValueError("every file must be an object")
        name, size, sha256 = entry.get("name"), entry.get("size"), entry.get("sha256")
        if not isinstance(name, str) or not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise ValueError(f"file {name!r} needs a name and a non-negative size")
        if sha256 is not None and not isinstance(sha256, str):
            raise ValueError(f"file {name!r}: sha256 must be a string or null")
        specs.append(FileSpec(name, size, sha256.lower() if sha256 else None))
    names = [spec.name for spec in specs]
    if len(set(names)) != len(names):
        raise ValueError("a file is listed twice")
    format_, engine, attempt = item.get("format"), item.get("engine"), item.get("attempt", 0)
    return ManifestModel(item["id"], repo, revision, tuple(specs),
                         format_ if isinstance(format_, str) else None, engine if isinstance(engine, str) else None,
                         attempt if isinstance(attempt, int) and not isinstance(attempt, bool) else 0)


def parse_manifest(body: Mapping[str, Any]) -> tuple[dict[str, ManifestModel], dict[str, str]]:
    """({id: model to hold}, {id: error to report}) from GET /v0/nodes/<id>/manifest.

    An entry with a usable id but unusable fields becomes an error for that id (so its files are
    kept, not deleted); an entry without a usable id is logged and skipped. A body without the
    `models` list raises ValueError: acting on it would delete every model on the node.
    """
    if not isinstance(body.get("models"), list) or not isinstance(body.get("errors", []), list):
        raise ValueError("the manifest has no 'models' list (or a malformed 'errors')")
    models: dict[str, ManifestModel] = {}
    errors: dict[str, str] = {}
    for item in body["models"]:
        model_id = item.get("id") if isinstance(item, Mapping) else None
        try:
            validate_model_id(model_id)
        except UnsafePathError as exc:
            log.warning("ignoring a manifest entry: %s", exc)
            continue
        try:
            models[model_id] = _parse_model(item)  # type: ignore[arg-type]
        except (ValueError, UnsafePathError) as exc:
            errors[model_id] = f"invalid manifest entry from the router: {exc}"  # type: ignore[index]
    for item in body.get("errors", []):
        model_id = item.get("id") if isinstance(item, Mapping) else None
        if not isinstance(model_id, str) or not model_id:
            log.warning("ignoring a manifest error entry without an id")
            continue
        message = item.get("error")
        errors[model_id] = message if isinstance(message, str) and message else "the router reported an error"
        models.pop(model_id, None)  # the router's verdict wins over a duplicate entry
    return models, errors


# --------------------------------------------------------------------------------------------------
# State table entries and download jobs
# --------------------------------------------------------------------------------------------------


@dataclass
class ModelStatus:
    """What GET /v0/status says about one model; `files` is per-file progress (bytes done)."""

    state: str
    downloaded_bytes: int = 0
    total_bytes: int = 0
    error: str | None = None
    files: dict[str, int] = field(default_factory=dict)

    def report(self, model_id: str) -> dict[str, Any]:
        return {"id": model_id, "state": self.state, "downloaded_bytes": self.downloaded_bytes,
                "total_bytes": self.total_bytes, "error": self.error}


@dataclass
class _Failure:
    """A failed download: retried once `retry_at` has passed, or at once if the manifest entry changes."""

    entry: ManifestModel
    retry_at: float
    failures: int


class DownloadJob:
    """Downloads one model's files, one after another, in its own thread; `cancel` stops it (partials kept)."""

    def __init__(self, entry: ManifestModel, loop: "SyncLoop") -> None:
        self.entry = entry
        self.cancel = threading.Event()
        self._loop = loop
        self.thread = threading.Thread(target=self._run, name=f"download {entry.id}", daemon=True)

    def start(self) -> "DownloadJob":
        self.thread.start()
        return self

    def alive(self) -> bool:
        return self.thread.is_alive()

    def stop(self, timeout: float) -> bool:
        """Cancel and wait up to `timeout` seconds; True once the thread has ended."""
        self.cancel.set()
        self.thread.join(timeout)
        return not self.thread.is_alive()

    def _run(self) -> None:
        entry, store, loop = self.entry, self._loop.store, self._loop
        try:
            store.prepare(entry.id)
            for spec in entry.files:
                if self.cancel.is_set():  # before the downloader creates any directory for the next file
                    raise DownloadCancelled(f"cancelled before {spec.name}")
                loop.downloader.download_file(
                    entry.repo, entry.revision, spec, store.file_path(entry.id, spec.name),
                    store.partial_path(entry.id, spec.name),
                    progress=lambda done, name=spec.name: loop._progress(self, name, done), cancel=self.cancel)
            if self.cancel.is_set():
                raise DownloadCancelled("cancelled after the last file")
            store.mark_ready(entry.id, {"repo": entry.repo, "revision": entry.revision,
                                        "files": list(entry.files)})
        except DownloadCancelled:
            log.info("download of %s stopped (partial files kept)", entry.id)
            return
        except (DownloadError, UnsafePathError, ValueError, OSError) as exc:
            loop._finished(self, str(exc) or type(exc).__name__)
            return
        except Exception as exc:  # a bug must show up as this model's error, not kill the agent silently
            log.exception("download of %s failed unexpectedly", entry.id)
            loop._finished(self, f"{type(exc).__name__}: {exc}")
            return
        log.info("%s is ready (%d files, %d bytes)", entry.id, len(entry.files), entry.total_bytes)
        loop._finished(self, None)


# --------------------------------------------------------------------------------------------------
# The loop
# --------------------------------------------------------------------------------------------------


class SyncLoop:
    """Owns the state table, the download jobs and the thread that reconciles them with the manifest."""

    def __init__(self, store: ModelStore, downloader: Downloader, client: RouterClient, interval: float,
                 error_retry_seconds: float = ERROR_RETRY_SECONDS,
                 on_unready: Callable[[list[str]], None] | None = None) -> None:
        self.store = store
        # Told which models stop being ready (deleted, cancelled, refused, re-downloaded) before their
        # files go, so whoever has them open (the inference engines) lets go first.
        self.on_unready = on_unready
        self.downloader = downloader
        self.client = client
        self.interval = interval
        self.error_retry_seconds = error_retry_seconds
        self._lock = threading.Lock()
        self._status: dict[str, ModelStatus] = {}
        self._jobs: dict[str, DownloadJob] = {}
        self._failures: dict[str, _Failure] = {}
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._router_down_since: float | None = None
        self._thread = threading.Thread(target=self._run, name="sync", daemon=True)
        self.syncs = 0  # manifests acted on (for logs and tests)
        self._scan_disk()

    # -- public -----------------------------------------------------------------------------------

    def start(self) -> "SyncLoop":
        self._thread.start()
        return self

    def wake(self) -> None:
        """Sync now (POST /v0/sync): the loop stops waiting for the interval."""
        self._wake.set()

    def snapshot(self) -> list[dict[str, Any]]:
        """The `models` list of GET /v0/status."""
        with self._lock:
            return [status.report(model_id) for model_id, status in sorted(self._status.items())]

    def is_ready(self, model_id: str) -> bool:
        with self._lock:
            status = self._status.get(model_id)
            return status is not None and status.state == "ready"

    def _unready(self, model_ids: list[str]) -> None:
        if model_ids and self.on_unready is not None:
            try:
                self.on_unready(model_ids)
            except Exception:
                log.exception("releasing %s failed", ", ".join(model_ids))

    def file_progress(self, model_id: str) -> dict[str, int]:
        """Bytes done per file of a model being downloaded (for logs and debugging)."""
        with self._lock:
            status = self._status.get(model_id)
            return dict(status.files) if status else {}

    def stop(self, timeout: float = 5.0) -> None:
        """Stop syncing and cancel every download (partials are kept for the next start)."""
        deadline = time.monotonic() + timeout
        with self._lock:  # from here on no download starts (see _start)
            self._stop.set()
            jobs = list(self._jobs.values())
        self._wake.set()
        for job in jobs:
            job.cancel.set()
        if self._thread.is_alive():
            self._thread.join(max(0.1, deadline - time.monotonic()))
        for job in jobs:
            job.thread.join(max(0.1, deadline - time.monotonic()))
        stuck = [job.entry.id for job in jobs if job.alive()]
        if stuck:
            log.warning("downloads still stopping at shutdown: %s", ", ".join(stuck))

    def sync_once(self) -> bool:
        """Read the manifest and reconcile; False when the router could not be asked (nothing changes)."""
        try:
            body = self.client.manifest()
        except RouterError as exc:
            if self._router_down_since is None:
                self._router_down_since = time.monotonic()
                log.warning("cannot read the manifest: %s; keeping everything as it is and trying again", exc)
            else:
                log.debug("cannot read the manifest: %s", exc)
            return False
        if self._router_down_since is not None:
            log.info("the router answers again (after %.0f s)", time.monotonic() - self._router_down_since)
            self._router_down_since = None
        try:
            models, errors = parse_manifest(body)
        except ValueError as exc:
            log.warning("ignoring the router's manifest: %s; nothing changes", exc)
            return False
        self.reconcile(models, errors)
        self.syncs += 1
        return True

    # -- the thread -------------------------------------------------------------------------------

    def _run(self) -> None:
        if self.client.register_until_done(self._stop) is None:
            return
        while not self._stop.is_set():
            try:
                self.sync_once()
            except Exception:  # one bad sync must not end syncing for good
                log.exception("sync failed; trying again in %.0f s", self.interval)
            self._wake.wait(self.interval)
            self._wake.clear()

    # -- reconciling ------------------------------------------------------------------------------

    def reconcile(self, models: Mapping[str, ManifestModel], errors: Mapping[str, str]) -> None:
        """Make jobs, files and the state table match the manifest (models to hold, errors to report)."""
        self._reap()
        with self._lock:
            in_progress = set(self._jobs)
            known = set(self._status)
        unwanted = (set(self.store.model_ids_on_disk()) | in_progress | known) - set(models) - set(errors)
        self._remove(sorted(unwanted))
        for model_id, message in errors.items():
            self._report_error(model_id, message)
        for model_id, entry in models.items():
            try:
                self._hold(entry)
            except Exception as exc:  # e.g. an id or file name the store refuses
                log.warning("cannot hold %s: %s", model_id, exc)
                with self._lock:
                    self._status[model_id] = ModelStatus("error", 0, entry.total_bytes, str(exc))

    def _reap(self) -> None:
        """Forget jobs whose thread has ended (their outcome is already in the state table)."""
        with self._lock:
            for model_id, job in list(self._jobs.items()):
                if not job.alive():
                    del self._jobs[model_id]

    def _stop_job(self, model_id: str) -> bool:
        """Cancel the model's job and wait for it; True when no job is running any more."""
        with self._lock:
            job = self._jobs.get(model_id)
        if job is None:
            return True
        if not job.stop(STOP_WAIT_SECONDS):
            log.warning("download of %s has not stopped yet; trying again at the next sync", model_id)
            return False
        with self._lock:
            if self._jobs.get(model_id) is job:
                del self._jobs[model_id]
        return True

    def _remove(self, model_ids: Iterable[str]) -> None:
        """Cancel every download first (they stop in parallel), then delete files and partials."""
        model_ids = list(model_ids)
        with self._lock:
            for model_id in model_ids:
                job = self._jobs.get(model_id)
                if job is not None:
                    job.cancel.set()
                self._status.pop(model_id, None)
                self._failures.pop(model_id, None)
        self._unready(model_ids)
        for model_id in model_ids:
            if not self._stop_job(model_id):
                continue  # deleting under a running download would race with its writes
            try:
                if self.store.delete_model(model_id):
                    log.info("deleted %s: it is no longer in this node's manifest", model_id)
            except (OSError, UnsafePathError) as exc:
                log.warning("could not delete %s: %s", model_id, exc)

    def _report_error(self, model_id: str, message: str) -> None:
        """The router says this node cannot hold the model: report it, download nothing, keep files."""
        with self._lock:
            job = self._jobs.get(model_id)
        if job is not None:
            self._stop_job(model_id)
        with self._lock:
            previous = self._status.get(model_id)
            if previous is None or previous.error != message:
                log.info("%s: %s", model_id, message)
            self._status[model_id] = ModelStatus("error", 0, 0, message)
            self._failures.pop(model_id, None)
        self._unready([model_id])

    def _hold(self, entry: ManifestModel) -> None:
        """Ready, downloading, waiting to retry an error, or start a download now."""
        model_id = entry.id
        with self._lock:
            job = self._jobs.get(model_id)
        if job is not None:
            if job.cancel.is_set():
                if not self._stop_job(model_id):
                    return  # still stopping; the next sync tries again
            elif job.entry.same_download(entry):
                return  # already on it
            else:
                log.info("%s changed on the router (revision %s); restarting its download", model_id, entry.revision)
                if not self._stop_job(model_id):
                    return
        if self.store.is_ready(model_id, entry.files, entry.revision):
            with self._lock:
                status = self._status.get(model_id)
                if status is None or status.state != "ready":
                    self._status[model_id] = ModelStatus("ready", entry.total_bytes, entry.total_bytes)
                self._failures.pop(model_id, None)
            return
        with self._lock:
            failure = self._failures.get(model_id)
            if failure is not None and failure.entry.same_download(entry) and failure.entry.attempt == entry.attempt \
                    and time.monotonic() < failure.retry_at:
                return  # keep reporting the error until the backoff has passed (or an admin retries)
        self._start(entry)

    def _start(self, entry: ManifestModel) -> None:
        files = {spec.name: self._bytes_present(entry.id, spec) for spec in entry.files}
        job = DownloadJob(entry, self)
        self._unready([entry.id])  # e.g. a new revision replaces files an engine has open
        with self._lock:
            if self._stop.is_set():
                return  # shutting down: the next start resumes it
            self._jobs[entry.id] = job
            self._status[entry.id] = ModelStatus("pending", sum(files.values()), entry.total_bytes, None, files)
        log.info("downloading %s from %s@%s (%d files, %d bytes)", entry.id, entry.repo, entry.revision,
                 len(entry.files), entry.total_bytes)
        job.start()

    def _bytes_present(self, model_id: str, spec: FileSpec) -> int:
        """What is already on disk for a file (finished size, else the partial's), for the first report."""
        try:
            if self.store.file_path(model_id, spec.name).stat().st_size == spec.size:
                return spec.size
        except OSError:
            pass
        return min(self.store.partial_bytes(model_id, spec.name), spec.size)

    # -- called from download threads -------------------------------------------------------------

    def _progress(self, job: DownloadJob, name: str, done: int) -> None:
        with self._lock:
            status = self._status.get(job.entry.id)
            if self._jobs.get(job.entry.id) is not job or job.cancel.is_set() or status is None:
                return
            status.files[name] = done
            status.downloaded_bytes = sum(status.files.values())
            status.state = "downloading"

    def _finished(self, job: DownloadJob, error: str | None) -> None:
        model_id = job.entry.id
        with self._lock:
            if self._jobs.get(model_id) is not job or job.cancel.is_set():
                return
            total = job.entry.total_bytes
            if error is None:
                self._status[model_id] = ModelStatus("ready", total, total)
                self._failures.pop(model_id, None)
                return
            previous = self._failures.get(model_id)
            failures = previous.failures + 1 if previous and previous.entry.same_download(job.entry) else 1
            delay = min(self.error_retry_seconds * 2 ** (failures - 1), MAX_ERROR_RETRY_SECONDS)
            self._failures[model_id] = _Failure(job.entry, time.monotonic() + delay, failures)
            status = self._status.get(model_id)
            done = status.downloaded_bytes if status else 0
            self._status[model_id] = ModelStatus("error", done, total, error)
        log.warning("download of %s failed: %s; trying again in %.0f s at the earliest", model_id, error, delay)

    # -- start-up ---------------------------------------------------------------------------------

    def _scan_disk(self) -> None:
        """Models complete on disk are ready from the first status on, before any manifest arrives."""
        for model_id in self.store.model_ids_on_disk():
            try:
                manifest = self.store.read_manifest(model_id)
                if manifest and self.store.is_ready(model_id, manifest["files"], manifest.get("revision")):
                    total = sum(int(item.get("size") or 0) for item in manifest["files"])
                    self._status[model_id] = ModelStatus("ready", total, total)
            except (OSError, ValueError, TypeError, AttributeError) as exc:
                log.warning("ignoring %s on disk: %s", model_id, exc)
