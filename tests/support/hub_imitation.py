"""A local imitation of the Hugging Face Hub HTTP API, for tests and benchmarks.

Why: the router reads repo metadata and nodes download weights through the real `huggingface_hub`
client (and plain `requests`). Tests must exercise that real client code path — URL building, error
mapping through `X-Error-Code`, ETag/commit headers, Range resumes — without the network. So this
module speaks the Hub's wire protocol (the subset `huggingface_hub` 2.4.0 uses for model repos) on
127.0.0.1, using the standard library only:

- ``GET /api/models/{repo}`` and ``/api/models/{repo}/revision/{rev}`` (``?blobs=true`` adds sizes,
  blob ids and LFS sha256),
- ``GET /api/models/{repo}/tree/{rev}[/{path}]`` (``?recursive=true``),
- ``HEAD``/``GET /{repo}/resolve/{rev}/{path}`` with ``X-Repo-Commit``, ``ETag``, ``X-Linked-*`` and
  byte ranges.

It never advertises Xet storage (no ``X-Xet-Hash`` header, no ``xetHash`` in tree entries), so the
client always falls back to plain HTTP downloads that this server can answer.

Failure modes for resilience tests: ``mode = "hang"`` (requests are read, never answered),
``mode = "error500"``, and ``throttle_bytes_per_second`` for slow downloads. For hostile-Hub tests,
``rewrite_answers(repo_id, rewrite)`` replaces the JSON the Hub sends about one repo.
"""

from __future__ import annotations

import copy
import hashlib
import json
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

__all__ = [
    "HubFile",
    "HubRepo",
    "HubImitation",
    "JsonRewrite",
    "RecordedRequest",
    "gguf_bytes",
    "ct2_repo_files",
]

MODES = ("normal", "hang", "error500")

# The Hub stores a file in Git LFS when .gitattributes says so; this imitation uses a simple rule
# instead: anything over 1 KiB, and weights, are LFS files (so both code paths get exercised).
LFS_THRESHOLD_BYTES = 1024
_LFS_SUFFIXES = (".gguf", ".bin")

# Fixed timestamps keep every response deterministic (the client parses them, nothing compares them).
_CREATED_AT = "2024-01-02T03:04:05.000Z"
_LAST_MODIFIED = "2024-06-07T08:09:10.000Z"

# Largest slice written to the socket in one call when not throttled (avoids copying huge bodies).
_WRITE_SLICE = 1024 * 1024

# A hostile Hub's answer about one repo: called with the route ("info" for /api/models/{repo}[/revision/{rev}],
# "tree" for /api/models/{repo}/tree/...) and the honest JSON payload; returns what is sent instead.
JsonRewrite = Callable[[str, object], object]


# --------------------------------------------------------------------------------------------------
# Public data model
# --------------------------------------------------------------------------------------------------


@dataclass
class HubFile:
    """One file of a repo: its path inside the repo and its exact bytes."""

    path: str  # e.g. "model.Q4_K_M.gguf" or "sub/dir/x.json"
    content: bytes


@dataclass
class HubRepo:
    """A model repo served by the imitation. `sha` is the commit the Hub would report for `main`."""

    repo_id: str  # "org/name"
    files: list[HubFile]
    downloads: int = 0
    likes: int = 0
    tags: list[str] = field(default_factory=list)
    sha: str = ""  # computed from repo_id and file contents when left empty

    def __post_init__(self) -> None:
        # A deterministic commit id: same repo content -> same sha, so caches and assertions are stable.
        if not self.sha:
            digest = hashlib.sha1(b"hub-imitation-commit\0" + self.repo_id.encode())
            for item in sorted(self.files, key=lambda f: f.path):
                digest.update(b"\0" + item.path.encode() + b"\0" + hashlib.sha256(item.content).digest())
            self.sha = digest.hexdigest()


@dataclass
class RecordedRequest:
    """What the server received, so tests can assert on what the client actually sent."""

    method: str
    path: str  # path without query string (still URL-encoded, as sent)
    query: str  # raw query string ("" if none)
    headers: dict[str, str]

    def header(self, name: str, default: str | None = None) -> str | None:
        """Case-insensitive header lookup (clients differ in how they capitalise names)."""
        lowered = name.lower()
        for key, value in self.headers.items():
            if key.lower() == lowered:
                return value
        return default


# --------------------------------------------------------------------------------------------------
# Test data helpers
# --------------------------------------------------------------------------------------------------


def repo_from_directory(repo_id: str, directory: Path, **kwargs) -> HubRepo:
    """A repo holding a real model's files (e.g. tests/data/tiny-model/ct2), paths relative to `directory`."""
    files = [HubFile(path.relative_to(directory).as_posix(), path.read_bytes())
             for path in sorted(directory.rglob("*")) if path.is_file()]
    return HubRepo(repo_id, files, **kwargs)


def _pseudo_random(label: bytes, size: int) -> bytes:
    """Deterministic filler; SHAKE-256 is an extendable-output hash, fast enough for large files."""
    if size <= 0:
        return b""
    return hashlib.shake_256(label).digest(size)


def gguf_bytes(seed: str, size: int) -> bytes:
    """Deterministic GGUF-looking bytes: magic b"GGUF", uint32 LE version 3, then pseudo-random fill.

    Why: the router and nodes sniff the GGUF magic; tests need files that pass that check, differ
    per seed, and are reproducible so checksums can be asserted.
    """
    if size < 0:
        raise ValueError("size must be >= 0")
    header = b"GGUF" + struct.pack("<I", 3)
    if size <= len(header):
        return header[:size]
    return header + _pseudo_random(b"gguf\0" + seed.encode(), size - len(header))


def ct2_repo_files(seed: str) -> list[HubFile]:
    """A small CTranslate2-style repo: model.bin (~4 KiB), config.json, tokenizer, vocabulary, docs.

    Why: the router recognises CTranslate2 repos by these names; tests need a realistic, tiny,
    deterministic layout (model.bin is an LFS file, the JSON files are small regular files).
    """
    vocabulary = ["<unk>", "<s>", "</s>"] + [f"tok_{seed}_{i}" for i in range(29)]
    config = {
        "add_source_bos": False,
        "add_source_eos": False,
        "bos_token": "<s>",
        "decoder_start_token": "<s>",
        "eos_token": "</s>",
        "layer_norm_epsilon": 1e-05,
        "multi_query_attention": False,
        "unk_token": "<unk>",
        "imitation_seed": seed,
    }
    tokenizer = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [
            {"id": 0, "content": "<unk>", "special": True},
            {"id": 1, "content": "<s>", "special": True},
            {"id": 2, "content": "</s>", "special": True},
        ],
        "model": {"type": "BPE", "unk_token": "<unk>", "vocab": {tok: i for i, tok in enumerate(vocabulary)},
                  "merges": []},
    }
    readme = (f"---\nlibrary_name: ctranslate2\ntags:\n- ctranslate2\n---\n\n# Imitation CTranslate2 model ({seed})\n\n"
              "Converted with `ct2-transformers-converter` (not really: generated for tests).\n")
    gitattributes = "*.bin filter=lfs diff=lfs merge=lfs -text\n*.gguf filter=lfs diff=lfs merge=lfs -text\n"
    return [
        HubFile(".gitattributes", gitattributes.encode()),
        HubFile("README.md", readme.encode()),
        HubFile("config.json", json.dumps(config, indent=2).encode()),
        HubFile("model.bin", _pseudo_random(b"ct2-model\0" + seed.encode(), 4096)),
        HubFile("tokenizer.json", json.dumps(tokenizer).encode()),
        HubFile("vocabulary.json", json.dumps(vocabulary).encode()),
    ]


# --------------------------------------------------------------------------------------------------
# Internal index (precomputed hashes, immutable once built)
# --------------------------------------------------------------------------------------------------


def _git_blob_sha1(data: bytes) -> str:
    """Git's object id for a blob, which is what the Hub calls `oid`/`blobId`."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass(frozen=True)
class _FileEntry:
    path: str
    content: bytes
    size: int
    blob_id: str  # git oid of what git stores: the LFS pointer for LFS files, else the content
    sha256: str
    lfs: bool
    pointer_size: int

    @property
    def etag(self) -> str:
        # What the Hub puts in ETag/X-Linked-Etag: sha256 for LFS files, git blob id otherwise.
        return self.sha256 if self.lfs else self.blob_id

    @classmethod
    def build(cls, path: str, content: bytes) -> "_FileEntry":
        content = bytes(content)
        sha256 = hashlib.sha256(content).hexdigest()
        lfs = len(content) > LFS_THRESHOLD_BYTES or path.lower().endswith(_LFS_SUFFIXES)
        if lfs:
            pointer = (f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {len(content)}\n"
                       ).encode()
            blob_id, pointer_size = _git_blob_sha1(pointer), len(pointer)
        else:
            blob_id, pointer_size = _git_blob_sha1(content), 0
        return cls(path, content, len(content), blob_id, sha256, lfs, pointer_size)


@dataclass(frozen=True)
class _RepoIndex:
    repo_id: str
    sha: str
    downloads: int
    likes: int
    tags: tuple[str, ...]
    files: dict[str, _FileEntry]  # insertion order = the order the repo listed them
    directories: frozenset[str]

    @classmethod
    def build(cls, repo: HubRepo) -> "_RepoIndex":
        files: dict[str, _FileEntry] = {}
        for item in repo.files:
            path = item.path.strip("/")
            if not path or any(part in ("", ".", "..") for part in path.split("/")):
                raise ValueError(f"invalid file path in {repo.repo_id}: {item.path!r}")
            files[path] = _FileEntry.build(path, item.content)
        directories = set()
        for path in files:
            parts = path.split("/")[:-1]
            for i in range(1, len(parts) + 1):
                directories.add("/".join(parts[:i]))
        return cls(repo.repo_id, repo.sha, repo.downloads, repo.likes, tuple(repo.tags), files,
                   frozenset(directories))

    def tree_oid(self, directory: str) -> str:
        digest = hashlib.sha1(b"tree\0" + directory.encode())
        prefix = directory + "/"
        for path, entry in sorted(self.files.items()):
            if path.startswith(prefix):
                digest.update(path.encode() + b"\0" + entry.blob_id.encode())
        return digest.hexdigest()


def _is_true(values: list[str] | None) -> bool:
    return bool(values) and values[-1].strip().lower() in ("true", "1", "yes")


# --------------------------------------------------------------------------------------------------
# HTTP server
# --------------------------------------------------------------------------------------------------


class _Abandon(Exception):
    """Raised inside a handler to drop the connection without answering (hang released by stop())."""


# Client went away, timed out, or stop() shut the socket: all mean "drop this connection quietly".
_DISCONNECT_ERRORS = (OSError, _Abandon)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128  # benchmarks open many connections at once

    def __init__(self, hub: "HubImitation") -> None:
        self.hub = hub
        self.connections: set[socket.socket] = set()
        self.handler_threads: set[threading.Thread] = set()
        self.tracking_lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)

    def handle_error(self, request, client_address) -> None:  # noqa: ANN001 - socketserver signature
        # Quiet: disconnects are expected in tests (timeouts, hang mode); never print tracebacks.
        pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive; every response carries Content-Length
    server: _Server
    server_version = "HubImitation/1.0"
    sys_version = ""

    # -- connection lifecycle ---------------------------------------------------------------------

    def setup(self) -> None:
        super().setup()
        with self.server.tracking_lock:
            self.server.connections.add(self.connection)
            self.server.handler_threads.add(threading.current_thread())

    def handle(self) -> None:
        try:
            super().handle()
        except (OSError, _Abandon):
            pass  # client went away or server is stopping: nothing to report

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass
        finally:
            with self.server.tracking_lock:
                self.server.connections.discard(self.connection)
                self.server.handler_threads.discard(threading.current_thread())

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - BaseHTTPRequestHandler signature
        pass  # quiet: tests and benchmarks must not spam stderr

    # -- methods ----------------------------------------------------------------------------------

    def do_GET(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def do_OPTIONS(self) -> None:
        self._dispatch()

    # -- plumbing ---------------------------------------------------------------------------------

    def _read_body(self) -> bytes:
        """Consume the request body so keep-alive connections stay in sync."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                line = self.rfile.readline(65537)
                if not line:
                    raise _Abandon()
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline(65537)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _dispatch(self) -> None:
        hub = self.server.hub
        self._responded = False
        try:
            split = urlsplit(self.path)
            self._read_body()
            hub._record(RecordedRequest(self.command, split.path, split.query, dict(self.headers.items())))
            if not hub._wait_while_hung():
                raise _Abandon()
            if hub.mode == "error500":
                self._send_json(500, {"error": "Internal Server Error (hub imitation error500 mode)"})
                return
            self._route(split.path, split.query)
        except _DISCONNECT_ERRORS:
            self.close_connection = True
            raise _Abandon() from None
        except Exception as exc:  # a bug here must surface in the test, not as a silent hang
            hub._record_error(exc)
            self.close_connection = True
            if not self._responded:
                try:
                    self._send_json(500, {"error": f"hub imitation internal error: {type(exc).__name__}: {exc}"})
                except OSError:
                    pass

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None,
              content_type: str = "application/json; charset=utf-8") -> None:
        self._responded = True
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)

    def _send_json(self, status: int, payload: object, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(payload).encode(), headers)

    def _not_found(self, error_code: str | None, message: str, headers: dict[str, str] | None = None) -> None:
        extra = dict(headers or {})
        if error_code is not None:
            extra["X-Error-Code"] = error_code
            extra["X-Error-Message"] = message
        self._send_json(404, {"error": message}, extra)

    # -- routing ----------------------------------------------------------------------------------

    def _route(self, raw_path: str, query: str) -> None:
        segments = [unquote(part) for part in raw_path.split("/") if part != ""]
        params = parse_qs(query, keep_blank_values=True)
        method = self.command
        if len(segments) >= 2 and segments[0] == "api" and segments[1] == "models" and method in ("GET", "HEAD"):
            return self._route_api_models(segments[2:], params)
        if method in ("GET", "HEAD"):
            for repo_len in (2, 1):  # "org/name/resolve/..." (or a legacy "name/resolve/...")
                if len(segments) > repo_len + 1 and segments[repo_len] == "resolve":
                    return self._route_resolve(segments[:repo_len], segments[repo_len + 1:])
        self._not_found(None, f"Not found: {method} {raw_path}")

    def _find_repo(self, rest: list[str]) -> tuple[_RepoIndex | None, list[str]]:
        """Split `rest` into a known repo id and what follows; repo ids are `org/name` (or `name`)."""
        hub = self.server.hub
        if len(rest) >= 2:
            repo = hub._get_repo("/".join(rest[:2]))
            if repo is not None:
                return repo, rest[2:]
        if rest:
            repo = hub._get_repo(rest[0])
            if repo is not None:
                return repo, rest[1:]
        return None, rest

    def _check_revision(self, repo: _RepoIndex, revision: str) -> bool:
        if revision in ("main", repo.sha):
            return True
        self._not_found("RevisionNotFound", f"Invalid rev id: {revision}")
        return False

    def _repo_not_found(self) -> None:
        self._not_found("RepoNotFound", "Repository not found")

    def _route_api_models(self, rest: list[str], params: dict[str, list[str]]) -> None:
        if not rest:
            return self._not_found(None, "Listing models is not imitated")
        repo, tail = self._find_repo(rest)
        if repo is None:
            return self._repo_not_found()
        if not tail:
            return self._model_info(repo, params)
        if tail[0] == "revision" and len(tail) >= 2:
            # The client quotes the revision with safe="" (one segment); tolerate raw slashes too.
            if self._check_revision(repo, "/".join(tail[1:])):
                self._model_info(repo, params)
            return None
        if tail[0] == "tree" and len(tail) >= 2:
            if self._check_revision(repo, tail[1]):
                self._tree(repo, "/".join(tail[2:]).strip("/"), params)
            return None
        return self._not_found(None, f"Not found: {self.path}")

    def _model_info(self, repo: _RepoIndex, params: dict[str, list[str]]) -> None:
        blobs = _is_true(params.get("blobs"))
        siblings = []
        for entry in repo.files.values():
            sibling: dict[str, object] = {"rfilename": entry.path}
            if blobs:
                sibling["blobId"] = entry.blob_id
                sibling["size"] = entry.size
                if entry.lfs:
                    sibling["lfs"] = {"size": entry.size, "sha256": entry.sha256, "pointerSize": entry.pointer_size}
            siblings.append(sibling)
        author = repo.repo_id.split("/", 1)[0] if "/" in repo.repo_id else None
        payload = {
            "_id": hashlib.sha1(b"id\0" + repo.repo_id.encode()).hexdigest()[:24],
            "id": repo.repo_id,
            "modelId": repo.repo_id,
            "author": author,
            "sha": repo.sha,
            "downloads": repo.downloads,
            "likes": repo.likes,
            "tags": list(repo.tags),
            "private": False,
            "gated": False,
            "disabled": False,
            "lastModified": _LAST_MODIFIED,
            "createdAt": _CREATED_AT,
            "library_name": None,
            "siblings": siblings,
        }
        self._send_json(200, self.server.hub._rewritten(repo.repo_id, "info", payload))

    def _tree(self, repo: _RepoIndex, directory: str, params: dict[str, list[str]]) -> None:
        recursive = _is_true(params.get("recursive"))
        if directory and directory not in repo.directories:
            return self._not_found("EntryNotFound", f"{directory} does not exist on \"main\"",
                                   {"X-Repo-Commit": repo.sha})
        prefix = directory + "/" if directory else ""
        items: list[dict[str, object]] = []
        for sub in sorted(repo.directories):
            if sub.startswith(prefix) and (recursive or "/" not in sub[len(prefix):]):
                items.append({"type": "directory", "oid": repo.tree_oid(sub), "size": 0, "path": sub})
        for path, entry in sorted(repo.files.items()):
            if path.startswith(prefix) and (recursive or "/" not in path[len(prefix):]):
                item: dict[str, object] = {"type": "file", "oid": entry.blob_id, "size": entry.size, "path": path}
                if entry.lfs:
                    item["lfs"] = {"oid": entry.sha256, "size": entry.size, "pointerSize": entry.pointer_size}
                items.append(item)
        items.sort(key=lambda item: str(item["path"]))
        self._send_json(200, self.server.hub._rewritten(repo.repo_id, "tree", items))

    def _route_resolve(self, repo_parts: list[str], rest: list[str]) -> None:
        repo = self.server.hub._get_repo("/".join(repo_parts))
        if repo is None:
            return self._repo_not_found()
        revision, file_path = rest[0], "/".join(rest[1:])
        if not self._check_revision(repo, revision):
            return None
        entry = repo.files.get(file_path)
        if entry is None:
            # The real Hub sends the commit even on a missing entry; the client caches the absence with it.
            return self._not_found("EntryNotFound", "Entry not found", {"X-Repo-Commit": repo.sha})
        return self._serve_file(repo, entry)

    def _serve_file(self, repo: _RepoIndex, entry: _FileEntry) -> None:
        total = entry.size
        headers = {
            "X-Repo-Commit": repo.sha,
            "ETag": f'"{entry.etag}"',
            "Accept-Ranges": "bytes",
        }
        if entry.lfs:
            headers["X-Linked-Size"] = str(total)
            headers["X-Linked-Etag"] = f'"{entry.sha256}"'

        status, start, end = 200, 0, total  # end is exclusive
        range_header = self.headers.get("Range")
        if range_header:
            parsed = _parse_range(range_header, total)
            if parsed == "unsatisfiable":
                headers["Content-Range"] = f"bytes */{total}"
                self._send_json(416, {"error": "Requested Range Not Satisfiable"}, headers)
                return
            if parsed is not None:
                start, end = parsed
                status = 206
                headers["Content-Range"] = f"bytes {start}-{end - 1}/{total}"

        self._responded = True
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(end - start))
        self.end_headers()
        if self.command == "HEAD":
            return
        self._write_body(memoryview(entry.content)[start:end])

    def _write_body(self, body: memoryview) -> None:
        hub = self.server.hub
        sent = 0
        started = time.monotonic()
        while sent < len(body):
            if hub._stop_event.is_set():
                raise _Abandon()
            rate = hub.throttle_bytes_per_second
            if not rate or rate <= 0:
                chunk = body[sent:sent + _WRITE_SLICE]
                self.wfile.write(chunk)
                sent += len(chunk)
                started = time.monotonic()  # pacing restarts if a throttle is set mid-download
                continue
            chunk_size = max(1, min(64 * 1024, rate // 50))  # ~50 writes per second
            chunk = body[sent:sent + chunk_size]
            self.wfile.write(chunk)
            sent += len(chunk)
            delay = started + sent / rate - time.monotonic()
            if delay > 0 and hub._stop_event.wait(delay):
                raise _Abandon()


def _parse_range(header: str, total: int) -> tuple[int, int] | str | None:
    """Parse a single `bytes=` range into (start, end_exclusive).

    Returns "unsatisfiable" for a valid but impossible range, or None to ignore the header (invalid
    syntax or multiple ranges; RFC 9110 lets a server answer those with the full 200 response).
    """
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, dash, last = spec.strip().partition("-")
    if not dash:
        return None
    try:
        if first == "":  # suffix range: the last N bytes
            suffix = int(last)
            if suffix <= 0 or total == 0:
                return "unsatisfiable"
            return max(0, total - suffix), total
        start = int(first)
        last_inclusive = int(last) if last != "" else None
    except ValueError:
        return None
    if start < 0 or (last_inclusive is not None and last_inclusive < start):
        return None  # syntactically invalid: ignore the header
    if start >= total:
        return "unsatisfiable"
    end = total if last_inclusive is None else min(last_inclusive + 1, total)
    return start, end


# --------------------------------------------------------------------------------------------------
# Public server object
# --------------------------------------------------------------------------------------------------


class HubImitation:
    """A Hub-compatible HTTP server on 127.0.0.1 holding in-memory repos.

    Use as a context manager (`with HubImitation([...]) as hub:`) or call start()/stop(). Point the
    client at `hub.url` (pass `endpoint=` explicitly: huggingface_hub reads HF_ENDPOINT at import).
    """

    def __init__(self, repos: Iterable[HubRepo] = ()) -> None:
        self._lock = threading.Lock()
        self._repos: dict[str, _RepoIndex] = {}
        self._rewrites: dict[str, JsonRewrite] = {}
        self._mode = "normal"
        self._mode_changed = threading.Condition(threading.Lock())
        self._stop_event = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.throttle_bytes_per_second: int | None = None
        self.requests: list[RecordedRequest] = []
        # Exceptions raised by handler code (bugs in the imitation, surfaced as HTTP 500 + kept here).
        self.handler_errors: list[BaseException] = []
        for repo in repos:
            self.add_repo(repo)

    # -- repos ------------------------------------------------------------------------------------

    def add_repo(self, repo: HubRepo) -> None:
        """Serve `repo` (replacing one with the same id); hashes are computed once, here."""
        index = _RepoIndex.build(repo)
        with self._lock:
            self._repos[repo.repo_id] = index

    def remove_repo(self, repo_id: str) -> None:
        """Stop serving a repo; later requests for it get RepoNotFound."""
        with self._lock:
            self._repos.pop(repo_id, None)

    def _get_repo(self, repo_id: str) -> _RepoIndex | None:
        with self._lock:
            return self._repos.get(repo_id)

    def rewrite_answers(self, repo_id: str, rewrite: JsonRewrite | None) -> None:
        """Make the Hub hostile for one repo: `rewrite(route, payload)` returns the JSON to send instead
        (a deep copy of the honest answer, so it may be changed in place). None answers honestly again.

        Why: the router must survive a Hub whose answers are malformed (missing fields, strings or
        huge numbers for sizes, odd revisions). Answers are serialized like Python's json module does,
        so a float('inf') goes out as the non-standard `Infinity` token, which Python clients accept.
        """
        with self._lock:
            if rewrite is None:
                self._rewrites.pop(repo_id, None)
            else:
                self._rewrites[repo_id] = rewrite

    def _rewritten(self, repo_id: str, route: str, payload: object) -> object:
        with self._lock:
            rewrite = self._rewrites.get(repo_id)
        return payload if rewrite is None else rewrite(route, copy.deepcopy(payload))

    # -- behaviour switches -----------------------------------------------------------------------

    @property
    def mode(self) -> str:
        """Current mode: "normal", "hang" (read requests, never answer) or "error500" (500 for everything)."""
        return self._mode

    @mode.setter
    def mode(self, value: str) -> None:
        if value not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {value!r}")
        with self._mode_changed:
            self._mode = value
            self._mode_changed.notify_all()  # wake hung handlers

    def _wait_while_hung(self) -> bool:
        """Block while in hang mode; False when released by stop() (the request is then dropped)."""
        with self._mode_changed:
            self._mode_changed.wait_for(lambda: self._mode != "hang" or self._stop_event.is_set())
        return not self._stop_event.is_set()

    # -- recording --------------------------------------------------------------------------------

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def _record_error(self, exc: BaseException) -> None:
        with self._lock:
            self.handler_errors.append(exc)

    def clear_requests(self) -> None:
        """Forget recorded requests (e.g. between phases of a test)."""
        with self._lock:
            self.requests.clear()

    # -- lifecycle --------------------------------------------------------------------------------

    def start(self) -> "HubImitation":
        """Bind 127.0.0.1 on a free port and serve in a daemon thread; returns self for chaining."""
        if self._server is not None:
            return self
        self._stop_event.clear()
        server = _Server(self)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                  name=f"hub-imitation:{server.server_address[1]}", daemon=True)
        self._server, self._thread = server, thread
        thread.start()
        return self

    def stop(self) -> None:
        """Shut down, release hung/throttled handlers, close every socket; safe to call twice."""
        server, thread = self._server, self._thread
        if server is None:
            return
        self._server, self._thread = None, None
        with self._mode_changed:
            self._stop_event.set()
            self._mode_changed.notify_all()
        server.shutdown()  # returns once serve_forever has left its loop
        with server.tracking_lock:
            connections = list(server.connections)
            handler_threads = list(server.handler_threads)
        for conn in connections:  # wake handlers blocked reading a keep-alive connection
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        server.server_close()
        deadline = time.monotonic() + 1.5
        if thread is not None:
            thread.join(max(0.0, deadline - time.monotonic()))
        for handler_thread in handler_threads:
            handler_thread.join(max(0.0, deadline - time.monotonic()))

    @property
    def url(self) -> str:
        """Base URL to pass as `endpoint=`, e.g. "http://127.0.0.1:40123"."""
        if self._server is None:
            raise RuntimeError("HubImitation is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> "HubImitation":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
