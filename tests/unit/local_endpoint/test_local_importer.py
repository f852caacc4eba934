"""Bulk CSV validation of the local endpoint's import jobs."""

from __future__ import annotations

import pandas as pd
import pytest

from personalize_local.importer import (
    Field,
    ImportValidationError,
    SchemaError,
    check_import_size,
    merge_import,
    parse_schema,
    validate_csv,
)
from personalize_local.synthetic import schema_text

SOURCE = "s3://bucket/interactions.csv"
HEADER = "USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE,EVENT_VALUE,DEVICE"


def interactions() -> list[Field]:
    return parse_schema(schema_text("Interactions"))


def test_parse_schema_reads_types_unions_and_flags():
    fields = parse_schema(schema_text("Items"))
    assert fields[0] == Field("ITEM_ID", "string", nullable=False)
    assert fields[1] == Field("CREATION_TIMESTAMP", "long", nullable=False)
    assert fields[2] == Field("CUP_SIZE", "string", nullable=True, categorical=True)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "not valid JSON"),
        ('{"type": "enum"}', "record"),
        ('{"type": "record", "fields": [{"name": "BSW"}]}', "BSW has no type"),
        ('{"type": "record", "fields": [{"name": "A", "type": {"type": "array"}}]}', "unsupported type"),
        ('{"type": "record", "fields": [{"name": "A", "type": ["int", "string"]}]}', "exactly one non-null"),
    ],
)
def test_parse_schema_rejects_what_cannot_describe_a_flat_csv(text, message):
    with pytest.raises(SchemaError, match=message):
        parse_schema(text)


def test_a_valid_file_becomes_a_frame_of_strings_with_empty_nulls():
    text = f"{HEADER}\nu1,p1,1700000000,purchase,15.9,mobile\nu2,p2,1700000001,click,,\n"
    frame = validate_csv(text, interactions(), source=SOURCE)
    assert frame.to_dict("records")[1] == {
        "USER_ID": "u2",
        "ITEM_ID": "p2",
        "TIMESTAMP": "1700000001",
        "EVENT_TYPE": "click",
        "EVENT_VALUE": "",
        "DEVICE": "",
    }


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        (["u1,p1,17e8,click,,"], "line 2 column TIMESTAMP: not a valid long"),
        (["u1,p1,1,click,,", "u1,p1,1,click,cheap,"], "line 3 column EVENT_VALUE: not a valid float"),
        (["u1,p1,1,click,,", "", ",p1,1,click,,"], "line 4 column USER_ID: null (empty) value"),
        (["u1," + "p" * 257 + ",1,click,,"], "line 2 column ITEM_ID: ITEM_ID longer than 256"),
        (["u1,p1,1,click,," + "m" * 1001], "line 2 column DEVICE: categorical value longer than 1000"),
        (["u1,p1,1,click,"], "line 2: 5 columns, the schema has 6"),
        (['u1,p1,1,click,,"two', 'lines"'], "line 2: a record spans lines 2-3"),
    ],
)
def test_problems_name_the_file_the_line_and_the_column(rows, expected):
    text = "\n".join([HEADER, *rows]) + "\n"
    with pytest.raises(ImportValidationError) as excinfo:
        validate_csv(text, interactions(), source=SOURCE)
    assert str(excinfo.value).startswith(SOURCE)
    assert expected in str(excinfo.value)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("USER_ID,ITEM_ID,EVENT_TYPE,EVENT_VALUE,DEVICE", "missing the following columns: ['TIMESTAMP']"),
        ("ITEM_ID,USER_ID,TIMESTAMP,EVENT_TYPE,EVENT_VALUE,DEVICE", "schema's order"),
        (HEADER + ",EXTRA", "columns not in the schema: ['EXTRA']"),
        ('"USER_ID",ITEM_ID,TIMESTAMP,EVENT_TYPE,EVENT_VALUE,DEVICE', "must not be quoted"),
    ],
)
def test_header_must_match_the_schema_names_and_order(header, expected):
    with pytest.raises(ImportValidationError, match="line 1") as excinfo:
        validate_csv(header + "\nu1,p1,1,click,,\n", interactions(), source=SOURCE)
    assert expected in str(excinfo.value)


def test_int_range_and_lower_case_booleans():
    fields = [Field("USER_ID", "string", False), Field("AGE", "int", True), Field("VIP", "boolean", True)]
    assert len(validate_csv("USER_ID,AGE,VIP\nu1,31,true\nu2,,false\n", fields, source=SOURCE)) == 2
    with pytest.raises(ImportValidationError, match="line 2 column AGE"):
        validate_csv("USER_ID,AGE,VIP\nu1,3000000000,true\n", fields, source=SOURCE)
    with pytest.raises(ImportValidationError, match="line 2 column VIP: booleans must be lower-case"):
        validate_csv("USER_ID,AGE,VIP\nu1,30,True\n", fields, source=SOURCE)


def test_interactions_imports_need_a_thousand_records():
    check_import_size("Interactions", 1000, [SOURCE])
    check_import_size("Users", 3, [SOURCE])
    with pytest.raises(ImportValidationError, match="999 interaction records"):
        check_import_size("Interactions", 999, [SOURCE])


def test_full_replaces_and_incremental_appends_or_replaces_by_id():
    old = pd.DataFrame({"USER_ID": ["u1", "u2"], "CUP_SIZE": ["A", "B"]}, dtype="str")
    new = pd.DataFrame({"USER_ID": ["u2", "u3"], "CUP_SIZE": ["C", "D"]}, dtype="str")
    assert merge_import(old, new, dataset_type="Users", mode="FULL").to_dict("list") == new.to_dict("list")
    merged = merge_import(old, new, dataset_type="Users", mode="INCREMENTAL")
    assert merged.to_dict("list") == {"USER_ID": ["u1", "u2", "u3"], "CUP_SIZE": ["A", "C", "D"]}
    appended = merge_import(
        old.rename(columns={"CUP_SIZE": "X"}),
        new.rename(columns={"CUP_SIZE": "X"}),
        dataset_type="Interactions",
        mode="INCREMENTAL",
    )
    assert len(appended) == 4
