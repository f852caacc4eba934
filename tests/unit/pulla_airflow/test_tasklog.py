"""How a task ends its log: summaries written to the task logger, failures retrying cannot fix turned into Airflow's
fail-without-retry exception after their account is logged once, and the post_execute hooks of the provider's
operators."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException

from personalize_provider.operators.personalize import (
    PersonalizeCreateSolutionVersionOperator,
    PersonalizeEnsureCampaignOperator,
    PersonalizeEvaluateSolutionVersionOperator,
    PersonalizeUpdateCampaignOperator,
)
from pulla_airflow.failures import SetupMissing, ValidationGateFailed
from pulla_airflow.summaries import describe_gate
from pulla_airflow.tasklog import (
    TASK_LOGGER,
    campaign_created_summary,
    campaign_updated_summary,
    fail_without_retry,
    gate_summary,
    log_summary,
    summary_hook,
    training_summary,
)

NEW = "arn:aws:personalize:ap-northeast-2:123456789012:solution/pulla-up/new"
CAMPAIGN = "arn:aws:personalize:ap-northeast-2:123456789012:campaign/pulla-campaign"


class Recorder(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def lines(self) -> list[tuple[str, str]]:
        return [(record.levelname, record.getMessage()) for record in self.records]


@pytest.fixture
def task_log() -> Iterator[Recorder]:
    """What reaches the task logger (the one Airflow writes to the task's log)."""
    logger = logging.getLogger(TASK_LOGGER)
    recorder = Recorder()
    level = logger.level
    logger.addHandler(recorder)
    logger.setLevel(logging.INFO)
    yield recorder
    logger.removeHandler(recorder)
    logger.setLevel(level)


def failed_export() -> dict[str, Any]:
    failure = {
        "dataset": "interactions_per_user",
        "expectation": "expect_enough_users_with_min_interactions",
        "column": "INTERACTIONS",
        "blocking": True,
        "success": False,
        "observed": 3,
        "expected": "at least 25 users with at least 2 interactions each",
    }
    return {
        "window": {"label": "20261127", "start": "s", "end": "e"},
        "run_uri": "s3://b/p/runs/window=20261127/",
        "report_uri": "s3://b/p/runs/window=20261127/report.json",
        "passed": False,
        "datasets": {"interactions": 12, "users": 955, "items": 300},
        "sources": {},
        "validation": {"passed": False, "evaluated": 63, "failures": [failure], "warnings": []},
    }


def test_log_summary_writes_one_record_per_line(task_log: Recorder) -> None:
    log_summary(["Rows: interactions 34,086", "Validation passed"])
    assert task_log.lines() == [("INFO", "Rows: interactions 34,086"), ("INFO", "Validation passed")]


def test_a_failed_gate_is_logged_once_then_fails_without_retry(task_log: Recorder) -> None:
    failure = ValidationGateFailed(failed_export())
    with pytest.raises(AirflowFailException) as raised, fail_without_retry():
        raise failure
    # The account is in the log, as errors, before the exception reaches Airflow (which then logs its traceback).
    assert task_log.lines() == [("ERROR", line) for line in failure.lines]
    assert any("observed 3" in line for line in failure.lines)
    # The exception carries the short reason only, and no chained traceback that would repeat the account.
    assert str(raised.value) == str(failure)
    assert "observed 3" not in str(raised.value)
    assert raised.value.__cause__ is None
    assert raised.value.__suppress_context__ is True


def test_missing_setup_fails_without_retry(task_log: Recorder) -> None:
    with (
        pytest.raises(
            AirflowFailException, match=r"^dataset group 'pulla' does not exist: run pulla_personalize_setup"
        ),
        fail_without_retry(),
    ):
        raise SetupMissing("dataset group 'pulla'")
    assert task_log.lines() == []  # the message says it all


@pytest.mark.parametrize("error", [RuntimeError("throttled"), LookupError("some other lookup")])
def test_other_errors_keep_their_retries(error: Exception, task_log: Recorder) -> None:
    with pytest.raises(type(error)) as raised, fail_without_retry():
        raise error
    assert raised.value is error
    assert not isinstance(raised.value, AirflowFailException)
    assert task_log.lines() == []


def test_summary_hook_logs_what_the_operator_returned(task_log: Recorder) -> None:
    decision = {
        "deploy": True,
        "reason": "nothing is live yet: deploy the first version",
        "new_metrics": {"precision_at_25": 0.1},
        "live_metrics": None,
        "min_ratios": {"precision_at_25": 0.98},
        "solution_version_arn": NEW,
    }
    operator = PersonalizeEvaluateSolutionVersionOperator(task_id="evaluate_gate", solution_version_arn=NEW)
    summary_hook(gate_summary)({"task": operator}, decision)
    assert task_log.lines() == [("INFO", line) for line in describe_gate(decision)]


def test_a_summary_that_fails_is_a_warning_not_a_failure(task_log: Recorder) -> None:
    def broken(operator: Any, result: Any) -> list[str]:
        raise KeyError("reason")

    summary_hook(broken)({"task": None}, {})
    assert task_log.lines() == [("WARNING", "Could not summarise the result (KeyError: 'reason')")]


def test_provider_operator_summaries_read_the_operator() -> None:
    training = PersonalizeCreateSolutionVersionOperator(task_id="t", solution_arn="s", training_mode="UPDATE")
    assert training_summary(training, NEW) == [f"Solution version {NEW} finished training (UPDATE) and is ACTIVE"]
    create = PersonalizeEnsureCampaignOperator(task_id="c", name="pulla-campaign", solution_version_arn=NEW)
    assert campaign_created_summary(create, CAMPAIGN) == [f"Deployed: campaign {CAMPAIGN} created, serving {NEW}"]
    update = PersonalizeUpdateCampaignOperator(task_id="u", campaign_arn=CAMPAIGN, solution_version_arn=NEW)
    assert campaign_updated_summary(update, CAMPAIGN) == [f"Deployed: campaign {CAMPAIGN} now serves {NEW}"]
