"""How a Pulla task ends its log: the human summary (``summaries.describe_*``), and failures retrying cannot fix.

- ``log_summary(lines)`` writes the lines to the task log, one record each.
- ``fail_without_retry()`` wraps a task body: a ``PermanentFailure`` (a failed validation gate, Personalize not set
  up yet) logs its account once, then fails the task at once with its short reason, without the retries the
  policy gives transient errors and without a chained traceback that would repeat the account.
- ``summary_hook(describe)`` is an operator's ``post_execute``: it logs the summary of what the operator
  returned, for operators we do not own (the Personalize provider's).

Imported inside tasks and by DAG files at top level, so it imports nothing heavy.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

#: The logger Airflow routes to the task's log.
TASK_LOGGER = "airflow.task"


def log_summary(lines: Iterable[str], *, level: int = logging.INFO, logger: logging.Logger | None = None) -> None:
    """Writes ``lines`` to the task log, one record per line (each is readable on its own in the UI)."""
    logger = logger or logging.getLogger(TASK_LOGGER)
    for line in lines:
        logger.log(level, "%s", line)


@contextmanager
def fail_without_retry(logger: logging.Logger | None = None) -> Iterator[None]:
    """Turns a ``PermanentFailure`` raised inside into Airflow's ``AirflowFailException`` (no retry).

    Its ``lines`` are logged as errors first, so the log states the problem once, in words, before Airflow's
    traceback; the exception carries only the short reason (``str(failure)``), which the failure notification
    sends.
    """
    from airflow.sdk.exceptions import AirflowFailException

    from pulla_airflow.failures import PermanentFailure

    try:
        yield
    except PermanentFailure as failure:
        log_summary(failure.lines, level=logging.ERROR, logger=logger)
        raise AirflowFailException(str(failure)) from None


def summary_hook(describe: Callable[[Any, Any], list[str]]) -> Callable[[Any, Any], None]:
    """An operator's ``post_execute``: logs ``describe(operator, result)`` when the operator has succeeded.

    A summary that cannot be written is a warning, never a failure of the task whose work is done.
    """

    def post_execute(context: Any, result: Any = None) -> None:
        logger = logging.getLogger(TASK_LOGGER)
        try:
            lines = describe(context["task"], result)
        except Exception as error:
            logger.warning("Could not summarise the result (%s: %s)", type(error).__name__, error)
            return
        log_summary(lines, logger=logger)

    return post_execute


# --- summaries of the Personalize provider's operators (operator, result) -------------------------------------------


def training_summary(operator: Any, result: Any) -> list[str]:
    from pulla_airflow.summaries import describe_training

    return describe_training(str(result), str(getattr(operator, "training_mode", "?")))


def gate_summary(operator: Any, result: Any) -> list[str]:
    from pulla_airflow.summaries import describe_gate

    return describe_gate(result or {})


def campaign_created_summary(operator: Any, result: Any) -> list[str]:
    from pulla_airflow.summaries import describe_campaign_deployment

    return describe_campaign_deployment(str(result), str(operator.solution_version_arn), created=True)


def campaign_updated_summary(operator: Any, result: Any) -> list[str]:
    from pulla_airflow.summaries import describe_campaign_deployment

    return describe_campaign_deployment(str(result), str(operator.solution_version_arn), created=False)
