"""The pipeline's Airflow-free decisions: which window a run exports, how each dataset is imported, what its
import job is called, and where a retrained version goes.

The DAG tasks call these with plain values (the run's time, its form, the configured time zone), so every rule
here is unit-tested without a scheduler:

- a scheduled run exports the previous local day; a manual one may name its window;
- Interactions append (INCREMENTAL) exactly one local day at a time, Users and Items replace (FULL), and a full
  reload replaces everything;
- an import job is named after its dataset, window, mode and data (``ImportJobName``), so a rerun with the same
  data adopts the job and a correction is never hidden behind the old import;
- the deploy gate's decision becomes create, update or keep (the DAG maps those to its task ids).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any, Literal, TypedDict
from zoneinfo import ZoneInfo

from pulla_personalize.datasets import DATASET_TYPES

#: Personalize's limit on resource names (botocore ``Name``: 1-63 characters).
NAME_MAX_LENGTH = 63
#: Import-job statuses that hold data in the dataset (or soon will).
LIVE_JOB_STATUSES = ("ACTIVE", "CREATE PENDING", "CREATE IN_PROGRESS")


class PlannedWindow(TypedDict):
    """A run's window as it travels between tasks (XCom): what ``plan_window`` returns."""

    start: str  # ISO 8601, UTC
    end: str  # ISO 8601, UTC, excluded
    label: str  # window_label: S3 partitions and job names
    full_reload: bool
    import_modes: dict[str, str]  # dataset → FULL or INCREMENTAL


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


def plan_window(run_after: datetime, params: Mapping[str, Any], time_zone: str) -> PlannedWindow:
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
    return PlannedWindow(
        start=start.astimezone(UTC).isoformat(),
        end=end.astimezone(UTC).isoformat(),
        label=window_label(start, end, zone),
        full_reload=full_reload,
        import_modes=import_modes(full_reload),
    )


def import_modes(full_reload: bool) -> dict[str, str]:
    """Interactions append day by day; Users and Items are snapshots and replace. ``full_reload`` replaces all.

    (The import operator still turns INCREMENTAL into FULL for a dataset that never had a bulk import.)
    """
    return {kind: "FULL" if full_reload or kind != "interactions" else "INCREMENTAL" for kind in DATASET_TYPES}


@dataclass(frozen=True)
class ImportJobName:
    """``pulla-interactions-20261127-incremental-1a2b3c4d``: the dataset, the window, the mode and the data's
    fingerprint, the one naming scheme of import jobs.

    The same data always gives the same job, so a rerun adopts it; corrected data gives another job, so the
    correction reaches Personalize instead of being hidden by adopting the old import. The import operator may
    add ``-r2``, ``-r3`` ... for a later attempt after a FAILED job (whose name stays taken).
    """

    dataset_name: str
    label: str
    mode: str
    fingerprint: str

    def __post_init__(self) -> None:
        if len(str(self)) > NAME_MAX_LENGTH:
            raise ValueError(f"import job name {str(self)!r} is longer than Personalize's {NAME_MAX_LENGTH} characters")

    @property
    def window_prefix(self) -> str:
        """What every job of this dataset, window and mode starts with, whatever its data."""
        return f"{self.dataset_name}-{self.label}-{self.mode.lower()}-"

    def __str__(self) -> str:
        return self.window_prefix + self.fingerprint


def file_fingerprint(path: Path) -> str:
    """The first 8 hex digits of the file's SHA-256: enough to tell a corrected export from the imported one."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:8]


def refuse_incremental_correction(existing_jobs: Iterable[Mapping[str, Any]], job: ImportJobName) -> None:
    """Fails when the same window was already imported INCREMENTALLY with other data.

    Personalize appends incremental interactions: importing a corrected day would add it next to the old one.
    The only way to replace a day is a full reload of the whole history.
    """
    for existing in existing_jobs:
        name = str(existing.get("jobName", ""))
        same_window = name.startswith(job.window_prefix)
        if same_window and not name.startswith(str(job)) and existing.get("status") in LIVE_JOB_STATUSES:
            raise ValueError(
                f"this window was already imported incrementally by job {name} with other data (now {job}): "
                "Personalize would append the corrected rows next to the old ones. Run pulla_personalize_daily "
                "with full_reload and a window covering the whole history to replace them"
            )


DeploymentAction = Literal["create", "update", "keep"]


def deployment_action(decision: Mapping[str, Any], campaign_arn: str | None) -> DeploymentAction:
    """After the gate: keep the live version, or deploy by creating the campaign or updating it."""
    if not decision.get("deploy"):
        return "keep"
    return "update" if campaign_arn else "create"
