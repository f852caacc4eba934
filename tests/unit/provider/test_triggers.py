"""Triggers: serialize -> rebuild from the classpath gives the same trigger; run() against the hook's real
aiobotocore client, stubbed with AioStubber, ends in a success or an error event."""

from __future__ import annotations

import asyncio
import importlib
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiobotocore.stub import AioStubber
from airflow.providers.amazon.aws.triggers.base import AwsBaseWaiterTrigger

from personalize_provider.hooks.personalize import RESOURCE_KINDS, PersonalizeHook
from personalize_provider.triggers.personalize import (
    TRIGGER_FOR_KIND,
    PersonalizeBatchInferenceJobCompleteTrigger,
    PersonalizeBatchSegmentJobCompleteTrigger,
    PersonalizeCampaignUpdateCompleteTrigger,
    PersonalizeDataDeletionJobCompleteTrigger,
    PersonalizeDatasetImportJobCompleteTrigger,
)

from .conftest import REGION, arn

ALL_TRIGGERS = sorted(TRIGGER_FOR_KIND.values(), key=lambda cls: cls.__name__)


def rebuild(trigger: AwsBaseWaiterTrigger) -> AwsBaseWaiterTrigger:
    classpath, kwargs = trigger.serialize()
    module_name, class_name = classpath.rsplit(".", 1)
    return getattr(importlib.import_module(module_name), class_name)(**kwargs)


@pytest.mark.parametrize("trigger_class", ALL_TRIGGERS, ids=lambda cls: cls.__name__)
def test_serialize_rebuild_round_trip(trigger_class: type[AwsBaseWaiterTrigger]) -> None:
    trigger = trigger_class(
        resource_arn=arn("thing/x"),
        waiter_delay=7,
        waiter_max_attempts=9,
        aws_conn_id="pulla_aws",
        region_name=REGION,
        verify=False,
        botocore_config={"retries": {"mode": "standard", "max_attempts": 4}},
    )
    classpath, kwargs = trigger.serialize()
    assert classpath == f"personalize_provider.triggers.personalize.{trigger_class.__name__}"
    assert kwargs == {
        "resource_arn": arn("thing/x"),
        "waiter_delay": 7,
        "waiter_max_attempts": 9,
        "aws_conn_id": "pulla_aws",
        "region_name": REGION,
        "verify": False,
        "botocore_config": {"retries": {"mode": "standard", "max_attempts": 4}},
    }
    rebuilt = rebuild(trigger)
    assert type(rebuilt) is trigger_class
    assert rebuilt.serialize() == (classpath, kwargs)
    assert rebuilt.waiter_args == {trigger_class.kind.arn_param: arn("thing/x")}


@pytest.mark.parametrize("trigger_class", ALL_TRIGGERS, ids=lambda cls: cls.__name__)
def test_defaults_come_from_the_waiter_file_and_hook_is_personalize(trigger_class) -> None:
    trigger = trigger_class(resource_arn=arn("thing/x"), region_name=REGION, botocore_config={"read_timeout": 5})
    _, kwargs = trigger.serialize()
    assert kwargs["waiter_delay"] > 0
    assert kwargs["waiter_max_attempts"] > 0
    assert trigger.aws_hook_class is PersonalizeHook
    hook = trigger.hook()
    assert isinstance(hook, PersonalizeHook)
    assert hook.region_name == REGION
    assert hook.config.read_timeout == 5


@pytest.fixture
def stub_async_client(monkeypatch: pytest.MonkeyPatch):
    """Queue responses for the trigger's async client: the hook still builds the real aiobotocore client."""
    queued: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
    leftovers: list[int] = []
    original = PersonalizeHook.get_async_conn

    async def stubbed_async_conn(self: PersonalizeHook):
        client_context = await original(self)

        @asynccontextmanager
        async def stubbed():
            async with client_context as client:
                stubber = AioStubber(client)
                for method, response, params in queued:
                    stubber.add_response(method, response, params)
                with stubber:
                    yield client
                leftovers.append(len(stubber._queue))

        return stubbed()

    monkeypatch.setattr(PersonalizeHook, "get_async_conn", stubbed_async_conn)
    yield queued
    assert leftovers == [0], "every queued response must be used"


def run_trigger(trigger: AwsBaseWaiterTrigger) -> dict[str, Any]:
    """Run the trigger to its end; it must fire exactly one event."""

    async def all_events() -> list[dict[str, Any]]:
        return [event.payload async for event in trigger.run()]

    events = asyncio.run(all_events())
    assert len(events) == 1
    return events[0]


def test_import_job_trigger_success(stub_async_client) -> None:
    job = arn("dataset-import-job/pulla-interactions-20261126T1800-20261127T1800")
    for status in ("CREATE PENDING", "CREATE IN_PROGRESS", "ACTIVE"):
        stub_async_client.append(
            ("describe_dataset_import_job", {"datasetImportJob": {"status": status}}, {"datasetImportJobArn": job})
        )
    trigger = PersonalizeDatasetImportJobCompleteTrigger(
        resource_arn=job, waiter_delay=0, waiter_max_attempts=5, aws_conn_id=None, region_name=REGION
    )
    assert run_trigger(trigger) == {"status": "success", "resource_arn": job, "waiter": "dataset_import_job_complete"}


def test_import_job_trigger_failure_reports_an_error_event(stub_async_client) -> None:
    job = arn("dataset-import-job/bad")
    stub_async_client.append(
        (
            "describe_dataset_import_job",
            {"datasetImportJob": {"status": "CREATE FAILED", "failureReason": "Insufficient privileges"}},
            {"datasetImportJobArn": job},
        )
    )
    trigger = PersonalizeDatasetImportJobCompleteTrigger(
        resource_arn=job, waiter_delay=0, waiter_max_attempts=5, aws_conn_id=None, region_name=REGION
    )
    event = run_trigger(trigger)
    assert event["status"] == "error"
    assert event["resource_arn"] == job
    assert event["waiter"] == "dataset_import_job_complete"
    assert "did not become ACTIVE" in event["message"]


def test_data_deletion_job_trigger_success_on_completed(stub_async_client) -> None:
    job = arn("data-deletion-job/pulla-deletion-20261127-9f8e7d6c")
    for status in ("PENDING", "IN_PROGRESS", "COMPLETED"):
        stub_async_client.append(
            ("describe_data_deletion_job", {"dataDeletionJob": {"status": status}}, {"dataDeletionJobArn": job})
        )
    trigger = PersonalizeDataDeletionJobCompleteTrigger(
        resource_arn=job, waiter_delay=0, waiter_max_attempts=5, aws_conn_id=None, region_name=REGION
    )
    assert run_trigger(trigger) == {"status": "success", "resource_arn": job, "waiter": "data_deletion_job_complete"}


def test_data_deletion_job_trigger_failure_reports_an_error_event(stub_async_client) -> None:
    job = arn("data-deletion-job/bad")
    stub_async_client.append(
        (
            "describe_data_deletion_job",
            {"dataDeletionJob": {"status": "FAILED", "failureReason": "USER_ID column missing"}},
            {"dataDeletionJobArn": job},
        )
    )
    trigger = PersonalizeDataDeletionJobCompleteTrigger(
        resource_arn=job, waiter_delay=0, waiter_max_attempts=5, aws_conn_id=None, region_name=REGION
    )
    event = run_trigger(trigger)
    assert event["status"] == "error"
    assert event["waiter"] == "data_deletion_job_complete"
    assert f"{job} did not become COMPLETED" in event["message"]


@pytest.mark.parametrize(
    ("trigger_class", "method", "response_key", "job"),
    [
        pytest.param(
            PersonalizeBatchInferenceJobCompleteTrigger,
            "describe_batch_inference_job",
            "batchInferenceJob",
            arn("batch-inference-job/pulla-crm-20261127"),
            id="inference",
        ),
        pytest.param(
            PersonalizeBatchSegmentJobCompleteTrigger,
            "describe_batch_segment_job",
            "batchSegmentJob",
            arn("batch-segment-job/pulla-crm-segments-20261127"),
            id="segment",
        ),
    ],
)
class TestBatchJobTriggers:
    def queue(self, stub_async_client, method: str, response_key: str, job: str, *bodies: dict[str, Any]) -> None:
        for body in bodies:
            stub_async_client.append((method, {response_key: body}, {f"{response_key}Arn": job}))

    def test_success_once_active(self, stub_async_client, trigger_class, method, response_key, job) -> None:
        # The API reference's words and the ones other resources use both mean "still running".
        statuses = ("PENDING", "IN PROGRESS", "CREATE IN_PROGRESS", "ACTIVE")
        self.queue(stub_async_client, method, response_key, job, *({"status": status} for status in statuses))
        trigger = trigger_class(
            resource_arn=job, waiter_delay=0, waiter_max_attempts=5, aws_conn_id=None, region_name=REGION
        )
        assert run_trigger(trigger) == {"status": "success", "resource_arn": job, "waiter": trigger.waiter_name}

    def test_create_failed_is_an_error_event(self, stub_async_client, trigger_class, method, response_key, job) -> None:
        self.queue(
            stub_async_client,
            method,
            response_key,
            job,
            {"status": "CREATE FAILED", "failureReason": "Input file contains invalid JSON"},
        )
        trigger = trigger_class(
            resource_arn=job, waiter_delay=0, waiter_max_attempts=5, aws_conn_id=None, region_name=REGION
        )
        event = run_trigger(trigger)
        assert event["status"] == "error"
        assert event["waiter"] == trigger.waiter_name
        assert f"{job} did not become ACTIVE" in event["message"]


def test_campaign_update_trigger_watches_the_update_not_the_campaign(stub_async_client) -> None:
    campaign = arn("campaign/pulla")
    # The campaign itself stays ACTIVE while its update is in progress; only the update's status counts.
    for update_status in ("CREATE IN_PROGRESS", "ACTIVE"):
        stub_async_client.append(
            (
                "describe_campaign",
                {"campaign": {"status": "ACTIVE", "latestCampaignUpdate": {"status": update_status}}},
                {"campaignArn": campaign},
            )
        )
    trigger = PersonalizeCampaignUpdateCompleteTrigger(
        resource_arn=campaign, waiter_delay=0, waiter_max_attempts=5, aws_conn_id=None, region_name=REGION
    )
    assert run_trigger(trigger) == {"status": "success", "resource_arn": campaign, "waiter": trigger.waiter_name}
    assert RESOURCE_KINDS[trigger.waiter_name].status_query == "campaign.latestCampaignUpdate.status"


def test_trigger_gives_up_after_max_attempts(stub_async_client) -> None:
    version = arn("solution/pulla/abc")
    for _ in range(2):
        stub_async_client.append(
            (
                "describe_solution_version",
                {"solutionVersion": {"status": "CREATE IN_PROGRESS"}},
                {"solutionVersionArn": version},
            )
        )
    trigger = TRIGGER_FOR_KIND["solution_version_complete"](
        resource_arn=version, waiter_delay=0, waiter_max_attempts=2, aws_conn_id=None, region_name=REGION
    )
    event = run_trigger(trigger)
    assert event["status"] == "error"
    assert "max attempts" in event["message"].lower()


def test_the_first_status_check_waits_one_delay(stub_async_client, monkeypatch: pytest.MonkeyPatch) -> None:
    """A trigger that fires before the deferring worker's exit is processed makes Airflow 3.3 fail the resumed task
    (apache/airflow#72716): the first check comes one delay after the trigger starts, as every later one does."""
    job = arn("dataset-import-job/ready-at-once")
    stub_async_client.append(
        ("describe_dataset_import_job", {"datasetImportJob": {"status": "ACTIVE"}}, {"datasetImportJobArn": job})
    )
    calls: list[str] = []
    real_sleep = asyncio.sleep

    async def recording_sleep(seconds: float, *args: Any) -> None:
        calls.append(f"sleep {seconds}")
        await real_sleep(0)

    original_describe = PersonalizeHook.get_async_conn

    async def recording_conn(self: PersonalizeHook):
        calls.append("describe")
        return await original_describe(self)

    monkeypatch.setattr(asyncio, "sleep", recording_sleep)
    monkeypatch.setattr(PersonalizeHook, "get_async_conn", recording_conn)
    trigger = PersonalizeDatasetImportJobCompleteTrigger(
        resource_arn=job, waiter_delay=7, waiter_max_attempts=5, aws_conn_id=None, region_name=REGION
    )
    assert run_trigger(trigger)["status"] == "success"
    assert calls[:2] == ["sleep 7", "describe"]
