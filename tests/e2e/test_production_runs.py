"""setup → daily → retrain under the real scheduler, executor and triggerer, triggered and watched through the REST
API v2 only, on the LocalExecutor and on the CeleryExecutor.

The order of the tests matters within a cluster: setup first, then the month's daily run, then retrain; the
failing window and the rerun come after.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from .conftest import DAYS, E2E, END_DATE

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

FULL_WINDOW = {
    "window_start": END_DATE.fromordinal(END_DATE.toordinal() - DAYS).isoformat(),
    "window_end": END_DATE.isoformat(),
    "full_reload": True,
}
#: A day ten days before the seeded month: no interactions at all.
_EMPTY_DAY = date.fromordinal(END_DATE.toordinal() - DAYS - 10)
EMPTY_WINDOW = {
    "window_start": _EMPTY_DAY.isoformat(),
    "window_end": date.fromordinal(_EMPTY_DAY.toordinal() + 1).isoformat(),
    "full_reload": False,
}
DEFERRING_TASKS = ("import_interactions", "import_users", "import_items")


def assert_succeeded(e2e: E2E, dag_id: str, run_id: str, state: str) -> None:
    if state != "success":
        # A task that never ran (upstream_failed) has no log to fetch: its state says enough.
        failed = {
            task_id: e2e.api.task_log(dag_id, run_id, item["task_id"], item["try_number"], item["map_index"])[-3000:]
            if item["try_number"]
            else f"never ran: {item['state']}"
            for task_id, item in e2e.api.task_instances(dag_id, run_id).items()
            if item["state"] not in ("success", "skipped")
        }
        pytest.fail(f"{dag_id} run {run_id} ended {state}; unfinished tasks and their logs:\n{json.dumps(failed)}")


def test_setup_daily_and_retrain_succeed(e2e: E2E) -> None:
    for dag_id, conf in (
        ("pulla_personalize_setup", None),
        ("pulla_personalize_daily", FULL_WINDOW),
        ("pulla_personalize_retrain", {"training_mode": "FULL"}),
    ):
        run_id, state = e2e.run(dag_id, conf)
        assert_succeeded(e2e, dag_id, run_id, state)
        e2e.runs[dag_id] = run_id
    label = FULL_WINDOW["window_start"].replace("-", "") + "-" + FULL_WINDOW["window_end"].replace("-", "")
    jobs = e2e.import_jobs()
    for kind in ("interactions", "users", "items"):
        assert any(f"/pulla-{kind}-{label}-full-" in job for job in jobs), (kind, jobs)


def test_the_scheduled_runs_unpausing_started_are_green(e2e: E2E) -> None:
    """Unpausing starts the latest scheduled run of each DAG (catchup is off): yesterday's daily run, which the
    living demo shop has data for, and last Sunday's retrain, after setup."""
    import time

    scheduled = {}
    for dag_id in ("pulla_personalize_daily", "pulla_personalize_retrain"):
        # When the manual run got in first, max_active_runs=1 holds the scheduled one back until it ends, and the
        # scheduler creates it on a later loop: give it a minute.
        deadline = time.monotonic() + 60
        while True:
            runs = e2e.api.get(f"/api/v2/dags/{dag_id}/dagRuns", run_type=["scheduled"], limit=10)["dag_runs"]
            if runs or time.monotonic() > deadline:
                break
            time.sleep(2)
        assert runs, f"unpausing {dag_id} started no scheduled run"
        for run in runs:
            state = e2e.api.wait_for_run(dag_id, run["dag_run_id"], cluster=e2e.cluster)
            assert_succeeded(e2e, dag_id, run["dag_run_id"], state)
            scheduled[dag_id] = run["dag_run_id"]
    assert scheduled["pulla_personalize_daily"].startswith("scheduled__")


def trigger_logs(e2e: E2E, dag_id: str, run_id: str, task_id: str) -> list[str]:
    """The triggerer's log files of a task's waits (Airflow writes them beside the task's own log)."""
    folder = e2e.cluster.home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"
    return [path.read_text(encoding="utf-8", errors="replace") for path in sorted(folder.glob("*.log.trigger.*"))]


def test_the_import_and_training_waits_deferred_to_the_triggerer(e2e: E2E) -> None:
    waits = {
        "pulla_personalize_daily": DEFERRING_TASKS,
        "pulla_personalize_retrain": ("train_solution_version",),
    }
    for dag_id, task_ids in waits.items():
        run_id = e2e.runs[dag_id]
        for task_id in task_ids:
            log = e2e.api.task_log(dag_id, run_id, task_id, 1)
            assert "Pausing task as DEFERRED" in log, f"{dag_id}.{task_id} did not defer:\n{log[-2000:]}"
            triggered = trigger_logs(e2e, dag_id, run_id, task_id)
            assert any("Trigger fired event" in text for text in triggered), f"{dag_id}.{task_id}: {triggered}"


def test_a_deployment_starts_the_crm_picks_under_the_scheduler(e2e: E2E) -> None:
    """Issue 13 where users run it: the batch DAG by hand (its job's wait deferred to the triggerer), then a deploying
    retrain updates the Asset pulla_personalize.live_campaign and the scheduler starts the picks by itself."""
    import time

    batch = "pulla_personalize_batch"
    run_id, state = e2e.run(batch)
    assert_succeeded(e2e, batch, run_id, state)
    log = e2e.api.task_log(batch, run_id, "recommend_picks", 1)
    assert "Pausing task as DEFERRED" in log or "already exists" in log, log[-2000:]
    picks_log = e2e.api.task_log(batch, run_id, "publish_picks", 1)
    assert "members got" in picks_log, picks_log[-2000:]
    assert "crm/picks/week=" in picks_log, picks_log[-2000:]

    before = {run["dag_run_id"] for run in e2e.api.get(f"/api/v2/dags/{batch}/dagRuns", limit=100)["dag_runs"]}
    retrain_id, retrain_state = e2e.run("pulla_personalize_retrain", {"training_mode": "FULL", "force_deploy": True})
    assert_succeeded(e2e, "pulla_personalize_retrain", retrain_id, retrain_state)
    deadline = time.monotonic() + 300
    started: list[dict] = []
    while not started and time.monotonic() < deadline:
        runs = e2e.api.get(f"/api/v2/dags/{batch}/dagRuns", limit=100)["dag_runs"]
        started = [r for r in runs if r["dag_run_id"] not in before and r["run_type"] == "asset_triggered"]
        time.sleep(2)
    assert started, "the deployment's Asset event started no pulla_personalize_batch run"
    run = started[0]
    assert_succeeded(e2e, batch, run["dag_run_id"], e2e.api.wait_for_run(batch, run["dag_run_id"], cluster=e2e.cluster))
    e2e.runs[batch] = run["dag_run_id"]


def test_an_import_refused_with_limit_exceeded_backs_off_under_the_triggerer(e2e: E2E) -> None:
    """Issue 14: the endpoint refused the cluster's first CreateDatasetImportJob call, retries and all (its fault
    switch, ENDPOINT_FAULTS). That import task deferred on a timer the triggerer fired, started its job on the next
    attempt, deferred again for the job, and succeeded; the throttled status checks were retried by botocore. (The
    first daily run may be the manual one or the scheduled one unpausing started: both run at once.)"""
    daily = "pulla_personalize_daily"
    refused = {}
    for run in e2e.api.get(f"/api/v2/dags/{daily}/dagRuns", limit=100)["dag_runs"]:
        for task_id in DEFERRING_TASKS:
            item = e2e.api.task_instances(daily, run["dag_run_id"]).get(task_id)
            if not item or not item["try_number"]:
                continue
            log = e2e.api.task_log(daily, run["dag_run_id"], task_id, item["try_number"])
            if "LimitExceededException" in log:
                refused[(run["dag_run_id"], task_id)] = (item, log)
    assert len(refused) == 1, sorted(refused)
    ((run_id, task_id), (item, log)), *_ = refused.items()
    assert item["state"] == "success"
    assert item["try_number"] == 1  # the back-off is not a task retry
    assert "attempt 2 of" in log, log[-3000:]
    assert log.count("Pausing task as DEFERRED") >= 2, log[-3000:]  # the back-off timer, then the job's wait
    triggered = trigger_logs(e2e, daily, run_id, task_id)
    # The task resumed twice (the timer's event, then the job's); the triggerer keeps one log file per try, which
    # the second trigger of the try rewrites, so only its event is found there.
    assert any("Trigger fired event" in text for text in triggered), triggered

    endpoint_log = (e2e.services.work_dir / "personalize.log").read_text(encoding="utf-8", errors="replace")
    limited = endpoint_log.count("fault switch: CreateDatasetImportJob answered LimitExceededException")
    assert limited >= 2, "botocore's retries of the refused call were refused too"
    assert endpoint_log.count("fault switch: DescribeDatasetImportJob answered ThrottlingException") == 2


def test_the_export_log_ends_with_a_summary_a_person_reads(e2e: E2E) -> None:
    run_id = e2e.runs["pulla_personalize_daily"]
    log = e2e.api.task_log("pulla_personalize_daily", run_id, "export_window", 1)
    assert "Validation passed" in log
    assert "Returned value was" not in log  # no one-line dump of the returned dict


def test_the_archived_csvs_are_the_bytes_the_cli_exports(e2e: E2E, tmp_path: Path) -> None:
    """The export inside a task runner (a LocalExecutor worker, a Celery worker) writes what the CLI writes."""
    from pulla_airflow.run_archive import run_prefix

    config = e2e.config
    command = [sys.executable, "-m", "pulla_personalize.cli", "export", "--db", e2e.source_url, "--out", str(tmp_path)]
    command += ["--start", FULL_WINDOW["window_start"], "--end", FULL_WINDOW["window_end"]]
    command += ["--source-time-zone", config.time_zone, "--bot-events-per-minute", str(config.bot_events_per_minute)]
    command += ["--keep-anonymous-sessions"] if config.keep_anonymous_sessions else []
    completed = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-2000:]
    label = FULL_WINDOW["window_start"].replace("-", "") + "-" + FULL_WINDOW["window_end"].replace("-", "")
    s3 = e2e.services.s3_client()
    for kind in ("interactions", "users", "items"):
        archived = s3.get_object(Bucket=config.s3.bucket, Key=run_prefix(config, label) + f"{kind}.csv")
        assert archived["Body"].read() == (tmp_path / f"{kind}.csv").read_bytes(), kind


def test_every_task_log_is_readable_through_the_api(e2e: E2E) -> None:
    for dag_id, run_id in e2e.runs.items():
        for task_id, item in e2e.api.task_instances(dag_id, run_id).items():
            log = e2e.api.task_log(dag_id, run_id, item["task_id"], item["try_number"], item["map_index"])
            assert log.strip(), f"{dag_id}.{task_id}: empty log"
            assert "Could not read served logs" not in log, f"{dag_id}.{task_id}:\n{log[-2000:]}"


def test_a_window_with_too_little_data_fails_export_once_and_imports_nothing(e2e: E2E) -> None:
    jobs_before = e2e.import_jobs()
    run_id, state = e2e.run("pulla_personalize_daily", EMPTY_WINDOW)
    assert state == "failed"
    tasks = e2e.api.task_instances("pulla_personalize_daily", run_id)
    export = tasks["export_window"]
    assert (export["state"], export["try_number"]) == ("failed", 1)  # retries are 1: the gate does not use them
    log = e2e.api.task_log("pulla_personalize_daily", run_id, "export_window", 1)
    assert "at least 25 users with at least 2 interactions" in log
    assert "expect_enough_users_with_min_interactions" in log
    assert "Great Expectations process failed" not in log
    # Stated once, in words, before any framework traceback.
    first_statement = log.index("Validation FAILED")
    assert log.count("Validation FAILED") == 1, log[-3000:]
    assert "Traceback" not in log[:first_statement]
    assert all(tasks[task_id]["state"] != "success" for task_id in DEFERRING_TASKS)
    assert e2e.import_jobs() == jobs_before


def test_a_second_trigger_of_the_same_window_adopts_the_import_jobs(e2e: E2E) -> None:
    jobs_before = e2e.import_jobs()
    run_id, state = e2e.run("pulla_personalize_daily", FULL_WINDOW)
    assert_succeeded(e2e, "pulla_personalize_daily", run_id, state)
    assert e2e.import_jobs() == jobs_before
    log = e2e.api.task_log("pulla_personalize_daily", run_id, "import_interactions", 1)
    assert "adopt" in log.lower(), log[-2000:]


def test_an_endpoint_crash_during_a_deferred_import_is_reported_and_a_cleared_task_succeeds(e2e: E2E) -> None:
    """Issue 14: the endpoint dies (SIGKILL) while the import waits are deferred to the triggerer. The triggerer's
    status checks fail once botocore's retries run out, so each wait ends with the reason instead of waiting
    forever; after the endpoint restarts on the same data directory, clearing the tasks adopts the import jobs it
    resumed and the run goes green, with one job per dataset."""
    import time

    daily = "pulla_personalize_daily"
    last_day = END_DATE.toordinal() - 2  # a day of data whose window no earlier test imported
    window = {
        "window_start": date.fromordinal(last_day).isoformat(),
        "window_end": date.fromordinal(last_day + 1).isoformat(),
        "full_reload": False,
    }
    label = window["window_start"].replace("-", "")  # one local day: the job names carry just its date
    services = e2e.services
    services.crash_personalize()
    services.restart_personalize(faults="slow:dataset-import-job:900")  # imports stay IN_PROGRESS until the crash

    def states(run_id: str) -> dict[str, str]:
        return {task_id: item["state"] for task_id, item in e2e.api.task_instances(daily, run_id).items()}

    def wait_for(condition: Any, what: str, seconds: float) -> Any:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            e2e.cluster.check_alive()
            value = condition()
            if value:
                return value
            time.sleep(2)
        raise AssertionError(f"{what} within {seconds} s; task states: {states(run_id)}")

    e2e.api.unpause(daily)
    run_id = e2e.api.trigger(daily, window)
    wait_for(lambda: all(states(run_id).get(t) == "deferred" for t in DEFERRING_TASKS), "imports deferred", 600)
    services.crash_personalize()

    ended = ("failed", "up_for_retry")
    wait_for(lambda: all(states(run_id).get(t) in ended for t in DEFERRING_TASKS), "waits reported the crash", 600)
    for task_id in DEFERRING_TASKS:
        item = e2e.api.task_instances(daily, run_id)[task_id]
        log = e2e.api.task_log(daily, run_id, task_id, item["try_number"])
        triggered = "\n".join(trigger_logs(e2e, daily, run_id, task_id))
        assert "Could not connect to the endpoint URL" in log + triggered, (task_id, log[-3000:], triggered[-3000:])

    services.restart_personalize()  # no faults: the endpoint resumes the imports that were in flight
    e2e.api.post(
        f"/api/v2/dags/{daily}/clearTaskInstances",
        {
            "dry_run": False,
            "dag_run_id": run_id,
            "task_ids": list(DEFERRING_TASKS),
            "include_downstream": True,
            "only_failed": False,
            "reset_dag_runs": True,
        },
    )
    assert_succeeded(e2e, daily, run_id, e2e.api.wait_for_run(daily, run_id, cluster=e2e.cluster))
    for task_id in DEFERRING_TASKS:
        item = e2e.api.task_instances(daily, run_id)[task_id]
        log = e2e.api.task_log(daily, run_id, task_id, item["try_number"])
        assert "adopting it" in log, log[-3000:]  # the cleared task found its job rather than starting another
    jobs = [job for job in e2e.import_jobs() if f"-{label}-" in job]
    assert len(jobs) == len(DEFERRING_TASKS), jobs
