"""Fixtures for the tests of the DAGs' task bodies and glue: an isolated Airflow home, credentials that cannot
reach AWS and a moto S3 bucket the shipped configuration names (the configuration fixtures are tests/unit's).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pulla_personalize.pipeline_config import PipelineConfig

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
