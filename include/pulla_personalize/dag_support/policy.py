"""What every Pulla DAG shares: owner, retries, time-outs, the failure callback and the tag vocabulary.

A DAG file takes these instead of repeating them, so a change of on-call policy is one edit, and the DAG
integrity tests check every DAG against the same rules.
"""

from __future__ import annotations

import os
from datetime import timedelta
from enum import StrEnum
from typing import Any

from pulla_personalize.dag_support.notify import PullaFailureNotifier

OWNER = "data-platform"
#: Airflow connection ids: the Pulla database and the AWS connection whose extras pick AWS or local endpoints.
SOURCE_DB_CONN_ID = "pulla_db"
AWS_CONN_ID = "aws_default"
TIME_ZONE = "Asia/Seoul"


class Tag(StrEnum):
    """The only tags a Pulla DAG may carry (checked by tests/dags)."""

    PERSONALIZE = "personalize"
    SETUP = "kind/setup"
    INGEST = "kind/ingest"
    TRAINING = "kind/training"
    TIER_1 = "impact/tier-1"
    TIER_2 = "impact/tier-2"


ALLOWED_TAGS = frozenset(tag.value for tag in Tag)

#: Seconds between two status checks of a Personalize wait. Unset: each waiter's own delay (30-60 s, right for
#: AWS). The local endpoint moves statuses in about a second, so ``make demo`` and the tests set it to 1-2 s.
WAITER_DELAY_ENV = "PULLA_WAITER_DELAY_SECONDS"
#: Retries of each task. Unset: the policy's (2). ``make demo`` and the tests set 0 so a failure shows at once.
TASK_RETRIES_ENV = "PULLA_TASK_RETRIES"


def default_args(*, retries: int = 2, retry_delay: timedelta = timedelta(minutes=5)) -> dict[str, Any]:
    """Task defaults: an owner to page, retries with growing delay, and a notification when a task fails for good."""
    args: dict[str, Any] = {
        "owner": OWNER,
        "retries": int(os.environ.get(TASK_RETRIES_ENV, retries)),
        "retry_delay": retry_delay,
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=30),
        "execution_timeout": timedelta(hours=2),
        "on_failure_callback": [PullaFailureNotifier()],
    }
    # default_args reach only operators that take the argument: the Personalize ones.
    if os.environ.get(WAITER_DELAY_ENV):
        args["waiter_delay"] = int(os.environ[WAITER_DELAY_ENV])
    return args


def dag_failure_callbacks() -> list[PullaFailureNotifier]:
    """The DAG-level failure callback (a run that fails or times out as a whole)."""
    return [PullaFailureNotifier()]
