"""The service refusing calls for a while (issue 14): ThrottlingException and LimitExceededException.

The endpoint's fault switch ``PERSONALIZE_LOCAL_FAULTS`` (``personalize_local.faults``) answers the next N calls
of an operation with the refusal. botocore retries ThrottlingException itself (standard and legacy retry modes),
so a client with retries left succeeds after the throttled answers. A ``limit`` entry refuses whole SDK calls,
retries included, as the service does while its job slots stay full: LimitExceededException is then ours to handle,
and the import job operator backs off and tries again until the job is created and imported.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from personalize_local import synthetic
from personalize_local.faults import Faults, FaultSwitchError
from pulla_dev.local_services import aws_connection

from .conftest import CREDENTIALS, REGION, ROLE_ARN, TaskInstance, personalize_client, wait_settled

pytestmark = pytest.mark.faults

REPO_ROOT = Path(__file__).resolve().parents[2]
BUCKET = "pulla-throttling"


def start_endpoint(tmp_path: Path, s3_url: str, faults: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    from personalize_local.server import LocalEndpoint
    from personalize_local.service import EndpointSettings

    monkeypatch.setenv("PERSONALIZE_LOCAL_FAULTS", faults)
    settings = EndpointSettings(data_dir=tmp_path / "personalize-data", s3_endpoint=s3_url, status_delay=0.02)
    return LocalEndpoint(settings).start()


def counting_client(url: str, mode: str, attempts: int) -> tuple[Any, list[str]]:
    """A client allowed ``attempts`` requests per call (botocore's ``max_attempts`` would count retries only)."""
    import boto3
    from botocore.config import Config

    client = boto3.client(
        "personalize",
        endpoint_url=url,
        config=Config(retries={"mode": mode, "total_max_attempts": attempts}),
        **CREDENTIALS,
    )
    sent: list[str] = []
    client.meta.events.register("before-send.personalize.*", lambda model=None, **_: sent.append("request"))
    return client, sent


@pytest.mark.parametrize("mode", ["standard", "legacy"])
def test_botocore_retries_throttled_calls_until_one_succeeds(
    tmp_path: Path, s3_url: str, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    endpoint = start_endpoint(tmp_path, s3_url, "throttle:CreateDatasetGroup:2,throttle:ListSchemas:1", monkeypatch)
    try:
        client, sent = counting_client(endpoint.url, mode, attempts=3)
        group = client.create_dataset_group(name=f"throttled-{mode}")["datasetGroupArn"]
        assert len(sent) == 3  # two ThrottlingException answers, retried by botocore, then the created group
        assert client.describe_dataset_group(datasetGroupArn=group)["datasetGroup"]["name"] == f"throttled-{mode}"
        assert len(client.list_dataset_groups()["datasetGroups"]) == 1  # retries created no second group

        # Without retries left, the refusal reaches the caller with the service's code.
        bare, _ = counting_client(endpoint.url, mode, attempts=1)
        with pytest.raises(ClientError) as error:
            bare.list_schemas()
        assert error.value.response["Error"]["Code"] == "ThrottlingException"
        assert bare.list_schemas()["schemas"] == []  # the switch refused only the next call
    finally:
        endpoint.stop()


def test_import_operator_backs_off_on_limit_exceeded_and_finishes(
    tmp_path: Path, s3_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import boto3

    key = "throttling/interactions.csv"
    data = synthetic.make_shop_data(seed=9)
    boto3.client("s3", endpoint_url=s3_url, **CREDENTIALS).put_object(
        Bucket=BUCKET, Key=key, Body=synthetic.to_csv(data.interactions).encode()
    )
    endpoint = start_endpoint(tmp_path, s3_url, "limit:CreateDatasetImportJob:2", monkeypatch)
    try:
        p = personalize_client(endpoint.url)
        group = p.create_dataset_group(name="limited")["datasetGroupArn"]
        wait_settled(lambda: p.describe_dataset_group(datasetGroupArn=group)["datasetGroup"])
        schema = p.create_schema(name="limited", schema=synthetic.schema_text("Interactions"))["schemaArn"]
        dataset = p.create_dataset(name="limited", schemaArn=schema, datasetGroupArn=group, datasetType="Interactions")[
            "datasetArn"
        ]
        wait_settled(lambda: p.describe_dataset(datasetArn=dataset)["dataset"])

        connection = aws_connection(s3_url, endpoint.url)
        connection["extra"]["region_name"] = REGION
        # Two requests a call keep the test quick: the production default (10, adaptive) spends about a minute
        # of botocore's own back-off on each refused call before the operator sees it.
        connection["extra"]["config_kwargs"] = {"retries": {"mode": "standard", "total_max_attempts": 2}}
        monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps(connection))
        monkeypatch.setenv("AIRFLOW_HOME", os.environ.get("AIRFLOW_HOME", str(REPO_ROOT / ".airflow_test_home")))
        from personalize_provider.operators.personalize import PersonalizeDatasetImportJobOperator

        operator = PersonalizeDatasetImportJobOperator(
            task_id="import_interactions",
            dataset_arn=dataset,
            data_location=f"s3://{BUCKET}/{key}",
            job_name="interactions-20261127",
            role_arn=ROLE_ARN,
            aws_conn_id="aws_default",
            limit_retry_delay=0.01,
            limit_retry_max_delay=0.05,
            limit_retry_max_attempts=4,
            waiter_delay=1,
            waiter_max_attempts=60,
            deferrable=False,
        )
        arn = operator.execute({"ti": TaskInstance()})
        printed = capsys.readouterr()  # the task logger (structlog) writes to the console
        backed_off = [line for line in (printed.out + printed.err).splitlines() if "refused (" in line]
        assert len(backed_off) == 2, backed_off  # both refused calls reached the operator, retries and all
        assert "LimitExceededException" in backed_off[0], backed_off
        assert "attempt 3 of 4" in backed_off[1], backed_off
        assert arn.endswith("/interactions-20261127")  # the same name: refusals are not failed jobs
        job = p.describe_dataset_import_job(datasetImportJobArn=arn)["datasetImportJob"]
        assert job["status"] == "ACTIVE"
        assert job["importMode"] == "FULL"  # the dataset's first import
        assert endpoint.service.lifecycle.faults.refusals == {"CreateDatasetImportJob": []}  # both were answered
        assert len(p.list_dataset_import_jobs(datasetArn=dataset)["datasetImportJobs"]) == 1
    finally:
        endpoint.stop()


def test_a_limit_refuses_every_retry_of_a_call_then_lets_the_next_call_through(
    tmp_path: Path, s3_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint = start_endpoint(tmp_path, s3_url, "limit:CreateDatasetGroup:1", monkeypatch)
    try:
        client, sent = counting_client(endpoint.url, "standard", attempts=3)
        with pytest.raises(ClientError) as error:
            client.create_dataset_group(name="limited")
        assert error.value.response["Error"]["Code"] == "LimitExceededException"
        assert len(sent) == 3  # botocore retried the call twice; the switch refused the retries as well
        assert client.create_dataset_group(name="limited")["datasetGroupArn"].endswith("/limited")
        assert len(sent) == 4  # the next call went through at its first request
    finally:
        endpoint.stop()


def test_fault_switch_is_off_by_default_and_a_malformed_entry_is_named() -> None:
    assert Faults.parse(None) == Faults()
    assert Faults.parse("") == Faults()
    parsed = Faults.parse("throttle:CreateDatasetImportJob:2, limit:CreateBatchInferenceJob:1,slow:solution-version:5")
    assert parsed.refusals == {
        "CreateDatasetImportJob": [("throttle", 2)],
        "CreateBatchInferenceJob": [("limit", 1)],
    }
    assert parsed.slow_work == {"solution-version": 5.0}
    for entry, problem in (
        ("throttle:CreateDatasetImportJob", "must look like"),
        ("throttle:CreateDatasetImportJob:two", "'two' is not a number"),
        ("slow:training:5", "no resource kind 'training'"),
        ("explode:CreateSchema:1", "unknown fault 'explode'"),
    ):
        with pytest.raises(FaultSwitchError, match=f"PERSONALIZE_LOCAL_FAULTS entry '{entry}'.*{problem}"):
            Faults.parse(entry)
