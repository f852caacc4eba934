"""The failures a retry cannot fix: the DAG tasks turn them into Airflow's fail-without-retry exception."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


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
