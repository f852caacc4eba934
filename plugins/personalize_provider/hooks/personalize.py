"""Hooks for Amazon Personalize: the control plane (``personalize``), recommendations
(``personalize-runtime``) and event ingestion (``personalize-events``).

They are thin wrappers over the boto3 clients built by the amazon provider's ``AwsBaseHook``, so the Airflow
connection decides everything about *where* calls go: credentials, region and ``endpoint_url`` in the extras
(real AWS or the local Personalize-compatible endpoint; no code here knows which). Methods take keyword
arguments named like ours, map them to the API's names and drop the ones left as None, so the service applies
its own defaults.

Throttling and transient errors are retried by botocore (retry mode ``adaptive``, client-side rate limiting)
unless the hook's caller or the connection's ``config_kwargs`` choose another retry policy.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path
from typing import Any

from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook
from botocore.config import Config
from botocore.exceptions import ClientError

WAITERS_FILE = Path(__file__).resolve().parents[1] / "waiters" / "personalize.json"

# Personalize control-plane calls are cheap and rate limited per account; adaptive mode adds client-side rate
# limiting on top of standard retries, which is what a busy scheduler running many tasks at once needs.
DEFAULT_RETRIES = {"mode": "adaptive", "max_attempts": 10}


@cache
def waiter_defaults(waiter_name: str) -> tuple[int, int]:
    """(delay seconds, max attempts) of a waiter in waiters/personalize.json: one source for both wait modes."""
    waiter = json.loads(WAITERS_FILE.read_text())["waiters"][waiter_name]
    return int(waiter["delay"]), int(waiter["maxAttempts"])


def drop_none(**params: Any) -> dict[str, Any]:
    """The given keyword arguments without the ones that are None (the API then uses its defaults)."""
    return {name: value for name, value in params.items() if value is not None}


def client_error_text(error: ClientError) -> str:
    """``Code: message`` of a boto ClientError, the part a person needs (no request ids or headers)."""
    detail = error.response.get("Error", {})
    return f"{detail.get('Code', 'Unknown')}: {detail.get('Message', '')}".rstrip(": ")


def error_code(error: ClientError) -> str:
    return error.response.get("Error", {}).get("Code", "")


@dataclass(frozen=True)
class ResourceKind:
    """How to describe one kind of resource, where its status and failure reason live in the answer, and the
    status words of its lifecycle (most kinds go CREATE PENDING > CREATE IN_PROGRESS > ACTIVE or CREATE FAILED;
    data deletion jobs go PENDING > IN_PROGRESS > COMPLETED or FAILED; batch jobs end ACTIVE or CREATE FAILED)."""

    label: str
    describe_method: str
    arn_param: str
    response_key: str
    waiter_name: str
    status_path: tuple[str, ...] = ("status",)
    done_status: str = "ACTIVE"
    failed_status: str = "CREATE FAILED"
    in_progress_statuses: tuple[str, ...] = ("CREATE PENDING", "CREATE IN_PROGRESS")

    @property
    def status_query(self) -> str:
        """JMESPath of the status in the describe response (for waiter logging)."""
        return ".".join((self.response_key, *self.status_path))

    @property
    def failure_query(self) -> str:
        return ".".join((self.response_key, *self.status_path[:-1], "failureReason"))


DATASET_GROUP = ResourceKind(
    "dataset group", "describe_dataset_group", "datasetGroupArn", "datasetGroup", "dataset_group_active"
)
DATASET = ResourceKind("dataset", "describe_dataset", "datasetArn", "dataset", "dataset_active")
DATASET_UPDATE = ResourceKind(
    "dataset schema update",
    "describe_dataset",
    "datasetArn",
    "dataset",
    "dataset_update_complete",
    ("latestDatasetUpdate", "status"),
)
DATASET_IMPORT_JOB = ResourceKind(
    "dataset import job",
    "describe_dataset_import_job",
    "datasetImportJobArn",
    "datasetImportJob",
    "dataset_import_job_complete",
)
SOLUTION = ResourceKind("solution", "describe_solution", "solutionArn", "solution", "solution_active")
SOLUTION_VERSION = ResourceKind(
    "solution version",
    "describe_solution_version",
    "solutionVersionArn",
    "solutionVersion",
    "solution_version_complete",
)
CAMPAIGN = ResourceKind("campaign", "describe_campaign", "campaignArn", "campaign", "campaign_active")
CAMPAIGN_UPDATE = ResourceKind(
    "campaign update",
    "describe_campaign",
    "campaignArn",
    "campaign",
    "campaign_update_complete",
    ("latestCampaignUpdate", "status"),
)
EVENT_TRACKER = ResourceKind(
    "event tracker", "describe_event_tracker", "eventTrackerArn", "eventTracker", "event_tracker_active"
)
FILTER = ResourceKind("filter", "describe_filter", "filterArn", "filter", "filter_active")
DATA_DELETION_JOB = ResourceKind(
    "data deletion job",
    "describe_data_deletion_job",
    "dataDeletionJobArn",
    "dataDeletionJob",
    "data_deletion_job_complete",
    done_status="COMPLETED",
    failed_status="FAILED",
    in_progress_statuses=("PENDING", "IN_PROGRESS"),
)

# The API reference lists PENDING and IN PROGRESS for batch jobs where other resources say CREATE PENDING and
# CREATE IN_PROGRESS; any of them means the job still runs (and a waiter keeps polling on a status it does not name).
BATCH_JOB_IN_PROGRESS = ("PENDING", "IN PROGRESS", "CREATE PENDING", "CREATE IN_PROGRESS")
BATCH_INFERENCE_JOB = ResourceKind(
    "batch inference job",
    "describe_batch_inference_job",
    "batchInferenceJobArn",
    "batchInferenceJob",
    "batch_inference_job_complete",
    in_progress_statuses=BATCH_JOB_IN_PROGRESS,
)
BATCH_SEGMENT_JOB = ResourceKind(
    "batch segment job",
    "describe_batch_segment_job",
    "batchSegmentJobArn",
    "batchSegmentJob",
    "batch_segment_job_complete",
    in_progress_statuses=BATCH_JOB_IN_PROGRESS,
)

RESOURCE_KINDS = {
    kind.waiter_name: kind
    for kind in (
        DATASET_GROUP,
        DATASET,
        DATASET_UPDATE,
        DATASET_IMPORT_JOB,
        SOLUTION,
        SOLUTION_VERSION,
        CAMPAIGN,
        CAMPAIGN_UPDATE,
        EVENT_TRACKER,
        FILTER,
        DATA_DELETION_JOB,
        BATCH_INFERENCE_JOB,
        BATCH_SEGMENT_JOB,
    )
}


class _AdaptiveRetriesMixin:
    """Default the botocore retry policy to adaptive unless the caller or the connection set one."""

    @property
    def config(self) -> Config:
        config = super().config  # type: ignore[misc]
        if config.retries is None:
            config = config.merge(Config(retries=dict(DEFAULT_RETRIES)))
        return config


class PersonalizeHook(_AdaptiveRetriesMixin, AwsBaseHook):
    """
    Interact with the Amazon Personalize control plane.

    Provides thin wrappers around :external+boto3:py:class:`boto3.client("personalize") <Personalize.Client>`
    plus the custom waiters in ``waiters/personalize.json`` (botocore ships none for Personalize).

    Additional arguments (such as ``aws_conn_id``) may be specified and are passed down to the underlying
    AwsBaseHook.

    .. seealso::
        - :class:`airflow.providers.amazon.aws.hooks.base_aws.AwsBaseHook`
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["client_type"] = "personalize"
        super().__init__(*args, **kwargs)

    @cached_property
    def waiter_path(self) -> Path:
        return WAITERS_FILE

    # -- generic helpers

    def describe(self, kind: ResourceKind, arn: str) -> dict[str, Any]:
        """The described resource (the object inside the response, e.g. ``datasetImportJob``)."""
        response = getattr(self.conn, kind.describe_method)(**{kind.arn_param: arn})
        return response[kind.response_key]

    def status_and_reason(self, kind: ResourceKind, arn: str) -> tuple[str | None, str | None]:
        """Current status and failureReason of a resource, or of its latest update for update kinds."""
        node: Any = self.describe(kind, arn)
        for step in kind.status_path[:-1]:
            node = (node or {}).get(step)
        node = node or {}
        return node.get(kind.status_path[-1]), node.get("failureReason")

    def _list_all(self, method: str, list_key: str, **params: Any) -> list[dict[str, Any]]:
        """Every summary a paginated List call returns, from every page."""
        items: list[dict[str, Any]] = []
        for page in self.conn.get_paginator(method).paginate(**params):
            items.extend(page.get(list_key, []))
        return items

    def _find_by_name(self, method: str, list_key: str, name: str, **params: Any) -> dict[str, Any] | None:
        paginator = self.conn.get_paginator(method)
        for page in paginator.paginate(**drop_none(**params)):
            for summary in page.get(list_key, []):
                if summary.get("name", summary.get("jobName")) == name:
                    return summary
        return None

    # -- dataset groups

    def find_dataset_group(self, *, name: str) -> dict[str, Any] | None:
        return self._find_by_name("list_dataset_groups", "datasetGroups", name)

    def create_dataset_group(
        self,
        *,
        name: str,
        role_arn: str | None = None,
        kms_key_arn: str | None = None,
        domain: str | None = None,
        tags: list[dict[str, str]] | None = None,
    ) -> str:
        response = self.conn.create_dataset_group(
            **drop_none(name=name, roleArn=role_arn, kmsKeyArn=kms_key_arn, domain=domain, tags=tags)
        )
        return response["datasetGroupArn"]

    # -- schemas

    def find_schema(self, *, name: str) -> dict[str, Any] | None:
        return self._find_by_name("list_schemas", "schemas", name)

    def describe_schema(self, *, schema_arn: str) -> dict[str, Any]:
        return self.conn.describe_schema(schemaArn=schema_arn)["schema"]

    def create_schema(self, *, name: str, schema: str, domain: str | None = None) -> str:
        return self.conn.create_schema(**drop_none(name=name, schema=schema, domain=domain))["schemaArn"]

    # -- datasets

    def find_dataset(self, *, dataset_group_arn: str, name: str) -> dict[str, Any] | None:
        return self._find_by_name("list_datasets", "datasets", name, datasetGroupArn=dataset_group_arn)

    def describe_dataset(self, *, dataset_arn: str) -> dict[str, Any]:
        return self.conn.describe_dataset(datasetArn=dataset_arn)["dataset"]

    def create_dataset(
        self,
        *,
        name: str,
        schema_arn: str,
        dataset_group_arn: str,
        dataset_type: str,
        tags: list[dict[str, str]] | None = None,
    ) -> str:
        response = self.conn.create_dataset(
            **drop_none(
                name=name,
                schemaArn=schema_arn,
                datasetGroupArn=dataset_group_arn,
                datasetType=dataset_type,
                tags=tags,
            )
        )
        return response["datasetArn"]

    def update_dataset(self, *, dataset_arn: str, schema_arn: str) -> str:
        return self.conn.update_dataset(datasetArn=dataset_arn, schemaArn=schema_arn)["datasetArn"]

    # -- dataset import jobs

    def list_dataset_import_jobs(self, *, dataset_arn: str) -> list[dict[str, Any]]:
        return self._list_all("list_dataset_import_jobs", "datasetImportJobs", datasetArn=dataset_arn)

    def create_dataset_import_job(
        self,
        *,
        job_name: str,
        dataset_arn: str,
        data_location: str,
        role_arn: str | None = None,
        import_mode: str | None = None,
        publish_attribution_metrics_to_s3: bool | None = None,
        tags: list[dict[str, str]] | None = None,
    ) -> str:
        response = self.conn.create_dataset_import_job(
            **drop_none(
                jobName=job_name,
                datasetArn=dataset_arn,
                dataSource={"dataLocation": data_location},
                roleArn=role_arn,
                importMode=import_mode,
                publishAttributionMetricsToS3=publish_attribution_metrics_to_s3,
                tags=tags,
            )
        )
        return response["datasetImportJobArn"]

    # -- data deletion jobs

    def list_data_deletion_jobs(self, *, dataset_group_arn: str) -> list[dict[str, Any]]:
        """The dataset group's data deletion jobs, newest first (botocore has no paginator for this call)."""
        jobs: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            page = self.conn.list_data_deletion_jobs(**drop_none(datasetGroupArn=dataset_group_arn, nextToken=token))
            jobs.extend(page.get("dataDeletionJobs", []))
            token = page.get("nextToken")
            if not token:
                return jobs

    def describe_data_deletion_job(self, *, data_deletion_job_arn: str) -> dict[str, Any]:
        return self.conn.describe_data_deletion_job(dataDeletionJobArn=data_deletion_job_arn)["dataDeletionJob"]

    def create_data_deletion_job(
        self,
        *,
        job_name: str,
        dataset_group_arn: str,
        data_location: str,
        role_arn: str,
        tags: list[dict[str, str]] | None = None,
    ) -> str:
        """Start deleting the users listed in ``data_location`` (a CSV with one USER_ID column) from every dataset
        of the group and from its events; returns the job's ARN."""
        response = self.conn.create_data_deletion_job(
            **drop_none(
                jobName=job_name,
                datasetGroupArn=dataset_group_arn,
                dataSource={"dataLocation": data_location},
                roleArn=role_arn,
                tags=tags,
            )
        )
        return response["dataDeletionJobArn"]

    # -- batch inference and batch segment jobs

    def list_batch_inference_jobs(self, *, solution_version_arn: str) -> list[dict[str, Any]]:
        """The batch inference jobs run on a solution version, from every page."""
        return self._list_all(
            "list_batch_inference_jobs", "batchInferenceJobs", solutionVersionArn=solution_version_arn
        )

    def describe_batch_inference_job(self, *, batch_inference_job_arn: str) -> dict[str, Any]:
        return self.conn.describe_batch_inference_job(batchInferenceJobArn=batch_inference_job_arn)["batchInferenceJob"]

    def create_batch_inference_job(
        self,
        *,
        job_name: str,
        solution_version_arn: str,
        job_input_s3_path: str,
        job_output_s3_path: str,
        role_arn: str,
        num_results: int | None = None,
        filter_arn: str | None = None,
        batch_inference_job_config: dict[str, Any] | None = None,
        tags: list[dict[str, str]] | None = None,
    ) -> str:
        """Start recommending items for every user (or item) in the JSON lines at ``job_input_s3_path``; the
        service writes ``<input file name>.out`` under ``job_output_s3_path``. Returns the job's ARN."""
        response = self.conn.create_batch_inference_job(
            **drop_none(
                jobName=job_name,
                solutionVersionArn=solution_version_arn,
                jobInput={"s3DataSource": {"path": job_input_s3_path}},
                jobOutput={"s3DataDestination": {"path": job_output_s3_path}},
                roleArn=role_arn,
                numResults=num_results,
                filterArn=filter_arn,
                batchInferenceJobConfig=batch_inference_job_config,
                tags=tags,
            )
        )
        return response["batchInferenceJobArn"]

    def list_batch_segment_jobs(self, *, solution_version_arn: str) -> list[dict[str, Any]]:
        """The batch segment jobs run on a solution version, from every page."""
        return self._list_all("list_batch_segment_jobs", "batchSegmentJobs", solutionVersionArn=solution_version_arn)

    def describe_batch_segment_job(self, *, batch_segment_job_arn: str) -> dict[str, Any]:
        return self.conn.describe_batch_segment_job(batchSegmentJobArn=batch_segment_job_arn)["batchSegmentJob"]

    def create_batch_segment_job(
        self,
        *,
        job_name: str,
        solution_version_arn: str,
        job_input_s3_path: str,
        job_output_s3_path: str,
        role_arn: str,
        num_results: int | None = None,
        filter_arn: str | None = None,
        tags: list[dict[str, str]] | None = None,
    ) -> str:
        """Start finding the users most likely to interact with each item (or item attribute) in the JSON lines at
        ``job_input_s3_path`` (the solution version must use an item-affinity or item-attribute-affinity recipe);
        the service writes ``<input file name>.out`` under ``job_output_s3_path``. Returns the job's ARN."""
        response = self.conn.create_batch_segment_job(
            **drop_none(
                jobName=job_name,
                solutionVersionArn=solution_version_arn,
                jobInput={"s3DataSource": {"path": job_input_s3_path}},
                jobOutput={"s3DataDestination": {"path": job_output_s3_path}},
                roleArn=role_arn,
                numResults=num_results,
                filterArn=filter_arn,
                tags=tags,
            )
        )
        return response["batchSegmentJobArn"]

    # -- solutions and versions

    def find_solution(self, *, dataset_group_arn: str, name: str) -> dict[str, Any] | None:
        return self._find_by_name("list_solutions", "solutions", name, datasetGroupArn=dataset_group_arn)

    def describe_solution(self, *, solution_arn: str) -> dict[str, Any]:
        return self.conn.describe_solution(solutionArn=solution_arn)["solution"]

    def create_solution(
        self,
        *,
        name: str,
        dataset_group_arn: str,
        recipe_arn: str,
        solution_config: dict[str, Any] | None = None,
        event_type: str | None = None,
        perform_auto_training: bool | None = None,
        perform_hpo: bool | None = None,
        tags: list[dict[str, str]] | None = None,
    ) -> str:
        response = self.conn.create_solution(
            **drop_none(
                name=name,
                datasetGroupArn=dataset_group_arn,
                recipeArn=recipe_arn,
                solutionConfig=solution_config,
                eventType=event_type,
                performAutoTraining=perform_auto_training,
                performHPO=perform_hpo,
                tags=tags,
            )
        )
        return response["solutionArn"]

    def list_solution_versions(self, *, solution_arn: str) -> list[dict[str, Any]]:
        return self._list_all("list_solution_versions", "solutionVersions", solutionArn=solution_arn)

    def describe_solution_version(self, *, solution_version_arn: str) -> dict[str, Any]:
        return self.conn.describe_solution_version(solutionVersionArn=solution_version_arn)["solutionVersion"]

    def create_solution_version(
        self,
        *,
        solution_arn: str,
        training_mode: str | None = None,
        name: str | None = None,
        tags: list[dict[str, str]] | None = None,
    ) -> str:
        response = self.conn.create_solution_version(
            **drop_none(solutionArn=solution_arn, trainingMode=training_mode, name=name, tags=tags)
        )
        return response["solutionVersionArn"]

    def get_solution_metrics(self, *, solution_version_arn: str) -> dict[str, float]:
        return dict(self.conn.get_solution_metrics(solutionVersionArn=solution_version_arn).get("metrics", {}))

    # -- campaigns

    def find_campaign(self, *, solution_arn: str, name: str) -> dict[str, Any] | None:
        return self._find_by_name("list_campaigns", "campaigns", name, solutionArn=solution_arn)

    def describe_campaign(self, *, campaign_arn: str) -> dict[str, Any]:
        return self.conn.describe_campaign(campaignArn=campaign_arn)["campaign"]

    def create_campaign(
        self,
        *,
        name: str,
        solution_version_arn: str,
        min_provisioned_tps: int | None = None,
        campaign_config: dict[str, Any] | None = None,
        tags: list[dict[str, str]] | None = None,
    ) -> str:
        response = self.conn.create_campaign(
            **drop_none(
                name=name,
                solutionVersionArn=solution_version_arn,
                minProvisionedTPS=min_provisioned_tps,
                campaignConfig=campaign_config,
                tags=tags,
            )
        )
        return response["campaignArn"]

    def update_campaign(
        self,
        *,
        campaign_arn: str,
        solution_version_arn: str | None = None,
        min_provisioned_tps: int | None = None,
        campaign_config: dict[str, Any] | None = None,
    ) -> str:
        response = self.conn.update_campaign(
            **drop_none(
                campaignArn=campaign_arn,
                solutionVersionArn=solution_version_arn,
                minProvisionedTPS=min_provisioned_tps,
                campaignConfig=campaign_config,
            )
        )
        return response["campaignArn"]

    # -- event trackers and filters

    def find_event_tracker(self, *, dataset_group_arn: str, name: str) -> dict[str, Any] | None:
        return self._find_by_name("list_event_trackers", "eventTrackers", name, datasetGroupArn=dataset_group_arn)

    def describe_event_tracker(self, *, event_tracker_arn: str) -> dict[str, Any]:
        return self.conn.describe_event_tracker(eventTrackerArn=event_tracker_arn)["eventTracker"]

    def create_event_tracker(
        self, *, name: str, dataset_group_arn: str, tags: list[dict[str, str]] | None = None
    ) -> str:
        response = self.conn.create_event_tracker(**drop_none(name=name, datasetGroupArn=dataset_group_arn, tags=tags))
        return response["eventTrackerArn"]

    def find_filter(self, *, dataset_group_arn: str, name: str) -> dict[str, Any] | None:
        return self._find_by_name("list_filters", "Filters", name, datasetGroupArn=dataset_group_arn)

    def describe_filter(self, *, filter_arn: str) -> dict[str, Any]:
        return self.conn.describe_filter(filterArn=filter_arn)["filter"]

    def create_filter(
        self,
        *,
        name: str,
        dataset_group_arn: str,
        filter_expression: str,
        tags: list[dict[str, str]] | None = None,
    ) -> str:
        response = self.conn.create_filter(
            **drop_none(name=name, datasetGroupArn=dataset_group_arn, filterExpression=filter_expression, tags=tags)
        )
        return response["filterArn"]


class PersonalizeRuntimeHook(_AdaptiveRetriesMixin, AwsBaseHook):
    """
    Ask a Personalize campaign for recommendations (``personalize-runtime``).

    .. seealso::
        - :class:`airflow.providers.amazon.aws.hooks.base_aws.AwsBaseHook`
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["client_type"] = "personalize-runtime"
        super().__init__(*args, **kwargs)

    def get_recommendations(
        self,
        *,
        campaign_arn: str,
        user_id: str | None = None,
        item_id: str | None = None,
        num_results: int | None = None,
        filter_arn: str | None = None,
        filter_values: dict[str, str] | None = None,
        context: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """The service's answer: ``itemList`` (itemId, score) and ``recommendationId``."""
        response = self.conn.get_recommendations(
            **drop_none(
                campaignArn=campaign_arn,
                userId=user_id,
                itemId=item_id,
                numResults=num_results,
                filterArn=filter_arn,
                filterValues=filter_values,
                context=context,
            )
        )
        return {key: response[key] for key in ("itemList", "recommendationId") if key in response}

    def get_personalized_ranking(
        self,
        *,
        campaign_arn: str,
        user_id: str,
        input_list: list[str],
        filter_arn: str | None = None,
        filter_values: dict[str, str] | None = None,
        context: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        response = self.conn.get_personalized_ranking(
            **drop_none(
                campaignArn=campaign_arn,
                userId=user_id,
                inputList=input_list,
                filterArn=filter_arn,
                filterValues=filter_values,
                context=context,
            )
        )
        return {key: response[key] for key in ("personalizedRanking", "recommendationId") if key in response}


class PersonalizeEventsHook(_AdaptiveRetriesMixin, AwsBaseHook):
    """
    Send real-time events, items and users to Personalize (``personalize-events``).

    .. seealso::
        - :class:`airflow.providers.amazon.aws.hooks.base_aws.AwsBaseHook`
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["client_type"] = "personalize-events"
        super().__init__(*args, **kwargs)

    def put_events(
        self,
        *,
        tracking_id: str,
        session_id: str,
        event_list: list[dict[str, Any]],
        user_id: str | None = None,
    ) -> None:
        self.conn.put_events(
            **drop_none(trackingId=tracking_id, sessionId=session_id, eventList=event_list, userId=user_id)
        )

    def put_items(self, *, dataset_arn: str, items: list[dict[str, Any]]) -> None:
        self.conn.put_items(datasetArn=dataset_arn, items=items)

    def put_users(self, *, dataset_arn: str, users: list[dict[str, Any]]) -> None:
        self.conn.put_users(datasetArn=dataset_arn, users=users)
