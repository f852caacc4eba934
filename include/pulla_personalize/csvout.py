"""Writing and reading CSVs exactly as Personalize's bulk import wants them.

The header is the schema's field names in schema order, unquoted; UTF-8; one record per line with ``\\n`` line
ends; an empty cell is a null; multi-values are already ``|``-joined strings; a value is quoted only when it
must be (it holds a comma or a double quote, RFC 4180 style). Values are turned into text here, never by the
locale or by float formatting, so the same rows always give the same bytes.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import pandas as pd

from pulla_personalize.datasets import FILE_NAMES

__all__ = ["FILE_NAMES", "DatasetCsvWriter", "SchemaError", "naming_file", "schema_fields", "schema_types"]


class SchemaError(ValueError):
    """A schema file the writer needs cannot be read."""


def schema_fields(dataset: str, schemas_dir: Path) -> list[str]:
    """Field names, in order, of ``<schemas_dir>/<dataset>.json``."""
    path = schemas_dir / f"{dataset}.json"
    try:
        schema = json.loads(path.read_text(encoding="utf-8"))
        return [str(field["name"]) for field in schema["fields"]]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise SchemaError(f"{path.name}: cannot read the field names of the {dataset} schema: {error}") from error


def schema_types(dataset: str, schemas_dir: Path) -> dict[str, tuple[str, bool]]:
    """field name → (Avro base type, nullable) for ``<schemas_dir>/<dataset>.json``."""
    schema = json.loads((schemas_dir / f"{dataset}.json").read_text(encoding="utf-8"))
    types: dict[str, tuple[str, bool]] = {}
    for field in schema["fields"]:
        declared = field["type"]
        options = declared if isinstance(declared, list) else [declared]
        base = next((str(option) for option in options if option != "null"), "null")
        types[str(field["name"])] = (base, "null" in options)
    return types


@contextmanager
def naming_file(path: Path) -> Iterator[None]:
    """Re-raises an OSError of a write with ``path`` as its file name: ``open`` names the file, but a failed
    ``write`` or flush (a full disk) does not, and the person reading the error needs to know which file."""
    try:
        yield
    except OSError as error:
        if error.filename is not None:
            raise
        raise OSError(error.errno, error.strerror, str(path)) from error


class DatasetCsvWriter:
    """Streams one dataset's rows into a CSV file: header first, then frames appended in order."""

    def __init__(self, path: Path, fields: list[str]) -> None:
        self.path = path
        self.fields = fields
        self.rows = 0
        self._handle: IO[bytes] = path.open("wb")
        with naming_file(path):
            self._handle.write((",".join(fields) + "\n").encode("utf-8"))

    def append(self, frame: pd.DataFrame) -> None:
        missing = [name for name in self.fields if name not in frame.columns]
        if missing:
            raise ValueError(f"{self.path.name}: rows lack the schema columns {missing}")
        if frame.empty:
            return
        text = frame[self.fields].astype("str")
        data = _unquoted_csv(text)
        with naming_file(self.path):
            if data is not None:
                self._handle.write(data)
            else:
                text.to_csv(
                    self._handle,
                    header=False,
                    index=False,
                    na_rep="",
                    lineterminator="\n",
                    quoting=csv.QUOTE_MINIMAL,
                    encoding="utf-8",
                )
        self.rows += len(frame)

    def close(self) -> None:
        with naming_file(self.path):
            self._handle.close()

    def __enter__(self) -> DatasetCsvWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _unquoted_csv(text: pd.DataFrame) -> Any:
    """The rows as CSV bytes written by Arrow in C++ when no value needs quoting (the usual case: ids, numbers and
    labels); None when one does, or when a value is text Arrow cannot hold, for the csv module to quote it."""
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    try:
        table = pa.Table.from_pandas(text, preserve_index=False)
        sink = pa.BufferOutputStream()
        # quoting "none" refuses (ArrowInvalid) a value holding a comma, a quote or a line break.
        pa_csv.write_csv(table, sink, pa_csv.WriteOptions(include_header=False, quoting_style="none"))
    except (pa.ArrowInvalid, pa.ArrowTypeError, UnicodeEncodeError):
        return None
    return sink.getvalue()
