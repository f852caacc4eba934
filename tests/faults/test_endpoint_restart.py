"""The local Personalize endpoint killed (SIGKILL) while an import job and then a training are IN_PROGRESS, and
started again on the same data directory (issue 14).

The fault switch ``slow:<kind>:<seconds>`` (``personalize_local.faults``) holds the job's work on its worker so the
kill lands while the job is IN_PROGRESS, at the same point on every run. After the restart every resource must
settle (the endpoint resumes the work, so ACTIVE) within a bounded time, never stay IN_PROGRESS. Then the job
operator meets the restarted endpoint through Airflow's connection: it adopts the resumed job by its name, and a
job that FAILED gets a rerun named ``<name>-r2``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from personalize_local import synthetic
from pulla_dev.local_services import aws_connection

from .conftest import (
    CREDENTIALS,
    REGION,
    ROLE_ARN,
    ServerProcess,
    TaskInstance,
    endpoint_process,
    personalize_client,
    wait_settled,
    wait_status,
)

pytestmark = pytest.mark.faults

REPO_ROOT = Path(__file__).resolve().parents[2]
BUCKET = "pulla-endpoint-faults"
USER_PERSONALIZATION = "arn:aws:personalize:::recipe/aws-user-personalization"


@pytest.fixture
def endpoint(tmp_path: Path, s3_url: str) -> Iterator[ServerProcess]:
    """The endpoint as a process on a fixed port and data directory (``tmp_path / "personalize-data"``)."""
    server = endpoint_process(tmp_path / "personalize-data", s3_url, tmp_path / "endpoint.log")
    yield server
    server.kill()


def put_csv(s3_url: str, key: str, text: str) -> str:
    import boto3

    boto3.client("s3", endpoint_url=s3_url, **CREDENTIALS).put_object(Bucket=BUCKET, Key=key, Body=text.encode())
    return f"s3://{BUCKET}/{key}"


def kill_while_in_progress(endpoint: ServerProcess, describe: Any) -> None:
    wait_status(describe, "CREATE IN_PROGRESS")
    endpoint.kill()


def test_endpoint_killed_mid_import_and_mid_training_resumes_every_job(
    tmp_path: Path, s3_url: str, endpoint: ServerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    data_dir = tmp_path / "personalize-data"
    data = synthetic.make_shop_data(seed=3)
    location = put_csv(s3_url, "shop/interactions.csv", synthetic.to_csv(data.interactions))

    # 1. An import job held IN_PROGRESS, and the endpoint killed under it.
    endpoint.start(PERSONALIZE_LOCAL_FAULTS="slow:dataset-import-job:60")
    p = personalize_client(endpoint.url)
    group = p.create_dataset_group(name="faults")["datasetGroupArn"]
    wait_settled(lambda: p.describe_dataset_group(datasetGroupArn=group)["datasetGroup"])
    schema = p.create_schema(name="faults-interactions", schema=synthetic.schema_text("Interactions"))["schemaArn"]
    dataset = p.create_dataset(
        name="faults-interactions", schemaArn=schema, datasetGroupArn=group, datasetType="Interactions"
    )["datasetArn"]
    wait_settled(lambda: p.describe_dataset(datasetArn=dataset)["dataset"])
    job = p.create_dataset_import_job(
        jobName="interactions-20261127",
        datasetArn=dataset,
        dataSource={"dataLocation": location},
        roleArn=ROLE_ARN,
        importMode="FULL",
    )["datasetImportJobArn"]
    kill_while_in_progress(endpoint, lambda: p.describe_dataset_import_job(datasetImportJobArn=job)["datasetImportJob"])

    # 2. Restarted: the import resumes and ends ACTIVE; a training held IN_PROGRESS, and the endpoint killed again.
    endpoint.start(PERSONALIZE_LOCAL_FAULTS="slow:solution-version:60")
    p = personalize_client(endpoint.url)
    imported = wait_settled(lambda: p.describe_dataset_import_job(datasetImportJobArn=job)["datasetImportJob"])
    assert imported["status"] == "ACTIVE", imported.get("failureReason")
    solution = p.create_solution(name="faults-solution", datasetGroupArn=group, recipeArn=USER_PERSONALIZATION)
    solution_arn = solution["solutionArn"]
    wait_settled(lambda: p.describe_solution(solutionArn=solution_arn)["solution"])
    version = p.create_solution_version(solutionArn=solution_arn)["solutionVersionArn"]
    kill_while_in_progress(endpoint, lambda: p.describe_solution_version(solutionVersionArn=version)["solutionVersion"])

    # 3. Restarted without faults: the training resumes and ends ACTIVE with metrics; nothing is left half-written.
    endpoint.start()
    p = personalize_client(endpoint.url)
    trained = wait_settled(lambda: p.describe_solution_version(solutionVersionArn=version)["solutionVersion"])
    assert trained["status"] == "ACTIVE", trained.get("failureReason")
    assert p.get_solution_metrics(solutionVersionArn=version)["metrics"]
    jobs = p.list_dataset_import_jobs(datasetArn=dataset)["datasetImportJobs"]
    assert [(j["jobName"], j["status"]) for j in jobs] == [("interactions-20261127", "ACTIVE")]
    assert sorted(path.name for path in data_dir.rglob("*.tmp*")) == []
    assert endpoint.log_text().count("was in progress when the endpoint stopped; resuming it") == 2

    # 4. The job operator against the restarted endpoint: it adopts the resumed job; a FAILED job's rerun is -r2.
    connection = aws_connection(s3_url, endpoint.url)
    connection["extra"]["region_name"] = REGION
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps(connection))
    monkeypatch.setenv("AIRFLOW_HOME", os.environ.get("AIRFLOW_HOME", str(REPO_ROOT / ".airflow_test_home")))
    from personalize_provider.operators.personalize import PersonalizeDatasetImportJobOperator

    def operator(job_name: str, data_location: str) -> Any:
        return PersonalizeDatasetImportJobOperator(
            task_id="import_interactions",
            dataset_arn=dataset,
            data_location=data_location,
            job_name=job_name,
            role_arn=ROLE_ARN,
            import_mode="FULL",
            aws_conn_id="aws_default",
            waiter_delay=1,
            waiter_max_attempts=60,
            deferrable=False,
        )

    context = {"ti": TaskInstance()}
    assert operator("interactions-20261127", location).execute(context) == job
    bad = put_csv(s3_url, "shop/bad.csv", "USER_ID,ITEM_ID\nu1,i1\n")
    failed = p.create_dataset_import_job(
        jobName="interactions-20261128", datasetArn=dataset, dataSource={"dataLocation": bad}, roleArn=ROLE_ARN
    )["datasetImportJobArn"]
    assert (
        wait_settled(lambda: p.describe_dataset_import_job(datasetImportJobArn=failed)["datasetImportJob"])["status"]
        == "CREATE FAILED"
    )
    rerun = operator("interactions-20261128", location).execute(context)
    assert rerun.endswith("/interactions-20261128-r2")
    assert p.describe_dataset_import_job(datasetImportJobArn=rerun)["datasetImportJob"]["status"] == "ACTIVE"
    endpoint.stop()
