"""Small decisions the operators make, kept free of Airflow and boto3 so they can be tested as plain functions."""

from __future__ import annotations

from collections.abc import Iterable

IMPORT_MODES = ("FULL", "INCREMENTAL")
TRAINING_MODES = ("FULL", "UPDATE")


def effective_import_mode(requested: str, previous_job_statuses: Iterable[str]) -> str:
    """The importMode to send: the requested one, except FULL when the dataset never had a bulk import.

    Personalize only accepts INCREMENTAL after an earlier bulk import succeeded; before that it rejects the
    job, so the first import of a new dataset is always FULL.
    """
    mode = requested.upper() if isinstance(requested, str) else requested
    if mode not in IMPORT_MODES:
        raise ValueError(f"import_mode must be one of {', '.join(IMPORT_MODES)}, got {requested!r}")
    if mode == "INCREMENTAL" and "ACTIVE" not in set(previous_job_statuses):
        return "FULL"
    return mode


def validate_training_mode(training_mode: str) -> str:
    mode = training_mode.upper() if isinstance(training_mode, str) else training_mode
    if mode not in TRAINING_MODES:
        raise ValueError(f"training_mode must be one of {', '.join(TRAINING_MODES)}, got {training_mode!r}")
    return mode


def limit_backoff_seconds(attempt: int, *, base_seconds: float, max_seconds: float) -> float:
    """Seconds to wait before attempt ``attempt + 1`` after LimitExceededException: base, 2x, 4x ... capped.

    The limit (a handful of imports in flight per region) frees up only when another import finishes, which
    takes minutes, so the waits are long and grow, and the caller bounds the number of attempts.
    """
    if attempt < 1:
        raise ValueError(f"attempt counts from 1, got {attempt}")
    if base_seconds < 0 or max_seconds < 0:
        raise ValueError("backoff seconds must not be negative")
    return float(min(max_seconds, base_seconds * 2 ** (attempt - 1)))
