"""The Personalize resources a run works on, found by the names in the configuration, and the setup DAG's
published list of them (``setup/resources.json``, what the web team reads).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from pulla_airflow import xcom_contract as keys
from pulla_airflow.failures import SetupMissing
from pulla_airflow.s3_documents import sse_args, write_json_object
from pulla_personalize.datasets import DATASET_TYPES
from pulla_personalize.pipeline_config import PipelineConfig

SETUP_RESOURCES_KEY = "setup/resources.json"
log = logging.getLogger(__name__)


def _resource_not_found(error: Exception) -> str | None:
    """The service's message when ``error`` is Personalize's ResourceNotFoundException, else None."""
    response = getattr(error, "response", None)
    if not isinstance(response, Mapping):
        return None
    detail = response.get("Error") or {}
    if detail.get("Code") != "ResourceNotFoundException":
        return None
    return str(detail.get("Message") or "ResourceNotFoundException")


def lookup(what: str, find: Callable[[], Any]) -> Any:
    """Runs a lookup by name; the service saying a parent resource is gone means setup is missing, not a glitch."""
    try:
        return find()
    except Exception as error:
        detail = _resource_not_found(error)
        if detail is None:
            raise
        raise SetupMissing(what, f"Personalize says: {detail}") from error


def resolve_dataset_group_arn(hook: Any, config: PipelineConfig) -> str:
    """The configured dataset group's ARN; ``SetupMissing`` when the setup DAG has not created it."""
    label = f"dataset group {config.personalize.dataset_group!r}"
    group = lookup(label, lambda: hook.find_dataset_group(name=config.personalize.dataset_group))
    if group is None:
        raise SetupMissing(label)
    return group["datasetGroupArn"]


def resolve_resources(hook: Any, config: PipelineConfig, *, require_solution: bool = False) -> dict[str, Any]:
    """ARNs of the configured resources, found by name (flat keys, for XCom). Missing optional ones are None.

    A resource the setup DAG creates that is missing raises ``SetupMissing`` (retrying cannot help); other
    service errors (throttling, access denied) are raised as they are.
    """
    names = config.personalize
    group_arn = resolve_dataset_group_arn(hook, config)
    resources: dict[str, Any] = {keys.DATASET_GROUP_ARN: group_arn}
    for kind in DATASET_TYPES:
        label = f"dataset {names.datasets[kind]!r}"
        dataset = lookup(
            label, lambda kind=kind: hook.find_dataset(dataset_group_arn=group_arn, name=names.datasets[kind])
        )
        if dataset is None:
            raise SetupMissing(label)
        resources[keys.dataset_arn(kind)] = dataset["datasetArn"]
    label = f"solution {names.solution.name!r}"
    solution = lookup(label, lambda: hook.find_solution(dataset_group_arn=group_arn, name=names.solution.name))
    if solution is None and require_solution:
        raise SetupMissing(label)
    resources[keys.SOLUTION_ARN] = solution["solutionArn"] if solution else None
    campaign = hook.find_campaign(solution_arn=solution["solutionArn"], name=names.campaign.name) if solution else None
    resources[keys.CAMPAIGN_ARN] = campaign["campaignArn"] if campaign else None
    return resources


def resolve_segment_solution_arn(hook: Any, config: PipelineConfig, dataset_group_arn: str) -> str | None:
    """The item-affinity solution's ARN when ``crm.segments`` is enabled and the setup DAG has created it, else None.

    Missing while enabled (segments turned on, setup not run again yet) is a warning, not a failure: the retrain of
    the website's model must not stop for the launch audiences' solution.
    """
    solution = config.crm.segments.solution
    if not config.crm.segments.enabled or solution is None:
        return None
    label = f"solution {solution.name!r} (crm.segments)"
    found = lookup(label, lambda: hook.find_solution(dataset_group_arn=dataset_group_arn, name=solution.name))
    if found is None:
        log.warning("%s does not exist: not trained this run; run pulla_personalize_setup to create it", label)
        return None
    return found["solutionArn"]


def expected_campaign_arn(dataset_group_arn: str, campaign_name: str) -> str:
    """The campaign's ARN before it exists (ARNs are built from region, account and name)."""
    prefix, _, _ = dataset_group_arn.rpartition(":")
    return f"{prefix}:campaign/{campaign_name}"


def publish_setup_resources(*, s3_client: Any, config: PipelineConfig, resources: Mapping[str, Any]) -> dict[str, Any]:
    """What the web team needs (tracking id, campaign and filter ARNs) at a fixed key: ``setup/resources.json``."""
    document = dict(resources)
    key = config.s3.key(SETUP_RESOURCES_KEY)
    document["published_at"] = datetime.now(UTC).replace(microsecond=0).isoformat()
    document["resources_uri"] = write_json_object(s3_client, config.s3.bucket, key, document, sse_args(config))
    return document
