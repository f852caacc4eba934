"""Batch inference and batch segment jobs through stock boto3, reading and writing JSON lines in (moto's) S3."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from .conftest import ROLE_ARN, train_version, unique, wait_for

CUP_FILTER = "INCLUDE ItemID WHERE Items.CUP_SIZE IN ($CUP)"
ITEM_AFFINITY = "arn:aws:personalize:::recipe/aws-item-affinity"
INFERENCE_MEMBERS = {
    "jobName",
    "batchInferenceJobArn",
    "filterArn",
    "solutionVersionArn",
    "numResults",
    "jobInput",
    "jobOutput",
    "batchInferenceJobConfig",
    "roleArn",
    "batchInferenceJobMode",
    "status",
    "creationDateTime",
    "lastUpdatedDateTime",
}
INFERENCE_SUMMARY = {
    "batchInferenceJobArn",
    "jobName",
    "status",
    "creationDateTime",
    "lastUpdatedDateTime",
    "solutionVersionArn",
    "batchInferenceJobMode",
}
SEGMENT_MEMBERS = {
    "jobName",
    "batchSegmentJobArn",
    "solutionVersionArn",
    "numResults",
    "jobInput",
    "jobOutput",
    "roleArn",
    "status",
    "creationDateTime",
    "lastUpdatedDateTime",
}
SEGMENT_SUMMARY = {
    "batchSegmentJobArn",
    "jobName",
    "status",
    "creationDateTime",
    "lastUpdatedDateTime",
    "solutionVersionArn",
}


def read_lines(s3_server: Any, uri: str) -> list[str]:
    key = uri.removeprefix(f"s3://{s3_server.bucket}/")
    body = s3_server.client.get_object(Bucket=s3_server.bucket, Key=key)["Body"].read().decode("utf-8")
    assert body.endswith("\n")
    return body.splitlines()


def recommend(shop: Any, user_id: str, **kwargs: Any) -> list[str]:
    response = shop.clients.runtime.get_recommendations(campaignArn=shop.campaign_arn, userId=user_id, **kwargs)
    return [item["itemId"] for item in response["itemList"]]


def test_a_batch_inference_job_answers_each_line_in_order(shop, s3_server):
    p = shop.clients.personalize
    filter_arn = p.create_filter(name=unique("cup"), datasetGroupArn=shop.group.arn, filterExpression=CUP_FILTER)[
        "filterArn"
    ]
    assert wait_for(lambda: p.describe_filter(filterArn=filter_arn)["filter"])["status"] == "ACTIVE"
    member = shop.data.interactions["USER_ID"].value_counts().index[0]
    prefix = unique("batch")
    lines = [
        json.dumps({"userId": member}),
        "this is not JSON",
        json.dumps({"userId": member, "filterValues": {"CUP": '"B"'}}),
        "",  # a blank line is no input
        json.dumps({"userId": "someone-new"}),
    ]
    source = s3_server.put_csv(f"{prefix}/in/users.json", "\n".join(lines) + "\n")
    destination = f"s3://{s3_server.bucket}/{prefix}/out/"
    version_arn = shop.version["solutionVersionArn"]
    arn = p.create_batch_inference_job(
        jobName=unique("recs"),
        solutionVersionArn=version_arn,
        filterArn=filter_arn,
        numResults=7,
        jobInput={"s3DataSource": {"path": source}},
        jobOutput={"s3DataDestination": {"path": destination}},
        roleArn=ROLE_ARN,
        # Exploration off, as the campaign's: the answers are the model's alone, comparable with the campaign's.
        batchInferenceJobConfig={"itemExplorationConfig": {"explorationWeight": "0", "explorationItemAgeCutOff": "30"}},
    )["batchInferenceJobArn"]
    assert p.describe_batch_inference_job(batchInferenceJobArn=arn)["batchInferenceJob"]["status"] in (
        "CREATE PENDING",
        "CREATE IN_PROGRESS",
    )
    job = wait_for(lambda: p.describe_batch_inference_job(batchInferenceJobArn=arn)["batchInferenceJob"])
    assert job["status"] == "ACTIVE", job.get("failureReason")
    assert set(job) == INFERENCE_MEMBERS
    assert job["numResults"] == 7
    assert job["jobInput"] == {"s3DataSource": {"path": source}}
    assert job["batchInferenceJobMode"] == "BATCH_INFERENCE"

    out = read_lines(s3_server, f"{destination}users.json.out")
    assert len(out) == 4  # one output line per input line, in order
    first, bad, filtered, new = (json.loads(line) for line in out)
    assert first["input"] == {"userId": member}
    assert first["error"] is None
    assert first["output"]["recommendedItems"] == recommend(shop, member, numResults=7, filterArn=filter_arn)
    assert len(first["output"]["scores"]) == 7
    assert out[0].startswith('{"input":{"userId":"' + member + '"},"output":{"recommendedItems":["')
    assert out[0].endswith('},"error":null}')
    assert bad == {"input": "this is not JSON", "output": None, "error": bad["error"]}
    assert bad["error"].startswith("line 2: malformed JSON")
    assert filtered["input"] == {"userId": member, "filterValues": {"CUP": '"B"'}}
    cups = shop.data.items.set_index("ITEM_ID")["CUP_SIZE"]
    assert len(filtered["output"]["recommendedItems"]) == 7
    assert all("B" in cups[item].split("|") for item in filtered["output"]["recommendedItems"])
    assert filtered["output"]["recommendedItems"] == recommend(
        shop, member, numResults=7, filterArn=filter_arn, filterValues={"CUP": '"B"'}
    )
    assert new["input"] == {"userId": "someone-new"}
    assert len(new["output"]["recommendedItems"]) == 7

    listed = p.list_batch_inference_jobs(solutionVersionArn=version_arn)["batchInferenceJobs"]
    summary = next(summary for summary in listed if summary["batchInferenceJobArn"] == arn)
    assert set(summary) == INFERENCE_SUMMARY
    assert summary["status"] == "ACTIVE"


def test_a_batch_inference_job_without_its_input_fails_naming_it(shop, s3_server):
    p = shop.clients.personalize
    missing = f"s3://{s3_server.bucket}/{unique('nowhere')}/users.json"
    arn = p.create_batch_inference_job(
        jobName=unique("lost"),
        solutionVersionArn=shop.version["solutionVersionArn"],
        jobInput={"s3DataSource": {"path": missing}},
        jobOutput={"s3DataDestination": {"path": f"s3://{s3_server.bucket}/out/"}},
        roleArn=ROLE_ARN,
    )["batchInferenceJobArn"]
    job = wait_for(lambda: p.describe_batch_inference_job(batchInferenceJobArn=arn)["batchInferenceJob"])
    assert job["status"] == "CREATE FAILED"
    assert missing in job["failureReason"]
    assert job["numResults"] == 25  # the default
    with pytest.raises(ClientError) as excinfo:
        p.create_batch_inference_job(
            jobName=unique("many"),
            solutionVersionArn=shop.version["solutionVersionArn"],
            numResults=501,
            jobInput={"s3DataSource": {"path": missing}},
            jobOutput={"s3DataDestination": {"path": f"s3://{s3_server.bucket}/out/"}},
            roleArn=ROLE_ARN,
        )
    assert excinfo.value.response["Error"]["Code"] == "InvalidInputException"

    # An output location that cannot be written fails the job too, naming the file it could not write.
    source = s3_server.put_csv(f"{unique('batch')}/users.json", '{"userId": "u1"}\n')
    arn = p.create_batch_inference_job(
        jobName=unique("unwritable"),
        solutionVersionArn=shop.version["solutionVersionArn"],
        jobInput={"s3DataSource": {"path": source}},
        jobOutput={"s3DataDestination": {"path": "s3://no-such-bucket-here/out/"}},
        roleArn=ROLE_ARN,
    )["batchInferenceJobArn"]
    job = wait_for(lambda: p.describe_batch_inference_job(batchInferenceJobArn=arn)["batchInferenceJob"])
    assert job["status"] == "CREATE FAILED"
    assert "s3://no-such-bucket-here/out/users.json.out" in job["failureReason"]


def test_a_batch_segment_job_finds_the_users_for_each_item(shop, s3_server):
    p = shop.clients.personalize
    solution_arn = p.create_solution(name=unique("affinity"), datasetGroupArn=shop.group.arn, recipeArn=ITEM_AFFINITY)[
        "solutionArn"
    ]
    wait_for(lambda: p.describe_solution(solutionArn=solution_arn)["solution"])
    version = train_version(shop.clients, solution_arn)
    assert version["status"] == "ACTIVE", version.get("failureReason")
    items = shop.data.interactions["ITEM_ID"].value_counts().index[:2].tolist()
    prefix = unique("segments")
    source = s3_server.put_csv(f"{prefix}/in/items.json", "".join(json.dumps({"itemId": i}) + "\n" for i in items))
    destination = f"s3://{s3_server.bucket}/{prefix}/out"
    arn = p.create_batch_segment_job(
        jobName=unique("seg"),
        solutionVersionArn=version["solutionVersionArn"],
        numResults=10,
        jobInput={"s3DataSource": {"path": source}},
        jobOutput={"s3DataDestination": {"path": destination}},
        roleArn=ROLE_ARN,
    )["batchSegmentJobArn"]
    job = wait_for(lambda: p.describe_batch_segment_job(batchSegmentJobArn=arn)["batchSegmentJob"])
    assert job["status"] == "ACTIVE", job.get("failureReason")
    assert set(job) == SEGMENT_MEMBERS
    out = read_lines(s3_server, f"{destination}/items.json.out")
    assert len(out) == 2
    known_users = set(shop.data.interactions["USER_ID"])
    for item, line in zip(items, out, strict=True):
        assert line.startswith('{"input": {"itemId": "' + item + '"}, "output": {"recommendedUsers": ["')
        users = json.loads(line)["output"]["recommendedUsers"]
        assert len(users) == len(set(users)) == 10
        assert set(users) <= known_users
    listed = p.list_batch_segment_jobs(solutionVersionArn=version["solutionVersionArn"])["batchSegmentJobs"]
    assert [summary["batchSegmentJobArn"] for summary in listed] == [arn]
    assert set(listed[0]) == SEGMENT_SUMMARY
    # A User-Personalization version makes no segments, and an Item-Affinity one no item recommendations.
    for create, version_arn in (
        (p.create_batch_segment_job, shop.version["solutionVersionArn"]),
        (p.create_batch_inference_job, version["solutionVersionArn"]),
    ):
        with pytest.raises(ClientError) as excinfo:
            create(
                jobName=unique("wrong"),
                solutionVersionArn=version_arn,
                jobInput={"s3DataSource": {"path": source}},
                jobOutput={"s3DataDestination": {"path": destination}},
                roleArn=ROLE_ARN,
            )
        assert excinfo.value.response["Error"]["Code"] == "InvalidInputException"
