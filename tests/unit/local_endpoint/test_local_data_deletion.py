"""Data deletion in the local endpoint: the user list, what is a user's, models without her, and the job itself."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from personalize_local import errors, synthetic
from personalize_local.deletion import DeletionListError, events_of, read_user_list, users_with_data, without_users
from personalize_local.filters import parse_filter
from personalize_local.kinds import DATA_DELETION_JOB, DATASET_GROUP, JOB_IN_PROGRESS
from personalize_local.lifecycle import WorkFailed
from personalize_local.recommender import ServingIndex, build_history
from personalize_local.s3_data import S3Reader
from personalize_local.service import EndpointSettings, PersonalizeService
from personalize_local.state import EVENT_COLUMNS
from personalize_local.trainer import TrainedModel, TrainingConfig, prepare_interactions, train

SOURCE = "s3://bucket/delete/users.csv"
ROLE_ARN = "arn:aws:iam::123456789012:role/PersonalizeS3Access"
NOT_PURCHASED = parse_filter('EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("purchase")')


# ---- the user list ------------------------------------------------------------------------------------------------


def test_the_list_is_the_user_ids_under_a_user_id_header():
    text = '\ufeffUSER_ID\nu1\n"u 2"\nu1\n'
    assert read_user_list(text, source=SOURCE) == ["u1", "u 2", "u1"]
    assert read_user_list("USER_ID\n", source=SOURCE) == []  # lists no one: nothing to delete


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", f"{SOURCE}: the file is empty"),
        ("u1\nu2\n", f"{SOURCE} line 1: the header must be USER_ID, got ['u1']"),
        ("user_id\nu1\n", f"{SOURCE} line 1: the header must be USER_ID"),
        ("USER_ID,ITEM_ID\nu1,p1\n", f"{SOURCE} line 1: the file must hold a single USER_ID column"),
        ("USER_ID\nu1\n\nu3\n", f"{SOURCE} line 3: empty USER_ID"),
        ('USER_ID\nu1\nu2\n""\n', f"{SOURCE} line 4: empty USER_ID"),
        ("USER_ID\nu1,u2\n", f"{SOURCE} line 2: 2 columns"),
        ("USER_ID\n" + "x" * 257 + "\n", f"{SOURCE} line 2: USER_ID longer than 256 characters"),
        ('USER_ID\nu1\n"u\n2"\n', f"{SOURCE} line 3: a record spans lines 3-4"),
    ],
)
def test_a_list_the_service_would_refuse_names_file_and_line(text, message):
    with pytest.raises(DeletionListError) as excinfo:
        read_user_list(text, source=SOURCE)
    assert str(excinfo.value).startswith(message)


# ---- what is a user's ---------------------------------------------------------------------------------------------


def events(rows: list[tuple[str, str, str]]) -> pd.DataFrame:
    """Streamed events from (USER_ID, SESSION_ID, ITEM_ID); the other columns filled in."""
    frame = pd.DataFrame(rows, columns=["USER_ID", "SESSION_ID", "ITEM_ID"], dtype="str")
    frame = frame.assign(TIMESTAMP="1700000000", EVENT_TYPE="click", EVENT_VALUE="", PROPERTIES="")
    return frame.assign(EVENT_ID=[f"e{i}" for i in range(len(frame))])[list(EVENT_COLUMNS)]


def test_a_users_events_are_her_own_and_the_anonymous_ones_of_her_sessions():
    streamed = events(
        [
            ("", "s1", "p1"),  # anonymous, in the session she later logged in to
            ("ann", "s1", ""),  # her login
            ("ann", "s2", "p2"),
            ("", "s3", "p3"),  # someone else's anonymous session
            ("bob", "s4", "p4"),
        ]
    )
    assert events_of(streamed, {"ann"}).tolist() == [True, True, True, False, False]
    assert events_of(streamed, {"nobody"}).tolist() == [False] * 5


def test_users_with_data_are_those_in_any_frame_and_rows_go_with_them():
    bulk = pd.DataFrame({"USER_ID": ["ann", "bob", "ann"], "ITEM_ID": ["p1", "p2", "p3"]}, dtype="str")
    users = pd.DataFrame({"USER_ID": ["cat"], "AGE": ["30"]}, dtype="str")
    streamed = events([("dan", "s1", "p1")])
    listed = {"ann", "cat", "dan", "never-seen"}
    assert users_with_data(listed, [bulk, None, users, streamed]) == {"ann", "cat", "dan"}
    assert without_users(bulk, listed).to_dict("records") == [{"USER_ID": "bob", "ITEM_ID": "p2"}]


# ---- models without the users -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shop():
    data = synthetic.make_shop_data()
    model, _ = train(prepare_interactions(data.interactions, None, {}), TrainingConfig(threads=1, factors=8))
    return data, model


def user_rows(model: TrainedModel) -> dict[str, tuple[list[int], list[float], list[float]]]:
    """user id -> (item columns, weights, factors), read from the model's arrays."""
    rows = {}
    for row, user in enumerate(model.user_ids):
        start, end = model.user_items_indptr[row], model.user_items_indptr[row + 1]
        rows[str(user)] = (
            model.user_items_indices[start:end].tolist(),
            model.user_items_weights[start:end].tolist(),
            model.user_factors[row].tolist(),
        )
    return rows


def test_a_model_without_users_keeps_every_other_row_as_it_was(shop, tmp_path: Path):
    _, model = shop
    gone = {str(model.user_ids[3]), str(model.user_ids[40])}
    pruned = model.without_users(gone | {"never-seen"})
    before, after = user_rows(model), user_rows(pruned)
    assert set(after) == set(before) - gone
    assert all(after[user] == before[user] for user in after)
    assert np.array_equal(pruned.item_factors, model.item_factors)
    pruned.save(tmp_path / "model.npz")
    assert user_rows(TrainedModel.load(tmp_path / "model.npz")) == after
    assert model.without_users({"never-seen"}) is model


def test_a_deleted_user_is_served_as_a_user_never_seen(shop):
    data, model = shop
    purchases = data.interactions[data.interactions["EVENT_TYPE"] == "purchase"]
    her = purchases["USER_ID"].value_counts().index[0]
    before = ServingIndex(model, data.items, data.users, build_history(data.interactions, None), alpha=model.alpha)
    bought = set(purchases.loc[purchases["USER_ID"] == her, "ITEM_ID"])
    assert not bought & {item for item, _ in before.recommend(her, 100, parsed_filter=NOT_PURCHASED)}

    after = ServingIndex(
        model.without_users({her}),
        data.items,
        without_users(data.users, {her}),
        build_history(without_users(data.interactions, {her}), None),
        alpha=model.alpha,
    )
    stranger = "someone-never-seen"
    assert after.recommend(her, 25) == after.recommend(stranger, 25)
    assert after.recommend(her, 25) != before.recommend(her, 25)
    filtered = after.recommend(her, 100, parsed_filter=NOT_PURCHASED)
    assert filtered == after.recommend(stranger, 100, parsed_filter=NOT_PURCHASED)
    assert bought & {item for item, _ in filtered}  # her purchases are no longer hers to exclude


# ---- the job, through the service ---------------------------------------------------------------------------------

DELAY = 0.05  # long enough to see PENDING right after CreateDataDeletionJob


def wait_for_status(service: PersonalizeService, kind: str, arn: str, statuses: tuple[str, ...]) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while (record := service.store.get(kind, arn)) is None or record.get("status") not in statuses:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{arn} is {record and record.get('status')}")
        time.sleep(0.005)
    return record


@pytest.fixture
def user_list(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """{"text": ...}: what every data location holds, read without S3."""
    listing = {"text": "USER_ID\n"}
    monkeypatch.setattr(S3Reader, "read", lambda self, location, **kwargs: [(location, listing["text"])])
    return listing


@pytest.fixture
def start_service(tmp_path: Path, user_list: dict[str, str]) -> Iterator[Callable[[], PersonalizeService]]:
    """start_service() -> a service on tmp_path; every one started is closed at the end."""
    started: list[PersonalizeService] = []

    def start() -> PersonalizeService:
        service = PersonalizeService(EndpointSettings(data_dir=tmp_path, status_delay=DELAY))
        started.append(service)
        return service

    yield start
    for service in started:
        service.close()


def build_group(service: PersonalizeService, data: synthetic.ShopData) -> dict[str, str]:
    """A dataset group with Interactions and Users data stored (as imports leave it) and a few streamed events."""
    group = service.handle("CreateDatasetGroup", {"name": "shop"})["datasetGroupArn"]
    wait_for_status(service, DATASET_GROUP, group, ("ACTIVE",))
    arns = {"group": group}
    for dataset_type, frame in (("Interactions", data.interactions), ("Users", data.users)):
        schema = service.handle("CreateSchema", {"name": dataset_type, "schema": synthetic.schema_text(dataset_type)})
        arn = service.handle(
            "CreateDataset",
            {
                "name": dataset_type,
                "schemaArn": schema["schemaArn"],
                "datasetGroupArn": group,
                "datasetType": dataset_type,
            },
        )["datasetArn"]
        wait_for_status(service, "dataset", arn, ("ACTIVE",))
        service.store.write_bulk(arn, frame)
        arns[dataset_type] = arn
    rows = events([("", "s9", "p1"), ("u1", "s9", ""), ("u2", "s8", "p2"), ("stream-only", "s7", "p3")])
    service.store.append_events(arns["Interactions"], rows.to_dict("records"))
    return arns


def create_job(service: PersonalizeService, group: str, name: str = "forget") -> str:
    return service.handle(
        "CreateDataDeletionJob",
        {
            "jobName": name,
            "datasetGroupArn": group,
            "dataSource": {"dataLocation": SOURCE},
            "roleArn": ROLE_ARN,
        },
    )["dataDeletionJobArn"]


def test_a_job_takes_the_users_out_of_the_stored_data_and_counts_those_it_knew(start_service, user_list):
    data = synthetic.make_shop_data(n_users=60, n_interactions=1200)
    service = start_service()
    arns = build_group(service, data)
    user_list["text"] = "USER_ID\nu1\nu2\nstream-only\nnever-seen\nu1\n"
    job = create_job(service, arns["group"])
    assert job == "arn:aws:personalize:us-east-1:123456789012:data-deletion-job/forget"
    assert service.store.get(DATA_DELETION_JOB, job)["status"] == "PENDING"
    done = wait_for_status(service, DATA_DELETION_JOB, job, ("COMPLETED", "FAILED"))
    assert done["status"] == "COMPLETED", done.get("failureReason")
    assert done["numDeleted"] == 3  # u1, u2 and stream-only had data; never-seen had none; u1 counts once
    gone = {"u1", "u2", "stream-only"}
    interactions = service.store.read_bulk(arns["Interactions"])
    assert not set(interactions["USER_ID"]) & gone
    assert len(interactions) == int((~data.interactions["USER_ID"].isin(gone)).sum())
    assert not set(service.store.read_bulk(arns["Users"])["USER_ID"]) & gone
    assert service.store.read_events(arns["Interactions"]).empty  # the anonymous event of u1's session too
    assert service.store.get(DATASET_GROUP, arns["group"])["_dataVersion"] == 1

    described = service.handle("DescribeDataDeletionJob", {"dataDeletionJobArn": job})["dataDeletionJob"]
    assert set(described) == {
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
    listed = service.handle("ListDataDeletionJobs", {"datasetGroupArn": arns["group"]})["dataDeletionJobs"]
    assert [summary["dataDeletionJobArn"] for summary in listed] == [job]
    assert set(listed[0]) == {
        "dataDeletionJobArn",
        "datasetGroupArn",
        "jobName",
        "status",
        "creationDateTime",
        "lastUpdatedDateTime",
    }
    assert service.handle("ListDataDeletionJobs", {"datasetGroupArn": arns["group"] + "-other"}) == {
        "dataDeletionJobs": [],
        "nextToken": None,
    }


def test_a_bad_list_fails_the_job_and_changes_nothing(start_service, user_list):
    data = synthetic.make_shop_data(n_users=60, n_interactions=1200)
    service = start_service()
    arns = build_group(service, data)
    user_list["text"] = "USER_ID\nu1\n\nu3\n"
    job = create_job(service, arns["group"])
    failed = wait_for_status(service, DATA_DELETION_JOB, job, ("COMPLETED", "FAILED"))
    assert failed["status"] == "FAILED"
    assert failed["failureReason"] == f"{SOURCE} line 3: empty USER_ID"
    assert "numDeleted" not in failed
    assert service.store.read_bulk(arns["Interactions"]).equals(data.interactions)


def test_a_job_interrupted_after_removing_data_resumes_and_keeps_its_first_count(start_service, user_list):
    data = synthetic.make_shop_data(n_users=60, n_interactions=1200)
    service = start_service()
    arns = build_group(service, data)
    # As a crash would leave it: IN_PROGRESS, counted, the Interactions rows already gone, the Users rows not yet.
    job = "arn:aws:personalize:us-east-1:123456789012:data-deletion-job/interrupted"
    service.store.put(
        DATA_DELETION_JOB,
        {
            "jobName": "interrupted",
            "dataDeletionJobArn": job,
            "datasetGroupArn": arns["group"],
            "dataSource": {"dataLocation": SOURCE},
            "roleArn": ROLE_ARN,
            "status": JOB_IN_PROGRESS,
            "creationDateTime": time.time(),
            "_numDeleted": 2,
        },
        job,
    )
    service.store.write_bulk(arns["Interactions"], without_users(data.interactions, {"u4", "u5"}))
    service.close()

    user_list["text"] = "USER_ID\nu4\nu5\n"
    resumed = start_service()
    done = wait_for_status(resumed, DATA_DELETION_JOB, job, ("COMPLETED", "FAILED"))
    assert done["status"] == "COMPLETED", done.get("failureReason")
    assert done["numDeleted"] == 2
    assert not {"u4", "u5"} & set(resumed.store.read_bulk(arns["Users"])["USER_ID"])


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"datasetGroupArn": "arn:aws:personalize:us-east-1:123456789012:dataset-group/none"}, "ResourceNotFound"),
        ({"roleArn": "not-a-role"}, "InvalidInput"),
        ({"roleArn": None}, "InvalidInput"),
        ({"dataSource": {"dataLocation": "ftp://bucket/users.csv"}}, "InvalidInput"),
        ({"jobName": "not a name"}, "InvalidInput"),
    ],
)
def test_create_refuses_what_the_service_refuses(start_service, change, code):
    service = start_service()
    group = service.handle("CreateDatasetGroup", {"name": "shop"})["datasetGroupArn"]
    wait_for_status(service, DATASET_GROUP, group, ("ACTIVE",))
    params = {"jobName": "j", "datasetGroupArn": group, "dataSource": {"dataLocation": SOURCE}, "roleArn": ROLE_ARN}
    with pytest.raises(errors.ServiceError) as excinfo:
        service.handle("CreateDataDeletionJob", {**params, **change})
    assert excinfo.value.code == f"{code}Exception"


def test_the_work_fails_when_its_group_is_gone(start_service):
    service = start_service()
    job = "arn:aws:personalize:us-east-1:123456789012:data-deletion-job/orphan"
    service.store.put(DATA_DELETION_JOB, {"dataDeletionJobArn": job, "datasetGroupArn": "gone"}, job)
    with pytest.raises(WorkFailed, match="Dataset group gone no longer exists"):
        service.data_deletion_jobs.run_deletion(job)
