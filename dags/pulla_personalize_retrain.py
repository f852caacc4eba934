"""
### Pulla → Personalize: retrain, evaluate, deploy only when the metrics hold

**What it does.** Every Sunday at 04:00 in the configured time zone (after the daily import) and whenever an ML
engineer triggers it, it trains a new version of the User-Personalization solution, measures it against the
version the campaign serves (Personalize's offline metrics and the shop's own), and moves the campaign to the new
version only when the quality gate passes. With `crm.segments` enabled it also retrains the item-affinity solution
the launch audiences (`pulla_personalize_segment`) come from.

| task | does |
| --- | --- |
| `read_config` | reads and checks the pipeline configuration once; every later task uses this copy |
| `prepare_retrain` | finds the solutions and campaign by name, builds the gate rule |
| `train_solution_version` | CreateSolutionVersion (FULL or UPDATE), deferred until ACTIVE; fails with the reason |
| `evaluate_gate` | Personalize's metrics of the new and the live version, and their verdict |
| `plan_evaluation` | the evaluation sample (`quality_gate.evaluation_sample_size` members, the same for both) |
| `score_evaluation_sample` | one batch inference job per version (new, and live when there is one), deferred |
| `measure_business_metrics` | `size_fit_at_25`, `catalogue_coverage`, `new_item_share`, `already_bought_share` |
| `decide_deployment` | deploys only when Personalize's metrics and the business rules pass; says which decided |
| `choose_deployment` | branches: `create_campaign` (first version), `update_campaign`, or `keep_live_version` |
| `record_metrics` | appends to `metrics/history.jsonl` on S3, redraws `metrics/history.png` (task link: the chart) |
| `segments_enabled` → `train_segment_solution` | the item-affinity version (FULL), skipped when segments are off |

**The gate.** By default a version is deployed when NDCG@25 and precision@25 are each at least 98% of the live
version's (`quality_gate.min_ratios`) and the business rules hold (`quality_gate.business_rules`, e.g.
`size_fit_at_25` at least 0.85 and not more than 0.02 below the live version's), and always when nothing is live
and the absolute business bounds hold. The size fit is measured on the model alone (no filter): a model that has
to be filtered into her size has fewer good items left to show. The `decide_deployment` log ends with both versions'
metrics, the decision, which rule decided and why; `create_campaign`, `update_campaign` or `keep_live_version`
says whether the version was deployed, and `record_metrics` where the history and chart are. A deployment updates
the Asset `pulla_personalize.live_campaign`, which starts the CRM picks (`pulla_personalize_batch`).

**When Personalize is not set up** (no dataset group, datasets or solution of the configured names)
`prepare_retrain` fails at once, without retries, and says so: run `pulla_personalize_setup` first. Without an
export that passed its checks `plan_evaluation` fails the same way: run `pulla_personalize_daily` first.

**Trigger with the form**: `training_mode` FULL (retrain on everything) or UPDATE (only adds new items to the
latest FULL version), `force_deploy` (skip the gate, e.g. to roll back by hand), and per-run gate ratios.
CLI: `airflow dags trigger pulla_personalize_retrain -c '{"training_mode": "FULL", "force_deploy": false}'`.

**Reads** the `aws_default` connection, the config and the daily runs' archives. **Writes** solution versions, the
campaign, `crm/input/evaluation/`, `crm/output/evaluation/` and `metrics/` on S3. A rerun adopts a version that is
still training instead of starting a second one, and the evaluation jobs of the same version and sample.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import CronTriggerTimetable, Param, TriggerRule, dag, task

from personalize_provider.operators.personalize import (
    PersonalizeBatchInferenceJobOperator,
    PersonalizeCreateSolutionVersionOperator,
    PersonalizeEnsureCampaignOperator,
    PersonalizeEvaluateSolutionVersionOperator,
    PersonalizeUpdateCampaignOperator,
)
from pulla_airflow import xcom_contract as keys
from pulla_airflow.assets import LIVE_CAMPAIGN
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
        from pulla_airflow.resources import resolve_resources, resolve_segment_solution_arn
        from pulla_airflow.run_config import run_config
        from pulla_airflow.summaries import describe_retrain_plan
        from pulla_airflow.tasklog import fail_without_retry, log_summary

        config = run_config(config)
        hook = PersonalizeHook(aws_conn_id=AWS_CONN_ID)
        with fail_without_retry():  # Personalize not set up yet: retrying cannot help
            resources = resolve_resources(hook, config, require_solution=True)
            segment_solution = resolve_segment_solution_arn(hook, config, resources[keys.DATASET_GROUP_ARN])
        values = {**retrain_values(config, resources, params), keys.SEGMENT_SOLUTION_ARN: segment_solution}
        log_summary(describe_retrain_plan(values))
        return values

    @task(show_return_value_in_logs=False)
    def plan_evaluation(config: dict, solution_version_arn: str, campaign_arn: str | None, force_deploy: bool) -> dict:
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        from personalize_provider.hooks.personalize import PersonalizeHook
        from pulla_airflow.evaluation import plan_evaluation as plan
        from pulla_airflow.run_config import run_config
        from pulla_airflow.summaries import describe_evaluation_plan
        from pulla_airflow.tasklog import fail_without_retry, log_summary

        with fail_without_retry():  # no export to sample from: retrying cannot help
            values = plan(
                hook=PersonalizeHook(aws_conn_id=AWS_CONN_ID),
                s3_client=S3Hook(aws_conn_id=AWS_CONN_ID).get_conn(),
                config=run_config(config),
                solution_version_arn=solution_version_arn,
                campaign_arn=campaign_arn,
                force_deploy=force_deploy,
            )
        log_summary(describe_evaluation_plan(values))
        return values

    @task
    def evaluation_jobs(plan: dict) -> list[dict]:
        """One batch job's arguments per version to measure (the list score_evaluation_sample maps over)."""
        return list(plan[keys.EVALUATION_JOBS])

    # Runs when the jobs were skipped too (nothing to measure: force_deploy, or no business rule configured).
    @task(show_return_value_in_logs=False, trigger_rule=TriggerRule.NONE_FAILED)
    def measure_business_metrics(config: dict, plan: dict, job_results: list) -> dict:
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        from pulla_airflow.evaluation import measure_business_metrics as measure
        from pulla_airflow.run_config import run_config
        from pulla_airflow.summaries import describe_business_metrics
        from pulla_airflow.tasklog import log_summary

        measured = measure(
            s3_client=S3Hook(aws_conn_id=AWS_CONN_ID).get_conn(),
            config=run_config(config),
            plan=plan,
            job_results=list(job_results),
        )
        log_summary(describe_business_metrics(measured))
        return measured

    @task(show_return_value_in_logs=False)
    def decide_deployment(config: dict, decision: dict, business: dict, force_deploy: bool) -> dict:
        from pulla_airflow.evaluation import decide_deployment as decide
        from pulla_airflow.run_config import run_config
        from pulla_airflow.summaries import describe_gate
        from pulla_airflow.tasklog import log_summary

        final = decide(decision, business, run_config(config).business_rules, force_deploy=force_deploy)
        log_summary(describe_gate(final))
        return final

    @task.short_circuit(ignore_downstream_trigger_rules=False)
    def segments_enabled(segment_solution_arn: str | None) -> bool:
        """The item-affinity solution is trained only when crm.segments is enabled (it is None otherwise)."""
        return segment_solution_arn is not None

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
    personalize_decision = PersonalizeEvaluateSolutionVersionOperator(
        task_id="evaluate_gate",
        aws_conn_id=AWS_CONN_ID,
        solution_version_arn=version.output,
        campaign_arn=plan[keys.CAMPAIGN_ARN],
        min_ratios=plan[keys.MIN_RATIOS],
        force_deploy=plan[keys.FORCE_DEPLOY],
        deferrable=True,
        post_execute=summary_hook(gate_summary),
    )
    evaluation = plan_evaluation(config, version.output, plan[keys.CAMPAIGN_ARN], plan[keys.FORCE_DEPLOY])
    scored = PersonalizeBatchInferenceJobOperator.partial(
        task_id="score_evaluation_sample",
        aws_conn_id=AWS_CONN_ID,
        deferrable=True,
        execution_timeout=timedelta(hours=4),
    ).expand_kwargs(evaluation_jobs(evaluation))
    business = measure_business_metrics(config, evaluation, scored.output)
    decision = decide_deployment(config, personalize_decision.output, business, plan[keys.FORCE_DEPLOY])
    create = PersonalizeEnsureCampaignOperator(
        task_id=DEPLOYMENT_TASKS["create"],
        aws_conn_id=AWS_CONN_ID,
        name=plan[keys.CAMPAIGN_NAME],
        solution_version_arn=version.output,
        min_provisioned_tps=plan[keys.MIN_PROVISIONED_TPS],
        campaign_config=plan[keys.CAMPAIGN_CONFIG],
        deferrable=True,
        outlets=[LIVE_CAMPAIGN],
        post_execute=summary_hook(campaign_created_summary),
    )
    update = PersonalizeUpdateCampaignOperator(
        task_id=DEPLOYMENT_TASKS["update"],
        aws_conn_id=AWS_CONN_ID,
        campaign_arn=plan[keys.CAMPAIGN_ARN],
        solution_version_arn=version.output,
        campaign_config=plan[keys.CAMPAIGN_CONFIG],
        deferrable=True,
        outlets=[LIVE_CAMPAIGN],
        post_execute=summary_hook(campaign_updated_summary),
    )
    keep = keep_live_version.override(task_id=DEPLOYMENT_TASKS["keep"])(decision)
    record = RecordSolutionMetricsOperator(
        task_id="record_metrics",
        decision=decision,
        config=config,
        trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS,
    )
    choose_deployment(decision, plan[keys.CAMPAIGN_ARN]) >> [create, update, keep]
    [create, update, keep] >> record

    # The item-affinity solution (launch audiences) is retrained beside the main one; the gate does not judge it.
    segments_enabled(plan[keys.SEGMENT_SOLUTION_ARN]) >> PersonalizeCreateSolutionVersionOperator(
        task_id="train_segment_solution",
        aws_conn_id=AWS_CONN_ID,
        solution_arn=plan[keys.SEGMENT_SOLUTION_ARN],
        training_mode="FULL",
        deferrable=True,
        execution_timeout=timedelta(hours=10),
        post_execute=summary_hook(training_summary),
    )


pulla_personalize_retrain()
