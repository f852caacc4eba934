"""DAG integrity: every DAG parses, follows the team's policy, and parses fast without heavy libraries."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from datetime import timedelta
from typing import Any

import pytest
from airflow.dag_processing.dagbag import DagBag
from airflow.sdk.exceptions import AirflowFailException

from pulla_airflow.dag_policy import ALLOWED_TAGS, OWNER, TIME_ZONE
from pulla_airflow.notify import PullaFailureNotifier
from pulla_airflow.run_config import read_run_config

from .conftest import DAGS_DIR, REPO_ROOT

DAG_IDS = (
    "pulla_personalize_setup",
    "pulla_personalize_daily",
    "pulla_personalize_retrain",
    "pulla_personalize_batch",
    "pulla_personalize_segment",
)


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


def test_dag_has_a_one_line_description_for_the_dag_list(dag) -> None:
    description = dag.description or ""
    assert description, f"{dag.dag_id} has no description"
    assert description.strip() == description
    assert "\n" not in description
    assert len(description) <= 100, f"{dag.dag_id}: {len(description)} characters is too long for the DAG list"


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
    for manual in ("pulla_personalize_setup", "pulla_personalize_segment"):
        assert type(dag_bag.dags[manual].timetable).__name__ == "NullTimetable", manual
    assert (daily.expression, str(daily.timezone)) == ("0 3 * * *", TIME_ZONE)
    assert (retrain.expression, str(retrain.timezone)) == ("0 4 * * 0", TIME_ZONE)


def test_daily_emits_one_asset_per_dataset(dag_bag: DagBag) -> None:
    dag = dag_bag.dags["pulla_personalize_daily"]
    for kind in ("interactions", "users", "items"):
        outlets = dag.get_task(f"import_{kind}").outlets
        assert [asset.name for asset in outlets] == [f"pulla_personalize.{kind}"]


def test_crm_picks_follow_each_deployment_and_the_weekly_clock(dag_bag: DagBag) -> None:
    retrain = dag_bag.dags["pulla_personalize_retrain"]
    for task_id in ("create_campaign", "update_campaign"):
        assert [asset.name for asset in retrain.get_task(task_id).outlets] == ["pulla_personalize.live_campaign"]
    assert retrain.get_task("keep_live_version").outlets == []
    batch = dag_bag.dags["pulla_personalize_batch"]
    timetable = batch.timetable
    assert type(timetable).__name__ == "AssetOrTimeSchedule"
    assert (timetable.timetable.expression, str(timetable.timetable.timezone)) == ("0 6 * * 1", TIME_ZONE)
    assert timetable.asset_condition.name == "pulla_personalize.live_campaign"
    assert [asset.name for asset in batch.get_task("publish_picks").outlets] == ["pulla_personalize.crm_picks"]


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
    segment = dag_bag.dags["pulla_personalize_segment"].params
    assert list(segment.keys()) == [
        "audience",
        "item_ids",
        "cup_type",
        "wire",
        "registered_from",
        "registered_to",
        "size",
    ]
    assert segment.get_param("audience").schema["pattern"] == "^[a-z0-9][a-z0-9-]{0,29}$"
    assert not segment.get_param("audience").has_value  # required: the form asks for it
    size = segment.get_param("size").schema
    assert (size["type"], size["minimum"]) == (["null", "integer"], 1)
    for name in ("registered_from", "registered_to"):
        assert segment.get_param(name).schema["format"] == "date"
    for params in (daily, retrain, segment):
        for name in params:
            assert params.get_param(name).schema.get("title"), f"{name} has no form title"


def test_setup_skips_only_the_segment_solution_when_segments_are_off(dag_bag: DagBag) -> None:
    dag = dag_bag.dags["pulla_personalize_setup"]
    gate = dag.get_task("segments_enabled")
    assert gate.downstream_task_ids == {"ensure_segment_solution"}
    assert not gate.ignore_downstream_trigger_rules  # the skip stops at the solution: publish_resources still runs
    assert "segments_enabled" not in dag.get_task("publish_resources").get_flat_relative_ids(upstream=True)
    for dataset in ("interactions", "users", "items"):
        assert f"ensure_{dataset}_dataset" in gate.upstream_task_ids
    assert dag.get_task("ensure_segment_solution").deferrable


def test_segment_finds_the_audience_deferred_and_emits_the_crm_asset(dag_bag: DagBag) -> None:
    dag = dag_bag.dags["pulla_personalize_segment"]
    assert [task.task_id for task in dag.topological_sort()] == [
        "read_config",
        "plan_segment",
        "find_audience",
        "publish_audience",
    ]
    assert dag.get_task("find_audience").deferrable
    assert [asset.name for asset in dag.get_task("publish_audience").outlets] == ["pulla_personalize.crm_segments"]


@pytest.mark.parametrize("dag_id", DAG_IDS)
def test_dag_file_parses_fast_without_heavy_libraries(dag_id: str) -> None:
    # A fresh interpreter, Airflow already imported (the dag-processor has it): the DAG file's own CPU time (not
    # wall time, which other processes on a busy machine would inflate).
    probe = f"""
import sys, time, runpy
import airflow.sdk
start = time.process_time()
runpy.run_path({str(DAGS_DIR / (dag_id + ".py"))!r})
elapsed = time.process_time() - start
heavy = sorted(m for m in ("pandas", "numpy", "great_expectations", "matplotlib", "implicit") if m in sys.modules)
print(f"{{elapsed:.3f}} {{','.join(heavy)}}")
"""
    completed = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    elapsed_text, _, heavy = completed.stdout.strip().splitlines()[-1].partition(" ")
    assert heavy == "", f"parsing {dag_id} imported {heavy}"
    assert float(elapsed_text) < 1.0, f"parsing {dag_id} took {elapsed_text} s"


# --- failures retrying cannot fix fail at once, and say why ---------------------------------------------------------


@pytest.fixture
def nothing_set_up(monkeypatch: pytest.MonkeyPatch) -> None:
    """Personalize answers that no dataset group exists: pulla_personalize_setup never ran here."""
    from personalize_provider.hooks.personalize import PersonalizeHook

    monkeypatch.delenv("PULLA_PERSONALIZE_CONFIG", raising=False)
    monkeypatch.setattr(PersonalizeHook, "find_dataset_group", lambda self, *, name: None)


SETUP_MISSING = "dataset group 'pulla' does not exist: run pulla_personalize_setup first, then run this DAG again"


def test_retrain_without_setup_fails_once_and_says_run_setup(dag_bag: DagBag, nothing_set_up: None) -> None:
    task = dag_bag.dags["pulla_personalize_retrain"].get_task("prepare_retrain")
    assert task.retries >= 1  # transient errors keep their retries; this one must not use them
    with pytest.raises(AirflowFailException) as raised:
        task.python_callable(config=read_run_config(), params={"training_mode": "FULL", "force_deploy": False})
    assert str(raised.value) == SETUP_MISSING
    assert raised.value.__cause__ is None


def test_daily_without_setup_fails_once_at_find_datasets(dag_bag: DagBag, nothing_set_up: None) -> None:
    task = dag_bag.dags["pulla_personalize_daily"].get_task("find_datasets")
    window = {"label": "20261127", "import_modes": {"interactions": "INCREMENTAL", "users": "FULL", "items": "FULL"}}
    with pytest.raises(AirflowFailException, match=f"^{SETUP_MISSING}$"):
        task.python_callable(config=read_run_config(), window=window, export={"fingerprints": {}})


def test_segment_with_segments_off_fails_once_at_plan_segment(
    dag_bag: DagBag, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    import yaml

    from pulla_personalize.pipeline_config import DEFAULT_CONFIG_PATH

    data = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text(encoding="utf-8"))
    data["crm"]["segments"]["enabled"] = False
    config_file = tmp_path / "personalize.yaml"
    config_file.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    monkeypatch.setenv("PULLA_PERSONALIZE_CONFIG", str(config_file))
    task = dag_bag.dags["pulla_personalize_segment"].get_task("plan_segment")
    with pytest.raises(AirflowFailException, match=r"^launch audiences are off in personalize.yaml: set crm.segments"):
        task.python_callable(config=read_run_config(), params={"audience": "winter", "item_ids": ["BRA-1"]})


def test_failed_validation_is_logged_once_before_the_failure(
    dag_bag: DagBag, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    from pulla_airflow import failures, run_archive

    failure_item = {
        "dataset": "interactions",
        "expectation": "expect_column_values_to_not_be_null",
        "column": "USER_ID",
        "blocking": True,
        "success": False,
        "observed": None,
        "element_count": 1500,
        "unexpected_count": 7,
        "examples": [None],
        "expected": "",
    }
    summary = {
        "window": {"label": "20261127"},
        "run_uri": "s3://pulla-personalize/personalize/runs/window=20261127/",
        "report_uri": "s3://pulla-personalize/personalize/runs/window=20261127/report.json",
        "passed": False,
        "datasets": {"interactions": 1500},
        "sources": {},
        "validation": {"passed": False, "evaluated": 63, "failures": [failure_item], "warnings": []},
    }

    def failing_export(**kwargs: Any) -> dict[str, Any]:
        raise failures.ValidationGateFailed(summary)

    monkeypatch.setattr(run_archive, "export_to_run_archive", failing_export)
    monkeypatch.setenv("AIRFLOW_CONN_PULLA_DB", f"sqlite:///{tmp_path / 'pulla.db'}")
    monkeypatch.setenv(
        "AIRFLOW_CONN_AWS_DEFAULT", json.dumps({"conn_type": "aws", "extra": {"region_name": "ap-northeast-2"}})
    )
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDTESTONLY")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test-secret")

    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    task_logger = logging.getLogger("airflow.task")
    level = task_logger.level
    task_logger.addHandler(handler)
    task_logger.setLevel(logging.INFO)
    try:
        task = dag_bag.dags["pulla_personalize_daily"].get_task("export_window")
        with pytest.raises(AirflowFailException) as raised:
            task.python_callable(config=read_run_config(), window=summary["window"])
    finally:
        task_logger.removeHandler(handler)
        task_logger.setLevel(level)

    logged = [(record.levelname, record.getMessage()) for record in records]
    expected_line = (
        "  failed:  expect_column_values_to_not_be_null on interactions.USER_ID: 7 of 1,500 rows unexpected; e.g. None"
    )
    assert ("ERROR", "Validation FAILED: 1 of 63 expectations failed and block the import") in logged
    assert ("ERROR", expected_line) in logged
    # Said once: the exception (what Airflow prints after the log lines, and what the notification sends) is short.
    message = str(raised.value)
    assert message.startswith("The validation gate failed for window 20261127: expect_column_values_to_not_be_null on")
    assert "7 of 1,500" not in message
    assert raised.value.__cause__ is None
    assert raised.value.__suppress_context__


# --- no avoidable warnings from our code -----------------------------------------------------------------------------


def test_parsing_and_importing_our_code_raises_no_warnings_of_ours() -> None:
    """A fresh interpreter (warnings fire once per process) parses the DAGs and imports every module a task
    imports; any warning attributed to a file of this project (deprecated Airflow imports included: their
    warnings point at the importing line) fails the test."""
    probe = f"""
import json, runpy, warnings
warnings.simplefilter("always")  # DeprecationWarning is ignored by default outside __main__
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder={str(DAGS_DIR)!r})
# Airflow's logging set-up sends warnings to the log; a new catch_warnings records them again.
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    import personalize_provider.hooks.personalize, personalize_provider.operators.personalize
    import personalize_provider.triggers.personalize, personalize_provider.links.personalize
    import pulla_airflow.run_archive, pulla_airflow.resources, pulla_airflow.plans, pulla_airflow.operators
    import pulla_airflow.metrics_history, pulla_airflow.run_config
    import pulla_airflow.summaries, pulla_airflow.tasklog, pulla_airflow.segments, pulla_airflow.export_archive
    import pulla_airflow.connections
    runpy.run_path({str(REPO_ROOT / "plugins" / "pulla_links.py")!r})
# DagBag records the warnings of each DAG file (and of what it imports) as "path:line: Category: message".
parsed = [text for texts in bag.captured_warnings.values() for text in texts]
imported = [f"{{w.filename}}:{{w.lineno}}: {{w.category.__name__}}: {{w.message}}" for w in caught]
print(json.dumps({{"errors": {{k: str(v) for k, v in bag.import_errors.items()}}, "warnings": parsed + imported}}))
"""
    completed = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    assert result["errors"] == {}
    ours = [text for text in result["warnings"] if text.startswith(str(REPO_ROOT)) and "/.venv/" not in text]
    assert ours == []


def test_the_configured_time_zone_moves_schedules_windows_and_cli_default_together(tmp_path: Any) -> None:
    """The configuration owns the time zone: change it, and the DAG schedules, the daily window and the export's
    default zone all follow (a fresh interpreter, as the dag-processor parses with the file it is given)."""
    import yaml

    from pulla_personalize.pipeline_config import DEFAULT_CONFIG_PATH

    data = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text(encoding="utf-8"))
    data["time_zone"] = "Europe/Berlin"
    config_file = tmp_path / "berlin.yaml"
    config_file.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    probe = f"""
import json
from datetime import UTC, datetime
from airflow.dag_processing.dagbag import DagBag
from pulla_airflow.plans import plan_daily_window
from pulla_airflow.run_config import read_run_config, run_config
from pulla_personalize.export_settings import ExportSettings
from pulla_personalize.extract import Window
bag = DagBag(dag_folder={str(DAGS_DIR)!r})
SCHEDULED = ("pulla_personalize_daily", "pulla_personalize_retrain")
window = plan_daily_window(datetime(2026, 11, 27, 23, 30, tzinfo=UTC), {{}}, run_config(read_run_config()))
print(json.dumps({{
    "errors": {{k: str(v) for k, v in bag.import_errors.items()}},
    "schedules": sorted({{str(bag.dags[d].timetable.timezone) for d in SCHEDULED}}),
    "window": [window["start"], window["label"]],
    "cli": [Window.parse("2026-11-27", "2026-11-28").time_zone, ExportSettings().source_time_zone],
}}))
"""
    env = {**os.environ, "PULLA_PERSONALIZE_CONFIG": str(config_file)}
    completed = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, env=env)
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    assert result["errors"] == {}
    assert result["schedules"] == ["Europe/Berlin"]
    # 23:30 UTC on 27 Nov is 00:30 on 28 Nov in Berlin: the window is Berlin's 27 Nov, starting 23:00 UTC on 26 Nov.
    assert result["window"] == ["2026-11-26T23:00:00+00:00", "20261127"]
    assert result["cli"] == ["Europe/Berlin", "Europe/Berlin"]
