"""What each DAG run will do, as flat dicts for XCom: the setup values, the daily import plan, the retrain plan.

The keys are the XCom contract (:mod:`pulla_airflow.xcom_contract`); the decisions behind the values (windows,
import modes, job names) are the core's (:mod:`pulla_personalize.windows`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulla_airflow import xcom_contract as keys
from pulla_airflow.resources import lookup, resolve_resources
from pulla_airflow.run_archive import ExportSummary
from pulla_personalize.datasets import DATASET_TYPES
from pulla_personalize.pipeline_config import PipelineConfig
from pulla_personalize.windows import ImportJobName, PlannedWindow, refuse_incremental_correction


def setup_values(config: PipelineConfig) -> dict[str, Any]:
    """Everything the setup DAG's operators take, under flat keys (one XCom each)."""
    names = config.personalize
    values: dict[str, Any] = {
        keys.DATASET_GROUP: names.dataset_group,
        keys.ROLE_ARN: names.role_arn,
        keys.SOLUTION_NAME: names.solution.name,
        keys.RECIPE_ARN: names.solution.recipe_arn,
        keys.SOLUTION_CONFIG: names.solution.solution_config or None,
        keys.EVENT_TYPE: names.solution.event_type,
        keys.EVENT_TRACKER: names.event_tracker,
        keys.FILTERS: [{"name": name, "filter_expression": expr} for name, expr in sorted(names.filters.items())],
    }
    for kind in DATASET_TYPES:
        values[keys.schema_name(kind)] = names.schemas[kind]
        values[keys.schema_path(kind)] = str(names.schema_path(kind))
        values[keys.dataset_name(kind)] = names.datasets[kind]
    return values


def import_jobs(
    config: PipelineConfig, window: PlannedWindow, fingerprints: Mapping[str, str]
) -> dict[str, ImportJobName]:
    """Each dataset's import job, named after its dataset, window, mode and data."""
    return {
        kind: ImportJobName(
            config.personalize.datasets[kind], window["label"], window["import_modes"][kind], fingerprints[kind]
        )
        for kind in DATASET_TYPES
    }


def daily_values(
    config: PipelineConfig, resources: Mapping[str, Any], window: PlannedWindow, jobs: Mapping[str, ImportJobName]
) -> dict[str, Any]:
    """The daily run's plan under flat keys: the window, and per dataset its ARN, import mode and job name."""
    values: dict[str, Any] = {
        keys.WINDOW: dict(window),
        keys.LABEL: window["label"],
        keys.ROLE_ARN: config.personalize.role_arn,
    }
    for kind in DATASET_TYPES:
        values[keys.dataset_arn(kind)] = resources[keys.dataset_arn(kind)]
        values[keys.import_mode(kind)] = jobs[kind].mode
        values[keys.job_name(kind)] = str(jobs[kind])
    return values


def plan_imports(hook: Any, config: PipelineConfig, window: PlannedWindow, export: ExportSummary) -> dict:
    """Finds the datasets, names each import job after its data, and refuses an incremental correction."""
    resources = resolve_resources(hook, config)
    jobs = import_jobs(config, window, export["fingerprints"])
    for kind, job in jobs.items():
        if job.mode == "INCREMENTAL":
            dataset_arn = resources[keys.dataset_arn(kind)]
            existing = lookup(
                f"dataset {dataset_arn}", lambda arn=dataset_arn: hook.list_dataset_import_jobs(dataset_arn=arn)
            )
            refuse_incremental_correction(existing, job)
    return daily_values(config, resources, window, jobs)


def retrain_values(config: PipelineConfig, resources: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    """The retrain run's plan: what to train, where it would deploy, and the gate rule (form overrides config)."""
    min_ratios = dict(config.min_ratios)
    overrides = {
        "normalized_discounted_cumulative_gain_at_25": params.get("min_ndcg_ratio"),
        "precision_at_25": params.get("min_precision_ratio"),
    }
    for metric, ratio in overrides.items():
        if ratio is not None:
            min_ratios[metric] = float(ratio)
    from personalize_provider.gate import validate_min_ratios

    validate_min_ratios(min_ratios)  # a bad rule fails now, not after hours of training
    campaign = config.personalize.campaign
    return {
        keys.SOLUTION_ARN: resources[keys.SOLUTION_ARN],
        keys.CAMPAIGN_ARN: resources[keys.CAMPAIGN_ARN],
        keys.CAMPAIGN_NAME: campaign.name,
        keys.CAMPAIGN_CONFIG: campaign.campaign_config(),
        keys.MIN_PROVISIONED_TPS: campaign.min_provisioned_tps,
        keys.TRAINING_MODE: str(params.get("training_mode") or "FULL").upper(),
        keys.FORCE_DEPLOY: bool(params.get("force_deploy", False)),
        keys.MIN_RATIOS: min_ratios,
    }


def plan_daily_window(run_after: Any, params: Mapping[str, Any], config: PipelineConfig) -> PlannedWindow:
    """The daily run's window, cut in the configured time zone (the rules: ``pulla_personalize.windows``)."""
    from pulla_personalize.windows import plan_window

    return plan_window(run_after, params, config.time_zone)


def deployment_action(decision: Mapping[str, Any], campaign_arn: str | None) -> str:
    """``create``, ``update`` or ``keep``: what the retrain run does with the version the gate judged."""
    from pulla_personalize.windows import deployment_action as decide

    return decide(decision, campaign_arn)
