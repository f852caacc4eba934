"""Names of Personalize resources: validation and the import-job name derived from a dataset and a data
interval.

Import-job names are unique per account and region and can never be reused, so a rerun of the same data
interval must produce the same name (that is how the operator finds and adopts the job of an earlier attempt).
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime

# The API's `Name` shape: 1-63 characters, starting with a letter or digit.
NAME_PATTERN = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9\-_]*$")
NAME_MAX_LENGTH = 63
_INTERVAL_FORMAT = "%Y%m%dT%H%M"


def validate_resource_name(name: str, *, field: str = "name") -> str:
    """Return ``name`` unchanged, or raise ValueError saying which field breaks which rule."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"{field} must be a non-empty string, got {name!r}")
    if len(name) > NAME_MAX_LENGTH:
        raise ValueError(f"{field} {name!r} is {len(name)} characters long; Personalize allows {NAME_MAX_LENGTH}")
    if not NAME_PATTERN.match(name):
        raise ValueError(
            f"{field} {name!r} must start with a letter or digit and contain only letters, digits, '-' and '_'"
        )
    return name


def _utc(moment: datetime, label: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{label} {moment!r} has no time zone; pass an aware datetime (Airflow's are)")
    return moment.astimezone(UTC)


def import_job_name(dataset_name: str, interval_start: datetime, interval_end: datetime, *, attempt: int = 1) -> str:
    """The import-job name for one dataset and one data interval, e.g.
    ``pulla-interactions-20261127T1800-20261128T1800``.

    Times are written in UTC so the name does not depend on the scheduler's time zone. When the dataset name
    is too long to fit, it is shortened and a hash of the full name keeps names of different datasets apart.
    ``attempt`` > 1 appends ``-r<attempt>``: Personalize cannot delete import jobs, so the name of a FAILED
    job stays taken and a later attempt for the same interval needs the next name.
    """
    start = _utc(interval_start, "interval_start")
    end = _utc(interval_end, "interval_end")
    if end < start:
        raise ValueError(f"interval_end {end.isoformat()} is before interval_start {start.isoformat()}")
    suffix = f"-{start.strftime(_INTERVAL_FORMAT)}-{end.strftime(_INTERVAL_FORMAT)}"
    suffix += attempt_suffix(attempt)
    # Characters the API does not allow in names become '-' so any dataset name yields a valid job name.
    base = re.sub(r"[^a-zA-Z0-9\-_]", "-", dataset_name).lstrip("-_") or "dataset"
    room = NAME_MAX_LENGTH - len(suffix)
    if len(base) > room:
        digest = hashlib.sha256(dataset_name.encode()).hexdigest()[:8]
        base = f"{base[: room - len(digest) - 1]}-{digest}"
    return validate_resource_name(base + suffix, field="import job name")


def attempt_suffix(attempt: int) -> str:
    """``""`` for the first attempt, ``-r2``, ``-r3`` ... after that."""
    if isinstance(attempt, bool) or not isinstance(attempt, int) or attempt < 1:
        raise ValueError(f"attempt counts from 1, got {attempt!r}")
    return "" if attempt == 1 else f"-r{attempt}"


def with_attempt(name: str, attempt: int) -> str:
    """An explicit job name for a later attempt: ``name-r2`` ..., shortened to fit the 63-character limit."""
    suffix = attempt_suffix(attempt)
    return validate_resource_name(name[: NAME_MAX_LENGTH - len(suffix)] + suffix, field="import job name")
