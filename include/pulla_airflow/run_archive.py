"""The daily run's archive on S3 and what is published from it for import.

``runs/window=<label>/`` holds one run's export (the CSVs when the gate passed, report.json, rejects/, the Data
Docs) and its summary.json; ``import/<dataset>/window=<label>/`` holds exactly the one CSV an import job reads.
Both are written all or nothing (``personalize_provider.staging``): a failed upload never leaves a partial
archive or a partial import folder behind.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, TypedDict

from pulla_airflow.failures import ValidationGateFailed
from pulla_airflow.s3_documents import s3_uri, sse_args, write_json_object
from pulla_personalize.datasets import DATASET_TYPES, FILE_NAMES
from pulla_personalize.pipeline_config import PipelineConfig
from pulla_personalize.windows import PlannedWindow

#: The run's summary, beside the export's report.json in the run archive.
SUMMARY_NAME = "summary.json"


class ExportSummary(TypedDict):
    """What export_window hands on (XCom): where the run is archived, what it holds, and each CSV's fingerprint."""

    window: PlannedWindow
    run_uri: str
    report_uri: str
    passed: bool
    datasets: dict[str, int]  # dataset → rows
    fingerprints: dict[str, str]  # dataset → windows.file_fingerprint of its CSV
    sources: dict[str, Any]  # the report's per-source counts (exported, excluded, quarantined)
    validation: dict[str, Any]  # validation_outcome
    summary: list[str]


def run_prefix(config: PipelineConfig, label: str) -> str:
    return config.s3.key("runs", f"window={label}") + "/"


def import_prefix(config: PipelineConfig, dataset_type: str, label: str) -> str:
    return config.s3.key("import", dataset_type, f"window={label}") + "/"


def staging_prefix(config: PipelineConfig) -> str:
    """Where uploads wait until every file is there: below the configured prefix, outside every published folder."""
    return config.s3.key("_staging") + "/"


def export_to_run_archive(
    *, db_url: str, window: PlannedWindow, config: PipelineConfig, s3_client: Any, work_dir: Path | None = None
) -> ExportSummary:
    """Extract, transform and validate the window, then archive the run's output on S3 (never the import location).

    The archive ``runs/window=<label>/`` holds the CSVs (only when the gate passed), report.json, rejects/ and the
    Data Docs. A failed gate archives the report and raises ``ValidationGateFailed`` with its summary.
    """
    from personalize_provider.staging import stage_folder
    from pulla_personalize.export import REPORT_NAME, export_window, summary_lines
    from pulla_personalize.export_settings import ExportSettings
    from pulla_personalize.extract import Window
    from pulla_personalize.windows import file_fingerprint

    settings = ExportSettings(
        source_time_zone=config.time_zone,
        keep_anonymous_sessions=config.keep_anonymous_sessions,
        bot_events_per_minute=config.bot_events_per_minute,
        interactions_retention_days=config.retention.interactions_days,
    )
    export_range = Window(
        datetime.fromisoformat(window["start"]), datetime.fromisoformat(window["end"]), config.time_zone
    )
    with tempfile.TemporaryDirectory(prefix="pulla-export-", dir=work_dir) as temp:
        out_dir = Path(temp) / "export"
        result = export_window(db_url, export_range, out_dir, settings)
        prefix = run_prefix(config, window["label"])
        fingerprints = {
            kind: file_fingerprint(out_dir / FILE_NAMES[kind])
            for kind in DATASET_TYPES
            if (out_dir / FILE_NAMES[kind]).is_file()
        }
        stage_folder(
            s3_client,
            local_dir=out_dir,
            bucket=config.s3.bucket,
            prefix=prefix,
            staging_prefix=staging_prefix(config),
            pattern="**/*",
            sse=config.s3.server_side_encryption,
            sse_kms_key_id=config.s3.kms_key_id,
        )
    report = result.report
    summary: ExportSummary = {
        "window": window,
        "run_uri": s3_uri(config.s3.bucket, prefix),
        "report_uri": s3_uri(config.s3.bucket, prefix + REPORT_NAME),
        "passed": result.passed,
        "datasets": {name: info["rows"] for name, info in report.get("datasets", {}).items()},
        "fingerprints": fingerprints,
        "sources": report.get("sources", {}),
        "validation": validation_outcome(report.get("validation", {})),
        "summary": summary_lines(report),
    }
    if not result.passed:
        raise ValidationGateFailed(summary)
    return summary


def validation_outcome(validation: Mapping[str, Any]) -> dict[str, Any]:
    """The report's validation, small enough for XCom: counts, and only the expectations that failed."""
    expectations = list(validation.get("expectations") or [])
    failed = [item for item in expectations if not item.get("success", True)]
    return {
        "passed": bool(validation.get("passed", not any(item.get("blocking") for item in failed))),
        "evaluated": int(validation.get("evaluated", len(expectations))),
        "failures": [item for item in failed if item.get("blocking")],
        "warnings": [item for item in failed if not item.get("blocking")],
    }


def publish_dataset(*, s3_client: Any, config: PipelineConfig, label: str, dataset_type: str) -> str:
    """Publishes the archived ``<dataset>.csv`` of a run at the dataset's import partition, all or nothing."""
    from personalize_provider.staging import publish_s3_objects

    source_key = run_prefix(config, label) + FILE_NAMES[dataset_type]
    published = publish_s3_objects(
        s3_client,
        source_bucket=config.s3.bucket,
        source_keys=[source_key],
        bucket=config.s3.bucket,
        prefix=import_prefix(config, dataset_type, label),
        sse=config.s3.server_side_encryption,
        sse_kms_key_id=config.s3.kms_key_id,
    )
    return published.uri


def write_run_summary(
    *,
    s3_client: Any,
    config: PipelineConfig,
    export: ExportSummary,
    import_jobs: Mapping[str, str],
    deletion: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The run's summary (export counts, gate, import jobs, departed members deleted) as ``summary.json`` in the
    run archive."""
    summary = {
        "window": export["window"],
        "datasets": export["datasets"],
        "sources": export["sources"],
        "validation_passed": export["passed"],
        "import_jobs": dict(import_jobs),
        "deletion": dict(deletion or {}),
        "run_uri": export["run_uri"],
    }
    key = run_prefix(config, export["window"]["label"]) + SUMMARY_NAME
    summary["summary_uri"] = write_json_object(s3_client, config.s3.bucket, key, summary, sse_args(config))
    return summary


#: The lifecycle rules this pipeline owns on the bucket (by ID), and the folders whose objects they expire: the run
#: archives, the import partitions (copies of the archived CSVs), the deletion jobs' USER_ID files and the CRM files.
EXPIRING_FOLDERS = {
    "pulla-personalize-expire-runs": ("runs",),
    "pulla-personalize-expire-imports": ("import",),
    "pulla-personalize-expire-deletion-files": ("deletions", "window="),
    # The CRM files name members too: the batch jobs' input and output, the weekly picks and the audiences. The
    # picks in latest/ are rewritten every week, so they expire only when the batch DAG stops running.
    "pulla-personalize-expire-crm-files": ("crm",),
}


def expiry_rules(existing: list[dict[str, Any]], config: PipelineConfig, days: int) -> list[dict[str, Any]]:
    """The bucket's lifecycle rules with ours set to expire the run data after ``days``; other rules are kept."""
    ours = [
        {
            "ID": rule_id,
            "Filter": {"Prefix": config.s3.key(*parts) + ("" if parts[-1].endswith("=") else "/")},
            "Status": "Enabled",
            "Expiration": {"Days": int(days)},
        }
        for rule_id, parts in EXPIRING_FOLDERS.items()
    ]
    return [rule for rule in existing if rule.get("ID") not in EXPIRING_FOLDERS] + ours


def ensure_run_data_expiry(*, s3_client: Any, config: PipelineConfig, days: int) -> dict[str, Any]:
    """Sets the bucket's lifecycle rules that expire the run data (a setup task); changes nothing when they hold."""
    from botocore.exceptions import ClientError

    try:
        existing = s3_client.get_bucket_lifecycle_configuration(Bucket=config.s3.bucket)["Rules"]
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "NoSuchLifecycleConfiguration":
            raise
        existing = []
    rules = expiry_rules(existing, config, days)
    changed = _comparable(rules) != _comparable(existing)
    if changed:
        s3_client.put_bucket_lifecycle_configuration(Bucket=config.s3.bucket, LifecycleConfiguration={"Rules": rules})
    return {
        "bucket": config.s3.bucket,
        "days": int(days),
        "prefixes": [rule["Filter"]["Prefix"] for rule in rules if rule["ID"] in EXPIRING_FOLDERS],
        "changed": changed,
    }


def _comparable(rules: list[dict[str, Any]]) -> list[str]:
    return sorted(json.dumps(rule, sort_keys=True) for rule in rules)
