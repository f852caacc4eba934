"""
### Pulla → CRM: every active member's top picks in her size, for mail and KakaoTalk

**What it does.** Every Monday at 06:00 in the configured time zone, whenever the retrain DAG deploys a new solution
version (the Asset `pulla_personalize.live_campaign`) and whenever someone triggers it, it asks Personalize for
each active member's top items with a batch inference job on the version the campaign serves, and publishes them
as a CSV the CRM sync reads.

| task | does |
| --- | --- |
| `read_config` | reads and checks the pipeline configuration once; every later task uses this copy |
| `plan_picks` | the live version; members active in the last `crm.picks.active_days` days, with their sizes |
| `recommend_picks` | the batch inference job (`crm.picks.num_results`, filter `crm.picks.filter`), deferred |
| `publish_picks` | the files in `crm/picks/week=<label>/` and `crm/picks/latest/`, all or nothing; the Asset |

`plan_picks` writes the job's input: one line per member active in the last `crm.picks.active_days` days of the
exports, with her `CUP_SIZE` and `BAND_SIZE` as the size filter's values. `publish_picks` updates the Asset
`pulla_personalize.crm_picks` that the CRM sync waits on.

**The files.** `picks.csv`: `member_id,rank,item_id,score`, best first. `unserved.csv`: `member_id,reason` for
every active member without picks: left out before the job (no cup or band size on record: the size filter needs
both) or answered with an error by the service. `summary.json`: the week, the version, the job and the counts.

**Reruns.** The job is named after the week, the solution version and the input's bytes: clearing a run adopts its
job (no second job, the same files); after a new export or a new deployment the same week gets a new job and the
files are replaced.

**When something is missing** `plan_picks` fails at once, without retries, and says what to run: no campaign
serving a version (`pulla_personalize_retrain`), no export that passed its checks (`pulla_personalize_daily`),
Personalize or the filter not set up (`pulla_personalize_setup`).

**Reads** the daily runs' archives (`runs/window=<label>/`) and the `aws_default` connection. **Writes**
`crm/input/picks/`, `crm/output/picks/` (the job's) and `crm/picks/`. CLI: `airflow dags trigger
pulla_personalize_batch`.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable, dag, task

from personalize_provider.operators.personalize import PersonalizeBatchInferenceJobOperator
from pulla_airflow import xcom_contract as keys
from pulla_airflow.assets import CRM_PICKS, LIVE_CAMPAIGN
from pulla_airflow.dag_policy import AWS_CONN_ID, TIME_ZONE, Tag, dag_failure_callbacks, default_args


@dag(
    dag_id="pulla_personalize_batch",
    description=f"Mondays 06:00 {TIME_ZONE}, after each deployment, or by hand: top picks per member for the CRM",
    schedule=AssetOrTimeSchedule(timetable=CronTriggerTimetable("0 6 * * 1", timezone=TIME_ZONE), assets=LIVE_CAMPAIGN),
    start_date=pendulum.datetime(2026, 11, 1, tz=TIME_ZONE),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=8),
    default_args=default_args(),
    on_failure_callback=dag_failure_callbacks(),
    tags=[Tag.PERSONALIZE, Tag.CRM, Tag.TIER_2],
    doc_md=__doc__,
)
def pulla_personalize_batch():
    @task
    def read_config() -> dict:
        from pulla_airflow.run_config import read_run_config

        return read_run_config()

    # Each task logs a summary (pulla_airflow.summaries) instead of Airflow's dump of the returned dict.
    @task(multiple_outputs=True, show_return_value_in_logs=False)
    def plan_picks(config: dict, dag_run=None) -> dict:
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        from personalize_provider.hooks.personalize import PersonalizeHook
        from pulla_airflow.crm_picks import plan_picks as plan
        from pulla_airflow.run_config import run_config
        from pulla_airflow.summaries import describe_picks_plan
        from pulla_airflow.tasklog import fail_without_retry, log_summary

        with fail_without_retry():  # nothing live, no export, no setup: retrying cannot help
            values = plan(
                hook=PersonalizeHook(aws_conn_id=AWS_CONN_ID),
                s3_client=S3Hook(aws_conn_id=AWS_CONN_ID).get_conn(),
                config=run_config(config),
                run_after=dag_run.run_after,
            )
        log_summary(describe_picks_plan(values))
        return values

    @task(outlets=[CRM_PICKS], show_return_value_in_logs=False)
    def publish_picks(config: dict, plan: dict, job: dict) -> dict:
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        from pulla_airflow.crm_picks import publish_picks as publish
        from pulla_airflow.run_config import run_config
        from pulla_airflow.summaries import describe_picks
        from pulla_airflow.tasklog import fail_without_retry, log_summary

        with fail_without_retry():  # a malformed output file will not change
            result = publish(
                s3_client=S3Hook(aws_conn_id=AWS_CONN_ID).get_conn(), config=run_config(config), plan=plan, job=job
            )
        log_summary(describe_picks(result))
        return result

    config = read_config()
    plan = plan_picks(config)
    job = PersonalizeBatchInferenceJobOperator(
        task_id="recommend_picks",
        aws_conn_id=AWS_CONN_ID,
        job_name=plan[keys.JOB_NAME],
        solution_version_arn=plan[keys.SOLUTION_VERSION_ARN],
        job_input_s3_path=plan[keys.JOB_INPUT],
        job_output_s3_path=plan[keys.JOB_OUTPUT],
        role_arn=plan[keys.ROLE_ARN],
        num_results=plan[keys.NUM_RESULTS],
        filter_arn=plan[keys.FILTER_ARN],
        batch_inference_job_config=plan[keys.JOB_CONFIG],
        deferrable=True,
        execution_timeout=timedelta(hours=6),
    )
    publish_picks(config, plan, job.output)


pulla_personalize_batch()
