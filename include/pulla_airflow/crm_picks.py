"""The weekly CRM picks: each active member's top items in her size, from the latest export to
``crm/picks/week=<label>/picks.csv`` (and the same files in ``crm/picks/latest/``) by a batch inference job.

``plan_picks`` writes the job's input (one line per member active in the last ``crm.picks.active_days`` days of
exports, her size in ``filterValues`` for the configured filter) and names the job after the week, the live
solution version and the input's bytes: a rerun with the same data adopts the job, new data gets a new one.
``publish_picks`` turns the job's output into the CSVs the CRM sync reads, all or nothing. Members left out (no
size on record) and members the job could not serve are listed in ``unserved.csv`` with the reason, never dropped.
"""

from __future__ import annotations

import json
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from pulla_airflow import xcom_contract as keys
from pulla_airflow.batch_jobs import (
    content_fingerprint,
    job_name,
    live_solution_version,
    output_file_uri,
    read_job_output,
    read_s3_uri,
    version_id,
)
from pulla_airflow.export_archive import read_archived_csv, recent_interactions
from pulla_airflow.failures import PermanentFailure, SetupMissing
from pulla_airflow.resources import lookup, resolve_resources
from pulla_airflow.s3_documents import s3_uri, sse_args
from pulla_personalize.pipeline_config import PipelineConfig

PICKS_FILE = "picks.csv"
UNSERVED_FILE = "unserved.csv"
PICKS_SUMMARY_FILE = "summary.json"
INPUT_FILE = "members.json"
LEFT_OUT_FILE = "left_out.json"
UNSERVED_COLUMNS = ("member_id", "reason")
NOTHING_PASSED_REASON = "the service returned no item for her: nothing passed the job's filter"


class NothingLive(PermanentFailure):
    """No campaign serves a solution version yet: the retrain DAG deploys the first one."""


def week_label(moment: datetime, time_zone: str) -> str:
    """The ISO week of ``moment`` in the configured zone: ``2026-W49`` (weeks start on Monday)."""
    year, week, _ = moment.astimezone(ZoneInfo(time_zone)).isocalendar()
    return f"{year}-W{week:02d}"


def resolve_filter_arn(hook: Any, dataset_group_arn: str, name: str | None) -> str | None:
    if name is None:
        return None
    found = lookup(f"filter {name!r}", lambda: hook.find_filter(dataset_group_arn=dataset_group_arn, name=name))
    if found is None:
        raise SetupMissing(f"filter {name!r} (crm.picks.filter)")
    return found["filterArn"]


def _put(s3_client: Any, config: PipelineConfig, key: str, body: bytes, content_type: str) -> str:
    s3_client.put_object(Bucket=config.s3.bucket, Key=key, Body=body, ContentType=content_type, **sse_args(config))
    return s3_uri(config.s3.bucket, key)


def exploration_job_config(config: PipelineConfig) -> dict[str, Any]:
    """``batchInferenceJobConfig`` with the campaign's ``itemExplorationConfig`` (the service's default otherwise)."""
    return {"itemExplorationConfig": config.personalize.campaign.campaign_config()["itemExplorationConfig"]}


def sent_member_ids(input_text: str) -> list[str]:
    """The userIds of a batch inference input file, in order."""
    return [json.loads(line)["userId"] for line in input_text.splitlines() if line.strip()]


def plan_picks(*, hook: Any, s3_client: Any, config: PipelineConfig, run_after: datetime) -> dict[str, Any]:
    """Writes the week's batch input for the live solution version and returns what the job operator takes."""
    from pulla_personalize.crm import WITHDRAWN_REASON, active_member_ids, picks_input

    resources = resolve_resources(hook, config, require_solution=True)
    campaign = config.personalize.campaign.name
    version = live_solution_version(hook, resources[keys.CAMPAIGN_ARN], campaign)
    if version is None:
        raise NothingLive(
            f"campaign {campaign!r} serves no solution version yet: run pulla_personalize_retrain first "
            "(the picks come from the version the website serves)"
        )
    picks = config.crm.picks
    filter_arn = resolve_filter_arn(hook, resources[keys.DATASET_GROUP_ARN], picks.filter)
    interactions, latest = recent_interactions(s3_client, config, days=picks.active_days)
    users = read_archived_csv(s3_client, config, latest, "users")
    since = latest.end.timestamp() - picks.active_days * 86400
    active = active_member_ids(interactions, since_epoch=int(since))
    batch = picks_input(users, active, filter_placeholders={name: name for name in picks.placeholders} or None)
    if not batch.lines:
        raise PermanentFailure(
            f"no member can get picks: {len(active)} members were active in the {picks.active_days} days up to "
            f"{latest.end.isoformat()} (export {latest.label}) and {len(batch.unserved)} of them were left out"
        )
    # A member no longer in the export's Users withdrew or is a test account: she is counted, never named in a file
    # the marketing team reads.
    departed = [row for row in batch.unserved if row["reason"] == WITHDRAWN_REASON]
    left_out_rows = [row for row in batch.unserved if row["reason"] != WITHDRAWN_REASON]
    body = batch.body()
    week = week_label(run_after, config.time_zone)
    name = job_name("pulla-picks", week, version_id(version), content_fingerprint(body))
    folder = f"week={week}/{name}"
    input_key = config.s3.key("crm", "input", "picks", folder, INPUT_FILE)
    left_out_key = config.s3.key("crm", "input", "picks", folder, LEFT_OUT_FILE)
    left_out = json.dumps(left_out_rows, ensure_ascii=False, sort_keys=True).encode()
    # The left-out list is written first: the input's presence means the folder is complete.
    _put(s3_client, config, left_out_key, left_out, "application/json")
    input_uri = _put(s3_client, config, input_key, body, "application/jsonl")
    return {
        keys.JOB_NAME: name,
        keys.SOLUTION_VERSION_ARN: version,
        keys.JOB_INPUT: input_uri,
        keys.JOB_OUTPUT: config.s3.uri("crm", "output", "picks", folder),
        keys.ROLE_ARN: config.personalize.role_arn,
        keys.FILTER_ARN: filter_arn,
        keys.NUM_RESULTS: picks.num_results,
        # The campaign's exploration: the picks are what the website would show her (new items explored alike).
        keys.JOB_CONFIG: exploration_job_config(config),
        keys.WEEK: week,
        "left_out_uri": s3_uri(config.s3.bucket, left_out_key),
        "members": len(batch.lines),
        "left_out": len(left_out_rows),
        "departed_left_out": len(departed),
        "export": latest.label,
        "active_days": picks.active_days,
    }


def publish_picks(
    *, s3_client: Any, config: PipelineConfig, plan: dict[str, Any], job: dict[str, Any]
) -> dict[str, Any]:
    """Turns the job's output into picks.csv, unserved.csv and summary.json in ``crm/picks/week=<label>/`` and
    ``crm/picks/latest/``, each folder all or nothing."""
    from personalize_provider.staging import stage_folder
    from pulla_personalize.crm import PICKS_COLUMNS, BatchOutputError, csv_bytes, picks_rows, read_inference_output

    output_uri = output_file_uri(job["job_output_s3_path"], plan[keys.JOB_INPUT])
    try:
        output = read_inference_output(read_job_output(s3_client, output_uri, job), source=output_uri)
    except BatchOutputError as error:  # the file will not change: retrying cannot help
        raise PermanentFailure(f"{error}; no picks were published") from None
    left_out = json.loads(read_s3_uri(s3_client, plan["left_out_uri"]))
    rows = picks_rows(output)
    # A member sent but absent from the output (a cut file, a line the service left out) is listed, not lost.
    answered = set(output.recommendations) | {row["member_id"] for row in output.unserved}
    sent = sent_member_ids(read_s3_uri(s3_client, plan[keys.JOB_INPUT]).decode("utf-8"))
    missing = [
        {"member_id": member, "reason": f"no line for her in the job's output {output_uri}"}
        for member in sent
        if member not in answered
    ]
    # A member the filter left nothing for is answered with an empty list: listed, not dropped.
    empty = [
        {"member_id": member, "reason": NOTHING_PASSED_REASON}
        for member, ranked in output.recommendations.items()
        if not ranked
    ]
    unserved = sorted(
        [*left_out, *output.unserved, *empty, *missing], key=lambda row: (row["member_id"], row["reason"])
    )
    served = {row["member_id"] for row in rows}
    week = plan[keys.WEEK]
    summary = {
        "week": week,
        "solution_version_arn": plan[keys.SOLUTION_VERSION_ARN],
        "batch_inference_job": job.get("job_name"),
        "export": plan["export"],
        "active_days": plan["active_days"],
        "members_sent": plan["members"],
        "members_with_picks": len(served),
        "picks": len(rows),
        "unserved": len(unserved),
        "unserved_reasons": _reason_counts(unserved),
        "departed_members_left_out": plan.get("departed_left_out", 0),
    }
    week_prefix = config.s3.key("crm", "picks", f"week={week}") + "/"
    latest_prefix = config.s3.key("crm", "picks", "latest") + "/"
    with tempfile.TemporaryDirectory(prefix="pulla-picks-") as temp:
        folder = Path(temp)
        (folder / PICKS_FILE).write_bytes(csv_bytes(rows, PICKS_COLUMNS))
        (folder / UNSERVED_FILE).write_bytes(csv_bytes(unserved, UNSERVED_COLUMNS))
        (folder / PICKS_SUMMARY_FILE).write_text(
            json.dumps(summary, indent=2, ensure_ascii=False, sort_keys=True) + "\n", encoding="utf-8"
        )
        # latest/ only moves forward: clearing an old week's run rewrites that week's folder, not the newest picks.
        prefixes = [week_prefix]
        if _latest_week(s3_client, config, latest_prefix) <= week:
            prefixes.append(latest_prefix)
        for prefix in prefixes:
            stage_folder(
                s3_client,
                local_dir=folder,
                bucket=config.s3.bucket,
                prefix=prefix,
                staging_prefix=config.s3.key("_staging") + "/",
                pattern="*",
                sse=config.s3.server_side_encryption,
                sse_kms_key_id=config.s3.kms_key_id,
            )
    return {
        **summary,
        "latest_updated": latest_prefix in prefixes,
        "picks_uri": s3_uri(config.s3.bucket, week_prefix + PICKS_FILE),
        "latest_uri": s3_uri(config.s3.bucket, latest_prefix + PICKS_FILE),
        "unserved_uri": s3_uri(config.s3.bucket, week_prefix + UNSERVED_FILE),
    }


def _latest_week(s3_client: Any, config: PipelineConfig, latest_prefix: str) -> str:
    """The week ``latest/`` holds ("" when there is none yet); ISO week labels sort in time order."""
    try:
        body = s3_client.get_object(Bucket=config.s3.bucket, Key=latest_prefix + PICKS_SUMMARY_FILE)["Body"].read()
    except s3_client.exceptions.NoSuchKey:
        return ""
    return str(json.loads(body).get("week", ""))


def _reason_counts(unserved: list[dict[str, str]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for row in unserved:
        counts[row["reason"]] = counts.get(row["reason"], 0) + 1
    return dict(sorted(counts.items(), key=lambda pair: (-pair[1], pair[0])))
