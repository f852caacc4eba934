"""Fixtures for the tests of the DAGs' task bodies and glue: an isolated Airflow home, credentials that cannot
reach AWS, the shipped pipeline configuration, a moto S3 bucket it names, and a way to write a variant of the
configuration file.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from pulla_personalize.pipeline_config import DEFAULT_CONFIG_PATH, PipelineConfig, load_pipeline_config

REPO_ROOT = Path(__file__).resolve().parents[3]
# Airflow fixes its home when first imported; keep it out of the user's ~/airflow (same home as the provider tests).
os.environ.setdefault("AIRFLOW_HOME", str(REPO_ROOT / ".airflow_test_home"))

REGION = "ap-northeast-2"


@pytest.fixture(autouse=True)
def fake_aws_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Credentials that cannot reach AWS, no profile from the machine, and the shipped configuration."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDTESTONLY")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test-secret-never-logged")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    monkeypatch.delenv("PULLA_PERSONALIZE_CONFIG", raising=False)


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


@pytest.fixture
def s3(config: PipelineConfig) -> Iterator[Any]:
    """A boto3 S3 client on moto, with the configured bucket created."""
    import boto3
    from moto import mock_aws

    with mock_aws():
        client = boto3.client("s3", region_name=REGION)
        client.create_bucket(Bucket=config.s3.bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
        yield client


def list_keys(s3_client: Any, bucket: str, prefix: str = "") -> list[str]:
    pages = s3_client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return sorted(item["Key"] for page in pages for item in page.get("Contents", []))
