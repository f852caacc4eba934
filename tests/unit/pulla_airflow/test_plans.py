"""The flat values the DAGs hand to operators: setup values, the daily import plan, the retrain plan."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pulla_airflow.plans import daily_values, import_jobs, retrain_values, setup_values
from pulla_airflow.resources import expected_campaign_arn
from pulla_personalize.pipeline_config import PipelineConfig
from pulla_personalize.windows import plan_window

SEOUL = "Asia/Seoul"
FULL_HISTORY = {"window_start": "2026-01-01", "window_end": "2026-11-28", "full_reload": True}


def test_setup_values(config: PipelineConfig) -> None:
    values = setup_values(config)
    assert values["dataset_group"] == "pulla"
    assert values["solution_config"] is None  # an empty mapping means: the recipe's defaults
    assert values["users_schema"] == "pulla-users-v1"
    assert values["items_dataset"] == "pulla-items"
    assert values["interactions_schema_path"].endswith("interactions.json")
    assert [item["name"] for item in values["filters"]] == ["pulla-exclude-purchased", "pulla-in-my-size"]
    assert values["filters"][1]["filter_expression"].startswith("INCLUDE ItemID WHERE Items.CUP_SIZE")


def test_daily_values(config: PipelineConfig) -> None:
    window = plan_window(datetime(2026, 11, 27, 18, 0, tzinfo=UTC), {}, SEOUL)
    resources = {f"{kind}_dataset_arn": f"arn:dataset/{kind}" for kind in ("interactions", "users", "items")}
    fingerprints = {"interactions": "aaaaaaaa", "users": "bbbbbbbb", "items": "cccccccc"}
    values = daily_values(config, resources, window, import_jobs(config, window, fingerprints))
    assert values["label"] == "20261127"
    assert values["role_arn"] == config.personalize.role_arn
    assert values["interactions_import_mode"] == "INCREMENTAL"
    assert values["interactions_job_name"] == "pulla-interactions-20261127-incremental-aaaaaaaa"
    assert values["users_job_name"] == "pulla-users-20261127-full-bbbbbbbb"
    assert values["items_dataset_arn"] == "arn:dataset/items"
    reload_window = plan_window(datetime(2026, 11, 27, 18, 0, tzinfo=UTC), FULL_HISTORY, SEOUL)
    reload_values = daily_values(config, resources, reload_window, import_jobs(config, reload_window, fingerprints))
    assert reload_values["interactions_job_name"] == "pulla-interactions-20260101-20261128-full-aaaaaaaa"


RESOURCES = {"solution_arn": "arn:solution/pulla", "campaign_arn": "arn:campaign/pulla"}


def test_retrain_values_defaults(config: PipelineConfig) -> None:
    values = retrain_values(config, RESOURCES, {})
    assert values == {
        "solution_arn": "arn:solution/pulla",
        "campaign_arn": "arn:campaign/pulla",
        "campaign_name": "pulla-campaign",
        "campaign_config": config.personalize.campaign.campaign_config(),
        "min_provisioned_tps": 1,
        "training_mode": "FULL",
        "force_deploy": False,
        "min_ratios": config.min_ratios,
    }


def test_retrain_form_overrides(config: PipelineConfig) -> None:
    params = {"training_mode": "update", "force_deploy": True, "min_ndcg_ratio": 0.9, "min_precision_ratio": 0.5}
    values = retrain_values(config, RESOURCES, params)
    assert values["training_mode"] == "UPDATE"
    assert values["force_deploy"] is True
    assert values["min_ratios"] == {"normalized_discounted_cumulative_gain_at_25": 0.9, "precision_at_25": 0.5}
    # The configuration itself is not changed by a run's form.
    assert config.min_ratios["precision_at_25"] == 0.98
    only_one = retrain_values(config, RESOURCES, {"min_precision_ratio": 1.1, "min_ndcg_ratio": None})
    assert only_one["min_ratios"] == {"normalized_discounted_cumulative_gain_at_25": 0.98, "precision_at_25": 1.1}


def test_expected_campaign_arn() -> None:
    group = "arn:aws:personalize:ap-northeast-2:123456789012:dataset-group/pulla"
    assert expected_campaign_arn(group, "pulla-campaign") == (
        "arn:aws:personalize:ap-northeast-2:123456789012:campaign/pulla-campaign"
    )


@pytest.mark.parametrize("ratio", [0, -0.5])
def test_a_bad_gate_ratio_from_the_form_fails_before_training(config: PipelineConfig, ratio: float) -> None:
    with pytest.raises(ValueError, match="positive number"):
        retrain_values(config, RESOURCES, {"min_ndcg_ratio": ratio})
