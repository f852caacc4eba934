"""Data deletion jobs through stock boto3: a member is forgotten in the stored data, in serving and in training."""

from __future__ import annotations

import csv
import re
import time
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from personalize_local import synthetic
from personalize_local.trainer import TrainedModel

from .conftest import ROLE_ARN, build_group, import_csv, make_clients, train_version, unique, wait_for

NOT_PURCHASED_FILTER = 'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("purchase")'
JOB_ARN = re.compile(r"arn:aws:personalize:us-east-1:123456789012:data-deletion-job/(?P<name>[A-Za-z0-9_-]+)")
JOB_MEMBERS = {
    "jobName",
    "dataDeletionJobArn",
    "datasetGroupArn",
    "dataSource",
    "roleArn",
    "status",
    "numDeleted",
    "creationDateTime",
    "lastUpdatedDateTime",
}
SUMMARY_MEMBERS = {
    "dataDeletionJobArn",
    "datasetGroupArn",
    "jobName",
    "status",
    "creationDateTime",
    "lastUpdatedDateTime",
}


def error_code(excinfo: pytest.ExceptionInfo[ClientError]) -> str:
    return excinfo.value.response["Error"]["Code"]


def create_job(p: Any, group_arn: str, location: str, name: str | None = None, role: str = ROLE_ARN) -> str:
    return p.create_data_deletion_job(
        jobName=name or unique("forget"),
        datasetGroupArn=group_arn,
        dataSource={"dataLocation": location},
        roleArn=role,
    )["dataDeletionJobArn"]


def finished_job(p: Any, job_arn: str, timeout: float = 30.0) -> dict[str, Any]:
    """Poll DescribeDataDeletionJob until COMPLETED or FAILED; the job."""
    deadline = time.monotonic() + timeout
    while (job := p.describe_data_deletion_job(dataDeletionJobArn=job_arn)["dataDeletionJob"])["status"] not in (
        "COMPLETED",
        "FAILED",
    ):
        assert job["status"] in ("PENDING", "IN_PROGRESS"), job
        if time.monotonic() > deadline:
            raise TimeoutError(f"still {job['status']} after {timeout}s: {job}")
        time.sleep(0.02)
    return job


def stored_user_ids(endpoint: Any, dataset_arn: str, file_name: str = "bulk.csv") -> set[str]:
    """The USER_IDs in a dataset's stored CSV, read from the data directory as it is on disk."""
    path: Path = endpoint.service.store.dataset_dir(dataset_arn) / file_name
    with path.open(encoding="utf-8", newline="") as handle:
        return {row["USER_ID"] for row in csv.DictReader(handle)}


def recommend(shop: Any, user_id: str, **kwargs: Any) -> list[str]:
    response = shop.clients.runtime.get_recommendations(campaignArn=shop.campaign_arn, userId=user_id, **kwargs)
    return [item["itemId"] for item in response["itemList"]]


def test_a_deleted_member_is_gone_from_data_serving_and_training(shop, s3_server):
    p, clients = shop.clients.personalize, shop.clients
    purchases = shop.data.interactions[shop.data.interactions["EVENT_TYPE"] == "purchase"]
    her = purchases["USER_ID"].value_counts().index[0]
    bought = set(purchases.loc[purchases["USER_ID"] == her, "ITEM_ID"])
    stranger = unique("never-seen")
    filter_arn = p.create_filter(
        name=unique("bought"), datasetGroupArn=shop.group.arn, filterExpression=NOT_PURCHASED_FILTER
    )["filterArn"]
    assert wait_for(lambda: p.describe_filter(filterArn=filter_arn)["filter"])["status"] == "ACTIVE"
    tracker = p.create_event_tracker(name=unique("tracker"), datasetGroupArn=shop.group.arn)
    assert (
        wait_for(lambda: p.describe_event_tracker(eventTrackerArn=tracker["eventTrackerArn"])["eventTracker"])["status"]
        == "ACTIVE"
    )
    streamed = sorted(set(shop.data.items["ITEM_ID"]) - bought - set(shop.new_items))[0]
    clients.events.put_events(
        trackingId=tracker["trackingId"],
        userId=her,
        sessionId=unique("session"),
        eventList=[{"eventType": "purchase", "itemId": streamed, "sentAt": time.time(), "eventId": unique("e")}],
    )
    bought.add(streamed)
    interactions_arn, users_arn = shop.group.datasets["Interactions"], shop.group.datasets["Users"]
    assert her in stored_user_ids(shop.endpoint, interactions_arn, "events.csv")
    # Before: she is known, and the filter keeps her purchases out (500 results: every item the model scores).
    assert recommend(shop, her) != recommend(shop, stranger)
    assert not bought & set(recommend(shop, her, numResults=500, filterArn=filter_arn))

    location = s3_server.put_csv(f"{unique('delete')}/users.csv", f"USER_ID\n{her}\n{stranger}\n")
    job_arn = create_job(p, shop.group.arn, location, name="forget-her")
    assert JOB_ARN.fullmatch(job_arn)["name"] == "forget-her"
    job = finished_job(p, job_arn)
    assert job["status"] == "COMPLETED", job.get("failureReason")
    assert job["numDeleted"] == 1  # she had data; the stranger had none
    assert set(job) == JOB_MEMBERS
    assert job["dataSource"] == {"dataLocation": location}
    assert job["datasetGroupArn"] == shop.group.arn
    assert job["lastUpdatedDateTime"] >= job["creationDateTime"]
    listed = p.list_data_deletion_jobs(datasetGroupArn=shop.group.arn)["dataDeletionJobs"]
    assert [summary["dataDeletionJobArn"] for summary in listed] == [job_arn]
    assert set(listed[0]) == SUMMARY_MEMBERS
    assert job_arn in {j["dataDeletionJobArn"] for j in p.list_data_deletion_jobs()["dataDeletionJobs"]}

    # Her rows are gone from the stored CSVs, everyone else's are there.
    assert her not in stored_user_ids(shop.endpoint, interactions_arn)
    assert her not in stored_user_ids(shop.endpoint, users_arn)
    assert her not in stored_user_ids(shop.endpoint, interactions_arn, "events.csv")
    others = set(shop.data.interactions["USER_ID"]) - {her}
    assert stored_user_ids(shop.endpoint, interactions_arn) == others

    # Serving forgot her at once: she gets what a user never seen gets, and her purchases are not hers to exclude.
    assert recommend(shop, her) == recommend(shop, stranger)
    filtered = recommend(shop, her, numResults=500, filterArn=filter_arn)
    assert filtered == recommend(shop, stranger, numResults=500, filterArn=filter_arn)
    assert bought & set(filtered)

    # The next training does not see her, and the deployed model no longer holds her.
    store = shop.endpoint.service.store
    assert her not in TrainedModel.load(store.model_path(shop.version["solutionVersionArn"])).user_ids
    version = train_version(clients, shop.solution_arn)
    assert version["status"] == "ACTIVE", version.get("failureReason")
    model = TrainedModel.load(store.model_path(version["solutionVersionArn"]))
    assert her not in model.user_ids
    assert len(model.user_ids) == len(others)
    p.update_campaign(campaignArn=shop.campaign_arn, solutionVersionArn=version["solutionVersionArn"])
    assert (
        wait_for(lambda: p.describe_campaign(campaignArn=shop.campaign_arn)["campaign"]["latestCampaignUpdate"])[
            "status"
        ]
        == "ACTIVE"
    )
    assert recommend(shop, her) == recommend(shop, stranger)


def test_a_folder_location_lists_users_in_every_file_under_it(shop, s3_server):
    clients = shop.clients
    group = build_group(clients)
    users = synthetic.make_shop_data(n_users=40).users
    location = s3_server.put_csv(f"{unique('users')}/users.csv", synthetic.to_csv(users))
    assert import_csv(clients, group.datasets["Users"], location)["status"] == "ACTIVE"
    folder = unique("delete-folder")
    s3_server.put_csv(f"{folder}/first.csv", "USER_ID\nu1\nu2\n")
    s3_server.put_csv(f"{folder}/more/second.txt", "USER_ID\nu3\nu2\n")  # any file, in a subfolder too
    job = finished_job(
        clients.personalize, create_job(clients.personalize, group.arn, f"s3://{s3_server.bucket}/{folder}/")
    )
    assert job["status"] == "COMPLETED", job.get("failureReason")
    assert job["numDeleted"] == 3
    assert stored_user_ids(shop.endpoint, group.datasets["Users"]) == set(users["USER_ID"]) - {"u1", "u2", "u3"}


@pytest.mark.parametrize(
    ("label", "text", "expected"),
    [
        ("missing object", None, "data not found at"),
        ("no header", "u1\nu2\n", "line 1: the header must be USER_ID"),
        ("empty file", "", "the file is empty"),
        ("empty id", "USER_ID\nu1\n\nu3\n", "line 3: empty USER_ID"),
        ("two columns", "USER_ID,ITEM_ID\nu1,p1\n", "line 1: the file must hold a single USER_ID column"),
    ],
)
def test_a_bad_file_fails_the_job_naming_file_and_line(shop, s3_server, label, text, expected):
    p = shop.clients.personalize
    key = f"{unique('bad-delete')}/users.csv"
    location = s3_server.put_csv(key, text) if text is not None else f"s3://{s3_server.bucket}/{key}"
    job = finished_job(p, create_job(p, shop.group.arn, location))
    assert job["status"] == "FAILED"
    assert location in job["failureReason"]
    assert expected in job["failureReason"]
    assert "numDeleted" not in job
    assert len(recommend(shop, "u1")) == 25  # nothing half-done: the campaign serves as before


def test_create_refuses_a_bad_role_a_taken_name_and_an_unknown_group(shop, s3_server):
    p = shop.clients.personalize
    location = s3_server.put_csv(f"{unique('delete')}/users.csv", "USER_ID\nnobody\n")
    with pytest.raises(ClientError) as excinfo:
        create_job(p, shop.group.arn, location, role="arn:aws:iam::123:user/not-a-role")
    # The model's roleArn pattern is checked before the operation runs, as the service does (ValidationException).
    assert error_code(excinfo) == "ValidationException"
    name = unique("taken")
    create_job(p, shop.group.arn, location, name=name)
    with pytest.raises(ClientError) as excinfo:
        create_job(p, shop.group.arn, location, name=name)
    assert error_code(excinfo) == "ResourceAlreadyExistsException"
    with pytest.raises(ClientError) as excinfo:
        create_job(p, shop.group.arn + "-missing", location)
    assert error_code(excinfo) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as excinfo:
        p.describe_data_deletion_job(
            dataDeletionJobArn=f"arn:aws:personalize:us-east-1:123456789012:data-deletion-job/{unique('none')}"
        )
    assert error_code(excinfo) == "ResourceNotFoundException"


def test_pending_jobs_survive_a_restart_and_at_most_five_wait_per_group(start_endpoint, tmp_path, s3_server):
    fast = start_endpoint(tmp_path)
    clients = make_clients(fast.url)
    group = build_group(clients)
    users = synthetic.make_shop_data(n_users=40).users
    location = s3_server.put_csv(f"{unique('users')}/users.csv", synthetic.to_csv(users))
    assert import_csv(clients, group.datasets["Users"], location)["status"] == "ACTIVE"
    fast.stop()

    # The same state behind a slow endpoint: the jobs stay PENDING while we create them, then it stops.
    slow = start_endpoint(tmp_path, status_delay=30)
    p = make_clients(slow.url).personalize
    listing = s3_server.put_csv(f"{unique('delete')}/users.csv", "USER_ID\nu5\nu6\n")
    jobs = [create_job(p, group.arn, listing) for _ in range(5)]
    with pytest.raises(ClientError) as excinfo:
        create_job(p, group.arn, listing)
    assert error_code(excinfo) == "LimitExceededException"
    assert {j["status"] for j in p.list_data_deletion_jobs(datasetGroupArn=group.arn)["dataDeletionJobs"]} == {
        "PENDING"
    }
    slow.stop()

    again = start_endpoint(tmp_path)
    p = make_clients(again.url).personalize
    finished = [finished_job(p, arn) for arn in jobs]
    assert {job["status"] for job in finished} == {"COMPLETED"}
    assert sum(job["numDeleted"] for job in finished) == 2  # the first to run deleted both; the others found none
    assert stored_user_ids(again, group.datasets["Users"]) == set(users["USER_ID"]) - {"u5", "u6"}
