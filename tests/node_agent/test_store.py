"""ModelStore: directory layout, id -> directory mapping, path safety, manifests and deletion."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from node_agent.downloader import FileSpec
from node_agent.store import ModelStore, UnsafePathError, model_dir_name

GGUF_ID = "acme/tiny-chat-gguf:q4_k_m"


@pytest.fixture()
def store(tmp_path: Path) -> ModelStore:
    return ModelStore(tmp_path / "models")


def put_file(store: ModelStore, model_id: str, name: str, data: bytes) -> Path:
    path = store.file_path(model_id, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


# -- layout -----------------------------------------------------------------------------------------


def test_layout(store: ModelStore) -> None:
    directory = store.model_dir(GGUF_ID)
    assert directory.parent == store.root
    assert directory.name.startswith("acme_tiny-chat-gguf_q4_k_m-")
    assert store.file_path(GGUF_ID, "sub/dir/w.bin") == directory / "sub" / "dir" / "w.bin"
    assert store.partial_path(GGUF_ID, "sub/dir/w.bin") == directory / ".partial" / "sub" / "dir" / "w.bin.part"
    assert store.manifest_path(GGUF_ID) == directory / "model.json"
    assert not directory.exists(), "computing paths must not create anything"


@pytest.mark.parametrize("model_id, readable", [
    ("qwen3-0.6b", "qwen3-0.6b"),
    ("acme/tiny-chat-gguf:q4_k_m", "acme_tiny-chat-gguf_q4_k_m"),
    ("org/Name-ct2", "org_Name-ct2"),
])
def test_dir_name_is_readable_plus_hash(model_id: str, readable: str) -> None:
    name = model_dir_name(model_id)
    prefix, _, digest = name.rpartition("-")
    assert prefix == readable
    assert len(digest) == 8 and all(ch in "0123456789abcdef" for ch in digest)
    assert model_dir_name(model_id) == name, "mapping must be stable"


def test_ids_that_sanitize_alike_do_not_collide(store: ModelStore) -> None:
    ids = ["a/b", "a:b", "a_b", "a b", "A/b", "a/b:", "a//b:x".replace("//", "/")]
    names = {model_dir_name(model_id) for model_id in ids}
    assert len(names) == len(ids)
    assert len({model_dir_name(f"org/model-{i}") for i in range(2000)}) == 2000


def test_long_id_gives_bounded_dir_name() -> None:
    assert len(model_dir_name("o/" + "x" * 190)) <= 64 + 1 + 8


# -- path safety ------------------------------------------------------------------------------------

UNSAFE = ["", "../x", "/etc/passwd", "a/../../b", "a/./b", "a//b", "..", "a\\b", "..\\x", "a\x00b",
          "a\nb", "a\x7fb", " a", "a ", "x" * 300]


@pytest.mark.parametrize("bad", UNSAFE + ["C:/x", "c:x"])
def test_unsafe_file_names_rejected(store: ModelStore, bad: str) -> None:
    with pytest.raises(UnsafePathError):
        store.file_path(GGUF_ID, bad)
    with pytest.raises(UnsafePathError):
        store.partial_path(GGUF_ID, bad)
    with pytest.raises(UnsafePathError):
        store.partial_bytes(GGUF_ID, bad)


@pytest.mark.parametrize("bad", UNSAFE)
def test_unsafe_model_ids_rejected(store: ModelStore, bad: str) -> None:
    with pytest.raises(UnsafePathError):
        store.model_dir(bad)
    with pytest.raises(UnsafePathError):
        store.delete_model(bad)


@pytest.mark.parametrize("bad", [None, 3, b"x"])
def test_non_string_rejected(store: ModelStore, bad: object) -> None:
    with pytest.raises(UnsafePathError):
        store.model_dir(bad)  # type: ignore[arg-type]
    with pytest.raises(UnsafePathError):
        store.file_path(GGUF_ID, bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("reserved", ["model.json", "MODEL.JSON", ".partial/x", ".model-id"])
def test_names_clashing_with_store_files_rejected(store: ModelStore, reserved: str) -> None:
    with pytest.raises(UnsafePathError, match="clashes"):
        store.file_path(GGUF_ID, reserved)


def test_long_segment_rejected_but_deep_paths_allowed(store: ModelStore) -> None:
    with pytest.raises(UnsafePathError):
        store.file_path(GGUF_ID, "d/" + "y" * 201)
    assert store.file_path(GGUF_ID, "/".join(["d"] * 50) + "/f.bin").name == "f.bin"


def test_symlink_escaping_the_root_rejected(store: ModelStore, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    directory = store.prepare(GGUF_ID)
    (directory / "link").symlink_to(outside)
    with pytest.raises(UnsafePathError, match="outside"):
        store.file_path(GGUF_ID, "link/x.gguf")


def test_prepare_records_id_and_detects_collision(store: ModelStore) -> None:
    directory = store.prepare(GGUF_ID)
    assert (directory / ".model-id").read_text() == GGUF_ID
    assert (directory / ".partial").is_dir()
    assert store.prepare(GGUF_ID) == directory  # idempotent
    (directory / ".model-id").write_text("someone/else")
    with pytest.raises(UnsafePathError, match="already holds"):
        store.prepare(GGUF_ID)


# -- manifest, readiness ----------------------------------------------------------------------------


def make_ready(store: ModelStore) -> list[FileSpec]:
    files = [FileSpec("m.gguf", 5, "ab" * 32), FileSpec("sub/t.json", 2, None)]
    store.prepare(GGUF_ID)
    put_file(store, GGUF_ID, "m.gguf", b"12345")
    put_file(store, GGUF_ID, "sub/t.json", b"{}")
    store.mark_ready(GGUF_ID, {"repo": "acme/tiny-chat-gguf", "revision": "c0ffee", "files": files})
    return files


def test_mark_ready_writes_manifest_atomically(store: ModelStore) -> None:
    make_ready(store)
    manifest = json.loads(store.manifest_path(GGUF_ID).read_text())
    assert manifest["id"] == GGUF_ID and manifest["state"] == "ready"
    assert manifest["repo"] == "acme/tiny-chat-gguf" and manifest["revision"] == "c0ffee"
    assert manifest["files"] == [{"name": "m.gguf", "size": 5, "sha256": "ab" * 32},
                                 {"name": "sub/t.json", "size": 2, "sha256": None}]
    assert store.read_manifest(GGUF_ID) == manifest
    leftovers = [p.name for p in store.model_dir(GGUF_ID).iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []


def test_mark_ready_refuses_missing_or_short_files(store: ModelStore) -> None:
    store.prepare(GGUF_ID)
    put_file(store, GGUF_ID, "m.gguf", b"123")
    with pytest.raises(ValueError, match="3 bytes"):
        store.mark_ready(GGUF_ID, {"repo": "r", "revision": "x", "files": [FileSpec("m.gguf", 5)]})
    with pytest.raises(ValueError, match="missing"):
        store.mark_ready(GGUF_ID, {"repo": "r", "revision": "x", "files": [{"name": "other.gguf", "size": 1}]})
    assert store.read_manifest(GGUF_ID) is None


def test_is_ready_rules(store: ModelStore) -> None:
    assert not store.is_ready(GGUF_ID, [])
    files = make_ready(store)
    assert store.is_ready(GGUF_ID, files)
    assert store.is_ready(GGUF_ID, files, revision="c0ffee")
    assert store.is_ready(GGUF_ID, [{"name": f.name, "size": f.size, "sha256": f.sha256} for f in files])
    assert not store.is_ready(GGUF_ID, files, revision="other")
    assert not store.is_ready(GGUF_ID, files[:1]), "a different file set is not ready"
    assert not store.is_ready(GGUF_ID, files + [FileSpec("extra.bin", 1)])
    assert not store.is_ready(GGUF_ID, [FileSpec("m.gguf", 6, None), files[1]]), "size differs"
    assert not store.is_ready(GGUF_ID, [FileSpec("m.gguf", 5, "cd" * 32), files[1]]), "sha differs"
    assert not store.is_ready("other/model", files)
    put_file(store, GGUF_ID, "m.gguf", b"1234")  # truncated on disk
    assert not store.is_ready(GGUF_ID, files)
    store.file_path(GGUF_ID, "m.gguf").unlink()
    assert not store.is_ready(GGUF_ID, files)


def test_corrupt_or_foreign_manifest_means_not_ready(store: ModelStore) -> None:
    files = make_ready(store)
    manifest_path = store.manifest_path(GGUF_ID)
    manifest_path.write_text("{not json")
    assert store.read_manifest(GGUF_ID) is None and not store.is_ready(GGUF_ID, files)
    manifest_path.write_text(json.dumps({"id": "someone/else", "files": [], "state": "ready"}))
    assert store.read_manifest(GGUF_ID) is None


# -- partials, deletion, discovery ------------------------------------------------------------------


def test_partial_bytes(store: ModelStore) -> None:
    assert store.partial_bytes(GGUF_ID, "m.gguf") == 0
    partial = store.partial_path(GGUF_ID, "m.gguf")
    partial.parent.mkdir(parents=True)
    partial.write_bytes(b"x" * 1234)
    assert store.partial_bytes(GGUF_ID, "m.gguf") == 1234


def test_delete_removes_files_and_partials(store: ModelStore) -> None:
    make_ready(store)
    partial = store.partial_path(GGUF_ID, "big/w.bin")
    partial.parent.mkdir(parents=True)
    partial.write_bytes(b"partial")
    other = "org/Name-ct2"
    store.prepare(other)
    put_file(store, other, "model.bin", b"keep")

    assert store.delete_model(GGUF_ID) is True
    assert not store.model_dir(GGUF_ID).exists()
    assert not partial.exists()
    assert store.read_manifest(GGUF_ID) is None
    assert sorted(os.listdir(store.root)) == [store.model_dir(other).name], "no trash left behind"
    assert store.file_path(other, "model.bin").read_bytes() == b"keep"
    assert store.delete_model(GGUF_ID) is False, "deleting a missing model is safe"
    assert ModelStore(store.root / "never-created").delete_model(GGUF_ID) is False


def test_purge_trash(store: ModelStore) -> None:
    trash = store.root / ".trash-x-1234"
    (trash / "sub").mkdir(parents=True)
    (trash / "sub" / "f").write_bytes(b"1")
    store.purge_trash()
    assert not trash.exists()


def test_model_ids_on_disk_finds_complete_and_incomplete(store: ModelStore) -> None:
    assert store.model_ids_on_disk() == []
    make_ready(store)
    store.prepare("qwen3-0.6b")  # download started, never finished: still an id on disk
    (store.root / "stray-dir").mkdir()  # not made by the store: ignored
    (store.root / "stray-file").write_text("x")
    forged = store.root / "forged-00000000"
    forged.mkdir()
    (forged / ".model-id").write_text("acme/real")  # id does not map to this directory: ignored
    assert sorted(store.model_ids_on_disk()) == sorted([GGUF_ID, "qwen3-0.6b"])
    # model.json alone is enough (id file lost)
    (store.model_dir(GGUF_ID) / ".model-id").unlink()
    assert GGUF_ID in store.model_ids_on_disk()
    for model_id in store.model_ids_on_disk():
        store.delete_model(model_id)
    assert store.model_ids_on_disk() == []
