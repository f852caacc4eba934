"""The launch audiences' glue against moto's S3 and a PersonalizeHook whose real client is wrapped in botocore's
Stubber: the plan of a form (item ids or a product line), the failures a retry cannot fix (segments off, no
trained version, unknown items, a bad form), and the audience published whole or not at all."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.stub import Stubber

from personalize_provider.hooks.personalize import PersonalizeHook
from pulla_airflow import xcom_contract as keys
from pulla_airflow.export_archive import NoExportYet
from pulla_airflow.failures import PermanentFailure, SetupMissing
from pulla_airflow.segments import (
    NoActiveVersion,
    SegmentsDisabled,
    describe_audience,
    describe_segment_plan,
    newest_active_version,
    plan_segment,
    publish_audience,
    read_segment_form,
    segment_fingerprint,
    segment_job_name,
    segment_setup_values,
)
from pulla_personalize.pipeline_config import PipelineConfig, load_pipeline_config

from .conftest import REGION, list_keys

ACCOUNT = "123456789012"
GROUP_ARN = f"arn:aws:personalize:{REGION}:{ACCOUNT}:dataset-group/pulla"
SOLUTION_ARN = f"arn:aws:personalize:{REGION}:{ACCOUNT}:solution/pulla-item-affinity"
OLD_VERSION = f"{SOLUTION_ARN}/0a0a0a0a"
VERSION_ARN = f"{SOLUTION_ARN}/3f9a1c2e"
NEWER_TRAINING = f"{SOLUTION_ARN}/5b5b5b5b"
RUN_PREFIX = "personalize/runs/window=20261127/"


def seconds(day: str) -> str:
    """Epoch seconds of 10:00 in Seoul on ``day`` (01:00 UTC), as the archived CSV holds them."""
    return str(int(datetime.fromisoformat(f"{day}T01:00:00+00:00").timestamp()))


#: The archived items.csv: three wireless full cups registered in November, one wired, one older wireless.
ITEMS = [
    {"ITEM_ID": "BRA-101", "CREATION_TIMESTAMP": seconds("2026-11-02"), "WIRE": "wireless", "CUP_TYPE": "full"},
    {"ITEM_ID": "BRA-102", "CREATION_TIMESTAMP": seconds("2026-11-10"), "WIRE": "Wireless", "CUP_TYPE": "full"},
    {"ITEM_ID": "BRA-103", "CREATION_TIMESTAMP": seconds("2026-11-20"), "WIRE": "wireless", "CUP_TYPE": "full"},
    {"ITEM_ID": "BRA-201", "CREATION_TIMESTAMP": seconds("2026-11-05"), "WIRE": "wired", "CUP_TYPE": "demi"},
    {"ITEM_ID": "BRA-301", "CREATION_TIMESTAMP": seconds("2026-09-01"), "WIRE": "wireless", "CUP_TYPE": "full"},
]


def archive_export(s3: Any, config: PipelineConfig) -> None:
    """A daily run that passed its checks: its items.csv, and its summary.json (written last)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(ITEMS[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(ITEMS)
    s3.put_object(Bucket=config.s3.bucket, Key=RUN_PREFIX + "items.csv", Body=buffer.getvalue().encode())
    # The export's members: m9 withdrew after the Item-Affinity version was trained.
    users = "USER_ID,AGE,CUP_SIZE,BAND_SIZE\nm3,30,B,75\nm5,28,C,70\nm7,41,B,80\n"
    s3.put_object(Bucket=config.s3.bucket, Key=RUN_PREFIX + "users.csv", Body=users.encode())
    summary = {
        "window": {"label": "20261127", "start": "2026-11-26T15:00:00+00:00", "end": "2026-11-27T15:00:00+00:00"},
        "validation_passed": True,
    }
    s3.put_object(Bucket=config.s3.bucket, Key=RUN_PREFIX + "summary.json", Body=json.dumps(summary).encode())


@pytest.fixture
def hook() -> Iterator[tuple[PersonalizeHook, Stubber]]:
    hook = PersonalizeHook(aws_conn_id=None, region_name=REGION)
    with Stubber(hook.conn) as stubber:
        yield hook, stubber
        stubber.assert_no_pending_responses()


def add_solution(stubber: Stubber, versions: list[tuple[str, str, datetime]] | None) -> None:
    """The dataset group, the item-affinity solution (None: no solution) and its versions (arn, status, created)."""
    group = {"name": "pulla", "datasetGroupArn": GROUP_ARN, "status": "ACTIVE"}
    stubber.add_response("list_dataset_groups", {"datasetGroups": [group]}, {})
    if versions is None:
        stubber.add_response("list_solutions", {"solutions": []}, {"datasetGroupArn": GROUP_ARN})
        return
    solution = {"name": "pulla-item-affinity", "solutionArn": SOLUTION_ARN, "status": "ACTIVE"}
    stubber.add_response("list_solutions", {"solutions": [solution]}, {"datasetGroupArn": GROUP_ARN})
    summaries = [
        {"solutionVersionArn": arn, "status": status, "creationDateTime": created} for arn, status, created in versions
    ]
    stubber.add_response("list_solution_versions", {"solutionVersions": summaries}, {"solutionArn": SOLUTION_ARN})


TRAINED = [
    (OLD_VERSION, "ACTIVE", datetime(2026, 11, 1, tzinfo=UTC)),
    (VERSION_ARN, "ACTIVE", datetime(2026, 11, 22, tzinfo=UTC)),
    (NEWER_TRAINING, "CREATE IN_PROGRESS", datetime(2026, 11, 29, tzinfo=UTC)),
]


def body(s3: Any, config: PipelineConfig, key: str) -> bytes:
    return s3.get_object(Bucket=config.s3.bucket, Key=key)["Body"].read()


# --- the plan -------------------------------------------------------------------------------------------------------


def test_a_plan_for_item_ids_writes_the_input_and_names_the_job_after_version_items_and_size(
    s3: Any, config: PipelineConfig, hook: tuple[PersonalizeHook, Stubber]
) -> None:
    personalize, stubber = hook
    archive_export(s3, config)
    add_solution(stubber, TRAINED)

    params = {"audience": "winter-launch", "item_ids": ["BRA-103", " BRA-101", "BRA-103"], "size": 50}
    plan = plan_segment(hook=personalize, s3_client=s3, config=config, params=params)

    fingerprint = segment_fingerprint(VERSION_ARN, ["BRA-101", "BRA-103"], 50)
    folder = f"crm/input/segments/winter-launch/{fingerprint}/"
    assert plan == {
        keys.AUDIENCE: "winter-launch",
        keys.JOB_NAME: f"pulla-seg-winter-launch-{fingerprint}",
        keys.SOLUTION_VERSION_ARN: VERSION_ARN,  # the newest ACTIVE one, not the one still training
        keys.JOB_INPUT: f"s3://pulla-personalize/personalize/{folder}items.json",
        keys.JOB_OUTPUT: f"s3://pulla-personalize/personalize/crm/output/segments/winter-launch/{fingerprint}/",
        keys.ROLE_ARN: config.personalize.role_arn,
        keys.NUM_RESULTS: 50,
        keys.SEGMENT_ITEMS: ["BRA-101", "BRA-103"],
        keys.SEGMENT_CRITERIA: {"item_ids": ["BRA-101", "BRA-103"]},
        keys.SEGMENT_ITEMS_SOURCE: f"s3://pulla-personalize/{RUN_PREFIX}items.csv",
    }
    assert body(s3, config, f"personalize/{folder}items.json") == b'{"itemId": "BRA-101"}\n{"itemId": "BRA-103"}\n'
    head = s3.head_object(Bucket=config.s3.bucket, Key=f"personalize/{folder}items.json")
    assert head["ServerSideEncryption"] == "AES256"
    assert json.loads(json.dumps(plan)) == plan  # XCom-safe as it is


def test_the_same_form_on_the_same_version_gives_the_same_job_and_anything_else_another() -> None:
    same = segment_fingerprint(VERSION_ARN, ["BRA-103", "BRA-101"], 50)
    assert same == segment_fingerprint(VERSION_ARN, ["BRA-101", "BRA-103"], 50)
    assert same != segment_fingerprint(VERSION_ARN, ["BRA-101", "BRA-103"], 51)
    assert same != segment_fingerprint(OLD_VERSION, ["BRA-101", "BRA-103"], 50)
    assert same != segment_fingerprint(VERSION_ARN, ["BRA-101"], 50)
    # The longest audience still leaves room for the operator's -rN suffix within 63 characters.
    assert len(segment_job_name("a" * 30, same)) <= 60


def test_a_plan_for_a_product_line_takes_every_item_matching_all_criteria(
    s3: Any, config: PipelineConfig, hook: tuple[PersonalizeHook, Stubber]
) -> None:
    personalize, stubber = hook
    archive_export(s3, config)
    add_solution(stubber, TRAINED)
    params = {
        "audience": "wireless-nov",
        "item_ids": [],
        "cup_type": "FULL",
        "wire": "wireless",
        "registered_from": "2026-11-01",
        "registered_to": "2026-11-10",
        "size": None,
    }

    plan = plan_segment(hook=personalize, s3_client=s3, config=config, params=params)

    assert plan[keys.SEGMENT_ITEMS] == ["BRA-101", "BRA-102"]
    assert plan[keys.NUM_RESULTS] == config.crm.segments.default_size  # empty size: the configured default
    assert plan[keys.SEGMENT_CRITERIA] == {
        "cup_type": "FULL",
        "wire": "wireless",
        "registered_from": "2026-11-01",
        "registered_to": "2026-11-10",
    }
    lines = describe_segment_plan(plan)
    assert lines[0] == "Audience 'wireless-nov': the 1000 members most likely to buy 2 item(s): BRA-101, BRA-102"
    assert "the product line cup_type=FULL, wire=wireless, registered_from=2026-11-01" in lines[1]
    assert plan[keys.JOB_NAME] in lines[3]


def test_segments_off_fails_at_once_and_says_which_setting(
    write_config: Any, s3: Any, hook: tuple[PersonalizeHook, Stubber]
) -> None:
    personalize, _ = hook  # no response queued: no Personalize call at all
    config = load_pipeline_config(write_config(lambda data: data["crm"]["segments"].update(enabled=False)))
    with pytest.raises(SegmentsDisabled, match=r"^launch audiences are off in personalize.yaml: set crm.segments"):
        plan_segment(hook=personalize, s3_client=s3, config=config, params={"audience": "x", "item_ids": ["A"]})
    assert segment_setup_values(config) == {
        keys.SEGMENTS_ENABLED: False,
        keys.SEGMENT_SOLUTION_NAME: None,
        keys.SEGMENT_RECIPE_ARN: None,
        keys.SEGMENT_SOLUTION_CONFIG: None,
        keys.SEGMENT_EVENT_TYPE: None,
    }


def test_the_setup_values_of_the_shipped_config(config: PipelineConfig) -> None:
    assert segment_setup_values(config) == {
        keys.SEGMENTS_ENABLED: True,
        keys.SEGMENT_SOLUTION_NAME: "pulla-item-affinity",
        keys.SEGMENT_RECIPE_ARN: "arn:aws:personalize:::recipe/aws-item-affinity",
        keys.SEGMENT_SOLUTION_CONFIG: None,
        keys.SEGMENT_EVENT_TYPE: None,
    }


def test_no_active_version_says_train_one(
    s3: Any, config: PipelineConfig, hook: tuple[PersonalizeHook, Stubber]
) -> None:
    personalize, stubber = hook
    archive_export(s3, config)
    add_solution(stubber, [(NEWER_TRAINING, "CREATE IN_PROGRESS", datetime(2026, 11, 29, tzinfo=UTC))])
    with pytest.raises(NoActiveVersion) as raised:
        plan_segment(hook=personalize, s3_client=s3, config=config, params={"audience": "x", "item_ids": ["BRA-101"]})
    assert str(raised.value) == (
        f"solution 'pulla-item-affinity' ({SOLUTION_ARN}) has no ACTIVE version (its versions: CREATE IN_PROGRESS): "
        "train one with pulla_personalize_retrain after pulla_personalize_setup, then run this DAG again"
    )
    assert list_keys(s3, config.s3.bucket, "personalize/crm/") == []


def test_no_solution_says_run_setup(s3: Any, config: PipelineConfig, hook: tuple[PersonalizeHook, Stubber]) -> None:
    personalize, stubber = hook
    add_solution(stubber, None)
    with pytest.raises(
        SetupMissing, match=r"^solution 'pulla-item-affinity' does not exist: run pulla_personalize_setup"
    ):
        plan_segment(hook=personalize, s3_client=s3, config=config, params={"audience": "x", "item_ids": ["BRA-101"]})


def test_no_export_yet_says_run_the_daily_dag(
    s3: Any, config: PipelineConfig, hook: tuple[PersonalizeHook, Stubber]
) -> None:
    personalize, stubber = hook
    add_solution(stubber, TRAINED)
    with pytest.raises(NoExportYet, match=r"run pulla_personalize_daily first$"):
        plan_segment(hook=personalize, s3_client=s3, config=config, params={"audience": "x", "item_ids": ["BRA-101"]})


def test_unknown_items_fail_without_retry_naming_them_and_write_nothing(
    s3: Any, config: PipelineConfig, hook: tuple[PersonalizeHook, Stubber]
) -> None:
    personalize, stubber = hook
    archive_export(s3, config)
    add_solution(stubber, TRAINED)
    params = {"audience": "x", "item_ids": ["BRA-101", "NOPE-1"]}
    with pytest.raises(PermanentFailure) as raised:
        plan_segment(hook=personalize, s3_client=s3, config=config, params=params)
    assert str(raised.value) == (
        "audience 'x': 1 item id(s) not in the Items dataset: 'NOPE-1' "
        f"(items of s3://pulla-personalize/{RUN_PREFIX}items.csv)"
    )
    assert list_keys(s3, config.s3.bucket, "personalize/crm/") == []


def test_a_product_line_matching_nothing_says_what_exists(
    s3: Any, config: PipelineConfig, hook: tuple[PersonalizeHook, Stubber]
) -> None:
    personalize, stubber = hook
    archive_export(s3, config)
    add_solution(stubber, TRAINED)
    with pytest.raises(PermanentFailure, match=r"^audience 'x': no item selected: cup_type='plunge' matched nothing"):
        plan_segment(hook=personalize, s3_client=s3, config=config, params={"audience": "x", "cup_type": "plunge"})


def test_an_unreadable_archived_items_csv_is_named(
    s3: Any, config: PipelineConfig, hook: tuple[PersonalizeHook, Stubber]
) -> None:
    personalize, stubber = hook
    archive_export(s3, config)
    s3.put_object(
        Bucket=config.s3.bucket,
        Key=RUN_PREFIX + "items.csv",
        Body=b"ITEM_ID,CREATION_TIMESTAMP,WIRE,CUP_TYPE\nBRA-101,yesterday,wireless,full\n",
    )
    add_solution(stubber, TRAINED)
    with pytest.raises(PermanentFailure) as raised:
        plan_segment(
            hook=personalize, s3_client=s3, config=config, params={"audience": "x", "registered_from": "2026-11-01"}
        )
    assert str(raised.value).startswith(f"s3://pulla-personalize/{RUN_PREFIX}items.csv: items: line 2: ")
    assert "'yesterday' is not epoch seconds" in str(raised.value)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"audience": "Winter Launch"}, "form field audience: 'Winter Launch' must be 1-30 lowercase letters"),
        ({"audience": "a" * 31}, "form field audience: 'aaaa"),
        ({}, "form field audience: None must be"),
        ({"audience": "x", "item_ids": "BRA-101"}, "form field item_ids: must be a list of item ids, got 'BRA-101'"),
        ({"audience": "x", "size": 0}, "form field size: must be a whole number from 1 to 5,000,000, got 0"),
        ({"audience": "x", "registered_from": "20.11.2026"}, "form field registered_from: '20.11.2026' is not a date"),
    ],
)
def test_a_bad_form_names_the_field(params: dict[str, Any], message: str) -> None:
    with pytest.raises(PermanentFailure) as raised:
        read_segment_form(params, default_size=1000)
    assert str(raised.value).startswith(message)


def test_the_newest_active_version_wins() -> None:
    assert newest_active_version([]) is None
    assert newest_active_version([{"solutionVersionArn": "v1", "status": "CREATE FAILED"}]) is None
    versions = [{"solutionVersionArn": arn, "status": status, "creationDateTime": at} for arn, status, at in TRAINED]
    assert newest_active_version(versions)["solutionVersionArn"] == VERSION_ARN


# --- the audience ---------------------------------------------------------------------------------------------------


def planned(config: PipelineConfig, size: int = 3) -> dict[str, Any]:
    fingerprint = segment_fingerprint(VERSION_ARN, ["BRA-101", "BRA-102", "BRA-103"], size)
    return {
        keys.AUDIENCE: "winter-launch",
        keys.JOB_NAME: f"pulla-seg-winter-launch-{fingerprint}",
        keys.SOLUTION_VERSION_ARN: VERSION_ARN,
        keys.JOB_INPUT: config.s3.uri("crm", "input", "segments", "winter-launch", fingerprint) + "items.json",
        keys.JOB_OUTPUT: config.s3.uri("crm", "output", "segments", "winter-launch", fingerprint),
        keys.ROLE_ARN: config.personalize.role_arn,
        keys.NUM_RESULTS: size,
        keys.SEGMENT_ITEMS: ["BRA-101", "BRA-102", "BRA-103"],
        keys.SEGMENT_CRITERIA: {"item_ids": ["BRA-101", "BRA-102", "BRA-103"]},
        keys.SEGMENT_ITEMS_SOURCE: f"s3://pulla-personalize/{RUN_PREFIX}items.csv",
    }


def finished_job(plan: dict[str, Any]) -> dict[str, Any]:
    """What find_audience returns (the operator's result) for the planned job."""
    return {
        "batch_segment_job_arn": f"arn:aws:personalize:{REGION}:{ACCOUNT}:batch-segment-job/{plan['job_name']}",
        "job_name": plan["job_name"],
        "status": "ACTIVE",
        "job_output_s3_path": plan[keys.JOB_OUTPUT],
    }


def write_output(s3: Any, config: PipelineConfig, plan: dict[str, Any], lines: list[Any]) -> str:
    key = plan[keys.JOB_OUTPUT].removeprefix(f"s3://{config.s3.bucket}/") + "items.json.out"
    text = "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines)
    s3.put_object(Bucket=config.s3.bucket, Key=key, Body=text.encode())
    return f"s3://{config.s3.bucket}/{key}"


SERVED = [
    {"input": {"itemId": "BRA-101"}, "output": {"recommendedUsers": ["m7", "m3", "m9"]}, "error": None},
    {"input": {"itemId": "BRA-102"}, "output": {"recommendedUsers": ["m3", "m5"]}, "error": None},
    {"input": {"itemId": "BRA-103"}, "output": None, "error": "Item not found in the solution version"},
]


def test_publish_writes_exactly_the_members_and_the_summary(s3: Any, config: PipelineConfig) -> None:
    archive_export(s3, config)
    plan = planned(config)
    source = write_output(s3, config, plan, SERVED)
    stale = "personalize/crm/segments/winter-launch/old-export.csv"
    s3.put_object(Bucket=config.s3.bucket, Key=stale, Body=b"from an earlier run")

    result = publish_audience(s3_client=s3, config=config, plan=plan, job=finished_job(plan))

    prefix = "personalize/crm/segments/winter-launch/"
    assert list_keys(s3, config.s3.bucket, prefix) == [prefix + "members.csv", prefix + "summary.json"]
    assert list_keys(s3, config.s3.bucket, "personalize/_staging/") == []
    # m3 ranks 1st for BRA-102 and is listed by two items; m7 ranks 1st for BRA-101 only; size 3 keeps the best three.
    assert body(s3, config, prefix + "members.csv").decode() == (
        "member_id,rank,best_item_id,items_listing_her\nm3,1,BRA-102,2\nm7,2,BRA-101,1\nm5,3,BRA-102,1\n"
    )
    summary = json.loads(body(s3, config, prefix + "summary.json"))
    assert summary["items"] == ["BRA-101", "BRA-102", "BRA-103"]
    assert summary["criteria"] == {"item_ids": ["BRA-101", "BRA-102", "BRA-103"]}
    assert summary["solution_version_arn"] == VERSION_ARN
    assert summary["job"]["name"] == plan["job_name"]
    assert summary["job"]["output"] == source
    assert summary["counts"] == {
        "size_asked": 3,
        "members": 3,
        "items": 3,
        "items_served": 2,
        "items_failed": 1,
        "departed_members_left_out": 1,  # m9, no longer in the export's Users
    }
    assert "m9" not in body(s3, config, prefix + "members.csv").decode()
    assert summary["failed_items"] == [{"item_id": "BRA-103", "reason": "Item not found in the solution version"}]
    assert result["members_uri"] == f"s3://pulla-personalize/{prefix}members.csv"
    assert result["summary_uri"] == summary["summary_uri"] == f"s3://pulla-personalize/{prefix}summary.json"

    lines = describe_audience(result)
    assert lines[0] == f"Audience 'winter-launch': 3 member(s) in s3://pulla-personalize/{prefix}members.csv"
    assert lines[1] == "  for 3 item(s): BRA-101, BRA-102, BRA-103; 2 of them served"
    assert lines[2] == "  not served: BRA-103 (Item not found in the solution version)"


def test_a_malformed_output_line_publishes_nothing_and_names_the_file_and_line(s3: Any, config: PipelineConfig) -> None:
    plan = planned(config)
    earlier = "personalize/crm/segments/winter-launch/members.csv"
    s3.put_object(Bucket=config.s3.bucket, Key=earlier, Body=b"member_id,rank,best_item_id,items_listing_her\n")
    source = write_output(s3, config, plan, [SERVED[0], '{"input": {"itemId": "BRA-102"}, "output": {"recomm'])

    with pytest.raises(PermanentFailure) as raised:
        publish_audience(s3_client=s3, config=config, plan=plan, job=finished_job(plan))

    message = str(raised.value)
    assert message.startswith(f"{source}: line 2: not JSON")
    assert message.endswith("nothing was published for audience 'winter-launch'")
    # The earlier audience stays as it was; no summary and no staged leftovers appear.
    assert list_keys(s3, config.s3.bucket, "personalize/crm/segments/") == [earlier]
    assert list_keys(s3, config.s3.bucket, "personalize/_staging/") == []


def test_an_output_naming_nobody_publishes_nothing(s3: Any, config: PipelineConfig) -> None:
    archive_export(s3, config)
    plan = planned(config)
    write_output(s3, config, plan, [SERVED[2]])
    with pytest.raises(PermanentFailure, match=r"found no member for audience 'winter-launch'.*BRA-103: Item not"):
        publish_audience(s3_client=s3, config=config, plan=plan, job=finished_job(plan))
    assert list_keys(s3, config.s3.bucket, "personalize/crm/segments/") == []


def test_a_missing_output_file_is_named(s3: Any, config: PipelineConfig) -> None:
    plan = planned(config)
    with pytest.raises(PermanentFailure, match=r"items\.json\.out does not exist, although batch job pulla-seg-"):
        publish_audience(s3_client=s3, config=config, plan=plan, job=finished_job(plan))
