"""The daily runs' archives read back: the latest export that passed its checks, and the interactions of recent days.

The CRM batch jobs and the gate's business metrics start from what the daily DAG exported, never from the source
database: ``runs/window=<label>/`` holds each run's users.csv and items.csv (whole snapshots) and interactions.csv
(the run's window), and its ``summary.json`` is written last, only by a run that got through its imports. A run
without one (failed, or still running) is not an export to read.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pulla_airflow.failures import PermanentFailure
from pulla_airflow.run_archive import SUMMARY_NAME
from pulla_airflow.s3_documents import read_json_object, s3_uri
from pulla_personalize.datasets import FILE_NAMES
from pulla_personalize.pipeline_config import PipelineConfig


class NoExportYet(PermanentFailure, LookupError):
    """No daily run has archived an export that passed its checks: run pulla_personalize_daily first."""

    def __init__(self, where: str) -> None:
        super().__init__(
            f"no daily run has archived an export that passed its checks under {where} "
            "(a run writes summary.json last): run pulla_personalize_daily first",
        )


@dataclass(frozen=True)
class ArchivedRun:
    """One daily run's archive: its window and the folder holding its CSVs."""

    label: str
    start: datetime
    end: datetime
    prefix: str  # the object key of runs/window=<label>/

    def key(self, dataset_type: str) -> str:
        return self.prefix + FILE_NAMES[dataset_type]


def archived_runs(s3_client: Any, config: PipelineConfig) -> list[ArchivedRun]:
    """Every archived run that passed its checks, oldest window end first (ties: the longer window first)."""
    runs_prefix = config.s3.key("runs") + "/"
    runs = []
    paginator = s3_client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=config.s3.bucket, Prefix=runs_prefix):
        for item in page.get("Contents", []):
            key = item["Key"]
            if not key.endswith("/" + SUMMARY_NAME):
                continue
            summary = read_json_object(s3_client, config.s3.bucket, key)
            if not summary.get("validation_passed"):
                continue
            window = summary["window"]
            runs.append(
                ArchivedRun(
                    label=window["label"],
                    start=datetime.fromisoformat(window["start"]),
                    end=datetime.fromisoformat(window["end"]),
                    prefix=key[: -len(SUMMARY_NAME)],
                )
            )
    return sorted(runs, key=lambda run: (run.end, run.start))


def latest_export(s3_client: Any, config: PipelineConfig) -> ArchivedRun:
    """The archived run whose window ends last; ``NoExportYet`` when there is none."""
    runs = archived_runs(s3_client, config)
    if not runs:
        raise NoExportYet(s3_uri(config.s3.bucket, config.s3.key("runs") + "/"))
    return runs[-1]


def read_archived_csv(s3_client: Any, config: PipelineConfig, run: ArchivedRun, dataset_type: str) -> Any:
    """One of a run's CSVs as a DataFrame of strings (empty cells stay empty strings)."""
    import pandas as pd

    body = s3_client.get_object(Bucket=config.s3.bucket, Key=run.key(dataset_type))["Body"].read()
    return pd.read_csv(io.BytesIO(body), dtype=str, keep_default_na=False)


def recent_interactions(s3_client: Any, config: PipelineConfig, *, days: int) -> tuple[Any, ArchivedRun]:
    """The interactions of the ``days`` days up to the latest export's end, from every run whose window overlaps
    them (a full reload and the daily runs after it may overlap: the same event is kept once), and that export."""
    import pandas as pd

    runs = archived_runs(s3_client, config)
    if not runs:
        raise NoExportYet(s3_uri(config.s3.bucket, config.s3.key("runs") + "/"))
    latest = runs[-1]
    since = latest.end - timedelta(days=days)
    frames = [read_archived_csv(s3_client, config, run, "interactions") for run in runs if run.end > since]
    interactions = pd.concat(frames, ignore_index=True).drop_duplicates(ignore_index=True)
    timestamps = pd.to_numeric(interactions["TIMESTAMP"], errors="coerce")
    recent = interactions[timestamps >= since.timestamp()].reset_index(drop=True)
    return recent, latest
