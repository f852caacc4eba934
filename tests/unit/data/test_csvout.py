"""CSV writing as Personalize wants it: schema header, UTF-8, one record per line, empty = null, minimal quoting."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from pulla_personalize import SCHEMAS_DIR
from pulla_personalize.csvout import DatasetCsvWriter, schema_fields, schema_types


def write_dataset(path: Path, fields: list[str], frame: pd.DataFrame) -> int:
    """One frame through the export's writer (the export appends frame after frame)."""
    with DatasetCsvWriter(path, fields) as writer:
        writer.append(frame)
        return writer.rows


def read_dataset(path: Path, chunk_rows: int | None = None):
    """A dataset CSV read back as text columns (empty cell → NA), as Personalize reads it."""
    return pd.read_csv(path, dtype="str", keep_default_na=False, na_values=[""], encoding="utf-8", chunksize=chunk_rows)


ITEMS_FIELDS = ["ITEM_ID", "CREATION_TIMESTAMP", "CUP_SIZE", "CUP_TYPE"]


def test_header_is_the_schemas_field_names_in_order() -> None:
    assert schema_fields("interactions", SCHEMAS_DIR) == [
        "USER_ID",
        "ITEM_ID",
        "TIMESTAMP",
        "EVENT_TYPE",
        "EVENT_VALUE",
        "DEVICE",
    ]
    assert schema_fields("users", SCHEMAS_DIR) == ["USER_ID", "AGE", "CUP_SIZE", "BAND_SIZE"]
    assert schema_types("users", SCHEMAS_DIR)["AGE"] == ("int", True)


def test_an_unreadable_schema_is_named_in_the_error(tmp_path: Path) -> None:
    (tmp_path / "items.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ValueError, match=r"items\.json"):
        schema_fields("items", tmp_path)


def test_rows_are_written_with_minimal_quoting_and_empty_nulls(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "ITEM_ID": ["10001", "10002", "10003"],
            "CREATION_TIMESTAMP": [1767225600, 1767225601, 1767225602],
            "CUP_SIZE": ["AA|A|B", None, "C"],
            "CUP_TYPE": ['풀컵 "소프트", 🩱', "plain", None],
        }
    )
    path = tmp_path / "items.csv"
    assert write_dataset(path, ITEMS_FIELDS, frame) == 3
    assert path.read_bytes().decode("utf-8") == (
        "ITEM_ID,CREATION_TIMESTAMP,CUP_SIZE,CUP_TYPE\n"
        '10001,1767225600,AA|A|B,"풀컵 ""소프트"", 🩱"\n'
        "10002,1767225601,,plain\n"
        "10003,1767225602,C,\n"
    )
    back = read_dataset(path)
    assert back["CUP_TYPE"].iat[0] == '풀컵 "소프트", 🩱'
    assert back["CUP_SIZE"].isna().iat[1]


def test_columns_are_taken_in_schema_order_and_missing_ones_are_refused(tmp_path: Path) -> None:
    frame = pd.DataFrame({"CUP_TYPE": ["x"], "CUP_SIZE": ["A"], "CREATION_TIMESTAMP": [1], "ITEM_ID": ["9"]})
    path = tmp_path / "items.csv"
    write_dataset(path, ITEMS_FIELDS, frame)
    assert path.read_text(encoding="utf-8").splitlines()[1] == "9,1,A,x"
    with DatasetCsvWriter(tmp_path / "other.csv", ITEMS_FIELDS) as writer, pytest.raises(ValueError, match="CUP_TYPE"):
        writer.append(frame.drop(columns="CUP_TYPE"))


def test_the_same_rows_give_the_same_bytes_in_any_number_of_appends(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {"ITEM_ID": [str(i) for i in range(50)], "CREATION_TIMESTAMP": range(50), "CUP_SIZE": "A", "CUP_TYPE": None}
    )
    whole, parts = tmp_path / "whole.csv", tmp_path / "parts.csv"
    write_dataset(whole, ITEMS_FIELDS, frame)
    with DatasetCsvWriter(parts, ITEMS_FIELDS) as writer:
        for start in range(0, 50, 7):
            writer.append(frame.iloc[start : start + 7])
    assert whole.read_bytes() == parts.read_bytes()


def test_the_corrected_schemas_declare_what_the_writer_assumes() -> None:
    # Sizes and flags are categorical strings, so the writer never emits numbers or booleans for them.
    items = json.loads((SCHEMAS_DIR / "items.json").read_text(encoding="utf-8"))
    for field in items["fields"][2:]:
        assert field["type"] == ["string", "null"], field
        assert field.get("categorical") is True, field
