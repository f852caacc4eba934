"""Compare Personalize (Avro) schemas: a schema cannot be changed after creation, so an existing schema whose
content differs from the wanted one must be reported, with what differs and how to roll a new one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def load_schema(schema: str | Mapping[str, Any] | None = None, schema_path: str | Path | None = None) -> dict:
    """The schema as a dict, from a JSON string, a dict or a file; exactly one of the two must be given."""
    if (schema is None) == (schema_path is None):
        raise ValueError("give exactly one of schema (JSON text or dict) and schema_path")
    if schema_path is not None:
        path = Path(schema_path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as error:
            raise ValueError(f"cannot read schema file {path}: {error}") from error
        source = str(path)
    elif isinstance(schema, Mapping):
        return json.loads(json.dumps(schema))  # a deep, JSON-clean copy
    else:
        text, source = schema, "schema text"
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"{source} is not valid JSON: {error}") from error
    if not isinstance(parsed, dict):
        raise ValueError(f"{source} must hold a JSON object (an Avro record), got {type(parsed).__name__}")
    return parsed


def schema_text(schema: Mapping[str, Any]) -> str:
    """The compact JSON sent to CreateSchema."""
    return json.dumps(schema, ensure_ascii=False, separators=(",", ":"))


def schema_differences(existing: Mapping[str, Any], wanted: Mapping[str, Any]) -> list[str]:
    """Human-readable differences between two schemas; empty when they are the same document."""
    if existing == wanted:
        return []
    differences: list[str] = []
    old_fields = {f.get("name"): f for f in existing.get("fields", []) if isinstance(f, Mapping)}
    new_fields = {f.get("name"): f for f in wanted.get("fields", []) if isinstance(f, Mapping)}
    for name in new_fields.keys() - old_fields.keys():
        differences.append(f"field {name} is new")
    for name in old_fields.keys() - new_fields.keys():
        differences.append(f"field {name} was removed")
    for name in old_fields.keys() & new_fields.keys():
        if old_fields[name] != new_fields[name]:
            differences.append(
                f"field {name} changed: {json.dumps(old_fields[name])} -> {json.dumps(new_fields[name])}"
            )
    if not differences and [f.get("name") for f in existing.get("fields", [])] != [
        f.get("name") for f in wanted.get("fields", [])
    ]:
        differences.append("field order changed (CSV columns must follow it)")
    for key in sorted((existing.keys() | wanted.keys()) - {"fields"}):
        if existing.get(key) != wanted.get(key):
            differences.append(f"{key} changed: {existing.get(key)!r} -> {wanted.get(key)!r}")
    return differences or ["the documents differ"]


def next_schema_name(name: str) -> str:
    """The name to roll to: ``pulla-users-v3`` -> ``pulla-users-v4``; a name without a version gets ``-v2``."""
    match = re.fullmatch(r"(.*[-_]v)(\d+)", name)
    if match:
        return f"{match.group(1)}{int(match.group(2)) + 1}"
    return f"{name}-v2"
