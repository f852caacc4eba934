"""Lint Amazon Personalize dataset schemas before Personalize sees them.

Personalize takes an Avro record schema as a string and either rejects it (sometimes only when the dataset
is created) or, worse, accepts it and quietly ignores what the author meant: ``categorical`` on a number,
boolean fields, plain strings. This module checks a schema text against every rule of sections 1 and 2 of
``docs/personalize-rules.md`` that can be checked on the schema alone, and says what to do about each:

- **errors** are what the service rejects (or, where its docs are silent, what we read strictly): invalid
  JSON, not a record, nested or complex types, a dataset type that cannot be told, missing or mistyped
  required and reserved fields, a field without a type, ``textual`` outside Items or on a non-string, bad or
  colliding field names, too many metadata fields, a schema longer than the API accepts, Users or Items
  without a metadata field;
- **warnings** are what the service accepts but does not use the way the author meant: ``categorical`` on a
  non-string field, boolean fields, string metadata that is neither categorical nor textual, a field that
  can only be null, a repeated JSON key.

Dataset types. The record name tells the type, ignoring case and underscores (``interactions``, ``Items``,
``ActionInteractions``); ``--type`` tells it when the name does not. Besides Interactions, Users and Items
we know the two Next-Best-Action types from the current developer guide, Actions and Action_Interactions:
we check their required fields (ACTION_ID; USER_ID, ACTION_ID, TIMESTAMP, EVENT_TYPE), that Actions has a
metadata field, and the general rules. The rules file gives no reserved types or metadata limits for them,
so we check none.

Choices where the docs are silent (the strict reading, as the rules file asks):

- required fields take exactly their type, not a union with null; EVENT_TYPE and CREATION_TIMESTAMP too;
- required and reserved fields take neither ``categorical`` nor ``textual``;
- field names collide when they are equal once underscores are removed and case is ignored (the PutEvents
  ``properties`` keys are camelCase forms of the field names, so ``GENRE`` and ``genre`` map to one key);
- a union holds one data type, optionally with ``null``: ``["string", "int"]`` is an error;
- a primitive written as an object (``{"type": "long", "logicalType": ...}``) is an error: schemas are flat;
- the length limit is the current API's 20,000 characters (10,000 in 2023), counted on the text as given.
"""

from __future__ import annotations

import argparse
import bisect
import json
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from json.decoder import JSONObject, scanstring
from json.scanner import py_make_scanner
from pathlib import Path
from typing import Any

ERROR = "error"
WARNING = "warning"

#: Longest schema string CreateSchema accepts (botocore ``AvroSchema`` max length).
MAX_SCHEMA_CHARS = 20_000
#: Custom metadata fields an Interactions schema may have, reserved fields excluded.
INTERACTIONS_METADATA_LIMIT = 5
DEFAULT_USERS_METADATA_LIMIT = 5
DEFAULT_ITEMS_METADATA_LIMIT = 50

ALLOWED_TYPES = frozenset({"float", "double", "int", "long", "string", "boolean", "null"})
NUMERIC_TYPES = frozenset({"float", "double", "int", "long"})
# Avro's own naming rule; a namespace is such names joined with dots.
AVRO_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
AVRO_NAMESPACE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*)?\Z")

# What to do instead of each Avro type Personalize does not take.
_NOT_FLAT_ADVICE = {
    "array": 'arrays are not allowed (schemas are flat): declare it as "string" with "categorical": true and '
    'join the values with "|"',
    "map": 'maps are not allowed (schemas are flat): make one field per key, or one "string" field with '
    '"categorical": true holding the values joined with "|"',
    "record": "nested records are not allowed (schemas are flat): move its fields into the top-level record",
}
_NOT_ALLOWED_ADVICE = {
    "enum": 'enums are not allowed: declare it as "string" with "categorical": true',
    "fixed": 'fixed is not allowed: declare it as "string"',
    "bytes": 'bytes is not allowed: declare it as "string"',
}
_ALLOWED_LIST = ", ".join(f'"{name}"' for name in sorted(ALLOWED_TYPES))

#: Every rule id a finding can carry, with what it catches. Ids are stable: tools may match on them.
RULES: dict[str, str] = {
    # errors: Personalize rejects the schema (or the docs are silent and we read them strictly)
    "encoding": "the file is not UTF-8",
    "json-syntax": "the text is not valid JSON",
    "schema-too-long": "longer than the 20,000 characters CreateSchema accepts",
    "not-a-record": "not an Avro record",
    "fields-missing": "no fields list",
    "field-not-object": "an entry of fields that is not an object",
    "record-name-invalid": "the record name is not an Avro name",
    "namespace-invalid": "the namespace is not a dotted Avro name",
    "dataset-type": "the dataset type cannot be told from the record name and no --type was given",
    "dataset-type-mismatch": "the record name names another dataset type than --type",
    "type-missing": "a field without a type",
    "not-flat": "arrays, maps, nested records, unions in unions, types written as objects",
    "type-not-allowed": "a type outside float, double, int, long, string, boolean and null (enum, bytes)",
    "union-invalid": "an empty union, a repeated member, or more than one data type",
    "field-name-missing": "a field without a name",
    "field-name-invalid": "a field name that breaks Avro's naming rule",
    "field-name-duplicate": "the same field name twice",
    "field-name-collision": "field names equal once underscores and case are ignored",
    "required-missing": "a required field is missing",
    "required-type": "a required field has the wrong type",
    "reserved-type": "a reserved field has the wrong type",
    "reserved-flag": "a required or reserved field marked categorical or textual",
    "flag-not-boolean": "categorical or textual is not true/false",
    "categorical-and-textual": "a field both categorical and textual",
    "textual-not-items": "a textual field outside an Items schema",
    "textual-non-string": "a textual field that is not a string",
    "metadata-limit": "more metadata fields than the dataset type allows",
    "metadata-missing": "a Users, Items or Actions schema without a metadata field",
    # warnings: accepted, but not used the way the author meant
    "categorical-non-string": "categorical on a number: no effect, the field is used as a number",
    "boolean-ignored": "a boolean field: unused in training and filters",
    "string-unused": "string metadata neither categorical nor textual: unused in training",
    "null-only": "a field that can only be null",
    "record-name": "--type given and the record name does not name the dataset type",
    "duplicate-key": "a JSON key repeated in one object: only the last counts",
}


@dataclass(frozen=True)
class Finding:
    """One problem found in a schema."""

    path: str  # file name as given, or "<schema>"
    line: int  # 1-based line of the field / problem in the text (1 when unknown)
    severity: str  # "error" | "warning"
    field: str | None  # field name the finding is about, or None for schema-level findings
    message: str
    rule: str  # short stable rule id, e.g. "json-syntax", "reserved-type"


@dataclass(frozen=True)
class FieldType:
    """A type Personalize requires for a required or reserved field."""

    base: str
    nullable: bool = False  # whether [base, "null"] is accepted as well

    def describe(self) -> str:
        return f'"{self.base}" or ["{self.base}", "null"]' if self.nullable else f'"{self.base}"'


@dataclass(frozen=True)
class DatasetRules:
    """What one dataset type requires of its schema."""

    name: str
    required: dict[str, FieldType]
    reserved: dict[str, FieldType]
    needs_metadata: bool
    textual_allowed: bool
    limit_option: str | None  # the keyword argument (and CLI option) that sets its metadata limit, if any


STRING = FieldType("string")
NULLABLE_STRING = FieldType("string", nullable=True)
LONG = FieldType("long")

DATASET_RULES: dict[str, DatasetRules] = {
    "Interactions": DatasetRules(
        name="Interactions",
        required={"USER_ID": STRING, "ITEM_ID": STRING, "TIMESTAMP": LONG},
        reserved={
            "EVENT_TYPE": STRING,
            "EVENT_VALUE": FieldType("float", nullable=True),
            "IMPRESSION": NULLABLE_STRING,
            "RECOMMENDATION_ID": NULLABLE_STRING,
            "EVENT_ATTRIBUTION_SOURCE": NULLABLE_STRING,
        },
        needs_metadata=False,
        textual_allowed=False,
        limit_option=None,
    ),
    "Users": DatasetRules(
        name="Users",
        required={"USER_ID": STRING},
        reserved={},
        needs_metadata=True,
        textual_allowed=False,
        limit_option="users_metadata_limit",
    ),
    "Items": DatasetRules(
        name="Items",
        required={"ITEM_ID": STRING},
        reserved={"CREATION_TIMESTAMP": LONG},
        needs_metadata=True,
        textual_allowed=True,
        limit_option="items_metadata_limit",
    ),
    "Actions": DatasetRules(
        name="Actions",
        required={"ACTION_ID": STRING},
        reserved={},
        needs_metadata=True,
        textual_allowed=False,
        limit_option=None,
    ),
    "Action_Interactions": DatasetRules(
        name="Action_Interactions",
        required={"USER_ID": STRING, "ACTION_ID": STRING, "TIMESTAMP": LONG, "EVENT_TYPE": STRING},
        reserved={},
        needs_metadata=False,
        textual_allowed=False,
        limit_option=None,
    ),
}
#: Every dataset type Personalize knows (the linter checks any schema, not only the three this pipeline fills).
LINTED_DATASET_TYPES: tuple[str, ...] = tuple(DATASET_RULES)


def _name_key(name: str) -> str:
    """How Personalize compares names: without underscores, ignoring case."""
    return name.replace("_", "").lower()


_DATASET_TYPE_KEYS = {_name_key(name): name for name in LINTED_DATASET_TYPES}


def normalize_dataset_type(value: str) -> str | None:
    """The canonical dataset type for ``value`` (case and underscores ignored), or None if it names none."""
    return _DATASET_TYPE_KEYS.get(_name_key(value))


def detect_dataset_type(schema: dict) -> str | None:
    """The dataset type a parsed schema's record name tells, ignoring case and underscores, or None.

    Returns "Interactions", "Users" or "Items", or "Actions" / "Action_Interactions" for the Next-Best-Action
    datasets (whose record names AWS writes "Actions" and "ActionInteractions").
    """
    name = schema.get("name") if isinstance(schema, dict) else None
    return normalize_dataset_type(name) if isinstance(name, str) else None


# --- JSON with positions ---


class _JsonObject(dict):
    """A parsed JSON object that remembers where it sits in the text and which keys it repeated."""

    start: int = 0
    end: int = 0
    repeated_keys: tuple[str, ...] = ()


def _object_from_pairs(pairs: list[tuple[str, Any]]) -> _JsonObject:
    obj = _JsonObject(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        obj.repeated_keys = tuple(key for key, _ in pairs if key in seen or seen.add(key))
    return obj


def _parse_object_with_offsets(s_and_end: tuple[str, int], *args: Any) -> tuple[_JsonObject, int]:
    obj, end = JSONObject(s_and_end, *args)
    obj.start = s_and_end[1] - 1  # the "{"
    obj.end = end
    return obj, end


class _NotJsonConstant(ValueError):
    """NaN and Infinity: Python's json reads them, JSON (and so Personalize) does not."""


def _reject_constant(token: str) -> Any:
    raise _NotJsonConstant(token)


def _parse_json_with_offsets(text: str) -> Any:
    decoder = json.JSONDecoder(object_pairs_hook=_object_from_pairs, parse_constant=_reject_constant)
    decoder.parse_object = _parse_object_with_offsets
    # The pure-Python scanner calls parse_object; the C one would bypass it.
    decoder.scan_once = py_make_scanner(decoder)
    return decoder.decode(text)


def _key_offsets(text: str, obj: _JsonObject) -> dict[str, int]:
    """Offsets of ``obj``'s own keys (not those of nested objects) in ``text``; the last of a repeated key."""
    offsets: dict[str, int] = {}
    depth = 0
    expecting_key = False
    index = obj.start
    while index < obj.end:
        char = text[index]
        if char == '"':
            value, after = scanstring(text, index + 1)
            if depth == 1 and expecting_key:
                offsets[value] = index
                expecting_key = False
            index = after
            continue
        if char in "{[":
            depth += 1
            expecting_key = depth == 1
        elif char in "}]":
            depth -= 1
        elif char == "," and depth == 1:
            expecting_key = True
        index += 1
    return offsets


# --- The linter ---


def _show(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _a(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


@dataclass
class _Field:
    """A field object of the record with what we learned about it."""

    obj: _JsonObject
    name: str | None
    line: int
    members: frozenset[str] | None = None  # primitive type names of a valid flat type, else None

    @property
    def data_types(self) -> frozenset[str]:
        return (self.members or frozenset()) - {"null"}

    @property
    def nullable(self) -> bool:
        return self.members is not None and "null" in self.members


class _SchemaLinter:
    def __init__(
        self,
        text: str,
        path: str,
        dataset_type: str | None,
        users_metadata_limit: int,
        items_metadata_limit: int,
    ) -> None:
        self.text = text
        self.path = path
        self.requested_type = dataset_type
        self.limits = {
            "users_metadata_limit": users_metadata_limit,
            "items_metadata_limit": items_metadata_limit,
        }
        self.findings: list[Finding] = []
        self._line_starts = [0] + [match.end() for match in re.finditer("\n", text)]
        self._key_cache: dict[int, dict[str, int]] = {}

    # helpers

    def line_of(self, offset: int) -> int:
        return bisect.bisect_right(self._line_starts, offset)

    def key_line(self, obj: _JsonObject, key: str) -> int:
        offsets = self._key_cache.get(id(obj))
        if offsets is None:
            offsets = self._key_cache[id(obj)] = _key_offsets(self.text, obj)
        return self.line_of(offsets.get(key, obj.start))

    def report(self, severity: str, line: int, field: str | None, rule: str, message: str) -> None:
        if rule not in RULES:
            raise KeyError(f"unknown rule id {rule!r}")
        self.findings.append(Finding(self.path, line, severity, field, message, rule))

    # the checks

    def lint(self) -> list[Finding]:
        schema = self.parse()
        if schema is not None:
            self.check_length()
            self.check_record(schema)
        # Errors and warnings in the order a reader meets them in the file.
        return sorted(self.findings, key=lambda finding: finding.line)

    def parse(self) -> _JsonObject | None:
        try:
            return _parse_json_with_offsets(self.text)
        except json.JSONDecodeError as error:
            self.report(ERROR, error.lineno, None, "json-syntax", self.describe_json_error(error))
        except _NotJsonConstant as error:
            token = str(error)
            match = re.search(rf"(?<![\w\"]){re.escape(token)}", self.text)
            line = self.line_of(match.start()) if match else 1
            self.report(ERROR, line, None, "json-syntax", f"invalid JSON: {token} is not a JSON value: write a number")
        return None

    def describe_json_error(self, error: json.JSONDecodeError) -> str:
        where = f"invalid JSON at line {error.lineno}, column {error.colno}"
        if not self.text.strip():
            return f"{where}: the schema is empty: write an Avro record schema"
        if error.pos == 0 and self.text.startswith("\ufeff"):
            return f"{where}: the text starts with a byte-order mark: save it as UTF-8 without BOM"
        before = self.text[: error.pos].rstrip()
        if before.endswith(",") and self.text[error.pos : error.pos + 1] in ("}", "]"):
            comma_line = self.line_of(len(before) - 1)
            return (
                f'{where}: a comma before "{self.text[error.pos]}" with nothing after it: remove the '
                f"trailing comma on line {comma_line}"
            )
        return f"{where}: {error.msg}"

    def check_length(self) -> None:
        if len(self.text) <= MAX_SCHEMA_CHARS:
            return
        compact = len(json.dumps(json.loads(self.text), separators=(",", ":"), ensure_ascii=False))
        advice = (
            "send it without whitespace (it then has {n} characters)"
            if compact <= MAX_SCHEMA_CHARS
            else "drop fields (even without whitespace it has {n} characters)"
        ).format(n=f"{compact:,}")
        self.report(
            ERROR,
            1,
            None,
            "schema-too-long",
            f"the schema has {len(self.text):,} characters; CreateSchema accepts at most "
            f"{MAX_SCHEMA_CHARS:,}: {advice}",
        )

    def check_record(self, schema: Any) -> None:
        if not isinstance(schema, _JsonObject):
            kind = "a list" if isinstance(schema, list) else f"the value {_show(schema)}"
            self.report(
                ERROR,
                1,
                None,
                "not-a-record",
                f'the schema is {kind}: write a JSON object with "type": "record", "name", "namespace" and "fields"',
            )
            return
        self.check_repeated_keys(schema, None)
        if schema.get("type") != "record":
            found = f"found {_show(schema['type'])}" if "type" in schema else "it has none"
            self.report(
                ERROR,
                self.key_line(schema, "type"),
                None,
                "not-a-record",
                f'the top-level "type" must be "record" ({found}): Personalize schemas are Avro records',
            )
        self.check_names(schema)
        rules = self.resolve_dataset_type(schema)
        raw_fields = schema.get("fields")
        if not isinstance(raw_fields, list):
            found = f"found {_show(raw_fields)}" if "fields" in schema else "there is none"
            self.report(
                ERROR,
                self.key_line(schema, "fields"),
                None,
                "fields-missing",
                f'the record needs a "fields" list of field objects ({found}): add "fields": [...]',
            )
            return
        fields = self.collect_fields(schema, raw_fields)
        for field in fields:
            self.check_field_type(field)
        self.check_field_names(fields)
        if rules is not None:
            self.check_dataset_fields(schema, rules, fields)
        for field in fields:
            self.check_flags(field, rules)

    def check_repeated_keys(self, obj: _JsonObject, field: _Field | None) -> None:
        for key in dict.fromkeys(obj.repeated_keys):
            self.report(
                WARNING,
                field.line if field else self.key_line(obj, key),
                field.name if field else None,
                "duplicate-key",
                f'the key "{key}" appears more than once in this object and only the last one counts: keep one',
            )

    def check_names(self, schema: _JsonObject) -> None:
        name = schema.get("name")
        if "name" in schema and not (isinstance(name, str) and AVRO_NAME.match(name)):
            self.report(
                ERROR,
                self.key_line(schema, "name"),
                None,
                "record-name-invalid",
                f"the record name {_show(name)} is not a valid Avro name: name the record after its dataset "
                'type, e.g. "Interactions"',
            )
        namespace = schema.get("namespace")
        if "namespace" in schema and not (isinstance(namespace, str) and AVRO_NAMESPACE.match(namespace)):
            self.report(
                ERROR,
                self.key_line(schema, "namespace"),
                None,
                "namespace-invalid",
                f'the namespace {_show(namespace)} is not a dotted Avro name: use "com.amazonaws.personalize.schema"',
            )

    def resolve_dataset_type(self, schema: _JsonObject) -> DatasetRules | None:
        detected = detect_dataset_type(schema)
        name_line = self.key_line(schema, "name")
        name = schema.get("name")
        if self.requested_type is None:
            if detected is None:
                told = f"the record name {_show(name)}" if "name" in schema else "a record without a name"
                self.report(
                    ERROR,
                    name_line,
                    None,
                    "dataset-type",
                    f"cannot tell the dataset type from {told}: name the record "
                    '"Interactions", "Users" or "Items" (case does not matter), or pass --type',
                )
                return None
            return DATASET_RULES[detected]
        if detected is not None and detected != self.requested_type:
            self.report(
                ERROR,
                name_line,
                None,
                "dataset-type-mismatch",
                f"the record is named {_show(name)} but the dataset type is {self.requested_type}: "
                f'rename the record "{self.requested_type}" or lint it with the right --type',
            )
        elif detected is None:
            self.report(
                WARNING,
                name_line,
                None,
                "record-name",
                f"the record name {_show(name)} does not name the {self.requested_type} dataset type, which "
                f'Personalize\'s docs say it must: name the record "{self.requested_type}"',
            )
        return DATASET_RULES[self.requested_type]

    def collect_fields(self, fields_owner: _JsonObject, raw_fields: list[Any]) -> list[_Field]:
        fields: list[_Field] = []
        for raw in raw_fields:
            if not isinstance(raw, _JsonObject):
                self.report(
                    ERROR,
                    self.key_line(fields_owner, "fields"),
                    None,
                    "field-not-object",
                    f'every entry of "fields" must be an object with "name" and "type" (found {_show(raw)})',
                )
                continue
            name = raw.get("name")
            field = _Field(raw, name if isinstance(name, str) else None, self.key_line(raw, "name"))
            self.check_repeated_keys(raw, field)
            fields.append(field)
        return fields

    def check_field_type(self, field: _Field) -> None:
        obj = field.obj
        if "type" not in obj:
            self.report(
                ERROR,
                field.line,
                field.name,
                "type-missing",
                'the field has no "type" (Avro requires one): declare it, e.g. "type": "string", '
                'or ["string", "null"] if it can be blank',
            )
            return
        declared = obj["type"]
        members = declared if isinstance(declared, list) else [declared]
        problems = [problem for member in members if (problem := self.type_problem(member, declared))]
        for rule, message in problems:
            self.report(ERROR, field.line, field.name, rule, message)
        if problems:
            return
        if isinstance(declared, list):
            if not declared:
                self.report(
                    ERROR,
                    field.line,
                    field.name,
                    "union-invalid",
                    'the union is empty: declare a type, e.g. ["string", "null"]',
                )
                return
            repeated = sorted({member for member in declared if declared.count(member) > 1})
            if repeated:
                self.report(
                    ERROR,
                    field.line,
                    field.name,
                    "union-invalid",
                    f"the union {_show(declared)} repeats {', '.join(_show(m) for m in repeated)}, which "
                    "Avro rejects: list each type once",
                )
                return
            data_types = [member for member in declared if member != "null"]
            if len(data_types) > 1:
                self.report(
                    ERROR,
                    field.line,
                    field.name,
                    "union-invalid",
                    f"the union {_show(declared)} mixes {len(data_types)} data types but a column holds one: "
                    f'keep one, e.g. ["{data_types[0]}", "null"]',
                )
                return
        field.members = frozenset(members)
        if field.members == {"null"}:
            self.report(
                WARNING,
                field.line,
                field.name,
                "null-only",
                f"the type {_show(declared)} can only hold blanks, so the field carries no data: declare its "
                'data type, e.g. ["string", "null"]',
            )

    @staticmethod
    def type_problem(member: Any, declared: Any) -> tuple[str, str] | None:
        """Why ``member`` (the type or one member of a union) is not a flat Personalize type, or None."""
        where = "" if member is declared else f" (in the union {_show(declared)})"
        if isinstance(member, str):
            if member in ALLOWED_TYPES:
                return None
            if member in _NOT_FLAT_ADVICE:
                return "not-flat", f"{_NOT_FLAT_ADVICE[member]}{where}"
            if member in _NOT_ALLOWED_ADVICE:
                return "type-not-allowed", f"{_NOT_ALLOWED_ADVICE[member]}{where}"
            return (
                "type-not-allowed",
                f"unknown type {_show(member)}{where}: use one of {_ALLOWED_LIST}",
            )
        if isinstance(member, dict):
            inner = member.get("type")
            if not isinstance(inner, str):
                return "not-flat", f"{_show(member)} nests a type inside a type{where}: schemas are flat"
            if inner in _NOT_FLAT_ADVICE:
                return "not-flat", f"{_NOT_FLAT_ADVICE[inner]}{where}"
            if inner in _NOT_ALLOWED_ADVICE:
                return "type-not-allowed", f"{_NOT_ALLOWED_ADVICE[inner]}{where}"
            if inner in ALLOWED_TYPES:
                return (
                    "not-flat",
                    f"the type is written as an object {_show(member)}{where}: write the plain name "
                    f'"{inner}" (Personalize takes no logical types or type attributes)',
                )
            return (
                "type-not-allowed",
                f"{_show(member)} is not a type Personalize takes{where}: use one of {_ALLOWED_LIST}",
            )
        if isinstance(member, list):
            return "not-flat", f"a union cannot contain another union ({_show(declared)}): flatten it"
        return "type-not-allowed", f"{_show(member)} is not a type{where}: use one of {_ALLOWED_LIST}"

    def check_field_names(self, fields: list[_Field]) -> None:
        first_by_key: dict[str, _Field] = {}
        for field in fields:
            name = field.obj.get("name")
            if "name" not in field.obj:
                self.report(
                    ERROR,
                    field.line,
                    None,
                    "field-name-missing",
                    'the field has no "name": add one (letters, digits and "_"), e.g. "name": "CUP_SIZE"',
                )
                continue
            if not isinstance(name, str) or not AVRO_NAME.match(name):
                suggestion = re.sub(r"\W", "_", name).upper() if isinstance(name, str) else "CUP_SIZE"
                if not AVRO_NAME.match(suggestion):
                    suggestion = f"_{suggestion}"
                self.report(
                    ERROR,
                    field.line,
                    name if isinstance(name, str) else None,
                    "field-name-invalid",
                    f'the field name {_show(name)} breaks Avro\'s naming rule (a letter or "_", then only '
                    f'letters, digits and "_"): rename it, e.g. "{suggestion}"',
                )
                continue
            first = first_by_key.setdefault(_name_key(name), field)
            if first is field:
                continue
            if first.name == name:
                self.report(
                    ERROR,
                    field.line,
                    name,
                    "field-name-duplicate",
                    f"the field {name} is declared twice (first on line {first.line}): remove or rename one",
                )
            else:
                self.report(
                    ERROR,
                    field.line,
                    name,
                    "field-name-collision",
                    f"the field {name} collides with {first.name} (line {first.line}): Personalize compares "
                    "field names without underscores and case, so rename one",
                )

    def check_dataset_fields(self, schema: _JsonObject, rules: DatasetRules, fields: list[_Field]) -> None:
        by_name = {field.name: field for field in fields if field.name is not None}
        fields_line = self.key_line(schema, "fields")
        for name, wanted in rules.required.items():
            field = by_name.get(name)
            if field is None:
                near = [f.name for f in fields if f.name is not None and _name_key(f.name) == _name_key(name)]
                hint = (
                    f'rename {_show(near[0])} to "{name}" (required field names are upper case)'
                    if near
                    else f'add {{"name": "{name}", "type": "{wanted.base}"}}'
                )
                self.report(
                    ERROR,
                    fields_line,
                    None,
                    "required-missing",
                    f"{rules.name} schemas require the field {name}: {hint}",
                )
            else:
                self.check_fixed_type(field, wanted, "required-type", f"{rules.name} schemas require {name}")
        for name, wanted in rules.reserved.items():
            if name in by_name:
                whose = f"{name} is reserved in {rules.name} schemas and must"
                self.check_fixed_type(by_name[name], wanted, "reserved-type", whose)
        metadata = [f for f in fields if f.name not in rules.required and f.name not in rules.reserved]
        if rules.needs_metadata and not metadata:
            id_field = next(iter(rules.required))
            self.report(
                ERROR,
                fields_line,
                None,
                "metadata-missing",
                f"{rules.name} schemas need at least one metadata field besides {id_field}: add one, e.g. a "
                '"string" field with "categorical": true or a numeric field',
            )
        limit, option = self.metadata_limit(rules)
        if limit is not None and len(metadata) > limit:
            over = metadata[limit]
            how = f"drop {len(metadata) - limit}"
            if option:
                how += f", or raise --{option.replace('_', '-')} if your account's quota is higher"
            self.report(
                ERROR,
                over.line,
                over.name,
                "metadata-limit",
                f"{rules.name} schemas take at most {limit} metadata fields (required and reserved fields "
                f"not counted) and this one has {len(metadata)}, the extra ones starting here: {how}",
            )

    def metadata_limit(self, rules: DatasetRules) -> tuple[int | None, str | None]:
        if rules.name == "Interactions":
            return INTERACTIONS_METADATA_LIMIT, None
        if rules.limit_option is not None:
            return self.limits[rules.limit_option], rules.limit_option
        return None, None

    def check_fixed_type(self, field: _Field, wanted: FieldType, rule: str, subject: str) -> None:
        """``subject`` starts the message: "Users schemas require USER_ID" / "X is reserved ... and must"."""
        if field.members is None:
            return  # already reported as an invalid type
        if field.data_types == {wanted.base} and (wanted.nullable or not field.nullable):
            return
        if field.data_types == {wanted.base}:
            advice = f'it cannot be blank: declare "type": "{wanted.base}" and fill it in every row'
        elif wanted.nullable:
            advice = f'declare "type": "{wanted.base}", or ["{wanted.base}", "null"] if it can be blank'
        else:
            advice = f'declare "type": "{wanted.base}"'
        self.report(
            ERROR,
            field.line,
            field.name,
            rule,
            f"{subject} to be {wanted.describe()} (found {_show(field.obj['type'])}): {advice}",
        )

    def check_flags(self, field: _Field, rules: DatasetRules | None) -> None:
        obj = field.obj
        flags = {}
        for flag in ("categorical", "textual"):
            value = obj.get(flag, False)
            if not isinstance(value, bool):
                self.report(
                    ERROR,
                    field.line,
                    field.name,
                    "flag-not-boolean",
                    f'"{flag}" must be JSON true or false (found {_show(value)}): write "{flag}": true',
                )
            flags[flag] = value is True
        categorical, textual = flags["categorical"], flags["textual"]
        data_types = field.data_types
        fixed = rules is not None and (field.name in rules.required or field.name in rules.reserved)
        if fixed and (categorical or textual):
            flag = "categorical" if categorical else "textual"
            self.report(
                ERROR,
                field.line,
                field.name,
                "reserved-flag",
                f"{field.name} is a required or reserved {rules.name} field and must not be {flag}: remove "
                f'"{flag}": true',
            )
        if categorical and textual:
            self.report(
                ERROR,
                field.line,
                field.name,
                "categorical-and-textual",
                'a field is either categorical or textual, not both: keep "categorical" for labels and '
                '"textual" for free text',
            )
        if textual and rules is not None and not rules.textual_allowed:
            self.report(
                ERROR,
                field.line,
                field.name,
                "textual-not-items",
                f'only Items schemas take textual fields, this is {rules.name}: remove "textual": true '
                '(use "categorical": true for labels)',
            )
        if textual and field.members is not None and data_types != {"string"}:
            self.report(
                ERROR,
                field.line,
                field.name,
                "textual-non-string",
                f'"textual" needs a "string" field (found {_show(obj["type"])}): declare it as "string" or '
                '["string", "null"], or remove "textual": true',
            )
        # A categorical boolean gets the boolean warning below, which says what to do instead.
        if categorical and not fixed and data_types and not data_types & {"string", "boolean"}:
            (base,) = data_types
            string_type = '["string", "null"]' if field.nullable else '"string"'
            self.report(
                WARNING,
                field.line,
                field.name,
                "categorical-non-string",
                f'"categorical" has no effect on {_a(base)} "{base}" field: Personalize uses {field.name} as '
                f"a number. To use the values as categories declare it as {string_type} (same values, read "
                'as labels); to keep it numeric, remove "categorical": true',
            )
        if "boolean" in data_types:
            string_type = '["string", "null"]' if field.nullable else '"string"'
            self.report(
                WARNING,
                field.line,
                field.name,
                "boolean-ignored",
                "Personalize ignores boolean fields in training and filters: declare it as "
                f'{string_type} with "categorical": true and write "True"/"False", or as "int" 0/1',
            )
        if rules is None or fixed or data_types != {"string"} or categorical or textual:
            return
        choices = '"categorical": true'
        if rules.textual_allowed:
            choices += ' (labels) or "textual": true (free text)'
        self.report(
            WARNING,
            field.line,
            field.name,
            "string-unused",
            'a string field with neither "categorical" nor "textual" is imported but not used in training: '
            f"add {choices} if it should count, or drop it",
        )


def lint_schema_text(
    text: str,
    *,
    path: str = "<schema>",
    dataset_type: str | None = None,
    users_metadata_limit: int = DEFAULT_USERS_METADATA_LIMIT,
    items_metadata_limit: int = DEFAULT_ITEMS_METADATA_LIMIT,
) -> list[Finding]:
    """Every finding for one schema text, in line order.

    ``dataset_type`` overrides the record name (any case; ValueError if it names no dataset type).
    """
    canonical = None
    if dataset_type is not None:
        canonical = normalize_dataset_type(dataset_type)
        if canonical is None:
            raise ValueError(f"unknown dataset type {dataset_type!r}: choose one of {', '.join(LINTED_DATASET_TYPES)}")
    for limit in (users_metadata_limit, items_metadata_limit):
        if limit < 1:
            raise ValueError(f"a metadata limit must be at least 1 (got {limit})")
    return _SchemaLinter(text, path, canonical, users_metadata_limit, items_metadata_limit).lint()


def lint_schema_file(path: str | Path, **kwargs: Any) -> list[Finding]:
    """Every finding for one schema file; OSError when it cannot be read.

    Takes the keyword arguments of :func:`lint_schema_text`. A file that is not UTF-8 is an "encoding" error.
    """
    return _lint_bytes(Path(path).read_bytes(), str(path), **kwargs)


def _lint_bytes(data: bytes, path: str, **kwargs: Any) -> list[Finding]:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        message = f"the file is not UTF-8 (byte 0x{data[error.start]:02x}): save it as UTF-8"
        return [Finding(path, line, ERROR, None, message, "encoding")]
    return lint_schema_text(text, path=path, **kwargs)


def format_finding(finding: Finding) -> str:
    """``FILE:LINE: error|warning: FIELD: message``, with ``-`` for a schema-level finding."""
    field = finding.field if finding.field is not None else "-"
    return f"{finding.path}:{finding.line}: {finding.severity}: {field}: {finding.message}"


def summarize(file_count: int, findings: Iterable[Finding]) -> str:
    """The last line of the report, e.g. ``3 files: 2 errors, 3 warnings``."""
    severities = [finding.severity for finding in findings]
    return (
        f"{_plural(file_count, 'file')}: {_plural(severities.count(ERROR), 'error')}, "
        f"{_plural(severities.count(WARNING), 'warning')}"
    )


# --- CLI ---

_USAGE_ERROR = 2


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="*", metavar="FILE", help="Avro schema JSON files to check")
    parser.add_argument(
        "--type",
        dest="dataset_type",
        metavar="TYPE",
        help=f"dataset type of every FILE ({', '.join(LINTED_DATASET_TYPES)}; any case); default: the record name",
    )
    parser.add_argument(
        "--users-metadata-limit",
        type=int,
        default=DEFAULT_USERS_METADATA_LIMIT,
        metavar="N",
        help=f"most metadata fields a Users schema may have (default {DEFAULT_USERS_METADATA_LIMIT}, the "
        "long-standing quota; today's is 25)",
    )
    parser.add_argument(
        "--items-metadata-limit",
        type=int,
        default=DEFAULT_ITEMS_METADATA_LIMIT,
        metavar="N",
        help=f"most metadata fields an Items schema may have (default {DEFAULT_ITEMS_METADATA_LIMIT})",
    )
    parser.epilog = (
        "Prints FILE:LINE: error|warning: FIELD: message per finding and a count line. "
        "Exit 0 with only warnings, 1 with any error, 2 on bad usage."
    )


def _usage_error(message: str) -> int:
    print(f"pulla-personalize lint-schemas: error: {message}", file=sys.stderr)
    return _USAGE_ERROR


def _read_files(paths: Sequence[str]) -> tuple[dict[str, bytes], list[str]]:
    contents: dict[str, bytes] = {}
    problems: list[str] = []
    for path in paths:
        try:
            contents[path] = Path(path).read_bytes()
        except FileNotFoundError:
            problems.append(f"{path}: no such file")
        except IsADirectoryError:
            problems.append(f"{path}: is a directory, not a schema file")
        except OSError as error:
            problems.append(f"{path}: cannot read it: {error.strerror or error}")
    return contents, problems


def run(args: argparse.Namespace) -> int:
    if not args.files:
        return _usage_error("no schema files given: pass one or more FILE paths")
    if args.dataset_type is not None and normalize_dataset_type(args.dataset_type) is None:
        return _usage_error(
            f"unknown --type {args.dataset_type!r}: choose one of {', '.join(LINTED_DATASET_TYPES)} (any case)"
        )
    for option in ("users_metadata_limit", "items_metadata_limit"):
        if getattr(args, option) < 1:
            return _usage_error(f"--{option.replace('_', '-')} must be at least 1")
    # Read everything first: an unreadable file is a usage error and nothing is linted.
    contents, problems = _read_files(args.files)
    if problems:
        for problem in problems:
            _usage_error(problem)
        return _USAGE_ERROR
    all_findings: list[Finding] = []
    for path in args.files:
        findings = _lint_bytes(
            contents[path],
            path,
            dataset_type=args.dataset_type,
            users_metadata_limit=args.users_metadata_limit,
            items_metadata_limit=args.items_metadata_limit,
        )
        for finding in findings:
            print(format_finding(finding))
        all_findings.extend(findings)
    print(summarize(len(args.files), all_findings))
    return 1 if any(finding.severity == ERROR for finding in all_findings) else 0
