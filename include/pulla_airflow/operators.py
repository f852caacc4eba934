"""The one Pulla-specific operator: record a solution version's metrics and link its history chart from the task.

A TaskFlow task cannot carry an operator extra link, so the metrics step is this small operator; its body is
``metrics_history.record_solution_metrics``. The link opens the chart through a presigned S3 URL, which works the
same on AWS and on the local S3.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator, BaseOperatorLink
from airflow.sdk.execution_time.xcom import XCom

from pulla_airflow.connections import AWS_CONN_ID  # not dag_policy: loading the plugin reads no file

CHART_URL_XCOM_KEY = "metrics_chart_url"


class MetricsChartLink(BaseOperatorLink):
    """The metric-history chart of the retrain run (presigned, valid for 7 days)."""

    name = "Metrics history chart"

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        return XCom.get_value(ti_key=ti_key, key=CHART_URL_XCOM_KEY) or ""


class RecordSolutionMetricsOperator(BaseOperator):
    """Appends the evaluated solution version to the metric history on S3 and redraws the PNG chart.

    :param decision: The gate's result (``PersonalizeEvaluateSolutionVersionOperator``'s return value).
    :param config: The run's configuration as its first task read it (``run_config.read_run_config``).
    :param aws_conn_id: The AWS connection (AWS or the local S3).
    """

    template_fields: Sequence[str] = ("decision", "config", "aws_conn_id")
    operator_extra_links = (MetricsChartLink(),)

    def __init__(self, *, decision: Any, config: Any, aws_conn_id: str = AWS_CONN_ID, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.decision = decision
        self.config = config
        self.aws_conn_id = aws_conn_id

    def execute(self, context: Any) -> dict[str, Any]:
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        from pulla_airflow.metrics_history import record_solution_metrics
        from pulla_airflow.run_config import run_config
        from pulla_airflow.summaries import describe_metrics_record
        from pulla_airflow.tasklog import log_summary

        decision = self.decision
        result = record_solution_metrics(
            s3_client=S3Hook(aws_conn_id=self.aws_conn_id).get_conn(),
            config=run_config(self.config),
            decision=decision,
            deployed=bool(decision.get("deploy")),
            reason=str(decision.get("reason", "")),
        )
        context["ti"].xcom_push(key=CHART_URL_XCOM_KEY, value=result["chart_url"])
        log_summary(describe_metrics_record(result, decision.get("solution_version_arn")))
        return result
