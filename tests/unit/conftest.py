"""Fixtures every unit test may use: the shipped pipeline configuration, and a way to write a variant of it."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from pulla_personalize.pipeline_config import DEFAULT_CONFIG_PATH, PipelineConfig, load_pipeline_config


@pytest.fixture
def shipped_data() -> dict[str, Any]:
    """The shipped configuration file as parsed YAML (a fresh copy to change)."""
    return copy.deepcopy(yaml.safe_load(DEFAULT_CONFIG_PATH.read_text(encoding="utf-8")))


@pytest.fixture
def write_config(tmp_path: Path, shipped_data: dict[str, Any]) -> Callable[..., Path]:
    """``write_config(change, name=...)``: the shipped configuration, changed in place by ``change``, as a file."""

    def factory(change: Callable[[dict[str, Any]], None] | None = None, name: str = "personalize.yaml") -> Path:
        data = copy.deepcopy(shipped_data)
        if change is not None:
            change(data)
        path = tmp_path / name
        path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
        return path

    return factory


@pytest.fixture
def config() -> PipelineConfig:
    return load_pipeline_config()
