"""
### Pulla → Personalize: daily export and import

**What it does.** Every day at 03:00 in the configured time zone (`time_zone`: Asia/Seoul as shipped) it exports the
previous local day of the Pulla database (orders, click logs, members, products) as Personalize's Interactions,
Users and Items datasets, validates them with Great Expectations, publishes them on S3 and runs one Personalize
dataset import job per dataset.

| task | does |
| --- | --- |
| `read_config` | reads and checks the pipeline configuration once; every later task uses this copy |
| `plan_window` | the window: the previous local day, or the form's `window_start`/`window_end` |
| `export_window` | extract (SQL) → transform (pandas) → validate (GX gate), all streamed; archives the run on S3 |
| `find_datasets` | finds the datasets by name; names each import job after its window, mode and data |
| `publish_<dataset>` | copies the dataset's CSV to its import partition, all or nothing |
| `import_<dataset>` | the dataset import job (Interactions INCREMENTAL; Users and Items FULL), deferred while it runs |
| `plan_deletion` | who withdrew or became a test account and is not deleted yet (the manifest on S3) |
| `imports_settled` | marks the end of the imports, however they ended: the deletion job starts after them |
| `delete_departed_members` | the data deletion job, deferred while it runs; skipped when nobody departed |
| `record_deletion` | records the deleted members in the manifest, so a rerun or backfill never deletes them twice |
| `summarize_run` | writes `summary.json` (with the members deleted) beside the run's report and returns it |

**Reads** the `pulla_db` connection. **Writes** `s3://<bucket>/<prefix>/runs/window=<label>/` (CSVs, `report.json`,
`rejects/`, Data Docs, `summary.json`) and `…/import/<dataset>/window=<label>/`; emits the Assets
`pulla_personalize.interactions`, `.users` and `.items` when each import is ACTIVE.

**Each task's log ends with a summary**: rows per dataset, what was excluded or quarantined and why, the validation
result and the run archive (`export_window`); the dataset, mode and job name of each import (`find_datasets`); what
was published where (`publish_<dataset>`); the import jobs and `summary.json` (`summarize_run`).

**When validation fails** `export_window` fails at once, without retries: its log says which expectation failed on
which dataset.column, expected vs observed, before Airflow's traceback; the report and rejects are in the run
archive; nothing is published for import and no import call is made (the deletion of departed members does not wait
for the gate). Fix the source or the rule, then clear the task. **When Personalize is not set up** (no dataset group
or dataset of the configured names) `find_datasets` fails at once and says so: run `pulla_personalize_setup` first,
then clear the task.

**Rerun or backfill a day.** Clear the run (same window → same S3 keys, same bytes, and the import job of that name
is adopted, not duplicated), or trigger with the form: `window_start`/`window_end` (ISO dates, local time, end
excluded). An incremental run imports exactly one local day (Personalize appends, so a longer window would import
days twice): backfill one run per day. `full_reload` imports every dataset FULL, replacing all the interactions
Personalize holds, so give it a window covering the whole history (e.g. after a schema change).
From the CLI: `airflow dags trigger pulla_personalize_daily -c '{"window_start": "2026-11-20", "window_end":
"2026-11-21"}'`.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Asset, CronTriggerTimetable, Param, TriggerRule, dag, task

from personalize_provider.operators.personalize import (
    PersonalizeDataDeletionJobOperator,
    PersonalizeDatasetImportJobOperator,
)
from pulla_airflow import xcom_contract as keys
from pulla_airflow.dag_policy import (
    AWS_CONN_ID,
    DATASET_TYPES,
    SOURCE_DB_CONN_ID,
    TIME_ZONE,
    Tag,
    dag_failure_callbacks,
    default_args,
)

DATASET_ASSETS = {kind: Asset(name=f"pulla_personalize.{kind}") for kind in DATASET_TYPES}


@dag(
    dag_id="pulla_personalize_daily",
    description=f"Daily 03:00 {TIME_ZONE}: export yesterday's Pulla data, validate it, import it into Personalize",
    schedule=CronTriggerTimetable("0 3 * * *", timezone=TIME_ZONE),
    start_date=pendulum.datetime(2026, 11, 1, tz=TIME_ZONE),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=8),
    default_args=default_args(),
    on_failure_callback=dag_failure_callbacks(),
    tags=[Tag.PERSONALIZE, Tag.INGEST, Tag.TIER_1],
    doc_md=__doc__,
    params={
        "window_start": Param(
            None,
            type=["null", "string"],
            title="Window start",
            description="First local day (or date-time) to export, e.g. 2026-11-20. Empty: the previous day.",
        ),
        "window_end": Param(
            None,
            type=["null", "string"],
            title="Window end",
            description="First local day (or date-time) NOT exported, e.g. 2026-11-21. Empty: today 00:00.",
        ),
        "full_reload": Param(
            False,
            type="boolean",
            title="Full reload",
            description="Import every dataset in FULL mode (replaces Personalize's bulk data).",
        ),
    },
)
def pulla_personalize_daily():
    @task
    def read_config() -> dict:
        from pulla_airflow.run_config import read_run_config

        return read_run_config()

    @task
    def plan_window(config: dict, params=None, dag_run=None) -> dict:
        from pulla_airflow.plans import plan_daily_window
        from pulla_airflow.run_config import run_config

        return plan_daily_window(dag_run.run_after, params, run_config(config))

    # Each task logs a summary (pulla_airflow.summaries) instead of Airflow's dump of the returned dict.
    @task(multiple_outputs=True, show_return_value_in_logs=False)
    def find_datasets(config: dict, window: dict, export: dict) -> dict:
        from personalize_provider.hooks.personalize import PersonalizeHook
        from pulla_airflow.plans import plan_imports
        from pulla_airflow.run_config import run_config
        from pulla_airflow.summaries import describe_import_plan
        from pulla_airflow.tasklog import fail_without_retry, log_summary

        with fail_without_retry():  # Personalize not set up yet: retrying cannot help
            values = plan_imports(PersonalizeHook(aws_conn_id=AWS_CONN_ID), run_config(config), window, export)
        log_summary(describe_import_plan(values))
        return values

    @task(show_return_value_in_logs=False)
    def export_window(config: dict, window: dict) -> dict:
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook
        from airflow.sdk import BaseHook

        from pulla_airflow.connections import sqlalchemy_url
        from pulla_airflow.run_archive import export_to_run_archive
        from pulla_airflow.run_config import run_config
        from pulla_airflow.summaries import describe_export
        from pulla_airflow.tasklog import fail_without_retry, log_summary

        with fail_without_retry():  # a failed validation gate: the data will not change on a retry
            summary = export_to_run_archive(
                db_url=sqlalchemy_url(BaseHook.get_connection(SOURCE_DB_CONN_ID)),
                window=window,
                config=run_config(config),
                s3_client=S3Hook(aws_conn_id=AWS_CONN_ID).get_conn(),
            )
        log_summary(describe_export(summary))
        return summary

    @task(show_return_value_in_logs=False)
    def publish(config: dict, dataset_type: str, label: str, export: dict) -> str:
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        from pulla_airflow.run_archive import publish_dataset
        from pulla_airflow.run_config import run_config
        from pulla_airflow.summaries import describe_publish
        from pulla_airflow.tasklog import log_summary

        location = publish_dataset(
            s3_client=S3Hook(aws_conn_id=AWS_CONN_ID).get_conn(),
            config=run_config(config),
            label=label,
            dataset_type=dataset_type,
        )
        log_summary(describe_publish(dataset_type, location, export))
        return location

    @task(multiple_outputs=True, show_return_value_in_logs=False)
    def plan_deletion(config: dict, window: dict) -> dict:
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook
        from airflow.sdk import BaseHook

        from personalize_provider.hooks.personalize import PersonalizeHook
        from pulla_airflow.connections import sqlalchemy_url
        from pulla_airflow.deletions import plan_member_deletion
        from pulla_airflow.resources import resolve_dataset_group_arn
        from pulla_airflow.run_config import run_config
        from pulla_airflow.summaries import describe_deletion_plan
        from pulla_airflow.tasklog import fail_without_retry, log_summary

        config = run_config(config)
        hook = PersonalizeHook(aws_conn_id=AWS_CONN_ID)
        with fail_without_retry():  # Personalize not set up yet: retrying cannot help
            dataset_group_arn = resolve_dataset_group_arn(hook, config)
        plan = plan_member_deletion(
            db_url=sqlalchemy_url(BaseHook.get_connection(SOURCE_DB_CONN_ID)),
            window=window,
            config=config,
            s3_client=S3Hook(aws_conn_id=AWS_CONN_ID).get_conn(),
            hook=hook,
            dataset_group_arn=dataset_group_arn,
        )
        log_summary(describe_deletion_plan(plan))
        return plan

    @task(trigger_rule=TriggerRule.ALL_DONE)
    def imports_settled() -> None:
        """Runs once every import has ended, however it ended (a task, not an EmptyOperator: it has a log)."""
        import logging

        logging.getLogger("airflow.task").info("The imports have ended: the deletion of departed members may start")

    @task.short_circuit(ignore_downstream_trigger_rules=False)
    def anyone_to_delete(data_location: str | None) -> bool:
        """No departed member to delete: no job (the skipped task and the run summary say so)."""
        return bool(data_location)

    @task(trigger_rule=TriggerRule.NONE_FAILED, show_return_value_in_logs=False)
    def record_deletion(config: dict, plan: dict, job: dict | None = None) -> dict:
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        from pulla_airflow.deletions import record_member_deletion
        from pulla_airflow.run_config import run_config
        from pulla_airflow.summaries import describe_deletion
        from pulla_airflow.tasklog import log_summary

        result = record_member_deletion(
            s3_client=S3Hook(aws_conn_id=AWS_CONN_ID).get_conn(), config=run_config(config), plan=plan, job=job
        )
        log_summary(describe_deletion(result))
        return result

    @task(show_return_value_in_logs=False)
    def summarize_run(config: dict, export: dict, import_jobs: dict, deletion: dict) -> dict:
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        from pulla_airflow.run_archive import write_run_summary
        from pulla_airflow.run_config import run_config
        from pulla_airflow.summaries import describe_run_summary
        from pulla_airflow.tasklog import log_summary

        summary = write_run_summary(
            s3_client=S3Hook(aws_conn_id=AWS_CONN_ID).get_conn(),
            config=run_config(config),
            export=export,
            import_jobs=import_jobs,
            deletion=deletion,
        )
        log_summary(describe_run_summary(summary))
        return summary

    config = read_config()
    window = plan_window(config)
    export = export_window(config, window)
    plan = find_datasets(config, window, export)  # after the gate: a failed window makes no Personalize call at all
    import_jobs = {}
    for kind in DATASET_TYPES:
        location = publish.override(task_id=f"publish_{kind}")(config, kind, plan[keys.LABEL], export)
        job = PersonalizeDatasetImportJobOperator(
            task_id=f"import_{kind}",
            aws_conn_id=AWS_CONN_ID,
            dataset_arn=plan[keys.dataset_arn(kind)],
            data_location=location,
            role_arn=plan[keys.ROLE_ARN],
            job_name=plan[keys.job_name(kind)],
            import_mode=plan[keys.import_mode(kind)],
            deferrable=True,
            outlets=[DATASET_ASSETS[kind]],
        )
        import_jobs[kind] = job.output

    # Departed members leave Personalize whatever the day's export does: the deletion does not wait for the gate,
    # only for the imports to end (AWS: no import or training of the dataset group while a deletion job runs).
    settled = imports_settled()
    list(import_jobs.values()) >> settled
    deletion_plan = plan_deletion(config, window)
    deletion_job = PersonalizeDataDeletionJobOperator(
        task_id="delete_departed_members",
        aws_conn_id=AWS_CONN_ID,
        dataset_group_arn=deletion_plan[keys.DATASET_GROUP_ARN],
        data_location=deletion_plan[keys.DATA_LOCATION],
        role_arn=deletion_plan[keys.ROLE_ARN],
        job_name=deletion_plan[keys.DELETION_JOB_NAME],
        deferrable=True,
    )
    go = anyone_to_delete(deletion_plan[keys.DATA_LOCATION])
    settled >> go >> deletion_job
    deletion = record_deletion(config, deletion_plan, deletion_job.output)
    summarize_run(config, export, import_jobs, deletion)


pulla_personalize_daily()
