"""The daily run's deletion of departed members from Personalize: the manifest on S3, the file the job reads, and
what the run reports.

``plan_member_deletion`` settles the job an earlier run left in flight (COMPLETED: its members are recorded as
deleted; FAILED: they are planned again, and the run says why it failed), reads who departed, and writes the
USER_ID file and the manifest before any job starts; ``record_member_deletion`` records the members once the job
completed. The rules (who, when, the job's name) are the core's: :mod:`pulla_personalize.deletions`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pulla_airflow import xcom_contract as keys
from pulla_airflow.s3_documents import s3_uri, sse_args, write_json_object
from pulla_personalize.deletions import (
    COMPLETED,
    FAILED,
    DeletionManifest,
    DeletionPlan,
    ManifestError,
    plan_deletion,
    read_departed_members,
    settle,
    start,
    users_file,
)
from pulla_personalize.pipeline_config import PipelineConfig
from pulla_personalize.windows import PlannedWindow

MANIFEST_KEY = "deletions/manifest.json"
USERS_FILE_NAME = "users.csv"


def deletion_prefix(config: PipelineConfig, label: str) -> str:
    """Where a run's USER_ID file waits for the job (the service role may read it; nothing else lives there)."""
    return config.s3.key("deletions", f"window={label}") + "/"


def read_manifest(s3_client: Any, config: PipelineConfig) -> DeletionManifest:
    """The manifest on S3, or an empty one before the first deletion."""
    key = config.s3.key(MANIFEST_KEY)
    try:
        body = s3_client.get_object(Bucket=config.s3.bucket, Key=key)["Body"].read()
    except s3_client.exceptions.NoSuchKey:
        return DeletionManifest()
    where = s3_uri(config.s3.bucket, key)
    try:
        document = json.loads(body)
    except ValueError as error:
        raise ManifestError(f"{where}: not JSON: {error}") from None
    return DeletionManifest.from_document(document, where)


def write_manifest(s3_client: Any, config: PipelineConfig, manifest: DeletionManifest) -> str:
    key = config.s3.key(MANIFEST_KEY)
    return write_json_object(s3_client, config.s3.bucket, key, manifest.to_document(), sse_args(config))


def _job_status(hook: Any, dataset_group_arn: str, job_name: str) -> tuple[str, str | None]:
    """(status, failureReason) of the named deletion job, or of its latest attempt (``<name>-r2`` ... when a
    cleared task retried it); a job the service does not list never started."""
    attempts = [
        job
        for job in hook.list_data_deletion_jobs(dataset_group_arn=dataset_group_arn)
        if job.get("jobName") == job_name or re.fullmatch(rf"{re.escape(job_name)}-r\d+", str(job.get("jobName")))
    ]
    if not attempts:
        return FAILED, "the job was never created (the run that planned it stopped first)"
    latest = max(attempts, key=lambda job: (job.get("creationDateTime") or 0, job.get("jobName")))
    return str(latest.get("status", "")), latest.get("failureReason")


def plan_member_deletion(
    *,
    db_url: str,
    window: PlannedWindow,
    config: PipelineConfig,
    s3_client: Any,
    hook: Any,
    dataset_group_arn: str,
) -> dict[str, Any]:
    """Who leaves Personalize in this run: the plan (counts, the job's name) and where its USER_ID file is.

    ``data_location`` is None when nobody is to be deleted: the run starts no job and says so.
    """
    from pulla_personalize.extract import Window

    manifest = read_manifest(s3_client, config)
    previous: dict[str, Any] | None = None
    failed_users: tuple[str, ...] = ()
    pending = manifest.pending
    if pending is not None:
        status, reason = _job_status(hook, dataset_group_arn, pending.job_name)
        previous = {"job_name": pending.job_name, "status": status, "failure_reason": reason}
        if status not in (COMPLETED, FAILED):
            # Still running: this run waits for that job (the operator adopts it by name); members who departed
            # since are deleted by the next run.
            location = s3_uri(config.s3.bucket, deletion_prefix(config, pending.label) + USERS_FILE_NAME)
            waiting = DeletionPlan(users=pending.users, reasons={}, retried=(), job_name=pending.job_name)
            return _plan_values(waiting, location, config, dataset_group_arn, previous)
        if status == FAILED:
            failed_users = pending.users
        manifest = settle(manifest, pending.job_name, status)

    bounds = Window(datetime.fromisoformat(window["start"]), datetime.fromisoformat(window["end"]), config.time_zone)
    departed = read_departed_members(db_url, bounds.local(bounds.end))
    plan = plan_deletion(
        departed,
        manifest,
        full_reload=window["full_reload"],
        label=window["label"],
        dataset_group=config.personalize.dataset_group,
        failed_users=failed_users,
    )
    location = None
    if plan.users:
        key = deletion_prefix(config, window["label"]) + USERS_FILE_NAME
        s3_client.put_object(
            Bucket=config.s3.bucket, Key=key, Body=users_file(plan.users), ContentType="text/csv", **sse_args(config)
        )
        location = s3_uri(config.s3.bucket, key)
        manifest = start(manifest, plan, window["label"])  # recorded before the job starts: a crash forgets no one
    if plan.users or pending is not None:
        write_manifest(s3_client, config, manifest)
    return _plan_values(plan, location, config, dataset_group_arn, previous)


def _plan_values(
    plan: DeletionPlan,
    location: str | None,
    config: PipelineConfig,
    dataset_group_arn: str,
    previous: dict[str, Any] | None,
) -> dict[str, Any]:
    """What plan_deletion hands on (XCom): the plan's counts, and what the deletion job operator takes."""
    return {
        **plan.as_dict(),
        keys.DATA_LOCATION: location,
        keys.DATASET_GROUP_ARN: dataset_group_arn,
        keys.ROLE_ARN: config.personalize.role_arn,
        "previous": previous,
    }


def record_member_deletion(
    *, s3_client: Any, config: PipelineConfig, plan: Mapping[str, Any], job: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The run's deletion result, and the manifest with the job's members recorded as deleted once it completed."""
    if not plan.get(keys.DELETION_JOB_NAME) or job is None:
        return {"deleted_users": 0, "job_name": None, "num_deleted": None, "data_deletion_job_arn": None}
    manifest = read_manifest(s3_client, config)
    manifest = settle(manifest, plan[keys.DELETION_JOB_NAME], COMPLETED)
    write_manifest(s3_client, config, manifest)
    return {
        "deleted_users": int(plan["users"]),
        "job_name": plan[keys.DELETION_JOB_NAME],
        "num_deleted": job.get("num_deleted"),
        "data_deletion_job_arn": job.get("data_deletion_job_arn"),
    }
