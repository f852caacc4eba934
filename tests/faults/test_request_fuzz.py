"""Fuzzing every operation the local endpoint serves with requests made from botocore's input shapes.

A seeded generator (no extra dependency) builds a body that fits the operation's input shape, then breaks it one
way per case: a member of the wrong type, a required member missing, a number or length out of range, a huge
string, deep nesting, an unknown member, JSON null, a body that is not an object. Some cases go unbroken, so the
operations themselves run on what the model allows (resources that do not exist, names never seen). Whatever the
case, the answer must be the service's: 2xx or 4xx with an error code, never 5xx, and the endpoint keeps serving.
"""

from __future__ import annotations

import json
import random
import string
import time
from typing import Any

import pytest

from personalize_local import request_validation
from personalize_local.server import LocalEndpoint
from personalize_local.service import EndpointSettings
from tests.faults.endpoint_client import assert_still_serving, connect, send

pytestmark = pytest.mark.faults

SEED = 20261205
CASES_PER_OPERATION = 40
MUTATIONS = (
    "valid",
    "wrong_type",
    "drop_required",
    "out_of_range",
    "huge_string",
    "deep_nesting",
    "unknown_member",
    "null_member",
    "not_an_object",
    "raw_garbage",
)
_ARN = "arn:aws:personalize:us-east-1:123456789012:dataset-group/fuzz"


def _string(rng: random.Random, shape: Any) -> str:
    metadata = shape.metadata
    if "enum" in metadata:
        return rng.choice(metadata["enum"])
    pattern = metadata.get("pattern", "")
    if "iam::" in pattern:
        return "arn:aws:iam::123456789012:role/Fuzz"
    if "kms" in pattern:
        return "arn:aws:kms:us-east-1:123456789012:key/fuzz"
    if "personalize" in pattern:
        return rng.choice([_ARN, f"{_ARN}-{rng.randrange(1000)}"])
    if "s3|http" in pattern:
        return "s3://bucket/key.csv"
    if "rate" in pattern:
        return "rate(1 day)"
    low, high = metadata.get("min", 1), min(metadata.get("max", 20), 20)
    first = rng.choice(string.ascii_letters)
    # Letters only: they fit every name-like pattern of the models (some refuse digits, '-' or '_').
    rest = "".join(rng.choices(string.ascii_letters, k=max(0, rng.randint(low, max(low, high)) - 1)))
    return first + rest


def valid_value(rng: random.Random, shape: Any, depth: int = 0) -> Any:
    """A value that fits ``shape``: required members always, optional ones half the time."""
    kind, metadata = shape.type_name, shape.metadata
    if kind == "structure":
        return {
            name: valid_value(rng, member, depth + 1)
            for name, member in shape.members.items()
            if name in shape.required_members or (depth < 3 and rng.random() < 0.5)
        }
    if kind in ("string", "blob"):
        return _string(rng, shape)
    if kind in ("integer", "long"):
        return rng.randint(metadata.get("min", 0), min(metadata.get("max", 1000), 1000))
    if kind in ("float", "double"):
        return round(rng.uniform(metadata.get("min", 0), min(metadata.get("max", 100), 100)), 3)
    if kind == "timestamp":
        return time.time() - rng.randrange(3600)
    if kind == "boolean":
        return rng.random() < 0.5
    if kind == "list":
        size = max(metadata.get("min", 0), min(rng.randint(0, 3), metadata.get("max", 3)))
        return [valid_value(rng, shape.member, depth + 1) for _ in range(size)]
    if kind == "map":
        size = max(metadata.get("min", 0), min(rng.randint(0, 3), metadata.get("max", 3)))
        return {_string(rng, shape.key): valid_value(rng, shape.value, depth + 1) for _ in range(size)}
    raise AssertionError(f"no generator for {kind}")


def _wrong_type(rng: random.Random, shape: Any) -> Any:
    others = {
        "structure": ["x", 1, [1]],
        "string": [1, True, ["x"], {"x": 1}],
        "blob": [1, [1]],
        "integer": ["abc", True, 1.5, [1], 2**40],
        "long": ["abc", False, 2.5, 2**70],
        "float": ["abc", True, [1.0]],
        "double": ["abc", {"x": 1}],
        "timestamp": ["yesterday", True, [1]],
        "boolean": [1, "true", [True]],
        "list": ["abc", {"a": 1}, 1],
        "map": ["abc", [1], 1],
    }
    return rng.choice(others[shape.type_name])


def _out_of_range(rng: random.Random, shape: Any) -> Any:
    metadata = shape.metadata
    if shape.type_name in ("integer", "long", "float", "double"):
        return rng.choice([metadata.get("min", 0) - 1, metadata.get("max", 10**6) + 1, -(2**31)])
    if shape.type_name == "string":
        if "enum" in metadata:
            return "NOT_IN_THE_ENUM"
        return "" if rng.random() < 0.3 else "!" * (metadata.get("max", 300) + 1)
    if shape.type_name == "list":
        return [valid_value(rng, shape.member, 3) for _ in range(metadata.get("max", 30) + 1)]
    return valid_value(rng, shape)


_DEEP = "__deep__"


def mutate(rng: random.Random, shape: Any, body: dict[str, Any], mutation: str) -> bytes:
    """The body broken as ``mutation`` says, as bytes on the wire."""
    members = list(body)
    target = rng.choice(members) if members else None
    member_shape = shape.members[target] if target else None
    if mutation == "wrong_type" and target:
        body[target] = _wrong_type(rng, member_shape)
    elif mutation == "drop_required" and shape.required_members:
        body.pop(rng.choice(shape.required_members), None)
    elif mutation == "out_of_range" and target:
        body[target] = _out_of_range(rng, member_shape)
    elif mutation == "huge_string":
        body[target or "name"] = "h" * rng.choice([10_000, 300_000, 2_000_000])
    elif mutation == "deep_nesting":
        # Spliced into the encoded body: the encoder itself would hit the recursion limit.
        body[target or "name"] = _DEEP
        depth = rng.choice([50, 100, 3_000, 20_000])
        nested = b"[" * depth + b'"bottom"' + b"]" * depth
        return json.dumps(body).encode().replace(json.dumps(_DEEP).encode(), nested)
    elif mutation == "unknown_member":
        body[f"fuzz{rng.randrange(100)}"] = rng.choice([1, "x", [], {}])
    elif mutation == "null_member" and target:
        body[target] = None
    elif mutation == "not_an_object":
        return json.dumps(rng.choice([[body], "body", 7, None, True])).encode()
    elif mutation == "raw_garbage":
        return rng.choice(
            [
                bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200))),
                b'{"a": NaN}',
                b'{"a": 1e99999}',
                b'{"a": ' + b"9" * 6000 + b"}",
                json.dumps(body).encode()[: rng.randrange(1, 40)],
                b"{" * 5000,
            ]
        )
    return json.dumps(body).encode()


def operations(endpoint: LocalEndpoint) -> list[tuple[str, str, str | None]]:
    """(botocore model, operation, control-plane target or None) for every operation the endpoint serves."""
    control = [(request_validation.CONTROL_PLANE, name, name) for name in endpoint.service._operations()]
    return [
        *control,
        (request_validation.RUNTIME, "GetRecommendations", None),
        (request_validation.EVENTS, "PutEvents", None),
        (request_validation.EVENTS, "PutItems", None),
        (request_validation.EVENTS, "PutUsers", None),
    ]


PATHS = {"GetRecommendations": "/recommendations", "PutEvents": "/events", "PutItems": "/items", "PutUsers": "/users"}


def test_no_generated_request_gets_a_server_error(tmp_path):
    rng = random.Random(SEED)
    started = time.monotonic()
    with LocalEndpoint(EndpointSettings(data_dir=tmp_path, status_delay=0.01)) as endpoint:
        served = operations(endpoint)
        assert len(served) >= 50
        failures: list[str] = []
        statuses: dict[int, int] = {}
        conn = connect(endpoint.url)
        for model, operation, target in served:
            shape = request_validation.operation_model(model, operation).input_shape
            for case in range(CASES_PER_OPERATION):
                mutation = MUTATIONS[case % len(MUTATIONS)]
                raw = mutate(rng, shape, valid_value(rng, shape), mutation)
                try:
                    answer = send(endpoint.url, PATHS.get(operation, "/"), raw, target=target, connection=conn)
                except OSError:  # the server closed a connection it refused (413): open another
                    conn.close()
                    conn = connect(endpoint.url)
                    answer = send(endpoint.url, PATHS.get(operation, "/"), raw, target=target, connection=conn)
                statuses[answer.status] = statuses.get(answer.status, 0) + 1
                if answer.status >= 500 or (answer.status >= 400 and not answer.code):
                    failures.append(f"{operation} {mutation}: {answer.status} {answer.raw[:200]!r} for {raw[:200]!r}")
                if answer.headers.get("connection") == "close":
                    conn.close()
                    conn = connect(endpoint.url)
        conn.close()
        assert_still_serving(endpoint.url)
    assert not failures, "\n".join(failures[:20])
    print(f"{len(served)} operations x {CASES_PER_OPERATION} cases: statuses {sorted(statuses.items())}")
    # The generator reaches the operations, not only the validation: some calls succeed, some are refused.
    assert statuses.get(200, 0) > len(served)
    assert sum(count for status, count in statuses.items() if 400 <= status < 500) > len(served) * 10
    assert time.monotonic() - started < 60
