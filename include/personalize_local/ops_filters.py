"""Control-plane operations on filters: CreateFilter checks the expression against the group's Items schema.

The expression language and its evaluation are :mod:`personalize_local.filters`; GetRecommendations applies them.
"""

from __future__ import annotations

from typing import Any

from personalize_local import errors
from personalize_local.kinds import DATASET_GROUP, FILTER, SCHEMA
from personalize_local.resources import Handlers, required, resource_name

MAX_EXPRESSION_LENGTH = 2500


class FilterOps(Handlers):
    def create(self, params: dict[str, Any]) -> dict[str, Any]:
        from personalize_local.filters import FilterSyntaxError, parse_filter
        from personalize_local.importer import parse_schema

        name = resource_name(params)
        group = self.get(DATASET_GROUP, required(params, "datasetGroupArn"))
        expression = required(params, "filterExpression")
        if len(expression) > MAX_EXPRESSION_LENGTH:
            raise errors.InvalidInputError(f"filterExpression is longer than {MAX_EXPRESSION_LENGTH} characters")
        try:
            parsed = parse_filter(expression)
        except FilterSyntaxError as exc:
            raise errors.InvalidInputError(str(exc)) from exc
        fields = parsed.item_fields()
        if fields:
            items = self.dataset_of(group["datasetGroupArn"], "Items")
            if items is None:
                raise errors.InvalidInputError(
                    f"Invalid Expression: Items.{sorted(fields)[0]} needs an Items dataset in the dataset group"
                )
            schema_fields = {f.name: f for f in parse_schema(self.get(SCHEMA, items["schemaArn"])["schema"])}
            for field in sorted(fields):
                if field not in schema_fields:
                    raise errors.InvalidInputError(f"Invalid Expression: the Items schema has no field {field}")
                if schema_fields[field].type == "boolean":
                    raise errors.InvalidInputError(f"Invalid Expression: boolean field {field} cannot be filtered on")
        arn = self.new_arn(FILTER, name)
        record = {
            "name": name,
            "filterArn": arn,
            "datasetGroupArn": group["datasetGroupArn"],
            "filterExpression": expression,
        }
        self.create_resource(FILTER, arn, record)
        return {"filterArn": arn}

    def describe(self, params: dict[str, Any]) -> dict[str, Any]:
        return self.describe_resource(FILTER, params)

    def list(self, params: dict[str, Any]) -> dict[str, Any]:
        return self.list_resources(FILTER, params)

    def delete(self, params: dict[str, Any]) -> dict[str, Any]:
        arn = required(params, "filterArn")
        self.get(FILTER, arn)
        self.lifecycle.start_delete(FILTER, arn)
        return {}
