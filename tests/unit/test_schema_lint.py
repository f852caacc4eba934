"""The Personalize schema linter: every rule from both sides, the seed's defects, real schemas, the CLI."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pulla_personalize import SCHEMAS_DIR
from pulla_personalize.cli import main
from pulla_personalize.schema_lint import (
    ERROR,
    MAX_SCHEMA_CHARS,
    RULES,
    WARNING,
    Finding,
    detect_dataset_type,
    format_finding,
    lint_schema_file,
    lint_schema_text,
)
from tests.conftest import TEST_DATA

#: Schemas published in public repositories and AWS's guide (tests/data/personalize-schemas/SOURCES.md).
CORPUS = TEST_DATA / "personalize-schemas"
#: The seed's three schemas as its research note wrote them, defects included.
SEED_SCHEMAS = TEST_DATA / "seed-schemas"


def _corpus_names(kind: str) -> list[str]:
    return sorted(path.name for path in (CORPUS / kind).glob("*.json"))


# --- building schemas -----------------------------------------------------------------------------------


def field(name: str, type_: Any = "string", **flags: Any) -> dict[str, Any]:
    return {"name": name, "type": type_, **flags}


def cat(name: str, type_: Any = ("string", "null")) -> dict[str, Any]:
    return field(name, list(type_) if isinstance(type_, tuple) else type_, categorical=True)


INTERACTIONS = [field("USER_ID"), field("ITEM_ID"), field("TIMESTAMP", "long")]
USERS = [field("USER_ID"), field("AGE", ["int", "null"])]
ITEMS = [field("ITEM_ID"), cat("GENRE")]


def schema(name: str, fields: list[Any], **top: Any) -> str:
    record = {
        "type": "record",
        "name": name,
        "namespace": "com.amazonaws.personalize.schema",
        "fields": fields,
    }
    return json.dumps({**record, **top}, indent=2)


def interactions(*extra: Any) -> str:
    return schema("Interactions", [*INTERACTIONS, *extra])


def users(*extra: Any) -> str:
    return schema("Users", [*USERS, *extra])


def items(*extra: Any) -> str:
    return schema("Items", [*ITEMS, *extra])


def rules(findings: list[Finding], severity: str | None = None) -> set[str]:
    return {finding.rule for finding in findings if severity in (None, finding.severity)}


# --- every rule, both sides -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    id: str
    rule: str
    severity: str
    breaks: str  # a schema text that breaks the rule
    keeps: str  # the nearest schema text that keeps it
    options: tuple[tuple[str, Any], ...] = ()


def _pad_to(text: str, length: int) -> str:
    return text + " " * (length - len(text))  # JSON allows trailing whitespace


def _metadata(count: int, prefix: str = "M") -> list[dict[str, Any]]:
    return [cat(f"{prefix}{number}") for number in range(count)]


# fmt: off
CASES = [
    # JSON and record shape
    Case("json-trailing-comma", "json-syntax", ERROR, items()[:-3] + ",\n]}", items()),
    Case("json-nan", "json-syntax", ERROR, items(field("PRICE", "float", default=float("nan"))), items()),
    Case("json-empty", "json-syntax", ERROR, "", items()),
    Case("root-is-a-list", "not-a-record", ERROR, json.dumps([json.loads(items())]), items()),
    Case("type-not-record", "not-a-record", ERROR,
         schema("Items", ITEMS).replace('"record"', '"enum"'), items()),
    Case("no-fields", "fields-missing", ERROR, json.dumps({"type": "record", "name": "Items"}), items()),
    Case("field-not-object", "field-not-object", ERROR, schema("Items", [*ITEMS, "PRICE"]), items()),
    # flat schemas and allowed types
    Case("array", "not-flat", ERROR, items(field("TAGS", {"type": "array", "items": "string"})), items()),
    Case("map", "not-flat", ERROR, items(field("ATTRS", {"type": "map", "values": "string"})), items()),
    Case(
        "nested-record",
        "not-flat",
        ERROR,
        items(field("SIZE", {"type": "record", "name": "Size", "fields": [field("CUP")]})),
        items(cat("SIZE_CUP")),
    ),
    Case("array-in-union", "not-flat", ERROR, items(field("TAGS", ["null", {"type": "array"}])), items()),
    Case("union-in-union", "not-flat", ERROR,
         items(field("X", ["null", ["int"]])), items(field("X", ["int"]))),
    Case(
        "typed-object",
        "not-flat",
        ERROR,
        items(field("PRICE", {"type": "long", "logicalType": "timestamp-millis"})),
        items(field("PRICE", "long")),
    ),
    Case("bytes", "type-not-allowed", ERROR, items(field("BLOB", "bytes")), items(cat("BLOB", "string"))),
    Case("enum", "type-not-allowed", ERROR,
         items(field("COLOR", {"type": "enum", "symbols": ["RED"]})), items()),
    Case("fixed", "type-not-allowed", ERROR, items(field("CODE", {"type": "fixed", "size": 2})), items()),
    Case("unknown-name", "type-not-allowed", ERROR, items(field("N", "integer")), items(field("N", "int"))),
    Case("number-as-type", "type-not-allowed", ERROR, items(field("N", 5)), items(field("N", "double"))),
    Case("no-type", "type-missing", ERROR, items({"name": "BSW"}), items(cat("BSW"))),
    Case("union-two-types", "union-invalid", ERROR, items(field("N", ["string", "int"])), items(cat("N"))),
    Case("union-repeats", "union-invalid", ERROR,
         items(field("N", ["int", "int"])), items(field("N", ["int"]))),
    Case("union-empty", "union-invalid", ERROR, items(field("N", [])), items(field("N", ["null", "int"]))),
    Case("null-only", "null-only", WARNING, items(field("N", "null")), items(field("N", ["int", "null"]))),
    Case("null-only-union", "null-only", WARNING, items(field("N", ["null"])), items(field("N", ["float"]))),
    # the dataset type
    Case("unknown-record-name", "dataset-type", ERROR, schema("Products", ITEMS), schema("items", ITEMS)),
    Case("no-record-name", "dataset-type", ERROR,
         items().replace('"name": "Items",', ""), schema("ITEMS", ITEMS)),
    Case(
        "name-vs-type",
        "dataset-type-mismatch",
        ERROR,
        items(),
        schema("users", USERS),
        options=(("dataset_type", "Users"),),
    ),
    Case(
        "name-not-a-type",
        "record-name",
        WARNING,
        schema("Catalog", ITEMS),
        schema("Items", ITEMS),
        options=(("dataset_type", "items"),),
    ),
    Case(
        "record-name-invalid",
        "record-name-invalid",
        ERROR,
        schema("my-items", ITEMS),
        schema("Items", ITEMS),
        options=(("dataset_type", "Items"),),
    ),
    Case("namespace", "namespace-invalid", ERROR, schema("Items", ITEMS, namespace="com..x"), items()),
    # required fields
    Case("interactions-no-timestamp", "required-missing", ERROR,
         schema("Interactions", INTERACTIONS[:2]), interactions()),
    Case("interactions-lowercase-id", "required-missing", ERROR,
         schema("Interactions", [field("user_id"), *INTERACTIONS[1:]]), interactions()),
    Case("users-no-user-id", "required-missing", ERROR, schema("Users", USERS[1:]), users()),
    Case("items-no-item-id", "required-missing", ERROR, schema("Items", ITEMS[1:]), items()),
    Case("user-id-int", "required-type", ERROR,
         schema("Users", [field("USER_ID", "int"), *USERS[1:]]), users()),
    Case("user-id-nullable", "required-type", ERROR,
         schema("Users", [field("USER_ID", ["string", "null"]), *USERS[1:]]),
         schema("Users", [field("USER_ID", ["string"]), *USERS[1:]])),
    Case("item-id-long", "required-type", ERROR,
         schema("Items", [field("ITEM_ID", "long"), *ITEMS[1:]]), items()),
    Case("timestamp-int", "required-type", ERROR,
         schema("Interactions", [*INTERACTIONS[:2], field("TIMESTAMP", "int")]), interactions()),
    Case("timestamp-nullable", "required-type", ERROR,
         schema("Interactions", [*INTERACTIONS[:2], field("TIMESTAMP", ["long", "null"])]), interactions()),
    # reserved fields
    Case("event-type-int", "reserved-type", ERROR, interactions(field("EVENT_TYPE", "int")),
         interactions(field("EVENT_TYPE"))),
    Case("event-value-double", "reserved-type", ERROR, interactions(field("EVENT_VALUE", "double")),
         interactions(field("EVENT_VALUE", "float"))),
    Case("event-value-int-null", "reserved-type", ERROR, interactions(field("EVENT_VALUE", ["int", "null"])),
         interactions(field("EVENT_VALUE", ["float", "null"]))),
    Case("impression-int", "reserved-type", ERROR, interactions(field("IMPRESSION", "int")),
         interactions(field("IMPRESSION", ["string", "null"]))),
    Case("recommendation-id-long", "reserved-type", ERROR, interactions(field("RECOMMENDATION_ID", "long")),
         interactions(field("RECOMMENDATION_ID"))),
    Case("attribution-boolean", "reserved-type", ERROR,
         interactions(field("EVENT_ATTRIBUTION_SOURCE", "boolean")),
         interactions(field("EVENT_ATTRIBUTION_SOURCE", ["null", "string"]))),
    Case("creation-timestamp-int", "reserved-type", ERROR, items(field("CREATION_TIMESTAMP", "int")),
         items(field("CREATION_TIMESTAMP", "long"))),
    Case("creation-timestamp-nullable", "reserved-type", ERROR,
         items(field("CREATION_TIMESTAMP", ["long", "null"])), items(field("CREATION_TIMESTAMP", "long"))),
    Case("event-type-categorical", "reserved-flag", ERROR,
         interactions(field("EVENT_TYPE", categorical=True)),
         interactions(field("EVENT_TYPE", categorical=False))),
    Case("impression-categorical", "reserved-flag", ERROR,
         interactions(field("IMPRESSION", categorical=True)),
         interactions(field("IMPRESSION"))),
    Case("user-id-categorical", "reserved-flag", ERROR,
         schema("Users", [field("USER_ID", categorical=True), *USERS[1:]]), users()),
    # categorical and textual
    Case("textual-in-users", "textual-not-items", ERROR, users(field("BIO", textual=True)),
         items(field("BIO", textual=True))),
    Case("textual-in-interactions", "textual-not-items", ERROR, interactions(field("NOTE", textual=True)),
         interactions(cat("NOTE"))),
    Case("textual-on-int", "textual-non-string", ERROR, items(field("WORDS", "int", textual=True)),
         items(field("TEXT", ["null", "string"], textual=True))),
    Case("both-flags", "categorical-and-textual", ERROR, items(field("T", categorical=True, textual=True)),
         items(field("T", categorical=False, textual=True))),
    Case("flag-as-text", "flag-not-boolean", ERROR, items(field("T", categorical="true")), items(cat("T"))),
    Case("categorical-int", "categorical-non-string", WARNING, users(cat("BAND_SIZE", "int")),
         users(cat("BAND_SIZE", ["string", "null"]))),
    Case("categorical-float", "categorical-non-string", WARNING, items(cat("LENGTH", ["float", "null"])),
         items(field("LENGTH", "float", categorical=False))),
    Case("boolean", "boolean-ignored", WARNING, items(field("WIRE", "boolean")), items(cat("WIRE"))),
    Case("boolean-nullable-categorical", "boolean-ignored", WARNING,
         items(field("WIRE", ["boolean", "null"], categorical=True)), items(field("WIRE", ["int", "null"]))),
    Case("plain-string-users", "string-unused", WARNING, users(field("CITY")), users(cat("CITY", "string"))),
    Case("plain-string-items", "string-unused", WARNING, items(field("TITLE", ["string", "null"])),
         items(field("TITLE", ["string", "null"], textual=True))),
    Case("plain-string-interactions", "string-unused", WARNING, interactions(field("SESSION_ID")),
         interactions(field("EVENT_TYPE"))),
    # names
    Case("name-with-dash", "field-name-invalid", ERROR, items(cat("CUP-SIZE")), items(cat("CUP_SIZE"))),
    Case("name-starts-with-digit", "field-name-invalid", ERROR, items(cat("1ST")), items(cat("_1ST"))),
    Case("name-not-text", "field-name-invalid", ERROR,
         items({"name": 7, "type": "int"}), items(field("N7", "int"))),
    Case("no-name", "field-name-missing", ERROR, items({"type": "int"}), items(field("COUNT", "int"))),
    Case("same-name-twice", "field-name-duplicate", ERROR, items(cat("GENRE")), items(cat("GENRE_L2"))),
    Case("names-equal-without-underscores", "field-name-collision", ERROR,
         items(cat("GENRES_FIELD_1"), cat("GENRESFIELD1")),
         items(cat("GENRES_FIELD_1"), cat("GENRES_FIELD_2"))),
    Case("names-equal-ignoring-case", "field-name-collision", ERROR, items(cat("Color"), cat("COLOR")),
         items(cat("Color"), cat("COLOUR"))),
    Case("repeated-json-key", "duplicate-key", WARNING,
         items().replace('"name": "GENRE",', '"name": "GENRE", "type": "int",'), items()),
    # metadata counts and length
    Case("interactions-6-metadata", "metadata-limit", ERROR, interactions(*_metadata(6)),
         interactions(*_metadata(5), field("EVENT_TYPE"), field("EVENT_VALUE", "float"), field("IMPRESSION"),
                      field("RECOMMENDATION_ID"), field("EVENT_ATTRIBUTION_SOURCE"))),
    Case("users-6-metadata", "metadata-limit", ERROR, users(*_metadata(5)), users(*_metadata(4))),
    Case("users-26-metadata-quota-25", "metadata-limit", ERROR, users(*_metadata(25)), users(*_metadata(5)),
         options=(("users_metadata_limit", 25),)),
    Case("items-51-metadata", "metadata-limit", ERROR, items(*_metadata(50)),
         items(*_metadata(49), field("CREATION_TIMESTAMP", "long"))),
    Case("items-limit-option", "metadata-limit", ERROR, items(*_metadata(2)), items(*_metadata(1)),
         options=(("items_metadata_limit", 2),)),
    Case("users-no-metadata", "metadata-missing", ERROR, schema("Users", USERS[:1]), users()),
    Case("items-only-reserved", "metadata-missing", ERROR,
         schema("Items", [ITEMS[0], field("CREATION_TIMESTAMP", "long")]), items()),
    Case("too-long", "schema-too-long", ERROR, _pad_to(items(), MAX_SCHEMA_CHARS + 1),
         _pad_to(items(), MAX_SCHEMA_CHARS)),
    # the Next-Best-Action dataset types
    Case("actions-no-id", "required-missing", ERROR, schema("Actions", [cat("LEVEL")]),
         schema("Actions", [field("ACTION_ID"), cat("LEVEL")])),
    Case("actions-no-metadata", "metadata-missing", ERROR, schema("Actions", [field("ACTION_ID")]),
         schema("actions", [field("ACTION_ID"), field("VALUE", ["null", "long"])])),
    Case("action-interactions-no-event-type", "required-missing", ERROR,
         schema("ActionInteractions", [field("USER_ID"), field("ACTION_ID"), field("TIMESTAMP", "long")]),
         schema("Action_Interactions", [field("USER_ID"), field("ACTION_ID"), field("TIMESTAMP", "long"),
                                        field("EVENT_TYPE")])),
]
# fmt: on


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_a_schema_that_breaks_the_rule_gets_its_finding(case: Case) -> None:
    findings = lint_schema_text(case.breaks, **dict(case.options))

    assert case.rule in rules(findings, case.severity), [format_finding(f) for f in findings]


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_a_schema_that_keeps_the_rule_has_no_error_and_not_that_finding(case: Case) -> None:
    findings = lint_schema_text(case.keeps, **dict(case.options))

    assert case.rule not in rules(findings)
    assert not rules(findings, ERROR), [format_finding(f) for f in findings]


def test_every_rule_has_a_case() -> None:
    covered = {case.rule for case in CASES} | {"encoding"}  # encoding: test_a_file_that_is_not_utf8...

    assert set(RULES) == covered


# --- where findings point and what they say -------------------------------------------------------------


def test_a_field_finding_points_at_the_line_of_its_name() -> None:
    text = items(field("SIZE", "int", categorical=True), field("WIRE", "boolean"))
    lines = text.splitlines()

    findings = lint_schema_text(text, path="items.json")

    by_field = {finding.field: finding for finding in findings}
    assert lines[by_field["SIZE"].line - 1].strip() == '"name": "SIZE",'
    assert lines[by_field["WIRE"].line - 1].strip() == '"name": "WIRE",'


def test_json_errors_name_line_and_column() -> None:
    text = '{\n  "type": "record",\n  "name": "Items"\n  "fields": []\n}'

    (finding,) = lint_schema_text(text, path="items.json")

    assert (finding.rule, finding.severity, finding.line, finding.field) == ("json-syntax", ERROR, 4, None)
    assert "line 4, column 3" in finding.message
    assert "delimiter" in finding.message


def test_a_trailing_comma_is_named_with_the_line_of_the_comma() -> None:
    text = '{"type": "record", "name": "Items", "fields": [\n  {"name": "ITEM_ID", "type": "string"},\n]}'

    (finding,) = lint_schema_text(text)

    assert finding.line == 3
    assert "remove the trailing comma on line 2" in finding.message


def test_messages_say_what_to_do() -> None:
    findings = lint_schema_text(users(cat("BAND_SIZE", "int"), field("BRARET", "boolean")))

    messages = {finding.field: finding.message for finding in findings}
    assert 'declare it as "string"' in messages["BAND_SIZE"]
    assert 'remove "categorical": true' in messages["BAND_SIZE"]
    assert '"True"/"False"' in messages["BRARET"]


def test_a_required_field_in_lower_case_is_named_in_the_hint() -> None:
    findings = lint_schema_text(schema("Interactions", [field("user_id"), *INTERACTIONS[1:]]))

    (missing,) = [finding for finding in findings if finding.rule == "required-missing"]
    assert 'rename "user_id" to "USER_ID"' in missing.message


def test_the_metadata_limit_points_at_the_first_field_over_it() -> None:
    findings = lint_schema_text(users(*_metadata(5)))

    (over,) = [finding for finding in findings if finding.rule == "metadata-limit"]
    assert over.field == "M4"  # AGE is the first metadata field, so M4 is the sixth
    assert "--users-metadata-limit" in over.message


def test_format_finding() -> None:
    field_finding = Finding("users.json", 22, WARNING, "BAND_SIZE", "msg", "categorical-non-string")
    schema_finding = Finding("<schema>", 1, ERROR, None, "msg", "dataset-type")

    assert format_finding(field_finding) == "users.json:22: warning: BAND_SIZE: msg"
    assert format_finding(schema_finding) == "<schema>:1: error: -: msg"


@pytest.mark.parametrize(
    ("record_name", "expected"),
    [
        ("Interactions", "Interactions"),
        ("interactions", "Interactions"),
        ("USERS", "Users"),
        ("items", "Items"),
        ("ActionInteractions", "Action_Interactions"),
        ("Actions", "Actions"),
        ("Products", None),
        (None, None),
    ],
)
def test_detect_dataset_type(record_name: str | None, expected: str | None) -> None:
    assert detect_dataset_type({"type": "record", "name": record_name, "fields": []}) == expected


def test_an_unknown_dataset_type_argument_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="unknown dataset type 'Products'"):
        lint_schema_text(items(), dataset_type="Products")


def test_a_file_that_is_not_utf8_is_an_encoding_error(tmp_path: Path) -> None:
    path = tmp_path / "items.json"
    path.write_bytes(items().replace("GENRE", "GENRÉ").encode("latin-1"))

    (finding,) = lint_schema_file(path)

    assert (finding.rule, finding.severity, finding.path) == ("encoding", ERROR, str(path))
    assert finding.line == items().splitlines().index('      "name": "GENRE",') + 1


# --- the seed's schemas ---------------------------------------------------------------------------------

# Our reproductions of the seed's defects, written the way the seed writes them.
SEED_USERS = """{
  "type": "record",
  "name": "Users",
  "namespace": "com.amazonaws.personalize.schema",
  "fields": [
    {"name": "USER_ID", "type": "string"},
    {"name": "AGE", "type": "int"},
    {"name": "CUP_SIZE", "type": "string", "categorical": true},
    {"name": "BAND_SIZE", "type": "int", "categorical": true}
  ],
  "version": "1.0"
}"""
SEED_ITEMS = """{
  "type": "record",
  "name": "Items",
  "namespace": "com.amazonaws.personalize.schema",
  "fields": [
    {"name": "ITEM_ID", "type": "string"},
    {"name": "CREATION_TIMESTAMP", "type": "long"},
    {"name": "WIRE", "type": "boolean"},
    {"name": "BRARET", "type": "boolean"},
    {"name": "CUP_TYPE", "type": "string", "categorical": true},
\t{
\t\t"name": "BSW",
\t\t}
  ],
  "version": "1.0"
}"""


def repair_trailing_comma(text: str) -> str:
    """The one-character repair of the seed's Items JSON: drop the comma after BSW's last member."""
    repaired, count = re.subn(r'("BSW"),(\s*\})', r"\1\2", text)
    assert count == 1
    return repaired


def summary(findings: list[Finding]) -> list[tuple[str, str | None, str]]:
    return [(finding.severity, finding.field, finding.rule) for finding in findings]


def test_seed_users_reproduction_band_size_categorical_int_is_a_warning() -> None:
    findings = lint_schema_text(SEED_USERS)

    assert summary(findings) == [(WARNING, "BAND_SIZE", "categorical-non-string")]
    assert findings[0].line == 9


def test_seed_items_reproduction_json_error_then_bsw_without_type_and_booleans() -> None:
    broken = lint_schema_text(SEED_ITEMS)
    repaired = lint_schema_text(repair_trailing_comma(SEED_ITEMS))

    assert summary(broken) == [(ERROR, None, "json-syntax")]
    assert broken[0].line == 13
    assert "line 12" in broken[0].message
    assert summary(repaired) == [
        (WARNING, "WIRE", "boolean-ignored"),
        (WARNING, "BRARET", "boolean-ignored"),
        (ERROR, "BSW", "type-missing"),
    ]
    assert repaired[-1].line == 12


def seed_schemas() -> dict[str, str]:
    return {
        name: (SEED_SCHEMAS / f"{name}.json").read_text(encoding="utf-8") for name in ("interactions", "users", "items")
    }


def test_the_real_seed_schemas() -> None:
    seed = seed_schemas()

    interactions_findings = lint_schema_text(seed["interactions"])
    users_findings = lint_schema_text(seed["users"])
    items_findings = lint_schema_text(seed["items"])
    repaired_findings = lint_schema_text(repair_trailing_comma(seed["items"]))

    assert interactions_findings == []
    assert (WARNING, "BAND_SIZE", "categorical-non-string") in summary(users_findings)
    assert summary(items_findings) == [(ERROR, None, "json-syntax")]
    assert {(ERROR, "BSW", "type-missing"), (WARNING, "WIRE", "boolean-ignored"),
            (WARNING, "BRARET", "boolean-ignored")} <= set(summary(repaired_findings))  # fmt: skip


# --- our corrected schemas ------------------------------------------------------------------------------

NULLABLE_CATEGORICAL = (["string", "null"], True)
CONTRACT = {
    "interactions.json": ("Interactions", [
        ("USER_ID", "string", False), ("ITEM_ID", "string", False), ("TIMESTAMP", "long", False),
        ("EVENT_TYPE", "string", False), ("EVENT_VALUE", ["float", "null"], False),
        ("DEVICE", *NULLABLE_CATEGORICAL),
    ]),
    "users.json": ("Users", [
        ("USER_ID", "string", False), ("AGE", ["int", "null"], False), ("CUP_SIZE", *NULLABLE_CATEGORICAL),
        ("BAND_SIZE", *NULLABLE_CATEGORICAL),
    ]),
    "items.json": ("Items", [
        ("ITEM_ID", "string", False), ("CREATION_TIMESTAMP", "long", False),
        *[(name, *NULLABLE_CATEGORICAL) for name in ("CUP_SIZE", "BAND_SIZE", "WIRE", "BRARET", "CUP_TYPE",
                                                      "GORE_HEIGHT", "GORE_WIDTH", "BRARET_LINE", "BSW")],
    ]),
}  # fmt: skip


@pytest.mark.parametrize("file_name", sorted(CONTRACT))
def test_our_schemas_lint_clean(file_name: str) -> None:
    assert lint_schema_file(SCHEMAS_DIR / file_name) == []


@pytest.mark.parametrize("file_name", sorted(CONTRACT))
def test_our_schemas_match_the_dataset_contract(file_name: str) -> None:
    record_name, expected_fields = CONTRACT[file_name]

    loaded = json.loads((SCHEMAS_DIR / file_name).read_text(encoding="utf-8"))

    assert {key: loaded[key] for key in ("type", "name", "namespace", "version")} == {
        "type": "record",
        "name": record_name,
        "namespace": "com.amazonaws.personalize.schema",
        "version": "1.0",
    }
    fields = [(f["name"], f["type"], f.get("categorical", False)) for f in loaded["fields"]]
    assert fields == expected_fields


def test_our_schemas_keep_every_field_of_the_seed() -> None:
    seed = seed_schemas()
    seed["items"] = repair_trailing_comma(seed["items"])

    for dataset, text in seed.items():
        seed_names = [f["name"] for f in json.loads(text)["fields"]]
        ours = [f["name"] for f in json.loads((SCHEMAS_DIR / f"{dataset}.json").read_text())["fields"]]
        assert ours == seed_names


# --- the real-world corpus ------------------------------------------------------------------------------


@pytest.mark.parametrize("file_name", _corpus_names("valid"))
def test_real_schemas_personalize_accepted_have_no_error(file_name: str) -> None:
    findings = lint_schema_file(CORPUS / "valid" / file_name)

    assert not rules(findings, ERROR), [format_finding(f) for f in findings]


@pytest.mark.parametrize("file_name", _corpus_names("invalid"))
def test_real_broken_schemas_have_an_error(file_name: str) -> None:
    findings = lint_schema_file(CORPUS / "invalid" / file_name)

    assert rules(findings, ERROR)


def test_the_corpus_was_collected() -> None:
    valid = sorted(path.name for path in (CORPUS / "valid").glob("*.json"))

    assert len(valid) == 64
    assert _corpus_names("valid") == valid
    assert _corpus_names("invalid")


# --- the CLI --------------------------------------------------------------------------------------------

LINE_FORMAT = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+): (?P<severity>error|warning): (?P<field>[^:]+): .+$")


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_cli_only_warnings_exits_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "users.json", SEED_USERS)

    code = main(["lint-schemas", path])

    out = capsys.readouterr().out.splitlines()
    assert code == 0
    assert out[-1] == "1 file: 0 errors, 1 warning"
    match = LINE_FORMAT.match(out[0])
    assert match
    assert match.group("file", "line", "severity", "field") == (path, "9", "warning", "BAND_SIZE")


def test_cli_any_error_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = write(tmp_path, "users.json", SEED_USERS)
    broken = write(tmp_path, "items.json", repair_trailing_comma(SEED_ITEMS))

    code = main(["lint-schemas", good, broken])

    out = capsys.readouterr().out.splitlines()
    assert code == 1
    assert out[-1] == "2 files: 1 error, 3 warnings"
    assert all(LINE_FORMAT.match(line) for line in out[:-1])
    assert f"{broken}:12: error: BSW: " in "\n".join(out)


def test_cli_our_schemas_are_clean(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["lint-schemas", *(str(SCHEMAS_DIR / name) for name in sorted(CONTRACT))])

    assert code == 0
    assert capsys.readouterr().out == "3 files: 0 errors, 0 warnings\n"


def test_cli_type_option_tells_the_dataset_type(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "catalog.json", schema("Catalog", ITEMS))

    without_type = main(["lint-schemas", path])
    with_type = main(["lint-schemas", "--type", "items", path])

    out = capsys.readouterr().out
    assert (without_type, with_type) == (1, 0)
    assert "error: -: cannot tell the dataset type" in out


def test_cli_metadata_limit_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    users_path = write(tmp_path, "users.json", users(*_metadata(5)))
    items_path = write(tmp_path, "items.json", items(*_metadata(2)))

    codes = [
        main(["lint-schemas", users_path]),
        main(["lint-schemas", "--users-metadata-limit", "25", users_path]),
        main(["lint-schemas", items_path]),
        main(["lint-schemas", "--items-metadata-limit", "2", items_path]),
    ]

    assert codes == [1, 0, 0, 1]
    out = capsys.readouterr().out
    assert f"{users_path}:" in out
    assert "error: M4: Users schemas take at most 5 metadata fields" in out
    assert "error: M1: Items schemas take at most 2 metadata fields" in out


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ([], "no schema files given"),
        (["missing.json"], "missing.json: no such file"),
        ([".", "users.json"], ".: is a directory"),
        (["--type", "Products", "users.json"], "unknown --type 'Products'"),
        (["--users-metadata-limit", "0", "users.json"], "--users-metadata-limit must be at least 1"),
    ],
)
def test_cli_bad_usage_exits_2(
    arguments: list[str],
    message: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "users.json", SEED_USERS)

    code = main(["lint-schemas", *arguments])

    captured = capsys.readouterr()
    assert code == 2
    assert message in captured.err
    assert captured.out == ""  # nothing linted when the usage is wrong


def test_cli_a_non_number_limit_is_bad_usage(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["lint-schemas", "--items-metadata-limit", "many", "items.json"])

    assert exit_info.value.code == 2
    assert "invalid int value: 'many'" in capsys.readouterr().err
