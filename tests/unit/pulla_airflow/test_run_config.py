"""The configuration of one DAG run: read once by its first task, handed on, and checked against the provider's
rules (the gate's metric names)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from pulla_airflow.run_config import read_run_config, run_config
from pulla_personalize.pipeline_config import (
    DEFAULT_CONFIG_PATH,
    ConfigError,
    config_from_snapshot,
    config_snapshot,
    load_pipeline_config,
)


def test_a_run_reads_the_file_once_and_its_snapshot_survives_a_change(write_config: Callable[..., Path]) -> None:
    path = write_config(lambda data: None, name="run.yaml")
    snapshot = read_run_config(path)
    assert json.loads(json.dumps(snapshot)) == snapshot  # a small JSON-able dict: it travels by XCom
    path.write_text("time_zone: [not, a, zone]\n", encoding="utf-8")  # edited while the run goes on
    assert run_config(snapshot) == dataclasses.replace(load_pipeline_config(DEFAULT_CONFIG_PATH), path=path)
    assert config_from_snapshot(config_snapshot(DEFAULT_CONFIG_PATH)) == load_pipeline_config(DEFAULT_CONFIG_PATH)


def test_a_bad_file_fails_the_first_task_not_a_later_one(write_config: Callable[..., Path]) -> None:
    path = write_config(lambda data: data["quality_gate"]["min_ratios"].update(precision_at_2=0.9), name="gate.yaml")
    load_pipeline_config(path)  # the core does not know the gate's metrics ...
    with pytest.raises(ConfigError, match=r"^gate.yaml: quality_gate.min_ratios.precision_at_2: unknown metric"):
        read_run_config(path)  # ... the run's first task does


def test_a_misspelt_gate_metric_names_the_file_and_key(write_config: Callable[..., Path]) -> None:
    path = write_config(lambda data: data["quality_gate"]["min_ratios"].update(precision_at_2=0.98), name="bad.yaml")
    with pytest.raises(ConfigError) as raised:
        read_run_config(path)
    assert str(raised.value).startswith("bad.yaml: quality_gate.min_ratios.precision_at_2: unknown metric; use one of ")
