"""Control-plane operations on schemas: CreateSchema, DescribeSchema, ListSchemas, DeleteSchema.

A schema is ready as soon as it is created (no statuses). CreateSchema refuses what the service refuses, through
:mod:`personalize_local.schema_validation`, and what the import jobs could not read.
"""

from __future__ import annotations

from typing import Any

from personalize_local import errors
from personalize_local.kinds import DATASET, SCHEMA
from personalize_local.resources import Handlers, required, resource_name
from personalize_local.schema_validation import schema_problems

MAX_SCHEMA_LENGTH = 20_000


class SchemaOps(Handlers):
    def create(self, params: dict[str, Any]) -> dict[str, Any]:
        from personalize_local.importer import SchemaError, parse_schema

        name = resource_name(params)
        text = required(params, "schema")
        if len(text) > MAX_SCHEMA_LENGTH:
            raise errors.InvalidInputError(f"schema is longer than {MAX_SCHEMA_LENGTH} characters")
        problems = schema_problems(text)
        if problems:
            raise errors.InvalidInputError("Invalid schema: " + "; ".join(problems))
        try:
            parse_schema(text)  # what import jobs will read it with
        except SchemaError as exc:
            raise errors.InvalidInputError(f"Invalid schema: {exc}") from exc
        arn = self.new_arn(SCHEMA, name)
        self.create_resource(SCHEMA, arn, {"name": name, "schemaArn": arn, "schema": text})
        return {"schemaArn": arn}

    def describe(self, params: dict[str, Any]) -> dict[str, Any]:
        return self.describe_resource(SCHEMA, params)

    def list(self, params: dict[str, Any]) -> dict[str, Any]:
        return self.list_resources(SCHEMA, params)

    def delete(self, params: dict[str, Any]) -> dict[str, Any]:
        arn = required(params, "schemaArn")
        self.get(SCHEMA, arn)
        if any(d["schemaArn"] == arn for d in self.store.all(DATASET)):
            raise errors.ResourceInUseError(f"Schema {arn} is used by a dataset.")
        self.store.remove(SCHEMA, arn)
        return {}
