"""The node's models directory: where each model's files, partial downloads and manifest live.

Layout (everything for one model sits under one directory, so deleting a model is one rmtree)::

    <models_dir>/
        <model dir>/                    e.g. acme_tiny-chat-gguf_q4_k_m-1a2b3c4d
            .model-id                   the exact model id (written by prepare(), before any download)
            model.json                  manifest, written atomically once complete and verified
            <file path>                 finished files, same relative paths as in the Hub repo
            .partial/<file path>.part   downloads in progress (resumed with HTTP Range)
            .partial/<file path>.part.lock   per-file lock held while downloading
        .trash-<model dir>-<random>/    a model being deleted (renamed first, then removed)

`<model dir>` is a readable, sanitized form of the model id plus the first 8 hex digits of the
SHA-256 of the exact id: ids that sanitize alike (`a/b` and `a:b`) still get different
directories, and `.model-id` lets the store map a directory back to its id (orphans can then be
found and deleted even when the download never finished).

Why so strict about names: model ids come from the router and file names from the Hub, i.e. from
the network. Every one is validated before it becomes a path (no absolute paths, no `..`, no
backslashes, no control characters, bounded lengths, no names that clash with the store's own
files) and every joined path is checked with `Path.resolve()` to stay inside the models directory.

`model.json` (version 1)::

    {"format": 1, "id": "...", "repo": "org/name", "revision": "<commit>", "state": "ready",
     "files": [{"name": "x.gguf", "size": 123, "sha256": "<hex or null>"}], "ready_at": "<UTC ISO>"}
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

__all__ = ["ModelStore", "UnsafePathError", "MANIFEST_NAME", "PARTIAL_DIR", "ID_FILE"]

log = logging.getLogger(__name__)

MANIFEST_NAME = "model.json"
PARTIAL_DIR = ".partial"
ID_FILE = ".model-id"
PARTIAL_SUFFIX = ".part"
LOCK_SUFFIX = ".lock"
TRASH_PREFIX = ".trash-"
MANIFEST_FORMAT = 1

MAX_ID_CHARS = 200
MAX_NAME_CHARS = 1000
# NAME_MAX is 255 bytes on common filesystems; keep room for ".part.lock" and temporary suffixes.
MAX_SEGMENT_BYTES = 200
READABLE_CHARS = 64  # readable part of a model directory name
HASH_CHARS = 8

_UNSAFE_DIR_CHARS = re.compile(r"[^A-Za-z0-9._-]+")
_DRIVE = re.compile(r"^[A-Za-z]:")
# Names the store itself uses at the top of a model directory (compared case-insensitively, for
# case-insensitive filesystems).
_RESERVED_TOP = {MANIFEST_NAME, PARTIAL_DIR, ID_FILE}


class UnsafePathError(ValueError):
    """A model id or file name that cannot safely become a path under the models directory."""


def _check_text(kind: str, value: object, max_chars: int) -> str:
    """Checks shared by ids and file names; returns the value typed as str."""
    if not isinstance(value, str):
        raise UnsafePathError(f"{kind} must be a string, not {type(value).__name__}")
    if not value:
        raise UnsafePathError(f"{kind} is empty")
    if len(value) > max_chars:
        raise UnsafePathError(f"{kind} is too long ({len(value)} > {max_chars} characters)")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise UnsafePathError(f"{kind} contains a NUL or control character: {value!r}")
    if "\\" in value:
        raise UnsafePathError(f"{kind} contains a backslash: {value!r}")
    if value.startswith("/"):
        raise UnsafePathError(f"{kind} is an absolute path: {value!r}")
    if value != value.strip():
        raise UnsafePathError(f"{kind} has leading or trailing whitespace: {value!r}")
    for segment in value.split("/"):
        if segment in ("", ".", ".."):
            raise UnsafePathError(f"{kind} has an empty, '.' or '..' segment: {value!r}")
    return value


def validate_model_id(model_id: object) -> str:
    """Return `model_id` if it is a safe id (e.g. `qwen3-0.6b`, `acme/tiny-chat-gguf:q4_k_m`)."""
    return _check_text("model id", model_id, MAX_ID_CHARS)


def validate_file_name(name: object) -> str:
    """Return `name` if it is a safe relative POSIX path inside a model directory."""
    name = _check_text("file name", name, MAX_NAME_CHARS)
    if _DRIVE.match(name):  # "C:x" is relative on POSIX but a drive path on Windows
        raise UnsafePathError(f"file name looks like a drive path: {name!r}")
    segments = name.split("/")
    for segment in segments:
        if len(segment.encode("utf-8")) > MAX_SEGMENT_BYTES:
            raise UnsafePathError(f"file name has a segment over {MAX_SEGMENT_BYTES} bytes: {name[:60]!r}...")
    if segments[0].casefold() in _RESERVED_TOP:
        raise UnsafePathError(f"file name {name!r} clashes with the store's own {segments[0]!r}")
    return name


def model_dir_name(model_id: str) -> str:
    """Directory name for an id: readable sanitized part + short hash of the exact id (stable)."""
    validate_model_id(model_id)
    readable = _UNSAFE_DIR_CHARS.sub("_", model_id).strip("._-")[:READABLE_CHARS].rstrip("._-") or "model"
    digest = hashlib.sha256(model_id.encode("utf-8")).hexdigest()[:HASH_CHARS]
    return f"{readable}-{digest}"


def _file_fields(item: object) -> tuple[str, int, str | None]:
    """(name, size, sha256) from a FileSpec-like object or a mapping, so callers can pass either."""
    if isinstance(item, Mapping):
        name, size, sha = item.get("name"), item.get("size"), item.get("sha256")
    else:
        name, size, sha = getattr(item, "name", None), getattr(item, "size", None), getattr(item, "sha256", None)
    validate_file_name(name)
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise ValueError(f"file {name!r}: size must be a non-negative int, not {size!r}")
    if sha is not None and not isinstance(sha, str):
        raise ValueError(f"file {name!r}: sha256 must be a hex string or None")
    return name, size, (sha.lower() if sha else None)


def fsync_dir(path: Path) -> None:
    """Make a rename durable (POSIX); harmless no-op where directories cannot be opened."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _atomic_write(path: Path, data: bytes) -> None:
    """Write via a temporary file + os.replace so readers never see half a file, even after a crash."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    fsync_dir(path.parent)


class ModelStore:
    """Maps model ids and file names to paths under `root` and keeps per-model manifests."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).resolve()

    # -- paths ------------------------------------------------------------------------------------

    def _inside(self, path: Path) -> Path:
        """`path` if it resolves (symlinks followed) to somewhere strictly inside the root."""
        resolved = path.resolve()
        if resolved == self.root or not resolved.is_relative_to(self.root):
            raise UnsafePathError(f"{path} resolves outside the models directory {self.root}")
        return path

    def model_dir(self, model_id: str) -> Path:
        """`<root>/<model dir>` for this id (not created)."""
        return self._inside(self.root / model_dir_name(model_id))

    def file_path(self, model_id: str, name: str) -> Path:
        """Where the finished file `name` of the model lives."""
        validate_file_name(name)
        return self._inside(self.model_dir(model_id) / Path(*name.split("/")))

    def partial_path(self, model_id: str, name: str) -> Path:
        """Where the in-progress download of `name` lives (the downloader appends to it)."""
        validate_file_name(name)
        segments = name.split("/")
        segments[-1] += PARTIAL_SUFFIX
        return self._inside(self.model_dir(model_id) / PARTIAL_DIR / Path(*segments))

    def manifest_path(self, model_id: str) -> Path:
        return self._inside(self.model_dir(model_id) / MANIFEST_NAME)

    # -- lifecycle --------------------------------------------------------------------------------

    def prepare(self, model_id: str) -> Path:
        """Create the model directory and record its id (call before downloading, so orphans are findable).

        Raises UnsafePathError if the directory already belongs to another id (a hash collision).
        """
        directory = self.model_dir(model_id)
        (directory / PARTIAL_DIR).mkdir(parents=True, exist_ok=True)
        id_file = directory / ID_FILE
        try:
            recorded = id_file.read_text(encoding="utf-8")
        except FileNotFoundError:
            _atomic_write(id_file, model_id.encode("utf-8"))
        else:
            if recorded != model_id:
                raise UnsafePathError(f"{directory} already holds model {recorded!r}, not {model_id!r}")
        return directory

    def partial_bytes(self, model_id: str, name: str) -> int:
        """Bytes already downloaded for `name` (0 when no partial exists)."""
        try:
            return self.partial_path(model_id, name).stat().st_size
        except FileNotFoundError:
            return 0

    def read_manifest(self, model_id: str) -> dict[str, Any] | None:
        """The manifest, or None when missing, unreadable or not this model's (then it is not ready)."""
        path = self.manifest_path(model_id)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            log.warning("ignoring unreadable manifest %s: %s", path, exc)
            return None
        if not isinstance(data, dict) or data.get("id") != model_id or not isinstance(data.get("files"), list):
            log.warning("ignoring manifest %s: not a manifest of %r", path, model_id)
            return None
        return data

    def mark_ready(self, model_id: str, info: Mapping[str, Any]) -> dict[str, Any]:
        """Write model.json for a complete model; `info` has repo, revision and files (name/size/sha256).

        The caller has verified the contents; this re-checks that every file is present with its size
        (cheap) so a manifest never points at missing data. Returns the manifest written.
        """
        files = [_file_fields(item) for item in info.get("files", ())]
        names = [name for name, _, _ in files]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate file names for {model_id!r}")
        for name, size, _ in files:
            path = self.file_path(model_id, name)
            try:
                actual = path.stat().st_size
            except FileNotFoundError:
                raise ValueError(f"cannot mark {model_id!r} ready: {name!r} is missing") from None
            if actual != size:
                raise ValueError(f"cannot mark {model_id!r} ready: {name!r} has {actual} bytes, expected {size}")
        manifest = {
            "format": MANIFEST_FORMAT,
            "id": model_id,
            "repo": info.get("repo"),
            "revision": info.get("revision"),
            "state": "ready",
            "files": [{"name": name, "size": size, "sha256": sha} for name, size, sha in files],
            "ready_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        directory = self.prepare(model_id)
        _atomic_write(directory / MANIFEST_NAME, (json.dumps(manifest, indent=2) + "\n").encode("utf-8"))
        return manifest

    def is_ready(self, model_id: str, files: Iterable[object], revision: str | None = None) -> bool:
        """True when the manifest says ready for exactly these files (and this revision, when given)
        and every file is on disk with its size. Sizes only: hashing gigabytes on every check is too slow;
        contents were verified before the manifest was written."""
        manifest = self.read_manifest(model_id)
        if manifest is None or manifest.get("state") != "ready":
            return False
        if revision is not None and manifest.get("revision") != revision:
            return False
        try:
            wanted = {name: (size, sha) for name, size, sha in (_file_fields(item) for item in files)}
            recorded = {name: (size, sha) for name, size, sha in (_file_fields(item) for item in manifest["files"])}
        except ValueError:
            return False
        if wanted.keys() != recorded.keys():
            return False
        for name, (size, sha) in wanted.items():
            recorded_size, recorded_sha = recorded[name]
            if size != recorded_size or (sha and recorded_sha and sha != recorded_sha):
                return False
            try:
                if self.file_path(model_id, name).stat().st_size != size:
                    return False
            except OSError:
                return False
        return True

    def delete_model(self, model_id: str) -> bool:
        """Remove the model's files, partials and manifest; False when there was nothing to delete.

        The directory is renamed away first, so a half-deleted model never looks present or ready.
        """
        directory = self.model_dir(model_id)
        if not directory.exists():
            return False
        trash = self.root / f"{TRASH_PREFIX}{directory.name}-{uuid.uuid4().hex[:8]}"
        try:
            directory.rename(trash)
        except FileNotFoundError:
            return False  # deleted concurrently
        shutil.rmtree(trash, ignore_errors=True)
        if trash.exists():
            log.warning("could not fully remove %s (left for purge_trash)", trash)
        return True

    def purge_trash(self) -> None:
        """Remove leftovers of deletions interrupted by a crash (call at agent start)."""
        if not self.root.is_dir():
            return
        for entry in self.root.iterdir():
            if entry.name.startswith(TRASH_PREFIX) and entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)

    def model_ids_on_disk(self) -> list[str]:
        """Ids of every model directory (complete or not), from `.model-id` or model.json.

        Directories whose recorded id does not map back to their name are skipped (and logged): they
        were not made by this store.
        """
        if not self.root.is_dir():
            return []
        ids: list[str] = []
        for entry in sorted(self.root.iterdir()):
            if entry.name.startswith(".") or not entry.is_dir() or entry.is_symlink():
                continue
            model_id = self._recorded_id(entry)
            if model_id is None:
                log.warning("models directory %s has no readable id; ignoring it", entry)
                continue
            try:
                if model_dir_name(model_id) != entry.name:
                    raise UnsafePathError("id does not match directory name")
            except UnsafePathError as exc:
                log.warning("ignoring %s: recorded id %r: %s", entry, model_id, exc)
                continue
            ids.append(model_id)
        return ids

    @staticmethod
    def _recorded_id(directory: Path) -> str | None:
        try:
            return (directory / ID_FILE).read_text(encoding="utf-8")
        except OSError:
            pass
        try:
            data = json.loads((directory / MANIFEST_NAME).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        model_id = data.get("id") if isinstance(data, dict) else None
        return model_id if isinstance(model_id, str) else None
