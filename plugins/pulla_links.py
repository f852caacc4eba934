"""Registers the Pulla-specific operator link (the retrain DAG's metric-history chart) with Airflow."""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from pulla_airflow.operators import MetricsChartLink


class PullaLinksPlugin(AirflowPlugin):
    name = "pulla_links"
    operator_extra_links = [MetricsChartLink()]  # noqa: RUF012 (AirflowPlugin declares it a list)
