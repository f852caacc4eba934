"""Control-plane operations on filters: CreateFilter checks the expression against the group's Items and Users
schemas (fields named in any case, as the service matches them).

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

        name = resource_name(params)
        group = self.get(DATASET_GROUP, required(params, "datasetGroupArn"))
        expression = required(params, "filterExpression")
        if len(expression) > MAX_EXPRESSION_LENGTH:
            raise errors.InvalidInputError(f"filterExpression is longer than {MAX_EXPRESSION_LENGTH} characters")
        try:
            parsed = parse_filter(expression)
        except FilterSyntaxError as exc:
            raise errors.InvalidInputError(str(exc)) from exc
        self._check_fields(group["datasetGroupArn"], "Items", "Items", parsed.item_fields())
        self._check_fields(group["datasetGroupArn"], "Users", "CurrentUser", parsed.user_fields())
        arn = self.new_arn(FILTER, name)
        record = {
            "name": name,
            "filterArn": arn,
            "datasetGroupArn": group["datasetGroupArn"],
            "filterExpression": expression,
        }
        self.create_resource(FILTER, arn, record)
        return {"filterArn": arn}

    def _check_fields(self, group_arn: str, dataset_type: str, written_as: str, fields: set[str]) -> None:
        """Every field the filter names is a field of the dataset's schema, named in any case, and not boolean."""
        from personalize_local.importer import parse_schema

        if not fields:
            return
        dataset = self.dataset_of(group_arn, dataset_type)
        if dataset is None:
            raise errors.InvalidInputError(
                f"Invalid Expression: {written_as}.{sorted(fields)[0]} needs a {dataset_type} dataset in the "
                "dataset group"
            )
        schema_fields = {f.name.upper(): f for f in parse_schema(self.get(SCHEMA, dataset["schemaArn"])["schema"])}
        for field in sorted(fields):
            found = schema_fields.get(field.upper())
            if found is None:
                raise errors.InvalidInputError(f"Invalid Expression: the {dataset_type} schema has no field {field}")
            if found.type == "boolean":
                raise errors.InvalidInputError(f"Invalid Expression: boolean field {field} cannot be filtered on")

    def describe(self, params: dict[str, Any]) -> dict[str, Any]:
        return self.describe_resource(FILTER, params)

    def list(self, params: dict[str, Any]) -> dict[str, Any]:
        return self.list_resources(FILTER, params)

    def delete(self, params: dict[str, Any]) -> dict[str, Any]:
        arn = required(params, "filterArn")
        self.get(FILTER, arn)
        self.lifecycle.start_delete(FILTER, arn)
        return {}
