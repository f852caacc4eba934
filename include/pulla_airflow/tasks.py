"""The bodies of the Pulla DAG tasks that are not Personalize operators.

Each function takes plain values and clients (a boto3 S3 client, a Personalize hook) and returns small JSON-able
dicts, so the DAG files stay wiring and these are unit-tested against moto's S3 without a scheduler. Heavy imports
(pandas through the export, matplotlib) happen inside the functions that need them.
"""

from __future__ import annotations

import hashlib
import io
import json
import tempfile
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from pulla_personalize.pipeline_config import DATASET_TYPES, PipelineConfig

#: The run's summary, beside the export's report.json in the run archive.
SUMMARY_NAME = "summary.json"
SETUP_RESOURCES_KEY = "setup/resources.json"
METRICS_HISTORY_KEY = "metrics/history.jsonl"
METRICS_CHART_KEY = "metrics/history.png"
CHART_LINK_SECONDS = 7 * 24 * 3600  # the longest a SigV4 presigned URL may live


class PermanentFailure(RuntimeError):
    """A failure that retrying cannot fix (the data or the environment must change first).

    ``str()`` is the short reason (one or two lines, what a failure notification carries); ``lines`` is what the
    task log should say before it, once. The DAG tasks turn it into Airflow's fail-without-retry exception
    (``tasklog.fail_without_retry``).
    """

    def __init__(self, message: str, lines: list[str] | None = None) -> None:
        super().__init__(message)
        self.lines = list(lines or [])


class ValidationGateFailed(PermanentFailure):
    """The export's blocking expectations failed: nothing was published for import.

    ``summary`` is the export's summary (what ``export_to_run_archive`` returns when the gate passes).
    """

    def __init__(self, summary: Mapping[str, Any]) -> None:
        from pulla_airflow.summaries import describe_export, gate_failure_message

        super().__init__(gate_failure_message(summary), describe_export(summary))
        self.summary = dict(summary)


class SetupMissing(PermanentFailure, LookupError):
    """A resource the setup DAG creates does not exist: ``pulla_personalize_setup`` has not run here yet."""

    def __init__(self, what: str, detail: str = "") -> None:
        message = f"{what} does not exist: run pulla_personalize_setup first, then run this DAG again"
        if detail:
            message += f" ({detail})"
        super().__init__(message)


# --- windows -------------------------------------------------------------------------------------------------------


def _parse_bound(text: str, zone: ZoneInfo, name: str) -> datetime:
    try:
        value = datetime.fromisoformat(str(text).strip())
    except ValueError:
        raise ValueError(f"param {name}={text!r} is not an ISO 8601 date or date-time") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    if value.second or value.microsecond:
        # Labels (S3 partitions, import job names) have minute resolution: two windows a few seconds apart
        # would share one label, and the second run would adopt the first's import jobs.
        raise ValueError(f"param {name}={text!r} must be a whole minute (no seconds)")
    return value


def window_label(start: datetime, end: datetime, zone: ZoneInfo) -> str:
    """A name for the window usable in S3 keys and Personalize job names: ``20261127`` for one local day,
    ``20261101-20261128`` for whole days (end excluded), ``20261127T0300-20261127T0900`` otherwise."""
    local_start, local_end = start.astimezone(zone), end.astimezone(zone)
    whole_days = local_start.time() == time(0) and local_end.time() == time(0)
    if whole_days and local_end - local_start == timedelta(days=1):
        return f"{local_start:%Y%m%d}"
    if whole_days:
        return f"{local_start:%Y%m%d}-{local_end:%Y%m%d}"
    return f"{local_start:%Y%m%dT%H%M}-{local_end:%Y%m%dT%H%M}"


def plan_window(run_after: datetime, params: Mapping[str, Any], time_zone: str) -> dict[str, Any]:
    """The export window of a daily run.

    A scheduled run (03:00 local) exports the previous local calendar day. A manual run may override the window
    with ``window_start``/``window_end`` (ISO dates or date-times; without an offset they are local time).

    Interactions imports are INCREMENTAL, which appends: so an incremental window is exactly one local day, the
    unit the scheduled runs import and name their jobs by (a rerun of a day adopts that day's job; a longer window
    would append days already imported a second time). ``full_reload`` replaces all the bulk interactions
    Personalize holds, so it needs an explicit window covering the whole history to keep.
    """
    zone = ZoneInfo(time_zone)
    start_param, end_param = params.get("window_start"), params.get("window_end")
    full_reload = bool(params.get("full_reload", False))
    if bool(start_param) != bool(end_param):
        raise ValueError("give both window_start and window_end, or neither")
    if full_reload and not start_param:
        raise ValueError(
            "full_reload replaces every interaction Personalize holds with this window's: give window_start and "
            "window_end covering the whole history to keep"
        )
    if start_param:
        start = _parse_bound(start_param, zone, "window_start")
        end = _parse_bound(end_param, zone, "window_end")
    else:
        local_day = run_after.astimezone(zone).date()
        end = datetime.combine(local_day, time(0), tzinfo=zone)
        start = end - timedelta(days=1)
    if start >= end:
        raise ValueError(f"window_start {start.isoformat()} is not before window_end {end.isoformat()}")
    local_start, local_end = start.astimezone(zone), end.astimezone(zone)
    one_day = local_start.time() == time(0) and local_end == local_start + timedelta(days=1)
    if not full_reload and not one_day:
        raise ValueError(
            f"an incremental run imports exactly one local day (got {local_start.isoformat()} .. "
            f"{local_end.isoformat()}): a longer or partial window would append interactions already imported. "
            "Trigger one run per day to backfill, or use full_reload with a window covering the whole history"
        )
    return {
        "start": start.astimezone(UTC).isoformat(),
        "end": end.astimezone(UTC).isoformat(),
        "label": window_label(start, end, zone),
        "full_reload": full_reload,
        "import_modes": import_modes(full_reload),
    }


def import_modes(full_reload: bool) -> dict[str, str]:
    """Interactions append day by day; Users and Items are snapshots and replace. ``full_reload`` replaces all.

    (The import operator still turns INCREMENTAL into FULL for a dataset that never had a bulk import.)
    """
    return {kind: "FULL" if full_reload or kind != "interactions" else "INCREMENTAL" for kind in DATASET_TYPES}


def import_job_name(dataset_name: str, label: str, mode: str, fingerprint: str) -> str:
    """``pulla-interactions-20261127-incremental-1a2b3c4d``: the window, the mode and the data's fingerprint.

    The same data always gives the same job, so a rerun adopts it; corrected data gives another job, so the
    correction reaches Personalize instead of being hidden by adopting the old import.
    """
    name = f"{dataset_name}-{label}-{mode.lower()}-{fingerprint}"
    if len(name) > 63:
        raise ValueError(f"import job name {name!r} is longer than Personalize's 63 characters")
    return name


def file_fingerprint(path: Path) -> str:
    """The first 8 hex digits of the file's SHA-256: enough to tell a corrected export from the imported one."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:8]


LIVE_JOB_STATUSES = ("ACTIVE", "CREATE PENDING", "CREATE IN_PROGRESS")


def refuse_incremental_correction(existing_jobs: list[Mapping[str, Any]], job_name: str) -> None:
    """Fails when the same day was already imported INCREMENTALLY with other data.

    Personalize appends incremental interactions: importing a corrected day would add it next to the old one.
    The only way to replace a day is a full reload of the whole history.
    """
    same_day = job_name.rsplit("-", 1)[0] + "-"
    for job in existing_jobs:
        name = str(job.get("jobName", ""))
        if name.startswith(same_day) and not name.startswith(job_name) and job.get("status") in LIVE_JOB_STATUSES:
            raise ValueError(
                f"this window was already imported incrementally by job {name} with other data (now {job_name}): "
                "Personalize would append the corrected rows next to the old ones. Run pulla_personalize_daily "
                "with full_reload and a window covering the whole history to replace them"
            )


# --- S3 helpers ----------------------------------------------------------------------------------------------------


def s3_uri(bucket: str, key: str) -> str:
    return f"s3://{bucket}/{key}"


def _sse_args(config: PipelineConfig) -> dict[str, str]:
    from personalize_provider.staging import sse_extra_args

    return sse_extra_args(config.s3.server_side_encryption, config.s3.kms_key_id)


def upload_folder(s3_client: Any, local_dir: Path, bucket: str, prefix: str, extra_args: dict[str, str]) -> list[str]:
    """Uploads every file below ``local_dir`` under ``prefix`` and removes objects there it did not write."""
    from personalize_provider.staging import delete_keys, list_keys

    written = []
    for path in sorted(p for p in local_dir.rglob("*") if p.is_file()):
        key = prefix + path.relative_to(local_dir).as_posix()
        s3_client.upload_file(str(path), bucket, key, ExtraArgs=extra_args or None)
        written.append(key)
    delete_keys(s3_client, bucket, sorted(set(list_keys(s3_client, bucket, prefix)) - set(written)))
    return written


def read_json_object(s3_client: Any, bucket: str, key: str) -> Any:
    body = s3_client.get_object(Bucket=bucket, Key=key)["Body"].read()
    return json.loads(body)


def write_json_object(s3_client: Any, bucket: str, key: str, value: Any, extra_args: dict[str, str]) -> str:
    body = (json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True) + "\n").encode()
    s3_client.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json", **extra_args)
    return s3_uri(bucket, key)


# --- daily: export, publish, summary --------------------------------------------------------------------------------


def run_prefix(config: PipelineConfig, label: str) -> str:
    return config.s3.key("runs", f"window={label}") + "/"


def import_prefix(config: PipelineConfig, dataset_type: str, label: str) -> str:
    return config.s3.key("import", dataset_type, f"window={label}") + "/"


def export_to_run_archive(
    *, db_url: str, window: Mapping[str, Any], config: PipelineConfig, s3_client: Any, work_dir: Path | None = None
) -> dict[str, Any]:
    """Extract, transform and validate the window, then archive the run's output on S3 (never the import location).

    The archive ``runs/window=<label>/`` holds the CSVs (only when the gate passed), report.json, rejects/ and the
    Data Docs. A failed gate archives the report and raises ``ValidationGateFailed`` with its summary.
    """
    from pulla_personalize.config import ExportSettings
    from pulla_personalize.export import REPORT_NAME, export_window, summary_lines
    from pulla_personalize.extract import Window

    settings = ExportSettings(
        source_time_zone=config.time_zone,
        keep_anonymous_sessions=config.keep_anonymous_sessions,
        bot_events_per_minute=config.bot_events_per_minute,
    )
    export_range = Window(
        datetime.fromisoformat(window["start"]), datetime.fromisoformat(window["end"]), config.time_zone
    )
    with tempfile.TemporaryDirectory(prefix="pulla-export-", dir=work_dir) as temp:
        out_dir = Path(temp) / "export"
        result = export_window(db_url, export_range, out_dir, settings)
        prefix = run_prefix(config, window["label"])
        fingerprints = {
            kind: file_fingerprint(out_dir / f"{kind}.csv")
            for kind in DATASET_TYPES
            if (out_dir / f"{kind}.csv").is_file()
        }
        upload_folder(s3_client, out_dir, config.s3.bucket, prefix, _sse_args(config))
    report = result.report
    summary = {
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

    source_key = run_prefix(config, label) + f"{dataset_type}.csv"
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
    *, s3_client: Any, config: PipelineConfig, export: Mapping[str, Any], import_jobs: Mapping[str, str]
) -> dict[str, Any]:
    """The run's summary (export counts, gate, import jobs) as ``summary.json`` in the run archive."""
    summary = {
        "window": export["window"],
        "datasets": export["datasets"],
        "sources": export["sources"],
        "validation_passed": export["passed"],
        "import_jobs": dict(import_jobs),
        "run_uri": export["run_uri"],
    }
    key = run_prefix(config, export["window"]["label"]) + SUMMARY_NAME
    summary["summary_uri"] = write_json_object(s3_client, config.s3.bucket, key, summary, _sse_args(config))
    return summary


# --- resources -----------------------------------------------------------------------------------------------------


def _resource_not_found(error: Exception) -> str | None:
    """The service's message when ``error`` is Personalize's ResourceNotFoundException, else None."""
    response = getattr(error, "response", None)
    if not isinstance(response, Mapping):
        return None
    detail = response.get("Error") or {}
    if detail.get("Code") != "ResourceNotFoundException":
        return None
    return str(detail.get("Message") or "ResourceNotFoundException")


def _lookup(what: str, find: Callable[[], Any]) -> Any:
    """Runs a lookup by name; the service saying a parent resource is gone means setup is missing, not a glitch."""
    try:
        return find()
    except Exception as error:
        detail = _resource_not_found(error)
        if detail is None:
            raise
        raise SetupMissing(what, f"Personalize says: {detail}") from error


def resolve_resources(hook: Any, config: PipelineConfig, *, require_solution: bool = False) -> dict[str, Any]:
    """ARNs of the configured resources, found by name (flat keys, for XCom). Missing optional ones are None.

    A resource the setup DAG creates that is missing raises ``SetupMissing`` (retrying cannot help); other
    service errors (throttling, access denied) are raised as they are.
    """
    names = config.personalize
    label = f"dataset group {names.dataset_group!r}"
    group = _lookup(label, lambda: hook.find_dataset_group(name=names.dataset_group))
    if group is None:
        raise SetupMissing(label)
    group_arn = group["datasetGroupArn"]
    resources: dict[str, Any] = {"dataset_group_arn": group_arn}
    for kind in DATASET_TYPES:
        label = f"dataset {names.datasets[kind]!r}"
        dataset = _lookup(
            label, lambda kind=kind: hook.find_dataset(dataset_group_arn=group_arn, name=names.datasets[kind])
        )
        if dataset is None:
            raise SetupMissing(label)
        resources[f"{kind}_dataset_arn"] = dataset["datasetArn"]
    label = f"solution {names.solution.name!r}"
    solution = _lookup(label, lambda: hook.find_solution(dataset_group_arn=group_arn, name=names.solution.name))
    if solution is None and require_solution:
        raise SetupMissing(label)
    resources["solution_arn"] = solution["solutionArn"] if solution else None
    campaign = hook.find_campaign(solution_arn=solution["solutionArn"], name=names.campaign.name) if solution else None
    resources["campaign_arn"] = campaign["campaignArn"] if campaign else None
    return resources


def expected_campaign_arn(dataset_group_arn: str, campaign_name: str) -> str:
    """The campaign's ARN before it exists (ARNs are built from region, account and name)."""
    prefix, _, _ = dataset_group_arn.rpartition(":")
    return f"{prefix}:campaign/{campaign_name}"


def publish_setup_resources(*, s3_client: Any, config: PipelineConfig, resources: Mapping[str, Any]) -> dict[str, Any]:
    """What the web team needs (tracking id, campaign and filter ARNs) at a fixed key: ``setup/resources.json``."""
    document = dict(resources)
    key = config.s3.key(SETUP_RESOURCES_KEY)
    document["published_at"] = datetime.now(UTC).replace(microsecond=0).isoformat()
    document["resources_uri"] = write_json_object(s3_client, config.s3.bucket, key, document, _sse_args(config))
    return document


# --- retrain: metrics history --------------------------------------------------------------------------------------

CHART_METRICS = (
    "normalized_discounted_cumulative_gain_at_25",
    "precision_at_25",
    "mean_reciprocal_rank_at_25",
    "coverage",
)


def append_metrics_history(
    *, s3_client: Any, config: PipelineConfig, record: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """Adds one solution version's record to ``metrics/history.jsonl`` (a rerun replaces its own line)."""
    key = config.s3.key(METRICS_HISTORY_KEY)
    try:
        body = s3_client.get_object(Bucket=config.s3.bucket, Key=key)["Body"].read().decode()
    except s3_client.exceptions.NoSuchKey:
        body = ""
    history = [json.loads(line) for line in body.splitlines() if line.strip()]
    history = [entry for entry in history if entry.get("solution_version_arn") != record["solution_version_arn"]]
    history.append(dict(record))
    history.sort(key=lambda entry: entry["recorded_at"])
    text = "".join(json.dumps(entry, sort_keys=True, ensure_ascii=False) + "\n" for entry in history)
    s3_client.put_object(Bucket=config.s3.bucket, Key=key, Body=text.encode(), **_sse_args(config))
    return history


def draw_metrics_chart(history: list[Mapping[str, Any]]) -> bytes:
    """A PNG of the offline metrics of every recorded solution version, deployed ones marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(9, 4.5), dpi=100)
    labels = [entry["recorded_at"][:16].replace("T", " ") for entry in history]
    positions = list(range(len(history)))
    for metric in CHART_METRICS:
        values = [entry.get("metrics", {}).get(metric) for entry in history]
        axes.plot(positions, [v if v is not None else float("nan") for v in values], marker="o", label=metric)
    deployed = [i for i, entry in enumerate(history) if entry.get("deployed")]
    for position in deployed:
        axes.axvline(position, color="grey", linestyle=":", linewidth=1)
    axes.set_xticks(positions, labels, rotation=30, ha="right", fontsize=8)
    axes.set_ylim(0, 1)
    axes.set_ylabel("offline metric (test users)")
    axes.set_title("Pulla User-Personalization: solution versions (dotted: deployed)")
    axes.legend(fontsize=8, loc="upper left")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    return buffer.getvalue()


def record_solution_metrics(
    *, s3_client: Any, config: PipelineConfig, decision: Mapping[str, Any], deployed: bool, reason: str
) -> dict[str, Any]:
    """Appends the evaluated version to the history, redraws the chart and returns where both are."""
    record = {
        "solution_version_arn": decision["solution_version_arn"],
        "recorded_at": datetime.now(UTC).replace(microsecond=0).isoformat(),
        "metrics": dict(decision.get("new_metrics") or {}),
        "live_metrics": dict(decision.get("live_metrics") or {}),
        "deployed": deployed,
        "reason": reason,
    }
    history = append_metrics_history(s3_client=s3_client, config=config, record=record)
    chart_key = config.s3.key(METRICS_CHART_KEY)
    s3_client.put_object(
        Bucket=config.s3.bucket,
        Key=chart_key,
        Body=draw_metrics_chart(history),
        ContentType="image/png",
        **_sse_args(config),
    )
    chart_url = s3_client.generate_presigned_url(
        "get_object", Params={"Bucket": config.s3.bucket, "Key": chart_key}, ExpiresIn=CHART_LINK_SECONDS
    )
    return {
        "history_uri": s3_uri(config.s3.bucket, config.s3.key(METRICS_HISTORY_KEY)),
        "chart_uri": s3_uri(config.s3.bucket, chart_key),
        "chart_url": chart_url,
        "versions_recorded": len(history),
        "deployed": deployed,
        "reason": reason,
    }


# --- flat values for operators (XCom keys) -------------------------------------------------------------------------


def setup_values(config: PipelineConfig) -> dict[str, Any]:
    """Everything the setup DAG's operators take, under flat keys (one XCom each)."""
    names = config.personalize
    values: dict[str, Any] = {
        "dataset_group": names.dataset_group,
        "role_arn": names.role_arn,
        "solution_name": names.solution.name,
        "recipe_arn": names.solution.recipe_arn,
        "solution_config": names.solution.solution_config or None,
        "event_type": names.solution.event_type,
        "event_tracker": names.event_tracker,
        "filters": [{"name": name, "filter_expression": expr} for name, expr in sorted(names.filters.items())],
    }
    for kind in DATASET_TYPES:
        values[f"{kind}_schema"] = names.schemas[kind]
        values[f"{kind}_schema_path"] = str(names.schema_path(kind))
        values[f"{kind}_dataset"] = names.datasets[kind]
    return values


def daily_values(
    config: PipelineConfig, resources: Mapping[str, Any], window: Mapping[str, Any], fingerprints: Mapping[str, str]
) -> dict[str, Any]:
    """The daily run's plan under flat keys: the window, and per dataset its ARN, import mode and job name."""
    values: dict[str, Any] = {
        "window": dict(window),
        "label": window["label"],
        "role_arn": config.personalize.role_arn,
    }
    for kind in DATASET_TYPES:
        mode = window["import_modes"][kind]
        values[f"{kind}_dataset_arn"] = resources[f"{kind}_dataset_arn"]
        values[f"{kind}_import_mode"] = mode
        values[f"{kind}_job_name"] = import_job_name(
            config.personalize.datasets[kind], window["label"], mode, fingerprints[kind]
        )
    return values


def plan_imports(hook: Any, config: PipelineConfig, window: Mapping[str, Any], export: Mapping[str, Any]) -> dict:
    """Finds the datasets, names each import job after its data, and refuses an incremental correction."""
    values = daily_values(config, resolve_resources(hook, config), window, export["fingerprints"])
    for kind in DATASET_TYPES:
        if values[f"{kind}_import_mode"] == "INCREMENTAL":
            dataset_arn = values[f"{kind}_dataset_arn"]
            existing = _lookup(
                f"dataset {dataset_arn}", lambda arn=dataset_arn: hook.list_dataset_import_jobs(dataset_arn=arn)
            )
            refuse_incremental_correction(existing, values[f"{kind}_job_name"])
    return values


def retrain_values(config: PipelineConfig, resources: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    """The retrain run's plan: what to train, where it would deploy, and the gate rule (form overrides config)."""
    min_ratios = dict(config.min_ratios)
    overrides = {
        "normalized_discounted_cumulative_gain_at_25": params.get("min_ndcg_ratio"),
        "precision_at_25": params.get("min_precision_ratio"),
    }
    for metric, ratio in overrides.items():
        if ratio is not None:
            min_ratios[metric] = float(ratio)
    from personalize_provider.gate import validate_min_ratios

    validate_min_ratios(min_ratios)  # a bad rule fails now, not after hours of training
    campaign = config.personalize.campaign
    return {
        "solution_arn": resources["solution_arn"],
        "campaign_arn": resources["campaign_arn"],
        "campaign_name": campaign.name,
        "campaign_config": campaign.campaign_config(),
        "min_provisioned_tps": campaign.min_provisioned_tps,
        "training_mode": str(params.get("training_mode") or "FULL").upper(),
        "force_deploy": bool(params.get("force_deploy", False)),
        "min_ratios": min_ratios,
    }


def deployment_branch(decision: Mapping[str, Any], campaign_arn: str | None) -> str:
    """Which retrain task runs after the gate: create the campaign, update it, or keep the live version."""
    if not decision.get("deploy"):
        return "keep_live_version"
    return "update_campaign" if campaign_arn else "create_campaign"
