"""The shared DAG policy: task defaults, their environment overrides, and the tag vocabulary."""

from __future__ import annotations

from datetime import timedelta

import pytest

from pulla_airflow.dag_policy import (
    ALLOWED_TAGS,
    LIMIT_RETRY_DELAY_ENV,
    TASK_RETRIES_ENV,
    WAITER_DELAY_ENV,
    Tag,
    dag_failure_callbacks,
    default_args,
)
from pulla_airflow.notify import PullaFailureNotifier


@pytest.fixture(autouse=True)
def no_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(TASK_RETRIES_ENV, raising=False)
    monkeypatch.delenv(WAITER_DELAY_ENV, raising=False)
    monkeypatch.delenv(LIMIT_RETRY_DELAY_ENV, raising=False)


def test_default_args() -> None:
    args = default_args()
    assert set(args) == {
        "owner",
        "retries",
        "retry_delay",
        "retry_exponential_backoff",
        "max_retry_delay",
        "execution_timeout",
        "on_failure_callback",
    }
    assert args["owner"] == "data-platform"
    assert args["retries"] == 2
    assert args["retry_delay"] == timedelta(minutes=5)
    assert args["retry_exponential_backoff"] is True
    assert args["max_retry_delay"] > args["retry_delay"]
    assert args["execution_timeout"] == timedelta(hours=2)
    [callback] = args["on_failure_callback"]
    assert isinstance(callback, PullaFailureNotifier)


def test_arguments_change_the_defaults() -> None:
    args = default_args(retries=5, retry_delay=timedelta(seconds=30))
    assert (args["retries"], args["retry_delay"]) == (5, timedelta(seconds=30))


def test_each_call_gets_its_own_notifier() -> None:
    assert default_args()["on_failure_callback"][0] is not default_args()["on_failure_callback"][0]
    [dag_callback] = dag_failure_callbacks()
    assert isinstance(dag_callback, PullaFailureNotifier)


@pytest.mark.parametrize(("text", "retries"), [("0", 0), (" 4 ", 4), ("", 2)])
def test_retries_from_the_environment(monkeypatch: pytest.MonkeyPatch, text: str, retries: int) -> None:
    monkeypatch.setenv(TASK_RETRIES_ENV, text)
    assert default_args()["retries"] == retries
    assert default_args(retries=7)["retries"] == (retries if text.strip() else 7)


@pytest.mark.parametrize(("text", "delay"), [("1", 1), ("0", 0), ("30", 30)])
def test_waiter_delay_from_the_environment(monkeypatch: pytest.MonkeyPatch, text: str, delay: int) -> None:
    monkeypatch.setenv(WAITER_DELAY_ENV, text)
    assert default_args()["waiter_delay"] == delay


def test_no_waiter_delay_when_unset_or_empty(monkeypatch: pytest.MonkeyPatch) -> None:
    assert "waiter_delay" not in default_args()
    monkeypatch.setenv(WAITER_DELAY_ENV, "")
    assert "waiter_delay" not in default_args()


def test_the_limit_back_off_from_the_environment_reaches_the_job_operators(monkeypatch: pytest.MonkeyPatch) -> None:
    from personalize_provider.operators.personalize import PersonalizeDatasetImportJobOperator

    assert "limit_retry_delay" not in default_args()
    monkeypatch.setenv(LIMIT_RETRY_DELAY_ENV, "2")
    assert default_args()["limit_retry_delay"] == 2
    operator = PersonalizeDatasetImportJobOperator(
        task_id="import_users",
        job_name="pulla-users-x",
        dataset_arn="arn:aws:personalize:ap-northeast-2:123456789012:dataset/pulla/USERS",
        data_location="s3://pulla-personalize/personalize/import/users/window=x/",
        role_arn="arn:aws:iam::123456789012:role/PullaPersonalizeS3Access",
        default_args=default_args(),
    )
    assert operator.limit_retry_delay == 2


@pytest.mark.parametrize("name", [TASK_RETRIES_ENV, WAITER_DELAY_ENV, LIMIT_RETRY_DELAY_ENV])
@pytest.mark.parametrize("text", ["two", "-1", "1.5"])
def test_bad_environment_value_is_named(monkeypatch: pytest.MonkeyPatch, name: str, text: str) -> None:
    monkeypatch.setenv(name, text)
    with pytest.raises(ValueError, match=rf"environment variable {name}='{text}' must be a whole number of at least 0"):
        default_args()


def test_tag_vocabulary() -> None:
    assert {
        "personalize",
        "kind/setup",
        "kind/ingest",
        "kind/training",
        "kind/crm",
        "impact/tier-1",
        "impact/tier-2",
    } == ALLOWED_TAGS
    # Tags are plain strings in a DAG's tag list.
    assert Tag.INGEST == "kind/ingest"
    assert all(isinstance(tag, str) for tag in Tag)
