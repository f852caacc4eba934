"""What batch inference and batch segment jobs read and write: JSON lines in, JSON lines out, as the service's.

Input files hold one JSON object a line (blank lines are skipped): ``{"userId": "4638"}`` for a batch inference job,
``{"itemId": "105"}`` for a batch segment job, each with an optional ``filterValues`` object (placeholder name →
comma-separated quoted values, e.g. ``{"CUP_SIZE": "\\"B\\",\\"C\\""}``) when the job has a filter.

Each input file ``<name>`` gives one output file ``<name>.out`` under the output path, one line per input line in
the same order, written as the developer guide's examples show them byte for byte:

- batch inference (compact JSON): ``{"input":{"userId":"4638"},"output":{"recommendedItems":["63992",...],
  "scores":[0.0152238,...]},"error":null}``;
- batch segment (Item-Affinity; JSON with spaces, no ``error`` member):
  ``{"input": {"itemId": "105"}, "output": {"recommendedUsers": ["106", "107", "49"]}}``.

A line that cannot be used (not JSON, not an object, no id, an id longer than 256 characters, filterValues that are
not strings) does not fail the job: its output line echoes the input (the object, or the line's text when it is not
one) with ``"output": null`` and the reason in ``error``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

MAX_ID_LENGTH = 256
#: numResults of a batch inference job: 25 unless given, at most 500 (as GetRecommendations).
INFERENCE_DEFAULT_NUM_RESULTS = 25
INFERENCE_MAX_NUM_RESULTS = 500
#: numResults of a batch segment job: users per segment, at most 5 million (the API reference).
SEGMENT_DEFAULT_NUM_RESULTS = 25
SEGMENT_MAX_NUM_RESULTS = 5_000_000
#: An Item-Affinity batch segment job's input holds at most 500 items (the recipe's page).
MAX_SEGMENT_ITEMS = 500
#: The most input a local job reads, in all of its files.
MAX_INPUT_BYTES = 1024 * 1024 * 1024
USER_ID = "userId"
ITEM_ID = "itemId"


class BatchLineError(ValueError):
    """An input line the job cannot use; the message is the ``error`` its output line carries."""


@dataclass(frozen=True)
class BatchLine:
    """One non-blank input line: what it parsed to, or why it cannot be used."""

    number: int  # in its file, from 1
    input: Any  # the parsed object, echoed as "input"; the line's text when it is not a JSON object
    key: str | None  # the userId or itemId
    filter_values: dict[str, str] | None
    error: str | None


def parse_line(text: str, id_field: str) -> tuple[dict[str, Any], str, dict[str, str] | None]:
    """(the object, its ``id_field``, its filterValues) of one input line; BatchLineError if unusable."""
    try:
        record = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BatchLineError(f"malformed JSON: {exc.msg} (column {exc.colno})") from None
    if not isinstance(record, dict):
        raise BatchLineError(f'each line must be a JSON object like {{"{id_field}": "..."}}')
    return record, *_members(record, id_field)


def _members(record: dict[str, Any], id_field: str) -> tuple[str, dict[str, str] | None]:
    key = record.get(id_field)
    if not isinstance(key, str) or not key:
        raise BatchLineError(f"{id_field} is required (a non-empty string)")
    if len(key) > MAX_ID_LENGTH:
        raise BatchLineError(f"{id_field} is longer than {MAX_ID_LENGTH} characters")
    filter_values = record.get("filterValues")
    if filter_values is not None and (
        not isinstance(filter_values, dict)
        or not all(isinstance(k, str) and isinstance(v, str) for k, v in filter_values.items())
    ):
        raise BatchLineError('filterValues must map placeholder names to strings like "\\"B\\",\\"C\\""')
    return key, filter_values


def read_lines(text: str, id_field: str) -> list[BatchLine]:
    """Every non-blank line of an input file, in order, each parsed or with its error."""
    lines = []
    for number, raw in enumerate(text.lstrip("\ufeff").splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            record, key, filter_values = parse_line(raw, id_field)
        except BatchLineError as exc:
            echoed: Any = raw
            try:
                parsed = json.loads(raw)
                if isinstance(parsed, dict):
                    echoed = parsed
            except json.JSONDecodeError:
                pass
            lines.append(BatchLine(number, echoed, None, None, f"line {number}: {exc}"))
            continue
        lines.append(BatchLine(number, record, key, filter_values, None))
    return lines


def inference_output(line_input: Any, recommended: list[tuple[str, float]] | None, error: str | None) -> str:
    """One output line of a batch inference job (compact, as the service writes it)."""
    output = None
    if error is None:
        output = {
            "recommendedItems": [item for item, _ in recommended or []],
            "scores": [score for _, score in recommended or []],
        }
    return json.dumps(
        {"input": line_input, "output": output, "error": error}, separators=(",", ":"), ensure_ascii=False
    )


def segment_output(line_input: Any, users: list[str] | None, error: str | None) -> str:
    """One output line of a batch segment job (with spaces, as the service writes it; ``error`` only on failure)."""
    if error is None:
        return json.dumps({"input": line_input, "output": {"recommendedUsers": list(users or [])}}, ensure_ascii=False)
    return json.dumps({"input": line_input, "output": None, "error": error}, ensure_ascii=False)


def output_uri(destination: str, source_uri: str) -> str:
    """``<output path>/<input file name>.out``: where the output of one input file goes."""
    name = source_uri.rstrip("/").rsplit("/", 1)[-1]
    return f"{destination}{'' if destination.endswith('/') else '/'}{name}.out"
