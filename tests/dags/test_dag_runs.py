"""End-to-end DAG runs with ``airflow dags test`` against the local Personalize endpoint and moto's S3 server.

setup → daily → retrain must succeed and create what they should; a rerun of a day must change nothing; a window
that fails validation must stop before S3's import prefix and before any Personalize call; a failed import job
must show the service's reason; a challenger that misses the gate must not be deployed, and the run says why.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from pulla_airflow.metrics_history import METRICS_HISTORY_KEY
from pulla_airflow.resources import SETUP_RESOURCES_KEY
from pulla_airflow.s3_documents import read_json_object
from pulla_personalize import SCHEMAS_DIR

from .conftest import DAYS, END_DATE, AirflowStack

pytestmark = pytest.mark.slow

FULL_WINDOW = {
    "window_start": (END_DATE.fromordinal(END_DATE.toordinal() - DAYS)).isoformat(),
    "window_end": END_DATE.isoformat(),
    "full_reload": True,
}
FULL_LABEL = "20261002-20261101"


@pytest.fixture(scope="module")
def pipeline(airflow_stack: AirflowStack) -> AirflowStack:
    """setup, then daily over the whole seeded month (full reload), then retrain: the path `make demo` takes."""
    for dag_id, conf in (
        ("pulla_personalize_setup", None),
        ("pulla_personalize_daily", FULL_WINDOW),
        ("pulla_personalize_retrain", {"training_mode": "FULL"}),
    ):
        result = airflow_stack.run_dag(dag_id, conf)
        assert result.succeeded, f"{dag_id} failed:\n{result.log[-6000:]}"
    return airflow_stack


def wait_until_active(describe, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while (status := describe()["status"]) != "ACTIVE":
        assert status in ("CREATE PENDING", "CREATE IN_PROGRESS"), status
        assert time.monotonic() < deadline, f"still {status} after {timeout} s"
        time.sleep(0.2)


def read_json(stack: AirflowStack, key: str) -> object:
    return read_json_object(stack.services.s3_client(), stack.config.s3.bucket, key)


def test_setup_daily_retrain_create_and_use_every_resource(pipeline: AirflowStack) -> None:
    personalize = pipeline.services.client("personalize")
    resources = read_json(pipeline, pipeline.config.s3.key(SETUP_RESOURCES_KEY))
    group_arn = resources["dataset_group_arn"]
    datasets = personalize.list_datasets(datasetGroupArn=group_arn)["datasets"]
    assert sorted(d["name"] for d in datasets) == ["pulla-interactions", "pulla-items", "pulla-users"]
    assert all(d["status"] == "ACTIVE" for d in datasets)
    trackers = personalize.list_event_trackers(datasetGroupArn=group_arn)["eventTrackers"]
    assert [t["name"] for t in trackers] == ["pulla-web-events"]
    assert resources["tracking_id"]
    filters = personalize.list_filters(datasetGroupArn=group_arn)["Filters"]
    assert sorted(f["name"] for f in filters) == ["pulla-exclude-purchased", "pulla-in-my-size"]

    for dataset in datasets:
        jobs = personalize.list_dataset_import_jobs(datasetArn=dataset["datasetArn"])["datasetImportJobs"]
        assert len(jobs) == 1
        assert jobs[0]["status"] == "ACTIVE"
        # <dataset>-<window>-<mode>-<fingerprint of the imported file>
        assert re.fullmatch(rf"{dataset['name']}-{FULL_LABEL}-full-[0-9a-f]{{8}}", jobs[0]["jobName"])

    campaign = personalize.describe_campaign(campaignArn=resources["campaign_arn"])["campaign"]
    assert campaign["status"] == "ACTIVE"
    history = pipeline.services.s3_client().get_object(
        Bucket=pipeline.config.s3.bucket, Key=pipeline.config.s3.key(METRICS_HISTORY_KEY)
    )
    first = json.loads(history["Body"].read().decode().splitlines()[0])
    assert first["deployed"] is True
    assert "nothing is live" in first["reason"]
    assert campaign["solutionVersionArn"] == first["solution_version_arn"]
    assert first["metrics"]["normalized_discounted_cumulative_gain_at_25"] > 0

    summary = read_json(pipeline, pipeline.config.s3.key("runs", f"window={FULL_LABEL}", "summary.json"))
    assert summary["validation_passed"] is True
    assert summary["datasets"]["interactions"] >= 1000
    for source, account in summary["sources"].items():
        excluded = sum(account["excluded"].values())
        quarantined = sum(account["quarantined"].values())
        assert account["source_rows"] == account["exported"] + excluded + quarantined, source

    runtime = pipeline.services.client("personalize-runtime")
    answer = runtime.get_recommendations(campaignArn=resources["campaign_arn"], userId="1", numResults=5)
    assert len(answer["itemList"]) == 5


def test_setup_rerun_changes_nothing(pipeline: AirflowStack) -> None:
    personalize = pipeline.services.client("personalize")
    before = personalize.list_dataset_groups()["datasetGroups"], personalize.list_schemas()["schemas"]
    result = pipeline.run_dag("pulla_personalize_setup")
    assert result.succeeded, result.log[-4000:]
    after = personalize.list_dataset_groups()["datasetGroups"], personalize.list_schemas()["schemas"]
    assert [g["datasetGroupArn"] for g in after[0]] == [g["datasetGroupArn"] for g in before[0]]
    assert [(s["schemaArn"], s["lastUpdatedDateTime"]) for s in after[1]] == [
        (s["schemaArn"], s["lastUpdatedDateTime"]) for s in before[1]
    ]


def test_rerunning_a_day_adopts_its_import_jobs_and_writes_the_same_bytes(pipeline: AirflowStack) -> None:
    personalize = pipeline.services.client("personalize")
    resources = read_json(pipeline, pipeline.config.s3.key(SETUP_RESOURCES_KEY))
    datasets = personalize.list_datasets(datasetGroupArn=resources["dataset_group_arn"])["datasets"]

    def jobs() -> list[str]:
        return sorted(
            job["datasetImportJobArn"]
            for dataset in datasets
            for job in personalize.list_dataset_import_jobs(datasetArn=dataset["datasetArn"])["datasetImportJobs"]
        )

    prefix = pipeline.config.s3.key("import") + "/"
    jobs_before, objects_before = jobs(), pipeline.s3_keys(prefix)
    archive = pipeline.config.s3.key("runs", f"window={FULL_LABEL}") + "/"
    csv_before = {k: v for k, v in pipeline.s3_keys(archive).items() if k.endswith(".csv")}

    result = pipeline.run_dag("pulla_personalize_daily", FULL_WINDOW)
    assert result.succeeded, result.log[-4000:]
    assert "adopting" in result.log.lower()
    assert jobs() == jobs_before
    assert pipeline.s3_keys(prefix) == objects_before  # same keys, same ETags (MD5 of the bytes)
    assert {k: v for k, v in pipeline.s3_keys(archive).items() if k.endswith(".csv")} == csv_before


def test_a_challenger_that_misses_the_gate_is_not_deployed_and_the_run_says_why(pipeline: AirflowStack) -> None:
    personalize = pipeline.services.client("personalize")
    resources = read_json(pipeline, pipeline.config.s3.key(SETUP_RESOURCES_KEY))
    live_before = personalize.describe_campaign(campaignArn=resources["campaign_arn"])["campaign"]["solutionVersionArn"]

    # A retrain on the same data scores about the same; demanding 150% of the live metrics makes it a loser.
    result = pipeline.run_dag(
        "pulla_personalize_retrain", {"training_mode": "FULL", "min_ndcg_ratio": 1.5, "min_precision_ratio": 1.5}
    )
    assert result.succeeded, result.log[-4000:]
    assert "Keeping the live version" in result.log
    campaign = personalize.describe_campaign(campaignArn=resources["campaign_arn"])["campaign"]
    assert campaign["solutionVersionArn"] == live_before
    body = (
        pipeline.services.s3_client()
        .get_object(Bucket=pipeline.config.s3.bucket, Key=pipeline.config.s3.key(METRICS_HISTORY_KEY))["Body"]
        .read()
    )
    latest = json.loads(body.decode().splitlines()[-1])
    assert latest["deployed"] is False
    assert latest["solution_version_arn"] != live_before
    assert "normalized_discounted_cumulative_gain_at_25" in latest["reason"]
    assert "150%" in latest["reason"]


class _RecordingHandler(BaseHTTPRequestHandler):
    requests: list[str]

    def do_POST(self) -> None:
        self.requests.append(self.headers.get("X-Amz-Target") or self.path)
        self.send_response(500)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def recording_personalize() -> Iterator[tuple[str, list[str]]]:
    """An HTTP server standing in for Personalize that records every request it gets."""
    requests: list[str] = []
    handler = type("Handler", (_RecordingHandler,), {"requests": requests})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", requests
    server.shutdown()
    server.server_close()


def test_a_window_that_fails_validation_writes_no_import_data_and_calls_no_personalize(
    airflow_stack: AirflowStack, recording_personalize: tuple[str, list[str]]
) -> None:
    from pulla_dev.local_services import aws_connection

    url, requests = recording_personalize
    connection = aws_connection(airflow_stack.services.s3_url, url)
    # A day after the seeded month: no interactions at all, far below 1,000 and 25 users with two of them.
    window = {"window_start": "2026-11-05", "window_end": "2026-11-06", "full_reload": False}
    label = "20261105"
    result = airflow_stack.run_dag(
        "pulla_personalize_daily", window, env={"AIRFLOW_CONN_AWS_DEFAULT": json.dumps(connection)}
    )
    assert not result.succeeded
    assert "validation gate failed" in result.log
    assert "expect_enough_users_with_min_interactions" in result.log
    assert "at least 25 users with at least 2 interactions" in result.log
    assert requests == [], f"Personalize was called: {requests}"
    for kind in ("interactions", "users", "items"):
        assert airflow_stack.s3_keys(airflow_stack.config.s3.key("import", kind, f"window={label}")) == {}
    archive = airflow_stack.s3_keys(airflow_stack.config.s3.key("runs", f"window={label}") + "/")
    assert any(key.endswith("report.json") for key in archive)
    assert not any(key.endswith(".csv") and "/rejects/" not in key for key in archive)


def test_a_failed_import_job_fails_its_task_with_the_service_reason(airflow_stack: AirflowStack) -> None:
    """Datasets made by hand with a Users schema our CSV does not match: the import fails, and says why."""
    personalize = airflow_stack.services.client("personalize")
    group = personalize.create_dataset_group(name="pulla-broken")["datasetGroupArn"]
    wait_until_active(lambda: personalize.describe_dataset_group(datasetGroupArn=group)["datasetGroup"])
    users_schema = json.loads((SCHEMAS_DIR / "users.json").read_text())
    users_schema["fields"].append({"name": "LOYALTY_TIER", "type": "string", "categorical": True})
    for kind, dataset_type in (("interactions", "Interactions"), ("users", "Users"), ("items", "Items")):
        schema = users_schema if kind == "users" else json.loads((SCHEMAS_DIR / f"{kind}.json").read_text())
        schema_arn = personalize.create_schema(name=f"pulla-broken-{kind}-v1", schema=json.dumps(schema))["schemaArn"]
        personalize.create_dataset(
            name=f"pulla-broken-{kind}", datasetGroupArn=group, datasetType=dataset_type, schemaArn=schema_arn
        )

    config = yaml.safe_load(airflow_stack.config.path.read_text())
    config["s3"]["prefix"] = "broken/"
    config["personalize"]["dataset_group"] = "pulla-broken"
    config["personalize"]["datasets"] = {k: f"pulla-broken-{k}" for k in ("interactions", "users", "items")}
    config_path = Path(airflow_stack.work_dir) / "broken.yaml"
    config_path.write_text(yaml.safe_dump(config))

    result = airflow_stack.run_dag(
        "pulla_personalize_daily", FULL_WINDOW, env={"PULLA_PERSONALIZE_CONFIG": str(config_path)}
    )
    assert not result.succeeded
    assert "import_users" in result.log
    assert "LOYALTY_TIER" in result.log, result.log[-4000:]
    assert "CREATE FAILED" in result.log
