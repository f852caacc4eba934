"""PutItems and PutUsers (personalize-events): items and users added or changed one record at a time.

As on the service, a record sent this way reaches the Items or Users data at once: the call checks every record
against the dataset's schema before any is kept (``items[2].properties: ...`` names the record and the field),
appends them to the dataset's ``records.jsonl`` (:meth:`StateStore.append_records`, one whole write per call, so
it survives a restart), and serving builds the campaigns' indexes anew before the call returns, so the next
GetRecommendations sees the new item or the user's new values, filters on ``Items.`` and ``CurrentUser.`` fields
included. Training reads them too. A record replaces the earlier one with the same id, bulk or individual; a FULL
import replaces the bulk data only, as the service's does ("data you imported individually is not replaced").

A record's ``properties`` is a JSON object whose keys are the schema's field names in camel case
(``numberOfRatings`` for NUMBER_OF_RATINGS; :func:`field_key` compares names as the service's schemas do, without
underscores and ignoring case), and whose values have the field's type: numbers for int, long, float and double
(a numeric string is read as one), true or false for boolean, text for strings, several categories joined by ``|``.
Every field the schema declares non-nullable must be given.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from personalize_local import errors
from personalize_local.kinds import ACTIVE, DATASET, SCHEMA
from personalize_local.resources import Handlers, required

if TYPE_CHECKING:
    from personalize_local.importer import Field
    from personalize_local.serving import Serving

#: The id field of each dataset type PutItems and PutUsers write, and the request member that carries it.
ID_FIELDS = {"Items": ("ITEM_ID", "itemId", "items"), "Users": ("USER_ID", "userId", "users")}


def field_key(name: str) -> str:
    """A field or property name as Personalize compares them: without underscores, ignoring case."""
    return name.replace("_", "").lower()


def camel_case(name: str) -> str:
    """A schema field name as a properties key: NUMBER_OF_RATINGS -> numberOfRatings."""
    head, *rest = name.lower().split("_")
    return head + "".join(part.capitalize() for part in rest)


class RecordOps(Handlers):
    """PutItems and PutUsers: check, keep, and make serving use the new records."""

    def __init__(self, *args: Any, serving: Serving) -> None:
        super().__init__(*args)
        self.serving = serving

    def put_items(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._put("Items", params)

    def put_users(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._put("Users", params)

    def _put(self, dataset_type: str, params: dict[str, Any]) -> dict[str, Any]:
        from personalize_local.importer import parse_schema

        id_field, id_member, list_member = ID_FIELDS[dataset_type]
        dataset_arn = required(params, "datasetArn")
        dataset = self.store.get(DATASET, dataset_arn)
        if dataset is None:
            raise errors.ResourceNotFoundError(f"Dataset {dataset_arn} does not exist.")
        if dataset["datasetType"].lower() != dataset_type.lower():
            raise errors.InvalidInputError(
                f"Dataset {dataset_arn} is an {dataset['datasetType']} dataset; Put{dataset_type} writes to "
                f"the {dataset_type} dataset"
            )
        if dataset["status"] != ACTIVE:
            raise errors.ResourceInUseError(f"Dataset {dataset_arn} is {dataset['status']}, not ACTIVE.")
        records = required(params, list_member)
        fields = parse_schema(self.get(SCHEMA, dataset["schemaArn"])["schema"])
        # Every record is checked before any is kept: a bad one refuses the whole call.
        rows = [
            record_row(f"{list_member}[{position}]", record, fields, id_field, id_member)
            for position, record in enumerate(records)
        ]
        self.store.append_records(dataset_arn, rows)
        # The next request must see the records: new indexes are built before the call returns, as after an import.
        self.count_data_change(dataset["datasetGroupArn"])
        self.serving.group_data_changed(dataset["datasetGroupArn"])
        return {}


def record_row(
    where: str, record: dict[str, Any], fields: list[Field], id_field: str, id_member: str
) -> dict[str, str]:
    """One PutItems/PutUsers record as a row of the dataset (every schema field, '' for null).

    InvalidInputException naming the record (``where``) and the property for anything the schema does not take.
    """
    from personalize_local.serving import property_text

    record_id = record.get(id_member)
    if not isinstance(record_id, str) or not record_id:
        raise errors.InvalidInputError(f"{where}.{id_member} is required")
    properties = record.get("properties")
    parsed: dict[str, Any] = {}
    if properties is not None:
        try:
            parsed = json.loads(properties) if isinstance(properties, str) else None
        except (ValueError, RecursionError):
            parsed = None
        if not isinstance(parsed, dict):
            raise errors.InvalidInputError(f"{where}.properties must be a JSON object string")
    by_key = {field_key(field.name): field for field in fields}
    row = {field.name: "" for field in fields}
    row[id_field] = record_id
    given: set[str] = set()
    for key, raw in parsed.items():
        field = by_key.get(field_key(key))
        shown = errors.shorten(key, 64)
        if field is None or field.name == id_field:
            names = ", ".join(camel_case(f.name) for f in fields if f.name != id_field)
            reason = f"the {id_field} is the record's {id_member}" if field is not None else "names no schema field"
            raise errors.InvalidInputError(f"{where}.properties: {shown!r} {reason} (the schema's fields: {names})")
        if field.name in given:
            raise errors.InvalidInputError(f"{where}.properties names {field.name} twice")
        given.add(field.name)
        row[field.name] = property_text(raw, field, f"{where}.properties.{shown}")
    missing = [f.name for f in fields if not f.nullable and f.name != id_field and row[f.name] == ""]
    if missing:
        keys = ", ".join(camel_case(name) for name in missing)
        raise errors.InvalidInputError(f"{where}.properties: the schema requires {keys} (not nullable)")
    return row
