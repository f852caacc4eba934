"""DAG integrity: every DAG parses, follows the team's policy, and parses fast without heavy libraries."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta

import pytest
from airflow.dag_processing.dagbag import DagBag

from pulla_personalize.dag_support.notify import PullaFailureNotifier
from pulla_personalize.dag_support.policy import ALLOWED_TAGS, OWNER, TIME_ZONE

from .conftest import DAGS_DIR

DAG_IDS = ("pulla_personalize_setup", "pulla_personalize_daily", "pulla_personalize_retrain")


@pytest.fixture(scope="module")
def dag_bag() -> DagBag:
    return DagBag(dag_folder=str(DAGS_DIR))


@pytest.fixture(params=DAG_IDS)
def dag(request: pytest.FixtureRequest, dag_bag: DagBag):
    return dag_bag.dags[request.param]


def test_all_dags_parse_without_errors(dag_bag: DagBag) -> None:
    assert dag_bag.import_errors == {}
    assert set(dag_bag.dags) == set(DAG_IDS)


def test_dag_policy(dag) -> None:
    assert dag.max_active_runs == 1
    assert dag.dagrun_timeout is not None
    assert dag.dagrun_timeout <= timedelta(hours=12)
    assert dag.default_args["owner"] == OWNER
    assert any(isinstance(callback, PullaFailureNotifier) for callback in dag.on_failure_callback)
    assert set(dag.tags) <= ALLOWED_TAGS, f"tags outside the vocabulary: {set(dag.tags) - ALLOWED_TAGS}"
    assert "personalize" in dag.tags
    assert not dag.catchup


def test_dag_docs_tell_an_operator_what_it_does_and_how_to_rerun(dag) -> None:
    doc = dag.doc_md or ""
    assert doc.strip().startswith("###"), "doc_md should come from the module docstring"
    for topic in ("What it does", "Reads", "Writes"):
        assert topic in doc, f"{dag.dag_id} doc_md lacks '{topic}'"
    assert "rerun" in doc.lower()


def test_task_policy(dag) -> None:
    for task in dag.tasks:
        assert task.owner == OWNER, task.task_id
        assert task.retries >= 1, task.task_id
        assert task.retry_delay >= timedelta(minutes=1), task.task_id
        assert task.execution_timeout is not None, task.task_id
        callbacks = task.on_failure_callback or []
        assert any(isinstance(callback, PullaFailureNotifier) for callback in callbacks), task.task_id


def test_schedules(dag_bag: DagBag) -> None:
    daily = dag_bag.dags["pulla_personalize_daily"].timetable
    retrain = dag_bag.dags["pulla_personalize_retrain"].timetable
    assert type(dag_bag.dags["pulla_personalize_setup"].timetable).__name__ == "NullTimetable"  # manual only
    assert (daily.expression, str(daily.timezone)) == ("0 3 * * *", TIME_ZONE)
    assert (retrain.expression, str(retrain.timezone)) == ("0 4 * * 0", TIME_ZONE)


def test_daily_emits_one_asset_per_dataset(dag_bag: DagBag) -> None:
    dag = dag_bag.dags["pulla_personalize_daily"]
    for kind in ("interactions", "users", "items"):
        outlets = dag.get_task(f"import_{kind}").outlets
        assert [asset.name for asset in outlets] == [f"pulla_personalize.{kind}"]


def test_daily_validates_before_any_personalize_task(dag_bag: DagBag) -> None:
    dag = dag_bag.dags["pulla_personalize_daily"]
    export = dag.get_task("export_window")
    for task_id in ("find_datasets", "publish_users", "import_interactions", "import_users", "import_items"):
        assert export.task_id in dag.get_task(task_id).get_flat_relative_ids(upstream=True), task_id


def test_forms(dag_bag: DagBag) -> None:
    daily = dag_bag.dags["pulla_personalize_daily"].params
    assert {"window_start", "window_end", "full_reload"} <= set(daily.keys())
    retrain = dag_bag.dags["pulla_personalize_retrain"].params
    assert retrain.get_param("training_mode").schema["enum"] == ["FULL", "UPDATE"]
    assert {"force_deploy", "min_ndcg_ratio", "min_precision_ratio"} <= set(retrain.keys())
    for params in (daily, retrain):
        for name in params:
            assert params.get_param(name).schema.get("title"), f"{name} has no form title"


@pytest.mark.parametrize("dag_id", DAG_IDS)
def test_dag_file_parses_fast_without_heavy_libraries(dag_id: str) -> None:
    # A fresh interpreter, Airflow already imported (the dag-processor has it): time the DAG file alone.
    probe = f"""
import sys, time, runpy
import airflow.sdk
start = time.perf_counter()
runpy.run_path({str(DAGS_DIR / (dag_id + ".py"))!r})
elapsed = time.perf_counter() - start
heavy = sorted(m for m in ("pandas", "numpy", "great_expectations", "matplotlib", "implicit") if m in sys.modules)
print(f"{{elapsed:.3f}} {{','.join(heavy)}}")
"""
    completed = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    elapsed_text, _, heavy = completed.stdout.strip().splitlines()[-1].partition(" ")
    assert heavy == "", f"parsing {dag_id} imported {heavy}"
    assert float(elapsed_text) < 1.0, f"parsing {dag_id} took {elapsed_text} s"
