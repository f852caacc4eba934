"""
### Pulla → Personalize: the launch audience of a product line, for the CRM team

**What it does.** Triggered by hand with a form, it finds the members most likely to buy the items of a launch:
an Item-Affinity batch segment job lists, for each item, the members with the strongest affinity, and the run merges
those lists into one ranked audience (a member's place is her best rank in any item's list) and publishes it as a CSV
for mail and KakaoTalk campaigns.

| task | does |
| --- | --- |
| `read_config` | reads and checks the pipeline configuration once; every later task uses this copy |
| `plan_segment` | checks the form, finds the newest ACTIVE Item-Affinity version, picks the items, writes the input |
| `find_audience` | the batch segment job, deferred while it runs |
| `publish_audience` | ranks the members and writes `members.csv` and `summary.json`, both or neither |

**The form.** `audience` names the audience (lowercase letters, digits and `-`, at most 30: it names the S3 folder
and the job). Then either `item_ids` (the launch's item ids) or a product line: `cup_type` and `wire` (as in the
Items dataset, case ignored) and `registered_from`/`registered_to` (local dates of registration, both included);
every criterion given must hold. A job takes at most 500 items. `size` is how many members the audience holds
(empty: `crm.segments.default_size` of the config). A form that selects nothing, too many items or unknown ids
fails `plan_segment` at once, without retries, saying what matched.

**Reads** the config, the latest daily export that passed its checks (`runs/window=<label>/items.csv`) and the
`aws_default` connection. **Writes** the job's input `crm/input/segments/<audience>/<fingerprint>/items.json`, its
output `crm/output/segments/<audience>/<fingerprint>/items.json.out` (written by Personalize) and the audience
`s3://<bucket>/<prefix>/crm/segments/<audience>/members.csv` (member_id, rank, best_item_id, items_listing_her) with
`summary.json` beside it (items, criteria, solution version, job, counts, the items the service could not serve and
why); emits the Asset `pulla_personalize.crm_segments`. A new run for the same audience replaces both files.

**Before the first run** set `crm.segments.enabled: true`, run `pulla_personalize_setup` (it creates the
Item-Affinity solution) and train a version of it; `plan_segment` says so when either is missing.

**Rerun.** The fingerprint is a digest of the solution version, the items and the size: a rerun of the same form on
the same version adopts the job of the first run (and its output) instead of paying for a second one; a new version
or another size starts a new job. From the CLI: `airflow dags trigger pulla_personalize_segment -c '{"audience":
"wireless-winter", "cup_type": "full", "wire": "wireless", "registered_from": "2026-11-01", "size": 5000}'`.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Param, dag, task

from personalize_provider.operators.personalize import PersonalizeBatchSegmentJobOperator
from pulla_airflow import xcom_contract as keys
from pulla_airflow.assets import CRM_SEGMENTS
from pulla_airflow.dag_policy import AWS_CONN_ID, TIME_ZONE, Tag, dag_failure_callbacks, default_args


@dag(
    dag_id="pulla_personalize_segment",
    description="By hand: the members most likely to buy a launch's items, as a CSV for the CRM team",
    schedule=None,
    start_date=pendulum.datetime(2026, 11, 1, tz=TIME_ZONE),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=6),
    default_args=default_args(),
    on_failure_callback=dag_failure_callbacks(),
    tags=[Tag.PERSONALIZE, Tag.CRM, Tag.TIER_2],
    doc_md=__doc__,
    params={
        "audience": Param(
            type="string",
            pattern=r"^[a-z0-9][a-z0-9-]{0,29}$",
            title="Audience",
            description="Name of the audience, e.g. wireless-winter: 1-30 lowercase letters, digits and '-'. "
            "It names the S3 folder; a new run of the same name replaces its members.csv.",
        ),
        "item_ids": Param(
            [],
            type="array",
            items={"type": "string"},
            title="Item ids",
            description="The launch's item ids, one per line. Leave empty to choose a product line below instead.",
        ),
        "cup_type": Param(
            None,
            type=["null", "string"],
            title="Cup type",
            description="Product line: items of this CUP_TYPE (e.g. full, demi; case ignored). Empty: any.",
        ),
        "wire": Param(
            None,
            type=["null", "string"],
            title="Wire",
            description="Product line: items of this WIRE (e.g. wired, wireless; case ignored). Empty: any.",
        ),
        "registered_from": Param(
            None,
            type=["null", "string"],
            format="date",
            title="Registered from",
            description="Product line: items registered on or after this local day, e.g. 2026-11-01. Empty: any.",
        ),
        "registered_to": Param(
            None,
            type=["null", "string"],
            format="date",
            title="Registered to",
            description="Product line: items registered on or before this local day (included). Empty: any.",
        ),
        "size": Param(
            None,
            type=["null", "integer"],
            minimum=1,
            maximum=5_000_000,  # a batch segment job lists at most 5 million members per item
            title="Audience size",
            description="How many members the audience holds. Empty: crm.segments.default_size of the config.",
        ),
    },
)
def pulla_personalize_segment():
    # Each task logs a summary (pulla_airflow.segments) instead of Airflow's dump of the returned dict.
    @task
    def read_config() -> dict:
        from pulla_airflow.run_config import read_run_config

        return read_run_config()

    @task(multiple_outputs=True, show_return_value_in_logs=False)
    def plan_segment(config: dict, params=None) -> dict:
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        from personalize_provider.hooks.personalize import PersonalizeHook
        from pulla_airflow.run_config import run_config
        from pulla_airflow.segments import describe_segment_plan
        from pulla_airflow.segments import plan_segment as plan
        from pulla_airflow.tasklog import fail_without_retry, log_summary

        with fail_without_retry():  # the form, the setup or the export must change first: retrying cannot help
            values = plan(
                hook=PersonalizeHook(aws_conn_id=AWS_CONN_ID),
                s3_client=S3Hook(aws_conn_id=AWS_CONN_ID).get_conn(),
                config=run_config(config),
                params=params,
            )
        log_summary(describe_segment_plan(values))
        return values

    @task(outlets=[CRM_SEGMENTS], show_return_value_in_logs=False)
    def publish_audience(config: dict, plan: dict, job: dict) -> dict:
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        from pulla_airflow.run_config import run_config
        from pulla_airflow.segments import describe_audience
        from pulla_airflow.segments import publish_audience as publish
        from pulla_airflow.tasklog import fail_without_retry, log_summary

        with fail_without_retry():  # a malformed output stays malformed
            result = publish(
                s3_client=S3Hook(aws_conn_id=AWS_CONN_ID).get_conn(), config=run_config(config), plan=plan, job=job
            )
        log_summary(describe_audience(result))
        return result

    config = read_config()
    plan = plan_segment(config)
    job = PersonalizeBatchSegmentJobOperator(
        task_id="find_audience",
        aws_conn_id=AWS_CONN_ID,
        job_name=plan[keys.JOB_NAME],
        solution_version_arn=plan[keys.SOLUTION_VERSION_ARN],
        job_input_s3_path=plan[keys.JOB_INPUT],
        job_output_s3_path=plan[keys.JOB_OUTPUT],
        role_arn=plan[keys.ROLE_ARN],
        num_results=plan[keys.NUM_RESULTS],
        deferrable=True,
    )
    publish_audience(config, plan, job.output)


pulla_personalize_segment()
