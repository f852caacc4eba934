"""The operations of the local Personalize endpoint: control plane, GetRecommendations and PutEvents.

Each public ``op_<Operation>`` method takes the request's JSON members and returns the response's, raising a
:class:`~personalize_local.errors.ServiceError` with the service's error code. Resources move through the
service's statuses on a scheduler (``status_delay`` seconds per step): CREATE PENDING → CREATE IN_PROGRESS →
ACTIVE or CREATE FAILED with ``failureReason``; deletes pass DELETE PENDING. Import jobs and training run on their
own worker threads so the API stays responsive. On start, work that was in flight when the endpoint stopped is
resumed from its current step (imports and training are re-run; their outputs are written atomically at the end).
"""

from __future__ import annotations

import gc
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from personalize_local import errors
from personalize_local.state import Scheduler, StateStore

if TYPE_CHECKING:
    import pandas as pd

    from personalize_local.recommender import LiveHistory, ServingIndex

log = logging.getLogger(__name__)

NAME_PATTERN = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9\-_]*")
ROLE_ARN_PATTERN = re.compile(r"arn:([a-z\d-]+):iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+")
DATA_LOCATION_PATTERN = re.compile(r"(s3|http|https)://.+")
MAX_SCHEMA_LENGTH = 20_000
MAX_IMPORT_JOBS_IN_FLIGHT = 5
MAX_RESULTS_DEFAULT = 100
DEFAULT_NUM_RESULTS = 25
MAX_NUM_RESULTS = 500
MAX_EVENTS_PER_CALL = 10
MAX_PROPERTIES_LENGTH = 1024
FORBIDDEN_PROPERTY_KEYS = {"userid", "sessionid", "eventtype", "timestamp", "recommendationid", "impression"}
DATASET_TYPES = {"interactions": "Interactions", "users": "Users", "items": "Items"}
IN_FLIGHT = ("CREATE PENDING", "CREATE IN_PROGRESS")
DELETING = ("DELETE PENDING", "DELETE IN_PROGRESS")
RECIPES = {
    "arn:aws:personalize:::recipe/aws-user-personalization": "als",
    "arn:aws:personalize:::recipe/aws-user-personalization-v2": "als",
    "arn:aws:personalize:::recipe/aws-popularity-count": "popularity",
}


@dataclass(frozen=True)
class EndpointSettings:
    data_dir: Path
    s3_endpoint: str | None = None
    account_id: str = "123456789012"
    default_region: str = "us-east-1"
    #: Seconds between two status steps (CREATE PENDING → CREATE IN_PROGRESS → ACTIVE).
    status_delay: float = 1.0
    train_threads: int = 2


def _now() -> float:
    return round(time.time(), 3)


def _public(record: dict[str, Any], fields: tuple[str, ...] | None = None) -> dict[str, Any]:
    """The record as the wire shows it: internal keys (leading underscore) and None values left out."""
    keys = fields if fields is not None else tuple(record)
    return {k: record[k] for k in keys if k in record and not k.startswith("_") and record[k] is not None}


def _required(params: dict[str, Any], key: str) -> Any:
    value = params.get(key)
    if value is None or value == "":
        raise errors.InvalidInputError(f"{key} is required")
    return value


def _name(params: dict[str, Any], key: str = "name") -> str:
    value = _required(params, key)
    if not isinstance(value, str) or len(value) > 63 or not NAME_PATTERN.fullmatch(value):
        raise errors.InvalidInputError(
            f"{key} {value!r} must be 1-63 characters of letters, digits, '-' and '_', starting with a letter or digit"
        )
    return value


class PersonalizeService:
    def __init__(self, settings: EndpointSettings) -> None:
        self.settings = settings
        self.store = StateStore(settings.data_dir)
        self.scheduler = Scheduler()
        self._import_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="personalize-import")
        self._train_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="personalize-train")
        self._serving: dict[tuple[str, int], ServingIndex] = {}
        self._serving_lock = threading.Lock()
        self._histories: dict[str, tuple[int, LiveHistory]] = {}
        self._history_lock = threading.RLock()
        self._s3 = None
        self._request = threading.local()  # the calling region, per request thread
        self._resume()

    def close(self) -> None:
        self.scheduler.stop()
        self._import_pool.shutdown(wait=False, cancel_futures=True)
        self._train_pool.shutdown(wait=False, cancel_futures=True)

    # ---- dispatch -------------------------------------------------------------------------------------------

    def handle(self, operation: str, params: dict[str, Any], region: str | None = None) -> dict[str, Any]:
        method = getattr(self, f"op_{operation}", None)
        if method is None:
            raise errors.UnknownOperationError(f"Operation {operation} is not supported by the local endpoint")
        self._request.region = region or self.settings.default_region
        return method(params) or {}

    def _arn(self, path: str) -> str:
        region = getattr(self._request, "region", None) or self.settings.default_region
        return f"arn:aws:personalize:{region}:{self.settings.account_id}:{path}"

    def _get(self, kind: str, arn: Any) -> dict[str, Any]:
        record = self.store.get(kind, arn) if isinstance(arn, str) else None
        if record is None:
            raise errors.ResourceNotFoundError(f"Resource {arn} does not exist.")
        return record

    def _create(self, kind: str, arn: str, record: dict[str, Any], *, lifecycle: bool = True) -> None:
        with self.store.lock:
            if self.store.get(kind, arn) is not None:
                raise errors.ResourceAlreadyExistsError(f"Resource {arn} already exists.")
            now = _now()
            record.update(creationDateTime=now, lastUpdatedDateTime=now)
            if lifecycle:
                record["status"] = "CREATE PENDING"
            self.store.put(kind, record, arn)
        if lifecycle:
            self.scheduler.call_later(self.settings.status_delay, lambda: self._step_in_progress(kind, arn))

    def _paginate(
        self, records: list[dict[str, Any]], params: dict[str, Any], fields: tuple[str, ...]
    ) -> tuple[list, str | None]:
        records = sorted(records, key=lambda r: r.get("creationDateTime", 0), reverse=True)
        max_results = int(params.get("maxResults") or MAX_RESULTS_DEFAULT)
        token = params.get("nextToken")
        try:
            start = int(token) if token else 0
        except ValueError:
            raise errors.InvalidNextTokenError(f"Invalid nextToken {token!r}") from None
        page = records[start : start + max_results]
        next_token = str(start + max_results) if start + max_results < len(records) else None
        return [_public(r, fields) for r in page], next_token

    # ---- lifecycle ------------------------------------------------------------------------------------------

    def _step_in_progress(self, kind: str, arn: str) -> None:
        record = self.store.get(kind, arn)
        if record is None or record.get("status") not in IN_FLIGHT:
            return
        self.store.update(kind, arn, status="CREATE IN_PROGRESS")
        work: Callable[[str], None] | None = None
        pool = None
        if kind == "dataset-import-job":
            work, pool = self._run_import, self._import_pool
        elif kind == "solution-version":
            work, pool = self._run_training, self._train_pool
        if work is None or pool is None:
            self.scheduler.call_later(self.settings.status_delay, lambda: self._finish(kind, arn, None))
            return
        pool.submit(self._run_work, kind, arn, work)

    def _run_work(self, kind: str, arn: str, work: Callable[[str], None]) -> None:
        from personalize_local.importer import ImportValidationError, SchemaError
        from personalize_local.trainer import InsufficientDataError

        error = None
        try:
            work(arn)
        except (ImportValidationError, InsufficientDataError, SchemaError, WorkFailed) as exc:
            error = str(exc)
        except Exception as exc:
            log.exception("%s %s failed", kind, arn)
            error = f"Internal error in the local endpoint: {type(exc).__name__}: {exc}"
        self.scheduler.call_later(self.settings.status_delay, lambda: self._finish(kind, arn, error))

    def _finish(self, kind: str, arn: str, error: str | None) -> None:
        if self.store.get(kind, arn) is None:
            return
        if error:
            self.store.update(kind, arn, status="CREATE FAILED", failureReason=error)
            return
        self.store.update(kind, arn, status="ACTIVE")
        if kind == "solution-version":
            self._sync_campaigns(arn)
        elif kind == "campaign":
            self._warm([arn])

    def _start_delete(self, kind: str, arn: str, cleanup: Callable[[], None] | None = None) -> None:
        self.store.update(kind, arn, status="DELETE PENDING")

        def remove() -> None:
            self.store.remove(kind, arn)
            if cleanup is not None:
                cleanup()

        self.scheduler.call_later(self.settings.status_delay, remove)

    def _resume(self) -> None:
        """Pick up every step that was pending when the endpoint last stopped."""
        for kind in self.store.resources:
            for arn, record in list(self.store.resources[kind].items()):
                status = record.get("status")
                if status == "CREATE PENDING":
                    self.scheduler.call_later(
                        self.settings.status_delay, lambda k=kind, a=arn: self._step_in_progress(k, a)
                    )
                elif status == "CREATE IN_PROGRESS":
                    self.store.update(kind, arn, status="CREATE PENDING")
                    self.scheduler.call_later(
                        self.settings.status_delay, lambda k=kind, a=arn: self._step_in_progress(k, a)
                    )
                elif status in DELETING:
                    self.scheduler.call_later(self.settings.status_delay, lambda k=kind, a=arn: self.store.remove(k, a))
                update = record.get("latestCampaignUpdate")
                if kind == "campaign" and update and update.get("status") in IN_FLIGHT:
                    self.scheduler.call_later(self.settings.status_delay, lambda a=arn: self._campaign_update_step(a))
                update = record.get("latestDatasetUpdate")
                if kind == "dataset" and update and update.get("status") in IN_FLIGHT:
                    self.scheduler.call_later(self.settings.status_delay, lambda a=arn: self._dataset_update_step(a))
        # Load deployed models in the background, so the first requests after a restart do not wait for them.
        active = [c["campaignArn"] for c in self.store.all("campaign") if c.get("status") == "ACTIVE"]
        if active:
            self.scheduler.call_later(0, lambda: self._warm(active))

    # ---- schemas --------------------------------------------------------------------------------------------

    def op_CreateSchema(self, params: dict[str, Any]) -> dict[str, Any]:
        from personalize_local.importer import SchemaError, parse_schema

        name = _name(params)
        text = _required(params, "schema")
        if params.get("domain"):
            raise errors.InvalidInputError("Domain schemas are not supported by the local endpoint")
        if len(text) > MAX_SCHEMA_LENGTH:
            raise errors.InvalidInputError(f"schema is longer than {MAX_SCHEMA_LENGTH} characters")
        problems = _lint_errors(text, dataset_type=None)
        if problems:
            raise errors.InvalidInputError("Invalid schema: " + "; ".join(problems))
        try:
            parse_schema(text)
        except SchemaError as exc:
            raise errors.InvalidInputError(f"Invalid schema: {exc}") from exc
        arn = self._arn(f"schema/{name}")
        self._create("schema", arn, {"name": name, "schemaArn": arn, "schema": text}, lifecycle=False)
        return {"schemaArn": arn}

    def op_DescribeSchema(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"schema": _public(self._get("schema", _required(params, "schemaArn")))}

    def op_ListSchemas(self, params: dict[str, Any]) -> dict[str, Any]:
        page, token = self._paginate(
            self.store.all("schema"), params, ("name", "schemaArn", "creationDateTime", "lastUpdatedDateTime")
        )
        return {"schemas": page, "nextToken": token}

    def op_DeleteSchema(self, params: dict[str, Any]) -> dict[str, Any]:
        arn = _required(params, "schemaArn")
        self._get("schema", arn)
        if any(d["schemaArn"] == arn for d in self.store.all("dataset")):
            raise errors.ResourceInUseError(f"Schema {arn} is used by a dataset.")
        self.store.remove("schema", arn)
        return {}

    # ---- dataset groups and datasets -------------------------------------------------------------------------

    def op_CreateDatasetGroup(self, params: dict[str, Any]) -> dict[str, Any]:
        name = _name(params)
        if params.get("domain"):
            raise errors.InvalidInputError("Domain dataset groups are not supported by the local endpoint")
        role = params.get("roleArn")
        if role and not ROLE_ARN_PATTERN.fullmatch(role):
            raise errors.InvalidInputError(f"roleArn {role!r} is not an IAM role ARN")
        arn = self._arn(f"dataset-group/{name}")
        record = {
            "name": name,
            "datasetGroupArn": arn,
            "roleArn": role,
            "kmsKeyArn": params.get("kmsKeyArn"),
            "_dataVersion": 0,
        }
        self._create("dataset-group", arn, record)
        return {"datasetGroupArn": arn}

    def op_DescribeDatasetGroup(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"datasetGroup": _public(self._get("dataset-group", _required(params, "datasetGroupArn")))}

    def op_ListDatasetGroups(self, params: dict[str, Any]) -> dict[str, Any]:
        fields = ("name", "datasetGroupArn", "status", "creationDateTime", "lastUpdatedDateTime", "failureReason")
        page, token = self._paginate(self.store.all("dataset-group"), params, fields)
        return {"datasetGroups": page, "nextToken": token}

    def op_DeleteDatasetGroup(self, params: dict[str, Any]) -> dict[str, Any]:
        arn = _required(params, "datasetGroupArn")
        self._get("dataset-group", arn)
        for kind in ("dataset", "solution", "event-tracker", "filter"):
            if any(r.get("datasetGroupArn") == arn for r in self.store.all(kind)):
                raise errors.ResourceInUseError(f"Dataset group {arn} still has a {kind}; delete it first.")
        self._start_delete("dataset-group", arn)
        return {}

    def op_CreateDataset(self, params: dict[str, Any]) -> dict[str, Any]:
        from personalize_local.importer import parse_schema

        name = _name(params)
        type_raw = _required(params, "datasetType")
        dataset_type = DATASET_TYPES.get(str(type_raw).lower())
        if dataset_type is None:
            raise errors.InvalidInputError(f"datasetType {type_raw!r} must be Interactions, Users or Items")
        group = self._get("dataset-group", _required(params, "datasetGroupArn"))
        schema = self._get("schema", _required(params, "schemaArn"))
        if group["status"] != "ACTIVE":
            raise errors.ResourceInUseError(
                f"Dataset group {group['datasetGroupArn']} is {group['status']}, not ACTIVE."
            )
        problems = _lint_errors(schema["schema"], dataset_type=dataset_type)
        field_names = {field.name for field in parse_schema(schema["schema"])}
        required = {"Interactions": {"USER_ID", "ITEM_ID", "TIMESTAMP"}, "Users": {"USER_ID"}, "Items": {"ITEM_ID"}}
        missing = sorted(required[dataset_type] - field_names)
        if missing:
            problems.append(f"a {dataset_type} schema needs the fields {missing}")
        if problems:
            raise errors.InvalidInputError(f"Schema does not fit a {dataset_type} dataset: " + "; ".join(problems))
        arn = self._arn(f"dataset/{group['name']}/{dataset_type.upper()}")
        record = {
            "name": name,
            "datasetArn": arn,
            "datasetGroupArn": group["datasetGroupArn"],
            "datasetType": dataset_type,
            "schemaArn": schema["schemaArn"],
            "_hasBulk": False,
        }
        self._create("dataset", arn, record)
        return {"datasetArn": arn}

    def op_DescribeDataset(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"dataset": _public(self._get("dataset", _required(params, "datasetArn")))}

    def op_ListDatasets(self, params: dict[str, Any]) -> dict[str, Any]:
        group = params.get("datasetGroupArn")
        records = [r for r in self.store.all("dataset") if not group or r["datasetGroupArn"] == group]
        fields = ("name", "datasetArn", "datasetType", "status", "creationDateTime", "lastUpdatedDateTime")
        page, token = self._paginate(records, params, fields)
        return {"datasets": page, "nextToken": token}

    def op_DeleteDataset(self, params: dict[str, Any]) -> dict[str, Any]:
        arn = _required(params, "datasetArn")
        self._get("dataset", arn)
        if any(j["datasetArn"] == arn and j["status"] in IN_FLIGHT for j in self.store.all("dataset-import-job")):
            raise errors.ResourceInUseError(f"Dataset {arn} has an import job in progress.")
        directory = self.store.dataset_dir(arn)

        def cleanup() -> None:
            for path in directory.glob("*"):
                path.unlink(missing_ok=True)

        self._start_delete("dataset", arn, cleanup)
        return {}

    def op_UpdateDataset(self, params: dict[str, Any]) -> dict[str, Any]:
        """Move a dataset to a new schema that keeps every existing field (the service only lets you add)."""
        from personalize_local.importer import parse_schema

        dataset = self._get("dataset", _required(params, "datasetArn"))
        schema = self._get("schema", _required(params, "schemaArn"))
        if dataset["status"] != "ACTIVE":
            raise errors.ResourceInUseError(f"Dataset {dataset['datasetArn']} is {dataset['status']}, not ACTIVE.")
        pending = dataset.get("latestDatasetUpdate")
        if pending and pending.get("status") in IN_FLIGHT:
            raise errors.ResourceInUseError(f"Dataset {dataset['datasetArn']} already has an update in progress.")
        old_fields = {f.name: f for f in parse_schema(self._get("schema", dataset["schemaArn"])["schema"])}
        new_fields = {f.name: f for f in parse_schema(schema["schema"])}
        changed = sorted(name for name, f in old_fields.items() if new_fields.get(name) != f)
        if changed:
            raise errors.InvalidInputError(
                f"The new schema must keep every field of the current one unchanged; removed or changed: {changed}"
            )
        problems = _lint_errors(schema["schema"], dataset_type=DATASET_TYPES[dataset["datasetType"].lower()])
        if problems:
            raise errors.InvalidInputError("Schema does not fit the dataset: " + "; ".join(problems))
        now = _now()
        update = {
            "schemaArn": schema["schemaArn"],
            "status": "CREATE PENDING",
            "creationDateTime": now,
            "lastUpdatedDateTime": now,
        }
        self.store.update("dataset", dataset["datasetArn"], latestDatasetUpdate=update)
        arn = dataset["datasetArn"]
        self.scheduler.call_later(self.settings.status_delay, lambda: self._dataset_update_step(arn))
        return {"datasetArn": arn}

    def _dataset_update_step(self, arn: str) -> None:
        """CREATE PENDING → CREATE IN_PROGRESS → ACTIVE; the dataset takes the new schema at ACTIVE."""
        with self.store.lock:
            dataset = self.store.get("dataset", arn)
            if dataset is None or not dataset.get("latestDatasetUpdate"):
                return
            update = dict(dataset["latestDatasetUpdate"])
            if update["status"] == "CREATE PENDING":
                update.update(status="CREATE IN_PROGRESS", lastUpdatedDateTime=_now())
                self.store.update("dataset", arn, latestDatasetUpdate=update)
                self.scheduler.call_later(self.settings.status_delay, lambda: self._dataset_update_step(arn))
            elif update["status"] == "CREATE IN_PROGRESS":
                update.update(status="ACTIVE", lastUpdatedDateTime=_now())
                self.store.update("dataset", arn, latestDatasetUpdate=update, schemaArn=update["schemaArn"])

    def _dataset_of(self, group_arn: str, dataset_type: str) -> dict[str, Any] | None:
        return next(
            (
                d
                for d in self.store.all("dataset")
                if d["datasetGroupArn"] == group_arn
                and d["datasetType"].lower() == dataset_type.lower()
                and d["status"] not in DELETING
            ),
            None,
        )

    # ---- import jobs ----------------------------------------------------------------------------------------

    def op_CreateDatasetImportJob(self, params: dict[str, Any]) -> dict[str, Any]:
        name = _name(params, "jobName")
        dataset = self._get("dataset", _required(params, "datasetArn"))
        location = (_required(params, "dataSource") or {}).get("dataLocation") or ""
        if len(location) > 256 or not DATA_LOCATION_PATTERN.fullmatch(location):
            raise errors.InvalidInputError(f"dataSource.dataLocation {location!r} must look like s3://bucket/key")
        role = params.get("roleArn")
        if role and not ROLE_ARN_PATTERN.fullmatch(role):
            raise errors.InvalidInputError(f"roleArn {role!r} is not an IAM role ARN")
        mode = params.get("importMode") or "FULL"
        if mode not in ("FULL", "INCREMENTAL"):
            raise errors.InvalidInputError(f"importMode {mode!r} must be FULL or INCREMENTAL")
        if dataset["status"] != "ACTIVE":
            raise errors.ResourceInUseError(f"Dataset {dataset['datasetArn']} is {dataset['status']}, not ACTIVE.")
        if mode == "INCREMENTAL" and not dataset.get("_hasBulk"):
            raise errors.InvalidInputError(
                "INCREMENTAL import mode needs an earlier bulk import into the dataset; use FULL for the first import."
            )
        arn = self._arn(f"dataset-import-job/{name}")
        with self.store.lock:
            in_flight = sum(1 for j in self.store.all("dataset-import-job") if j["status"] in IN_FLIGHT)
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
            self._create("dataset-import-job", arn, record)
        return {"datasetImportJobArn": arn}

    def op_DescribeDatasetImportJob(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"datasetImportJob": _public(self._get("dataset-import-job", _required(params, "datasetImportJobArn")))}

    def op_ListDatasetImportJobs(self, params: dict[str, Any]) -> dict[str, Any]:
        dataset = params.get("datasetArn")
        records = [r for r in self.store.all("dataset-import-job") if not dataset or r["datasetArn"] == dataset]
        fields = (
            "datasetImportJobArn",
            "jobName",
            "status",
            "creationDateTime",
            "lastUpdatedDateTime",
            "failureReason",
            "importMode",
        )
        page, token = self._paginate(records, params, fields)
        return {"datasetImportJobs": page, "nextToken": token}

    def _s3_client(self):
        if self._s3 is None:
            import boto3

            session = boto3.session.Session()
            kwargs: dict[str, Any] = {"endpoint_url": self.settings.s3_endpoint}
            if session.get_credentials() is None:
                # A local S3 accepts any key; real S3 gets the usual credential chain.
                kwargs.update(aws_access_key_id="local", aws_secret_access_key="local")
            kwargs["region_name"] = session.region_name or self.settings.default_region
            self._s3 = session.client("s3", **kwargs)
        return self._s3

    def _read_sources(self, location: str) -> list[tuple[str, str]]:
        """[(s3 uri, text)] for one object, or every .csv under a folder location."""
        from botocore.exceptions import BotoCoreError, ClientError

        match = re.fullmatch(r"s3://([^/]+)/?(.*)", location)
        if not match:
            raise WorkFailed(f"Only s3:// data locations are supported locally, got {location}")
        bucket, key = match.groups()
        s3 = self._s3_client()
        try:
            if key and not key.endswith("/"):
                keys = [key]
            else:
                keys = []
                for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=key):
                    keys.extend(o["Key"] for o in page.get("Contents", []) if o["Key"].lower().endswith(".csv"))
                if not keys:
                    raise WorkFailed(f"No CSV files found at {location}")
            sources = []
            for object_key in sorted(keys):
                uri = f"s3://{bucket}/{object_key}"
                body = s3.get_object(Bucket=bucket, Key=object_key)["Body"].read()
                try:
                    sources.append((uri, body.decode("utf-8")))
                except UnicodeDecodeError as exc:
                    line = body[: exc.start].count(b"\n") + 1
                    raise WorkFailed(f"{uri} line {line}: the file is not valid UTF-8") from exc
            return sources
        except (ClientError, BotoCoreError) as exc:
            raise WorkFailed(
                f"Insufficient privileges for accessing data in Amazon S3 or data not found at {location}: {exc}"
            ) from exc

    def _run_import(self, job_arn: str) -> None:
        import pandas as pd

        from personalize_local.importer import check_import_size, merge_import, parse_schema, validate_csv

        job = self._get("dataset-import-job", job_arn)
        dataset = self._get("dataset", job["datasetArn"])
        dataset_type = DATASET_TYPES[dataset["datasetType"].lower()]
        fields = parse_schema(self._get("schema", dataset["schemaArn"])["schema"])
        sources = self._read_sources(job["dataSource"]["dataLocation"])
        frames = [validate_csv(text, fields, source=uri) for uri, text in sources]
        new = pd.concat(frames, ignore_index=True)
        check_import_size(dataset_type, len(new), [uri for uri, _ in sources])
        merged = merge_import(
            self.store.read_bulk(dataset["datasetArn"]), new, dataset_type=dataset_type, mode=job["importMode"]
        )
        self.store.write_bulk(dataset["datasetArn"], merged)
        self.store.update("dataset", dataset["datasetArn"], _hasBulk=True)
        with self.store.lock:
            group = self.store.get("dataset-group", dataset["datasetGroupArn"])
            if group is not None:
                self.store.update(
                    "dataset-group", group["datasetGroupArn"], _dataVersion=group.get("_dataVersion", 0) + 1
                )
        # Campaigns of the group serve the new item and user data: build their indexes now, not on a request.
        versions = {
            v["solutionVersionArn"]
            for v in self.store.all("solution-version")
            if v["datasetGroupArn"] == dataset["datasetGroupArn"]
        }
        self._warm([c["campaignArn"] for c in self.store.all("campaign") if c["solutionVersionArn"] in versions])

    # ---- solutions and versions -----------------------------------------------------------------------------

    def op_CreateSolution(self, params: dict[str, Any]) -> dict[str, Any]:
        name = _name(params)
        group = self._get("dataset-group", _required(params, "datasetGroupArn"))
        recipe = params.get("recipeArn")
        if params.get("performAutoML") or params.get("performHPO"):
            raise errors.InvalidInputError("performAutoML and performHPO are not supported by the local endpoint")
        if recipe not in RECIPES:
            raise errors.InvalidInputError(
                f"recipeArn {recipe!r} is not supported locally; use one of {sorted(RECIPES)}"
            )
        if group["status"] != "ACTIVE":
            raise errors.ResourceInUseError(
                f"Dataset group {group['datasetGroupArn']} is {group['status']}, not ACTIVE."
            )
        config = params.get("solutionConfig") or {}
        threshold = config.get("eventValueThreshold")
        if threshold is not None:
            try:
                float(threshold)
            except ValueError:
                raise errors.InvalidInputError(f"eventValueThreshold {threshold!r} is not a number") from None
        arn = self._arn(f"solution/{name}")
        record = {
            "name": name,
            "solutionArn": arn,
            "performHPO": False,
            "performAutoML": False,
            "performAutoTraining": params.get("performAutoTraining", True),
            "recipeArn": recipe,
            "datasetGroupArn": group["datasetGroupArn"],
            "eventType": params.get("eventType"),
            "solutionConfig": config,
        }
        self._create("solution", arn, record)
        return {"solutionArn": arn}

    def _latest_version(self, solution_arn: str, *, active_full: bool = False) -> dict[str, Any] | None:
        versions = [v for v in self.store.all("solution-version") if v["solutionArn"] == solution_arn]
        if active_full:
            versions = [v for v in versions if v["status"] == "ACTIVE" and v.get("trainingMode") == "FULL"]
        return max(versions, key=lambda v: v["creationDateTime"], default=None)

    def op_DescribeSolution(self, params: dict[str, Any]) -> dict[str, Any]:
        record = self._get("solution", _required(params, "solutionArn"))
        solution = _public(record)
        latest = self._latest_version(record["solutionArn"])
        if latest is not None:
            solution["latestSolutionVersion"] = _public(latest, SUMMARY_FIELDS["solution-version"])
        return {"solution": solution}

    def op_ListSolutions(self, params: dict[str, Any]) -> dict[str, Any]:
        group = params.get("datasetGroupArn")
        records = [r for r in self.store.all("solution") if not group or r["datasetGroupArn"] == group]
        page, token = self._paginate(records, params, SUMMARY_FIELDS["solution"])
        return {"solutions": page, "nextToken": token}

    def op_DeleteSolution(self, params: dict[str, Any]) -> dict[str, Any]:
        arn = _required(params, "solutionArn")
        self._get("solution", arn)
        versions = {v["solutionVersionArn"] for v in self.store.all("solution-version") if v["solutionArn"] == arn}
        if any(c.get("solutionVersionArn") in versions for c in self.store.all("campaign")):
            raise errors.ResourceInUseError(f"Solution {arn} has a campaign; delete the campaign first.")
        if any(v["status"] in IN_FLIGHT for v in self.store.all("solution-version") if v["solutionArn"] == arn):
            raise errors.ResourceInUseError(f"Solution {arn} has a solution version in training.")

        def cleanup() -> None:
            for version in versions:
                self.store.model_path(version).unlink(missing_ok=True)
                self.store.remove("solution-version", version)

        self._start_delete("solution", arn, cleanup)
        return {}

    def op_CreateSolutionVersion(self, params: dict[str, Any]) -> dict[str, Any]:
        solution = self._get("solution", _required(params, "solutionArn"))
        mode = params.get("trainingMode") or "FULL"
        if mode not in ("FULL", "UPDATE"):
            raise errors.InvalidInputError(f"trainingMode {mode!r} is not supported locally (FULL or UPDATE)")
        name = params.get("name")
        if name is not None:
            name = _name(params)
        if solution["status"] != "ACTIVE":
            raise errors.ResourceInUseError(f"Solution {solution['solutionArn']} is {solution['status']}, not ACTIVE.")
        with self.store.lock:
            if any(
                v["status"] in IN_FLIGHT
                for v in self.store.all("solution-version")
                if v["solutionArn"] == solution["solutionArn"]
            ):
                raise errors.ResourceInUseError(
                    f"Solution {solution['solutionArn']} already has a version in training."
                )
            if mode == "UPDATE" and (
                RECIPES[solution["recipeArn"]] != "als"
                or self._latest_version(solution["solutionArn"], active_full=True) is None
            ):
                raise errors.InvalidInputError(
                    "trainingMode UPDATE needs an ACTIVE solution version trained with FULL on User-Personalization."
                )
            arn = f"{solution['solutionArn']}/{uuid.uuid4().hex[:8]}"
            record = {
                "name": name,
                "solutionVersionArn": arn,
                "solutionArn": solution["solutionArn"],
                "performHPO": False,
                "performAutoML": False,
                "recipeArn": solution["recipeArn"],
                "eventType": solution.get("eventType"),
                "datasetGroupArn": solution["datasetGroupArn"],
                "solutionConfig": solution.get("solutionConfig") or {},
                "trainingMode": mode,
                "trainingType": "MANUAL",
            }
            self._create("solution-version", arn, record)
        return {"solutionVersionArn": arn}

    def op_DescribeSolutionVersion(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"solutionVersion": _public(self._get("solution-version", _required(params, "solutionVersionArn")))}

    def op_ListSolutionVersions(self, params: dict[str, Any]) -> dict[str, Any]:
        solution = params.get("solutionArn")
        if solution:
            self._get("solution", solution)
        records = [r for r in self.store.all("solution-version") if not solution or r["solutionArn"] == solution]
        page, token = self._paginate(records, params, SUMMARY_FIELDS["solution-version"])
        return {"solutionVersions": page, "nextToken": token}

    def op_GetSolutionMetrics(self, params: dict[str, Any]) -> dict[str, Any]:
        version = self._get("solution-version", _required(params, "solutionVersionArn"))
        if version["status"] != "ACTIVE":
            raise errors.ResourceInUseError(
                f"Solution version {version['solutionVersionArn']} is {version['status']}, not ACTIVE."
            )
        return {"solutionVersionArn": version["solutionVersionArn"], "metrics": version.get("_metrics", {})}

    def training_config(self, solution: dict[str, Any]):
        from personalize_local.trainer import TrainingConfig

        config = solution.get("solutionConfig") or {}
        threshold = config.get("eventValueThreshold")
        return TrainingConfig(
            threads=self.settings.train_threads,
            recipe=RECIPES[solution["recipeArn"]],
            event_type=solution.get("eventType") or None,
            event_value_threshold=float(threshold) if threshold is not None else None,
        )

    def _interactions(self, group_arn: str) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
        dataset = self._dataset_of(group_arn, "Interactions")
        if dataset is None:
            return None, None
        events = self.store.read_events(dataset["datasetArn"])
        if events is not None:
            # A repeated eventId is not used again, as the service documents.
            events = events.drop_duplicates("EVENT_ID", keep="first")
        return self.store.read_bulk(dataset["datasetArn"]), events

    def _run_training(self, version_arn: str) -> None:
        from personalize_local.trainer import TrainedModel, prepare_interactions, train

        started = time.monotonic()
        version = self._get("solution-version", version_arn)
        solution = self._get("solution", version["solutionArn"])
        group_arn = solution["datasetGroupArn"]
        if version["trainingMode"] == "UPDATE":
            # Items added since the FULL version reach recommendations through the serving index; factors stay.
            base = self._latest_version(solution["solutionArn"], active_full=True)
            if base is None:
                raise WorkFailed("No ACTIVE FULL solution version to update.")
            model = TrainedModel.load(self.store.model_path(base["solutionVersionArn"]))
            model.metrics = {}
            model.save(self.store.model_path(version_arn))
            self.store.update(
                "solution-version",
                version_arn,
                _metrics={},
                trainingHours=round((time.monotonic() - started) / 3600, 6),
            )
            return
        bulk, events = self._interactions(group_arn)
        if bulk is None and events is None:
            raise WorkFailed(
                f"Dataset group {group_arn} has no Interactions data; import interactions before training."
            )
        links: dict[str, str] = {}
        if events is not None and len(events):
            linked = events[(events["SESSION_ID"] != "") & (events["USER_ID"] != "")]
            links = dict(zip(linked["SESSION_ID"], linked["USER_ID"], strict=True))
        frame = prepare_interactions(bulk, events, links)
        items_dataset = self._dataset_of(group_arn, "Items")
        items = self.store.read_bulk(items_dataset["datasetArn"]) if items_dataset else None
        catalog = set(items["ITEM_ID"]) if items is not None else set()
        model, baseline = train(frame, self.training_config(solution), catalog)
        model.save(self.store.model_path(version_arn))
        self.store.update(
            "solution-version",
            version_arn,
            _metrics=model.metrics,
            _baselineMetrics=baseline,
            trainingHours=round((time.monotonic() - started) / 3600, 6),
        )

    # ---- campaigns ------------------------------------------------------------------------------------------

    def _resolve_version(self, version_arn: str) -> dict[str, Any]:
        if version_arn.endswith("/$LATEST"):
            solution = self._get("solution", version_arn.removesuffix("/$LATEST"))
            active = [
                v
                for v in self.store.all("solution-version")
                if v["solutionArn"] == solution["solutionArn"] and v["status"] == "ACTIVE"
            ]
            latest = max(active, key=lambda v: v["creationDateTime"], default=None)
            if latest is None:
                raise errors.ResourceInUseError(f"Solution {solution['solutionArn']} has no ACTIVE solution version.")
            return latest
        version = self._get("solution-version", version_arn)
        if version["status"] != "ACTIVE":
            raise errors.ResourceInUseError(f"Solution version {version_arn} is {version['status']}, not ACTIVE.")
        return version

    @staticmethod
    def _campaign_config(config: dict[str, Any] | None) -> dict[str, Any]:
        from personalize_local.recommender import ExplorationConfig

        config = dict(config or {})
        try:
            ExplorationConfig.from_campaign_config(config)
        except ValueError as exc:
            raise errors.InvalidInputError(f"campaignConfig.itemExplorationConfig: {exc}") from exc
        return config

    def op_CreateCampaign(self, params: dict[str, Any]) -> dict[str, Any]:
        name = _name(params)
        version = self._resolve_version(_required(params, "solutionVersionArn"))
        tps = int(params.get("minProvisionedTPS") or 1)
        if tps < 1:
            raise errors.InvalidInputError("minProvisionedTPS must be at least 1")
        arn = self._arn(f"campaign/{name}")
        record = {
            "name": name,
            "campaignArn": arn,
            "solutionVersionArn": version["solutionVersionArn"],
            "minProvisionedTPS": tps,
            "campaignConfig": self._campaign_config(params.get("campaignConfig")),
            "_solutionArn": version["solutionArn"],
        }
        self._create("campaign", arn, record)
        return {"campaignArn": arn}

    def op_DescribeCampaign(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"campaign": _public(self._get("campaign", _required(params, "campaignArn")))}

    def op_ListCampaigns(self, params: dict[str, Any]) -> dict[str, Any]:
        solution = params.get("solutionArn")
        records = [r for r in self.store.all("campaign") if not solution or r["_solutionArn"] == solution]
        page, token = self._paginate(records, params, SUMMARY_FIELDS["campaign"])
        return {"campaigns": page, "nextToken": token}

    def op_UpdateCampaign(self, params: dict[str, Any]) -> dict[str, Any]:
        campaign = self._get("campaign", _required(params, "campaignArn"))
        if campaign["status"] not in ("ACTIVE", "CREATE FAILED"):
            raise errors.ResourceInUseError(
                f"Campaign {campaign['campaignArn']} is {campaign['status']}; wait until ACTIVE."
            )
        pending = campaign.get("latestCampaignUpdate")
        if pending and pending.get("status") in IN_FLIGHT:
            raise errors.ResourceInUseError(f"Campaign {campaign['campaignArn']} already has an update in progress.")
        version_arn = params.get("solutionVersionArn") or campaign["solutionVersionArn"]
        version = self._resolve_version(version_arn)
        config = (
            self._campaign_config(params["campaignConfig"])
            if "campaignConfig" in params
            else campaign["campaignConfig"]
        )
        now = _now()
        update = {
            "solutionVersionArn": version["solutionVersionArn"],
            "minProvisionedTPS": int(params.get("minProvisionedTPS") or campaign["minProvisionedTPS"]),
            "campaignConfig": config,
            "status": "CREATE PENDING",
            "creationDateTime": now,
            "lastUpdatedDateTime": now,
        }
        self.store.update("campaign", campaign["campaignArn"], latestCampaignUpdate=update)
        self.scheduler.call_later(
            self.settings.status_delay, lambda: self._campaign_update_step(campaign["campaignArn"])
        )
        return {"campaignArn": campaign["campaignArn"]}

    def _campaign_update_step(self, arn: str) -> None:
        """CREATE PENDING → CREATE IN_PROGRESS → ACTIVE; the campaign serves the new version only at ACTIVE."""
        with self.store.lock:
            campaign = self.store.get("campaign", arn)
            if campaign is None or not campaign.get("latestCampaignUpdate"):
                return
            update = dict(campaign["latestCampaignUpdate"])
            if update["status"] == "CREATE PENDING":
                update.update(status="CREATE IN_PROGRESS", lastUpdatedDateTime=_now())
                self.store.update("campaign", arn, latestCampaignUpdate=update)
                self.scheduler.call_later(self.settings.status_delay, lambda: self._campaign_update_step(arn))
                return
            if update["status"] != "CREATE IN_PROGRESS":
                return
            version = self.store.get("solution-version", update["solutionVersionArn"])
            if version is None or version["status"] != "ACTIVE":
                update.update(status="CREATE FAILED", failureReason="The solution version is no longer ACTIVE.")
                self.store.update("campaign", arn, latestCampaignUpdate=update)
                return
            update.update(status="ACTIVE", lastUpdatedDateTime=_now())
            self.store.update(
                "campaign",
                arn,
                latestCampaignUpdate=update,
                status="ACTIVE",
                failureReason=None,
                solutionVersionArn=update["solutionVersionArn"],
                minProvisionedTPS=update["minProvisionedTPS"],
                campaignConfig=update["campaignConfig"],
                _solutionArn=version["solutionArn"],
            )
        self._warm([arn])

    def _sync_campaigns(self, version_arn: str) -> None:
        """Campaigns with syncWithLatestSolutionVersion follow a solution's new ACTIVE versions."""
        version = self.store.get("solution-version", version_arn)
        if version is None:
            return
        for campaign in self.store.all("campaign"):
            config = campaign.get("campaignConfig") or {}
            if config.get("syncWithLatestSolutionVersion") and campaign.get("_solutionArn") == version["solutionArn"]:
                self.store.update("campaign", campaign["campaignArn"], solutionVersionArn=version_arn)
                self._warm([campaign["campaignArn"]])

    def op_DeleteCampaign(self, params: dict[str, Any]) -> dict[str, Any]:
        arn = _required(params, "campaignArn")
        campaign = self._get("campaign", arn)
        if campaign["status"] in IN_FLIGHT + DELETING:
            raise errors.ResourceInUseError(f"Campaign {arn} is {campaign['status']}.")
        self._start_delete("campaign", arn)
        return {}

    # ---- event trackers and filters -------------------------------------------------------------------------

    def op_CreateEventTracker(self, params: dict[str, Any]) -> dict[str, Any]:
        name = _name(params)
        group = self._get("dataset-group", _required(params, "datasetGroupArn"))
        if group["status"] != "ACTIVE":
            raise errors.ResourceInUseError(
                f"Dataset group {group['datasetGroupArn']} is {group['status']}, not ACTIVE."
            )
        with self.store.lock:
            if any(t["datasetGroupArn"] == group["datasetGroupArn"] for t in self.store.all("event-tracker")):
                raise errors.ResourceAlreadyExistsError(
                    f"Dataset group {group['datasetGroupArn']} already has an event tracker (one per dataset group)."
                )
            arn = self._arn(f"event-tracker/{uuid.uuid4().hex[:8]}")
            tracking_id = str(uuid.uuid4())
            record = {
                "name": name,
                "eventTrackerArn": arn,
                "accountId": self.settings.account_id,
                "trackingId": tracking_id,
                "datasetGroupArn": group["datasetGroupArn"],
            }
            self._create("event-tracker", arn, record)
        return {"eventTrackerArn": arn, "trackingId": tracking_id}

    def op_DescribeEventTracker(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"eventTracker": _public(self._get("event-tracker", _required(params, "eventTrackerArn")))}

    def op_ListEventTrackers(self, params: dict[str, Any]) -> dict[str, Any]:
        group = params.get("datasetGroupArn")
        records = [r for r in self.store.all("event-tracker") if not group or r["datasetGroupArn"] == group]
        page, token = self._paginate(records, params, SUMMARY_FIELDS["event-tracker"])
        return {"eventTrackers": page, "nextToken": token}

    def op_DeleteEventTracker(self, params: dict[str, Any]) -> dict[str, Any]:
        arn = _required(params, "eventTrackerArn")
        self._get("event-tracker", arn)
        self._start_delete("event-tracker", arn)
        return {}

    def op_CreateFilter(self, params: dict[str, Any]) -> dict[str, Any]:
        from personalize_local.filters import FilterSyntaxError, parse_filter
        from personalize_local.importer import parse_schema

        name = _name(params)
        group = self._get("dataset-group", _required(params, "datasetGroupArn"))
        expression = _required(params, "filterExpression")
        if len(expression) > 2500:
            raise errors.InvalidInputError("filterExpression is longer than 2500 characters")
        try:
            parsed = parse_filter(expression)
        except FilterSyntaxError as exc:
            raise errors.InvalidInputError(str(exc)) from exc
        fields = parsed.item_fields()
        if fields:
            items = self._dataset_of(group["datasetGroupArn"], "Items")
            if items is None:
                raise errors.InvalidInputError(
                    f"Invalid Expression: Items.{sorted(fields)[0]} needs an Items dataset in the dataset group"
                )
            schema_fields = {f.name: f for f in parse_schema(self._get("schema", items["schemaArn"])["schema"])}
            for field in sorted(fields):
                if field not in schema_fields:
                    raise errors.InvalidInputError(f"Invalid Expression: the Items schema has no field {field}")
                if schema_fields[field].type == "boolean":
                    raise errors.InvalidInputError(f"Invalid Expression: boolean field {field} cannot be filtered on")
        arn = self._arn(f"filter/{name}")
        record = {
            "name": name,
            "filterArn": arn,
            "datasetGroupArn": group["datasetGroupArn"],
            "filterExpression": expression,
        }
        self._create("filter", arn, record)
        return {"filterArn": arn}

    def op_DescribeFilter(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"filter": _public(self._get("filter", _required(params, "filterArn")))}

    def op_ListFilters(self, params: dict[str, Any]) -> dict[str, Any]:
        group = params.get("datasetGroupArn")
        records = [r for r in self.store.all("filter") if not group or r["datasetGroupArn"] == group]
        page, token = self._paginate(records, params, SUMMARY_FIELDS["filter"])
        return {"Filters": page, "nextToken": token}  # the API model spells this key with a capital F

    def op_DeleteFilter(self, params: dict[str, Any]) -> dict[str, Any]:
        arn = _required(params, "filterArn")
        self._get("filter", arn)
        self._start_delete("filter", arn)
        return {}

    # ---- recipes --------------------------------------------------------------------------------------------

    def op_ListRecipes(self, params: dict[str, Any]) -> dict[str, Any]:
        recipes = [
            {
                "name": arn.rsplit("/", 1)[1],
                "recipeArn": arn,
                "status": "ACTIVE",
                "creationDateTime": 0,
                "lastUpdatedDateTime": 0,
            }
            for arn in sorted(RECIPES)
        ]
        return {"recipes": recipes}

    def op_DescribeRecipe(self, params: dict[str, Any]) -> dict[str, Any]:
        arn = _required(params, "recipeArn")
        if arn not in RECIPES:
            raise errors.ResourceNotFoundError(f"Resource {arn} does not exist.")
        name = arn.rsplit("/", 1)[1]
        return {
            "recipe": {
                "name": name,
                "recipeArn": arn,
                "status": "ACTIVE",
                "recipeType": "USER_PERSONALIZATION",
                "description": f"{name}, served locally by ALS (implicit) or popularity",
            }
        }

    # ---- runtime --------------------------------------------------------------------------------------------

    def _history(self, group: dict[str, Any]) -> LiveHistory:
        from personalize_local.recommender import build_history

        version = group.get("_dataVersion", 0)
        with self._history_lock:
            cached = self._histories.get(group["datasetGroupArn"])
            if cached is not None and cached[0] == version:
                return cached[1]
            bulk, events = self._interactions(group["datasetGroupArn"])
            history = build_history(bulk, events)
            self._histories[group["datasetGroupArn"]] = (version, history)
            return history

    def _serving_index(self, version_arn: str, group: dict[str, Any]) -> ServingIndex:
        from personalize_local.recommender import ServingIndex
        from personalize_local.trainer import TrainedModel

        key = (version_arn, group.get("_dataVersion", 0))
        with self._serving_lock:
            index = self._serving.get(key)
            if index is not None:
                return index
            model = TrainedModel.load(self.store.model_path(version_arn))
            items_dataset = self._dataset_of(group["datasetGroupArn"], "Items")
            users_dataset = self._dataset_of(group["datasetGroupArn"], "Users")
            index = ServingIndex(
                model,
                self.store.read_bulk(items_dataset["datasetArn"]) if items_dataset else None,
                self.store.read_bulk(users_dataset["datasetArn"]) if users_dataset else None,
                self._history(group),
                alpha=model.alpha,
            )
            for old in [k for k in self._serving if k[0] == version_arn or len(self._serving) > 8]:
                self._serving.pop(old, None)
            self._serving[key] = index
            # The index holds millions of long-lived objects (histories); keep the cyclic GC from re-scanning them
            # on every full collection, which would stall requests for tens of milliseconds.
            gc.collect()
            gc.freeze()
            return index

    def runtime_is_warm(self, campaign_arn: Any) -> bool:
        """Whether GetRecommendations for this campaign would be answered from memory (no model to load)."""
        campaign = self.store.get("campaign", campaign_arn) if isinstance(campaign_arn, str) else None
        version = self.store.get("solution-version", campaign["solutionVersionArn"]) if campaign else None
        group = self.store.get("dataset-group", version["datasetGroupArn"]) if version else None
        if group is None:
            return True  # an error answer, also immediate
        return (version["solutionVersionArn"], group.get("_dataVersion", 0)) in self._serving

    def _warm(self, campaign_arns: list[str]) -> None:
        """Load the serving index of these campaigns ahead of their first request."""
        for arn in campaign_arns:
            campaign = self.store.get("campaign", arn)
            if campaign is None or campaign.get("status") != "ACTIVE":
                continue
            version = self.store.get("solution-version", campaign["solutionVersionArn"])
            group = self.store.get("dataset-group", version["datasetGroupArn"]) if version else None
            if group is not None:
                try:
                    self._serving_index(version["solutionVersionArn"], group)
                except Exception:  # the request path will report it; warming is only an optimisation
                    log.exception("could not load the model of campaign %s", arn)

    def get_recommendations(self, params: dict[str, Any]) -> dict[str, Any]:
        from personalize_local.filters import FilterSyntaxError, FilterValueError, parse_filter
        from personalize_local.recommender import ExplorationConfig

        if params.get("recommenderArn"):
            raise errors.InvalidInputError(
                "Recommenders (domain dataset groups) are not supported locally; use a campaignArn"
            )
        campaign_arn = _required(params, "campaignArn")
        campaign = self.store.get("campaign", campaign_arn)
        if campaign is None:
            raise errors.ResourceNotFoundError(f"Campaign {campaign_arn} does not exist.")
        if campaign["status"] != "ACTIVE":
            raise errors.InvalidInputError(f"Campaign {campaign_arn} is {campaign['status']}, not ACTIVE.")
        user_id = params.get("userId")
        if not user_id:
            raise errors.InvalidInputError("userId is required for a User-Personalization campaign")
        if len(user_id) > 256:
            raise errors.InvalidInputError("userId is longer than 256 characters")
        num_results = params.get("numResults", DEFAULT_NUM_RESULTS)
        if not isinstance(num_results, int) or not 1 <= num_results <= MAX_NUM_RESULTS:
            raise errors.InvalidInputError(f"numResults must be between 1 and {MAX_NUM_RESULTS}")
        version = self.store.get("solution-version", campaign["solutionVersionArn"])
        if version is None:
            raise errors.ResourceNotFoundError(f"Solution version {campaign['solutionVersionArn']} does not exist.")
        group = self._get("dataset-group", version["datasetGroupArn"])
        parsed_filter = None
        filter_arn = params.get("filterArn")
        if filter_arn:
            record = self.store.get("filter", filter_arn)
            if record is None:
                raise errors.ResourceNotFoundError(f"Filter {filter_arn} does not exist.")
            if record["status"] != "ACTIVE":
                raise errors.InvalidInputError(f"Filter {filter_arn} is {record['status']}, not ACTIVE.")
            if record["datasetGroupArn"] != group["datasetGroupArn"]:
                raise errors.InvalidInputError(
                    f"Filter {filter_arn} belongs to another dataset group than the campaign"
                )
            try:
                parsed_filter = parse_filter(record["filterExpression"])
            except FilterSyntaxError as exc:  # pragma: no cover - validated at CreateFilter
                raise errors.InvalidInputError(str(exc)) from exc
        elif params.get("filterValues"):
            raise errors.InvalidInputError("filterValues need a filterArn")
        index = self._serving_index(version["solutionVersionArn"], group)
        solution = self.store.get("solution", version["solutionArn"]) or version
        try:
            items = index.recommend(
                user_id,
                num_results,
                parsed_filter=parsed_filter,
                filter_values=params.get("filterValues"),
                exploration=ExplorationConfig.from_campaign_config(campaign.get("campaignConfig")),
                event_weights=self.training_config(solution).event_weights,
            )
        except (FilterValueError, FilterSyntaxError) as exc:
            raise errors.InvalidInputError(str(exc)) from exc
        return {
            "itemList": [{"itemId": item, "score": score} for item, score in items],
            "recommendationId": f"RID-{uuid.uuid4()}",
        }

    def put_events(self, params: dict[str, Any]) -> dict[str, Any]:
        tracking_id = _required(params, "trackingId")
        tracker = next((t for t in self.store.all("event-tracker") if t["trackingId"] == tracking_id), None)
        if tracker is None:
            raise errors.ResourceNotFoundError(f"No event tracker has trackingId {tracking_id}.")
        if tracker["status"] != "ACTIVE":
            raise errors.ResourceInUseError(
                f"Event tracker {tracker['eventTrackerArn']} is {tracker['status']}, not ACTIVE."
            )
        session_id = _required(params, "sessionId")
        user_id = params.get("userId") or ""
        if len(session_id) > 256 or len(user_id) > 256:
            raise errors.InvalidInputError("sessionId and userId are at most 256 characters")
        events = params.get("eventList") or []
        if not 1 <= len(events) <= MAX_EVENTS_PER_CALL:
            raise errors.InvalidInputError(f"eventList must hold 1 to {MAX_EVENTS_PER_CALL} events")
        group = self._get("dataset-group", tracker["datasetGroupArn"])
        dataset = self._dataset_of(group["datasetGroupArn"], "Interactions")
        if dataset is None:
            raise errors.InvalidInputError(f"Dataset group {group['datasetGroupArn']} has no Interactions dataset")
        rows = [self._event_row(position, event, user_id, session_id) for position, event in enumerate(events)]
        with self._history_lock:
            self.store.append_events(dataset["datasetArn"], rows)
            cached = self._histories.get(group["datasetGroupArn"])
            if cached is not None:
                for row in rows:
                    if row["ITEM_ID"]:
                        cached[1].add(
                            (row["USER_ID"], row["SESSION_ID"]),
                            row["ITEM_ID"],
                            row["EVENT_TYPE"],
                            int(row["TIMESTAMP"]),
                        )
        return {}

    @staticmethod
    def _event_row(position: int, event: dict[str, Any], user_id: str, session_id: str) -> dict[str, str]:
        where = f"eventList[{position}]"
        event_type = event.get("eventType")
        if not event_type or len(event_type) > 256:
            raise errors.InvalidInputError(f"{where}.eventType is required (1-256 characters)")
        sent_at = event.get("sentAt")
        if not isinstance(sent_at, int | float):
            raise errors.InvalidInputError(f"{where}.sentAt is required (a timestamp)")
        item_id = event.get("itemId") or ""
        if len(item_id) > 256:
            raise errors.InvalidInputError(f"{where}.itemId is longer than 256 characters")
        properties = event.get("properties") or ""
        if properties:
            if len(properties) > MAX_PROPERTIES_LENGTH:
                raise errors.InvalidInputError(f"{where}.properties is longer than {MAX_PROPERTIES_LENGTH} characters")
            try:
                parsed = json.loads(properties)
            except json.JSONDecodeError:
                raise errors.InvalidInputError(f"{where}.properties must be a JSON object string") from None
            if not isinstance(parsed, dict):
                raise errors.InvalidInputError(f"{where}.properties must be a JSON object string")
            forbidden = sorted(k for k in parsed if k.lower() in FORBIDDEN_PROPERTY_KEYS)
            if forbidden:
                raise errors.InvalidInputError(f"{where}.properties may not use the reserved keys {forbidden}")
        if len(event.get("impression") or []) > 25:
            raise errors.InvalidInputError(f"{where}.impression holds more than 25 item IDs")
        value = event.get("eventValue")
        return {
            "USER_ID": user_id,
            "ITEM_ID": item_id,
            "TIMESTAMP": str(int(sent_at)),
            "EVENT_TYPE": event_type,
            "EVENT_VALUE": "" if value is None else repr(float(value)),
            "SESSION_ID": session_id,
            "EVENT_ID": event.get("eventId") or uuid.uuid4().hex,
            "PROPERTIES": properties,
        }


class WorkFailed(Exception):
    """An import or training failure whose message is the failureReason to show."""


SUMMARY_FIELDS = {
    "solution": ("name", "solutionArn", "status", "creationDateTime", "lastUpdatedDateTime", "recipeArn"),
    "solution-version": (
        "solutionVersionArn",
        "status",
        "trainingMode",
        "trainingType",
        "creationDateTime",
        "lastUpdatedDateTime",
        "failureReason",
    ),
    "campaign": ("name", "campaignArn", "status", "creationDateTime", "lastUpdatedDateTime", "failureReason"),
    "event-tracker": ("name", "eventTrackerArn", "status", "creationDateTime", "lastUpdatedDateTime"),
    "filter": (
        "name",
        "filterArn",
        "creationDateTime",
        "lastUpdatedDateTime",
        "datasetGroupArn",
        "failureReason",
        "status",
    ),
}

_lint_missing_logged = False


def _lint_errors(text: str, *, dataset_type: str | None) -> list[str]:
    """The schema linter's errors (pulla_personalize.schema_lint), formatted; [] if the linter is not installed."""
    global _lint_missing_logged
    try:
        from pulla_personalize.schema_lint import format_finding, lint_schema_text
    except ImportError:
        if not _lint_missing_logged:
            log.warning("pulla_personalize.schema_lint is not available: schemas get only the basic checks")
            _lint_missing_logged = True
        return []
    findings = lint_schema_text(text, path="<schema>", dataset_type=dataset_type)
    return [format_finding(f) for f in findings if f.severity == "error"]
