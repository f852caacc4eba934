"""Hooks: where calls go comes only from the connection; retries default to adaptive; keyword arguments map to
the API with None dropped (Stubber checks the exact request against the API model)."""

from __future__ import annotations

import json

import pytest
from botocore.stub import Stubber

from personalize_provider.hooks.personalize import (
    CAMPAIGN_UPDATE,
    DATASET_IMPORT_JOB,
    PersonalizeEventsHook,
    PersonalizeHook,
    PersonalizeRuntimeHook,
    drop_none,
)

from .conftest import REGION, arn

HOOKS = [PersonalizeHook, PersonalizeRuntimeHook, PersonalizeEventsHook]


def set_connection(monkeypatch: pytest.MonkeyPatch, conn_id: str, extra: dict) -> None:
    connection = {"conn_type": "aws", "login": "AKIDCONN", "password": "conn-secret-value", "extra": extra}
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(connection))


def test_drop_none_keeps_falsy_values() -> None:
    assert drop_none(a=None, b=0, c=False, d="", e=[]) == {"b": 0, "c": False, "d": "", "e": []}


@pytest.mark.parametrize("hook_class", HOOKS)
def test_default_retries_are_adaptive(hook_class) -> None:
    client = hook_class(aws_conn_id=None, region_name=REGION).conn
    assert client.meta.config.retries["mode"] == "adaptive"


@pytest.mark.parametrize("hook_class", HOOKS)
def test_connection_endpoint_region_and_retries_win(hook_class, monkeypatch: pytest.MonkeyPatch) -> None:
    set_connection(
        monkeypatch,
        "pulla_local",
        {
            "endpoint_url": "http://127.0.0.1:4599",
            "region_name": "eu-west-1",
            "config_kwargs": {"retries": {"mode": "standard", "max_attempts": 4}},
        },
    )
    client = hook_class(aws_conn_id="pulla_local").conn
    assert client.meta.endpoint_url == "http://127.0.0.1:4599"
    assert client.meta.region_name == "eu-west-1"
    assert client.meta.config.retries["mode"] == "standard"


def test_connection_without_retry_settings_gets_adaptive(monkeypatch: pytest.MonkeyPatch) -> None:
    set_connection(monkeypatch, "pulla_plain", {"endpoint_url": "http://127.0.0.1:4599", "config_kwargs": {}})
    client = PersonalizeHook(aws_conn_id="pulla_plain", region_name=REGION).conn
    assert client.meta.config.retries["mode"] == "adaptive"
    assert client.meta.endpoint_url == "http://127.0.0.1:4599"


def test_caller_config_wins_over_the_default() -> None:
    hook = PersonalizeHook(aws_conn_id=None, region_name=REGION, config={"retries": {"mode": "legacy"}})
    assert hook.conn.meta.config.retries["mode"] == "legacy"


class TestPersonalizeHook:
    @pytest.fixture
    def hook(self) -> PersonalizeHook:
        return PersonalizeHook(aws_conn_id=None, region_name=REGION)

    def test_none_arguments_are_not_sent(self, hook: PersonalizeHook) -> None:
        with Stubber(hook.conn) as stubber:
            stubber.add_response("create_dataset_group", {"datasetGroupArn": arn("dataset-group/p")}, {"name": "p"})
            assert hook.create_dataset_group(name="p") == arn("dataset-group/p")
            stubber.assert_no_pending_responses()

    def test_import_job_arguments_map_to_api_names(self, hook: PersonalizeHook) -> None:
        expected = {
            "jobName": "j",
            "datasetArn": arn("dataset/p/INTERACTIONS"),
            "dataSource": {"dataLocation": "s3://bucket/imports/"},
            "roleArn": "arn:aws:iam::123456789012:role/personalize",
            "importMode": "FULL",
            "publishAttributionMetricsToS3": False,
        }
        with Stubber(hook.conn) as stubber:
            stubber.add_response("create_dataset_import_job", {"datasetImportJobArn": arn("x/j")}, expected)
            hook.create_dataset_import_job(
                job_name="j",
                dataset_arn=arn("dataset/p/INTERACTIONS"),
                data_location="s3://bucket/imports/",
                role_arn="arn:aws:iam::123456789012:role/personalize",
                import_mode="FULL",
                publish_attribution_metrics_to_s3=False,
            )
            stubber.assert_no_pending_responses()

    def test_data_deletion_job_arguments_map_to_api_names(self, hook: PersonalizeHook) -> None:
        expected = {
            "jobName": "pulla-deletion-20261127-9f8e7d6c",
            "datasetGroupArn": arn("dataset-group/pulla"),
            "dataSource": {"dataLocation": "s3://bucket/personalize/deletions/window=20261127/users.csv"},
            "roleArn": "arn:aws:iam::123456789012:role/personalize",
            "tags": [{"tagKey": "purpose", "tagValue": "withdrawn-members"}],
        }
        job = arn("data-deletion-job/pulla-deletion-20261127-9f8e7d6c")
        with Stubber(hook.conn) as stubber:
            stubber.add_response("create_data_deletion_job", {"dataDeletionJobArn": job}, expected)
            stubber.add_response(
                "describe_data_deletion_job",
                {"dataDeletionJob": {"dataDeletionJobArn": job, "status": "COMPLETED", "numDeleted": 12}},
                {"dataDeletionJobArn": job},
            )
            created = hook.create_data_deletion_job(
                job_name="pulla-deletion-20261127-9f8e7d6c",
                dataset_group_arn=arn("dataset-group/pulla"),
                data_location="s3://bucket/personalize/deletions/window=20261127/users.csv",
                role_arn="arn:aws:iam::123456789012:role/personalize",
                tags=[{"tagKey": "purpose", "tagValue": "withdrawn-members"}],
            )
            described = hook.describe_data_deletion_job(data_deletion_job_arn=job)
            stubber.assert_no_pending_responses()
        assert created == job
        assert described == {"dataDeletionJobArn": job, "status": "COMPLETED", "numDeleted": 12}

    def test_data_deletion_jobs_are_listed_from_every_page(self, hook: PersonalizeHook) -> None:
        # botocore has no paginator for ListDataDeletionJobs: the hook follows nextToken itself.
        group = arn("dataset-group/pulla")
        with Stubber(hook.conn) as stubber:
            stubber.add_response(
                "list_data_deletion_jobs",
                {"dataDeletionJobs": [{"jobName": "newest", "status": "PENDING"}], "nextToken": "t2"},
                {"datasetGroupArn": group},
            )
            stubber.add_response(
                "list_data_deletion_jobs",
                {"dataDeletionJobs": [{"jobName": "oldest", "status": "COMPLETED"}]},
                {"datasetGroupArn": group, "nextToken": "t2"},
            )
            jobs = hook.list_data_deletion_jobs(dataset_group_arn=group)
            stubber.assert_no_pending_responses()
        assert [job["jobName"] for job in jobs] == ["newest", "oldest"]

    def test_batch_inference_job_arguments_map_to_api_names(self, hook: PersonalizeHook) -> None:
        version = arn("solution/pulla-user-personalization/5e6f7a8b")
        job = arn("batch-inference-job/pulla-crm-20261127")
        expected = {
            "jobName": "pulla-crm-20261127",
            "solutionVersionArn": version,
            "jobInput": {"s3DataSource": {"path": "s3://bucket/personalize/crm/input/users.json"}},
            "jobOutput": {"s3DataDestination": {"path": "s3://bucket/personalize/crm/output/"}},
            "roleArn": "arn:aws:iam::123456789012:role/personalize",
            "numResults": 50,
            "filterArn": arn("filter/pulla-unpurchased"),
            "batchInferenceJobConfig": {"itemExplorationConfig": {"explorationWeight": "0.3"}},
            "tags": [{"tagKey": "purpose", "tagValue": "crm"}],
        }
        described = {"batchInferenceJobArn": job, "status": "ACTIVE", "failureReason": ""}
        with Stubber(hook.conn) as stubber:
            stubber.add_response("create_batch_inference_job", {"batchInferenceJobArn": job}, expected)
            stubber.add_response(
                "describe_batch_inference_job", {"batchInferenceJob": described}, {"batchInferenceJobArn": job}
            )
            created = hook.create_batch_inference_job(
                job_name="pulla-crm-20261127",
                solution_version_arn=version,
                job_input_s3_path="s3://bucket/personalize/crm/input/users.json",
                job_output_s3_path="s3://bucket/personalize/crm/output/",
                role_arn="arn:aws:iam::123456789012:role/personalize",
                num_results=50,
                filter_arn=arn("filter/pulla-unpurchased"),
                batch_inference_job_config={"itemExplorationConfig": {"explorationWeight": "0.3"}},
                tags=[{"tagKey": "purpose", "tagValue": "crm"}],
            )
            assert hook.describe_batch_inference_job(batch_inference_job_arn=job) == described
            stubber.assert_no_pending_responses()
        assert created == job

    def test_batch_segment_job_without_options_sends_only_the_required_fields(self, hook: PersonalizeHook) -> None:
        version = arn("solution/pulla-item-affinity/1a2b3c4d")
        job = arn("batch-segment-job/pulla-crm-segments-20261127")
        expected = {
            "jobName": "pulla-crm-segments-20261127",
            "solutionVersionArn": version,
            "jobInput": {"s3DataSource": {"path": "s3://bucket/personalize/crm/input/items.json"}},
            "jobOutput": {"s3DataDestination": {"path": "s3://bucket/personalize/crm/output/"}},
            "roleArn": "arn:aws:iam::123456789012:role/personalize",
        }
        with Stubber(hook.conn) as stubber:
            stubber.add_response("create_batch_segment_job", {"batchSegmentJobArn": job}, expected)
            stubber.add_response(
                "describe_batch_segment_job",
                {"batchSegmentJob": {"batchSegmentJobArn": job, "status": "CREATE PENDING"}},
                {"batchSegmentJobArn": job},
            )
            created = hook.create_batch_segment_job(
                job_name="pulla-crm-segments-20261127",
                solution_version_arn=version,
                job_input_s3_path="s3://bucket/personalize/crm/input/items.json",
                job_output_s3_path="s3://bucket/personalize/crm/output/",
                role_arn="arn:aws:iam::123456789012:role/personalize",
            )
            assert hook.describe_batch_segment_job(batch_segment_job_arn=job)["status"] == "CREATE PENDING"
            stubber.assert_no_pending_responses()
        assert created == job

    @pytest.mark.parametrize(
        ("method", "list_key"),
        [("list_batch_inference_jobs", "batchInferenceJobs"), ("list_batch_segment_jobs", "batchSegmentJobs")],
    )
    def test_batch_jobs_are_listed_from_every_page(self, hook: PersonalizeHook, method: str, list_key: str) -> None:
        # botocore has paginators for both List calls: the hook reads every page of the version's jobs.
        assert hook.conn.can_paginate(method)
        version = arn("solution/pulla-user-personalization/5e6f7a8b")
        with Stubber(hook.conn) as stubber:
            stubber.add_response(
                method,
                {list_key: [{"jobName": "newest", "status": "CREATE PENDING"}], "nextToken": "t2"},
                {"solutionVersionArn": version},
            )
            stubber.add_response(
                method,
                {list_key: [{"jobName": "oldest", "status": "CREATE FAILED"}]},
                {"solutionVersionArn": version, "nextToken": "t2"},
            )
            jobs = getattr(hook, method)(solution_version_arn=version)
            stubber.assert_no_pending_responses()
        assert [job["jobName"] for job in jobs] == ["newest", "oldest"]

    def test_find_by_name_reads_every_page(self, hook: PersonalizeHook) -> None:
        with Stubber(hook.conn) as stubber:
            stubber.add_response(
                "list_filters",
                {"Filters": [{"name": "other", "filterArn": arn("filter/other")}], "nextToken": "t2"},
                {"datasetGroupArn": arn("dataset-group/p")},
            )
            stubber.add_response(
                "list_filters",
                {"Filters": [{"name": "wanted", "filterArn": arn("filter/wanted")}]},
                {"datasetGroupArn": arn("dataset-group/p"), "nextToken": "t2"},
            )
            found = hook.find_filter(dataset_group_arn=arn("dataset-group/p"), name="wanted")
            stubber.assert_no_pending_responses()
        assert found == {"name": "wanted", "filterArn": arn("filter/wanted")}

    def test_status_and_reason_of_an_update(self, hook: PersonalizeHook) -> None:
        with Stubber(hook.conn) as stubber:
            stubber.add_response(
                "describe_campaign",
                {
                    "campaign": {
                        "status": "ACTIVE",
                        "latestCampaignUpdate": {"status": "CREATE FAILED", "failureReason": "version not ACTIVE"},
                    }
                },
                {"campaignArn": arn("campaign/p")},
            )
            stubber.add_response(
                "describe_dataset_import_job",
                {"datasetImportJob": {"status": "ACTIVE"}},
                {"datasetImportJobArn": arn("dataset-import-job/j")},
            )
            assert hook.status_and_reason(CAMPAIGN_UPDATE, arn("campaign/p")) == ("CREATE FAILED", "version not ACTIVE")
            assert hook.status_and_reason(DATASET_IMPORT_JOB, arn("dataset-import-job/j")) == ("ACTIVE", None)


def test_runtime_hook_get_recommendations() -> None:
    hook = PersonalizeRuntimeHook(aws_conn_id=None, region_name=REGION)
    with Stubber(hook.conn) as stubber:
        stubber.add_response(
            "get_recommendations",
            {"itemList": [{"itemId": "P100", "score": 0.9}], "recommendationId": "RID-1"},
            {"campaignArn": arn("campaign/p"), "userId": "U1", "numResults": 5, "filterArn": arn("filter/f")},
        )
        answer = hook.get_recommendations(
            campaign_arn=arn("campaign/p"), user_id="U1", num_results=5, filter_arn=arn("filter/f")
        )
    assert answer == {"itemList": [{"itemId": "P100", "score": 0.9}], "recommendationId": "RID-1"}


def test_events_hook_put_events_links_session_and_user() -> None:
    from datetime import UTC, datetime

    hook = PersonalizeEventsHook(aws_conn_id=None, region_name=REGION)
    event = {"eventType": "login", "sentAt": datetime(2026, 11, 27, tzinfo=UTC), "itemId": "P1"}
    with Stubber(hook.conn) as stubber:
        stubber.add_response(
            "put_events", {}, {"trackingId": "tid", "sessionId": "s-1", "userId": "U1", "eventList": [event]}
        )
        hook.put_events(tracking_id="tid", session_id="s-1", user_id="U1", event_list=[event])
        stubber.assert_no_pending_responses()


def test_one_connection_can_point_each_service_at_its_own_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    """Local mode: S3 on moto's server, Personalize on the local endpoint, through the connection's service_config."""
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    set_connection(
        monkeypatch,
        "pulla_split",
        {
            "region_name": REGION,
            "endpoint_url": "http://127.0.0.1:5000",
            "service_config": {
                "personalize": {"endpoint_url": "http://127.0.0.1:4599"},
                "personalize-runtime": {"endpoint_url": "http://127.0.0.1:4599"},
                "personalize-events": {"endpoint_url": "http://127.0.0.1:4599"},
            },
        },
    )
    for hook_class in HOOKS:
        assert hook_class(aws_conn_id="pulla_split").conn.meta.endpoint_url == "http://127.0.0.1:4599"
    assert S3Hook(aws_conn_id="pulla_split").conn.meta.endpoint_url == "http://127.0.0.1:5000"
