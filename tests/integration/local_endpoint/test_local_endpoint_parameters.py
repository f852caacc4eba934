"""Request members the support table calls honoured, shown changing the answer through stock boto3.

``personalize_local/support.py`` names a test for every honoured member; these are the ones no other test covered:
names and settings kept by Create and shown by Describe, Describe and Delete acting on the ARN given, List keeping
a parent's resources and paging, a campaign that follows its solution's new versions, ListRecipes' provider.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from personalize_local import synthetic
from personalize_local.recipes import ITEM_AFFINITY

from .conftest import RECIPE_ARN, ROLE_ARN, build_group, make_clients, train_version, unique, wait_for


def error_code(call: Callable[[], Any]) -> str | None:
    try:
        call()
    except ClientError as error:
        return error.response["Error"]["Code"]
    return None


def gone(describe: Callable[[], Any], timeout: float = 10.0) -> bool:
    """Whether describe answers ResourceNotFoundException within the timeout (DELETE PENDING comes first)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if error_code(describe) == "ResourceNotFoundException":
            return True
        time.sleep(0.02)
    return False


def test_create_keeps_what_the_request_gave(shop):
    p = shop.clients.personalize
    name = unique("kept")
    group_arn = p.create_dataset_group(name=name, roleArn=ROLE_ARN)["datasetGroupArn"]
    group = wait_for(lambda: p.describe_dataset_group(datasetGroupArn=group_arn)["datasetGroup"])
    assert group_arn.endswith(f":dataset-group/{name}")
    assert (group["name"], group["roleArn"]) == (name, ROLE_ARN)
    assert [g["name"] for g in p.list_dataset_groups()["datasetGroups"] if g["datasetGroupArn"] == group_arn] == [name]

    schema_name = unique("items")
    schema_arn = p.create_schema(name=schema_name, schema=synthetic.schema_text("Items"))["schemaArn"]
    assert p.describe_schema(schemaArn=schema_arn)["schema"]["name"] == schema_name
    dataset_arn = p.create_dataset(
        name=f"{name}-items", schemaArn=schema_arn, datasetGroupArn=group_arn, datasetType="items"
    )["datasetArn"]
    dataset = wait_for(lambda: p.describe_dataset(datasetArn=dataset_arn)["dataset"])
    assert dataset_arn.endswith("/ITEMS")
    assert (dataset["name"], dataset["datasetType"]) == (f"{name}-items", "Items")
    assert (dataset["schemaArn"], dataset["datasetGroupArn"]) == (schema_arn, group_arn)

    job_name = unique("import")
    job_arn = p.create_dataset_import_job(
        jobName=job_name, datasetArn=dataset_arn, dataSource={"dataLocation": "s3://nowhere/x.csv"}, roleArn=ROLE_ARN
    )["datasetImportJobArn"]
    job = p.describe_dataset_import_job(datasetImportJobArn=job_arn)["datasetImportJob"]
    assert (job["jobName"], job["roleArn"], job["datasetArn"]) == (job_name, ROLE_ARN, dataset_arn)

    tracker_name, filter_name, solution_name = unique("tracker"), unique("filter"), unique("solution")
    tracker_arn = p.create_event_tracker(name=tracker_name, datasetGroupArn=group_arn)["eventTrackerArn"]
    assert p.describe_event_tracker(eventTrackerArn=tracker_arn)["eventTracker"]["name"] == tracker_name
    expression = 'INCLUDE ItemID WHERE Items.CUP_SIZE IN ("B")'
    filter_arn = p.create_filter(name=filter_name, datasetGroupArn=group_arn, filterExpression=expression)["filterArn"]
    described_filter = p.describe_filter(filterArn=filter_arn)["filter"]
    assert (described_filter["name"], described_filter["datasetGroupArn"]) == (filter_name, group_arn)
    # The expression is checked against the Items schema of the group given: a group without Items refuses it.
    assert (
        error_code(
            lambda: p.create_filter(name=unique("f"), datasetGroupArn=shop_less_group(p), filterExpression=expression)
        )
        == "InvalidInputException"
    )
    solution_arn = p.create_solution(
        name=solution_name, datasetGroupArn=group_arn, recipeArn="arn:aws:personalize:::recipe/aws-popularity-count"
    )["solutionArn"]
    solution = p.describe_solution(solutionArn=solution_arn)["solution"]
    assert (solution["name"], solution["datasetGroupArn"]) == (solution_name, group_arn)
    assert solution["performAutoTraining"] is False  # it never trains on its own locally

    campaign_name = unique("campaign")
    campaign_arn = p.create_campaign(
        name=campaign_name, solutionVersionArn=shop.version["solutionVersionArn"], minProvisionedTPS=3
    )["campaignArn"]
    campaign = p.describe_campaign(campaignArn=campaign_arn)["campaign"]
    assert (campaign["name"], campaign["minProvisionedTPS"]) == (campaign_name, 3)

    batch_name = unique("batch")
    batch_arn = p.create_batch_inference_job(
        jobName=batch_name,
        solutionVersionArn=shop.version["solutionVersionArn"],
        jobInput={"s3DataSource": {"path": "s3://nowhere/in.json"}},
        jobOutput={"s3DataDestination": {"path": "s3://nowhere/out/"}},
        roleArn=ROLE_ARN,
    )["batchInferenceJobArn"]
    batch = p.describe_batch_inference_job(batchInferenceJobArn=batch_arn)["batchInferenceJob"]
    assert (batch["jobName"], batch["roleArn"]) == (batch_name, ROLE_ARN)
    deletion_name = unique("deletion")
    deletion_arn = p.create_data_deletion_job(
        jobName=deletion_name,
        datasetGroupArn=group_arn,
        dataSource={"dataLocation": "s3://nowhere/u.csv"},
        roleArn=ROLE_ARN,
    )["dataDeletionJobArn"]
    assert p.describe_data_deletion_job(dataDeletionJobArn=deletion_arn)["dataDeletionJob"]["jobName"] == deletion_name


def shop_less_group(p: Any) -> str:
    """A new ACTIVE dataset group with no datasets."""
    arn = p.create_dataset_group(name=unique("empty"))["datasetGroupArn"]
    wait_for(lambda: p.describe_dataset_group(datasetGroupArn=arn)["datasetGroup"])
    return arn


def test_describe_answers_for_the_arn_given(shop):
    p = shop.clients.personalize
    tracker_arn = p.create_event_tracker(name=unique("tracker"), datasetGroupArn=shop.group.arn)["eventTrackerArn"]
    filter_arn = p.create_filter(
        name=unique("filter"),
        datasetGroupArn=shop.group.arn,
        filterExpression='EXCLUDE ItemID WHERE Items.WIRE IN ("True")',
    )["filterArn"]
    import_arn = p.list_dataset_import_jobs(datasetArn=shop.group.datasets["Users"])["datasetImportJobs"][0][
        "datasetImportJobArn"
    ]
    cases = [
        (p.describe_schema, "schemaArn", "schema", shop.group.schemas["Items"]),
        (p.describe_dataset_group, "datasetGroupArn", "datasetGroup", shop.group.arn),
        (p.describe_dataset, "datasetArn", "dataset", shop.group.datasets["Users"]),
        (p.describe_dataset_import_job, "datasetImportJobArn", "datasetImportJob", import_arn),
        (p.describe_solution, "solutionArn", "solution", shop.solution_arn),
        (p.describe_solution_version, "solutionVersionArn", "solutionVersion", shop.version["solutionVersionArn"]),
        (p.describe_campaign, "campaignArn", "campaign", shop.campaign_arn),
        (p.describe_event_tracker, "eventTrackerArn", "eventTracker", tracker_arn),
        (p.describe_filter, "filterArn", "filter", filter_arn),
        (p.describe_recipe, "recipeArn", "recipe", ITEM_AFFINITY),
    ]
    for describe, member, key, arn in cases:
        assert describe(**{member: arn})[key][member] == arn, member
        assert error_code(lambda d=describe, m=member, a=arn: d(**{m: a + "-missing"})) == "ResourceNotFoundException"
    users = p.describe_dataset(datasetArn=shop.group.datasets["Users"])["dataset"]
    items = p.describe_dataset(datasetArn=shop.group.datasets["Items"])["dataset"]
    assert (users["datasetType"], items["datasetType"]) == ("Users", "Items")


def test_delete_removes_the_resource_given(shop):
    p = shop.clients.personalize
    group = build_group(shop.clients)
    tracker_arn = p.create_event_tracker(name=unique("tracker"), datasetGroupArn=group.arn)["eventTrackerArn"]
    solution_arn = p.create_solution(
        name=unique("solution"),
        datasetGroupArn=group.arn,
        recipeArn="arn:aws:personalize:::recipe/aws-user-personalization",
    )["solutionArn"]
    wait_for(lambda: p.describe_event_tracker(eventTrackerArn=tracker_arn)["eventTracker"])
    wait_for(lambda: p.describe_solution(solutionArn=solution_arn)["solution"])
    p.delete_event_tracker(eventTrackerArn=tracker_arn)
    assert gone(lambda: p.describe_event_tracker(eventTrackerArn=tracker_arn))
    p.delete_solution(solutionArn=solution_arn)
    assert gone(lambda: p.describe_solution(solutionArn=solution_arn))
    p.delete_dataset(datasetArn=group.datasets["Items"])
    assert gone(lambda: p.describe_dataset(datasetArn=group.datasets["Items"]))
    # Only the dataset given: the group's others stay.
    assert p.describe_dataset(datasetArn=group.datasets["Users"])["dataset"]["status"] == "ACTIVE"
    assert error_code(lambda: p.delete_dataset_group(datasetGroupArn=group.arn)) == "ResourceInUseException"
    for dataset_type in ("Users", "Interactions"):
        p.delete_dataset(datasetArn=group.datasets[dataset_type])
        assert gone(lambda t=dataset_type: p.describe_dataset(datasetArn=group.datasets[t]))
    p.delete_schema(schemaArn=group.schemas["Items"])
    assert gone(lambda: p.describe_schema(schemaArn=group.schemas["Items"]))
    assert p.describe_schema(schemaArn=group.schemas["Users"])["schema"]["schemaArn"] == group.schemas["Users"]
    p.delete_dataset_group(datasetGroupArn=group.arn)
    assert gone(lambda: p.describe_dataset_group(datasetGroupArn=group.arn))


def paged(call: Callable[..., dict[str, Any]], key: str, arn_key: str, **params: Any) -> list[str]:
    """Every ARN of a listing, read one per page through nextToken."""
    arns: list[str] = []
    token = None
    while True:
        page = call(maxResults=1, **params, **({"nextToken": token} if token else {}))
        assert len(page[key]) <= 1
        arns += [entry[arn_key] for entry in page[key]]
        token = page.get("nextToken")
        if not token:
            return arns


def test_list_keeps_the_parents_resources_and_pages(shop):
    p, version_arn = shop.clients.personalize, shop.version["solutionVersionArn"]
    other = build_group(shop.clients)
    other_solution = p.create_solution(
        name=unique("other"),
        datasetGroupArn=other.arn,
        recipeArn="arn:aws:personalize:::recipe/aws-user-personalization",
    )["solutionArn"]
    trackers, filters = {}, {}
    for group_arn in (shop.group.arn, other.arn):
        if not p.list_event_trackers(datasetGroupArn=group_arn)["eventTrackers"]:
            p.create_event_tracker(name=unique("tracker"), datasetGroupArn=group_arn)
        trackers[group_arn] = {
            t["eventTrackerArn"] for t in p.list_event_trackers(datasetGroupArn=group_arn)["eventTrackers"]
        }
        filters[group_arn] = p.create_filter(
            name=unique("filter"),
            datasetGroupArn=group_arn,
            filterExpression='EXCLUDE ItemID WHERE Items.WIRE IN ("True")',
        )["filterArn"]
    deletions = {
        p.create_data_deletion_job(
            jobName=unique("deletion"),
            datasetGroupArn=other.arn,
            dataSource={"dataLocation": "s3://nowhere/u.csv"},
            roleArn=ROLE_ARN,
        )["dataDeletionJobArn"]
        for _ in range(2)
    }
    campaign = p.create_campaign(name=unique("campaign"), solutionVersionArn=version_arn)["campaignArn"]
    io = {
        "jobInput": {"s3DataSource": {"path": "s3://nowhere/in.json"}},
        "jobOutput": {"s3DataDestination": {"path": "s3://nowhere/out/"}},
        "roleArn": ROLE_ARN,
    }
    inferences = {
        p.create_batch_inference_job(jobName=unique("infer"), solutionVersionArn=version_arn, **io)[
            "batchInferenceJobArn"
        ]
        for _ in range(2)
    }
    affinity = p.create_solution(name=unique("affinity"), datasetGroupArn=shop.group.arn, recipeArn=ITEM_AFFINITY)[
        "solutionArn"
    ]
    wait_for(lambda: p.describe_solution(solutionArn=affinity)["solution"])
    affinity_version = train_version(shop.clients, affinity)["solutionVersionArn"]
    segments = {
        p.create_batch_segment_job(jobName=unique("segment"), solutionVersionArn=affinity_version, **io)[
            "batchSegmentJobArn"
        ]
        for _ in range(2)
    }
    shop_items_imports = {
        job["datasetImportJobArn"]
        for job in p.list_dataset_import_jobs()["datasetImportJobs"]
        if p.describe_dataset_import_job(datasetImportJobArn=job["datasetImportJobArn"])["datasetImportJob"][
            "datasetArn"
        ]
        == shop.group.datasets["Items"]
    }

    cases = [
        (p.list_dataset_groups, "datasetGroups", "datasetGroupArn", {}, None),
        (p.list_schemas, "schemas", "schemaArn", {}, None),
        (p.list_datasets, "datasets", "datasetArn", {"datasetGroupArn": other.arn}, set(other.datasets.values())),
        (
            p.list_dataset_import_jobs,
            "datasetImportJobs",
            "datasetImportJobArn",
            {"datasetArn": shop.group.datasets["Items"]},
            shop_items_imports,
        ),
        (
            p.list_data_deletion_jobs,
            "dataDeletionJobs",
            "dataDeletionJobArn",
            {"datasetGroupArn": other.arn},
            deletions,
        ),
        (p.list_solutions, "solutions", "solutionArn", {"datasetGroupArn": other.arn}, {other_solution}),
        (
            p.list_solution_versions,
            "solutionVersions",
            "solutionVersionArn",
            {"solutionArn": affinity},
            {affinity_version},
        ),
        (p.list_campaigns, "campaigns", "campaignArn", {"solutionArn": other_solution}, set()),
        (
            p.list_event_trackers,
            "eventTrackers",
            "eventTrackerArn",
            {"datasetGroupArn": other.arn},
            trackers[other.arn],
        ),
        (p.list_filters, "Filters", "filterArn", {"datasetGroupArn": other.arn}, {filters[other.arn]}),
        (
            p.list_batch_inference_jobs,
            "batchInferenceJobs",
            "batchInferenceJobArn",
            {"solutionVersionArn": affinity_version},
            set(),  # the batch inference jobs run on the other version
        ),
        (
            p.list_batch_segment_jobs,
            "batchSegmentJobs",
            "batchSegmentJobArn",
            {"solutionVersionArn": version_arn},
            set(),  # the batch segment jobs run on the Item-Affinity version
        ),
    ]
    listed = p.list_batch_inference_jobs(solutionVersionArn=version_arn)["batchInferenceJobs"]
    assert inferences <= {job["batchInferenceJobArn"] for job in listed}
    listed = p.list_batch_segment_jobs(solutionVersionArn=affinity_version)["batchSegmentJobs"]
    assert {job["batchSegmentJobArn"] for job in listed} == segments
    assert campaign in {c["campaignArn"] for c in p.list_campaigns(solutionArn=shop.solution_arn)["campaigns"]}
    for call, key, arn_key, parent, expected in cases:
        everything = [entry[arn_key] for entry in call()[key]]
        assert len(everything) >= 2, key
        # One per page, following nextToken, gives the whole listing in the same order (newest first).
        assert paged(call, key, arn_key) == everything, key
        if parent:
            only = {entry[arn_key] for entry in call(**parent)[key]}
            assert only == expected, key
            assert only != set(everything), key
    with pytest.raises(ClientError) as excinfo:
        p.list_schemas(nextToken="not-a-token")
    assert excinfo.value.response["Error"]["Code"] == "InvalidNextTokenException"


def test_a_synced_campaign_follows_the_new_version(shop):
    p = shop.clients.personalize
    synced = p.create_campaign(
        name=unique("synced"),
        solutionVersionArn=f"{shop.solution_arn}/$LATEST",
        campaignConfig={"syncWithLatestSolutionVersion": True},
    )["campaignArn"]
    fixed = p.create_campaign(name=unique("fixed"), solutionVersionArn=f"{shop.solution_arn}/$LATEST")["campaignArn"]
    before = {arn: wait_for(lambda a=arn: p.describe_campaign(campaignArn=a)["campaign"]) for arn in (synced, fixed)}
    assert before[synced]["solutionVersionArn"] == before[fixed]["solutionVersionArn"]
    name = unique("named")
    arn = p.create_solution_version(solutionArn=shop.solution_arn, name=name)["solutionVersionArn"]
    newer = wait_for(lambda: p.describe_solution_version(solutionVersionArn=arn)["solutionVersion"], timeout=60)
    assert (newer["status"], newer["name"]) == ("ACTIVE", name)
    deadline = time.monotonic() + 10
    while p.describe_campaign(campaignArn=synced)["campaign"]["solutionVersionArn"] != arn:
        assert time.monotonic() < deadline, "the synced campaign never moved to the new version"
        time.sleep(0.02)
    assert (
        p.describe_campaign(campaignArn=fixed)["campaign"]["solutionVersionArn"] == before[fixed]["solutionVersionArn"]
    )


def test_list_recipes_of_the_service_provider(start_endpoint, tmp_path):
    p = make_clients(start_endpoint(tmp_path).url).personalize
    every = p.list_recipes()["recipes"]
    assert "arn:aws:personalize:::recipe/aws-user-personalization" in {r["recipeArn"] for r in every}
    assert p.list_recipes(recipeProvider="SERVICE")["recipes"] == every


def test_update_campaign_changes_its_capacity_and_exploration(shop):
    p, runtime = shop.clients.personalize, shop.clients.runtime
    arn = p.create_campaign(
        name=unique("updated"),
        solutionVersionArn=shop.version["solutionVersionArn"],
        campaignConfig={"itemExplorationConfig": {"explorationWeight": "0", "explorationItemAgeCutOff": "5"}},
    )["campaignArn"]
    assert wait_for(lambda: p.describe_campaign(campaignArn=arn)["campaign"])["status"] == "ACTIVE"

    def explored() -> set[str]:
        answer = runtime.get_recommendations(campaignArn=arn, userId="u1", numResults=20)["itemList"]
        return {item["itemId"] for item in answer} & set(shop.new_items)

    assert not explored()
    p.update_campaign(
        campaignArn=arn,
        minProvisionedTPS=4,
        campaignConfig={"itemExplorationConfig": {"explorationWeight": "1", "explorationItemAgeCutOff": "5"}},
    )
    update = wait_for(lambda: p.describe_campaign(campaignArn=arn)["campaign"]["latestCampaignUpdate"])
    assert update["status"] == "ACTIVE"
    campaign = p.describe_campaign(campaignArn=arn)["campaign"]
    assert campaign["minProvisionedTPS"] == 4
    assert explored()


def test_solution_settings_and_event_values_choose_what_trains(shop):
    """eventType and eventValueThreshold select the streamed events by the type and value PutEvents gave them."""
    p, events = shop.clients.personalize, shop.clients.events
    group = build_group(shop.clients)
    tracker = p.create_event_tracker(name=unique("tracker"), datasetGroupArn=group.arn)
    wait_for(lambda: p.describe_event_tracker(eventTrackerArn=tracker["eventTrackerArn"])["eventTracker"])
    now = time.time()
    for user in range(30):
        # Per user: 15 events valued 50 (10 of them purchases) and 15 valued 5 (all clicks); 900 in all, too few
        # to train on, so every version fails with the count of events it selected.
        batch = [
            {
                "eventType": "purchase" if n < 10 else "click",
                "itemId": f"i{(user + n) % 60}",
                "sentAt": now - 1000 + n,
                "eventValue": 50.0 if n < 15 else 5.0,
            }
            for n in range(30)
        ]
        for start in range(0, 30, 10):
            events.put_events(
                trackingId=tracker["trackingId"],
                sessionId=f"s{user}",
                userId=f"u{user}",
                eventList=batch[start : start + 10],
            )

    def trained_on(**settings: Any) -> str:
        """The failure reason of a version of a solution with these settings (too little data for any of them)."""
        arn = p.create_solution(name=unique("sel"), datasetGroupArn=group.arn, recipeArn=RECIPE_ARN, **settings)[
            "solutionArn"
        ]
        wait_for(lambda: p.describe_solution(solutionArn=arn)["solution"])
        version = train_version(shop.clients, arn)
        assert version["status"] == "CREATE FAILED"
        return version["failureReason"]

    assert "Number of interactions (900)" in trained_on()
    assert "Number of interactions (300)" in trained_on(eventType="purchase")
    assert "Number of interactions (450)" in trained_on(solutionConfig={"eventValueThreshold": "30"})
    assert "Number of interactions (0)" in trained_on(solutionConfig={"eventValueThreshold": "60"})


def test_the_recipe_decides_how_versions_rank(shop):
    p = shop.clients.personalize
    popular = p.create_solution(
        name=unique("popular"),
        datasetGroupArn=shop.group.arn,
        recipeArn="arn:aws:personalize:::recipe/aws-popularity-count",
    )["solutionArn"]
    wait_for(lambda: p.describe_solution(solutionArn=popular)["solution"])
    version = train_version(shop.clients, popular)
    assert version["status"] == "ACTIVE", version.get("failureReason")
    metric = "normalized_discounted_cumulative_gain_at_25"
    by_popularity = p.get_solution_metrics(solutionVersionArn=version["solutionVersionArn"])["metrics"][metric]
    by_als = p.get_solution_metrics(solutionVersionArn=shop.version["solutionVersionArn"])["metrics"][metric]
    assert by_als > by_popularity > 0
