"""The support table enforced through stock boto3 against a running endpoint.

For every member ``personalize_local/support.py`` refuses, a request built from botocore's input shape (its required
members, plus that member set) gets InvalidInputException naming the member; sent empty or with a value the table
accepts, the member is let through. Every operation the table does not implement answers UnknownOperationException,
and every one it implements reaches its handler.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from botocore import xform_name
from botocore.exceptions import ClientError

from personalize_local import support

from .conftest import make_clients

ARN = "arn:aws:personalize:us-east-1:123456789012:dataset-group/support"


def string_for(shape: Any, avoid: tuple[Any, ...] = ()) -> str:
    """A string the shape's enum, pattern and length take (and not one of ``avoid``)."""
    metadata = shape.metadata
    if "enum" in metadata:
        return next(value for value in metadata["enum"] if value not in avoid)
    pattern = metadata.get("pattern", "")
    if "iam::" in pattern:
        return "arn:aws:iam::123456789012:role/Support"
    if "kms" in pattern:
        return "arn:aws:kms:us-east-1:123456789012:key/support"
    if "personalize" in pattern:
        return ARN
    if "s3|http" in pattern:
        return "s3://bucket/key.csv"
    if "rate" in pattern:
        return "rate(1 day)"
    return "a" * max(1, metadata.get("min", 1))


def value_for(shape: Any, *, full: bool = False, depth: int = 0) -> Any:
    """A value that fits ``shape``: required members only, or (``full``) every member, to make it count as set."""
    kind = shape.type_name
    if kind == "structure":
        return {
            name: value_for(member, full=full, depth=depth + 1)
            for name, member in shape.members.items()
            if name in shape.required_members or (full and depth < 4)
        }
    if kind == "string":
        return string_for(shape)
    if kind in ("integer", "long"):
        return max(1, shape.metadata.get("min", 1))
    if kind in ("float", "double"):
        return float(max(0, shape.metadata.get("min", 0)))
    if kind == "timestamp":
        return time.time()
    if kind == "boolean":
        return True
    if kind == "list":
        return [
            value_for(shape.member, full=full, depth=depth + 1) for _ in range(max(1, shape.metadata.get("min", 1)))
        ]
    if kind == "map":
        return {string_for(shape.key): value_for(shape.value, full=full, depth=depth + 1)}
    raise AssertionError(f"no value for {kind}")


def model(operation: str) -> Any:
    import botocore.session

    service = support.OPERATIONS[operation].service
    return botocore.session.get_session().get_service_model(service).operation_model(operation)


def put(body: dict[str, Any], shape: Any, path: str, value: Any) -> None:
    """Set the member at ``path`` (``a.b``, ``a[].b``) in ``body``, building what leads to it as the shape says."""
    head, _, rest = path.partition(".")
    name = head.removesuffix("[]")
    member = shape.members[name]
    if head.endswith("[]"):
        elements = body.setdefault(name, [value_for(member.member)])
        put(elements[0], member.member, rest, value)
    elif rest:
        put(body.setdefault(name, value_for(member)), member, rest, value)
    else:
        body[name] = value


def shape_at(shape: Any, path: str) -> Any:
    for part in path.split("."):
        shape = shape.members[part.removesuffix("[]")]
        if part.endswith("[]"):
            shape = shape.member
    return shape


def call(clients: Any, operation: str, body: dict[str, Any]) -> ClientError | None:
    client = {
        support.CONTROL_PLANE: clients.personalize,
        support.RUNTIME: clients.runtime,
        support.EVENTS: clients.events,
    }[support.OPERATIONS[operation].service]
    try:
        getattr(client, xform_name(operation))(**body)
    except ClientError as error:
        return error
    return None


REFUSED = [
    (operation, path)
    for operation, spec in sorted(support.OPERATIONS.items())
    if spec.implemented
    for path, member in spec.members.items()
    if member.status == support.REFUSED
]
ACCEPTED = [(operation, path) for operation, path in REFUSED if support.OPERATIONS[operation].members[path].accepts]


@pytest.fixture(scope="module")
def clients(start_endpoint, tmp_path_factory):
    return make_clients(start_endpoint(tmp_path_factory.mktemp("support")).url)


@pytest.mark.parametrize(("operation", "path"), REFUSED, ids=[f"{op}.{path}" for op, path in REFUSED])
def test_a_refused_member_gets_invalid_input_naming_it(clients, operation: str, path: str) -> None:
    operation_model = model(operation)
    member = support.OPERATIONS[operation].members[path]
    shape = shape_at(operation_model.input_shape, path)
    value = string_for(shape, member.accepts) if shape.type_name == "string" else value_for(shape, full=True)
    body = value_for(operation_model.input_shape)
    put(body, operation_model.input_shape, path, value)
    error = call(clients, operation, body)
    assert error is not None, f"{operation} took {path} = {value!r}"
    where = path.replace("[]", "[0]")
    assert error.response["Error"]["Code"] == "InvalidInputException", error.response["Error"]
    assert error.response["Error"]["Message"].startswith(f"{where} is not supported by the local endpoint: ")


@pytest.mark.parametrize(("operation", "path"), ACCEPTED, ids=[f"{op}.{path}" for op, path in ACCEPTED])
def test_a_refused_member_at_a_value_the_endpoint_behaves_as_is_let_through(clients, operation: str, path: str) -> None:
    operation_model = model(operation)
    for value in support.OPERATIONS[operation].members[path].accepts:
        body = value_for(operation_model.input_shape)
        put(body, operation_model.input_shape, path, value)
        error = call(clients, operation, body)
        # The handler runs and answers on its own terms (the generated ARNs name nothing that exists).
        assert error is None or "not supported by the local endpoint" not in error.response["Error"]["Message"]


NOT_IMPLEMENTED = sorted(name for name, spec in support.OPERATIONS.items() if not spec.implemented)
IMPLEMENTED = sorted(name for name, spec in support.OPERATIONS.items() if spec.implemented)


@pytest.mark.parametrize("operation", NOT_IMPLEMENTED)
def test_an_operation_not_implemented_answers_unknown_operation(clients, operation: str) -> None:
    input_shape = model(operation).input_shape
    error = call(clients, operation, value_for(input_shape) if input_shape is not None else {})
    assert error is not None
    assert error.response["Error"]["Code"] == "UnknownOperationException"
    message = error.response["Error"]["Message"]
    assert (
        message == f"Operation {operation} is not supported by the local endpoint: {support.OPERATIONS[operation].note}"
    )


@pytest.mark.parametrize("operation", IMPLEMENTED)
def test_an_implemented_operation_reaches_its_handler(clients, operation: str) -> None:
    input_shape = model(operation).input_shape
    error = call(clients, operation, value_for(input_shape) if input_shape is not None else {})
    assert error is None or error.response["Error"]["Code"] not in ("UnknownOperationException", "ValidationException")
