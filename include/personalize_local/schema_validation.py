"""The checks Personalize makes on an Avro schema at CreateSchema, and again at CreateDataset for the dataset type.

The rules are those of docs/personalize-rules.md sections 1 and 2 that a schema alone shows, read strictly where the
docs are silent: a flat Avro ``record`` whose name tells the dataset type (Interactions, Users, Items, or Actions /
Action_Interactions, ignoring case and underscores); field names after Avro's rule, unique even once underscores and
case are ignored; types among float, double, int, long, string, boolean and null, where a union holds one data type
and may add null, and a field that can only be null carries nothing; the dataset type's required fields with exactly
their type; reserved fields with theirs; neither flag on a required or reserved field; ``textual`` only on strings
of Items schemas; a metadata field for Users, Items and Actions, and not more metadata fields than the quota.
``categorical`` on a number or a boolean is accepted: real schemas Personalize took carry it.

:func:`schema_problems` returns one message per problem, each naming the field it is about; the handlers turn them
into InvalidInputException. The pipeline's own linter (pulla_personalize.schema_lint) is a separate program whose
findings this module must never depend on: the endpoint stands in for the service the linter is checked against.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

ALLOWED_TYPES = frozenset({"float", "double", "int", "long", "string", "boolean", "null"})
AVRO_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
AVRO_NAMESPACE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
_COMPLEX_TYPES = ("array", "map", "record", "enum", "fixed")
#: Metadata field quotas (required and reserved fields not counted). Users and Items keep the long-standing 5 and
#: 50 of the limits page; the current guide allows 25 and 100 (docs/personalize-rules.md section 2).
INTERACTIONS_METADATA_LIMIT = 5
USERS_METADATA_LIMIT = 5
ITEMS_METADATA_LIMIT = 50


@dataclass(frozen=True)
class FieldType:
    base: str
    nullable: bool = False  # whether a union with null is accepted too

    def describe(self) -> str:
        return f'"{self.base}" or ["{self.base}", "null"]' if self.nullable else f'"{self.base}"'


@dataclass(frozen=True)
class DatasetSchema:
    """What a dataset type asks of its schema."""

    required: dict[str, FieldType]
    reserved: dict[str, FieldType] = field(default_factory=dict)
    needs_metadata: bool = False
    metadata_limit: int | None = None
    textual_allowed: bool = False


_STRING, _LONG, _NULLABLE_STRING = FieldType("string"), FieldType("long"), FieldType("string", nullable=True)
DATASET_SCHEMAS = {
    "Interactions": DatasetSchema(
        required={"USER_ID": _STRING, "ITEM_ID": _STRING, "TIMESTAMP": _LONG},
        reserved={
            "EVENT_TYPE": _STRING,
            "EVENT_VALUE": FieldType("float", nullable=True),
            "IMPRESSION": _NULLABLE_STRING,
            "RECOMMENDATION_ID": _NULLABLE_STRING,
            "EVENT_ATTRIBUTION_SOURCE": _NULLABLE_STRING,
        },
        metadata_limit=INTERACTIONS_METADATA_LIMIT,
    ),
    "Users": DatasetSchema(required={"USER_ID": _STRING}, needs_metadata=True, metadata_limit=USERS_METADATA_LIMIT),
    "Items": DatasetSchema(
        required={"ITEM_ID": _STRING},
        reserved={"CREATION_TIMESTAMP": _LONG},
        needs_metadata=True,
        metadata_limit=ITEMS_METADATA_LIMIT,
        textual_allowed=True,
    ),
    # The Next-Best-Action datasets: the guide gives their required fields, no reserved ones and no quota.
    "Actions": DatasetSchema(required={"ACTION_ID": _STRING}, needs_metadata=True),
    "Action_Interactions": DatasetSchema(
        required={"USER_ID": _STRING, "ACTION_ID": _STRING, "TIMESTAMP": _LONG, "EVENT_TYPE": _STRING}
    ),
}


def _name_key(name: str) -> str:
    """Names as Personalize compares them: without underscores, ignoring case."""
    return name.replace("_", "").lower()


_TYPE_BY_KEY = {_name_key(name): name for name in DATASET_SCHEMAS}


def dataset_type_of(record_name: Any) -> str | None:
    """The dataset type a record name tells (``interactions``, ``ActionInteractions`` ...), or None."""
    return _TYPE_BY_KEY.get(_name_key(record_name)) if isinstance(record_name, str) else None


def _show(value: Any) -> str:
    return json.dumps(value)


def _a(dataset_type: str) -> str:
    return f"an {dataset_type}" if dataset_type[0] in "AEIO" else f"a {dataset_type}"  # a Users, an Items


def _reject_constant(token: str) -> Any:
    raise ValueError(f"{token} is not a JSON value")


def schema_problems(text: str, dataset_type: str | None = None) -> list[str]:
    """What the service refuses in this schema text; [] if nothing.

    ``dataset_type`` (Interactions, Users or Items): check for a dataset of that type, as CreateDataset does;
    None: the record name tells the type, as at CreateSchema.
    """
    from personalize_local.request_validation import MAX_JSON_DEPTH, nesting_depth_exceeds

    # The decoder recurses per level: thousands of brackets would end in RecursionError, a server error.
    if nesting_depth_exceeds(text.encode("utf-8", "surrogatepass")):
        return [f"the schema nests JSON deeper than {MAX_JSON_DEPTH} levels"]
    try:
        document = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        return [f"the schema is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"]
    except ValueError as exc:
        return [f"the schema is not valid JSON: {exc}"]
    if not isinstance(document, dict) or document.get("type") != "record":
        return ['the schema must be a JSON object with "type": "record" (an Avro record)']
    problems: list[str] = []
    rules = _dataset_rules(document, dataset_type, problems)
    raw_fields = document.get("fields")
    if not isinstance(raw_fields, list):
        return [*problems, 'the record needs a "fields" list']
    fields: dict[str, dict[str, Any]] = {}
    first_by_key: dict[str, str] = {}
    for position, raw in enumerate(raw_fields, start=1):
        if not isinstance(raw, dict):
            problems.append(f'field {position} is not an object with "name" and "type"')
            continue
        name = raw.get("name")
        if "name" not in raw:
            problems.append(f'field {position} has no "name"')
            continue
        if not isinstance(name, str) or not AVRO_NAME.fullmatch(name):
            problems.append(
                f"field {position}: the name {_show(name)} must start with a letter or '_' and hold only letters, "
                "digits and '_'"
            )
            continue
        first = first_by_key.setdefault(_name_key(name), name)
        if name in fields:
            problems.append(f"field {name}: the name is declared twice")
            continue
        if first != name:
            problems.append(f"field {name}: the name collides with {first} (names are compared without '_' and case)")
            continue
        fields[name] = raw
        problems.extend(f"field {name}: {problem}" for problem in _field_problems(raw, rules))
    if rules is not None:
        problems.extend(_dataset_problems(fields, raw_fields, rules, dataset_type or dataset_type_of(document["name"])))
    return problems


def _dataset_rules(document: dict[str, Any], dataset_type: str | None, problems: list[str]) -> DatasetSchema | None:
    name = document.get("name")
    if "name" in document and not (isinstance(name, str) and AVRO_NAME.fullmatch(name)):
        problems.append(f"the record name {_show(name)} is not an Avro name")
    namespace = document.get("namespace")
    if "namespace" in document and not (isinstance(namespace, str) and AVRO_NAMESPACE.fullmatch(namespace)):
        problems.append(f"the namespace {_show(namespace)} is not a dotted Avro name")
    told = dataset_type_of(name)
    if dataset_type is None:
        if told is None:
            named = f"the record name {_show(name)} names no dataset type" if "name" in document else "no record name"
            problems.append(f"{named}: name the record Interactions, Users or Items")
            return None
        return DATASET_SCHEMAS[told]
    if told is not None and told != dataset_type:
        problems.append(f"the record is named {_show(name)} but the dataset type is {dataset_type}")
    return DATASET_SCHEMAS[dataset_type]


def _types(declared: Any) -> tuple[frozenset[str] | None, str | None]:
    """(the primitive types a field's ``type`` allows, None) or (None, why it is not a flat Personalize type)."""
    members = declared if isinstance(declared, list) else [declared]
    for member in members:
        if isinstance(member, list):
            return None, f"the union {_show(declared)} holds another union"
        if isinstance(member, dict):
            if member.get("type") in _COMPLEX_TYPES:
                return None, f"the type {_show(member)} is a complex type: schemas are flat"
            return None, f"the type {_show(member)} must be written as a plain type name"
        if member in _COMPLEX_TYPES:
            return None, f"the type {_show(member)} is a complex type: schemas are flat"
        if member not in ALLOWED_TYPES:
            return None, f"the type {_show(member)} is not one of {', '.join(sorted(ALLOWED_TYPES))}"
    if not members:
        return None, "the union is empty"
    if len(set(members)) != len(members):
        return None, f"the union {_show(declared)} repeats a type"
    if len([m for m in members if m != "null"]) > 1:
        return None, f"the union {_show(declared)} holds more than one data type"
    if set(members) == {"null"}:
        return None, f'the type {_show(declared)} can only be null: give it a data type, e.g. ["string", "null"]'
    return frozenset(members), None


def _field_problems(raw: dict[str, Any], rules: DatasetSchema | None) -> list[str]:
    if "type" not in raw:
        return ['it has no "type"']
    types, problem = _types(raw["type"])
    problems = [problem] if problem else []
    flags = {}
    for flag in ("categorical", "textual"):
        value = raw.get(flag, False)
        if not isinstance(value, bool):
            problems.append(f'"{flag}" must be true or false, not {_show(value)}')
        flags[flag] = value is True
    data_types = (types or frozenset()) - {"null"}
    if flags["categorical"] and flags["textual"]:
        problems.append("a field is categorical or textual, not both")
    if flags["textual"] and rules is not None and not rules.textual_allowed:
        problems.append("only Items schemas take textual fields")
    if flags["textual"] and types is not None and data_types != {"string"}:
        problems.append(f'"textual" needs a "string" field, not {_show(raw["type"])}')
    if rules is not None and (raw["name"] in rules.required or raw["name"] in rules.reserved):
        problems.extend(_fixed_field_problems(raw, types, flags, rules))
    return problems


def _fixed_field_problems(
    raw: dict[str, Any], types: frozenset[str] | None, flags: dict[str, bool], rules: DatasetSchema
) -> list[str]:
    """A required or reserved field: exactly its type, and no flag."""
    name = raw["name"]
    wanted = rules.required.get(name) or rules.reserved[name]
    role = "required" if name in rules.required else "reserved"
    problems = [f"a {role} field cannot be {flag}" for flag, value in flags.items() if value]
    if types is not None and not (types - {"null"} == {wanted.base} and (wanted.nullable or "null" not in types)):
        problems.append(f"a {role} field must be {wanted.describe()}, not {_show(raw['type'])}")
    return problems


def _dataset_problems(
    fields: dict[str, dict[str, Any]], raw_fields: list[Any], rules: DatasetSchema, dataset_type: str
) -> list[str]:
    problems = [
        f'field {name}: {_a(dataset_type)} schema requires it, as "{wanted.base}"'
        for name, wanted in rules.required.items()
        if name not in fields
    ]
    # Every field object that is neither required nor reserved counts, named or not.
    fixed = {*rules.required, *rules.reserved}
    metadata = [
        raw
        for raw in raw_fields
        if isinstance(raw, dict) and not (isinstance(raw.get("name"), str) and raw["name"] in fixed)
    ]
    if rules.needs_metadata and not metadata:
        problems.append(f"{_a(dataset_type)} schema needs at least one metadata field besides its required ones")
    if rules.metadata_limit is not None and len(metadata) > rules.metadata_limit:
        problems.append(
            f"{_a(dataset_type)} schema takes at most {rules.metadata_limit} metadata fields, this one has "
            f"{len(metadata)} (from field {metadata[rules.metadata_limit].get('name')} on)"
        )
    return problems
