"""Request bodies checked the way the service checks them, before any operation runs.

The three Personalize APIs are described by botocore's service models (``personalize``, ``personalize-runtime``,
``personalize-events``): every operation's input shape gives its members' types, which are required, their length
and value bounds, enums and patterns. AWS answers a body that breaks them before it looks at any resource, so the
endpoint does too, from the same models the clients are generated from:

- :func:`load_body` decodes a body as JSON with a nesting limit (a deep array must be refused, not crash the
  parser with RecursionError), refusing NaN and Infinity, numbers that do not fit, and anything but an object:
  ``SerializationException``, as for any body the service's JSON reader cannot read.
- :func:`validate` checks the decoded body against the operation's input shape. A member of the wrong JSON type
  (a list where a string goes, a string or a boolean where a number goes) or a member the shape does not have is a
  ``SerializationException``, as the AWS JSON protocols answer; broken constraints are one ``ValidationException``
  listing them in the service's words ("1 validation error detected: Value '0' at 'maxResults' failed to satisfy
  constraint: Member must have value greater than or equal to 1"). Then it refuses a member the local endpoint
  does not support (:func:`personalize_local.support.refuse_unsupported`): InvalidInputException saying so.

Quoted values are cut short and sensitive members (user and item IDs, event properties) are not quoted at all.
"""

from __future__ import annotations

import json
import math
import re
from functools import cache
from typing import TYPE_CHECKING, Any

from personalize_local import errors, support

if TYPE_CHECKING:
    from botocore.model import OperationModel, Shape

#: Deepest JSON nesting a body may have. The models' deepest input (a PutEvents event's metricAttribution) is
#: 4 levels; 64 leaves room for anything the service takes and stays far below Python's recursion limit.
MAX_JSON_DEPTH = 64
#: Constraint violations listed in one ValidationException; more are counted, not listed.
MAX_LISTED_VIOLATIONS = 10
#: The botocore model of each wire protocol the endpoint serves.
CONTROL_PLANE = "personalize"
RUNTIME = "personalize-runtime"
EVENTS = "personalize-events"

_A_KIND = {"integer": "a 32-bit integer", "long": "a 64-bit integer"}
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_OPENERS_TO_BRACKET = bytes.maketrans(b"{}", b"[]")
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
#: Java's ``\p{ASCII}`` in the models' patterns; Python's ``re`` has no ``\p`` classes.
_JAVA_CLASSES = {r"\p{ASCII}": r"[\x00-\x7F]"}


# ---- decoding ---------------------------------------------------------------------------------------------------


def nesting_depth_exceeds(raw: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether the JSON text nests arrays and objects more than ``limit`` deep (brackets in strings not counted).

    Checked before decoding because the decoder recurses once per level. The work stays in C: strings are cut
    out, everything but brackets is dropped, then innermost bracket pairs are removed ``limit`` times; whatever is
    left was nested deeper (or is unbalanced, which the decoder refuses anyway).
    """
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False
    brackets = _JSON_STRING.sub(b"", raw).translate(_OPENERS_TO_BRACKET, _NOT_BRACKETS)
    if b"[" * (limit + 1) in brackets:  # the usual hostile shape, found in one pass
        return True
    for _ in range(limit):
        shorter = brackets.replace(b"[]", b"")
        if not shorter or shorter == brackets:
            return False
        brackets = shorter
    return True


def _refuse_constant(token: str) -> Any:
    raise errors.SerializationError(f"{token} is not a valid JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise errors.SerializationError(f"Number {errors.shorten(text, 40)} is out of range")
    return value


def load_body(raw: bytes) -> dict[str, Any]:
    """The request body as a JSON object (an empty body is ``{}``); SerializationException for anything else."""
    if not raw.strip():
        return {}
    if nesting_depth_exceeds(raw):
        raise errors.SerializationError(f"The request body nests JSON deeper than {MAX_JSON_DEPTH} levels")
    try:
        body = json.loads(raw, parse_constant=_refuse_constant, parse_float=_finite_float)
    except json.JSONDecodeError as exc:
        message = f"The request body is not valid JSON: {exc.msg} at position {exc.pos}"
        raise errors.SerializationError(message) from None
    except RecursionError:  # pragma: no cover - the depth check comes first; kept as a last guard
        raise errors.SerializationError("The request body nests JSON too deeply") from None
    except ValueError as exc:  # bad UTF-8, an integer of thousands of digits
        raise errors.SerializationError(f"The request body cannot be read: {errors.shorten(str(exc))}") from None
    if not isinstance(body, dict):
        raise errors.SerializationError(f"The request body must be a JSON object, not a JSON {_json_type(body)}")
    return body


# ---- the models -------------------------------------------------------------------------------------------------


@cache
def _service_model(service_name: str) -> Any:
    import botocore.session

    return botocore.session.get_session().get_service_model(service_name)


@cache
def operation_model(service_name: str, operation: str) -> OperationModel | None:
    """The operation's botocore model; None for an operation the service does not have."""
    model = _service_model(service_name)
    if operation not in model.operation_names:
        return None
    return model.operation_model(operation)


@cache
def _pattern(source: str) -> re.Pattern[str] | None:
    """The model's (Java) pattern for Python's ``re``; None when it uses a construct ``re`` lacks (then unchecked)."""
    for java, python in _JAVA_CLASSES.items():
        source = source.replace(java, python)
    try:
        return re.compile(source)
    except re.error:
        return None  # e.g. tag keys' \p{L}\p{Z}\p{N}: the endpoint does not keep tags anyway


# ---- checking a body against a shape ----------------------------------------------------------------------------


def validate(service_name: str, operation: str, body: dict[str, Any]) -> None:
    """Refuse ``body`` unless it fits the operation's input shape and sets only members the endpoint supports.

    An unknown operation is left to the router.
    """
    model = operation_model(service_name, operation)
    if model is None or model.input_shape is None:
        return
    violations: list[str] = []
    _check_structure(model.input_shape, body, "", violations)
    if violations:
        count = len(violations)
        listed = "; ".join(violations[:MAX_LISTED_VIOLATIONS])
        more = f"; and {count - MAX_LISTED_VIOLATIONS} more" if count > MAX_LISTED_VIOLATIONS else ""
        plural = "error" if count == 1 else "errors"
        raise errors.ValidationError(f"{count} validation {plural} detected: {listed}{more}")
    # A body the model takes may still set a member the local endpoint does not honour: refused, never ignored.
    support.refuse_unsupported(operation, body)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _wrong_type(path: str, expected: str, value: Any) -> errors.SerializationError:
    return errors.SerializationError(f"Cannot read '{path}': expected {expected}, got a JSON {_json_type(value)}")


def _show(shape: Shape, value: Any) -> str:
    if shape.metadata.get("sensitive"):
        return ""  # the service does not quote sensitive members either
    if isinstance(value, str):
        return f" '{errors.shorten(value)}'"
    if isinstance(value, list | dict):
        return ""
    return f" '{value}'"


def _check_structure(shape: Shape, value: Any, path: str, violations: list[str]) -> None:
    if not isinstance(value, dict):
        raise _wrong_type(path or "the request body", "a JSON object", value)
    members = shape.members
    unknown = sorted(key for key in value if key not in members)
    if unknown:
        where = f" in '{path}'" if path else ""
        names = ", ".join(repr(errors.shorten(str(name), 64)) for name in unknown[:5])
        raise errors.SerializationError(f"Unknown member{'s' if len(unknown) > 1 else ''} {names}{where}")
    for name in shape.required_members:
        if value.get(name) is None:
            violations.append(f"Value null at '{path + name}' failed to satisfy constraint: Member must not be null")
    for name, member in value.items():
        if member is not None:  # JSON null is an absent member, as the service reads it
            _check(members[name], member, f"{path}{name}", violations)


def _check(shape: Shape, value: Any, path: str, violations: list[str]) -> None:
    kind = shape.type_name
    metadata = shape.metadata

    def violated(constraint: str) -> None:
        violations.append(f"Value{_show(shape, value)} at '{path}' failed to satisfy constraint: {constraint}")

    if kind == "structure":
        _check_structure(shape, value, f"{path}.", violations)
        return
    if kind in ("string", "blob"):
        if not isinstance(value, str):
            raise _wrong_type(path, "a string", value)
        _check_size(len(value), metadata, "length", violated)
        if "enum" in metadata and value not in metadata["enum"]:
            violated(f"Member must satisfy enum value set: [{', '.join(metadata['enum'])}]")
        pattern = _pattern(metadata["pattern"]) if "pattern" in metadata else None
        if pattern is not None and not pattern.fullmatch(value):
            violated(f"Member must satisfy regular expression pattern: {metadata['pattern']}")
    elif kind in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise _wrong_type(path, "an integer", value)
        bits = 31 if kind == "integer" else 63  # the service reads Java ints and longs
        if not -(2**bits) <= value < 2**bits:
            raise errors.SerializationError(f"Cannot read '{path}': the number does not fit {_A_KIND[kind]}")
        _check_size(value, metadata, "value", violated)
    elif kind in ("float", "double", "timestamp"):
        # Timestamps travel as epoch seconds in both JSON protocols; NaN and Infinity never get past load_body.
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _wrong_type(path, "a number", value)
        if isinstance(value, int) and abs(value) >= 2**1023:
            raise errors.SerializationError(f"Cannot read '{path}': the number is out of range")
        if kind != "timestamp":
            _check_size(value, metadata, "value", violated)
    elif kind == "boolean":
        if not isinstance(value, bool):
            raise _wrong_type(path, "true or false", value)
    elif kind == "list":
        if not isinstance(value, list):
            raise _wrong_type(path, "a JSON array", value)
        _check_size(len(value), metadata, "length", violated)
        for position, element in enumerate(value):
            if element is None:
                raise _wrong_type(f"{path}[{position}]", "a value", element)
            _check(shape.member, element, f"{path}[{position}]", violations)
    elif kind == "map":
        if not isinstance(value, dict):
            raise _wrong_type(path, "a JSON object", value)
        _check_size(len(value), metadata, "length", violated)
        for key, element in value.items():
            _check(shape.key, key, f"{path}.{errors.shorten(key, 64)}(key)", violations)
            if element is None:
                raise _wrong_type(f"{path}.{errors.shorten(key, 64)}", "a value", element)
            _check(shape.value, element, f"{path}.{errors.shorten(key, 64)}", violations)


def _check_size(size: float, metadata: dict[str, Any], what: str, violated: Any) -> None:
    if "min" in metadata and size < metadata["min"]:
        violated(f"Member must have {what} greater than or equal to {metadata['min']}")
    if "max" in metadata and size > metadata["max"]:
        violated(f"Member must have {what} less than or equal to {metadata['max']}")
