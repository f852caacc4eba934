"""Operators, every path through botocore's Stubber on the hook's real client: each request is checked against the
Personalize API model and against the exact parameters expected, and every queued response must be consumed."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from airflow.sdk.exceptions import TaskDeferred

from personalize_provider.operators import personalize as ops
from personalize_provider.operators.personalize import (
    PersonalizeBatchInferenceJobOperator,
    PersonalizeBatchSegmentJobOperator,
    PersonalizeCreateSolutionVersionOperator,
    PersonalizeDataDeletionJobOperator,
    PersonalizeDatasetImportJobOperator,
    PersonalizeEnsureCampaignOperator,
    PersonalizeEnsureDatasetGroupOperator,
    PersonalizeEnsureDatasetOperator,
    PersonalizeEnsureEventTrackerOperator,
    PersonalizeEnsureFilterOperator,
    PersonalizeEnsureSchemaOperator,
    PersonalizeEnsureSolutionOperator,
    PersonalizeEvaluateSolutionVersionOperator,
    PersonalizeResourceError,
    PersonalizeSchemaConflictError,
    PersonalizeUpdateCampaignOperator,
)
from personalize_provider.triggers.personalize import (
    PersonalizeBatchInferenceJobCompleteTrigger,
    PersonalizeBatchSegmentJobCompleteTrigger,
    PersonalizeCampaignUpdateCompleteTrigger,
    PersonalizeDataDeletionJobCompleteTrigger,
    PersonalizeDatasetGroupActiveTrigger,
    PersonalizeDatasetImportJobCompleteTrigger,
    PersonalizeSolutionVersionCompleteTrigger,
)

from .conftest import REGION, arn, operator_kwargs

GROUP = arn("dataset-group/pulla")
DATASET = arn("dataset/pulla/INTERACTIONS")
SCHEMA_V1 = arn("schema/pulla-interactions-v1")
SCHEMA_V2 = arn("schema/pulla-interactions-v2")
SOLUTION = arn("solution/pulla-user-personalization")
VERSION_OLD = arn("solution/pulla-user-personalization/1a2b3c4d")
VERSION_NEW = arn("solution/pulla-user-personalization/5e6f7a8b")
CAMPAIGN = arn("campaign/pulla")
RECIPE = "arn:aws:personalize:::recipe/aws-user-personalization"
JOB_NAME = "pulla-interactions-20261127-incremental-1a2b3c4d"
JOB = arn(f"dataset-import-job/{JOB_NAME}")
NDCG = "normalized_discounted_cumulative_gain_at_25"
PRECISION = "precision_at_25"


def client_error(stubber, method: str, code: str, message: str, params: dict[str, Any] | None = None) -> None:
    stubber.add_client_error(method, service_error_code=code, service_message=message, expected_params=params)


class TestEnsureDatasetGroup:
    def make(self, **kwargs: Any) -> PersonalizeEnsureDatasetGroupOperator:
        return PersonalizeEnsureDatasetGroupOperator(task_id="dataset_group", name="pulla", **operator_kwargs(**kwargs))

    def test_creates_waits_and_records_the_console_link(self, stubbed, context) -> None:
        op = self.make()
        stubber = stubbed(op)
        stubber.add_response("list_dataset_groups", {"datasetGroups": []}, {})
        stubber.add_response("create_dataset_group", {"datasetGroupArn": GROUP}, {"name": "pulla"})
        for status in ("CREATE PENDING", "ACTIVE"):
            stubber.add_response(
                "describe_dataset_group", {"datasetGroup": {"status": status}}, {"datasetGroupArn": GROUP}
            )
        assert op.execute(context) == GROUP
        assert context["ti"].xcom["personalize_dataset_group"] == {
            "region_name": REGION,
            "aws_domain": "aws.amazon.com",
            "resource_arn": GROUP,
        }

    def test_adopts_an_active_group_without_waiting(self, stubbed, context) -> None:
        op = self.make()
        stubbed(op).add_response(
            "list_dataset_groups",
            {"datasetGroups": [{"name": "pulla", "datasetGroupArn": GROUP, "status": "ACTIVE"}]},
            {},
        )
        assert op.execute(context) == GROUP

    def test_adopts_a_group_still_being_created_and_waits(self, stubbed, context) -> None:
        op = self.make()
        stubber = stubbed(op)
        stubber.add_response(
            "list_dataset_groups",
            {"datasetGroups": [{"name": "pulla", "datasetGroupArn": GROUP, "status": "CREATE IN_PROGRESS"}]},
            {},
        )
        stubber.add_response(
            "describe_dataset_group", {"datasetGroup": {"status": "ACTIVE"}}, {"datasetGroupArn": GROUP}
        )
        assert op.execute(context) == GROUP

    def test_already_exists_race_adopts_the_winner(self, stubbed, context) -> None:
        op = self.make()
        stubber = stubbed(op)
        stubber.add_response("list_dataset_groups", {"datasetGroups": []}, {})
        client_error(
            stubber, "create_dataset_group", "ResourceAlreadyExistsException", "pulla exists", {"name": "pulla"}
        )
        stubber.add_response(
            "list_dataset_groups",
            {"datasetGroups": [{"name": "pulla", "datasetGroupArn": GROUP, "status": "ACTIVE"}]},
            {},
        )
        assert op.execute(context) == GROUP

    def test_failed_creation_carries_the_failure_reason(self, stubbed, context) -> None:
        op = self.make()
        stubber = stubbed(op)
        stubber.add_response("list_dataset_groups", {"datasetGroups": []}, {})
        stubber.add_response("create_dataset_group", {"datasetGroupArn": GROUP}, {"name": "pulla"})
        failed = {"datasetGroup": {"status": "CREATE FAILED", "failureReason": "KMS key not accessible"}}
        stubber.add_response("describe_dataset_group", failed, {"datasetGroupArn": GROUP})
        stubber.add_response("describe_dataset_group", failed, {"datasetGroupArn": GROUP})
        with pytest.raises(PersonalizeResourceError) as raised:
            op.execute(context)
        message = str(raised.value)
        assert GROUP in message
        assert "dataset group" in message
        assert "CREATE FAILED" in message
        assert "KMS key not accessible" in message

    def test_api_error_names_the_resource_and_the_error_code(self, stubbed, context) -> None:
        op = self.make(role_arn="arn:aws:iam::123456789012:role/nope")
        stubber = stubbed(op)
        stubber.add_response("list_dataset_groups", {"datasetGroups": []}, {})
        client_error(
            stubber,
            "create_dataset_group",
            "InvalidInputException",
            "roleArn needs kmsKeyArn",
            {"name": "pulla", "roleArn": "arn:aws:iam::123456789012:role/nope"},
        )
        with pytest.raises(
            PersonalizeResourceError, match="dataset group 'pulla' failed: InvalidInputException: roleArn"
        ):
            op.execute(context)

    def test_deferrable_defers_to_the_group_trigger(self, stubbed, context) -> None:
        op = self.make(deferrable=True, waiter_delay=5, waiter_max_attempts=10)
        stubber = stubbed(op)
        stubber.add_response("list_dataset_groups", {"datasetGroups": []}, {})
        stubber.add_response("create_dataset_group", {"datasetGroupArn": GROUP}, {"name": "pulla"})
        with pytest.raises(TaskDeferred) as deferred:
            op.execute(context)
        trigger = deferred.value.trigger
        assert isinstance(trigger, PersonalizeDatasetGroupActiveTrigger)
        assert trigger.serialize()[1] == {
            "resource_arn": GROUP,
            "waiter_delay": 5,
            "waiter_max_attempts": 10,
            "aws_conn_id": None,
            "region_name": REGION,
        }
        assert deferred.value.method_name == "execute_complete"
        assert deferred.value.kwargs == {"kind": "dataset_group_active"}
        assert deferred.value.timeout == timedelta(seconds=55)

    def test_execute_complete_success_returns_the_arn(self, context) -> None:
        event = {"status": "success", "resource_arn": GROUP}
        assert self.make().execute_complete(context, event, kind="dataset_group_active") == GROUP

    def test_execute_complete_error_fetches_the_failure_reason(self, stubbed, context) -> None:
        op = self.make()
        stubbed(op).add_response(
            "describe_dataset_group",
            {"datasetGroup": {"status": "CREATE FAILED", "failureReason": "quota"}},
            {"datasetGroupArn": GROUP},
        )
        event = {"status": "error", "message": "Waiter failed", "resource_arn": GROUP}
        with pytest.raises(PersonalizeResourceError, match="status CREATE FAILED, failureReason: quota"):
            op.execute_complete(context, event, kind="dataset_group_active")

    def test_execute_complete_without_event_is_an_error(self, context) -> None:
        with pytest.raises(PersonalizeResourceError, match="without a usable trigger event"):
            self.make().execute_complete(context, None, kind="dataset_group_active")

    def test_execute_complete_with_the_event_alone_uses_the_waiter_it_names(self, context) -> None:
        # dag.test() resumes with {"event": ...} only, dropping the kwargs given to defer().
        event = {"status": "success", "resource_arn": GROUP, "waiter": "dataset_group_active"}
        assert self.make().execute_complete(context, event) == GROUP

    def test_execute_complete_with_neither_kind_nor_waiter_is_an_error(self, context) -> None:
        with pytest.raises(PersonalizeResourceError, match="without a usable trigger event"):
            self.make().execute_complete(context, {"status": "success", "resource_arn": GROUP})


INTERACTIONS_SCHEMA = {
    "type": "record",
    "name": "Interactions",
    "namespace": "com.amazonaws.personalize.schema",
    "fields": [
        {"name": "USER_ID", "type": "string"},
        {"name": "ITEM_ID", "type": "string"},
        {"name": "TIMESTAMP", "type": "long"},
    ],
    "version": "1.0",
}


class TestEnsureSchema:
    def make(self, **kwargs: Any) -> PersonalizeEnsureSchemaOperator:
        kwargs.setdefault("schema", INTERACTIONS_SCHEMA)
        return PersonalizeEnsureSchemaOperator(
            task_id="schema", name="pulla-interactions-v1", **operator_kwargs(**kwargs)
        )

    def test_creates_from_a_file(self, stubbed, context, tmp_path) -> None:
        path = tmp_path / "interactions.json"
        path.write_text(json.dumps(INTERACTIONS_SCHEMA, indent=2))
        op = self.make(schema=None, schema_path=str(path))
        stubber = stubbed(op)
        stubber.add_response("list_schemas", {"schemas": []}, {})
        stubber.add_response(
            "create_schema",
            {"schemaArn": SCHEMA_V1},
            {"name": "pulla-interactions-v1", "schema": json.dumps(INTERACTIONS_SCHEMA, separators=(",", ":"))},
        )
        assert op.execute(context) == SCHEMA_V1

    def test_adopts_a_schema_with_the_same_content(self, stubbed, context) -> None:
        op = self.make()
        stubber = stubbed(op)
        stubber.add_response(
            "list_schemas", {"schemas": [{"name": "pulla-interactions-v1", "schemaArn": SCHEMA_V1}]}, {}
        )
        stubber.add_response(
            "describe_schema",
            {
                "schema": {
                    "name": "pulla-interactions-v1",
                    "schemaArn": SCHEMA_V1,
                    "schema": json.dumps(INTERACTIONS_SCHEMA),
                }
            },
            {"schemaArn": SCHEMA_V1},
        )
        assert op.execute(context) == SCHEMA_V1

    def test_same_name_other_content_is_a_clear_error(self, stubbed, context) -> None:
        changed = json.loads(json.dumps(INTERACTIONS_SCHEMA))
        changed["fields"].append({"name": "EVENT_TYPE", "type": "string"})
        op = self.make(schema=changed)
        stubber = stubbed(op)
        stubber.add_response(
            "list_schemas", {"schemas": [{"name": "pulla-interactions-v1", "schemaArn": SCHEMA_V1}]}, {}
        )
        stubber.add_response(
            "describe_schema",
            {"schema": {"schemaArn": SCHEMA_V1, "schema": json.dumps(INTERACTIONS_SCHEMA)}},
            {"schemaArn": SCHEMA_V1},
        )
        with pytest.raises(PersonalizeSchemaConflictError) as raised:
            op.execute(context)
        message = str(raised.value)
        assert "Schemas are immutable" in message
        assert "field EVENT_TYPE is new" in message
        assert "'pulla-interactions-v2'" in message
        assert "bumping the version suffix" in message


class TestEnsureDataset:
    def make(self, **kwargs: Any) -> PersonalizeEnsureDatasetOperator:
        return PersonalizeEnsureDatasetOperator(
            task_id="dataset",
            name="pulla-interactions",
            dataset_group_arn=GROUP,
            dataset_type="Interactions",
            schema_arn=SCHEMA_V2,
            **operator_kwargs(**kwargs),
        )

    def list_response(self, stubber, datasets: list[dict[str, Any]]) -> None:
        stubber.add_response("list_datasets", {"datasets": datasets}, {"datasetGroupArn": GROUP})

    def test_creates_and_waits(self, stubbed, context) -> None:
        op = self.make()
        stubber = stubbed(op)
        self.list_response(stubber, [])
        stubber.add_response(
            "create_dataset",
            {"datasetArn": DATASET},
            {
                "name": "pulla-interactions",
                "schemaArn": SCHEMA_V2,
                "datasetGroupArn": GROUP,
                "datasetType": "Interactions",
            },
        )
        stubber.add_response("describe_dataset", {"dataset": {"status": "ACTIVE"}}, {"datasetArn": DATASET})
        assert op.execute(context) == DATASET

    def test_adopts_a_dataset_on_the_same_schema(self, stubbed, context) -> None:
        op = self.make()
        stubber = stubbed(op)
        self.list_response(stubber, [{"name": "pulla-interactions", "datasetArn": DATASET, "status": "ACTIVE"}])
        stubber.add_response(
            "describe_dataset",
            {"dataset": {"datasetType": "INTERACTIONS", "schemaArn": SCHEMA_V2, "status": "ACTIVE"}},
            {"datasetArn": DATASET},
        )
        assert op.execute(context) == DATASET

    def test_rolled_schema_moves_the_dataset_and_waits_for_the_update(self, stubbed, context) -> None:
        op = self.make()
        stubber = stubbed(op)
        self.list_response(stubber, [{"name": "pulla-interactions", "datasetArn": DATASET, "status": "ACTIVE"}])
        stubber.add_response(
            "describe_dataset",
            {"dataset": {"datasetType": "Interactions", "schemaArn": SCHEMA_V1, "status": "ACTIVE"}},
            {"datasetArn": DATASET},
        )
        stubber.add_response("update_dataset", {"datasetArn": DATASET}, {"datasetArn": DATASET, "schemaArn": SCHEMA_V2})
        for status in ("UPDATE IN_PROGRESS", "ACTIVE"):
            stubber.add_response(
                "describe_dataset",
                {"dataset": {"status": "ACTIVE", "latestDatasetUpdate": {"status": status, "schemaArn": SCHEMA_V2}}},
                {"datasetArn": DATASET},
            )
        assert op.execute(context) == DATASET

    def test_dataset_of_another_type_is_an_error(self, stubbed, context) -> None:
        op = self.make()
        stubber = stubbed(op)
        self.list_response(stubber, [{"name": "pulla-interactions", "datasetArn": DATASET, "status": "ACTIVE"}])
        stubber.add_response(
            "describe_dataset", {"dataset": {"datasetType": "Users", "schemaArn": SCHEMA_V2}}, {"datasetArn": DATASET}
        )
        with pytest.raises(PersonalizeResourceError, match="exists with type 'Users'"):
            op.execute(context)


class TestEnsureSolution:
    def make(self, **kwargs: Any) -> PersonalizeEnsureSolutionOperator:
        return PersonalizeEnsureSolutionOperator(
            task_id="solution",
            name="pulla-user-personalization",
            dataset_group_arn=GROUP,
            recipe_arn=RECIPE,
            solution_config={"algorithmHyperParameters": {"hidden_dimension": "149"}},
            **operator_kwargs(**kwargs),
        )

    def test_creates_with_auto_training_off(self, stubbed, context) -> None:
        op = self.make()
        stubber = stubbed(op)
        stubber.add_response("list_solutions", {"solutions": []}, {"datasetGroupArn": GROUP})
        stubber.add_response(
            "create_solution",
            {"solutionArn": SOLUTION},
            {
                "name": "pulla-user-personalization",
                "datasetGroupArn": GROUP,
                "recipeArn": RECIPE,
                "solutionConfig": {"algorithmHyperParameters": {"hidden_dimension": "149"}},
                "performAutoTraining": False,
            },
        )
        stubber.add_response("describe_solution", {"solution": {"status": "ACTIVE"}}, {"solutionArn": SOLUTION})
        assert op.execute(context) == SOLUTION

    def test_existing_solution_with_another_recipe_is_an_error(self, stubbed, context) -> None:
        op = self.make()
        stubber = stubbed(op)
        stubber.add_response(
            "list_solutions",
            {"solutions": [{"name": "pulla-user-personalization", "solutionArn": SOLUTION, "status": "ACTIVE"}]},
            {"datasetGroupArn": GROUP},
        )
        stubber.add_response(
            "describe_solution",
            {"solution": {"recipeArn": "arn:aws:personalize:::recipe/aws-similar-items", "status": "ACTIVE"}},
            {"solutionArn": SOLUTION},
        )
        with pytest.raises(PersonalizeResourceError, match="recipe cannot change"):
            op.execute(context)

    def expect_existing(self, stubber, solution: dict[str, Any]) -> None:
        stubber.add_response(
            "list_solutions",
            {"solutions": [{"name": "pulla-user-personalization", "solutionArn": SOLUTION, "status": "ACTIVE"}]},
            {"datasetGroupArn": GROUP},
        )
        body = {"recipeArn": RECIPE, "status": "ACTIVE", "performAutoTraining": False, **solution}
        stubber.add_response("describe_solution", {"solution": body}, {"solutionArn": SOLUTION})

    def test_existing_solution_with_the_same_settings_is_adopted(self, stubbed, context) -> None:
        op = self.make()
        config = {"algorithmHyperParameters": {"hidden_dimension": "149"}, "eventValueThreshold": None}
        self.expect_existing(stubbed(op), {"solutionConfig": {k: v for k, v in config.items() if v}})
        assert op.execute(context) == SOLUTION

    @pytest.mark.parametrize(
        ("solution", "difference"),
        [
            ({"solutionConfig": {"algorithmHyperParameters": {"hidden_dimension": "64"}}}, "solutionConfig.algorithm"),
            (
                {"solutionConfig": {"algorithmHyperParameters": {"hidden_dimension": "149"}}, "eventType": "purchase"},
                "eventType 'purchase'",
            ),
        ],
    )
    def test_existing_solution_with_other_settings_is_an_error(self, stubbed, context, solution, difference) -> None:
        op = self.make()
        self.expect_existing(stubbed(op), solution)
        with pytest.raises(PersonalizeResourceError, match=f"other settings: {difference}.*another name"):
            op.execute(context)


class TestEnsureCampaignTrackerFilter:
    def test_campaign_created_on_the_version_and_waited_for(self, stubbed, context) -> None:
        op = PersonalizeEnsureCampaignOperator(
            task_id="campaign",
            name="pulla",
            solution_version_arn=VERSION_OLD,
            campaign_config={"itemExplorationConfig": {"explorationWeight": "0.3"}},
            **operator_kwargs(),
        )
        stubber = stubbed(op)
        stubber.add_response(
            "describe_solution_version",
            {"solutionVersion": {"solutionArn": SOLUTION, "status": "ACTIVE"}},
            {"solutionVersionArn": VERSION_OLD},
        )
        stubber.add_response("list_campaigns", {"campaigns": []}, {"solutionArn": SOLUTION})
        stubber.add_response(
            "create_campaign",
            {"campaignArn": CAMPAIGN},
            {
                "name": "pulla",
                "solutionVersionArn": VERSION_OLD,
                "campaignConfig": {"itemExplorationConfig": {"explorationWeight": "0.3"}},
            },
        )
        for status in ("CREATE IN_PROGRESS", "ACTIVE"):
            stubber.add_response("describe_campaign", {"campaign": {"status": status}}, {"campaignArn": CAMPAIGN})
        assert op.execute(context) == CAMPAIGN
        assert context["ti"].xcom["personalize_campaign"]["resource_arn"] == CAMPAIGN

    def test_event_tracker_returns_arn_and_tracking_id(self, stubbed, context) -> None:
        tracker = arn("event-tracker/pulla-web")
        op = PersonalizeEnsureEventTrackerOperator(
            task_id="tracker", name="pulla-web", dataset_group_arn=GROUP, **operator_kwargs()
        )
        stubber = stubbed(op)
        stubber.add_response("list_event_trackers", {"eventTrackers": []}, {"datasetGroupArn": GROUP})
        stubber.add_response(
            "create_event_tracker",
            {"eventTrackerArn": tracker, "trackingId": "tid-123"},
            {"name": "pulla-web", "datasetGroupArn": GROUP},
        )
        stubber.add_response(
            "describe_event_tracker", {"eventTracker": {"status": "ACTIVE"}}, {"eventTrackerArn": tracker}
        )
        stubber.add_response(
            "describe_event_tracker",
            {"eventTracker": {"status": "ACTIVE", "trackingId": "tid-123"}},
            {"eventTrackerArn": tracker},
        )
        assert op.execute(context) == {"event_tracker_arn": tracker, "tracking_id": "tid-123"}

    def test_filter_with_another_expression_is_an_error(self, stubbed, context) -> None:
        filter_arn = arn("filter/exclude-purchased")
        op = PersonalizeEnsureFilterOperator(
            task_id="filter",
            name="exclude-purchased",
            dataset_group_arn=GROUP,
            filter_expression='EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("purchase")',
            **operator_kwargs(),
        )
        stubber = stubbed(op)
        stubber.add_response(
            "list_filters",
            {"Filters": [{"name": "exclude-purchased", "filterArn": filter_arn, "status": "ACTIVE"}]},
            {"datasetGroupArn": GROUP},
        )
        stubber.add_response(
            "describe_filter",
            {"filter": {"filterExpression": 'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("cart")'}},
            {"filterArn": filter_arn},
        )
        with pytest.raises(PersonalizeResourceError, match="filters cannot be edited"):
            op.execute(context)


class TestDatasetImportJob:
    def make(self, **kwargs: Any) -> PersonalizeDatasetImportJobOperator:
        return PersonalizeDatasetImportJobOperator(
            task_id="import_interactions",
            dataset_arn=DATASET,
            data_location="s3://pulla-personalize/imports/interactions/2026-11-27/",
            role_arn="arn:aws:iam::123456789012:role/PersonalizeS3",
            job_name=kwargs.pop("job_name", JOB_NAME),
            limit_retry_delay=30,
            limit_retry_max_delay=100,
            limit_retry_max_attempts=3,
            **operator_kwargs(**kwargs),
        )

    def expect_lookup(self, stubber, jobs: list[dict[str, Any]]) -> None:
        stubber.add_response("list_dataset_import_jobs", {"datasetImportJobs": jobs}, {"datasetArn": DATASET})

    def expect_create(self, stubber, mode: str, name: str = JOB_NAME, job: str = JOB) -> None:
        stubber.add_response("create_dataset_import_job", {"datasetImportJobArn": job}, self.create_params(mode, name))

    def create_params(self, mode: str, name: str = JOB_NAME) -> dict[str, Any]:
        return {
            "jobName": name,
            "datasetArn": DATASET,
            "dataSource": {"dataLocation": "s3://pulla-personalize/imports/interactions/2026-11-27/"},
            "roleArn": "arn:aws:iam::123456789012:role/PersonalizeS3",
            "importMode": mode,
        }

    def expect_status(self, stubber, *statuses: str, job: str = JOB, reason: str | None = None) -> None:
        for status in statuses:
            body: dict[str, Any] = {"status": status}
            if reason:
                body["failureReason"] = reason
            stubber.add_response(
                "describe_dataset_import_job", {"datasetImportJob": body}, {"datasetImportJobArn": job}
            )

    def test_first_import_is_forced_to_full_and_named_after_the_interval(self, stubbed, context) -> None:
        op = self.make()
        stubber = stubbed(op)
        self.expect_lookup(stubber, [])
        self.expect_create(stubber, "FULL")
        self.expect_status(stubber, "CREATE PENDING", "CREATE IN_PROGRESS", "ACTIVE")
        assert op.execute(context) == JOB
        assert context["ti"].xcom["personalize_dataset_import_job"]["resource_arn"] == JOB

    def test_incremental_after_a_successful_bulk_import(self, stubbed, context) -> None:
        op = self.make()
        stubber = stubbed(op)
        self.expect_lookup(stubber, [{"jobName": "pulla-interactions-earlier", "status": "ACTIVE"}])
        self.expect_create(stubber, "INCREMENTAL")
        self.expect_status(stubber, "ACTIVE")
        assert op.execute(context) == JOB

    def test_adopts_the_job_of_an_earlier_attempt(self, stubbed, context) -> None:
        op = self.make()
        stubber = stubbed(op)
        self.expect_lookup(stubber, [{"jobName": JOB_NAME, "datasetImportJobArn": JOB, "status": "CREATE IN_PROGRESS"}])
        self.expect_status(stubber, "CREATE IN_PROGRESS", "ACTIVE")
        assert op.execute(context) == JOB

    def test_adopts_an_imported_job_without_waiting(self, stubbed, context) -> None:
        op = self.make(deferrable=True)
        self.expect_lookup(stubbed(op), [{"jobName": JOB_NAME, "datasetImportJobArn": JOB, "status": "ACTIVE"}])
        # No describe and no deferral: the stubber would fail on an unexpected call, pytest on TaskDeferred.
        assert op.execute(context) == JOB
        assert context["ti"].xcom["personalize_dataset_import_job"]["resource_arn"] == JOB

    def test_already_exists_race_adopts_the_other_runs_job(self, stubbed, context) -> None:
        op = self.make()
        stubber = stubbed(op)
        self.expect_lookup(stubber, [])
        client_error(
            stubber, "create_dataset_import_job", "ResourceAlreadyExistsException", "exists", self.create_params("FULL")
        )
        self.expect_lookup(stubber, [{"jobName": JOB_NAME, "datasetImportJobArn": JOB, "status": "CREATE PENDING"}])
        self.expect_status(stubber, "ACTIVE")
        assert op.execute(context) == JOB

    def test_failed_earlier_job_means_the_next_name(self, stubbed, context) -> None:
        retry_job = arn(f"dataset-import-job/{JOB_NAME}-r2")
        op = self.make()
        stubber = stubbed(op)
        self.expect_lookup(
            stubber,
            [
                {"jobName": JOB_NAME, "datasetImportJobArn": JOB, "status": "CREATE FAILED", "failureReason": "IAM"},
                {"jobName": "older", "status": "ACTIVE"},
            ],
        )
        self.expect_create(stubber, "INCREMENTAL", name=f"{JOB_NAME}-r2", job=retry_job)
        self.expect_status(stubber, "ACTIVE", job=retry_job)
        assert op.execute(context) == retry_job

    def test_failed_import_fails_with_the_failure_reason(self, stubbed, context) -> None:
        op = self.make()
        stubber = stubbed(op)
        self.expect_lookup(stubber, [])
        self.expect_create(stubber, "FULL")
        reason = "Input CSV is missing the following columns: [TIMESTAMP]"
        self.expect_status(stubber, "CREATE IN_PROGRESS", "CREATE FAILED", reason=reason)
        self.expect_status(stubber, "CREATE FAILED", reason=reason)
        with pytest.raises(PersonalizeResourceError) as raised:
            op.execute(context)
        assert JOB in str(raised.value)
        assert reason in str(raised.value)

    def test_limit_exceeded_waits_with_backoff_then_succeeds(self, stubbed, context, monkeypatch) -> None:
        sleeps: list[float] = []
        monkeypatch.setattr(ops.time, "sleep", sleeps.append)
        op = self.make()
        stubber = stubbed(op)
        for _ in range(2):
            self.expect_lookup(stubber, [])
            client_error(
                stubber,
                "create_dataset_import_job",
                "LimitExceededException",
                "5 jobs in flight",
                self.create_params("FULL"),
            )
        self.expect_lookup(stubber, [])
        self.expect_create(stubber, "FULL")
        self.expect_status(stubber, "ACTIVE")
        assert op.execute(context) == JOB
        assert sleeps == [30, 60]

    def test_limit_exceeded_too_often_fails_with_the_service_message(self, stubbed, context, monkeypatch) -> None:
        monkeypatch.setattr(ops.time, "sleep", lambda seconds: None)
        op = self.make()
        stubber = stubbed(op)
        for _ in range(3):
            self.expect_lookup(stubber, [])
            client_error(
                stubber,
                "create_dataset_import_job",
                "LimitExceededException",
                "5 jobs in flight",
                self.create_params("FULL"),
            )
        with pytest.raises(PersonalizeResourceError, match="refused 3 times: LimitExceededException: 5 jobs in flight"):
            op.execute(context)

    def test_limit_exceeded_when_deferrable_defers_on_a_timer_then_on_the_job(self, stubbed, context) -> None:
        from airflow.providers.standard.triggers.temporal import DateTimeTrigger

        op = self.make(deferrable=True)
        stubber = stubbed(op)
        self.expect_lookup(stubber, [])
        client_error(stubber, "create_dataset_import_job", "LimitExceededException", "busy", self.create_params("FULL"))
        with pytest.raises(TaskDeferred) as deferred:
            op.execute(context)
        assert isinstance(deferred.value.trigger, DateTimeTrigger)
        assert deferred.value.method_name == "execute_after_limit"
        assert deferred.value.kwargs == {"attempt": 2}

        self.expect_lookup(stubber, [])
        self.expect_create(stubber, "FULL")
        with pytest.raises(TaskDeferred) as resumed:
            op.execute_after_limit(context, event={"status": "success"}, **deferred.value.kwargs)
        assert isinstance(resumed.value.trigger, PersonalizeDatasetImportJobCompleteTrigger)
        assert resumed.value.trigger.serialize()[1]["resource_arn"] == JOB

    def test_execute_complete_failure_reports_the_reason(self, stubbed, context) -> None:
        op = self.make()
        self.expect_status(stubbed(op), "CREATE FAILED", reason="Insufficient privileges for accessing data in S3")
        event = {"status": "error", "message": "terminal failure", "resource_arn": JOB}
        with pytest.raises(PersonalizeResourceError, match="Insufficient privileges"):
            op.execute_complete(context, event, kind="dataset_import_job_complete")

    def test_a_job_name_the_api_refuses_fails_before_any_call(self, stubbed, context) -> None:
        op = self.make(job_name="pulla interactions/2026-11-27")
        stubbed(op)  # no response queued: any API call would fail the test with a stubber error
        with pytest.raises(ValueError, match="job_name 'pulla interactions/2026-11-27' must start with a letter"):
            op.execute(context)

    def test_explicit_job_name(self, stubbed, context) -> None:
        op = self.make(job_name="backfill-2026-11")
        stubber = stubbed(op)
        stubber.add_response("list_dataset_import_jobs", {"datasetImportJobs": []}, {"datasetArn": DATASET})
        self.expect_create(stubber, "FULL", name="backfill-2026-11")
        self.expect_status(stubber, "ACTIVE")
        assert op.execute(context) == JOB


class TestSolutionVersion:
    def make(self, **kwargs: Any) -> PersonalizeCreateSolutionVersionOperator:
        return PersonalizeCreateSolutionVersionOperator(
            task_id="train", solution_arn=SOLUTION, **operator_kwargs(**kwargs)
        )

    def test_trains_and_returns_the_arn(self, stubbed, context) -> None:
        op = self.make(training_mode="update")
        stubber = stubbed(op)
        stubber.add_response(
            "list_solution_versions",
            {"solutionVersions": [{"solutionVersionArn": VERSION_OLD, "status": "ACTIVE", "trainingMode": "FULL"}]},
            {"solutionArn": SOLUTION},
        )
        stubber.add_response(
            "create_solution_version",
            {"solutionVersionArn": VERSION_NEW},
            {"solutionArn": SOLUTION, "trainingMode": "UPDATE"},
        )
        for status in ("CREATE IN_PROGRESS", "ACTIVE"):
            stubber.add_response(
                "describe_solution_version",
                {"solutionVersion": {"status": status}},
                {"solutionVersionArn": VERSION_NEW},
            )
        assert op.execute(context) == VERSION_NEW
        assert context["ti"].xcom["personalize_solution_version"]["resource_arn"] == VERSION_NEW

    def test_adopts_a_version_already_training(self, stubbed, context) -> None:
        op = self.make(deferrable=True)
        stubbed(op).add_response(
            "list_solution_versions",
            {
                "solutionVersions": [
                    {"solutionVersionArn": VERSION_NEW, "status": "CREATE IN_PROGRESS", "trainingMode": "FULL"}
                ]
            },
            {"solutionArn": SOLUTION},
        )
        with pytest.raises(TaskDeferred) as deferred:
            op.execute(context)
        assert isinstance(deferred.value.trigger, PersonalizeSolutionVersionCompleteTrigger)
        assert deferred.value.trigger.serialize()[1]["resource_arn"] == VERSION_NEW

    def test_failed_training_fails_with_the_failure_reason(self, stubbed, context) -> None:
        op = self.make(adopt_in_progress=False)
        stubber = stubbed(op)
        stubber.add_response(
            "create_solution_version",
            {"solutionVersionArn": VERSION_NEW},
            {"solutionArn": SOLUTION, "trainingMode": "FULL"},
        )
        failed = {
            "solutionVersion": {"status": "CREATE FAILED", "failureReason": "Not enough interactions: 812 < 1000"}
        }
        stubber.add_response("describe_solution_version", failed, {"solutionVersionArn": VERSION_NEW})
        stubber.add_response("describe_solution_version", failed, {"solutionVersionArn": VERSION_NEW})
        with pytest.raises(PersonalizeResourceError, match=r"Not enough interactions: 812 < 1000"):
            op.execute(context)

    def test_service_refusal_names_the_solution(self, stubbed, context) -> None:
        op = self.make(adopt_in_progress=False)
        client_error(
            stubbed(op),
            "create_solution_version",
            "ResourceInUseException",
            "a version is being created",
            {"solutionArn": SOLUTION, "trainingMode": "FULL"},
        )
        with pytest.raises(PersonalizeResourceError, match=f"{SOLUTION} failed: ResourceInUseException"):
            op.execute(context)


class TestEvaluate:
    def make(self, **kwargs: Any) -> PersonalizeEvaluateSolutionVersionOperator:
        return PersonalizeEvaluateSolutionVersionOperator(
            task_id="evaluate", solution_version_arn=VERSION_NEW, campaign_arn=CAMPAIGN, **operator_kwargs(**kwargs)
        )

    def expect_metrics(self, stubber, version: str, ndcg: float, precision: float) -> None:
        stubber.add_response(
            "get_solution_metrics",
            {"solutionVersionArn": version, "metrics": {NDCG: ndcg, PRECISION: precision, "coverage": 0.3}},
            {"solutionVersionArn": version},
        )

    def expect_live(self, stubber) -> None:
        stubber.add_response(
            "describe_campaign",
            {"campaign": {"status": "ACTIVE", "solutionVersionArn": VERSION_OLD}},
            {"campaignArn": CAMPAIGN},
        )

    def expect_new_active(self, stubber, status: str = "ACTIVE") -> None:
        stubber.add_response(
            "describe_solution_version", {"solutionVersion": {"status": status}}, {"solutionVersionArn": VERSION_NEW}
        )

    @pytest.mark.parametrize(
        ("new_ndcg", "new_precision", "deploy"),
        [
            pytest.param(0.40, 0.099, True, id="deploy-within-2-percent"),
            pytest.param(0.38, 0.120, False, id="keep-ndcg-dropped"),
        ],
    )
    def test_gate(self, stubbed, context, new_ndcg: float, new_precision: float, deploy: bool) -> None:
        op = self.make()
        stubber = stubbed(op)
        self.expect_new_active(stubber)
        self.expect_metrics(stubber, VERSION_NEW, new_ndcg, new_precision)
        self.expect_live(stubber)
        self.expect_metrics(stubber, VERSION_OLD, 0.40, 0.10)
        result = op.execute(context)
        assert result["deploy"] is deploy
        assert result["new_metrics"][NDCG] == new_ndcg
        assert result["live_metrics"] == {NDCG: 0.40, PRECISION: 0.10, "coverage": 0.3}
        assert result["solution_version_arn"] == VERSION_NEW
        assert result["live_solution_version_arn"] == VERSION_OLD
        assert (NDCG in result["reason"]) is True
        json.dumps(result)  # XCom-able

    def test_nothing_live_deploys(self, stubbed, context) -> None:
        op = self.make()
        stubber = stubbed(op)
        self.expect_new_active(stubber)
        self.expect_metrics(stubber, VERSION_NEW, 0.1, 0.01)
        client_error(
            stubber, "describe_campaign", "ResourceNotFoundException", "no campaign", {"campaignArn": CAMPAIGN}
        )
        result = op.execute(context)
        assert result["deploy"] is True
        assert result["live_metrics"] is None
        assert "nothing is live" in result["reason"]

    def test_force_deploy_records_what_the_rule_said(self, stubbed, context) -> None:
        op = self.make(force_deploy=True, min_ratios={"coverage": 2.0})
        stubber = stubbed(op)
        self.expect_new_active(stubber)
        self.expect_metrics(stubber, VERSION_NEW, 0.5, 0.5)
        self.expect_live(stubber)
        self.expect_metrics(stubber, VERSION_OLD, 0.4, 0.1)
        result = op.execute(context)
        assert result["deploy"] is True
        assert result["reason"].startswith("forced deploy (the rule said: keep the live version: coverage")

    def test_waits_for_training_when_deferrable_then_decides(self, stubbed, context) -> None:
        op = self.make(deferrable=True)
        stubber = stubbed(op)
        self.expect_new_active(stubber, "CREATE IN_PROGRESS")
        with pytest.raises(TaskDeferred) as deferred:
            op.execute(context)
        assert isinstance(deferred.value.trigger, PersonalizeSolutionVersionCompleteTrigger)
        self.expect_metrics(stubber, VERSION_NEW, 0.5, 0.5)
        self.expect_live(stubber)
        self.expect_metrics(stubber, VERSION_OLD, 0.4, 0.1)
        event = {"status": "success", "resource_arn": VERSION_NEW}
        assert op.execute_complete(context, event, **deferred.value.kwargs)["deploy"] is True


class TestUpdateCampaign:
    def make(self, **kwargs: Any) -> PersonalizeUpdateCampaignOperator:
        return PersonalizeUpdateCampaignOperator(
            task_id="deploy", campaign_arn=CAMPAIGN, solution_version_arn=VERSION_NEW, **operator_kwargs(**kwargs)
        )

    def expect_campaign(self, stubber, serving: str, update: dict[str, Any] | None = None) -> None:
        body: dict[str, Any] = {"status": "ACTIVE", "solutionVersionArn": serving}
        if update is not None:
            body["latestCampaignUpdate"] = update
        stubber.add_response("describe_campaign", {"campaign": body}, {"campaignArn": CAMPAIGN})

    def test_updates_and_waits_for_the_update_not_the_campaign(self, stubbed, context) -> None:
        op = self.make()
        stubber = stubbed(op)
        self.expect_campaign(stubber, VERSION_OLD)
        stubber.add_response(
            "update_campaign", {"campaignArn": CAMPAIGN}, {"campaignArn": CAMPAIGN, "solutionVersionArn": VERSION_NEW}
        )
        self.expect_campaign(stubber, VERSION_OLD, {"status": "CREATE IN_PROGRESS", "solutionVersionArn": VERSION_NEW})
        self.expect_campaign(stubber, VERSION_NEW, {"status": "ACTIVE", "solutionVersionArn": VERSION_NEW})
        assert op.execute(context) == CAMPAIGN

    def test_campaign_already_serving_the_version_is_left_alone(self, stubbed, context) -> None:
        op = self.make()
        self.expect_campaign(stubbed(op), VERSION_NEW, {"status": "ACTIVE", "solutionVersionArn": VERSION_NEW})
        assert op.execute(context) == CAMPAIGN

    def test_same_settings_on_the_served_version_are_left_alone(self, stubbed, context) -> None:
        config = {"itemExplorationConfig": {"explorationWeight": "0.3", "explorationItemAgeCutOff": "30"}}
        op = self.make(min_provisioned_tps=1, campaign_config=config)
        self.expect_campaign(
            stubbed(op),
            VERSION_NEW,
            {
                "status": "ACTIVE",
                "solutionVersionArn": VERSION_NEW,
                "minProvisionedTPS": 1,
                "campaignConfig": {**config, "syncWithLatestSolutionVersion": False},
            },
        )
        assert op.execute(context) == CAMPAIGN

    def test_changed_settings_on_the_served_version_are_applied(self, stubbed, context) -> None:
        config = {"itemExplorationConfig": {"explorationWeight": "0.5", "explorationItemAgeCutOff": "30"}}
        op = self.make(campaign_config=config)
        stubber = stubbed(op)
        old_config = {"itemExplorationConfig": {"explorationWeight": "0.3", "explorationItemAgeCutOff": "30"}}
        self.expect_campaign(
            stubber, VERSION_NEW, {"status": "ACTIVE", "solutionVersionArn": VERSION_NEW, "campaignConfig": old_config}
        )
        stubber.add_response(
            "update_campaign",
            {"campaignArn": CAMPAIGN},
            {"campaignArn": CAMPAIGN, "solutionVersionArn": VERSION_NEW, "campaignConfig": config},
        )
        self.expect_campaign(stubber, VERSION_NEW, {"status": "ACTIVE", "solutionVersionArn": VERSION_NEW})
        assert op.execute(context) == CAMPAIGN

    def test_a_retry_while_its_update_runs_waits_instead_of_updating_again(self, stubbed, context) -> None:
        config = {"itemExplorationConfig": {"explorationWeight": "0.3", "explorationItemAgeCutOff": "30"}}
        op = self.make(min_provisioned_tps=1, campaign_config=config)
        stubber = stubbed(op)
        self.expect_campaign(stubber, VERSION_OLD, {"status": "CREATE IN_PROGRESS", "solutionVersionArn": VERSION_NEW})
        self.expect_campaign(stubber, VERSION_NEW, {"status": "ACTIVE", "solutionVersionArn": VERSION_NEW})
        assert op.execute(context) == CAMPAIGN  # no update_campaign call was queued: the stubber would fail

    def test_failed_update_fails_with_its_reason(self, stubbed, context) -> None:
        op = self.make()
        stubber = stubbed(op)
        self.expect_campaign(stubber, VERSION_OLD)
        stubber.add_response(
            "update_campaign", {"campaignArn": CAMPAIGN}, {"campaignArn": CAMPAIGN, "solutionVersionArn": VERSION_NEW}
        )
        failed = {"status": "CREATE FAILED", "failureReason": "solution version is not ACTIVE"}
        self.expect_campaign(stubber, VERSION_OLD, failed)
        self.expect_campaign(stubber, VERSION_OLD, failed)
        with pytest.raises(PersonalizeResourceError, match=r"campaign update .* solution version is not ACTIVE"):
            op.execute(context)

    def test_deferrable_defers_on_the_update_trigger(self, stubbed, context) -> None:
        op = self.make(deferrable=True, min_provisioned_tps=2)
        stubber = stubbed(op)
        self.expect_campaign(stubber, VERSION_OLD)
        stubber.add_response(
            "update_campaign",
            {"campaignArn": CAMPAIGN},
            {"campaignArn": CAMPAIGN, "solutionVersionArn": VERSION_NEW, "minProvisionedTPS": 2},
        )
        with pytest.raises(TaskDeferred) as deferred:
            op.execute(context)
        assert isinstance(deferred.value.trigger, PersonalizeCampaignUpdateCompleteTrigger)
        assert deferred.value.kwargs == {"kind": "campaign_update_complete"}
        assert op.execute_complete(
            context, {"status": "success", "resource_arn": CAMPAIGN}, **deferred.value.kwargs
        ) == (CAMPAIGN)


def test_no_credential_reaches_the_logs(stubbed, context, monkeypatch, caplog, capsys) -> None:
    secret = "conn-secret-value-42"
    connection = {
        "conn_type": "aws",
        "login": "AKIDCONNLOGIN",
        "password": secret,
        "extra": {"region_name": REGION, "endpoint_url": "http://127.0.0.1:4599", "aws_session_token": "tok-secret-9"},
    }
    monkeypatch.setenv("AIRFLOW_CONN_PULLA_SECRET", json.dumps(connection))
    caplog.set_level("DEBUG")
    op = PersonalizeEnsureDatasetGroupOperator(
        task_id="dataset_group", name="pulla", **operator_kwargs(aws_conn_id="pulla_secret", region_name=None)
    )
    stubber = stubbed(op)
    stubber.add_response("list_dataset_groups", {"datasetGroups": []}, {})
    client_error(stubber, "create_dataset_group", "AccessDeniedException", "not allowed", {"name": "pulla"})
    with pytest.raises(PersonalizeResourceError) as raised:
        op.execute(context)
    output = caplog.text + capsys.readouterr().out + str(raised.value)
    assert "AccessDeniedException" in output
    assert secret not in output
    assert "tok-secret-9" not in output


def test_schema_operator_over_the_wire_against_moto(context) -> None:
    """moto implements Personalize schemas only: enough to run create, adopt and conflict over real HTTP calls."""
    from moto import mock_aws

    with mock_aws():
        first = PersonalizeEnsureSchemaOperator(
            task_id="schema", name="pulla-interactions-v1", schema=INTERACTIONS_SCHEMA, **operator_kwargs()
        ).execute(context)
        again = PersonalizeEnsureSchemaOperator(
            task_id="schema", name="pulla-interactions-v1", schema=json.dumps(INTERACTIONS_SCHEMA), **operator_kwargs()
        ).execute(context)
        changed = dict(INTERACTIONS_SCHEMA, fields=INTERACTIONS_SCHEMA["fields"][:2])
        with pytest.raises(PersonalizeSchemaConflictError, match="field TIMESTAMP was removed"):
            PersonalizeEnsureSchemaOperator(
                task_id="schema", name="pulla-interactions-v1", schema=changed, **operator_kwargs()
            ).execute(context)
    assert first == again
    assert first.endswith(":schema/pulla-interactions-v1")


GROUP_DELETION_FILE = "s3://pulla-personalize/personalize/deletions/window=20261127/users.csv"
DELETION_NAME = "pulla-deletion-20261127-9f8e7d6c"
DELETION_JOB = arn(f"data-deletion-job/{DELETION_NAME}")
SERVICE_ROLE = "arn:aws:iam::123456789012:role/PullaPersonalizeS3Access"


class TestDataDeletionJob:
    def make(self, **kwargs: Any) -> PersonalizeDataDeletionJobOperator:
        return PersonalizeDataDeletionJobOperator(
            task_id="delete_departed_members",
            job_name=kwargs.pop("job_name", DELETION_NAME),
            dataset_group_arn=GROUP,
            data_location=GROUP_DELETION_FILE,
            role_arn=SERVICE_ROLE,
            limit_retry_delay=30,
            limit_retry_max_delay=100,
            limit_retry_max_attempts=3,
            **operator_kwargs(**kwargs),
        )

    def expect_lookup(self, stubber, jobs: list[dict[str, Any]]) -> None:
        stubber.add_response("list_data_deletion_jobs", {"dataDeletionJobs": jobs}, {"datasetGroupArn": GROUP})

    def create_params(self, name: str = DELETION_NAME, **extra: Any) -> dict[str, Any]:
        return {
            "jobName": name,
            "datasetGroupArn": GROUP,
            "dataSource": {"dataLocation": GROUP_DELETION_FILE},
            "roleArn": SERVICE_ROLE,
            **extra,
        }

    def expect_create(self, stubber, name: str = DELETION_NAME, job: str = DELETION_JOB, **extra: Any) -> None:
        stubber.add_response("create_data_deletion_job", {"dataDeletionJobArn": job}, self.create_params(name, **extra))

    def expect_status(
        self,
        stubber,
        *statuses: str,
        job: str = DELETION_JOB,
        name: str = DELETION_NAME,
        reason: str | None = None,
        num_deleted: int | None = None,
    ) -> None:
        for status in statuses:
            body: dict[str, Any] = {"dataDeletionJobArn": job, "jobName": name, "status": status}
            if reason:
                body["failureReason"] = reason
            if num_deleted is not None and status == "COMPLETED":
                body["numDeleted"] = num_deleted
            stubber.add_response("describe_data_deletion_job", {"dataDeletionJob": body}, {"dataDeletionJobArn": job})

    def test_creates_waits_and_returns_what_it_deleted(self, stubbed, context) -> None:
        op = self.make(tags=[{"tagKey": "purpose", "tagValue": "withdrawn-members"}])
        stubber = stubbed(op)
        self.expect_lookup(stubber, [])
        self.expect_create(stubber, tags=[{"tagKey": "purpose", "tagValue": "withdrawn-members"}])
        self.expect_status(stubber, "PENDING", "IN_PROGRESS", "COMPLETED")  # the waiter
        self.expect_status(stubber, "COMPLETED", num_deleted=42)  # the result
        result = op.execute(context)
        assert result == {
            "data_deletion_job_arn": DELETION_JOB,
            "job_name": DELETION_NAME,
            "status": "COMPLETED",
            "num_deleted": 42,
        }
        json.dumps(result)  # XCom-able
        # The console shows deletion jobs under their dataset group: the link opens the group.
        assert context["ti"].xcom["personalize_data_deletion_job"]["resource_arn"] == GROUP

    def test_adopts_a_completed_job_and_returns_at_once(self, stubbed, context) -> None:
        op = self.make(deferrable=True)
        stubber = stubbed(op)
        self.expect_lookup(
            stubber, [{"jobName": DELETION_NAME, "dataDeletionJobArn": DELETION_JOB, "status": "COMPLETED"}]
        )
        self.expect_status(stubber, "COMPLETED", num_deleted=7)
        # No create and no deferral: the stubber would fail on an unexpected call, pytest on TaskDeferred.
        assert op.execute(context)["num_deleted"] == 7

    def test_adopts_a_job_in_progress_and_waits_for_it(self, stubbed, context) -> None:
        op = self.make()
        stubber = stubbed(op)
        self.expect_lookup(
            stubber, [{"jobName": DELETION_NAME, "dataDeletionJobArn": DELETION_JOB, "status": "IN_PROGRESS"}]
        )
        self.expect_status(stubber, "IN_PROGRESS", "COMPLETED")
        self.expect_status(stubber, "COMPLETED", num_deleted=3)
        assert op.execute(context)["data_deletion_job_arn"] == DELETION_JOB

    @pytest.mark.parametrize(
        ("failed_names", "next_name"),
        [
            pytest.param([DELETION_NAME], f"{DELETION_NAME}-r2", id="first-failed"),
            pytest.param([DELETION_NAME, f"{DELETION_NAME}-r2"], f"{DELETION_NAME}-r3", id="two-failed"),
        ],
    )
    def test_failed_earlier_job_means_the_next_name(self, stubbed, context, failed_names, next_name) -> None:
        retry_job = arn(f"data-deletion-job/{next_name}")
        op = self.make()
        stubber = stubbed(op)
        self.expect_lookup(
            stubber,
            [
                {"jobName": name, "dataDeletionJobArn": arn(f"data-deletion-job/{name}"), "status": "FAILED"}
                for name in failed_names
            ],
        )
        self.expect_create(stubber, name=next_name, job=retry_job)
        self.expect_status(stubber, "COMPLETED", job=retry_job, name=next_name)
        self.expect_status(stubber, "COMPLETED", job=retry_job, name=next_name, num_deleted=2)
        result = op.execute(context)
        assert result["job_name"] == next_name
        assert result["data_deletion_job_arn"] == retry_job

    def test_failed_job_fails_with_the_failure_reason(self, stubbed, context) -> None:
        op = self.make()
        stubber = stubbed(op)
        self.expect_lookup(stubber, [])
        self.expect_create(stubber)
        reason = "Input CSV must contain exactly one column: USER_ID"
        self.expect_status(stubber, "IN_PROGRESS", "FAILED", reason=reason)  # the waiter
        self.expect_status(stubber, "FAILED", reason=reason)  # the failure message
        with pytest.raises(PersonalizeResourceError) as raised:
            op.execute(context)
        message = str(raised.value)
        assert f"data deletion job {DELETION_JOB} did not become COMPLETED: status FAILED" in message
        assert reason in message

    def test_already_exists_race_adopts_the_other_runs_job(self, stubbed, context) -> None:
        op = self.make()
        stubber = stubbed(op)
        self.expect_lookup(stubber, [])
        client_error(
            stubber, "create_data_deletion_job", "ResourceAlreadyExistsException", "exists", self.create_params()
        )
        self.expect_lookup(
            stubber, [{"jobName": DELETION_NAME, "dataDeletionJobArn": DELETION_JOB, "status": "PENDING"}]
        )
        self.expect_status(stubber, "COMPLETED")
        self.expect_status(stubber, "COMPLETED", num_deleted=1)
        assert op.execute(context)["status"] == "COMPLETED"

    def test_limit_exceeded_waits_with_backoff_then_succeeds(self, stubbed, context, monkeypatch) -> None:
        sleeps: list[float] = []
        monkeypatch.setattr(ops.time, "sleep", sleeps.append)
        op = self.make()
        stubber = stubbed(op)
        for _ in range(2):
            self.expect_lookup(stubber, [])
            client_error(
                stubber, "create_data_deletion_job", "LimitExceededException", "1 job in flight", self.create_params()
            )
        self.expect_lookup(stubber, [])
        self.expect_create(stubber)
        self.expect_status(stubber, "COMPLETED")
        self.expect_status(stubber, "COMPLETED", num_deleted=5)
        assert op.execute(context)["num_deleted"] == 5
        assert sleeps == [30, 60]

    def test_limit_exceeded_too_often_fails_with_the_service_message(self, stubbed, context, monkeypatch) -> None:
        monkeypatch.setattr(ops.time, "sleep", lambda seconds: None)
        op = self.make()
        stubber = stubbed(op)
        for _ in range(3):
            self.expect_lookup(stubber, [])
            client_error(
                stubber, "create_data_deletion_job", "LimitExceededException", "1 job in flight", self.create_params()
            )
        with pytest.raises(
            PersonalizeResourceError,
            match=f"data deletion job '{DELETION_NAME}' for {GROUP} was refused 3 times: LimitExceededException",
        ):
            op.execute(context)

    def test_limit_exceeded_when_deferrable_defers_on_a_timer_then_on_the_job(self, stubbed, context) -> None:
        from airflow.providers.standard.triggers.temporal import DateTimeTrigger

        op = self.make(deferrable=True)
        stubber = stubbed(op)
        self.expect_lookup(stubber, [])
        client_error(stubber, "create_data_deletion_job", "LimitExceededException", "busy", self.create_params())
        with pytest.raises(TaskDeferred) as deferred:
            op.execute(context)
        assert isinstance(deferred.value.trigger, DateTimeTrigger)
        assert deferred.value.method_name == "execute_after_limit"
        assert deferred.value.kwargs == {"attempt": 2}

        self.expect_lookup(stubber, [])
        self.expect_create(stubber)
        with pytest.raises(TaskDeferred) as resumed:
            op.execute_after_limit(context, event={"status": "success"}, **deferred.value.kwargs)
        assert isinstance(resumed.value.trigger, PersonalizeDataDeletionJobCompleteTrigger)

    def test_deferrable_defers_to_the_deletion_trigger_and_resumes_with_the_result(self, stubbed, context) -> None:
        op = self.make(deferrable=True, waiter_delay=300, waiter_max_attempts=360)
        stubber = stubbed(op)
        self.expect_lookup(stubber, [])
        self.expect_create(stubber)
        with pytest.raises(TaskDeferred) as deferred:
            op.execute(context)
        trigger = deferred.value.trigger
        assert isinstance(trigger, PersonalizeDataDeletionJobCompleteTrigger)
        assert trigger.serialize()[1]["resource_arn"] == DELETION_JOB
        assert trigger.waiter_args == {"dataDeletionJobArn": DELETION_JOB}
        assert deferred.value.method_name == "execute_complete"
        assert deferred.value.kwargs == {"kind": "data_deletion_job_complete"}
        assert deferred.value.timeout == timedelta(seconds=300 * 361)

        self.expect_status(stubber, "COMPLETED", num_deleted=11)
        event = {"status": "success", "resource_arn": DELETION_JOB, "waiter": "data_deletion_job_complete"}
        assert op.execute_complete(context, event, **deferred.value.kwargs) == {
            "data_deletion_job_arn": DELETION_JOB,
            "job_name": DELETION_NAME,
            "status": "COMPLETED",
            "num_deleted": 11,
        }

    def test_execute_complete_failure_reports_the_reason(self, stubbed, context) -> None:
        op = self.make()
        self.expect_status(stubbed(op), "FAILED", reason="Insufficient privileges for accessing data in S3")
        event = {"status": "error", "message": "terminal failure", "resource_arn": DELETION_JOB}
        with pytest.raises(PersonalizeResourceError, match="status FAILED, failureReason: Insufficient privileges"):
            op.execute_complete(context, event, kind="data_deletion_job_complete")

    def test_a_job_name_the_api_refuses_fails_before_any_call(self, stubbed, context) -> None:
        op = self.make(job_name="pulla deletion/2026-11-27")
        stubbed(op)  # no response queued: any API call would fail the test with a stubber error
        with pytest.raises(ValueError, match="job_name 'pulla deletion/2026-11-27' must start with a letter"):
            op.execute(context)


# Batch jobs: the CRM exports' input and output folders, and the job names the pipeline gives them.
CRM_INPUT = "s3://pulla-personalize/personalize/crm/input/window=20261127/users.json"
CRM_OUTPUT = "s3://pulla-personalize/personalize/crm/output/window=20261127/"
BATCH_VERSION = arn("solution/pulla-user-personalization/5e6f7a8b")


@dataclass(frozen=True)
class BatchJobCase:
    """One batch job operator and the API names it uses."""

    operator_class: type
    job_kind: str  # the ARN's resource type, e.g. batch-inference-job
    method_noun: str  # e.g. batch_inference_job
    response_key: str  # e.g. batchInferenceJob
    result_arn_key: str
    trigger_class: type
    extra_kwargs: dict[str, Any]
    extra_params: dict[str, Any]

    @property
    def arn_param(self) -> str:
        return f"{self.response_key}Arn"

    @property
    def list_key(self) -> str:
        return f"{self.response_key}s"

    def job_arn(self, name: str) -> str:
        return arn(f"{self.job_kind}/{name}")


BATCH_CASES = [
    pytest.param(
        BatchJobCase(
            PersonalizeBatchInferenceJobOperator,
            "batch-inference-job",
            "batch_inference_job",
            "batchInferenceJob",
            "batch_inference_job_arn",
            PersonalizeBatchInferenceJobCompleteTrigger,
            {"batch_inference_job_config": {"itemExplorationConfig": {"explorationWeight": "0.3"}}},
            {"batchInferenceJobConfig": {"itemExplorationConfig": {"explorationWeight": "0.3"}}},
        ),
        id="inference",
    ),
    pytest.param(
        BatchJobCase(
            PersonalizeBatchSegmentJobOperator,
            "batch-segment-job",
            "batch_segment_job",
            "batchSegmentJob",
            "batch_segment_job_arn",
            PersonalizeBatchSegmentJobCompleteTrigger,
            {},
            {},
        ),
        id="segment",
    ),
]
BATCH_NAME = "pulla-crm-20261127-1a2b3c4d"


@pytest.mark.parametrize("case", BATCH_CASES)
class TestBatchJobs:
    def make(self, case: BatchJobCase, **kwargs: Any):
        return case.operator_class(
            task_id="crm_batch",
            job_name=kwargs.pop("job_name", BATCH_NAME),
            solution_version_arn=BATCH_VERSION,
            job_input_s3_path=CRM_INPUT,
            job_output_s3_path=CRM_OUTPUT,
            role_arn=SERVICE_ROLE,
            num_results=50,
            filter_arn=arn("filter/pulla-unpurchased"),
            limit_retry_delay=30,
            limit_retry_max_delay=100,
            limit_retry_max_attempts=3,
            **case.extra_kwargs,
            **operator_kwargs(**kwargs),
        )

    def expect_lookup(self, stubber, case: BatchJobCase, jobs: list[dict[str, Any]]) -> None:
        stubber.add_response(f"list_{case.method_noun}s", {case.list_key: jobs}, {"solutionVersionArn": BATCH_VERSION})

    def listed(self, case: BatchJobCase, name: str, status: str, reason: str | None = None) -> dict[str, Any]:
        job = {"jobName": name, case.arn_param: case.job_arn(name), "status": status}
        return {**job, "failureReason": reason} if reason else job

    def create_params(self, case: BatchJobCase, name: str = BATCH_NAME) -> dict[str, Any]:
        return {
            "jobName": name,
            "solutionVersionArn": BATCH_VERSION,
            "jobInput": {"s3DataSource": {"path": CRM_INPUT}},
            "jobOutput": {"s3DataDestination": {"path": CRM_OUTPUT}},
            "roleArn": SERVICE_ROLE,
            "numResults": 50,
            "filterArn": arn("filter/pulla-unpurchased"),
            **case.extra_params,
        }

    def expect_create(self, stubber, case: BatchJobCase, name: str = BATCH_NAME) -> None:
        stubber.add_response(
            f"create_{case.method_noun}", {case.arn_param: case.job_arn(name)}, self.create_params(case, name)
        )

    def expect_status(
        self, stubber, case: BatchJobCase, *statuses: str, name: str = BATCH_NAME, reason: str | None = None
    ) -> None:
        for status in statuses:
            body: dict[str, Any] = {
                "jobName": name,
                case.arn_param: case.job_arn(name),
                "status": status,
                "jobOutput": {"s3DataDestination": {"path": CRM_OUTPUT}},
            }
            if reason:
                body["failureReason"] = reason
            stubber.add_response(
                f"describe_{case.method_noun}", {case.response_key: body}, {case.arn_param: case.job_arn(name)}
            )

    def expected_result(self, case: BatchJobCase, name: str = BATCH_NAME) -> dict[str, Any]:
        return {
            case.result_arn_key: case.job_arn(name),
            "job_name": name,
            "status": "ACTIVE",
            "job_output_s3_path": CRM_OUTPUT,
        }

    def test_creates_waits_and_returns_the_job_and_its_output(self, case, stubbed, context) -> None:
        op = self.make(case)
        stubber = stubbed(op)
        self.expect_lookup(stubber, case, [])
        self.expect_create(stubber, case)
        self.expect_status(stubber, case, "CREATE PENDING", "CREATE IN_PROGRESS", "ACTIVE")  # the waiter
        self.expect_status(stubber, case, "ACTIVE")  # the result
        result = op.execute(context)
        assert result == self.expected_result(case)
        json.dumps(result)  # XCom-able
        # No documented console route to one batch job: the link opens the solution the version belongs to.
        assert context["ti"].xcom[op.link.key]["resource_arn"] == SOLUTION

    def test_adopts_an_active_job_and_returns_at_once(self, case, stubbed, context) -> None:
        op = self.make(case, deferrable=True)
        stubber = stubbed(op)
        self.expect_lookup(stubber, case, [self.listed(case, BATCH_NAME, "ACTIVE")])
        self.expect_status(stubber, case, "ACTIVE")
        # No create and no deferral: the stubber would fail on an unexpected call, pytest on TaskDeferred.
        assert op.execute(context) == self.expected_result(case)

    @pytest.mark.parametrize("status", ["PENDING", "IN PROGRESS", "CREATE IN_PROGRESS"])
    def test_adopts_a_job_in_progress_and_waits_for_it(self, case, stubbed, context, status) -> None:
        op = self.make(case)
        stubber = stubbed(op)
        self.expect_lookup(stubber, case, [self.listed(case, BATCH_NAME, status)])
        self.expect_status(stubber, case, status, "ACTIVE")
        self.expect_status(stubber, case, "ACTIVE")
        assert op.execute(context)[case.result_arn_key] == case.job_arn(BATCH_NAME)

    def test_failed_earlier_job_means_the_next_name(self, case, stubbed, context) -> None:
        retry = f"{BATCH_NAME}-r2"
        op = self.make(case)
        stubber = stubbed(op)
        earlier = self.listed(case, BATCH_NAME, "CREATE FAILED", reason="Insufficient privileges")
        self.expect_lookup(stubber, case, [earlier, self.listed(case, "pulla-crm-other", "ACTIVE")])
        self.expect_create(stubber, case, name=retry)
        self.expect_status(stubber, case, "ACTIVE", name=retry)
        self.expect_status(stubber, case, "ACTIVE", name=retry)
        assert op.execute(context) == self.expected_result(case, retry)

    def test_failed_job_fails_with_the_failure_reason(self, case, stubbed, context) -> None:
        op = self.make(case)
        stubber = stubbed(op)
        self.expect_lookup(stubber, case, [])
        self.expect_create(stubber, case)
        reason = "Input file contains invalid JSON at line 3"
        self.expect_status(stubber, case, "CREATE IN_PROGRESS", "CREATE FAILED", reason=reason)  # the waiter
        self.expect_status(stubber, case, "CREATE FAILED", reason=reason)  # the failure message
        with pytest.raises(PersonalizeResourceError) as raised:
            op.execute(context)
        message = str(raised.value)
        label = case.job_kind.replace("-", " ")
        assert f"{label} {case.job_arn(BATCH_NAME)} did not become ACTIVE: status CREATE FAILED" in message
        assert reason in message

    def test_limit_exceeded_waits_with_backoff_then_succeeds(self, case, stubbed, context, monkeypatch) -> None:
        sleeps: list[float] = []
        monkeypatch.setattr(ops.time, "sleep", sleeps.append)
        op = self.make(case)
        stubber = stubbed(op)
        for _ in range(2):
            self.expect_lookup(stubber, case, [])
            client_error(
                stubber, f"create_{case.method_noun}", "LimitExceededException", "busy", self.create_params(case)
            )
        self.expect_lookup(stubber, case, [])
        self.expect_create(stubber, case)
        self.expect_status(stubber, case, "ACTIVE")
        self.expect_status(stubber, case, "ACTIVE")
        assert op.execute(context)["status"] == "ACTIVE"
        assert sleeps == [30, 60]

    def test_limit_exceeded_too_often_fails_with_the_service_message(self, case, stubbed, context, monkeypatch) -> None:
        monkeypatch.setattr(ops.time, "sleep", lambda seconds: None)
        op = self.make(case)
        stubber = stubbed(op)
        for _ in range(3):
            self.expect_lookup(stubber, case, [])
            client_error(
                stubber, f"create_{case.method_noun}", "LimitExceededException", "busy", self.create_params(case)
            )
        with pytest.raises(PersonalizeResourceError, match=f"for {BATCH_VERSION} was refused 3 times: LimitExceeded"):
            op.execute(context)

    def test_limit_exceeded_when_deferrable_defers_on_a_timer_then_on_the_job(self, case, stubbed, context) -> None:
        from airflow.providers.standard.triggers.temporal import DateTimeTrigger

        op = self.make(case, deferrable=True)
        stubber = stubbed(op)
        self.expect_lookup(stubber, case, [])
        client_error(stubber, f"create_{case.method_noun}", "LimitExceededException", "busy", self.create_params(case))
        with pytest.raises(TaskDeferred) as deferred:
            op.execute(context)
        assert isinstance(deferred.value.trigger, DateTimeTrigger)
        assert deferred.value.method_name == "execute_after_limit"
        assert deferred.value.kwargs == {"attempt": 2}

        self.expect_lookup(stubber, case, [])
        self.expect_create(stubber, case)
        with pytest.raises(TaskDeferred) as resumed:
            op.execute_after_limit(context, event={"status": "success"}, **deferred.value.kwargs)
        assert isinstance(resumed.value.trigger, case.trigger_class)

    def test_deferrable_defers_to_the_job_trigger_and_resumes_with_the_result(self, case, stubbed, context) -> None:
        op = self.make(case, deferrable=True, waiter_delay=60, waiter_max_attempts=720)
        stubber = stubbed(op)
        self.expect_lookup(stubber, case, [])
        self.expect_create(stubber, case)
        with pytest.raises(TaskDeferred) as deferred:
            op.execute(context)
        trigger = deferred.value.trigger
        assert isinstance(trigger, case.trigger_class)
        assert trigger.serialize()[1]["resource_arn"] == case.job_arn(BATCH_NAME)
        assert trigger.waiter_args == {case.arn_param: case.job_arn(BATCH_NAME)}
        assert deferred.value.kwargs == {"kind": f"{case.method_noun}_complete"}
        assert deferred.value.timeout == timedelta(seconds=60 * 721)

        self.expect_status(stubber, case, "ACTIVE")
        event = {
            "status": "success",
            "resource_arn": case.job_arn(BATCH_NAME),
            "waiter": f"{case.method_noun}_complete",
        }
        assert op.execute_complete(context, event, **deferred.value.kwargs) == self.expected_result(case)

    def test_execute_complete_failure_reports_the_reason(self, case, stubbed, context) -> None:
        op = self.make(case)
        self.expect_status(stubbed(op), case, "CREATE FAILED", reason="Solution version is not ACTIVE")
        event = {"status": "error", "message": "terminal failure", "resource_arn": case.job_arn(BATCH_NAME)}
        with pytest.raises(PersonalizeResourceError, match="status CREATE FAILED, failureReason: Solution version"):
            op.execute_complete(context, event, kind=f"{case.method_noun}_complete")

    def test_a_name_taken_on_another_version_fails_with_the_service_error(self, case, stubbed, context) -> None:
        op = self.make(case)
        stubber = stubbed(op)
        for _ in range(2):  # the first refusal may be a concurrent run's create: list again, then give up
            self.expect_lookup(stubber, case, [])
            client_error(
                stubber,
                f"create_{case.method_noun}",
                "ResourceAlreadyExistsException",
                f"{case.job_arn(BATCH_NAME)} already exists",
                self.create_params(case),
            )
        with pytest.raises(PersonalizeResourceError, match=f"'{BATCH_NAME}' for {BATCH_VERSION} from {CRM_INPUT}"):
            op.execute(context)

    def test_optional_arguments_left_out_are_not_sent(self, case, stubbed, context) -> None:
        op = case.operator_class(
            task_id="crm_batch",
            job_name=BATCH_NAME,
            solution_version_arn=BATCH_VERSION,
            job_input_s3_path=CRM_INPUT,
            job_output_s3_path=CRM_OUTPUT,
            role_arn=SERVICE_ROLE,
            **operator_kwargs(),
        )
        stubber = stubbed(op)
        self.expect_lookup(stubber, case, [])
        minimal = {key: self.create_params(case)[key] for key in ("jobName", "solutionVersionArn", "roleArn")}
        minimal.update(
            jobInput={"s3DataSource": {"path": CRM_INPUT}}, jobOutput={"s3DataDestination": {"path": CRM_OUTPUT}}
        )
        stubber.add_response(f"create_{case.method_noun}", {case.arn_param: case.job_arn(BATCH_NAME)}, minimal)
        self.expect_status(stubber, case, "ACTIVE")
        self.expect_status(stubber, case, "ACTIVE")
        assert op.execute(context)["job_name"] == BATCH_NAME
