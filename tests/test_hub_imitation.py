"""The Hub imitation must speak the protocol the real `huggingface_hub` client expects.

Why: other tests trust this server to stand in for huggingface.co; if it drifted from what the
client parses, they would test the imitation instead of the router. So these tests drive it with
the real client (HfApi, hf_hub_download, snapshot_download, get_hf_file_metadata) and `requests`.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
from huggingface_hub import HfApi, get_hf_file_metadata, hf_hub_download, hf_hub_url, snapshot_download
from huggingface_hub.errors import (
    EntryNotFoundError,
    HfHubHTTPError,
    RemoteEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.hf_api import RepoFile, RepoFolder

from tests.support.hub_imitation import HubFile, HubImitation, HubRepo, ct2_repo_files, gguf_bytes

GGUF_REPO = "imitation-org/tiny-model-GGUF"
CT2_REPO = "imitation-org/tiny-ct2"
GGUF_NAME = "tiny-model.Q4_K_M.gguf"


def _gguf_repo() -> HubRepo:
    return HubRepo(
        GGUF_REPO,
        [
            HubFile(GGUF_NAME, gguf_bytes("tiny-q4", 150_000)),
            HubFile("README.md", b"# tiny\n"),
            HubFile("config.json", b'{"model_type": "llama"}'),
        ],
        downloads=1234,
        likes=56,
        tags=["gguf", "llama"],
    )


def _ct2_repo() -> HubRepo:
    return HubRepo(CT2_REPO, ct2_repo_files("ct2") + [HubFile("extra/nested/notes.txt", b"nested file\n")])


@pytest.fixture
def start_hub() -> Iterator[Callable[..., HubImitation]]:
    """Start servers inside the test and guarantee they are stopped, leaving no thread or socket."""
    threads_before = set(threading.enumerate())
    hubs: list[HubImitation] = []
    servers = []

    def _start(*repos: HubRepo) -> HubImitation:
        hub = HubImitation(repos).start()
        hubs.append(hub)
        servers.append(hub._server)
        return hub

    try:
        yield _start
    finally:
        for hub in hubs:
            hub.stop()
    deadline = time.monotonic() + 2
    # Only the server's own threads count (tqdm, used by the client, keeps a monitor thread around).
    leftover = [t for t in threading.enumerate() if t not in threads_before and t.is_alive()
                and (t.name.startswith("hub-imitation") or "process_request_thread" in t.name)]
    while leftover and time.monotonic() < deadline:
        time.sleep(0.02)
        leftover = [t for t in leftover if t.is_alive()]
    assert not leftover, f"threads left behind: {leftover}"
    for server in servers:
        assert server.socket.fileno() == -1, "listening socket left open"
        assert not server.connections, "client connection left open"
        assert not server.handler_threads, "handler thread still running"


@pytest.fixture(autouse=True)
def _no_xet(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")


def _resolve_url(hub: HubImitation, repo: str, filename: str, revision: str = "main") -> str:
    return f"{hub.url}/{repo}/resolve/{revision}/{filename}"


# 1. model_info with files_metadata -----------------------------------------------------------------


def test_model_info_with_files_metadata(start_hub) -> None:
    repo = _gguf_repo()
    hub = start_hub(repo)
    info = HfApi(endpoint=hub.url, token=False).model_info(GGUF_REPO, files_metadata=True)

    assert info.id == GGUF_REPO
    assert info.sha == repo.sha and len(repo.sha) == 40
    assert (info.downloads, info.likes, info.tags) == (1234, 56, ["gguf", "llama"])
    assert info.private is False and info.gated is False
    assert info.last_modified is not None and info.created_at is not None
    by_name = {s.rfilename: s for s in info.siblings}
    assert set(by_name) == {f.path for f in repo.files}
    for item in repo.files:
        sibling = by_name[item.path]
        assert sibling.size == len(item.content)
        assert sibling.blob_id
    gguf = by_name[GGUF_NAME]
    assert gguf.lfs is not None
    assert gguf.lfs.sha256 == hashlib.sha256(repo.files[0].content).hexdigest()
    assert gguf.lfs.size == 150_000
    assert by_name["README.md"].lfs is None  # small non-weight files are regular git files

    # At an explicit revision (the commit sha), and without blobs (names only).
    plain = HfApi(endpoint=hub.url, token=False).model_info(GGUF_REPO, revision=repo.sha)
    assert plain.sha == repo.sha
    assert all(s.size is None and s.lfs is None for s in plain.siblings)


def test_list_repo_tree_flat_and_nested(start_hub) -> None:
    repo = _ct2_repo()
    hub = start_hub(repo)
    api = HfApi(endpoint=hub.url, token=False)

    recursive = list(api.list_repo_tree(CT2_REPO, recursive=True))
    files = {e.path: e for e in recursive if isinstance(e, RepoFile)}
    assert set(files) == {f.path for f in repo.files}
    assert {e.path for e in recursive if isinstance(e, RepoFolder)} == {"extra", "extra/nested"}
    model_bin = next(f for f in repo.files if f.path == "model.bin")
    assert files["model.bin"].lfs is not None
    assert files["model.bin"].lfs.sha256 == hashlib.sha256(model_bin.content).hexdigest()
    assert all(e.xet_hash is None for e in files.values())

    top = list(api.list_repo_tree(CT2_REPO))
    assert "extra/nested/notes.txt" not in {e.path for e in top}
    assert [e.path for e in top if isinstance(e, RepoFolder)] == ["extra"]
    nested = list(api.list_repo_tree(CT2_REPO, path_in_repo="extra/nested"))
    assert [e.path for e in nested] == ["extra/nested/notes.txt"]


# 2. hf_hub_download / get_hf_file_metadata ------------------------------------------------------------


def test_hf_hub_download_and_file_metadata(start_hub, tmp_path: Path) -> None:
    repo = _gguf_repo()
    hub = start_hub(repo)
    content = repo.files[0].content

    path = hf_hub_download(GGUF_REPO, GGUF_NAME, endpoint=hub.url, cache_dir=tmp_path, token=False)
    assert Path(path).read_bytes() == content
    assert repo.sha in path  # stored under snapshots/<commit from X-Repo-Commit>

    small = hf_hub_download(GGUF_REPO, "config.json", endpoint=hub.url, cache_dir=tmp_path, token=False)
    assert Path(small).read_bytes() == b'{"model_type": "llama"}'

    url = hf_hub_url(GGUF_REPO, GGUF_NAME, endpoint=hub.url)
    assert url == _resolve_url(hub, GGUF_REPO, GGUF_NAME)
    meta = get_hf_file_metadata(url, token=False)
    assert meta.commit_hash == repo.sha
    assert meta.etag == hashlib.sha256(content).hexdigest()
    assert meta.size == len(content)
    assert meta.xet_file_data is None

    head = requests.head(url, timeout=5)
    assert head.status_code == 200
    assert head.headers["Accept-Ranges"] == "bytes"
    assert head.headers["Content-Length"] == str(len(content))
    assert head.headers["X-Linked-Size"] == str(len(content))
    assert "X-Xet-Hash" not in head.headers and "Content-Encoding" not in head.headers


# 3. snapshot_download ----------------------------------------------------------------------------------


def test_snapshot_download_gets_every_file(start_hub, tmp_path: Path) -> None:
    repo = _ct2_repo()
    hub = start_hub(repo)
    folder = Path(snapshot_download(CT2_REPO, endpoint=hub.url, cache_dir=tmp_path, token=False))
    for item in repo.files:
        assert (folder / item.path).read_bytes() == item.content, item.path
    names = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    assert names == {f.path for f in repo.files}
    assert {"model.bin", "config.json", "tokenizer.json", "vocabulary.json", "README.md",
            ".gitattributes"} <= names


# 4. Range requests -------------------------------------------------------------------------------------


def test_range_requests(start_hub) -> None:
    repo = _gguf_repo()
    hub = start_hub(repo)
    content = repo.files[0].content
    total = len(content)
    url = _resolve_url(hub, GGUF_REPO, GGUF_NAME)

    with requests.Session() as session:  # keep-alive across several requests, HEAD included
        open_ended = session.get(url, headers={"Range": "bytes=100-"}, timeout=5)
        assert open_ended.status_code == 206
        assert open_ended.content == content[100:]
        assert open_ended.headers["Content-Range"] == f"bytes 100-{total - 1}/{total}"
        assert open_ended.headers["Content-Length"] == str(total - 100)

        assert session.head(url, timeout=5).status_code == 200

        bounded = session.get(url, headers={"Range": "bytes=100-199"}, timeout=5)
        assert bounded.status_code == 206
        assert bounded.content == content[100:200] and len(bounded.content) == 100
        assert bounded.headers["Content-Range"] == f"bytes 100-199/{total}"

        suffix = session.get(url, headers={"Range": "bytes=-10"}, timeout=5)
        assert suffix.status_code == 206 and suffix.content == content[-10:]

        beyond = session.get(url, headers={"Range": f"bytes={total}-"}, timeout=5)
        assert beyond.status_code == 416
        assert beyond.headers["Content-Range"] == f"bytes */{total}"

        full = session.get(url, timeout=5)
        assert full.status_code == 200 and full.content == content


# 5. Errors through the real client -------------------------------------------------------------------


def test_errors_map_to_client_exceptions(start_hub, tmp_path: Path) -> None:
    hub = start_hub(_gguf_repo())
    api = HfApi(endpoint=hub.url, token=False)

    with pytest.raises(RepositoryNotFoundError):
        api.model_info("imitation-org/does-not-exist")
    with pytest.raises(RepositoryNotFoundError):
        hf_hub_download("imitation-org/does-not-exist", "x.gguf", endpoint=hub.url, cache_dir=tmp_path,
                        token=False)
    with pytest.raises(RemoteEntryNotFoundError) as missing:
        hf_hub_download(GGUF_REPO, "missing.gguf", endpoint=hub.url, cache_dir=tmp_path, token=False)
    assert isinstance(missing.value, EntryNotFoundError)
    with pytest.raises(RevisionNotFoundError):
        api.model_info(GGUF_REPO, revision="no-such-branch")
    with pytest.raises(RevisionNotFoundError):
        api.model_info(GGUF_REPO, revision="refs/pr/1")  # sent URL-encoded as refs%2Fpr%2F1
    with pytest.raises(RevisionNotFoundError):
        hf_hub_download(GGUF_REPO, GGUF_NAME, revision="v9", endpoint=hub.url, cache_dir=tmp_path, token=False)

    unknown = requests.get(f"{hub.url}/api/whatever", timeout=5)
    assert unknown.status_code == 404 and "error" in unknown.json()
    assert "X-Error-Code" not in unknown.headers
    gone = requests.get(f"{hub.url}/api/models/imitation-org/does-not-exist", timeout=5)
    assert gone.status_code == 404 and gone.headers["X-Error-Code"] == "RepoNotFound"
    assert gone.json() == {"error": "Repository not found"}

    hub.remove_repo(GGUF_REPO)
    with pytest.raises(RepositoryNotFoundError):
        api.model_info(GGUF_REPO)


# 6. hang mode --------------------------------------------------------------------------------------------


def test_hang_mode_times_out_recovers_and_stops_promptly(start_hub) -> None:
    hub = start_hub(_gguf_repo())
    url = f"{hub.url}/api/models/{GGUF_REPO}"

    hub.mode = "hang"
    with pytest.raises(requests.exceptions.Timeout):
        requests.get(url, timeout=0.5)

    hub.mode = "normal"
    assert requests.get(url, timeout=5).status_code == 200

    hub.mode = "hang"
    outcomes: list[object] = []

    def _call() -> None:
        try:
            outcomes.append(requests.get(url, timeout=5).status_code)
        except requests.RequestException as exc:
            outcomes.append(exc)

    clients = [threading.Thread(target=_call) for _ in range(3)]
    for client in clients:
        client.start()
    deadline = time.monotonic() + 2
    while len(hub.requests) < 5 and time.monotonic() < deadline:  # wait until all three are hung server-side
        time.sleep(0.01)
    assert len(hub.requests) == 5

    started = time.monotonic()
    hub.stop()
    assert time.monotonic() - started < 2
    hub.stop()  # idempotent
    for client in clients:
        client.join(5)
    assert len(outcomes) == 3 and all(isinstance(o, requests.RequestException) for o in outcomes)


# 7. error500 mode ----------------------------------------------------------------------------------------


def test_error500_mode(start_hub) -> None:
    hub = start_hub(_gguf_repo())
    hub.mode = "error500"
    response = requests.get(f"{hub.url}/api/models/{GGUF_REPO}", timeout=5)
    assert response.status_code == 500 and "error" in response.json()
    assert requests.head(_resolve_url(hub, GGUF_REPO, GGUF_NAME), timeout=5).status_code == 500
    with pytest.raises(HfHubHTTPError) as failure:
        HfApi(endpoint=hub.url, token=False).model_info(GGUF_REPO)
    assert failure.value.response.status_code == 500
    hub.mode = "normal"
    assert requests.get(f"{hub.url}/api/models/{GGUF_REPO}", timeout=5).status_code == 200
    with pytest.raises(ValueError):
        hub.mode = "sideways"


# 8. throttling ---------------------------------------------------------------------------------------------


def test_throttle_slows_file_bodies(start_hub) -> None:
    content = gguf_bytes("throttled", 100_000)
    hub = start_hub(HubRepo("imitation-org/slow", [HubFile("slow.gguf", content)]))
    hub.throttle_bytes_per_second = 200_000
    started = time.monotonic()
    response = requests.get(_resolve_url(hub, "imitation-org/slow", "slow.gguf"), timeout=10)
    elapsed = time.monotonic() - started
    assert response.content == content
    assert elapsed >= 0.3, elapsed


# 9. request recording ----------------------------------------------------------------------------------------


def test_requests_are_recorded(start_hub) -> None:
    hub = start_hub(_gguf_repo())
    url = _resolve_url(hub, GGUF_REPO, GGUF_NAME)
    requests.get(url, headers={"Range": "bytes=0-9"}, params={"x": "1"}, timeout=5)
    HfApi(endpoint=hub.url, token=False).model_info(GGUF_REPO, files_metadata=True)

    first, second = hub.requests
    assert (first.method, first.path, first.query) == ("GET", f"/{GGUF_REPO}/resolve/main/{GGUF_NAME}", "x=1")
    assert first.headers["Range"] == "bytes=0-9"
    assert first.header("range") == "bytes=0-9"
    assert (second.method, second.path) == ("GET", f"/api/models/{GGUF_REPO}")
    assert "blobs=" in second.query

    hub.clear_requests()
    assert hub.requests == []
    assert hub.handler_errors == []


# helpers ---------------------------------------------------------------------------------------------------


def test_data_helpers_are_deterministic() -> None:
    data = gguf_bytes("seed", 64)
    assert data[:8] == b"GGUF\x03\x00\x00\x00" and len(data) == 64
    assert data == gguf_bytes("seed", 64) and data != gguf_bytes("other", 64)
    assert gguf_bytes("seed", 4) == b"GGUF"
    files = {f.path: f.content for f in ct2_repo_files("s")}
    assert set(files) == {"model.bin", "config.json", "tokenizer.json", "vocabulary.json", "README.md",
                          ".gitattributes"}
    assert 3000 < len(files["model.bin"]) < 5000
    assert files == {f.path: f.content for f in ct2_repo_files("s")}
    assert HubRepo("a/b", ct2_repo_files("s")).sha == HubRepo("a/b", ct2_repo_files("s")).sha
    assert HubRepo("a/b", ct2_repo_files("s")).sha != HubRepo("a/c", ct2_repo_files("s")).sha
