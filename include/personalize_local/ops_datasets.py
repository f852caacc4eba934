"""Control-plane operations on dataset groups and datasets, UpdateDataset's schema change included.

CreateDataset checks the schema against the dataset type as the service does (its required and reserved fields);
UpdateDataset moves a dataset to a schema that keeps every existing field, through ``latestDatasetUpdate``. Deleting
a dataset removes its data files, and is refused while an import into it or a solution version of its group is in
flight; a dataset group can only go once its datasets, solutions, event tracker and filters are gone and no data
deletion job of it is still to finish.
"""

from __future__ import annotations

from typing import Any

from personalize_local import errors
from personalize_local.kinds import (
    ACTIVE,
    DATASET,
    DATASET_GROUP,
    IMPORT_JOB,
    IN_FLIGHT,
    KINDS,
    SCHEMA,
    SOLUTION_VERSION,
    children_of,
)
from personalize_local.resources import SERVICE_DATASET_TYPES, Handlers, required, resource_name, role_arn
from personalize_local.schema_validation import schema_problems


class DatasetGroupOps(Handlers):
    def create(self, params: dict[str, Any]) -> dict[str, Any]:
        name = resource_name(params)
        role = role_arn(params)
        arn = self.new_arn(DATASET_GROUP, name)
        record = {
            "name": name,
            "datasetGroupArn": arn,
            "roleArn": role,
            "_dataVersion": 0,  # counts imports: serving caches are keyed by it
        }
        self.create_resource(DATASET_GROUP, arn, record)
        return {"datasetGroupArn": arn}

    def describe(self, params: dict[str, Any]) -> dict[str, Any]:
        return self.describe_resource(DATASET_GROUP, params)

    def list(self, params: dict[str, Any]) -> dict[str, Any]:
        return self.list_resources(DATASET_GROUP, params)

    def delete(self, params: dict[str, Any]) -> dict[str, Any]:
        arn = required(params, "datasetGroupArn")
        self.get(DATASET_GROUP, arn)
        for kind in children_of(DATASET_GROUP):
            spec = KINDS[kind]
            if any(r.get("datasetGroupArn") == arn and spec.holds_parent(r) for r in self.store.all(kind)):
                raise errors.ResourceInUseError(f"Dataset group {arn} still has a {kind}; delete it first.")
        self.lifecycle.start_delete(DATASET_GROUP, arn)
        return {}


class DatasetOps(Handlers):
    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.lifecycle.set_update(DATASET, self._apply_update)

    def create(self, params: dict[str, Any]) -> dict[str, Any]:
        name = resource_name(params)
        type_raw = required(params, "datasetType")
        dataset_type = SERVICE_DATASET_TYPES.get(str(type_raw).lower())
        if dataset_type is None:
            raise errors.InvalidInputError(f"datasetType {type_raw!r} must be Interactions, Users or Items")
        group = self.get(DATASET_GROUP, required(params, "datasetGroupArn"))
        schema = self.get(SCHEMA, required(params, "schemaArn"))
        if group["status"] != ACTIVE:
            raise errors.ResourceInUseError(
                f"Dataset group {group['datasetGroupArn']} is {group['status']}, not ACTIVE."
            )
        problems = schema_problems(schema["schema"], dataset_type)
        if problems:
            raise errors.InvalidInputError(f"Schema does not fit a {dataset_type} dataset: " + "; ".join(problems))
        arn = self.new_arn(DATASET, f"{group['name']}/{dataset_type.upper()}")
        record = {
            "name": name,
            "datasetArn": arn,
            "datasetGroupArn": group["datasetGroupArn"],
            "datasetType": dataset_type,
            "schemaArn": schema["schemaArn"],
            "_hasBulk": False,  # INCREMENTAL imports need an earlier bulk import
        }
        self.create_resource(DATASET, arn, record)
        return {"datasetArn": arn}

    def describe(self, params: dict[str, Any]) -> dict[str, Any]:
        return self.describe_resource(DATASET, params)

    def list(self, params: dict[str, Any]) -> dict[str, Any]:
        return self.list_resources(DATASET, params)

    def delete(self, params: dict[str, Any]) -> dict[str, Any]:
        arn = required(params, "datasetArn")
        dataset = self.get(DATASET, arn)
        if any(j["datasetArn"] == arn and j["status"] in IN_FLIGHT for j in self.store.all(IMPORT_JOB)):
            raise errors.ResourceInUseError(f"Dataset {arn} has an import job in progress.")
        # As the service: not while a solution version of its dataset group trains on it.
        group_arn = dataset["datasetGroupArn"]
        if any(
            v.get("datasetGroupArn") == group_arn and v["status"] in IN_FLIGHT for v in self.store.all(SOLUTION_VERSION)
        ):
            raise errors.ResourceInUseError(f"Dataset {arn} is used by a solution version in training.")
        directory = self.store.dataset_dir(arn)

        def cleanup() -> None:
            for path in directory.glob("*"):
                path.unlink(missing_ok=True)

        self.lifecycle.start_delete(DATASET, arn, cleanup)
        return {}

    def update(self, params: dict[str, Any]) -> dict[str, Any]:
        """Move a dataset to a new schema that keeps every existing field (the service only lets you add)."""
        from personalize_local.importer import parse_schema

        dataset = self.get(DATASET, required(params, "datasetArn"))
        schema = self.get(SCHEMA, required(params, "schemaArn"))
        if dataset["status"] != ACTIVE:
            raise errors.ResourceInUseError(f"Dataset {dataset['datasetArn']} is {dataset['status']}, not ACTIVE.")
        if self.lifecycle.update_in_flight(DATASET, dataset):
            raise errors.ResourceInUseError(f"Dataset {dataset['datasetArn']} already has an update in progress.")
        old_fields = {f.name: f for f in parse_schema(self.get(SCHEMA, dataset["schemaArn"])["schema"])}
        new_fields = {f.name: f for f in parse_schema(schema["schema"])}
        changed = sorted(name for name, f in old_fields.items() if new_fields.get(name) != f)
        if changed:
            raise errors.InvalidInputError(
                f"The new schema must keep every field of the current one unchanged; removed or changed: {changed}"
            )
        problems = schema_problems(schema["schema"], SERVICE_DATASET_TYPES[dataset["datasetType"].lower()])
        if problems:
            raise errors.InvalidInputError("Schema does not fit the dataset: " + "; ".join(problems))
        self.lifecycle.start_update(DATASET, dataset["datasetArn"], {"schemaArn": schema["schemaArn"]})
        return {"datasetArn": dataset["datasetArn"]}

    @staticmethod
    def _apply_update(dataset: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
        return {"schemaArn": update["schemaArn"]}  # the dataset takes the new schema at ACTIVE
