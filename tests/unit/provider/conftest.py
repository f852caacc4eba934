"""Fixtures for the Personalize provider tests: an isolated Airflow home, fake AWS credentials, a minimal task
context, and operators whose hook client is wrapped in botocore's Stubber (every request is validated against the
real Personalize API model, and every queued response must be consumed).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[3]
# Airflow fixes its home when first imported; keep it out of the user's ~/airflow.
os.environ.setdefault("AIRFLOW_HOME", str(REPO_ROOT / ".airflow_test_home"))

REGION = "ap-northeast-2"
ACCOUNT = "123456789012"


def arn(resource: str) -> str:
    """A Personalize ARN in the test account, e.g. ``arn("dataset-group/pulla")``."""
    return f"arn:aws:personalize:{REGION}:{ACCOUNT}:{resource}"


@pytest.fixture(autouse=True)
def fake_aws_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Credentials that cannot reach AWS, and no profile or config file from the machine."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDTESTONLY")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test-secret-never-logged")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)


class RecordingTaskInstance:
    """Stands in for the task instance in a context: records what the operator pushes to XCom."""

    def __init__(self) -> None:
        self.xcom: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcom[key] = value


@pytest.fixture
def context() -> dict[str, Any]:
    """The parts of a task context the operators read: ti, and the data interval of a daily run."""
    return {
        "ti": RecordingTaskInstance(),
        "data_interval_start": datetime(2026, 11, 26, 18, 0, tzinfo=UTC),
        "data_interval_end": datetime(2026, 11, 27, 18, 0, tzinfo=UTC),
        "ds": "2026-11-27",
    }


@pytest.fixture
def stubbed() -> Iterator[Callable[[Any], Any]]:
    """``stubbed(operator)`` -> an active Stubber on the operator's real hook client; checked empty at the end."""
    from botocore.stub import Stubber

    stubbers: list[Stubber] = []

    def factory(operator: Any) -> Stubber:
        stubber = Stubber(operator.hook.conn)
        stubber.activate()
        stubbers.append(stubber)
        return stubber

    yield factory
    for stubber in stubbers:
        stubber.deactivate()
        stubber.assert_no_pending_responses()


def operator_kwargs(**overrides: Any) -> dict[str, Any]:
    """Common operator arguments: no Airflow connection (boto3's chain, our fake env), a region, no waiting."""
    return {
        "aws_conn_id": None,
        "region_name": REGION,
        "waiter_delay": 0,
        "waiter_max_attempts": 3,
        "deferrable": False,
        **overrides,
    }
