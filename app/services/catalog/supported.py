"""The curated catalog of supported models (`supported_models.json`, FR-1).

Loaded and validated once at start-up: a broken entry stops the router with a message that names
the entry (index and id) and the field, instead of failing later on a request.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import jsonschema

from .paths import is_safe_relative_path, is_valid_repo_id


SCHEMA_PATH = Path(__file__).resolve().parents[2] / "schemas" / "supported_models.schema.json"


class CatalogError(ValueError):
    """`supported_models.json` cannot be used; the message says where and why."""


@dataclass(frozen=True)
class SupportedModel:
    id: str
    name: str
    description: str
    repo: str
    recommended_filename: str
    size_bytes: int
    required_memory_bytes: int
    tags: tuple[str, ...]
    capabilities: tuple[str, ...]
    quantization: str
    parameter_count: str
    format: str
    engine: str
    platforms: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("tags", "capabilities", "platforms"):
            data[key] = list(data[key])
        return data


class Catalog:
    """Supported models in file order (the fixed display order), looked up by id or repo file."""

    def __init__(self, models: list[SupportedModel]) -> None:
        self.models = models
        self._by_id = {model.id: model for model in models}
        self._by_file = {(model.repo.lower(), model.recommended_filename): model for model in models}

    def __iter__(self):
        return iter(self.models)

    def __len__(self) -> int:
        return len(self.models)

    def get(self, model_id: str) -> SupportedModel | None:
        return self._by_id.get(model_id)

    def find_file(self, repo: str, filename: str) -> SupportedModel | None:
        return self._by_file.get((repo.lower(), filename))


def _schema() -> dict[str, Any]:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


def _describe_entry(entries: Any, index: int) -> str:
    entry = entries[index] if isinstance(entries, list) and index < len(entries) else None
    entry_id = entry.get("id") if isinstance(entry, dict) else None
    return f"entry {index} (id {entry_id!r})" if entry_id is not None else f"entry {index}"


def _schema_error_message(error: jsonschema.ValidationError, entries: Any) -> str:
    path = list(error.absolute_path)
    if not path:
        return f"the file must be a JSON array of model entries: {error.message}"
    where = _describe_entry(entries, int(path[0]))
    field_path = [str(part) for part in path[1:]]
    if error.validator == "required":
        missing = [name for name in error.validator_value if name not in error.instance]
        field_path.append(missing[0] if missing else "?")
        return f"{where}: field {'.'.join(field_path)!r} is missing"
    if error.validator == "additionalProperties":
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        return f"{where}: field {extra[0] if extra else '?'!r} is not part of the schema"
    field = ".".join(field_path) if field_path else "(entry)"
    return f"{where}: field {field!r}: {error.message}"


def validate_entries(entries: Any) -> list[SupportedModel]:
    """Schema check, then the rules a schema cannot say (unique ids, safe names)."""
    validator = jsonschema.Draft202012Validator(_schema())
    errors = sorted(validator.iter_errors(entries), key=lambda e: [str(p) for p in e.absolute_path])
    if errors:
        raise CatalogError(_schema_error_message(errors[0], entries))
    seen: set[str] = set()
    models = []
    for index, entry in enumerate(entries):
        where = _describe_entry(entries, index)
        if entry["id"] in seen:
            raise CatalogError(f"{where}: field 'id': duplicate id {entry['id']!r}")
        seen.add(entry["id"])
        if not is_valid_repo_id(entry["repo"]):
            raise CatalogError(f"{where}: field 'repo': {entry['repo']!r} is not a valid Hugging Face repo id")
        if not is_safe_relative_path(entry["recommended_filename"]):
            raise CatalogError(f"{where}: field 'recommended_filename': "
                               f"{entry['recommended_filename']!r} is not a safe relative path")
        models.append(SupportedModel(**{
            **entry,
            "tags": tuple(entry["tags"]),
            "capabilities": tuple(entry["capabilities"]),
            "platforms": tuple(entry["platforms"]),
        }))
    return models


def load_catalog(path: str | Path) -> Catalog:
    path = Path(path)
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise CatalogError(f"{path}: file not found") from exc
    except json.JSONDecodeError as exc:
        raise CatalogError(f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from exc
    try:
        return Catalog(validate_entries(entries))
    except CatalogError as exc:
        raise CatalogError(f"{path}: {exc}") from exc
