"""What every Pulla DAG shares: owner, retries, time-outs, the failure callback and the tag vocabulary.

A DAG file takes these instead of repeating them, so a change of on-call policy is one edit, and the DAG
integrity tests check every DAG against the same rules.
"""

from __future__ import annotations

import os
from datetime import timedelta
from enum import StrEnum
from typing import Any

# Re-exported (``x as x``): a DAG file takes the connections and the datasets from here with the policy.
from pulla_airflow.connections import AWS_CONN_ID as AWS_CONN_ID
from pulla_airflow.connections import SOURCE_DB_CONN_ID as SOURCE_DB_CONN_ID
from pulla_airflow.notify import PullaFailureNotifier
from pulla_personalize.datasets import DATASET_TYPES as DATASET_TYPES
from pulla_personalize.datasets import SERVICE_DATASET_TYPES as SERVICE_DATASET_TYPES
from pulla_personalize.pipeline_config import configured_time_zone

OWNER = "data-platform"
#: The zone of every schedule and start date: the configuration's ``time_zone``, so the schedules run on the clock
#: the export windows are cut by (read when a DAG file is parsed; a bad value fails the import, naming the key).
TIME_ZONE = configured_time_zone()


class Tag(StrEnum):
    """The only tags a Pulla DAG may carry (checked by tests/dags)."""

    PERSONALIZE = "personalize"
    SETUP = "kind/setup"
    INGEST = "kind/ingest"
    TRAINING = "kind/training"
    CRM = "kind/crm"
    TIER_1 = "impact/tier-1"
    TIER_2 = "impact/tier-2"


ALLOWED_TAGS = frozenset(tag.value for tag in Tag)

#: Seconds between two status checks of a Personalize wait. Unset: each waiter's own delay (30-60 s, right for
#: AWS). The local endpoint moves statuses in about a second, so ``make demo`` and the tests set it to 1-2 s.
WAITER_DELAY_ENV = "PULLA_WAITER_DELAY_SECONDS"
#: Retries of each task. Unset: the policy's (2). ``make demo`` and the tests set 0 so a failure shows at once.
TASK_RETRIES_ENV = "PULLA_TASK_RETRIES"
#: Seconds a job operator first waits after LimitExceededException (doubling). Unset: the operators' 300 s (right
#: for AWS, where a job slot frees in minutes). The e2e tier sets 2 s to see the back-off under the triggerer.
LIMIT_RETRY_DELAY_ENV = "PULLA_LIMIT_RETRY_DELAY_SECONDS"


def _env_count(name: str, default: int | None) -> int | None:
    """A whole number >= 0 from the environment; unset or empty gives ``default``; anything else fails clearly."""
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise ValueError(f"environment variable {name}={text!r} must be a whole number of at least 0")
    return value


def default_args(*, retries: int = 2, retry_delay: timedelta = timedelta(minutes=5)) -> dict[str, Any]:
    """Task defaults: an owner to page, retries with growing delay, and a notification when a task fails for good."""
    args: dict[str, Any] = {
        "owner": OWNER,
        "retries": _env_count(TASK_RETRIES_ENV, retries),
        "retry_delay": retry_delay,
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=30),
        "execution_timeout": timedelta(hours=2),
        "on_failure_callback": [PullaFailureNotifier()],
    }
    # default_args reach only operators that take the argument: the Personalize ones.
    waiter_delay = _env_count(WAITER_DELAY_ENV, None)
    if waiter_delay is not None:
        args["waiter_delay"] = waiter_delay
    limit_delay = _env_count(LIMIT_RETRY_DELAY_ENV, None)
    if limit_delay is not None:
        args["limit_retry_delay"] = limit_delay
    return args


def dag_failure_callbacks() -> list[PullaFailureNotifier]:
    """The DAG-level failure callback (a run that fails or times out as a whole)."""
    return [PullaFailureNotifier()]
