"""Schema parsing and bulk CSV validation, the way a Personalize dataset import job checks a file.

Rules (docs/personalize-rules.md section 3): row 1 holds the schema's field names, unquoted, in the schema's order;
every record sits on one line; every value has the schema's type; an empty cell is a null and needs a union with
``null``; USER_ID/ITEM_ID are at most 256 characters and categorical values at most 1,000 (``|`` included); an
interactions import carries at least 1,000 records. A problem raises :class:`ImportValidationError` whose message
names the file, the line and the column, so the failed job's ``failureReason`` tells the user where to look.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

ID_FIELDS = ("USER_ID", "ITEM_ID")
MAX_ID_LENGTH = 256
MAX_CATEGORICAL_LENGTH = 1000
MIN_INTERACTIONS_PER_IMPORT = 1000
AVRO_TYPES = ("float", "double", "int", "long", "string", "boolean", "null")
#: The field that identifies a record, per dataset type: INCREMENTAL imports replace rows with the same value.
RECORD_KEYS = {"Users": "USER_ID", "Items": "ITEM_ID"}

_INTEGER = re.compile(r"-?\d+")
_INT32_RANGE = (-(2**31), 2**31 - 1)


class SchemaError(ValueError):
    """The schema text cannot be used to read data (not JSON, not a flat record, a field without a type)."""


class ImportValidationError(ValueError):
    """A bulk file Personalize would reject; the message names file, line and column."""


@dataclass(frozen=True)
class Field:
    name: str
    type: str  # the non-null Avro type
    nullable: bool
    categorical: bool = False
    textual: bool = False


def parse_schema(text: str) -> list[Field]:
    """The record's fields in order; raises SchemaError for anything a flat Personalize schema cannot be."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SchemaError(f"schema is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from exc
    if not isinstance(document, dict) or document.get("type") != "record":
        raise SchemaError('schema must be an Avro object with "type": "record"')
    raw_fields = document.get("fields")
    if not isinstance(raw_fields, list) or not raw_fields:
        raise SchemaError('schema must have a non-empty "fields" list')
    fields: list[Field] = []
    for position, raw in enumerate(raw_fields, start=1):
        if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
            raise SchemaError(f"field {position} has no name")
        name = raw["name"]
        if "type" not in raw:
            raise SchemaError(f"field {name} has no type")
        types = raw["type"] if isinstance(raw["type"], list) else [raw["type"]]
        if not all(isinstance(t, str) and t in AVRO_TYPES for t in types):
            raise SchemaError(f"field {name} has an unsupported type {raw['type']!r} (flat Avro types only)")
        concrete = [t for t in types if t != "null"]
        if len(concrete) != 1:
            raise SchemaError(f"field {name} must have exactly one non-null type, got {raw['type']!r}")
        fields.append(
            Field(
                name=name,
                type=concrete[0],
                nullable="null" in types,
                categorical=bool(raw.get("categorical", False)),
                textual=bool(raw.get("textual", False)),
            )
        )
    return fields


def _check_header(header: list[str], fields: list[Field], source: str) -> None:
    expected = [field.name for field in fields]
    if header == expected:
        return
    quoted = [name for name in header if name.startswith('"')]
    if quoted:
        raise ImportValidationError(f"{source} line 1: header names must not be quoted: {quoted}")
    missing = [name for name in expected if name not in header]
    if missing:
        raise ImportValidationError(f"{source} line 1: Input CSV is missing the following columns: {missing}")
    extra = [name for name in header if name not in expected]
    if extra:
        raise ImportValidationError(f"{source} line 1: columns not in the schema: {extra}")
    raise ImportValidationError(f"{source} line 1: columns must be in the schema's order {expected}, got {header}")


def _read_rows(text: str, fields: list[Field], source: str) -> tuple[list[list[str]], list[int]]:
    # Textual values escape quotes with a backslash (not RFC 4180 doubling), as Personalize documents.
    reader = csv.reader(io.StringIO(text, newline=""), escapechar="\\", strict=True)
    try:
        header = next(reader)
    except StopIteration:
        raise ImportValidationError(f"{source}: the file is empty (line 1 must hold the column headers)") from None
    except csv.Error as exc:
        raise ImportValidationError(f"{source} line 1: {exc}") from exc
    if text.lstrip("\ufeff").startswith('"'):
        raise ImportValidationError(f"{source} line 1: header names must not be quoted")
    header = [name.lstrip("\ufeff").strip() for name in header]
    _check_header(header, fields, source)
    rows: list[list[str]] = []
    lines: list[int] = []
    expected_line = 2
    width = len(fields)
    try:
        for row in reader:
            if reader.line_num != expected_line:
                raise ImportValidationError(
                    f"{source} line {expected_line}: a record spans lines {expected_line}-{reader.line_num}; "
                    "each record must sit on one line"
                )
            expected_line += 1
            if not row:
                continue  # a blank line holds no record
            if len(row) != width:
                raise ImportValidationError(
                    f"{source} line {reader.line_num}: {len(row)} columns, the schema has {width}"
                )
            rows.append(row)
            lines.append(reader.line_num)
    except csv.Error as exc:
        raise ImportValidationError(f"{source} line {reader.line_num}: malformed CSV: {exc}") from exc
    return rows, lines


def _first_bad(mask: pd.Series) -> int | None:
    import numpy as np

    positions = np.flatnonzero(mask.to_numpy(dtype=bool))
    return int(positions[0]) if positions.size else None


def validate_csv(text: str, fields: list[Field], *, source: str) -> pd.DataFrame:
    """The file's records as a DataFrame of strings ('' for null), or ImportValidationError at the first problem.

    Line numbers count the header as line 1; blank lines hold no record but still count.
    """
    import pandas as pd

    rows, line_numbers = _read_rows(text, fields, source)
    names = [field.name for field in fields]
    frame = pd.DataFrame(rows, columns=names, dtype="str") if rows else pd.DataFrame(columns=names, dtype="str")

    def fail(position: int, field: Field, problem: str) -> None:
        value = frame.at[position, field.name]
        shown = value if len(value) <= 60 else value[:57] + "..."
        raise ImportValidationError(
            f"{source} line {line_numbers[position]} column {field.name}: {problem} (value {shown!r})"
        )

    for field in fields:
        column = frame[field.name]
        empty = column == ""
        if not field.nullable:
            bad = _first_bad(empty)
            if bad is not None:
                fail(bad, field, f"null (empty) value, but the schema declares {field.name} as {field.type}")
        present = column[~empty]
        if field.type in ("int", "long"):
            invalid = ~present.str.fullmatch(_INTEGER.pattern)
            if field.type == "int":
                numbers = pd.to_numeric(present.where(~invalid, "0"), errors="coerce")
                invalid |= (numbers < _INT32_RANGE[0]) | (numbers > _INT32_RANGE[1])
            problem = f"not a valid {field.type}"
        elif field.type in ("float", "double"):
            invalid = pd.to_numeric(present, errors="coerce").isna()
            problem = f"not a valid {field.type}"
        elif field.type == "boolean":
            invalid = ~present.isin(["true", "false"])
            problem = "booleans must be lower-case true or false"
        else:
            lengths = present.str.len()
            if field.name in ID_FIELDS:
                invalid = lengths > MAX_ID_LENGTH
                problem = f"{field.name} longer than {MAX_ID_LENGTH} characters"
            elif field.categorical:
                invalid = lengths > MAX_CATEGORICAL_LENGTH
                problem = f"categorical value longer than {MAX_CATEGORICAL_LENGTH} characters"
            else:
                continue
        bad = _first_bad(invalid)
        if bad is not None:
            fail(int(present.index[bad]), field, problem)
    return frame


def check_import_size(dataset_type: str, record_count: int, sources: list[str]) -> None:
    """Interactions imports need at least 1,000 records per job, FULL or INCREMENTAL."""
    if dataset_type == "Interactions" and record_count < MIN_INTERACTIONS_PER_IMPORT:
        raise ImportValidationError(
            f"{', '.join(sources)}: {record_count} interaction records; an interactions import needs at least "
            f"{MIN_INTERACTIONS_PER_IMPORT}"
        )


def merge_import(existing: pd.DataFrame | None, new: pd.DataFrame, *, dataset_type: str, mode: str) -> pd.DataFrame:
    """The dataset's bulk data after an import: FULL replaces it; INCREMENTAL appends and replaces same-id rows."""
    import pandas as pd

    if mode == "FULL" or existing is None:
        return new.reset_index(drop=True)
    key = RECORD_KEYS.get(dataset_type)
    if key is None:
        return pd.concat([existing, new], ignore_index=True)
    kept = existing[~existing[key].isin(new[key])]
    latest = new.drop_duplicates(subset=[key], keep="last")
    return pd.concat([kept, latest], ignore_index=True)
