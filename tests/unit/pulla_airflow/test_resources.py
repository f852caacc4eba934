"""resolve_resources against a PersonalizeHook whose real boto3 client is wrapped in botocore's Stubber: every
request is checked against the Personalize API model, and every queued response must be used."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from botocore.stub import Stubber

from personalize_provider.hooks.personalize import PersonalizeHook
from pulla_airflow.failures import PermanentFailure, SetupMissing
from pulla_airflow.plans import plan_imports
from pulla_airflow.resources import resolve_resources
from pulla_personalize.pipeline_config import PipelineConfig

from .conftest import REGION

ACCOUNT = "123456789012"
CREATED = "2026-11-01T00:00:00Z"


def arn(resource: str) -> str:
    return f"arn:aws:personalize:{REGION}:{ACCOUNT}:{resource}"


GROUP_ARN = arn("dataset-group/pulla")
SOLUTION_ARN = arn("solution/pulla-user-personalization")


@pytest.fixture
def hook() -> Iterator[tuple[PersonalizeHook, Stubber]]:
    hook = PersonalizeHook(aws_conn_id=None, region_name=REGION)
    with Stubber(hook.conn) as stubber:
        yield hook, stubber
        stubber.assert_no_pending_responses()


def add_groups(stubber: Stubber, names: list[str]) -> None:
    groups = [{"name": name, "datasetGroupArn": arn(f"dataset-group/{name}"), "status": "ACTIVE"} for name in names]
    # Two pages: the lookup must follow nextToken.
    stubber.add_response("list_dataset_groups", {"datasetGroups": groups[:1], "nextToken": "page-2"}, {})
    stubber.add_response("list_dataset_groups", {"datasetGroups": groups[1:]}, {"nextToken": "page-2"})


def add_datasets(stubber: Stubber, config: PipelineConfig) -> None:
    datasets = [
        {"name": name, "datasetArn": arn(f"dataset/pulla/{kind.upper()}"), "datasetType": kind, "status": "ACTIVE"}
        for kind, name in config.personalize.datasets.items()
    ]
    for _kind in config.personalize.datasets:  # one listing per dataset looked up
        stubber.add_response("list_datasets", {"datasets": datasets}, {"datasetGroupArn": GROUP_ARN})


def test_all_found(hook: tuple[PersonalizeHook, Stubber], config: PipelineConfig) -> None:
    personalize, stubber = hook
    add_groups(stubber, ["other-shop", "pulla"])
    add_datasets(stubber, config)
    stubber.add_response(
        "list_solutions",
        {"solutions": [{"name": "pulla-user-personalization", "solutionArn": SOLUTION_ARN, "status": "ACTIVE"}]},
        {"datasetGroupArn": GROUP_ARN},
    )
    stubber.add_response(
        "list_campaigns",
        {"campaigns": [{"name": "pulla-campaign", "campaignArn": arn("campaign/pulla-campaign"), "status": "ACTIVE"}]},
        {"solutionArn": SOLUTION_ARN},
    )

    resources = resolve_resources(personalize, config, require_solution=True)

    assert resources == {
        "dataset_group_arn": GROUP_ARN,
        "interactions_dataset_arn": arn("dataset/pulla/INTERACTIONS"),
        "users_dataset_arn": arn("dataset/pulla/USERS"),
        "items_dataset_arn": arn("dataset/pulla/ITEMS"),
        "solution_arn": SOLUTION_ARN,
        "campaign_arn": arn("campaign/pulla-campaign"),
    }


def test_no_solution_yet_is_fine_for_the_daily_run(
    hook: tuple[PersonalizeHook, Stubber], config: PipelineConfig
) -> None:
    personalize, stubber = hook
    add_groups(stubber, ["other-shop", "pulla"])
    add_datasets(stubber, config)
    stubber.add_response("list_solutions", {"solutions": []}, {"datasetGroupArn": GROUP_ARN})
    resources = resolve_resources(personalize, config)
    assert resources["solution_arn"] is None
    assert resources["campaign_arn"] is None  # no solution: no campaign lookup at all


def test_solution_without_campaign(hook: tuple[PersonalizeHook, Stubber], config: PipelineConfig) -> None:
    personalize, stubber = hook
    add_groups(stubber, ["other-shop", "pulla"])
    add_datasets(stubber, config)
    stubber.add_response(
        "list_solutions",
        {"solutions": [{"name": "pulla-user-personalization", "solutionArn": SOLUTION_ARN}]},
        {"datasetGroupArn": GROUP_ARN},
    )
    stubber.add_response("list_campaigns", {"campaigns": []}, {"solutionArn": SOLUTION_ARN})
    resources = resolve_resources(personalize, config, require_solution=True)
    assert (resources["solution_arn"], resources["campaign_arn"]) == (SOLUTION_ARN, None)


def test_missing_group_says_run_setup(hook: tuple[PersonalizeHook, Stubber], config: PipelineConfig) -> None:
    personalize, stubber = hook
    add_groups(stubber, ["other-shop", "pulla-staging"])
    with pytest.raises(SetupMissing) as raised:
        resolve_resources(personalize, config)
    assert str(raised.value) == (
        "dataset group 'pulla' does not exist: run pulla_personalize_setup first, then run this DAG again"
    )
    # A failure retrying cannot fix, with nothing more to log than its message.
    assert isinstance(raised.value, PermanentFailure)
    assert isinstance(raised.value, LookupError)
    assert raised.value.lines == []


def test_missing_dataset_is_named(hook: tuple[PersonalizeHook, Stubber], config: PipelineConfig) -> None:
    personalize, stubber = hook
    add_groups(stubber, ["other-shop", "pulla"])
    only_interactions = [{"name": "pulla-interactions", "datasetArn": arn("dataset/pulla/INTERACTIONS")}]
    stubber.add_response("list_datasets", {"datasets": only_interactions}, {"datasetGroupArn": GROUP_ARN})
    stubber.add_response("list_datasets", {"datasets": only_interactions}, {"datasetGroupArn": GROUP_ARN})
    with pytest.raises(SetupMissing, match=r"^dataset 'pulla-users' does not exist: run pulla_personalize_setup first"):
        resolve_resources(personalize, config)


def test_missing_solution_fails_the_retrain(hook: tuple[PersonalizeHook, Stubber], config: PipelineConfig) -> None:
    personalize, stubber = hook
    add_groups(stubber, ["other-shop", "pulla"])
    add_datasets(stubber, config)
    stubber.add_response("list_solutions", {"solutions": []}, {"datasetGroupArn": GROUP_ARN})
    with pytest.raises(SetupMissing, match=r"^solution 'pulla-user-personalization' does not exist: run pulla_pers"):
        resolve_resources(personalize, config, require_solution=True)


def test_a_group_deleted_under_us_is_missing_setup(
    hook: tuple[PersonalizeHook, Stubber], config: PipelineConfig
) -> None:
    # The group is listed, then gone when its datasets are listed: the service's ResourceNotFoundException.
    personalize, stubber = hook
    add_groups(stubber, ["other-shop", "pulla"])
    stubber.add_client_error(
        "list_datasets",
        "ResourceNotFoundException",
        f"Resource {GROUP_ARN} does not exist.",
        expected_params={"datasetGroupArn": GROUP_ARN},
    )
    with pytest.raises(SetupMissing) as raised:
        resolve_resources(personalize, config)
    assert str(raised.value) == (
        "dataset 'pulla-interactions' does not exist: run pulla_personalize_setup first, then run this DAG again "
        f"(Personalize says: Resource {GROUP_ARN} does not exist.)"
    )


def test_service_error_is_not_mistaken_for_missing(
    hook: tuple[PersonalizeHook, Stubber], config: PipelineConfig
) -> None:
    from botocore.exceptions import ClientError

    personalize, stubber = hook
    stubber.add_client_error("list_dataset_groups", "AccessDeniedException", "not allowed", expected_params={})
    with pytest.raises(ClientError, match="AccessDeniedException"):
        resolve_resources(personalize, config)


def add_resources_without_campaign(stubber: Stubber, config: PipelineConfig) -> None:
    add_groups(stubber, ["other-shop", "pulla"])
    add_datasets(stubber, config)
    stubber.add_response("list_solutions", {"solutions": []}, {"datasetGroupArn": GROUP_ARN})


FINGERPRINTS = {"interactions": "aaaaaaaa", "users": "bbbbbbbb", "items": "cccccccc"}
DAY = {"label": "20261127", "import_modes": {"interactions": "INCREMENTAL", "users": "FULL", "items": "FULL"}}


def job(name: str, status: str) -> dict:
    return {
        "jobName": name,
        "datasetImportJobArn": arn(f"dataset-import-job/{name}"),
        "status": status,
        "creationDateTime": CREATED,
        "lastUpdatedDateTime": CREATED,
    }


def test_plan_imports_names_jobs_after_their_data(
    hook: tuple[PersonalizeHook, Stubber], config: PipelineConfig
) -> None:
    personalize, stubber = hook
    add_resources_without_campaign(stubber, config)
    earlier_day = job("pulla-interactions-20261126-incremental-99999999", "ACTIVE")
    stubber.add_response(
        "list_dataset_import_jobs",
        {"datasetImportJobs": [earlier_day]},
        {"datasetArn": arn("dataset/pulla/INTERACTIONS")},
    )
    values = plan_imports(personalize, config, DAY, {"fingerprints": FINGERPRINTS})
    assert values["interactions_job_name"] == "pulla-interactions-20261127-incremental-aaaaaaaa"
    assert values["items_job_name"] == "pulla-items-20261127-full-cccccccc"


def test_plan_imports_refuses_a_corrected_day(hook: tuple[PersonalizeHook, Stubber], config: PipelineConfig) -> None:
    personalize, stubber = hook
    add_resources_without_campaign(stubber, config)
    imported = job("pulla-interactions-20261127-incremental-99999999", "ACTIVE")
    stubber.add_response(
        "list_dataset_import_jobs", {"datasetImportJobs": [imported]}, {"datasetArn": arn("dataset/pulla/INTERACTIONS")}
    )
    with pytest.raises(ValueError, match=r"already imported incrementally by job .*99999999"):
        plan_imports(personalize, config, DAY, {"fingerprints": FINGERPRINTS})


def test_plan_imports_on_a_dataset_gone_missing(hook: tuple[PersonalizeHook, Stubber], config: PipelineConfig) -> None:
    personalize, stubber = hook
    add_resources_without_campaign(stubber, config)
    stubber.add_client_error(
        "list_dataset_import_jobs",
        "ResourceNotFoundException",
        "Dataset does not exist.",
        expected_params={"datasetArn": arn("dataset/pulla/INTERACTIONS")},
    )
    with pytest.raises(SetupMissing, match=r"run pulla_personalize_setup first.*Personalize says: Dataset does not"):
        plan_imports(personalize, config, DAY, {"fingerprints": FINGERPRINTS})
