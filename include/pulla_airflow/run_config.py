"""The configuration of one DAG run: read once by the run's first task, handed on to the others through XCom.

The core checks the file (:mod:`pulla_personalize.pipeline_config`); this adds the checks that need the provider
(the deploy gate's metric names), so a misspelt metric fails the first task instead of keeping the live version
forever.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pulla_personalize.pipeline_config import (
    ConfigError,
    PipelineConfig,
    config_from_snapshot,
    config_snapshot,
)


def check_gate_metrics(config: PipelineConfig) -> PipelineConfig:
    """Refuses a gate rule naming a metric GetSolutionMetrics never returns (it would never be compared)."""
    from personalize_provider.gate import KNOWN_METRICS

    for metric in config.min_ratios:
        if metric not in KNOWN_METRICS:
            raise ConfigError(
                f"{config.path.name}: quality_gate.min_ratios.{metric}: unknown metric; "
                f"use one of {', '.join(sorted(KNOWN_METRICS))}"
            )
    return config


def read_run_config(path: Path | str | None = None) -> dict[str, Any]:
    """What a run's first task returns: the checked configuration as a small dict for XCom."""
    snapshot = config_snapshot(path)
    check_gate_metrics(config_from_snapshot(snapshot))
    return snapshot


def run_config(snapshot: Mapping[str, Any]) -> PipelineConfig:
    """The run's configuration from the first task's snapshot, without reading the file again."""
    return config_from_snapshot(snapshot)
