"""Downloader against the Hub imitation: resume (in-process and after SIGKILL), verification,
retries (500, hang, mid-body stall, refused), permanent errors, cancel and the per-file lock."""

from __future__ import annotations

import hashlib
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from node_agent.downloader import DownloadCancelled, Downloader, DownloadError, FileSpec
from tests.support.hub_imitation import HubFile, HubImitation, HubRepo, RecordedRequest, gguf_bytes
from tests.support.counting_proxy import CountingProxy
from tests.support.json_server import JsonServer, Request

ROOT = Path(__file__).resolve().parents[2]
KiB, MiB = 1024, 1024 * 1024
REPO = "acme/node-test-GGUF"
SMALL = "tiny.Q4_K_M.gguf"
BIG = "sub/dir/big.Q8_0.gguf"
CONTENT = {SMALL: gguf_bytes("small", 300 * KiB + 7), BIG: gguf_bytes("big", 4 * MiB)}


def spec(name: str, sha256: str | None = "auto") -> FileSpec:
    data = CONTENT[name]
    return FileSpec(name, len(data), hashlib.sha256(data).hexdigest() if sha256 == "auto" else sha256)


@pytest.fixture()
def node_hub() -> Iterator[HubImitation]:
    """A fresh Hub per test (not the session `hub` of tests/conftest.py): tests change its mode."""
    hub = HubImitation([HubRepo(REPO, [HubFile(name, data) for name, data in CONTENT.items()])]).start()
    yield hub
    hub.stop()


@pytest.fixture()
def paths(tmp_path: Path) -> Callable[[str], tuple[Path, Path]]:
    def make(name: str) -> tuple[Path, Path]:
        return tmp_path / "model" / name, tmp_path / "model" / ".partial" / (name + ".part")
    return make


def fast(node_hub: HubImitation, **kwargs: object) -> Downloader:
    options = {"chunk_size": 64 * KiB, "stall_timeout": 5.0, "connect_timeout": 2.0, "max_backoff": 0.2}
    options.update(kwargs)
    return Downloader(node_hub.url, **options)  # type: ignore[arg-type]


def file_gets(node_hub: HubImitation, name: str) -> list[RecordedRequest]:
    path = f"/{REPO}/resolve/main/{name}"
    return [r for r in list(node_hub.requests) if r.method == "GET" and r.path == path]


def wait_for(condition: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def size_of(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


class Background:
    """Runs download_file in a thread and keeps its outcome."""

    def __init__(self, target: Callable[[], None]) -> None:
        self.error: BaseException | None = None
        self.finished_at: float | None = None
        self.thread = threading.Thread(target=self._run, args=(target,), daemon=True)
        self.thread.start()

    def _run(self, target: Callable[[], None]) -> None:
        try:
            target()
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            self.error = exc
        finally:
            self.finished_at = time.monotonic()

    def join(self, timeout: float = 10.0) -> None:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "download did not finish in time"


# -- happy paths ------------------------------------------------------------------------------------


def test_full_download(node_hub: HubImitation, paths) -> None:
    dest, partial = paths(BIG)
    seen: list[int] = []
    with fast(node_hub, token="hf_secret") as downloader:
        downloader.download_file(REPO, "main", spec(BIG), dest, partial, progress=seen.append)
    assert dest.read_bytes() == CONTENT[BIG]
    assert not partial.exists()
    assert seen[-1] == len(CONTENT[BIG]) and seen == sorted(seen)
    [request] = file_gets(node_hub, BIG)
    assert request.header("Authorization") == "Bearer hf_secret"
    assert request.header("Range") == "bytes=0-"
    assert request.header("Accept-Encoding") == "identity"


def test_existing_destination_is_not_downloaded_again(node_hub: HubImitation, paths) -> None:
    dest, partial = paths(SMALL)
    with fast(node_hub) as downloader:
        downloader.download_file(REPO, "main", spec(SMALL), dest, partial)
        node_hub.clear_requests()
        seen: list[int] = []
        downloader.download_file(REPO, "main", spec(SMALL), dest, partial, progress=seen.append)
    assert file_gets(node_hub, SMALL) == [] and seen == [len(CONTENT[SMALL])]


def test_wrong_destination_is_replaced(node_hub: HubImitation, paths) -> None:
    dest, partial = paths(SMALL)
    dest.parent.mkdir(parents=True)
    dest.write_bytes(b"\0" * len(CONTENT[SMALL]))  # right size, wrong bytes
    with fast(node_hub) as downloader:
        downloader.download_file(REPO, "main", spec(SMALL), dest, partial)
    assert dest.read_bytes() == CONTENT[SMALL]


def test_resume_from_existing_partial(node_hub: HubImitation, paths) -> None:
    dest, partial = paths(BIG)
    resume_at = 1_234_567
    partial.parent.mkdir(parents=True)
    partial.write_bytes(CONTENT[BIG][:resume_at])
    seen: list[int] = []
    with fast(node_hub) as downloader:
        downloader.download_file(REPO, "main", spec(BIG), dest, partial, progress=seen.append)
    assert [r.header("Range") for r in file_gets(node_hub, BIG)] == [f"bytes={resume_at}-"]
    assert seen[0] == resume_at and seen[-1] == len(CONTENT[BIG])
    assert hashlib.sha256(dest.read_bytes()).hexdigest() == spec(BIG).sha256


def test_sigkill_resume_refetches_at_most_one_chunk(node_hub: HubImitation, tmp_path: Path) -> None:
    """The real failure: the agent process is killed mid-file and started again."""
    dest, partial = tmp_path / "big.gguf", tmp_path / ".partial" / "big.gguf.part"
    size, chunk = len(CONTENT[BIG]), MiB
    with CountingProxy(node_hub.url) as proxy:
        command = [sys.executable, "-m", "node_agent.downloader", "--endpoint", proxy.url, "--repo", REPO,
                   "--revision", "main", "--file", BIG, "--size", str(size), "--sha256", spec(BIG).sha256,
                   "--dest", str(dest), "--partial", str(partial), "--chunk-size", str(chunk)]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        node_hub.throttle_bytes_per_second = 2 * MiB
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            wait_for(lambda: size_of(partial) > MiB or process.poll() is not None, 20, "the partial to grow")
        finally:
            os.kill(process.pid, signal.SIGKILL)
            process.communicate(timeout=10)
        assert process.returncode == -signal.SIGKILL
        killed_at = size_of(partial)
        assert MiB < killed_at < size and not dest.exists()

        node_hub.throttle_bytes_per_second = None
        second = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
        assert second.returncode == 0, second.stderr
        proxy_bytes = proxy.body_bytes(f"/{REPO}/resolve/main/{BIG}")

    assert [r.header("Range") for r in file_gets(node_hub, BIG)] == ["bytes=0-", f"bytes={killed_at}-"]
    assert hashlib.sha256(dest.read_bytes()).hexdigest() == spec(BIG).sha256
    # From the recorded ranges: the resumed request served size - killed_at bytes ...
    served_after_restart = size - killed_at
    # ... and the proxy measured what the killed request really delivered before it died.
    assert proxy_bytes >= size
    assert proxy_bytes - size <= chunk, f"{proxy_bytes - size} bytes fetched again"
    assert served_after_restart + killed_at == size


# -- verification -----------------------------------------------------------------------------------


def test_corrupt_full_length_partial_is_fetched_again(node_hub: HubImitation, paths, caplog) -> None:
    dest, partial = paths(SMALL)
    partial.parent.mkdir(parents=True)
    partial.write_bytes(b"\xff" * len(CONTENT[SMALL]))
    with caplog.at_level(logging.WARNING, logger="node_agent.downloader"), fast(node_hub) as downloader:
        downloader.download_file(REPO, "main", spec(SMALL), dest, partial)
    assert dest.read_bytes() == CONTENT[SMALL]
    assert [r.header("Range") for r in file_gets(node_hub, SMALL)] == ["bytes=0-"]
    assert "sha256 mismatch" in caplog.text


def test_corrupt_prefix_is_detected_after_resume(node_hub: HubImitation, paths) -> None:
    dest, partial = paths(SMALL)
    partial.parent.mkdir(parents=True)
    partial.write_bytes(b"\xff" * 1000)
    with fast(node_hub) as downloader:
        downloader.download_file(REPO, "main", spec(SMALL), dest, partial)
    assert dest.read_bytes() == CONTENT[SMALL]
    assert [r.header("Range") for r in file_gets(node_hub, SMALL)] == ["bytes=1000-", "bytes=0-"]


def test_second_sha_mismatch_raises(node_hub: HubImitation, paths) -> None:
    dest, partial = paths(SMALL)
    with fast(node_hub) as downloader, pytest.raises(DownloadError, match="sha256 mismatch"):
        downloader.download_file(REPO, "main", spec(SMALL, sha256="0" * 64), dest, partial)
    assert not dest.exists() and not partial.exists()
    assert len(file_gets(node_hub, SMALL)) == 2


def test_size_without_sha_is_enough(node_hub: HubImitation, paths) -> None:
    dest, partial = paths(SMALL)
    with fast(node_hub) as downloader:
        downloader.download_file(REPO, "main", spec(SMALL, sha256=None), dest, partial)
    assert dest.read_bytes() == CONTENT[SMALL]


def test_partial_longer_than_file_starts_over(node_hub: HubImitation, paths) -> None:
    dest, partial = paths(SMALL)
    partial.parent.mkdir(parents=True)
    partial.write_bytes(CONTENT[SMALL] + b"junk")
    with fast(node_hub) as downloader:
        downloader.download_file(REPO, "main", spec(SMALL), dest, partial)
    assert dest.read_bytes() == CONTENT[SMALL]
    assert [r.header("Range") for r in file_gets(node_hub, SMALL)] == ["bytes=0-"]


@pytest.mark.parametrize("delta", [-10, +10])
def test_size_different_on_hub_is_an_error(node_hub: HubImitation, paths, delta: int) -> None:
    dest, partial = paths(SMALL)
    wrong = FileSpec(SMALL, len(CONTENT[SMALL]) + delta, None)
    partial.parent.mkdir(parents=True)
    partial.write_bytes(CONTENT[SMALL] if delta > 0 else b"")  # > 0: ask beyond the end (HTTP 416)
    with fast(node_hub) as downloader, pytest.raises(DownloadError, match="bytes on the Hub"):
        downloader.download_file(REPO, "main", wrong, dest, partial)


# -- retries ----------------------------------------------------------------------------------------


def test_hub_500_is_retried(node_hub: HubImitation, paths, caplog) -> None:
    dest, partial = paths(SMALL)
    node_hub.mode = "error500"
    with caplog.at_level(logging.WARNING, logger="node_agent.downloader"), fast(node_hub) as downloader:
        job = Background(lambda: downloader.download_file(REPO, "main", spec(SMALL), dest, partial))
        wait_for(lambda: len(file_gets(node_hub, SMALL)) >= 3, what="three attempts")
        node_hub.mode = "normal"
        job.join()
    assert job.error is None and dest.read_bytes() == CONTENT[SMALL]
    assert "HTTP 500" in caplog.text and "retrying in" in caplog.text


def test_hanging_hub_is_reconnected(node_hub: HubImitation, paths) -> None:
    dest, partial = paths(SMALL)
    node_hub.mode = "hang"
    with fast(node_hub, stall_timeout=0.5) as downloader:
        job = Background(lambda: downloader.download_file(REPO, "main", spec(SMALL), dest, partial))
        wait_for(lambda: len(file_gets(node_hub, SMALL)) >= 2, what="a reconnect after the stall timeout")
        node_hub.mode = "normal"
        job.join()
    assert job.error is None and dest.read_bytes() == CONTENT[SMALL]


def test_stall_mid_body_reconnects_from_partial_size(node_hub: HubImitation, paths) -> None:
    dest, partial = paths(BIG)
    node_hub.throttle_bytes_per_second = 4 * MiB
    with fast(node_hub, stall_timeout=0.5) as downloader:
        job = Background(lambda: downloader.download_file(REPO, "main", spec(BIG), dest, partial))
        wait_for(lambda: size_of(partial) > 512 * KiB, what="the partial to grow")
        node_hub.throttle_bytes_per_second = 1  # the running response now waits ~forever between writes
        wait_for(lambda: len(file_gets(node_hub, BIG)) >= 2, what="a reconnect after the stall")
        node_hub.throttle_bytes_per_second = None
        job.join()
    assert job.error is None and dest.read_bytes() == CONTENT[BIG]
    ranges = [r.header("Range") for r in file_gets(node_hub, BIG)]
    assert ranges[0] == "bytes=0-" and all(r != "bytes=0-" for r in ranges[1:]), ranges


def test_connection_refused_is_retried_until_cancelled(paths, caplog) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    dest, partial = paths(SMALL)
    cancel = threading.Event()
    with caplog.at_level(logging.WARNING, logger="node_agent.downloader"), \
            Downloader(f"http://127.0.0.1:{port}", connect_timeout=1, max_backoff=0.2) as downloader:
        job = Background(lambda: downloader.download_file(REPO, "main", spec(SMALL), dest, partial, cancel=cancel))
        wait_for(lambda: caplog.text.count("retrying in") >= 2, what="two retries")
        cancel.set()
        job.join(5)
    assert isinstance(job.error, DownloadCancelled)
    assert "ConnectionError" in caplog.text


# -- permanent errors, cancel -----------------------------------------------------------------------


@pytest.mark.parametrize("repo, name, message", [
    (REPO, "missing.gguf", "file not found"),
    ("acme/no-such-repo", SMALL, "repository not found"),
])
def test_missing_on_hub_raises_quickly(node_hub: HubImitation, paths, repo: str, name: str, message: str) -> None:
    dest, partial = paths(name)
    started = time.monotonic()
    with fast(node_hub) as downloader, pytest.raises(DownloadError, match=message):
        downloader.download_file(repo, "main", FileSpec(name, 10, None), dest, partial)
    assert time.monotonic() - started < 2


def test_cancel_is_prompt_and_keeps_partial(node_hub: HubImitation, paths) -> None:
    dest, partial = paths(BIG)
    node_hub.throttle_bytes_per_second = 1 * MiB
    cancel = threading.Event()
    with fast(node_hub) as downloader:
        job = Background(lambda: downloader.download_file(REPO, "main", spec(BIG), dest, partial, cancel=cancel))
        wait_for(lambda: size_of(partial) > 100 * KiB, what="the partial to grow")
        cancelled_at = time.monotonic()
        cancel.set()
        job.join(5)
    assert isinstance(job.error, DownloadCancelled)
    assert job.finished_at is not None and job.finished_at - cancelled_at < 0.5
    kept = size_of(partial)
    assert kept > 100 * KiB and not dest.exists()
    assert CONTENT[BIG][:kept] == partial.read_bytes()


def test_same_file_is_downloaded_once(node_hub: HubImitation, paths) -> None:
    dest, partial = paths(BIG)
    node_hub.throttle_bytes_per_second = 16 * MiB  # ~0.25 s: both threads are surely running at once
    downloaders = [fast(node_hub), fast(node_hub)]
    start = threading.Barrier(2)

    def download(downloader: Downloader) -> Callable[[], None]:
        def run() -> None:
            start.wait()
            downloader.download_file(REPO, "main", spec(BIG), dest, partial)
        return run

    jobs = [Background(download(d)) for d in downloaders]
    for job in jobs:
        job.join()
    for downloader in downloaders:
        downloader.close()
    assert [job.error for job in jobs] == [None, None]
    assert len(file_gets(node_hub, BIG)) == 1
    assert dest.read_bytes() == CONTENT[BIG]


# -- servers that behave differently from the Hub ---------------------------------------------------


Script = list[tuple[int, dict[str, str], bytes]]


@pytest.fixture()
def scripted() -> Iterator[Callable[[Script], JsonServer]]:
    """Servers answering GETs from a script: one (status, headers, body) per request, the last repeats."""
    servers: list[JsonServer] = []

    def start(script: Script) -> JsonServer:
        answers = list(script)

        def answer(_request: Request) -> tuple[int, bytes, dict[str, str]]:
            status, headers, body = answers.pop(0) if len(answers) > 1 else answers[0]
            return status, body, headers

        server = JsonServer({"GET": answer}, http11=True, poll_interval=0.05).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def test_server_ignoring_range_restarts_from_zero(scripted, paths) -> None:
    server = scripted([(200, {}, CONTENT[SMALL])])
    dest, partial = paths(SMALL)
    partial.parent.mkdir(parents=True)
    partial.write_bytes(CONTENT[SMALL][:5000])
    with Downloader(server.url) as downloader:
        downloader.download_file(REPO, "main", spec(SMALL), dest, partial)
    assert dest.read_bytes() == CONTENT[SMALL]
    assert server.requests[0].headers["Range"] == "bytes=5000-"


def test_429_waits_for_retry_after(scripted, paths) -> None:
    server = scripted([(429, {"Retry-After": "0.4"}, b"slow down"), (200, {}, CONTENT[SMALL])])
    dest, partial = paths(SMALL)
    started = time.monotonic()
    with Downloader(server.url, max_backoff=5) as downloader:
        downloader.download_file(REPO, "main", spec(SMALL), dest, partial)
    assert 0.4 <= time.monotonic() - started < 3
    assert dest.read_bytes() == CONTENT[SMALL]
    assert "Authorization" not in server.requests[0].headers


@pytest.mark.parametrize("status, headers, message", [
    (403, {}, "access denied"),
    (401, {"X-Error-Message": "Invalid credentials"}, "Invalid credentials"),
    (206, {}, "without a usable Content-Range"),
])
def test_permanent_server_errors(scripted, paths, status: int, headers: dict[str, str], message: str) -> None:
    server = scripted([(status, headers, b"x" * 10)])
    dest, partial = paths(SMALL)
    with Downloader(server.url) as downloader, pytest.raises(DownloadError, match=message):
        downloader.download_file(REPO, "main", spec(SMALL), dest, partial)
    assert len(server.requests) == 1


# -- CLI ----------------------------------------------------------------------------------------------


def cli(endpoint: str, name: str, dest: Path, partial: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "node_agent.downloader", "--endpoint", endpoint, "--repo", REPO,
            "--revision", "main", "--file", name, "--size", str(len(CONTENT[name])), "--dest", str(dest),
            "--partial", str(partial), *extra]


def test_cli_exit_codes(node_hub: HubImitation, paths) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    dest, partial = paths(BIG)
    node_hub.throttle_bytes_per_second = 1 * MiB
    process = subprocess.Popen(cli(node_hub.url, BIG, dest, partial), cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: size_of(partial) > 64 * KiB or process.poll() is not None, 20, "the partial to grow")
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=5)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130, stderr
    assert "cancelled" in stderr and size_of(partial) > 64 * KiB and not dest.exists()

    missing = subprocess.run(cli(node_hub.url, SMALL, dest, partial, "--file", "missing.gguf"), cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=30)
    assert missing.returncode == 1 and "file not found" in missing.stderr
