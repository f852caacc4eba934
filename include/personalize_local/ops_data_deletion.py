"""Control-plane operations on data deletion jobs, and the deletion work itself.

CreateDataDeletionJob checks the request (name, dataset group, location, role, at most five PENDING jobs per group)
and leaves the job PENDING; at IN_PROGRESS the status engine runs :meth:`DataDeletionJobOps.run_deletion` on the
import pool, and takes its turn on the datasets it rewrites, so a deletion and an import never rewrite a dataset at
the same time. The work reads the list of users
(one object, or every file under a folder and its subfolders; see :mod:`~personalize_local.deletion` for what the
file must be), then takes the users out of the group's stored data (Interactions and Users rows, streamed events)
and out of its trained models (their user rows), each file replaced whole, and tells serving, whose next answer for
them is the one a never-seen user gets. The job ends COMPLETED with ``numDeleted`` or FAILED with the reason.

``numDeleted``: the API reference calls it "the number of records deleted by a COMPLETED job", and the records of a
data deletion job are the users its file lists ("the list of records to delete"); so it counts the distinct listed
users the dataset group held any data for. Listed users it never heard of are not counted.

Run again after a crash, the work does the same: the users' data is taken out again where it is still there, and
the count, kept on the job before anything was removed, is the first run's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from personalize_local import errors
from personalize_local.kinds import (
    ACTIVE,
    DATA_DELETION_JOB,
    DATASET_GROUP,
    JOB_PENDING,
    SOLUTION_VERSION,
)
from personalize_local.lifecycle import WorkFailed
from personalize_local.resources import Handlers, data_location, required, resource_name, role_arn

if TYPE_CHECKING:
    from personalize_local.s3_data import S3Reader
    from personalize_local.serving import Serving

#: The service allows at most five PENDING data deletion jobs per dataset group.
MAX_PENDING_JOBS_PER_GROUP = 5


class DataDeletionJobOps(Handlers):
    def __init__(self, *args: Any, serving: Serving, s3: S3Reader) -> None:
        super().__init__(*args)
        self.serving = serving
        self.s3 = s3
        self.lifecycle.set_work(DATA_DELETION_JOB, self.run_deletion)

    def create(self, params: dict[str, Any]) -> dict[str, Any]:
        name = resource_name(params, "jobName")
        group = self.get(DATASET_GROUP, required(params, "datasetGroupArn"))
        location = data_location(params)
        required(params, "roleArn")
        role = role_arn(params)
        if group["status"] != ACTIVE:
            raise errors.ResourceInUseError(
                f"Dataset group {group['datasetGroupArn']} is {group['status']}, not ACTIVE."
            )
        arn = self.new_arn(DATA_DELETION_JOB, name)
        with self.store.lock:
            pending = sum(
                1
                for job in self.store.all(DATA_DELETION_JOB)
                if job["datasetGroupArn"] == group["datasetGroupArn"] and job["status"] == JOB_PENDING
            )
            if pending >= MAX_PENDING_JOBS_PER_GROUP:
                raise errors.LimitExceededError(
                    f"Dataset group {group['datasetGroupArn']} already has {pending} PENDING data deletion jobs; "
                    f"the limit is {MAX_PENDING_JOBS_PER_GROUP}."
                )
            record = {
                "jobName": name,
                "dataDeletionJobArn": arn,
                "datasetGroupArn": group["datasetGroupArn"],
                "dataSource": {"dataLocation": location},
                "roleArn": role,
            }
            self.create_resource(DATA_DELETION_JOB, arn, record)
        return {"dataDeletionJobArn": arn}

    def describe(self, params: dict[str, Any]) -> dict[str, Any]:
        return self.describe_resource(DATA_DELETION_JOB, params)

    def list(self, params: dict[str, Any]) -> dict[str, Any]:
        return self.list_resources(DATA_DELETION_JOB, params)

    # ---- the deletion work ----------------------------------------------------------------------------------

    def run_deletion(self, job_arn: str) -> dict[str, Any]:
        """Take the listed users out of the group's data and models; the members the job shows when COMPLETED."""
        from personalize_local.deletion import MAX_INPUT_BYTES, DeletionListError, read_user_list

        job = self.get(DATA_DELETION_JOB, job_arn)
        group_arn = job["datasetGroupArn"]
        if self.store.get(DATASET_GROUP, group_arn) is None:
            raise WorkFailed(f"Dataset group {group_arn} no longer exists.")
        rewritten = [d["datasetArn"] for t in ("Interactions", "Users") if (d := self.dataset_of(group_arn, t))]
        # Its rewrite takes its turn after the imports into those datasets that started before it (Lifecycle.turns).
        with self.lifecycle.turns.reserve(rewritten) as wait_turn:
            sources = self.s3.read(job["dataSource"]["dataLocation"], max_total_bytes=MAX_INPUT_BYTES)
            users: set[str] = set()
            try:
                for uri, text in sources:
                    users.update(read_user_list(text, source=uri))
            except DeletionListError as exc:
                raise WorkFailed(str(exc)) from exc
            wait_turn()
            count = self._delete(job, users)
        return {"numDeleted": count}

    def _delete(self, job: dict[str, Any], users: set[str]) -> int:
        from personalize_local.deletion import events_of, users_with_data, without_users

        group_arn = job["datasetGroupArn"]
        interactions = self.dataset_of(group_arn, "Interactions")
        bulk_arns = [d["datasetArn"] for d in (interactions, self.dataset_of(group_arn, "Users")) if d is not None]
        bulks = {arn: self.store.read_bulk(arn) for arn in bulk_arns}
        count = job.get("_numDeleted")
        if count is None:
            # Counted before anything is removed and kept: a run resumed after a crash may find the data gone.
            events = self.store.read_events(interactions["datasetArn"]) if interactions else None
            users_dataset = self.dataset_of(group_arn, "Users")
            records = self.store.read_records(users_dataset["datasetArn"]) if users_dataset else None
            count = len(users_with_data(users, [*bulks.values(), events, records]))
            self.store.update(DATA_DELETION_JOB, job["dataDeletionJobArn"], _numDeleted=count)
        changed = False
        for arn, frame in bulks.items():
            if frame is not None and frame["USER_ID"].isin(users).any():
                self.store.write_bulk(arn, without_users(frame, users))
                changed = True
        if interactions is not None:
            changed |= self.store.remove_events(interactions["datasetArn"], lambda ev: events_of(ev, users)) > 0
        users_dataset = self.dataset_of(group_arn, "Users")
        if users_dataset is not None:  # records PutUsers sent go too
            changed |= self.store.remove_records(users_dataset["datasetArn"], "USER_ID", users) > 0
        changed |= self._remove_from_models(group_arn, users)
        if changed:
            # After the files: an index built for the new data version never sees the users.
            self.count_data_change(group_arn)
            self.serving.group_data_changed(group_arn)
        return count

    def _remove_from_models(self, group_arn: str, users: set[str]) -> bool:
        """Drop the users' rows from the group's trained models, so serving knows them no more until they return.

        Whether any model held one. A version still training read its data before the deletion and may keep them,
        as the service warns for training during a deletion.
        """
        from personalize_local.trainer import TrainedModel

        changed = False
        for version in self.store.all(SOLUTION_VERSION):
            if version["datasetGroupArn"] != group_arn or version["status"] != ACTIVE:
                continue
            path = self.store.model_path(version["solutionVersionArn"])
            if not path.exists():
                continue
            model = TrainedModel.load(path)
            pruned = model.without_users(users)
            if pruned is not model:
                pruned.save(path)  # written whole to a temporary file that replaces the old one
                changed = True
        return changed
