"""
### Pulla → Personalize: set up (or check) every Personalize resource

**What it does.** Makes sure every resource named in `include/config/personalize.yaml` exists: the dataset group,
the three schemas, the Interactions, Users and Items datasets, the event tracker, the filters and the
User-Personalization solution. Each task creates the resource or adopts the one of that name, so a second run
changes nothing. The campaign needs a trained solution version, so the first `pulla_personalize_retrain` run
creates it; its ARN is known in advance and published here.

**Launch audiences.** With `crm.segments.enabled: true` in the config, `ensure_segment_solution` also creates (or
adopts) the Item-Affinity solution `crm.segments.solution` that `pulla_personalize_segment` runs its batch segment
jobs on (a version must be trained before the first audience). With segments off, `segments_enabled` skips that task
and only it: the rest of the setup runs as usual.

| task | does |
| --- | --- |
| `read_config` | reads and checks the configuration once; the names every later task takes |
| `expire_run_data` | the bucket's lifecycle rules for the run data |
| `ensure_dataset_group`, `ensure_<dataset>_schema`, `ensure_<dataset>_dataset` | the dataset group, schemas, datasets |
| `ensure_event_tracker`, `ensure_filter`, `ensure_solution` | the event tracker, each filter, the main solution |
| `segments_enabled` → `ensure_segment_solution` | the launch audiences' Item-Affinity solution (skipped when off) |
| `publish_resources` | writes `setup/resources.json` for the web team |

**Run data expires.** `expire_run_data` sets the bucket's lifecycle rules (their own IDs; other rules are kept)
that delete the run archives, the import partitions, the deletion jobs' USER_ID files and the CRM files after
`retention.run_archive_days`.

**For the web team** `publish_resources` writes `s3://<bucket>/<prefix>/setup/resources.json` (and returns it):
the event tracker's tracking id for PutEvents, the campaign ARN for GetRecommendations, and the filter ARNs.

**When to run it.** Once per environment, and after changing the config. Schemas are immutable: to change one, add
a field to `include/schemas/<dataset>.json`, bump its name's `-vN` suffix in the config and run this DAG; the
dataset moves to the new schema (`ensure_<dataset>_dataset`). A schema name reused with other content fails with a
message saying so.

**Reads** `include/config/personalize.yaml`, `include/schemas/*.json` and the `aws_default` connection. **Writes**
Personalize resources (the Item-Affinity solution too when segments are on) and `setup/resources.json`. Safe to
rerun at any time.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import dag, task

from personalize_provider.operators.personalize import (
    PersonalizeEnsureDatasetGroupOperator,
    PersonalizeEnsureDatasetOperator,
    PersonalizeEnsureEventTrackerOperator,
    PersonalizeEnsureFilterOperator,
    PersonalizeEnsureSchemaOperator,
    PersonalizeEnsureSolutionOperator,
)
from pulla_airflow import xcom_contract as keys
from pulla_airflow.dag_policy import (
    AWS_CONN_ID,
    SERVICE_DATASET_TYPES,
    TIME_ZONE,
    Tag,
    dag_failure_callbacks,
    default_args,
)


@dag(
    dag_id="pulla_personalize_setup",
    description="By hand, once per environment: create or adopt every Personalize resource in the config",
    schedule=None,
    start_date=pendulum.datetime(2026, 11, 1, tz=TIME_ZONE),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=2),
    default_args=default_args(),
    on_failure_callback=dag_failure_callbacks(),
    tags=[Tag.PERSONALIZE, Tag.SETUP, Tag.TIER_2],
    doc_md=__doc__,
)
def pulla_personalize_setup():
    @task(multiple_outputs=True)
    def read_config() -> dict:
        """The configuration, read once for the run (under ``config``), and the values the operators take."""
        from pulla_airflow.plans import setup_values
        from pulla_airflow.run_config import read_run_config, run_config
        from pulla_airflow.segments import segment_setup_values

        snapshot = read_run_config()
        config = run_config(snapshot)
        return {**setup_values(config), **segment_setup_values(config), keys.CONFIG: snapshot}

    @task.short_circuit(ignore_downstream_trigger_rules=False)
    def segments_enabled(enabled: bool) -> bool:
        """Launch audiences off in the config (``crm.segments.enabled``): the item-affinity solution is skipped."""
        return bool(enabled)

    @task
    def filter_definitions(filters: list[dict]) -> list[dict]:
        """One ``{name, filter_expression}`` per configured filter (the list the filter task maps over)."""
        return list(filters)

    @task
    def publish_resources(
        config: dict, dataset_group_arn: str, tracker: dict, solution_arn: str, filter_arns: list
    ) -> dict:
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        from pulla_airflow.resources import expected_campaign_arn, publish_setup_resources
        from pulla_airflow.run_config import run_config

        config = run_config(config)
        resources = {
            "dataset_group_arn": dataset_group_arn,
            "event_tracker_arn": tracker["event_tracker_arn"],
            "tracking_id": tracker["tracking_id"],
            "solution_arn": solution_arn,
            "campaign_arn": expected_campaign_arn(dataset_group_arn, config.personalize.campaign.name),
            "filter_arns": dict(zip(sorted(config.personalize.filters), filter_arns, strict=True)),
        }
        return publish_setup_resources(
            s3_client=S3Hook(aws_conn_id=AWS_CONN_ID).get_conn(), config=config, resources=resources
        )

    @task(show_return_value_in_logs=False)
    def expire_run_data(config: dict) -> dict:
        """S3 lifecycle rules that expire the run archives, import partitions and deletion files."""
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        from pulla_airflow.run_archive import ensure_run_data_expiry
        from pulla_airflow.run_config import run_config
        from pulla_airflow.summaries import describe_run_data_expiry
        from pulla_airflow.tasklog import log_summary

        config = run_config(config)
        result = ensure_run_data_expiry(
            s3_client=S3Hook(aws_conn_id=AWS_CONN_ID).get_conn(),
            config=config,
            days=config.retention.run_archive_days,
        )
        log_summary(describe_run_data_expiry(result))
        return result

    config = read_config()
    expire_run_data(config[keys.CONFIG])
    group = PersonalizeEnsureDatasetGroupOperator(
        task_id="ensure_dataset_group", aws_conn_id=AWS_CONN_ID, name=config[keys.DATASET_GROUP]
    )
    datasets = []
    for kind, dataset_type in SERVICE_DATASET_TYPES.items():
        schema = PersonalizeEnsureSchemaOperator(
            task_id=f"ensure_{kind}_schema",
            aws_conn_id=AWS_CONN_ID,
            name=config[keys.schema_name(kind)],
            schema_path=config[keys.schema_path(kind)],
        )
        datasets.append(
            PersonalizeEnsureDatasetOperator(
                task_id=f"ensure_{kind}_dataset",
                aws_conn_id=AWS_CONN_ID,
                name=config[keys.dataset_name(kind)],
                dataset_group_arn=group.output,
                dataset_type=dataset_type,
                schema_arn=schema.output,
                deferrable=True,
            )
        )
    tracker = PersonalizeEnsureEventTrackerOperator(
        task_id="ensure_event_tracker",
        aws_conn_id=AWS_CONN_ID,
        name=config[keys.EVENT_TRACKER],
        dataset_group_arn=group.output,
        deferrable=True,
    )
    solution = PersonalizeEnsureSolutionOperator(
        task_id="ensure_solution",
        aws_conn_id=AWS_CONN_ID,
        name=config[keys.SOLUTION_NAME],
        dataset_group_arn=group.output,
        recipe_arn=config[keys.RECIPE_ARN],
        solution_config=config[keys.SOLUTION_CONFIG],
        event_type=config[keys.EVENT_TYPE],
        deferrable=True,
    )
    filters = PersonalizeEnsureFilterOperator.partial(
        task_id="ensure_filter", aws_conn_id=AWS_CONN_ID, dataset_group_arn=group.output, deferrable=True
    ).expand_kwargs(filter_definitions(config[keys.FILTERS]))
    segment_solution = PersonalizeEnsureSolutionOperator(
        task_id="ensure_segment_solution",
        aws_conn_id=AWS_CONN_ID,
        name=config[keys.SEGMENT_SOLUTION_NAME],
        dataset_group_arn=group.output,
        recipe_arn=config[keys.SEGMENT_RECIPE_ARN],
        solution_config=config[keys.SEGMENT_SOLUTION_CONFIG],
        event_type=config[keys.SEGMENT_EVENT_TYPE],
        deferrable=True,
    )
    datasets >> tracker
    datasets >> solution
    datasets >> filters
    datasets >> segments_enabled(config[keys.SEGMENTS_ENABLED]) >> segment_solution
    publish_resources(config[keys.CONFIG], group.output, tracker.output, solution.output, filters.output)


pulla_personalize_setup()
