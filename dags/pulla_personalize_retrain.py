"""
### Pulla → Personalize: retrain, evaluate, deploy only when the metrics hold

**What it does.** Every Sunday at 04:00 in the configured time zone (after the daily import) and whenever an ML
engineer triggers it, it trains a new version of the User-Personalization solution, compares its offline metrics
with the version the campaign serves, and moves the campaign to the new version only when the quality gate passes.

| task | does |
| --- | --- |
| `read_config` | reads and checks the pipeline configuration once; every later task uses this copy |
| `prepare_retrain` | finds the solution and campaign by name, builds the gate rule |
| `train_solution_version` | CreateSolutionVersion (FULL or UPDATE), deferred until ACTIVE; fails with the reason |
| `evaluate_gate` | metrics of the new and the live version: `{deploy, reason, new_metrics, live_metrics}` |
| `choose_deployment` | branches: `create_campaign` (first version), `update_campaign`, or `keep_live_version` |
| `record_metrics` | appends to `metrics/history.jsonl` on S3, redraws `metrics/history.png` (task link: the chart) |

**The gate.** By default a version is deployed when NDCG@25 and precision@25 are each at least 98% of the live
version's (`quality_gate.min_ratios` in the config), and always when nothing is live. The `evaluate_gate` log ends
with both versions' metrics, the decision and its reason; `create_campaign`, `update_campaign` or
`keep_live_version` says whether the version was deployed, and `record_metrics` where the history and chart are.

**When Personalize is not set up** (no dataset group, datasets or solution of the configured names)
`prepare_retrain` fails at once, without retries, and says so: run `pulla_personalize_setup` first.

**Trigger with the form**: `training_mode` FULL (retrain on everything) or UPDATE (only adds new items to the
latest FULL version), `force_deploy` (skip the gate, e.g. to roll back by hand), and per-run gate ratios.
CLI: `airflow dags trigger pulla_personalize_retrain -c '{"training_mode": "FULL", "force_deploy": false}'`.

**Reads** the `aws_default` connection and the config. **Writes** a solution version, the campaign, and
`metrics/` on S3. A rerun adopts a version that is still training instead of starting a second one.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import CronTriggerTimetable, Param, TriggerRule, dag, task

from personalize_provider.operators.personalize import (
    PersonalizeCreateSolutionVersionOperator,
    PersonalizeEnsureCampaignOperator,
    PersonalizeEvaluateSolutionVersionOperator,
    PersonalizeUpdateCampaignOperator,
)
from pulla_airflow import xcom_contract as keys
from pulla_airflow.dag_policy import AWS_CONN_ID, TIME_ZONE, Tag, dag_failure_callbacks, default_args
from pulla_airflow.operators import RecordSolutionMetricsOperator
from pulla_airflow.tasklog import (
    campaign_created_summary,
    campaign_updated_summary,
    gate_summary,
    summary_hook,
    training_summary,
)

#: The task that carries out each of the gate's actions (``plans.deployment_action``).
DEPLOYMENT_TASKS = {"create": "create_campaign", "update": "update_campaign", "keep": "keep_live_version"}


@dag(
    dag_id="pulla_personalize_retrain",
    description=f"Sundays 04:00 {TIME_ZONE}, or by hand: retrain the recommender; deploy only if its metrics hold",
    schedule=CronTriggerTimetable("0 4 * * 0", timezone=TIME_ZONE),
    start_date=pendulum.datetime(2026, 11, 1, tz=TIME_ZONE),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=12),
    default_args=default_args(),
    on_failure_callback=dag_failure_callbacks(),
    tags=[Tag.PERSONALIZE, Tag.TRAINING, Tag.TIER_1],
    doc_md=__doc__,
    params={
        "training_mode": Param(
            "FULL",
            enum=["FULL", "UPDATE"],
            title="Training mode",
            description="FULL retrains on all data; UPDATE only adds new items to the latest FULL version.",
        ),
        "force_deploy": Param(
            False,
            type="boolean",
            title="Force deploy",
            description="Deploy the new version even if the quality gate says keep the live one.",
        ),
        "min_ndcg_ratio": Param(
            None,
            type=["null", "number"],
            exclusiveMinimum=0,
            title="Minimum NDCG@25 ratio",
            description="New/live NDCG@25 needed to deploy (e.g. 0.98). Empty: the configured rule.",
        ),
        "min_precision_ratio": Param(
            None,
            type=["null", "number"],
            exclusiveMinimum=0,
            title="Minimum precision@25 ratio",
            description="New/live precision@25 needed to deploy (e.g. 0.98). Empty: the configured rule.",
        ),
    },
)
def pulla_personalize_retrain():
    # Each task logs a summary (pulla_airflow.summaries) instead of Airflow's dump of the returned dict.
    @task
    def read_config() -> dict:
        from pulla_airflow.run_config import read_run_config

        return read_run_config()

    @task(multiple_outputs=True, show_return_value_in_logs=False)
    def prepare_retrain(config: dict, params=None) -> dict:
        from personalize_provider.hooks.personalize import PersonalizeHook
        from pulla_airflow.plans import retrain_values
        from pulla_airflow.resources import resolve_resources
        from pulla_airflow.run_config import run_config
        from pulla_airflow.summaries import describe_retrain_plan
        from pulla_airflow.tasklog import fail_without_retry, log_summary

        config = run_config(config)
        with fail_without_retry():  # Personalize not set up yet: retrying cannot help
            resources = resolve_resources(PersonalizeHook(aws_conn_id=AWS_CONN_ID), config, require_solution=True)
        values = retrain_values(config, resources, params)
        log_summary(describe_retrain_plan(values))
        return values

    @task.branch
    def choose_deployment(decision: dict, campaign_arn: str | None) -> str:
        from pulla_airflow.plans import deployment_action

        return DEPLOYMENT_TASKS[deployment_action(decision, campaign_arn)]

    @task(show_return_value_in_logs=False)
    def keep_live_version(decision: dict) -> str:
        from pulla_airflow.summaries import describe_kept
        from pulla_airflow.tasklog import log_summary

        log_summary(describe_kept(decision))
        return decision["reason"]

    config = read_config()
    plan = prepare_retrain(config)
    version = PersonalizeCreateSolutionVersionOperator(
        task_id="train_solution_version",
        aws_conn_id=AWS_CONN_ID,
        solution_arn=plan[keys.SOLUTION_ARN],
        training_mode=plan[keys.TRAINING_MODE],
        deferrable=True,
        execution_timeout=timedelta(hours=10),
        post_execute=summary_hook(training_summary),
    )
    decision = PersonalizeEvaluateSolutionVersionOperator(
        task_id="evaluate_gate",
        aws_conn_id=AWS_CONN_ID,
        solution_version_arn=version.output,
        campaign_arn=plan[keys.CAMPAIGN_ARN],
        min_ratios=plan[keys.MIN_RATIOS],
        force_deploy=plan[keys.FORCE_DEPLOY],
        deferrable=True,
        post_execute=summary_hook(gate_summary),
    )
    create = PersonalizeEnsureCampaignOperator(
        task_id=DEPLOYMENT_TASKS["create"],
        aws_conn_id=AWS_CONN_ID,
        name=plan[keys.CAMPAIGN_NAME],
        solution_version_arn=version.output,
        min_provisioned_tps=plan[keys.MIN_PROVISIONED_TPS],
        campaign_config=plan[keys.CAMPAIGN_CONFIG],
        deferrable=True,
        post_execute=summary_hook(campaign_created_summary),
    )
    update = PersonalizeUpdateCampaignOperator(
        task_id=DEPLOYMENT_TASKS["update"],
        aws_conn_id=AWS_CONN_ID,
        campaign_arn=plan[keys.CAMPAIGN_ARN],
        solution_version_arn=version.output,
        campaign_config=plan[keys.CAMPAIGN_CONFIG],
        deferrable=True,
        post_execute=summary_hook(campaign_updated_summary),
    )
    keep = keep_live_version.override(task_id=DEPLOYMENT_TASKS["keep"])(decision.output)
    record = RecordSolutionMetricsOperator(
        task_id="record_metrics",
        decision=decision.output,
        config=config,
        trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS,
    )
    choose_deployment(decision.output, plan[keys.CAMPAIGN_ARN]) >> [create, update, keep]
    [create, update, keep] >> record


pulla_personalize_retrain()
