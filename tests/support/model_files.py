"""Putting a model's files into a node's models directory as a finished download would leave them."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from node_agent.store import ModelStore


def install_model(store: ModelStore, model_id: str, source: Path, link: bool = False) -> None:
    """Files of `source` (recursively) into the store, then model.json. `link`: hard links where the
    filesystem allows (a benchmark's 100 MB model need not be copied)."""
    directory = store.prepare(model_id)
    files = []
    for path in sorted(p for p in source.rglob("*") if p.is_file()):
        name = path.relative_to(source).as_posix()
        target = directory / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.unlink(missing_ok=True)
        try:
            if not link:
                raise OSError
            os.link(path, target)
        except OSError:
            shutil.copyfile(path, target)
        files.append({"name": name, "size": path.stat().st_size, "sha256": None})
    store.mark_ready(model_id, {"repo": model_id.split(":")[0], "revision": "main", "files": files})
