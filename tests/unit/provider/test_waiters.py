"""waiters/personalize.json: loads with botocore's waiter model, targets real operations, and each waiter's
acceptors succeed on its kind's done status (ACTIVE, batch jobs included; COMPLETED for data deletion jobs), fail
on its failed status (CREATE FAILED; FAILED) and keep polling while in progress (checked with Stubber responses,
which botocore validates against the API's output shapes)."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import botocore.session
import pytest
from botocore.exceptions import WaiterError
from botocore.stub import Stubber
from botocore.waiter import WaiterModel

from personalize_provider.hooks.personalize import RESOURCE_KINDS, WAITERS_FILE, PersonalizeHook, ResourceKind

from .conftest import REGION, arn


@cache
def has_failure_reason(kind: ResourceKind) -> bool:
    """Whether the API model gives this resource (or its update summary) a failureReason field."""
    service = botocore.session.get_session().get_service_model("personalize")
    operation = "".join(part.title() for part in kind.describe_method.split("_"))
    shape = service.operation_model(operation).output_shape.members[kind.response_key]
    for step in kind.status_path[:-1]:
        shape = shape.members[step]
    return "failureReason" in shape.members


def response_with_status(kind: ResourceKind, status: str) -> dict[str, Any]:
    """A describe response whose status (or latest-update status) is ``status``."""
    node: dict[str, Any] = {"status": status}
    if status.endswith("FAILED") and has_failure_reason(kind):
        node["failureReason"] = "Input CSV is missing the following columns: [TIMESTAMP]"
    for step in reversed(kind.status_path[:-1]):
        node = {step: node}
    return {kind.response_key: node}


@pytest.fixture(scope="module")
def model_config() -> dict[str, Any]:
    return json.loads(WAITERS_FILE.read_text())


@pytest.fixture(scope="module")
def hook() -> PersonalizeHook:
    # One client for the module: building a botocore client is the slow part of these tests.
    return PersonalizeHook(aws_conn_id=None, region_name=REGION, config={"retries": {"mode": "standard"}})


def test_model_loads_and_names_every_resource_kind(model_config: dict[str, Any]) -> None:
    model = WaiterModel(model_config)
    assert set(model.waiter_names) == set(RESOURCE_KINDS)


def test_every_waiter_polls_a_real_operation_on_a_real_path(model_config: dict[str, Any], hook) -> None:
    service = hook.conn.meta.service_model
    for name, waiter in model_config["waiters"].items():
        kind = RESOURCE_KINDS[name]
        operation = service.operation_model(waiter["operation"])
        assert operation.input_shape.required_members == [kind.arn_param], name
        assert {a["argument"] for a in waiter["acceptors"]} == {kind.status_query}, name
        states = {a["expected"]: a["state"] for a in waiter["acceptors"]}
        assert states[kind.done_status] == "success", name
        assert states[kind.failed_status] == "failure", name
        assert all(states[status] == "retry" for status in kind.in_progress_statuses), name


def test_data_deletion_job_statuses_are_the_api_references() -> None:
    """PENDING > IN_PROGRESS > COMPLETED or FAILED, as the API model documents them (not the resources' words)."""
    service = botocore.session.get_session().get_service_model("personalize")
    documented = service.shape_for("DataDeletionJob").members["status"].documentation
    kind = RESOURCE_KINDS["data_deletion_job_complete"]
    for status in (*kind.in_progress_statuses, kind.done_status, kind.failed_status):
        assert status in documented, status
    assert "ACTIVE" not in documented


@pytest.mark.parametrize("waiter_name", ["batch_inference_job_complete", "batch_segment_job_complete"])
def test_batch_job_statuses_include_the_api_references(waiter_name: str) -> None:
    """PENDING > IN PROGRESS > ACTIVE or CREATE FAILED as the API model documents them; the waiters also keep polling
    on CREATE PENDING and CREATE IN_PROGRESS, the words of the other resources."""
    service = botocore.session.get_session().get_service_model("personalize")
    kind = RESOURCE_KINDS[waiter_name]
    shape = service.operation_model(f"Describe{kind.response_key[0].upper()}{kind.response_key[1:]}").output_shape
    documented = shape.members[kind.response_key].members["status"].documentation
    for status in ("PENDING", "IN PROGRESS", "ACTIVE", "CREATE FAILED"):
        assert status in documented, status
    assert {"PENDING", "IN PROGRESS", "CREATE PENDING", "CREATE IN_PROGRESS"} == set(kind.in_progress_statuses)
    assert (kind.done_status, kind.failed_status) == ("ACTIVE", "CREATE FAILED")


def test_hook_finds_custom_waiters(hook: PersonalizeHook) -> None:
    assert set(RESOURCE_KINDS) <= set(hook.list_waiters())


@pytest.mark.parametrize("waiter_name", sorted(RESOURCE_KINDS))
class TestAcceptors:
    def _wait(self, hook: PersonalizeHook, waiter_name: str, statuses: list[str]) -> None:
        kind = RESOURCE_KINDS[waiter_name]
        resource_arn = arn(f"thing/{waiter_name}")
        with Stubber(hook.conn) as stubber:
            for status in statuses:
                stubber.add_response(
                    kind.describe_method, response_with_status(kind, status), {kind.arn_param: resource_arn}
                )
            waiter = hook.get_waiter(waiter_name)
            try:
                waiter.wait(**{kind.arn_param: resource_arn}, WaiterConfig={"Delay": 0, "MaxAttempts": 5})
            finally:
                stubber.assert_no_pending_responses()

    def test_done_is_success(self, hook: PersonalizeHook, waiter_name: str) -> None:
        self._wait(hook, waiter_name, [RESOURCE_KINDS[waiter_name].done_status])

    def test_in_progress_is_retried_until_done(self, hook: PersonalizeHook, waiter_name: str) -> None:
        kind = RESOURCE_KINDS[waiter_name]
        self._wait(hook, waiter_name, [*kind.in_progress_statuses, kind.done_status])

    def test_failed_is_a_terminal_failure(self, hook: PersonalizeHook, waiter_name: str) -> None:
        kind = RESOURCE_KINDS[waiter_name]
        with pytest.raises(WaiterError, match="terminal failure") as raised:
            self._wait(hook, waiter_name, [kind.in_progress_statuses[-1], kind.failed_status])
        assert raised.value.last_response == response_with_status(kind, kind.failed_status)
