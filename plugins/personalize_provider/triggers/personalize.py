"""Deferrable triggers for Amazon Personalize: one per long wait, each a waiter from
``waiters/personalize.json`` run asynchronously in the triggerer.

All of them take the ARN of the resource to watch as ``resource_arn`` plus the usual AWS parameters, and
serialize to exactly those keyword arguments, so the triggerer rebuilds them from ``serialize()``. On success
the event is
``{"status": "success", "resource_arn": arn, "waiter": name}``; on a failed or timed-out wait it is
``{"status": "error", "message": ..., "resource_arn": arn, "waiter": name}`` and the operator's
``execute_complete`` fetches the service's failureReason. The event names its waiter so that resuming needs
nothing else: ``dag.test()`` (unlike the triggerer) passes the event alone, without the ``defer()`` kwargs.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import ClassVar

from airflow.providers.amazon.aws.triggers.base import AwsBaseWaiterTrigger
from airflow.triggers.base import TriggerEvent

from personalize_provider.hooks.personalize import (
    BATCH_INFERENCE_JOB,
    BATCH_SEGMENT_JOB,
    CAMPAIGN,
    CAMPAIGN_UPDATE,
    DATA_DELETION_JOB,
    DATASET,
    DATASET_GROUP,
    DATASET_IMPORT_JOB,
    DATASET_UPDATE,
    EVENT_TRACKER,
    FILTER,
    SOLUTION,
    SOLUTION_VERSION,
    PersonalizeHook,
    ResourceKind,
    waiter_defaults,
)


class PersonalizeResourceTrigger(AwsBaseWaiterTrigger):
    """
    Base for the Personalize triggers: waits until a resource (or its latest update) or a batch job is ACTIVE,
    or a data deletion job COMPLETED.

    Subclasses only name the resource kind; use them, not this class.

    :param resource_arn: ARN of the resource to watch.
    :param waiter_delay: Seconds between two status checks (default: the waiter's in
        waiters/personalize.json).
    :param waiter_max_attempts: Maximum number of status checks (default: the waiter's own maximum).
    :param aws_conn_id: The Airflow connection used for AWS credentials and endpoint.
    :param region_name: AWS region; by default the connection's.
    :param verify: Whether or not to verify SSL certificates.
    :param botocore_config: Configuration dictionary (key-values) for the botocore client.
    """

    aws_hook_class = PersonalizeHook
    kind: ClassVar[ResourceKind]

    def __init__(
        self,
        *,
        resource_arn: str,
        waiter_delay: int | None = None,
        waiter_max_attempts: int | None = None,
        aws_conn_id: str | None = "aws_default",
        region_name: str | None = None,
        verify: bool | str | None = None,
        botocore_config: dict | None = None,
    ) -> None:
        kind = self.kind
        default_delay, default_max_attempts = waiter_defaults(kind.waiter_name)
        super().__init__(
            serialized_fields={"resource_arn": resource_arn},
            waiter_name=kind.waiter_name,
            waiter_args={kind.arn_param: resource_arn},
            failure_message=f"Personalize {kind.label} {resource_arn} did not become {kind.done_status}",
            status_message=f"Personalize {kind.label} {resource_arn} status",
            status_queries=[kind.status_query, kind.failure_query],
            return_key="resource_arn",
            return_value=resource_arn,
            waiter_delay=default_delay if waiter_delay is None else waiter_delay,
            waiter_max_attempts=default_max_attempts if waiter_max_attempts is None else waiter_max_attempts,
            aws_conn_id=aws_conn_id,
            region_name=region_name,
            verify=verify,
            botocore_config=botocore_config,
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        # The first check waits one delay too. A resource that was just created or updated is never ACTIVE
        # within seconds on AWS, so an immediate check is wasted; and a trigger that fires before the deferring
        # worker's exit is processed makes Airflow 3.3's scheduler fail the resumed task ("finished with state
        # success, but the task instance's state attribute is running": apache/airflow#72716, open).
        await asyncio.sleep(self.waiter_delay)
        async for event in super().run():
            yield TriggerEvent({**event.payload, "waiter": self.kind.waiter_name})

    def hook(self) -> PersonalizeHook:
        # aws_hook_class is enough for provider 9.39; older 9.x releases only call hook().
        return PersonalizeHook(
            aws_conn_id=self.aws_conn_id,
            region_name=self.region_name,
            verify=self.verify,
            config=self.botocore_config,
        )


class PersonalizeDatasetGroupActiveTrigger(PersonalizeResourceTrigger):
    """Wait for a dataset group to be ACTIVE."""

    kind = DATASET_GROUP


class PersonalizeDatasetActiveTrigger(PersonalizeResourceTrigger):
    """Wait for a dataset to be ACTIVE."""

    kind = DATASET


class PersonalizeDatasetUpdateCompleteTrigger(PersonalizeResourceTrigger):
    """Wait for a dataset's latest schema update (UpdateDataset) to be ACTIVE."""

    kind = DATASET_UPDATE


class PersonalizeDatasetImportJobCompleteTrigger(PersonalizeResourceTrigger):
    """Wait for a dataset import job to be ACTIVE (imported) or CREATE FAILED."""

    kind = DATASET_IMPORT_JOB


class PersonalizeSolutionActiveTrigger(PersonalizeResourceTrigger):
    """Wait for a solution to be ACTIVE."""

    kind = SOLUTION


class PersonalizeSolutionVersionCompleteTrigger(PersonalizeResourceTrigger):
    """Wait for a solution version to finish training (ACTIVE) or fail or be stopped."""

    kind = SOLUTION_VERSION


class PersonalizeCampaignActiveTrigger(PersonalizeResourceTrigger):
    """Wait for a new campaign to be ACTIVE."""

    kind = CAMPAIGN


class PersonalizeCampaignUpdateCompleteTrigger(PersonalizeResourceTrigger):
    """Wait for a campaign's latest update to be ACTIVE: until then the campaign serves the previous version."""

    kind = CAMPAIGN_UPDATE


class PersonalizeEventTrackerActiveTrigger(PersonalizeResourceTrigger):
    """Wait for an event tracker to be ACTIVE (its tracking id is usable only then)."""

    kind = EVENT_TRACKER


class PersonalizeFilterActiveTrigger(PersonalizeResourceTrigger):
    """Wait for a filter to be ACTIVE."""

    kind = FILTER


class PersonalizeDataDeletionJobCompleteTrigger(PersonalizeResourceTrigger):
    """Wait for a data deletion job to be COMPLETED (its users are gone from the datasets and events) or FAILED."""

    kind = DATA_DELETION_JOB


class PersonalizeBatchInferenceJobCompleteTrigger(PersonalizeResourceTrigger):
    """Wait for a batch inference job to be ACTIVE (its recommendations are written to S3) or CREATE FAILED."""

    kind = BATCH_INFERENCE_JOB


class PersonalizeBatchSegmentJobCompleteTrigger(PersonalizeResourceTrigger):
    """Wait for a batch segment job to be ACTIVE (its user segments are written to S3) or CREATE FAILED."""

    kind = BATCH_SEGMENT_JOB


TRIGGER_FOR_KIND: dict[str, type[PersonalizeResourceTrigger]] = {
    trigger.kind.waiter_name: trigger
    for trigger in (
        PersonalizeDatasetGroupActiveTrigger,
        PersonalizeDatasetActiveTrigger,
        PersonalizeDatasetUpdateCompleteTrigger,
        PersonalizeDatasetImportJobCompleteTrigger,
        PersonalizeSolutionActiveTrigger,
        PersonalizeSolutionVersionCompleteTrigger,
        PersonalizeCampaignActiveTrigger,
        PersonalizeCampaignUpdateCompleteTrigger,
        PersonalizeEventTrackerActiveTrigger,
        PersonalizeFilterActiveTrigger,
        PersonalizeDataDeletionJobCompleteTrigger,
        PersonalizeBatchInferenceJobCompleteTrigger,
        PersonalizeBatchSegmentJobCompleteTrigger,
    )
}
