"""The status engine driven by the kinds table, and the table and dispatch checked against botocore's API model."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from personalize_local.kinds import (
    ACTIVE,
    BATCH_INFERENCE_JOB,
    BATCH_SEGMENT_JOB,
    CAMPAIGN,
    CREATE_FAILED,
    CREATE_IN_PROGRESS,
    DATA_DELETION_JOB,
    DATASET,
    DATASET_GROUP,
    DELETE_PENDING,
    EVENT_TRACKER,
    FILTER,
    IMPORT_JOB,
    JOB_IN_PROGRESS,
    KINDS,
    SCHEMA,
    SOLUTION,
    SOLUTION_VERSION,
    children_of,
)
from personalize_local.lifecycle import Lifecycle, UpdateFailed, WorkFailed
from personalize_local.service import EndpointSettings, PersonalizeService
from personalize_local.state import Scheduler, StateStore

DELAY = 0.05  # long enough to see each status right after the call that sets it


def wait_until(condition: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        time.sleep(0.005)
    return value


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Lifecycle]:
    scheduler = Scheduler()
    lifecycle = Lifecycle(StateStore(tmp_path), scheduler, DELAY)
    yield lifecycle
    scheduler.stop()
    lifecycle.close()


def status(engine: Lifecycle, kind: str, arn: str) -> str | None:
    record = engine.store.get(kind, arn)
    return record and record.get("status")


def test_a_kind_without_work_becomes_active_and_listeners_hear_of_it(engine: Lifecycle) -> None:
    heard = []
    engine.when_active(DATASET_GROUP, heard.append)
    engine.create(DATASET_GROUP, "g", {"name": "g"})
    assert status(engine, DATASET_GROUP, "g") == "CREATE PENDING"
    wait_until(lambda: status(engine, DATASET_GROUP, "g") == ACTIVE)
    wait_until(lambda: heard == ["g"])


def test_schemas_have_no_lifecycle(engine: Lifecycle) -> None:
    engine.create(SCHEMA, "s", {"name": "s"})
    assert "status" not in engine.store.get(SCHEMA, "s")


@pytest.mark.parametrize(
    ("failure", "reason"),
    [
        (WorkFailed("No CSV files found at s3://b/"), "No CSV files found at s3://b/"),
        (KeyError("x"), "Internal error in the local endpoint: KeyError: 'x'"),
    ],
)
def test_work_runs_on_the_kinds_pool_and_its_failure_is_the_reason(
    engine: Lifecycle, failure: Exception, reason: str
) -> None:
    ran_in = []

    def work(arn: str) -> None:
        ran_in.append(threading.current_thread().name)
        raise failure

    engine.set_work(IMPORT_JOB, work)
    engine.create(IMPORT_JOB, "job", {})
    wait_until(lambda: status(engine, IMPORT_JOB, "job") == CREATE_FAILED)
    assert engine.store.get(IMPORT_JOB, "job")["failureReason"] == reason
    assert ran_in[0].startswith(f"personalize-{KINDS[IMPORT_JOB].pool}")


def test_a_job_moves_through_the_job_statuses_and_shows_its_results_with_completed(engine: Lifecycle) -> None:
    seen = []

    def work(arn: str) -> dict[str, int]:
        seen.append(status(engine, DATA_DELETION_JOB, arn))
        return {"numDeleted": 3}

    engine.set_work(DATA_DELETION_JOB, work)
    engine.create(DATA_DELETION_JOB, "job", {"datasetGroupArn": "g"})
    assert status(engine, DATA_DELETION_JOB, "job") == "PENDING"
    wait_until(lambda: status(engine, DATA_DELETION_JOB, "job") == "COMPLETED")
    assert seen == ["IN_PROGRESS"]
    assert engine.store.get(DATA_DELETION_JOB, "job")["numDeleted"] == 3

    def fail(arn: str) -> None:
        raise WorkFailed("s3://b/users.csv line 3: empty USER_ID")

    engine.set_work(DATA_DELETION_JOB, fail)
    engine.create(DATA_DELETION_JOB, "bad", {"datasetGroupArn": "g"})
    wait_until(lambda: status(engine, DATA_DELETION_JOB, "bad") == "FAILED")
    assert engine.store.get(DATA_DELETION_JOB, "bad")["failureReason"] == "s3://b/users.csv line 3: empty USER_ID"


def test_only_unfinished_jobs_keep_their_parent_from_being_deleted() -> None:
    jobs, trackers = KINDS[DATA_DELETION_JOB], KINDS[EVENT_TRACKER]
    assert [jobs.holds_parent({"status": s}) for s in ("PENDING", "IN_PROGRESS", "COMPLETED", "FAILED")] == [
        True,
        True,
        False,
        False,
    ]
    assert trackers.holds_parent({"status": ACTIVE})


def test_an_update_applies_only_at_active_or_fails_with_its_reason(engine: Lifecycle) -> None:
    heard = []
    engine.set_update(CAMPAIGN, lambda record, update: {"solutionVersionArn": update["solutionVersionArn"]})
    engine.when_updated(CAMPAIGN, heard.append)
    engine.store.put(CAMPAIGN, {"status": ACTIVE, "solutionVersionArn": "v1"}, "c")
    engine.start_update(CAMPAIGN, "c", {"solutionVersionArn": "v2"})
    assert engine.update_in_flight(CAMPAIGN, engine.store.get(CAMPAIGN, "c"))
    assert engine.store.get(CAMPAIGN, "c")["solutionVersionArn"] == "v1"
    wait_until(lambda: engine.store.get(CAMPAIGN, "c")["latestCampaignUpdate"]["status"] == ACTIVE)
    assert engine.store.get(CAMPAIGN, "c")["solutionVersionArn"] == "v2"
    wait_until(lambda: heard == ["c"])

    def refuse(record: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
        raise UpdateFailed("The solution version is no longer ACTIVE.")

    engine.set_update(CAMPAIGN, refuse)
    engine.start_update(CAMPAIGN, "c", {"solutionVersionArn": "v3"})
    wait_until(lambda: engine.store.get(CAMPAIGN, "c")["latestCampaignUpdate"]["status"] == CREATE_FAILED)
    update = engine.store.get(CAMPAIGN, "c")["latestCampaignUpdate"]
    assert update["failureReason"] == "The solution version is no longer ACTIVE."
    assert update["solutionVersionArn"] == "v3"
    assert engine.store.get(CAMPAIGN, "c")["solutionVersionArn"] == "v2"


def test_resume_restarts_what_was_in_flight_and_finishes_deletes(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    store.put(DATASET_GROUP, {"status": CREATE_IN_PROGRESS}, "g")
    store.put(SOLUTION_VERSION, {"status": DELETE_PENDING}, "v")
    store.put(DATASET, {"status": ACTIVE, "latestDatasetUpdate": {"status": "CREATE PENDING", "schemaArn": "s2"}}, "d")
    store.put(DATA_DELETION_JOB, {"status": JOB_IN_PROGRESS}, "job")
    scheduler = Scheduler()
    engine = Lifecycle(StateStore(tmp_path), scheduler, DELAY)
    engine.set_update(DATASET, lambda record, update: {"schemaArn": update["schemaArn"]})
    engine.set_work(DATA_DELETION_JOB, lambda arn: {"numDeleted": 0})
    try:
        engine.resume()
        assert status(engine, DATASET_GROUP, "g") == "CREATE PENDING"
        assert status(engine, DATA_DELETION_JOB, "job") == "PENDING"
        wait_until(lambda: status(engine, DATA_DELETION_JOB, "job") == "COMPLETED")
        wait_until(lambda: status(engine, DATASET_GROUP, "g") == ACTIVE)
        wait_until(lambda: engine.store.get(SOLUTION_VERSION, "v") is None)
        wait_until(lambda: engine.store.get(DATASET, "d").get("schemaArn") == "s2")
    finally:
        scheduler.stop()
        engine.close()


def test_delete_passes_delete_pending_then_cleans_up(engine: Lifecycle) -> None:
    cleaned = []
    engine.store.put(DATASET, {"status": ACTIVE}, "d")
    engine.start_delete(DATASET, "d", lambda: cleaned.append("d"))
    assert status(engine, DATASET, "d") == DELETE_PENDING
    wait_until(lambda: cleaned == ["d"])
    assert engine.store.get(DATASET, "d") is None


# ---- the table and the dispatch against the API model -----------------------------------------------------------

API_NAMES = {
    SCHEMA: "Schema",
    DATASET_GROUP: "DatasetGroup",
    DATASET: "Dataset",
    IMPORT_JOB: "DatasetImportJob",
    DATA_DELETION_JOB: "DataDeletionJob",
    SOLUTION: "Solution",
    SOLUTION_VERSION: "SolutionVersion",
    CAMPAIGN: "Campaign",
    EVENT_TRACKER: "EventTracker",
    FILTER: "Filter",
    BATCH_INFERENCE_JOB: "BatchInferenceJob",
    BATCH_SEGMENT_JOB: "BatchSegmentJob",
}


@pytest.fixture(scope="module")
def api_model():
    import botocore.session

    return botocore.session.get_session().get_service_model("personalize")


@pytest.mark.parametrize("kind", KINDS)
def test_the_kinds_table_matches_the_api_model(api_model, kind: str) -> None:
    spec, name = KINDS[kind], API_NAMES[kind]
    describe = api_model.operation_model(f"Describe{name}")
    assert spec.arn_key in describe.input_shape.members
    assert spec.describe_key in describe.output_shape.members
    listing = api_model.operation_model(f"List{name}s")
    assert spec.list_key in listing.output_shape.members
    summary = listing.output_shape.members[spec.list_key].member
    assert set(spec.summary_fields) <= set(summary.members)
    if spec.parent is not None:
        assert KINDS[spec.parent.kind].arn_key in listing.input_shape.members


def test_every_dispatched_operation_is_a_personalize_operation(api_model, tmp_path: Path) -> None:
    service = PersonalizeService(EndpointSettings(data_dir=tmp_path))
    try:
        operations = service._operations()
    finally:
        service.close()
    assert len(operations) == 48
    assert set(operations) <= set(api_model.operation_names)


def test_a_dataset_group_is_deleted_after_its_children() -> None:
    assert children_of(DATASET_GROUP) == [DATASET, DATA_DELETION_JOB, SOLUTION, EVENT_TRACKER, FILTER]


def test_jobs_on_one_dataset_take_turns_in_order_and_jobs_on_others_never_wait() -> None:
    from personalize_local.lifecycle import Turns

    turns = Turns()
    order: list[str] = []
    with turns.reserve(["a"]) as first_turn:
        second_started = threading.Event()

        def second() -> None:
            with turns.reserve(["a", "b"]) as wait_turn:
                second_started.set()
                wait_turn()
                order.append("second")

        thread = threading.Thread(target=second)
        thread.start()
        second_started.wait(5)
        with turns.reserve(["c"]) as other_turn:
            other_turn()  # another dataset: its turn is at once, while "a" is held
            order.append("other")
        first_turn()
        time.sleep(0.05)  # the second job, queued behind this one on "a", must still be waiting
        order.append("first")
    thread.join(5)
    assert order == ["other", "first", "second"]
    with turns.reserve(["a", "b"]) as wait_turn:
        wait_turn()  # every turn was given up: nothing is left queued


def test_work_in_a_process_returns_its_result_or_fails_with_the_reason() -> None:
    import multiprocessing
    import os
    import signal

    from personalize_local import training_job
    from personalize_local.trainer import TrainingConfig
    from personalize_local.work_process import WorkProcesses

    processes = WorkProcesses()
    assert processes.run("work-test", "test", pow, 2, 10) == 1024
    job = training_job.TrainingJob("v", "group-arn", "FULL", TrainingConfig(), Path("unused.npz"))
    with pytest.raises(WorkFailed, match="Dataset group group-arn has no Interactions data"):
        processes.run("work-test", "training", training_job.run, job)
    with pytest.raises(WorkFailed, match="Internal error in the local endpoint's test process: ValueError"):
        processes.run("work-test", "test", int, "not a number")
    with pytest.raises(WorkFailed, match=r"test process ended without a result \(exit code 3\)"):
        processes.run("work-test", "test", os._exit, 3)

    outcome: list[BaseException] = []

    def run_long() -> None:
        try:
            processes.run("work-test-long", "test", time.sleep, 60)
        except WorkFailed as exc:
            outcome.append(exc)

    thread = threading.Thread(target=run_long)
    thread.start()
    (child,) = wait_until(lambda: [c for c in multiprocessing.active_children() if c.name == "work-test-long"])
    os.kill(child.pid, signal.SIGKILL)
    thread.join(10)
    assert "stopped by signal SIGKILL" in str(outcome[0])

    thread = threading.Thread(target=run_long)
    thread.start()
    wait_until(lambda: [c for c in multiprocessing.active_children() if c.name == "work-test-long"])
    processes.close()  # the endpoint stops: its work processes end with it
    thread.join(10)
    assert "stopped by signal SIGTERM" in str(outcome[1])
    with pytest.raises(WorkFailed, match="stopped before the test started"):
        processes.run("work-test", "test", pow, 2, 10)
