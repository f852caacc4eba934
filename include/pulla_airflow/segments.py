"""The launch audiences of ``pulla_personalize_segment``: from the marketing team's form to ``members.csv`` on S3.

``plan_segment`` reads the form, finds the item-affinity solution's newest ACTIVE version, picks the items (the ids
given, or a product line of the latest export's items.csv) and writes the batch segment job's input; the job's
name and folders carry a fingerprint of the version, the items and the size, so a rerun of the same form on the
same version adopts the same job. ``publish_audience`` reads the job's output and publishes ``members.csv`` and
``summary.json`` under ``crm/segments/<audience>/``, both or neither. The rules (which items, how members rank)
are the core's: :mod:`pulla_personalize.crm`. ``segment_setup_values`` is what the setup DAG needs to create the
solution.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from personalize_provider.naming import validate_resource_name
from personalize_provider.staging import stage_folder
from pulla_airflow import xcom_contract as keys
from pulla_airflow.batch_jobs import output_file_uri, read_job_output
from pulla_airflow.export_archive import latest_export, read_archived_csv
from pulla_airflow.failures import PermanentFailure, SetupMissing
from pulla_airflow.resources import lookup, resolve_dataset_group_arn
from pulla_airflow.run_archive import staging_prefix
from pulla_airflow.s3_documents import s3_uri, sse_args
from pulla_personalize.crm import (
    AUDIENCE_COLUMNS,
    BatchOutputError,
    SegmentSelectionError,
    audience_rows,
    csv_bytes,
    read_segment_output,
    segment_input,
    select_segment_items,
)
from pulla_personalize.pipeline_config import PipelineConfig

#: The form's audience name (also the form's pattern): it names the job and the S3 folders, so it stays short.
AUDIENCE_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]{0,29}\Z")
#: The product-line criteria of the form, in the order they are shown.
CRITERIA_FIELDS = ("cup_type", "wire", "registered_from", "registered_to")
#: The most members one batch segment job lists per item (CreateBatchSegmentJob's numResults), so per audience.
MAX_AUDIENCE_SIZE = 5_000_000
JOB_NAME_PREFIX = "pulla-seg"
FINGERPRINT_LENGTH = 10
INPUT_NAME = "items.json"
MEMBERS_NAME = "members.csv"
SUMMARY_NAME = "summary.json"
#: How many item ids a log line lists before it only counts the rest.
ITEMS_SHOWN = 10
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class SegmentsDisabled(PermanentFailure):
    """The configuration has no launch audiences (``crm.segments.enabled`` is false)."""

    def __init__(self, config_name: str) -> None:
        super().__init__(
            f"launch audiences are off in {config_name}: set crm.segments.enabled: true, run pulla_personalize_setup "
            "(it creates the item-affinity solution) and train a version, then run this DAG again"
        )


class NoActiveVersion(PermanentFailure, LookupError):
    """The item-affinity solution exists but has no ACTIVE version to run a batch segment job on."""

    def __init__(self, solution_name: str, solution_arn: str, statuses: Sequence[str]) -> None:
        seen = f" (its versions: {', '.join(statuses)})" if statuses else " (it has no version yet)"
        super().__init__(
            f"solution {solution_name!r} ({solution_arn}) has no ACTIVE version{seen}: train one with "
            "pulla_personalize_retrain after pulla_personalize_setup, then run this DAG again"
        )


def segment_setup_values(config: PipelineConfig) -> dict[str, Any]:
    """What the setup DAG's item-affinity solution task takes, under flat keys; None values when segments are off."""
    segments = config.crm.segments
    solution = segments.solution if segments.enabled else None
    return {
        keys.SEGMENTS_ENABLED: solution is not None,
        keys.SEGMENT_SOLUTION_NAME: solution.name if solution else None,
        keys.SEGMENT_RECIPE_ARN: solution.recipe_arn if solution else None,
        keys.SEGMENT_SOLUTION_CONFIG: (solution.solution_config or None) if solution else None,
        keys.SEGMENT_EVENT_TYPE: solution.event_type if solution else None,
    }


# --- the form ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SegmentRequest:
    """The form of one run, checked: who the audience is for and how many members it holds."""

    audience: str
    item_ids: tuple[str, ...]
    cup_type: str | None
    wire: str | None
    registered_from: date | None
    registered_to: date | None
    size: int

    def criteria(self) -> dict[str, Any]:
        """What the form asked for, as given (JSON-able): the item ids, or the product line's criteria."""
        if self.item_ids:
            return {"item_ids": list(self.item_ids)}
        given = {name: getattr(self, name) for name in CRITERIA_FIELDS}
        return {name: str(value) for name, value in given.items() if value is not None}


def _form_failure(field: str, problem: str) -> PermanentFailure:
    return PermanentFailure(f"form field {field}: {problem}")


def _optional_text(params: Mapping[str, Any], field: str) -> str | None:
    value = params.get(field)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _form_failure(field, f"must be text, got {value!r}")
    return value.strip() or None


def _optional_date(params: Mapping[str, Any], field: str) -> date | None:
    text = _optional_text(params, field)
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise _form_failure(field, f"{text!r} is not a date like 2026-11-20") from None


def read_segment_form(params: Mapping[str, Any], *, default_size: int) -> SegmentRequest:
    """The run's form (``params``) checked; an empty size is the configured ``crm.segments.default_size``."""
    audience = params.get("audience")
    if not isinstance(audience, str) or not AUDIENCE_PATTERN.match(audience):
        raise _form_failure(
            "audience", f"{audience!r} must be 1-30 lowercase letters, digits and '-', starting with a letter or digit"
        )
    raw_ids = params.get("item_ids") or []
    if isinstance(raw_ids, str) or not isinstance(raw_ids, Sequence):
        raise _form_failure("item_ids", f"must be a list of item ids, got {raw_ids!r}")
    if not all(isinstance(item, str | int) and not isinstance(item, bool) for item in raw_ids):
        raise _form_failure("item_ids", f"must be a list of item ids, got {list(raw_ids)!r}")
    item_ids = tuple(sorted({str(item).strip() for item in raw_ids} - {""}))
    size = params.get("size")
    if size is None or size == "":
        size = default_size
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= MAX_AUDIENCE_SIZE:
        raise _form_failure("size", f"must be a whole number from 1 to {MAX_AUDIENCE_SIZE:,}, got {size!r}")
    return SegmentRequest(
        audience=audience,
        item_ids=item_ids,
        cup_type=_optional_text(params, "cup_type"),
        wire=_optional_text(params, "wire"),
        registered_from=_optional_date(params, "registered_from"),
        registered_to=_optional_date(params, "registered_to"),
        size=size,
    )


# --- the plan ---------------------------------------------------------------------------------------------------------


def newest_active_version(versions: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The ACTIVE solution version created last (ListSolutionVersions' summaries), or None."""
    active = [version for version in versions if version.get("status") == "ACTIVE"]
    if not active:
        return None
    return max(active, key=lambda version: (version.get("creationDateTime") or _EPOCH, version["solutionVersionArn"]))


def active_segment_version(hook: Any, config: PipelineConfig) -> str:
    """The ARN of the item-affinity solution's newest ACTIVE version; ``SetupMissing`` or ``NoActiveVersion``."""
    solution_name = config.crm.segments.solution.name
    group_arn = resolve_dataset_group_arn(hook, config)
    label = f"solution {solution_name!r}"
    solution = lookup(label, lambda: hook.find_solution(dataset_group_arn=group_arn, name=solution_name))
    if solution is None:
        raise SetupMissing(label)
    solution_arn = solution["solutionArn"]
    versions = lookup(label, lambda: hook.list_solution_versions(solution_arn=solution_arn))
    newest = newest_active_version(versions)
    if newest is None:
        raise NoActiveVersion(solution_name, solution_arn, [str(version.get("status")) for version in versions])
    return str(newest["solutionVersionArn"])


def segment_fingerprint(solution_version_arn: str, item_ids: Sequence[str], size: int) -> str:
    """A short digest of what the job computes: the same version, items and size give the same job."""
    text = "\n".join([solution_version_arn, *sorted(item_ids), str(size)])
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:FINGERPRINT_LENGTH]


def segment_job_name(audience: str, fingerprint: str) -> str:
    """``pulla-seg-<audience>-<fingerprint>``: at most 52 characters, so the operator's ``-rN`` still fits in 63."""
    return validate_resource_name(f"{JOB_NAME_PREFIX}-{audience}-{fingerprint}", field="job_name")


def _select_items(catalogue: Any, request: SegmentRequest, time_zone: str, items_uri: str) -> list[str]:
    """The request's items in the catalogue; a selection the form must change fails without retry, saying why."""
    try:
        return select_segment_items(
            catalogue,
            item_ids=request.item_ids,
            cup_type=request.cup_type,
            wire=request.wire,
            registered_from=request.registered_from,
            registered_to=request.registered_to,
            time_zone=time_zone,
        )
    except SegmentSelectionError as error:
        raise PermanentFailure(f"audience {request.audience!r}: {error} (items of {items_uri})") from None
    except ValueError as error:  # the archived items.csv itself is unreadable: a retry reads the same file
        raise PermanentFailure(f"{items_uri}: {error}") from None


def plan_segment(*, hook: Any, s3_client: Any, config: PipelineConfig, params: Mapping[str, Any]) -> dict[str, Any]:
    """The batch segment job of this run's form, its input written to S3: what ``find_audience`` takes (flat keys),
    plus the items, criteria and source ``publish_audience`` reports."""
    segments = config.crm.segments
    if not segments.enabled or segments.solution is None:
        raise SegmentsDisabled(config.path.name)
    request = read_segment_form(params, default_size=segments.default_size)
    version_arn = active_segment_version(hook, config)
    export = latest_export(s3_client, config)
    items_uri = s3_uri(config.s3.bucket, export.key("items"))
    catalogue = read_archived_csv(s3_client, config, export, "items")
    item_ids = _select_items(catalogue, request, config.time_zone, items_uri)

    fingerprint = segment_fingerprint(version_arn, item_ids, request.size)
    input_key = config.s3.key("crm", "input", "segments", request.audience, fingerprint, INPUT_NAME)
    # Same form, same version: same bytes at the same key, read by the job of the same name.
    s3_client.put_object(
        Bucket=config.s3.bucket,
        Key=input_key,
        Body=segment_input(item_ids).body(),
        ContentType="application/x-ndjson",
        **sse_args(config),
    )
    return {
        keys.AUDIENCE: request.audience,
        keys.JOB_NAME: segment_job_name(request.audience, fingerprint),
        keys.SOLUTION_VERSION_ARN: version_arn,
        keys.JOB_INPUT: s3_uri(config.s3.bucket, input_key),
        keys.JOB_OUTPUT: config.s3.uri("crm", "output", "segments", request.audience, fingerprint),
        keys.ROLE_ARN: config.personalize.role_arn,
        keys.NUM_RESULTS: request.size,
        keys.SEGMENT_ITEMS: item_ids,
        keys.SEGMENT_CRITERIA: request.criteria(),
        keys.SEGMENT_ITEMS_SOURCE: items_uri,
    }


# --- the audience -----------------------------------------------------------------------------------------------------


def audience_prefix(config: PipelineConfig, audience: str) -> str:
    """Where an audience is published: ``crm/segments/<audience>/`` (members.csv and summary.json, nothing else)."""
    return config.s3.key("crm", "segments", audience) + "/"


def output_uri(plan: Mapping[str, Any], job: Mapping[str, Any] | None) -> str:
    """The job's output file: ``<input file name>.out`` in the folder the job reports (else the planned one).

    The operator's result names that folder ``job_output_s3_path``, as the plan does (``keys.JOB_OUTPUT``).
    """
    folder = str((job or {}).get(keys.JOB_OUTPUT) or plan[keys.JOB_OUTPUT])
    return output_file_uri(folder, str(plan[keys.JOB_INPUT]))


def publish_audience(
    *, s3_client: Any, config: PipelineConfig, plan: Mapping[str, Any], job: Mapping[str, Any] | None
) -> dict[str, Any]:
    """Ranks the members the job found and publishes ``members.csv`` and ``summary.json``, both or neither.

    A malformed output line, or an output naming no member at all, publishes nothing (an earlier audience of the
    same name stays as it was) and fails without retry: the file will not change.
    """
    audience = str(plan[keys.AUDIENCE])
    job = dict(job or {})
    job_name = str(job.get("job_name") or plan[keys.JOB_NAME])
    source = output_uri(plan, job)
    try:
        text = read_job_output(s3_client, source, {**job, "job_name": job_name})
        output = read_segment_output(text, source=source)
    except BatchOutputError as error:
        raise PermanentFailure(f"{error}; nothing was published for audience {audience!r}") from None
    # The Item-Affinity model knows the members of its last training: one who withdrew (or became a test account)
    # since then is not in the latest export's Users and must not reach a mailing list.
    current = set(read_archived_csv(s3_client, config, latest_export(s3_client, config), "users")["USER_ID"])
    listed = {member for members in output.users_by_item.values() for member in members}
    departed = len(listed - current)
    output = dataclasses.replace(
        output,
        users_by_item={item: [m for m in members if m in current] for item, members in output.users_by_item.items()},
    )
    size = int(plan[keys.NUM_RESULTS])
    rows = audience_rows(output, size=size)
    if not rows:
        reasons = "; ".join(f"{item['item_id']}: {item['reason']}" for item in output.failed_items[:ITEMS_SHOWN])
        raise PermanentFailure(
            f"batch segment job {job_name} found no member for audience {audience!r} ({source}"
            + (f"; items not served: {reasons}" if reasons else "")
            + "); nothing was published"
        )

    prefix = audience_prefix(config, audience)
    members_uri = s3_uri(config.s3.bucket, prefix + MEMBERS_NAME)
    summary_uri = s3_uri(config.s3.bucket, prefix + SUMMARY_NAME)
    items = list(plan[keys.SEGMENT_ITEMS])
    summary = {
        "audience": audience,
        "items": items,
        "criteria": dict(plan.get(keys.SEGMENT_CRITERIA) or {}),
        "items_source": plan.get(keys.SEGMENT_ITEMS_SOURCE),
        "solution_version_arn": plan[keys.SOLUTION_VERSION_ARN],
        "job": {
            "name": job_name,
            "arn": job.get("batch_segment_job_arn"),
            "status": job.get("status"),
            "input": plan[keys.JOB_INPUT],
            "output": source,
        },
        "counts": {
            "size_asked": size,
            "members": len(rows),
            "items": len(items),
            "items_served": len(output.users_by_item),
            "items_failed": len(output.failed_items),
            "departed_members_left_out": departed,
        },
        "failed_items": output.failed_items,
        "members_uri": members_uri,
        "summary_uri": summary_uri,
        "published_at": datetime.now(UTC).replace(microsecond=0).isoformat(),
    }
    with tempfile.TemporaryDirectory(prefix="pulla-audience-") as folder:
        local = Path(folder)
        (local / MEMBERS_NAME).write_bytes(csv_bytes(rows, AUDIENCE_COLUMNS))
        document = json.dumps(summary, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
        (local / SUMMARY_NAME).write_text(document, encoding="utf-8")
        stage_folder(
            s3_client,
            local_dir=local,
            bucket=config.s3.bucket,
            prefix=prefix,
            staging_prefix=staging_prefix(config),
            pattern="*",
            sse=config.s3.server_side_encryption,
            sse_kms_key_id=config.s3.kms_key_id,
        )
    return {
        "audience": audience,
        "members": len(rows),
        "size_asked": size,
        "items": items,
        "items_served": len(output.users_by_item),
        "failed_items": output.failed_items,
        "members_uri": members_uri,
        "summary_uri": summary_uri,
    }


# --- what the tasks log -----------------------------------------------------------------------------------------------


def _items_text(items: Sequence[str]) -> str:
    shown = ", ".join(items[:ITEMS_SHOWN])
    return shown + (f" and {len(items) - ITEMS_SHOWN} more" if len(items) > ITEMS_SHOWN else "")


def _criteria_text(criteria: Mapping[str, Any]) -> str:
    if "item_ids" in criteria:
        return "the item ids of the form"
    return "the product line " + ", ".join(f"{name}={value}" for name, value in criteria.items())


def describe_segment_plan(plan: Mapping[str, Any]) -> list[str]:
    """plan_segment: which items, chosen how, and the job that will find their members."""
    items = list(plan.get(keys.SEGMENT_ITEMS) or [])
    return [
        f"Audience {plan.get(keys.AUDIENCE)!r}: the {plan.get(keys.NUM_RESULTS)} members most likely to buy "
        f"{len(items)} item(s): {_items_text(items)}",
        f"  chosen by {_criteria_text(plan.get(keys.SEGMENT_CRITERIA) or {})} "
        f"from {plan.get(keys.SEGMENT_ITEMS_SOURCE)}",
        f"  item-affinity version {plan.get(keys.SOLUTION_VERSION_ARN)}",
        f"  batch segment job {plan.get(keys.JOB_NAME)} reads {plan.get(keys.JOB_INPUT)} and writes to "
        f"{plan.get(keys.JOB_OUTPUT)} (a rerun of the same form on this version adopts it)",
    ]


def describe_audience(result: Mapping[str, Any]) -> list[str]:
    """publish_audience: how many members, for which items, and where the marketing team finds the file."""
    items = list(result.get("items") or [])
    members = result.get("members", 0)
    asked = result.get("size_asked")
    fewer = f" (asked for {asked}: the job found no more)" if isinstance(asked, int) and members < asked else ""
    lines = [
        f"Audience {result.get('audience')!r}: {members:,} member(s){fewer} in {result.get('members_uri')}",
        f"  for {len(items)} item(s): {_items_text(items)}; {result.get('items_served', 0)} of them served",
    ]
    failed = list(result.get("failed_items") or [])
    for item in failed[:ITEMS_SHOWN]:
        lines.append(f"  not served: {item.get('item_id') or '?'} ({item.get('reason')})")
    if len(failed) > ITEMS_SHOWN:
        lines.append(f"  and {len(failed) - ITEMS_SHOWN} more items not served (summary.json lists them)")
    lines.append(f"  summary (items, criteria, version, job, counts): {result.get('summary_uri')}")
    return lines
