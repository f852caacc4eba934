"""Control-plane operations on dataset import jobs, and the import work itself.

CreateDatasetImportJob checks the request (location, role, mode, at most five jobs in flight) and leaves the job
CREATE PENDING; at CREATE IN_PROGRESS the status engine runs :meth:`ImportJobOps.run_import` on the import pool. It
reads one S3 object or every CSV under a folder, validates each file as an import job does (file, line and column
in the failure reason), merges FULL or INCREMENTAL into the dataset's bulk data and tells serving that the group's
data changed. Jobs run side by side; only the merges into one dataset take turns (``Lifecycle.turns``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from personalize_local import errors
from personalize_local.kinds import ACTIVE, DATASET, IMPORT_JOB, IN_FLIGHT, SCHEMA
from personalize_local.lifecycle import WorkFailed
from personalize_local.resources import (
    SERVICE_DATASET_TYPES,
    Handlers,
    data_location,
    required,
    resource_name,
    role_arn,
)

if TYPE_CHECKING:
    from personalize_local.s3_data import S3Reader
    from personalize_local.serving import Serving

MAX_IMPORT_JOBS_IN_FLIGHT = 5


class ImportJobOps(Handlers):
    def __init__(self, *args: Any, serving: Serving, s3: S3Reader) -> None:
        super().__init__(*args)
        self.serving = serving
        self.s3 = s3
        self.lifecycle.set_work(IMPORT_JOB, self.run_import)

    def create(self, params: dict[str, Any]) -> dict[str, Any]:
        name = resource_name(params, "jobName")
        dataset = self.get(DATASET, required(params, "datasetArn"))
        location = data_location(params)
        role = role_arn(params)
        mode = params.get("importMode") or "FULL"
        if mode not in ("FULL", "INCREMENTAL"):
            raise errors.InvalidInputError(f"importMode {mode!r} must be FULL or INCREMENTAL")
        # A dataset failed at start because its data file was damaged (state.py) takes a FULL import to repair it.
        repairable = dataset.get("_damaged") and mode == "FULL"
        if dataset["status"] != ACTIVE and not repairable:
            raise errors.ResourceInUseError(f"Dataset {dataset['datasetArn']} is {dataset['status']}, not ACTIVE.")
        if mode == "INCREMENTAL" and not dataset.get("_hasBulk"):
            raise errors.InvalidInputError(
                "INCREMENTAL import mode needs an earlier bulk import into the dataset; use FULL for the first import."
            )
        arn = self.new_arn(IMPORT_JOB, name)
        with self.store.lock:
            in_flight = sum(1 for j in self.store.all(IMPORT_JOB) if j["status"] in IN_FLIGHT)
            if in_flight >= MAX_IMPORT_JOBS_IN_FLIGHT:
                raise errors.LimitExceededError(
                    f"There are already {in_flight} dataset import jobs pending or in progress; the limit is "
                    f"{MAX_IMPORT_JOBS_IN_FLIGHT}."
                )
            record = {
                "jobName": name,
                "datasetImportJobArn": arn,
                "datasetArn": dataset["datasetArn"],
                "dataSource": {"dataLocation": location},
                "roleArn": role,
                "importMode": mode,
                "publishAttributionMetricsToS3": params.get("publishAttributionMetricsToS3"),
            }
            self.create_resource(IMPORT_JOB, arn, record)
        return {"datasetImportJobArn": arn}

    def describe(self, params: dict[str, Any]) -> dict[str, Any]:
        return self.describe_resource(IMPORT_JOB, params)

    def list(self, params: dict[str, Any]) -> dict[str, Any]:
        return self.list_resources(IMPORT_JOB, params)

    # ---- the import work ------------------------------------------------------------------------------------

    def run_import(self, job_arn: str) -> None:
        from personalize_local.importer import ImportValidationError, SchemaError

        job = self.get(IMPORT_JOB, job_arn)
        # Jobs on one dataset merge in the order they started; a job's S3 read holds up no job on another dataset.
        with self.lifecycle.turns.reserve([job["datasetArn"]]) as wait_turn:
            try:
                self._import(job, wait_turn)
            except (ImportValidationError, SchemaError) as exc:
                raise WorkFailed(str(exc)) from exc

    def _import(self, job: dict[str, Any], wait_turn: Callable[[], None]) -> None:
        import pandas as pd

        from personalize_local.importer import check_import_size, merge_import, parse_schema, validate_csv

        dataset = self.get(DATASET, job["datasetArn"])
        dataset_type = SERVICE_DATASET_TYPES[dataset["datasetType"].lower()]
        fields = parse_schema(self.get(SCHEMA, dataset["schemaArn"])["schema"])
        sources = self.s3.read(job["dataSource"]["dataLocation"], suffix=".csv")
        frames = [validate_csv(text, fields, source=uri) for uri, text in sources]
        new = pd.concat(frames, ignore_index=True)
        check_import_size(dataset_type, len(new), [uri for uri, _ in sources])
        wait_turn()
        dataset = self.get(DATASET, job["datasetArn"])  # as it is now, after the jobs that went before
        merged = merge_import(
            self.store.read_bulk(dataset["datasetArn"]), new, dataset_type=dataset_type, mode=job["importMode"]
        )
        self.store.write_bulk(dataset["datasetArn"], merged)
        repaired = {"status": ACTIVE, "failureReason": None, "_damaged": None} if dataset.get("_damaged") else {}
        self.store.update(DATASET, dataset["datasetArn"], _hasBulk=True, **repaired)
        self.count_data_change(dataset["datasetGroupArn"])
        self.serving.group_data_changed(dataset["datasetGroupArn"])
