"""The local Personalize endpoint's service: it puts the parts together and routes each operation to its handler.

:meth:`PersonalizeService._operations` is the one place that says which handler serves which control-plane
operation. Each handler takes the request's JSON members and returns the response's, raising a
:class:`~personalize_local.errors.ServiceError` with the service's error code. The parts:

- ``ops_*`` modules: the control-plane handlers, one module per resource kind (schemas, dataset groups and datasets,
  import jobs, data deletion jobs, solutions with their versions and recipes, campaigns, event trackers, filters,
  batch inference and batch segment jobs);
- :mod:`~personalize_local.kinds` and :mod:`~personalize_local.lifecycle`: the table of resource kinds and the
  status engine that moves resources through the service's statuses on a scheduler (``status_delay`` seconds per
  step), runs import, deletion and batch work on their own worker threads and training in a process of its own
  (:mod:`~personalize_local.work_process`) so the API stays responsive, and on start resumes what was in flight
  when the endpoint stopped;
- :mod:`~personalize_local.support`: which operations and request members the endpoint supports; a request
  setting a member it refuses is answered InvalidInputException before any handler runs;
- :mod:`~personalize_local.serving`: GetRecommendations and PutEvents with their in-memory indexes, which the
  control plane notifies when what a campaign serves changes;
- :mod:`~personalize_local.records`: PutItems and PutUsers, records added to the Items and Users data at once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from personalize_local import errors, support
from personalize_local.lifecycle import Lifecycle
from personalize_local.ops_batch import BatchJobOps
from personalize_local.ops_campaigns import CampaignOps
from personalize_local.ops_data_deletion import DataDeletionJobOps
from personalize_local.ops_datasets import DatasetGroupOps, DatasetOps
from personalize_local.ops_event_trackers import EventTrackerOps
from personalize_local.ops_filters import FilterOps
from personalize_local.ops_imports import ImportJobOps
from personalize_local.ops_schemas import SchemaOps
from personalize_local.ops_solutions import SolutionOps
from personalize_local.records import RecordOps
from personalize_local.s3_data import S3Reader
from personalize_local.serving import Serving
from personalize_local.state import Scheduler, StateStore

Handler = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class EndpointSettings:
    data_dir: Path
    s3_endpoint: str | None = None
    account_id: str = "123456789012"
    default_region: str = "us-east-1"
    #: Seconds between two status steps (CREATE PENDING → CREATE IN_PROGRESS → ACTIVE).
    status_delay: float = 1.0
    train_threads: int = 2


class PersonalizeService:
    def __init__(self, settings: EndpointSettings) -> None:
        self.settings = settings
        self.store = StateStore(settings.data_dir)
        self.scheduler = Scheduler()
        self.lifecycle = Lifecycle(self.store, self.scheduler, settings.status_delay)
        self.serving = Serving(settings, self.store)
        self._request = threading.local()  # the calling region, per request thread
        parts = (settings, self.store, self.lifecycle, self._request)
        self.schemas = SchemaOps(*parts)
        self.dataset_groups = DatasetGroupOps(*parts)
        self.datasets = DatasetOps(*parts)
        self.s3 = S3Reader(settings)
        self.import_jobs = ImportJobOps(*parts, serving=self.serving, s3=self.s3)
        self.data_deletion_jobs = DataDeletionJobOps(*parts, serving=self.serving, s3=self.s3)
        self.solutions = SolutionOps(*parts)
        self.campaigns = CampaignOps(*parts, serving=self.serving)
        self.event_trackers = EventTrackerOps(*parts)
        self.filters = FilterOps(*parts)
        self.batch_jobs = BatchJobOps(*parts, serving=self.serving, s3=self.s3)
        self.records = RecordOps(*parts, serving=self.serving)
        self._handlers = self._operations()
        self.lifecycle.resume()
        # Load deployed models in the background, so the first requests after a restart do not wait for them.
        deployed = self.serving.deployed_campaigns()
        if deployed:
            self.scheduler.call_later(0, lambda: self.serving.warm(deployed))

    def _operations(self) -> dict[str, Handler]:
        """Every control-plane operation the endpoint serves → its handler: the one place to look one up."""
        return {
            "CreateSchema": self.schemas.create,
            "DescribeSchema": self.schemas.describe,
            "ListSchemas": self.schemas.list,
            "DeleteSchema": self.schemas.delete,
            "CreateDatasetGroup": self.dataset_groups.create,
            "DescribeDatasetGroup": self.dataset_groups.describe,
            "ListDatasetGroups": self.dataset_groups.list,
            "DeleteDatasetGroup": self.dataset_groups.delete,
            "CreateDataset": self.datasets.create,
            "DescribeDataset": self.datasets.describe,
            "ListDatasets": self.datasets.list,
            "UpdateDataset": self.datasets.update,
            "DeleteDataset": self.datasets.delete,
            "CreateDatasetImportJob": self.import_jobs.create,
            "DescribeDatasetImportJob": self.import_jobs.describe,
            "ListDatasetImportJobs": self.import_jobs.list,
            "CreateDataDeletionJob": self.data_deletion_jobs.create,
            "DescribeDataDeletionJob": self.data_deletion_jobs.describe,
            "ListDataDeletionJobs": self.data_deletion_jobs.list,
            "CreateSolution": self.solutions.create,
            "DescribeSolution": self.solutions.describe,
            "ListSolutions": self.solutions.list,
            "DeleteSolution": self.solutions.delete,
            "CreateSolutionVersion": self.solutions.create_version,
            "DescribeSolutionVersion": self.solutions.describe_version,
            "ListSolutionVersions": self.solutions.list_versions,
            "GetSolutionMetrics": self.solutions.get_metrics,
            "ListRecipes": self.solutions.list_recipes,
            "DescribeRecipe": self.solutions.describe_recipe,
            "CreateCampaign": self.campaigns.create,
            "DescribeCampaign": self.campaigns.describe,
            "ListCampaigns": self.campaigns.list,
            "UpdateCampaign": self.campaigns.update,
            "DeleteCampaign": self.campaigns.delete,
            "CreateEventTracker": self.event_trackers.create,
            "DescribeEventTracker": self.event_trackers.describe,
            "ListEventTrackers": self.event_trackers.list,
            "DeleteEventTracker": self.event_trackers.delete,
            "CreateFilter": self.filters.create,
            "DescribeFilter": self.filters.describe,
            "ListFilters": self.filters.list,
            "DeleteFilter": self.filters.delete,
            "CreateBatchInferenceJob": self.batch_jobs.create_inference,
            "DescribeBatchInferenceJob": self.batch_jobs.describe_inference,
            "ListBatchInferenceJobs": self.batch_jobs.list_inference,
            "CreateBatchSegmentJob": self.batch_jobs.create_segment,
            "DescribeBatchSegmentJob": self.batch_jobs.describe_segment,
            "ListBatchSegmentJobs": self.batch_jobs.list_segment,
        }

    def close(self) -> None:
        self.scheduler.stop()
        self.lifecycle.close()

    def handle(
        self, operation: str, params: dict[str, Any], region: str | None = None, invocation_id: str | None = None
    ) -> dict[str, Any]:
        """A control-plane call: ``operation`` as in ``X-Amz-Target``, ``region`` from the request's signature,
        ``invocation_id`` from its ``amz-sdk-invocation-id`` header (the same on every retry of one SDK call)."""
        handler = self._handlers.get(operation)
        if handler is None:
            raise errors.UnknownOperationError(support.unknown_operation_message(operation))
        self._request.region = region or self.settings.default_region
        # Test-only refusals (faults.py); nothing unless switched on.
        self.lifecycle.faults.before_call(operation, invocation_id)
        return handler(params) or {}

    # ---- runtime and events: served by serving (PutItems and PutUsers by records) ----------------------------

    def get_recommendations(self, params: dict[str, Any]) -> dict[str, Any]:
        response = self.serving.get_recommendations(params)
        self.serving.remember_recommendations(response)  # an event naming its recommendationId was shown these
        return response

    def get_personalized_ranking(self, params: dict[str, Any]) -> dict[str, Any]:
        response = self.serving.get_personalized_ranking(params)
        self.serving.remember_recommendations(response)
        return response

    def put_events(self, params: dict[str, Any]) -> dict[str, Any]:
        return self.serving.put_events(params)

    def put_items(self, params: dict[str, Any]) -> dict[str, Any]:
        return self.records.put_items(params)

    def put_users(self, params: dict[str, Any]) -> dict[str, Any]:
        return self.records.put_users(params)

    def runtime_is_warm(self, campaign_arn: Any) -> bool:
        """Whether GetRecommendations for this campaign would be answered from memory (no model to load)."""
        return self.serving.is_warm(campaign_arn)
