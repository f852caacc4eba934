"""The local endpoint's control plane through stock boto3 clients: lifecycle, errors, imports, limits, restart."""

from __future__ import annotations

import re
import time

import pytest
from botocore.exceptions import ClientError

from personalize_local import synthetic

from .conftest import (
    RECIPE_ARN,
    ROLE_ARN,
    build_group,
    build_shop,
    import_csv,
    make_clients,
    train_version,
    unique,
    wait_for,
)

ARN = re.compile(r"arn:aws:personalize:us-east-1:123456789012:(?P<kind>[a-z-]+)/(?P<rest>.+)")
METRIC_NAMES = {
    "coverage",
    "mean_reciprocal_rank_at_25",
    "normalized_discounted_cumulative_gain_at_5",
    "normalized_discounted_cumulative_gain_at_10",
    "normalized_discounted_cumulative_gain_at_25",
    "precision_at_5",
    "precision_at_10",
    "precision_at_25",
}


def error_code(excinfo: pytest.ExceptionInfo[ClientError]) -> str:
    return excinfo.value.response["Error"]["Code"]


@pytest.mark.parametrize("server", ["httptools", "uvicorn", "stdlib"])
def test_statuses_move_asynchronously_through_the_service_states(start_endpoint, tmp_path, server):
    endpoint = start_endpoint(tmp_path, status_delay=0.15, server=server)
    assert endpoint.server_kind == server
    p = make_clients(endpoint.url).personalize
    arn = p.create_dataset_group(name="statuses")["datasetGroupArn"]
    seen = [p.describe_dataset_group(datasetGroupArn=arn)["datasetGroup"]["status"]]
    deadline = time.monotonic() + 10
    while seen[-1] != "ACTIVE" and time.monotonic() < deadline:
        status = p.describe_dataset_group(datasetGroupArn=arn)["datasetGroup"]["status"]
        if status != seen[-1]:
            seen.append(status)
        time.sleep(0.01)
    assert seen == ["CREATE PENDING", "CREATE IN_PROGRESS", "ACTIVE"]
    assert arn == "arn:aws:personalize:us-east-1:123456789012:dataset-group/statuses"
    # Errors in both protocols, as botocore parses them.
    with pytest.raises(ClientError) as excinfo:
        p.create_dataset_group(name="statuses")
    assert error_code(excinfo) == "ResourceAlreadyExistsException"
    with pytest.raises(ClientError) as excinfo:
        make_clients(endpoint.url).runtime.get_recommendations(campaignArn=arn + "-no-campaign", userId="u1")
    assert error_code(excinfo) == "ResourceNotFoundException"


def test_full_lifecycle_from_import_to_recommendations(shop):
    p, group = shop.clients.personalize, shop.group
    kinds = {ARN.fullmatch(arn)["kind"] for arn in (group.arn, *group.datasets.values(), *group.schemas.values())}
    assert kinds == {"dataset-group", "dataset", "schema"}
    assert group.datasets["Interactions"].endswith("/INTERACTIONS")
    jobs = p.list_dataset_import_jobs(datasetArn=group.datasets["Interactions"])["datasetImportJobs"]
    assert [job["status"] for job in jobs] == ["ACTIVE"]
    assert {d["datasetArn"] for d in p.list_datasets(datasetGroupArn=group.arn)["datasets"]} == set(
        group.datasets.values()
    )

    version = shop.version
    assert version["solutionVersionArn"].startswith(shop.solution_arn + "/")
    assert version["trainingMode"] == "FULL"
    assert version["trainingHours"] > 0
    solution = p.describe_solution(solutionArn=shop.solution_arn)["solution"]
    assert solution["latestSolutionVersion"]["solutionVersionArn"] == version["solutionVersionArn"]
    metrics = p.get_solution_metrics(solutionVersionArn=version["solutionVersionArn"])["metrics"]
    assert set(metrics) == METRIC_NAMES
    assert all(0.0 <= value <= 1.0 for value in metrics.values())
    assert metrics["normalized_discounted_cumulative_gain_at_25"] > 0.05

    campaign = p.describe_campaign(campaignArn=shop.campaign_arn)["campaign"]
    assert campaign["status"] == "ACTIVE"
    assert campaign["solutionVersionArn"] == version["solutionVersionArn"]
    response = shop.clients.runtime.get_recommendations(campaignArn=shop.campaign_arn, userId="u1")
    items = response["itemList"]
    assert len(items) == 25  # numResults defaults to 25
    assert len({item["itemId"] for item in items}) == 25
    scores = [item["score"] for item in items]
    assert scores == sorted(scores, reverse=True)
    assert response["recommendationId"].startswith("RID-")
    many = shop.clients.runtime.get_recommendations(campaignArn=shop.campaign_arn, userId="u1", numResults=500)
    # Every item the model knows, no more: with exploration off, items without interactions are not scored.
    assert len(many["itemList"]) == shop.data.interactions["ITEM_ID"].nunique()

    p.create_dataset_group(name=unique("another"))
    first = p.list_dataset_groups(maxResults=1)
    assert len(first["datasetGroups"]) == 1
    assert "nextToken" in first
    second = p.list_dataset_groups(maxResults=1, nextToken=first["nextToken"])
    assert second["datasetGroups"][0]["datasetGroupArn"] != first["datasetGroups"][0]["datasetGroupArn"]


def test_update_campaign_moves_through_latest_campaign_update(shop):
    p = shop.clients.personalize
    newer = train_version(shop.clients, shop.solution_arn)
    assert newer["status"] == "ACTIVE"
    p.update_campaign(campaignArn=shop.campaign_arn, solutionVersionArn=newer["solutionVersionArn"])
    update = wait_for(lambda: p.describe_campaign(campaignArn=shop.campaign_arn)["campaign"]["latestCampaignUpdate"])
    assert update["status"] == "ACTIVE"
    assert update["solutionVersionArn"] == newer["solutionVersionArn"]
    assert update["lastUpdatedDateTime"] > update["creationDateTime"]
    described = p.describe_campaign(campaignArn=shop.campaign_arn)["campaign"]
    assert described["solutionVersionArn"] == newer["solutionVersionArn"]
    assert described["status"] == "ACTIVE"


def test_error_codes(shop):
    p, runtime = shop.clients.personalize, shop.clients.runtime
    missing = shop.group.arn + "-missing"
    with pytest.raises(ClientError) as excinfo:
        p.describe_dataset_group(datasetGroupArn=missing)
    assert error_code(excinfo) == "ResourceNotFoundException"
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    with pytest.raises(ClientError) as excinfo:
        runtime.get_recommendations(campaignArn=shop.campaign_arn + "-missing", userId="u1")
    assert error_code(excinfo) == "ResourceNotFoundException"
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404

    name = shop.group.arn.rsplit("/", 1)[1]
    with pytest.raises(ClientError) as excinfo:
        p.create_dataset_group(name=name)
    assert error_code(excinfo) == "ResourceAlreadyExistsException"

    bad_schema = '{"type": "record", "name": "Interactions", "fields": [{"name": "USER_ID", "type": "string"}]}'
    with pytest.raises(ClientError) as excinfo:
        p.create_schema(name=unique("bad"), schema=bad_schema)
    assert error_code(excinfo) == "InvalidInputException"
    assert "ITEM_ID" in excinfo.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as excinfo:
        p.create_schema(name=unique("broken"), schema='{"type": "record", "fields": [')
    assert error_code(excinfo) == "InvalidInputException"
    with pytest.raises(ClientError) as excinfo:
        p.create_filter(name=unique("f"), datasetGroupArn=shop.group.arn, filterExpression="SHOW ME EVERYTHING")
    assert error_code(excinfo) == "InvalidInputException"
    with pytest.raises(ClientError) as excinfo:
        p.create_dataset_group(name="not a valid name!")
    # The model's name pattern is checked before the operation runs, as the service does (ValidationException).
    assert error_code(excinfo) == "ValidationException"
    with pytest.raises(ClientError) as excinfo:
        runtime.get_recommendations(campaignArn=shop.campaign_arn, userId="u1", numResults=501)
    assert error_code(excinfo) == "InvalidInputException"

    with pytest.raises(ClientError) as excinfo:
        p.delete_schema(schemaArn=shop.group.schemas["Users"])
    assert error_code(excinfo) == "ResourceInUseException"
    with pytest.raises(ClientError) as excinfo:
        p.delete_dataset_group(datasetGroupArn=shop.group.arn)
    assert error_code(excinfo) == "ResourceInUseException"


def test_incremental_import_is_refused_before_any_bulk_import(shop, s3_server):
    clients = shop.clients
    group = build_group(clients)
    location = s3_server.put_csv(f"{unique('inc')}/users.csv", synthetic.to_csv(shop.data.users))
    with pytest.raises(ClientError) as excinfo:
        clients.personalize.create_dataset_import_job(
            jobName=unique("inc"),
            datasetArn=group.datasets["Users"],
            dataSource={"dataLocation": location},
            roleArn=ROLE_ARN,
            importMode="INCREMENTAL",
        )
    assert error_code(excinfo) == "InvalidInputException"
    assert import_csv(clients, group.datasets["Users"], location)["status"] == "ACTIVE"
    assert import_csv(clients, group.datasets["Users"], location, mode="INCREMENTAL")["status"] == "ACTIVE"


def test_more_than_five_import_jobs_in_flight_is_limit_exceeded(start_endpoint, tmp_path, s3_server):
    fast = start_endpoint(tmp_path)
    group = build_group(make_clients(fast.url))
    fast.stop()
    # The same state behind a slow endpoint, so the jobs stay in flight while we create them.
    slow = start_endpoint(tmp_path, status_delay=30)
    p = make_clients(slow.url).personalize
    location = s3_server.put_csv(f"{unique('limit')}/users.csv", synthetic.to_csv(synthetic.make_shop_data().users))

    def create_job() -> str:
        return p.create_dataset_import_job(
            jobName=unique("job"), datasetArn=group.datasets["Users"], dataSource={"dataLocation": location}
        )["datasetImportJobArn"]

    jobs = [create_job() for _ in range(5)]
    with pytest.raises(ClientError) as excinfo:
        create_job()
    assert error_code(excinfo) == "LimitExceededException"
    listed = p.list_dataset_import_jobs(datasetArn=group.datasets["Users"])["datasetImportJobs"]
    assert sorted(job["datasetImportJobArn"] for job in listed) == sorted(jobs)
    assert {job["status"] for job in listed} == {"CREATE PENDING"}


def _interactions_with(line_number: int, column: str, value: str) -> str:
    """The shop's interactions CSV with one cell replaced (line 1 is the header)."""
    frame = synthetic.make_shop_data().interactions.copy()
    frame.loc[line_number - 2, column] = value
    return synthetic.to_csv(frame)


@pytest.mark.parametrize(
    ("label", "make_text", "expected"),
    [
        ("wrong type", lambda: _interactions_with(5, "TIMESTAMP", "yesterday"), "line 5 column TIMESTAMP"),
        ("null in a non-null field", lambda: _interactions_with(9, "USER_ID", ""), "line 9 column USER_ID"),
        ("id too long", lambda: _interactions_with(12, "ITEM_ID", "x" * 257), "line 12 column ITEM_ID"),
        (
            "categorical too long",
            lambda: _interactions_with(20, "DEVICE", "|".join(["mobile"] * 150)),
            "line 20 column DEVICE",
        ),
        (
            "header order",
            lambda: synthetic.to_csv(synthetic.make_shop_data().interactions.iloc[:, [1, 0, 2, 3, 4, 5]]),
            "line 1",
        ),
        (
            "missing column",
            lambda: synthetic.to_csv(synthetic.make_shop_data().interactions.drop(columns=["TIMESTAMP"])),
            "missing the following columns: ['TIMESTAMP']",
        ),
        (
            "too few records",
            lambda: synthetic.to_csv(synthetic.make_shop_data().interactions.head(999)),
            "999 interaction records",
        ),
    ],
)
def test_a_bad_csv_fails_the_job_naming_file_line_and_column(shop, s3_server, label, make_text, expected):
    key = f"{unique('bad')}/interactions.csv"
    location = s3_server.put_csv(key, make_text())
    job = import_csv(shop.clients, shop.group.datasets["Interactions"], location)
    assert job["status"] == "CREATE FAILED"
    assert location in job["failureReason"]
    assert expected in job["failureReason"]
    # Nothing half-written: the campaign still serves from the data imported before.
    items = shop.clients.runtime.get_recommendations(campaignArn=shop.campaign_arn, userId="u1")["itemList"]
    assert len(items) == 25


def test_too_little_data_fails_training_with_the_service_reason(shop, s3_server):
    clients = shop.clients
    group = build_group(clients)
    few_users = shop.data.interactions.head(1200).copy()
    few_users["USER_ID"] = [f"u{i % 10}" for i in range(len(few_users))]
    location = s3_server.put_csv(f"{unique('few')}/interactions.csv", synthetic.to_csv(few_users))
    assert import_csv(clients, group.datasets["Interactions"], location)["status"] == "ACTIVE"
    p = clients.personalize
    solution = p.create_solution(name=unique("few"), datasetGroupArn=group.arn, recipeArn=RECIPE_ARN)["solutionArn"]
    wait_for(lambda: p.describe_solution(solutionArn=solution)["solution"])
    version = train_version(clients, solution)
    assert version["status"] == "CREATE FAILED"
    assert version["failureReason"] == "Dataset has fewer than 25 users with at least 2 interactions each"
    with pytest.raises(ClientError) as excinfo:
        p.get_solution_metrics(solutionVersionArn=version["solutionVersionArn"])
    assert error_code(excinfo) == "ResourceInUseException"

    purchases_only = p.create_solution(
        name=unique("purchases"), datasetGroupArn=shop.group.arn, recipeArn=RECIPE_ARN, eventType="purchase"
    )["solutionArn"]
    wait_for(lambda: p.describe_solution(solutionArn=purchases_only)["solution"])
    version = train_version(clients, purchases_only)
    purchases = int((shop.data.interactions["EVENT_TYPE"] == "purchase").sum())
    assert purchases < 1000
    assert version["status"] == "CREATE FAILED"
    assert f"Number of interactions ({purchases})" in version["failureReason"]


def test_state_survives_a_restart_and_in_flight_work_resumes(start_endpoint, tmp_path, s3_server):
    first = start_endpoint(tmp_path)
    shop = build_shop(make_clients(first.url), first, s3_server, seed=11)
    before = shop.clients.runtime.get_recommendations(campaignArn=shop.campaign_arn, userId="u3")["itemList"]
    first.stop()

    # A slow endpoint on the same data: a version is created, then the endpoint stops while it is pending.
    slow = start_endpoint(tmp_path, status_delay=30)
    slow_clients = make_clients(slow.url)
    pending = slow_clients.personalize.create_solution_version(solutionArn=shop.solution_arn)["solutionVersionArn"]
    assert (
        slow_clients.personalize.describe_solution_version(solutionVersionArn=pending)["solutionVersion"]["status"]
        == "CREATE PENDING"
    )
    slow.stop()

    again = start_endpoint(tmp_path)
    clients = make_clients(again.url)
    campaign = clients.personalize.describe_campaign(campaignArn=shop.campaign_arn)["campaign"]
    assert campaign["status"] == "ACTIVE"
    after = clients.runtime.get_recommendations(campaignArn=shop.campaign_arn, userId="u3")["itemList"]
    assert [item["itemId"] for item in after] == [item["itemId"] for item in before]
    resumed = wait_for(
        lambda: clients.personalize.describe_solution_version(solutionVersionArn=pending)["solutionVersion"]
    )
    assert resumed["status"] == "ACTIVE"
    # Same data, same seed: the resumed training reproduces the first version's metrics.
    metrics = clients.personalize.get_solution_metrics(solutionVersionArn=pending)["metrics"]
    original = clients.personalize.get_solution_metrics(solutionVersionArn=shop.version["solutionVersionArn"])
    assert metrics == original["metrics"]


def test_update_training_and_deletes(shop):
    p = shop.clients.personalize
    update = train_version(shop.clients, shop.solution_arn, mode="UPDATE")
    assert update["status"] == "ACTIVE"
    assert update["trainingMode"] == "UPDATE"
    campaign = p.create_campaign(name=unique("short-lived"), solutionVersionArn=update["solutionVersionArn"])
    arn = campaign["campaignArn"]
    assert wait_for(lambda: p.describe_campaign(campaignArn=arn)["campaign"])["status"] == "ACTIVE"
    assert shop.clients.runtime.get_recommendations(campaignArn=arn, userId="u1")["itemList"]

    filter_arn = p.create_filter(
        name=unique("gone"),
        datasetGroupArn=shop.group.arn,
        filterExpression='EXCLUDE ItemID WHERE Items.WIRE IN ("True")',
    )["filterArn"]
    wait_for(lambda: p.describe_filter(filterArn=filter_arn)["filter"])
    for delete, describe in (
        (lambda: p.delete_campaign(campaignArn=arn), lambda: p.describe_campaign(campaignArn=arn)),
        (lambda: p.delete_filter(filterArn=filter_arn), lambda: p.describe_filter(filterArn=filter_arn)),
    ):
        delete()
        assert describe_until_error(describe) == "ResourceNotFoundException"  # DELETE PENDING, then gone


def describe_until_error(describe, timeout: float = 10.0) -> str | None:
    """Call describe until it raises; the error code, or None if it never did."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            describe()
        except ClientError as error:
            return error.response["Error"]["Code"]
        time.sleep(0.02)
    return None


def test_the_cli_serves_until_sigterm(tmp_path, s3_server):
    import os
    import signal
    import subprocess
    import sys

    from pulla_dev.guardian import guarded_popen

    command = [
        sys.executable,
        "-m",
        "pulla_personalize.cli",
        "local-endpoint",
        "--port",
        "0",
        "--data-dir",
        str(tmp_path / "state"),
        "--s3-endpoint",
        s3_server.url,
        "--log-level",
        "WARNING",
    ]
    # Under a guardian, as every process a test starts: it dies with the test run even if pytest is killed.
    process = guarded_popen(command, grace_seconds=20, stdout=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        match = re.search(r"serving at (http://127\.0\.0\.1:\d+)", line)
        assert match, line
        p = make_clients(match.group(1)).personalize
        arn = p.create_dataset_group(name="from-the-cli")["datasetGroupArn"]
        assert p.describe_dataset_group(datasetGroupArn=arn)["datasetGroup"]["name"] == "from-the-cli"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert "stopped" in process.stdout.read()
    assert (tmp_path / "state" / "resources.json").exists()


def test_update_dataset_moves_to_a_schema_that_adds_fields(shop):
    import json

    p = shop.clients.personalize
    group = build_group(shop.clients)
    users = json.loads(synthetic.schema_text("Users"))
    users["fields"].append({"name": "MEMBERSHIP", "type": ["string", "null"], "categorical": True})
    wider = p.create_schema(name=unique("users-v2"), schema=json.dumps(users))["schemaArn"]
    dataset_arn = group.datasets["Users"]
    p.update_dataset(datasetArn=dataset_arn, schemaArn=wider)
    update = wait_for(lambda: p.describe_dataset(datasetArn=dataset_arn)["dataset"]["latestDatasetUpdate"])
    assert update["status"] == "ACTIVE"
    assert p.describe_dataset(datasetArn=dataset_arn)["dataset"]["schemaArn"] == wider

    users["fields"] = [field for field in users["fields"] if field["name"] != "AGE"]
    narrower = p.create_schema(name=unique("users-v3"), schema=json.dumps(users))["schemaArn"]
    with pytest.raises(ClientError) as excinfo:
        p.update_dataset(datasetArn=dataset_arn, schemaArn=narrower)
    assert error_code(excinfo) == "InvalidInputException"
    assert "AGE" in excinfo.value.response["Error"]["Message"]
