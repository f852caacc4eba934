"""The retrain DAG's record of every evaluated solution version: ``metrics/history.jsonl`` and its chart.

The chart (a PNG beside the history) is what the "Metrics chart" link on the record_metrics task opens.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pulla_airflow.s3_documents import s3_uri, sse_args
from pulla_personalize.pipeline_config import PipelineConfig

METRICS_HISTORY_KEY = "metrics/history.jsonl"
METRICS_CHART_KEY = "metrics/history.png"
CHART_LINK_SECONDS = 7 * 24 * 3600  # the longest a SigV4 presigned URL may live

CHART_METRICS = (
    "normalized_discounted_cumulative_gain_at_25",
    "precision_at_25",
    "mean_reciprocal_rank_at_25",
    "coverage",
)
#: The shop's own measures (``business_metrics`` of a record), drawn dashed beside Personalize's.
CHART_BUSINESS_METRICS = ("size_fit_at_25", "new_item_share", "already_bought_share")


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
    s3_client.put_object(Bucket=config.s3.bucket, Key=key, Body=text.encode(), **sse_args(config))
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
    for metric in CHART_BUSINESS_METRICS:
        values = [(entry.get("business_metrics") or {}).get(metric) for entry in history]
        if all(value is None for value in values):
            continue
        axes.plot(
            positions,
            [v if v is not None else float("nan") for v in values],
            marker="s",
            linestyle="--",
            label=metric,
        )
    deployed = [i for i, entry in enumerate(history) if entry.get("deployed")]
    for position in deployed:
        axes.axvline(position, color="grey", linestyle=":", linewidth=1)
    axes.set_xticks(positions, labels, rotation=30, ha="right", fontsize=8)
    axes.set_ylim(0, 1)
    axes.set_ylabel("offline metric / business measure (share)")
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
        # The gate's final decision adds these (decide_deployment): the shop's measures and which rule decided.
        "business_metrics": dict(decision.get("business_metrics") or {}),
        "live_business_metrics": dict(decision.get("live_business_metrics") or {}),
        "decided_by": decision.get("decided_by"),
    }
    history = append_metrics_history(s3_client=s3_client, config=config, record=record)
    chart_key = config.s3.key(METRICS_CHART_KEY)
    s3_client.put_object(
        Bucket=config.s3.bucket,
        Key=chart_key,
        Body=draw_metrics_chart(history),
        ContentType="image/png",
        **sse_args(config),
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
        "decided_by": record["decided_by"],
    }
