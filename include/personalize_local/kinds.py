"""The resource kinds of the control plane, as one table: the status engine and the handlers read it.

Each :class:`ResourceKind` says how resources of that kind are named and found (store key, ARN member and path,
Describe and List response keys, summary fields, the parent a List call filters by), whether it moves through the
asynchronous statuses (and which: resources and batch jobs show CREATE PENDING … ACTIVE, data deletion jobs
PENDING … COMPLETED),
which worker pool runs its in-progress step, and which member holds its in-place updates (``latestCampaignUpdate``).
Statuses are the service's strings.
"""

from __future__ import annotations

from dataclasses import dataclass

CREATE_PENDING = "CREATE PENDING"
CREATE_IN_PROGRESS = "CREATE IN_PROGRESS"
ACTIVE = "ACTIVE"
CREATE_FAILED = "CREATE FAILED"
DELETE_PENDING = "DELETE PENDING"
DELETE_IN_PROGRESS = "DELETE IN_PROGRESS"
IN_FLIGHT = (CREATE_PENDING, CREATE_IN_PROGRESS)
DELETING = (DELETE_PENDING, DELETE_IN_PROGRESS)
JOB_PENDING = "PENDING"
JOB_IN_PROGRESS = "IN_PROGRESS"
JOB_COMPLETED = "COMPLETED"
JOB_FAILED = "FAILED"

SCHEMA = "schema"
DATASET_GROUP = "dataset-group"
DATASET = "dataset"
IMPORT_JOB = "dataset-import-job"
DATA_DELETION_JOB = "data-deletion-job"
SOLUTION = "solution"
SOLUTION_VERSION = "solution-version"
CAMPAIGN = "campaign"
EVENT_TRACKER = "event-tracker"
FILTER = "filter"
BATCH_INFERENCE_JOB = "batch-inference-job"
BATCH_SEGMENT_JOB = "batch-segment-job"


@dataclass(frozen=True)
class Parent:
    """The resource a record belongs to: its kind and the record member holding its ARN."""

    kind: str
    record_key: str


@dataclass(frozen=True)
class Statuses:
    """The statuses a new resource of a kind passes: pending, in progress, then done or failed."""

    pending: str
    in_progress: str
    done: str
    failed: str

    @property
    def in_flight(self) -> tuple[str, str]:
        return (self.pending, self.in_progress)

    @property
    def finished(self) -> tuple[str, str]:
        return (self.done, self.failed)


RESOURCE_STATUSES = Statuses(CREATE_PENDING, CREATE_IN_PROGRESS, ACTIVE, CREATE_FAILED)
#: Data deletion jobs show the plain job statuses (PENDING > IN_PROGRESS > COMPLETED -or- FAILED).
JOB_STATUSES = Statuses(JOB_PENDING, JOB_IN_PROGRESS, JOB_COMPLETED, JOB_FAILED)


@dataclass(frozen=True)
class ResourceKind:
    name: str  # the store's key, also the ARN path's first part where there is one
    arn_key: str  # the request and record member holding the ARN, e.g. "schemaArn"
    describe_key: str  # the Describe response's member
    list_key: str  # the List response's member
    summary_fields: tuple[str, ...]  # what a List call shows of each record
    #: The ARN path before the name (arn:aws:personalize:<region>:<account>:<arn_path>/<name>); None when the ARN
    #: hangs under the parent's ARN instead (solution versions).
    arn_path: str | None
    parent: Parent | None = None  # List calls filter by the parent's ARN member
    #: Whether the resource moves through ``statuses`` (pending → in progress → done / failed); schemas do not.
    lifecycle: bool = True
    statuses: Statuses = RESOURCE_STATUSES
    #: The worker pool that runs the in-progress work; None: the step only takes ``status_delay``.
    pool: str | None = None
    #: The member holding an in-place update that moves through its own statuses, e.g. "latestCampaignUpdate".
    update_key: str | None = None
    #: A job: once finished it is a record of what happened and does not keep its parent from being deleted.
    job: bool = False

    def holds_parent(self, record: dict) -> bool:
        """Whether this record keeps its parent from being deleted (anything but a finished job)."""
        return not (self.job and record.get("status") in self.statuses.finished)


_TIMES = ("creationDateTime", "lastUpdatedDateTime")
_GROUP = Parent(DATASET_GROUP, "datasetGroupArn")
_VERSION = Parent(SOLUTION_VERSION, "solutionVersionArn")

#: Every kind, in the order ``resources.json`` lists them (and DeleteDatasetGroup looks for children).
KINDS: dict[str, ResourceKind] = {
    kind.name: kind
    for kind in (
        ResourceKind(
            SCHEMA, "schemaArn", "schema", "schemas", ("name", "schemaArn", *_TIMES), arn_path=SCHEMA, lifecycle=False
        ),
        ResourceKind(
            DATASET_GROUP,
            "datasetGroupArn",
            "datasetGroup",
            "datasetGroups",
            ("name", "datasetGroupArn", "status", *_TIMES, "failureReason"),
            arn_path=DATASET_GROUP,
        ),
        ResourceKind(
            DATASET,
            "datasetArn",
            "dataset",
            "datasets",
            ("name", "datasetArn", "datasetType", "status", *_TIMES),
            arn_path=DATASET,
            parent=_GROUP,
            update_key="latestDatasetUpdate",
        ),
        ResourceKind(
            IMPORT_JOB,
            "datasetImportJobArn",
            "datasetImportJob",
            "datasetImportJobs",
            ("datasetImportJobArn", "jobName", "status", *_TIMES, "failureReason", "importMode"),
            arn_path=IMPORT_JOB,
            parent=Parent(DATASET, "datasetArn"),
            pool="import",
            job=True,
        ),
        ResourceKind(
            DATA_DELETION_JOB,
            "dataDeletionJobArn",
            "dataDeletionJob",
            "dataDeletionJobs",
            ("dataDeletionJobArn", "datasetGroupArn", "jobName", "status", *_TIMES, "failureReason"),
            arn_path=DATA_DELETION_JOB,
            parent=_GROUP,
            statuses=JOB_STATUSES,
            # The import pool, taking turns per dataset with imports (Lifecycle.turns): a deletion never rewrites a
            # dataset while an import merges into it, or the reverse.
            pool="import",
            job=True,
        ),
        ResourceKind(
            SOLUTION,
            "solutionArn",
            "solution",
            "solutions",
            ("name", "solutionArn", "status", *_TIMES, "recipeArn"),
            arn_path=SOLUTION,
            parent=_GROUP,
        ),
        ResourceKind(
            SOLUTION_VERSION,
            "solutionVersionArn",
            "solutionVersion",
            "solutionVersions",
            ("solutionVersionArn", "status", "trainingMode", "trainingType", *_TIMES, "failureReason"),
            arn_path=None,
            parent=Parent(SOLUTION, "solutionArn"),
            pool="train",
        ),
        ResourceKind(
            CAMPAIGN,
            "campaignArn",
            "campaign",
            "campaigns",
            ("name", "campaignArn", "status", *_TIMES, "failureReason"),
            arn_path=CAMPAIGN,
            # Campaigns belong to a solution version; ListCampaigns filters by its solution (kept in _solutionArn).
            parent=Parent(SOLUTION, "_solutionArn"),
            update_key="latestCampaignUpdate",
        ),
        ResourceKind(
            EVENT_TRACKER,
            "eventTrackerArn",
            "eventTracker",
            "eventTrackers",
            ("name", "eventTrackerArn", "status", *_TIMES),
            arn_path=EVENT_TRACKER,
            parent=_GROUP,
        ),
        ResourceKind(
            FILTER,
            "filterArn",
            "filter",
            "Filters",  # the API model spells this key with a capital F
            ("name", "filterArn", *_TIMES, "datasetGroupArn", "failureReason", "status"),
            arn_path=FILTER,
            parent=_GROUP,
        ),
        # Batch jobs show the resource statuses (CREATE PENDING > CREATE IN_PROGRESS > ACTIVE -or- CREATE FAILED),
        # as the service does; their work runs on its own pool, beside training and imports.
        ResourceKind(
            BATCH_INFERENCE_JOB,
            "batchInferenceJobArn",
            "batchInferenceJob",
            "batchInferenceJobs",
            (
                "batchInferenceJobArn",
                "jobName",
                "status",
                *_TIMES,
                "failureReason",
                "solutionVersionArn",
                "batchInferenceJobMode",
            ),
            arn_path=BATCH_INFERENCE_JOB,
            parent=_VERSION,
            pool="batch",
            job=True,
        ),
        ResourceKind(
            BATCH_SEGMENT_JOB,
            "batchSegmentJobArn",
            "batchSegmentJob",
            "batchSegmentJobs",
            ("batchSegmentJobArn", "jobName", "status", *_TIMES, "failureReason", "solutionVersionArn"),
            arn_path=BATCH_SEGMENT_JOB,
            parent=_VERSION,
            pool="batch",
            job=True,
        ),
    )
}


def children_of(kind: str) -> list[str]:
    """The kinds whose records belong to a resource of ``kind``, in table order."""
    return [child.name for child in KINDS.values() if child.parent is not None and child.parent.kind == kind]
