"""Batch jobs in the local endpoint: the JSON lines read and written, user segments, the jobs through the service."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from personalize_local import errors, synthetic
from personalize_local.batch import (
    BatchLine,
    BatchLineError,
    inference_output,
    output_uri,
    parse_line,
    read_lines,
    segment_output,
)
from personalize_local.kinds import BATCH_INFERENCE_JOB, BATCH_SEGMENT_JOB, DATASET_GROUP, SOLUTION_VERSION
from personalize_local.recipes import ITEM_AFFINITY
from personalize_local.recommender import UserSegmenter
from personalize_local.s3_data import S3Reader
from personalize_local.service import EndpointSettings, PersonalizeService
from personalize_local.trainer import TrainedModel

ROLE_ARN = "arn:aws:iam::123456789012:role/PersonalizeS3Access"
UP_RECIPE = "arn:aws:personalize:::recipe/aws-user-personalization"

# ---- the lines, byte for byte -------------------------------------------------------------------------------------


def test_a_batch_inference_output_line_is_the_developer_guides_compact_json():
    line = inference_output({"userId": "4638"}, [("63992", 0.0152238), ("115149", 0.0069081)], None)
    assert line == (
        '{"input":{"userId":"4638"},"output":{"recommendedItems":["63992","115149"],'
        '"scores":[0.0152238,0.0069081]},"error":null}'
    )


def test_a_batch_inference_line_in_error_carries_the_reason_and_no_output():
    line = inference_output({"userId": "7", "filterValues": {"CUP": "B"}}, None, "line 2: bad filterValues")
    assert line == (
        '{"input":{"userId":"7","filterValues":{"CUP":"B"}},"output":null,"error":"line 2: bad filterValues"}'
    )


def test_a_batch_segment_output_line_is_the_developer_guides_json():
    line = segment_output({"itemId": "105"}, ["106", "107", "49"], None)
    assert line == '{"input": {"itemId": "105"}, "output": {"recommendedUsers": ["106", "107", "49"]}}'
    failed = segment_output({"itemId": "999"}, None, "line 1: item 999 is not in the solution version's model")
    assert failed == (
        '{"input": {"itemId": "999"}, "output": null, "error": "line 1: item 999 is not in the solution version\'s '
        'model"}'
    )


def test_input_lines_parse_with_their_filter_values():
    text = (
        '\ufeff{"userId": "4638"}\n'
        "\n"
        '{"userId": "5", "filterValues": {"CUP_SIZE": "\\"B\\",\\"C\\""}}\n'
        "   \n"
        "not json\n"
        '["4638"]\n'
        '{"user": "1"}\n'
        '{"userId": "8", "filterValues": {"CUP_SIZE": 3}}\n'
        '{"userId": "' + "x" * 257 + '"}\n'
    )
    lines = read_lines(text, "userId")
    assert [line.number for line in lines] == [1, 3, 5, 6, 7, 8, 9]  # blank lines are skipped, numbers kept
    assert lines[0] == BatchLine(1, {"userId": "4638"}, "4638", None, None)
    assert lines[1].key == "5"
    assert lines[1].filter_values == {"CUP_SIZE": '"B","C"'}
    assert lines[2].input == "not json"
    assert lines[2].error.startswith("line 5: malformed JSON")
    assert lines[3].input == '["4638"]'
    assert lines[3].error == 'line 6: each line must be a JSON object like {"userId": "..."}'
    assert lines[4].input == {"user": "1"}
    assert lines[4].error == "line 7: userId is required (a non-empty string)"
    assert lines[5].error.startswith("line 8: filterValues must map placeholder names to strings")
    assert lines[6].error == "line 9: userId is longer than 256 characters"
    assert parse_line('{"itemId": "105"}', "itemId") == ({"itemId": "105"}, "105", None)
    with pytest.raises(BatchLineError):
        parse_line('{"userId": "105"}', "itemId")


@pytest.mark.parametrize(
    ("destination", "source", "expected"),
    [
        ("s3://out/results/", "s3://in/batch/users.json", "s3://out/results/users.json.out"),
        ("s3://out/results", "s3://in/batch/users.json", "s3://out/results/users.json.out"),
        ("s3://out/", "s3://in/users", "s3://out/users.out"),
    ],
)
def test_each_input_file_gives_its_name_dot_out_under_the_output_path(destination, source, expected):
    assert output_uri(destination, source) == expected


# ---- user segments ------------------------------------------------------------------------------------------------


def small_model() -> TrainedModel:
    users = np.array(["u1", "u2", "u3", "u4"])
    items = np.array(["a", "b"])
    empty = np.zeros(0)
    return TrainedModel(
        recipe="als",
        user_ids=users,
        item_ids=items,
        user_factors=np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5], [0.9, 0.1]], dtype=np.float32),
        item_factors=np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32),
        item_popularity=np.ones(2, dtype=np.float32),
        item_first_seen=np.zeros(2, dtype=np.int64),
        latest_timestamp=0,
        regularization=1.0,
        alpha=1.0,
        metrics={},
        user_items_indptr=np.zeros(5, dtype=np.int64),
        user_items_indices=empty.astype(np.int32),
        user_items_weights=empty.astype(np.float32),
    )


def test_an_items_segment_is_the_users_whose_factors_score_highest_for_it():
    segmenter = UserSegmenter(small_model())
    assert segmenter.top_users("a", 2) == ["u1", "u4"]
    assert segmenter.top_users("b", 10) == ["u2", "u3", "u4", "u1"]  # at most every user
    assert segmenter.top_users("never-seen", 3) is None
    pruned = UserSegmenter(small_model().without_users({"u1"}))
    assert pruned.top_users("a", 2) == ["u4", "u3"]  # a deleted user is in no segment


# ---- the jobs, through the service (S3 faked in memory) -----------------------------------------------------------

DELAY = 0.02


@pytest.fixture
def fake_s3(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """s3 uri -> text: what the jobs read, and what they write."""
    objects: dict[str, str] = {}

    def read(self: S3Reader, location: str, **kwargs: Any) -> list[tuple[str, str]]:
        from personalize_local.lifecycle import WorkFailed

        if location not in objects:
            raise WorkFailed(f"Insufficient privileges for accessing data in Amazon S3 or data not found at {location}")
        return [(location, objects[location])]

    monkeypatch.setattr(S3Reader, "read", read)
    monkeypatch.setattr(S3Reader, "write", lambda self, uri, text: objects.__setitem__(uri, text))
    return objects


@pytest.fixture
def service(tmp_path: Path, fake_s3: dict[str, str]) -> Iterator[PersonalizeService]:
    service = PersonalizeService(EndpointSettings(data_dir=tmp_path, status_delay=DELAY))
    yield service
    service.close()


def wait_for_status(service: PersonalizeService, kind: str, arn: str, statuses: tuple[str, ...]) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while (record := service.store.get(kind, arn)) is None or record.get("status") not in statuses:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{arn} is {record and record.get('status')}")
        time.sleep(0.005)
    return record


def trained_version(service: PersonalizeService, recipe: str) -> str:
    data = synthetic.make_shop_data(n_users=60, n_interactions=1200)
    group = service.handle("CreateDatasetGroup", {"name": "shop"})["datasetGroupArn"]
    wait_for_status(service, DATASET_GROUP, group, ("ACTIVE",))
    schema = service.handle("CreateSchema", {"name": "i", "schema": synthetic.schema_text("Interactions")})
    dataset = service.handle(
        "CreateDataset",
        {"name": "i", "schemaArn": schema["schemaArn"], "datasetGroupArn": group, "datasetType": "Interactions"},
    )["datasetArn"]
    wait_for_status(service, "dataset", dataset, ("ACTIVE",))
    service.store.write_bulk(dataset, data.interactions)
    solution = service.handle("CreateSolution", {"name": "sol", "datasetGroupArn": group, "recipeArn": recipe})
    wait_for_status(service, "solution", solution["solutionArn"], ("ACTIVE",))
    version = service.handle("CreateSolutionVersion", {"solutionArn": solution["solutionArn"]})["solutionVersionArn"]
    done = wait_for_status(service, SOLUTION_VERSION, version, ("ACTIVE", "CREATE FAILED"))
    assert done["status"] == "ACTIVE", done.get("failureReason")
    return version


def job_request(version: str, name: str, source: str, **extra: Any) -> dict[str, Any]:
    return {
        "jobName": name,
        "solutionVersionArn": version,
        "jobInput": {"s3DataSource": {"path": source}},
        "jobOutput": {"s3DataDestination": {"path": "s3://bucket/out/"}},
        "roleArn": ROLE_ARN,
        **extra,
    }


def test_a_batch_inference_job_answers_every_line_and_fails_without_its_input(service, fake_s3):
    version = trained_version(service, UP_RECIPE)
    fake_s3["s3://bucket/in/users.json"] = '{"userId": "u1"}\n{"oops"\n{"userId": "someone-new"}\n'
    arn = service.handle(
        "CreateBatchInferenceJob", job_request(version, "recs", "s3://bucket/in/users.json", numResults=3)
    )["batchInferenceJobArn"]
    assert arn == "arn:aws:personalize:us-east-1:123456789012:batch-inference-job/recs"
    assert service.store.get(BATCH_INFERENCE_JOB, arn)["status"] == "CREATE PENDING"
    done = wait_for_status(service, BATCH_INFERENCE_JOB, arn, ("ACTIVE", "CREATE FAILED"))
    assert done["status"] == "ACTIVE", done.get("failureReason")
    assert (done["_numLines"], done["_numLineErrors"]) == (3, 1)
    lines = [json.loads(line) for line in fake_s3["s3://bucket/out/users.json.out"].splitlines()]
    assert [line["input"] for line in lines] == [{"userId": "u1"}, '{"oops"', {"userId": "someone-new"}]
    assert [len(line["output"]["recommendedItems"]) for line in (lines[0], lines[2])] == [3, 3]
    assert lines[1]["output"] is None
    assert lines[1]["error"].startswith("line 2: malformed JSON")

    missing = service.handle("CreateBatchInferenceJob", job_request(version, "lost", "s3://bucket/in/none.json"))
    failed = wait_for_status(service, BATCH_INFERENCE_JOB, missing["batchInferenceJobArn"], ("ACTIVE", "CREATE FAILED"))
    assert failed["status"] == "CREATE FAILED"
    assert "s3://bucket/in/none.json" in failed["failureReason"]

    with pytest.raises(errors.InvalidInputError, match="numResults must be between 1 and 500"):
        service.handle(
            "CreateBatchInferenceJob", job_request(version, "big", "s3://bucket/in/users.json", numResults=501)
        )
    with pytest.raises(errors.InvalidInputError, match="USER_SEGMENTATION"):
        service.handle("CreateBatchSegmentJob", job_request(version, "seg", "s3://bucket/in/users.json"))
    with pytest.raises(errors.ResourceNotFoundError):
        service.handle("CreateBatchInferenceJob", job_request(version + "x", "gone", "s3://bucket/in/users.json"))
    with pytest.raises(errors.ResourceAlreadyExistsError):
        service.handle("CreateBatchInferenceJob", job_request(version, "recs", "s3://bucket/in/users.json"))


def test_a_batch_segment_job_finds_users_for_each_item_on_an_item_affinity_version(service, fake_s3):
    version = trained_version(service, ITEM_AFFINITY)
    assert service.handle("DescribeRecipe", {"recipeArn": ITEM_AFFINITY})["recipe"]["recipeType"] == "USER_SEGMENTATION"
    fake_s3["s3://bucket/in/items.json"] = '{"itemId": "p1"}\n{"itemId": "nope"}\n'
    arn = service.handle(
        "CreateBatchSegmentJob", job_request(version, "seg", "s3://bucket/in/items.json", numResults=5)
    )["batchSegmentJobArn"]
    done = wait_for_status(service, BATCH_SEGMENT_JOB, arn, ("ACTIVE", "CREATE FAILED"))
    assert done["status"] == "ACTIVE", done.get("failureReason")
    first, second = fake_s3["s3://bucket/out/items.json.out"].splitlines()
    users = json.loads(first)["output"]["recommendedUsers"]
    assert len(set(users)) == len(users) == 5
    assert json.loads(second)["error"] == "line 2: item nope is not in the solution version's model"
    with pytest.raises(errors.InvalidInputError, match="USER_PERSONALIZATION"):
        service.handle("CreateBatchInferenceJob", job_request(version, "recs", "s3://bucket/in/items.json"))

    # An Item-Affinity job takes at most 500 items: more fails the job, naming the input.
    fake_s3["s3://bucket/in/many.json"] = "".join(f'{{"itemId": "p{i}"}}\n' for i in range(501))
    many = service.handle("CreateBatchSegmentJob", job_request(version, "many", "s3://bucket/in/many.json"))
    failed = wait_for_status(service, BATCH_SEGMENT_JOB, many["batchSegmentJobArn"], ("ACTIVE", "CREATE FAILED"))
    assert failed["status"] == "CREATE FAILED"
    assert failed["failureReason"] == (
        "The input at s3://bucket/in/many.json lists 501 items; a batch segment job takes at most 500"
    )
    assert "s3://bucket/out/many.json.out" not in fake_s3
