"""RecordSolutionMetricsOperator against moto's S3, and its extra link read through a stand-in for the task
supervisor's XCom channel (the link is computed in the worker after execute, and stored as an XCom)."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from pulla_airflow.operators import (
    CHART_URL_XCOM_KEY,
    MetricsChartLink,
    RecordSolutionMetricsOperator,
)
from pulla_airflow.run_config import read_run_config
from pulla_personalize.pipeline_config import PipelineConfig

from .conftest import list_keys


class RecordingTaskInstance:
    def __init__(self) -> None:
        self.xcom: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcom[key] = value


DECISION = {
    "solution_version_arn": "arn:aws:personalize:ap-northeast-2:123456789012:solution/pulla/v9",
    "deploy": False,
    "reason": "precision_at_25 0.08 is below 0.98 x live 0.10",
    "new_metrics": {"precision_at_25": 0.08, "normalized_discounted_cumulative_gain_at_25": 0.3},
    "live_metrics": {"precision_at_25": 0.10, "normalized_discounted_cumulative_gain_at_25": 0.31},
}


def test_execute_records_and_pushes_the_chart_url(s3: Any, config: PipelineConfig) -> None:
    operator = RecordSolutionMetricsOperator(
        task_id="record_metrics", decision=DECISION, config=read_run_config(), aws_conn_id=None
    )
    ti = RecordingTaskInstance()

    result = operator.execute({"ti": ti})

    assert ti.xcom == {CHART_URL_XCOM_KEY: result["chart_url"]}
    assert result["chart_url"].startswith("https://")
    assert (result["deployed"], result["reason"]) == (False, DECISION["reason"])
    assert result["versions_recorded"] == 1
    assert list_keys(s3, config.s3.bucket, "personalize/metrics/") == [
        "personalize/metrics/history.jsonl",
        "personalize/metrics/history.png",
    ]
    assert operator.template_fields == ("decision", "config", "aws_conn_id")
    assert [link.name for link in operator.operator_extra_links] == ["Metrics history chart"]


class SupervisorComms:
    """Answers the XCom reads a link makes, as the task supervisor would; records what was asked."""

    def __init__(self, value: str | None) -> None:
        self.value = value
        self.requests: list[Any] = []

    def send(self, message: Any) -> Any:
        from airflow.sdk.execution_time.comms import XComResult

        self.requests.append(message)
        return XComResult(key=message.key, value=self.value)


@pytest.mark.parametrize(
    ("stored", "link"), [(None, ""), ("https://s3.local/history.png?sig=1", "https://s3.local/history.png?sig=1")]
)
def test_chart_link(monkeypatch: pytest.MonkeyPatch, stored: str | None, link: str) -> None:
    from airflow.models.taskinstancekey import TaskInstanceKey
    from airflow.sdk.execution_time import task_runner

    comms = SupervisorComms(stored)
    monkeypatch.setattr(task_runner, "SUPERVISOR_COMMS", comms, raising=False)
    key = TaskInstanceKey("pulla_personalize_retrain", "record_metrics", "manual__1", 1, -1)
    operator = RecordSolutionMetricsOperator(
        task_id="record_metrics", decision={}, config=read_run_config(), aws_conn_id=None
    )

    assert MetricsChartLink().get_link(operator, ti_key=key) == link
    [request] = comms.requests
    assert (request.key, request.dag_id, request.task_id, request.run_id) == (
        CHART_URL_XCOM_KEY,
        "pulla_personalize_retrain",
        "record_metrics",
        "manual__1",
    )


def test_execute_ends_its_log_with_the_summary(s3: Any, config: PipelineConfig) -> None:
    from pulla_airflow.tasklog import TASK_LOGGER

    messages: list[str] = []
    handler = logging.Handler(logging.INFO)
    handler.emit = lambda record: messages.append(record.getMessage())  # type: ignore[method-assign]
    logger = logging.getLogger(TASK_LOGGER)
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        RecordSolutionMetricsOperator(
            task_id="record_metrics", decision=DECISION, config=read_run_config(), aws_conn_id=None
        ).execute({"ti": RecordingTaskInstance()})
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    assert messages[-3:] == [
        f"Recorded {DECISION['solution_version_arn']} (not deployed) in the metric history: 1 version so far",
        f"Reason: {DECISION['reason']}",
        "History: s3://pulla-personalize/personalize/metrics/history.jsonl; chart: "
        "s3://pulla-personalize/personalize/metrics/history.png (task link 'Metrics history chart')",
    ]
