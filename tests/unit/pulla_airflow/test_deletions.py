"""The daily deletion's glue against moto's S3, a SQLite source and a PersonalizeHook whose real client is wrapped
in botocore's Stubber: the USER_ID file and the manifest, a member deleted once, a failed job retried with its
reason, a job still running adopted, and nothing at all when nobody departed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from botocore.stub import Stubber

from personalize_provider.hooks.personalize import PersonalizeHook
from pulla_airflow.deletions import (
    MANIFEST_KEY,
    plan_member_deletion,
    read_manifest,
    record_member_deletion,
    write_manifest,
)
from pulla_dev.demo_shop import tables
from pulla_personalize.deletions import DeletionManifest, ManifestError, PendingDeletion
from pulla_personalize.pipeline_config import PipelineConfig
from pulla_personalize.windows import plan_window

from .conftest import REGION

GROUP_ARN = f"arn:aws:personalize:{REGION}:123456789012:dataset-group/pulla"
NOV_27 = plan_window(datetime.fromisoformat("2026-11-27T18:00:00+00:00"), {}, "Asia/Seoul")
NOV_28 = plan_window(datetime.fromisoformat("2026-11-28T18:00:00+00:00"), {}, "Asia/Seoul")


@pytest.fixture
def source(tmp_path: Path) -> str:
    """Five members: 1 active, 2 withdrew on 27 Nov, 3 is a test account, 4 withdraws on 28 Nov, 5 active."""
    url = f"sqlite:///{tmp_path / 'pulla.db'}"
    engine = sa.create_engine(url)
    tables.metadata.create_all(engine, tables=[tables.members])
    created = datetime(2026, 1, 1)
    rows = [
        (1, 0, None),
        (2, 0, datetime(2026, 11, 27, 13, 0)),
        (3, 1, None),
        (4, 0, datetime(2026, 11, 28, 9, 30)),
        (5, 0, None),
    ]
    with engine.begin() as connection:
        connection.execute(
            tables.members.insert(),
            [
                {
                    "member_id": member_id,
                    "email": f"m{member_id}@example.com",
                    "name": f"member {member_id}",
                    "is_test": is_test,
                    "created_at": created,
                    "updated_at": created,
                    "deleted_at": deleted_at,
                }
                for member_id, is_test, deleted_at in rows
            ],
        )
    engine.dispose()
    return url


@pytest.fixture
def hook() -> Iterator[tuple[PersonalizeHook, Stubber]]:
    hook = PersonalizeHook(aws_conn_id=None, region_name=REGION)
    with Stubber(hook.conn) as stubber:
        yield hook, stubber
        stubber.assert_no_pending_responses()


def body(s3: Any, config: PipelineConfig, key: str) -> bytes:
    return s3.get_object(Bucket=config.s3.bucket, Key=config.s3.key(key))["Body"].read()


def run_plan(source: str, window: dict, config: PipelineConfig, s3: Any, hook: PersonalizeHook) -> dict[str, Any]:
    return plan_member_deletion(
        db_url=source, window=window, config=config, s3_client=s3, hook=hook, dataset_group_arn=GROUP_ARN
    )


def job_listing(stubber: Stubber, jobs: list[dict[str, Any]]) -> None:
    summaries = [
        {"jobName": name, "status": status, "datasetGroupArn": GROUP_ARN, **({"failureReason": why} if why else {})}
        for name, status, why in jobs
    ]
    stubber.add_response("list_data_deletion_jobs", {"dataDeletionJobs": summaries}, {"datasetGroupArn": GROUP_ARN})


def test_the_first_run_writes_the_users_file_and_the_job_in_flight(source, s3, config, hook) -> None:
    personalize, _stubber = hook
    plan = run_plan(source, NOV_27, config, s3, personalize)
    assert plan["users"] == 2
    assert plan["reasons"] == {"withdrawn": 1, "test": 1}
    assert plan["job_name"].startswith("pulla-deletion-20261127-")
    assert plan["data_location"] == f"s3://{config.s3.bucket}/personalize/deletions/window=20261127/users.csv"
    assert (plan["dataset_group_arn"], plan["role_arn"]) == (GROUP_ARN, config.personalize.role_arn)
    assert body(s3, config, "deletions/window=20261127/users.csv") == b"USER_ID\n2\n3\n"
    manifest = read_manifest(s3, config)
    assert manifest == DeletionManifest({}, PendingDeletion(plan["job_name"], "20261127", ("2", "3")))


def test_a_completed_job_is_recorded_and_a_rerun_deletes_nobody(source, s3, config, hook) -> None:
    personalize, _stubber = hook
    plan = run_plan(source, NOV_27, config, s3, personalize)
    job = {"data_deletion_job_arn": "arn:job", "job_name": plan["job_name"], "status": "COMPLETED", "num_deleted": 40}
    result = record_member_deletion(s3_client=s3, config=config, plan=plan, job=job)
    assert result == {
        "deleted_users": 2,
        "job_name": plan["job_name"],
        "num_deleted": 40,
        "data_deletion_job_arn": "arn:job",
    }
    assert read_manifest(s3, config) == DeletionManifest(dict.fromkeys(("2", "3"), plan["job_name"]))
    rerun = run_plan(source, NOV_27, config, s3, personalize)
    assert (rerun["users"], rerun["data_location"], rerun["job_name"]) == (0, None, None)
    # The next day: only the member who withdrew on 28 Nov.
    next_day = run_plan(source, NOV_28, config, s3, personalize)
    assert next_day["users"] == 1
    assert body(s3, config, "deletions/window=20261128/users.csv") == b"USER_ID\n4\n"
    # No Personalize call was queued or made: nothing was in flight (the fixture checks no response is left).


def test_a_failed_job_is_reported_and_its_members_are_deleted_again(source, s3, config, hook) -> None:
    personalize, stubber = hook
    first = run_plan(source, NOV_27, config, s3, personalize)
    job_listing(stubber, [(first["job_name"], "FAILED", "Insufficient privileges for accessing data in S3")])
    retry = run_plan(source, NOV_28, config, s3, personalize)
    assert retry["previous"] == {
        "job_name": first["job_name"],
        "status": "FAILED",
        "failure_reason": "Insufficient privileges for accessing data in S3",
    }
    assert (retry["users"], retry["retried"]) == (3, 2)
    assert body(s3, config, "deletions/window=20261128/users.csv") == b"USER_ID\n2\n3\n4\n"
    assert read_manifest(s3, config).pending.job_name == retry["job_name"]


def test_a_job_completed_under_its_retry_name_counts_as_completed(source, s3, config, hook) -> None:
    personalize, stubber = hook
    first = run_plan(source, NOV_27, config, s3, personalize)
    job_listing(
        stubber,
        [(first["job_name"], "FAILED", "throttled"), (first["job_name"] + "-r2", "COMPLETED", None)],
    )
    later = run_plan(source, NOV_28, config, s3, personalize)
    assert later["previous"]["status"] == "COMPLETED"
    assert later["users"] == 1  # 2 and 3 are deleted; only 4 is new
    assert set(read_manifest(s3, config).deleted) == {"2", "3"}


def test_a_job_still_running_is_waited_for_not_doubled(source, s3, config, hook) -> None:
    personalize, stubber = hook
    first = run_plan(source, NOV_27, config, s3, personalize)
    job_listing(stubber, [(first["job_name"], "IN_PROGRESS", None)])
    later = run_plan(source, NOV_28, config, s3, personalize)
    assert (later["job_name"], later["data_location"]) == (first["job_name"], first["data_location"])
    assert later["previous"]["status"] == "IN_PROGRESS"
    assert read_manifest(s3, config).pending.job_name == first["job_name"]


def test_nobody_departed_means_no_file_no_manifest_no_call(tmp_path, s3, config, hook) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    engine = sa.create_engine(url)
    tables.metadata.create_all(engine, tables=[tables.members])
    engine.dispose()
    personalize, _stubber = hook
    plan = run_plan(url, NOV_27, config, s3, personalize)
    assert (plan["users"], plan["data_location"], plan["job_name"]) == (0, None, None)
    assert s3.list_objects_v2(Bucket=config.s3.bucket, Prefix="personalize/deletions/").get("KeyCount") == 0
    assert record_member_deletion(s3_client=s3, config=config, plan=plan, job=None)["deleted_users"] == 0


def test_a_manifest_this_pipeline_did_not_write_is_refused_by_its_uri(s3, config) -> None:
    s3.put_object(Bucket=config.s3.bucket, Key=config.s3.key(MANIFEST_KEY), Body=b"[1, 2]")
    with pytest.raises(ManifestError, match=r"^s3://pulla-personalize/personalize/deletions/manifest.json: not a"):
        read_manifest(s3, config)
    write_manifest(s3, config, DeletionManifest({"9": "job"}))
    assert read_manifest(s3, config) == DeletionManifest({"9": "job"})
