"""Checks that keep names from the outside world from ever addressing the wrong file.

Repo names, file names and model ids reach the router from clients and from the Hub; later they
become directory and file names on nodes. Everything that may become a path passes here first.
"""

from __future__ import annotations

import re

REPO_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}/[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")
_FILE_PART_PATTERN = re.compile(r"^[A-Za-z0-9._+-][A-Za-z0-9 ._+()-]{0,199}$")
MAX_FILENAME_LENGTH = 255


def is_valid_repo_id(repo: str) -> bool:
    """`org/name` as the Hub allows it, without `..` or `--` (the Hub refuses both too)."""
    return bool(REPO_ID_PATTERN.fullmatch(repo)) and ".." not in repo and "--" not in repo


def is_safe_relative_path(name: str) -> bool:
    """A relative file path inside a repository: no absolute path, no `..`, no odd characters."""
    if not name or len(name) > MAX_FILENAME_LENGTH or name.startswith("/") or "\\" in name:
        return False
    parts = name.split("/")
    return all(part not in ("", ".", "..") and _FILE_PART_PATTERN.fullmatch(part) for part in parts)
