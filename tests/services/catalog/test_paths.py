"""Names from clients and the Hub that will become paths on nodes (app/services/catalog/paths.py)."""

from __future__ import annotations

import pytest

from app.services.catalog.paths import MAX_FILENAME_LENGTH, is_safe_relative_path, is_valid_repo_id


@pytest.mark.parametrize("name", [
    "model.gguf", "sub/dir/m.Q4_K_M.gguf", "Qwen2.5 0.5B (q4).gguf", "a+b-c_d.bin", "x" * 200,
    ("d" * 100 + "/") * 2 + "x" * (MAX_FILENAME_LENGTH - 202),
])
def test_safe_relative_paths(name):
    assert is_safe_relative_path(name)


@pytest.mark.parametrize("name", [
    "", "/etc/passwd", "../x.gguf", "a/../b.gguf", "a/./b.gguf", "./a.gguf", "a//b.gguf", "a/", "a\\b.gguf",
    " leading-space.gguf", "tab\tname.gguf", "new\nline.gguf", "semi;colon.gguf", "x" * 201,
    ("d" * 100 + "/") * 2 + "x" * (MAX_FILENAME_LENGTH - 201),
])
def test_unsafe_relative_paths(name):
    assert not is_safe_relative_path(name)


@pytest.mark.parametrize("repo, valid", [
    ("org/name", True),
    ("Qwen/Qwen2.5-0.5B-Instruct-GGUF", True),
    ("a/b", True),
    ("o" * 96 + "/" + "n" * 96, True),
    ("o" * 97 + "/name", False),
    ("org", False),
    ("org/name/extra", False),
    ("/name", False),
    ("org/", False),
    ("-org/name", False),
    ("org/.name", False),
    ("org/na..me", False),
    ("org--x/name", False),
    ("org/na me", False),
])
def test_repo_ids(repo, valid):
    assert is_valid_repo_id(repo) is valid


# Both patterns end in "$", which also matches before a final newline: "org/name\n" and "m.gguf\n" pass
# today (a Hub listing a file name ending in a newline gets it into a manifest). Strict: fixing the
# patterns (\Z or fullmatch) turns these into failures to remove the marks.
@pytest.mark.parametrize("check, name", [(is_valid_repo_id, "org/name\n"), (is_safe_relative_path, "model.gguf\n"),
                                         (is_safe_relative_path, "a\n/b.gguf")])
def test_a_trailing_newline_is_refused(check, name):
    assert not check(name)
