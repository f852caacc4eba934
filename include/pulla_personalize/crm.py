"""What the CRM batch jobs read and what the marketing team gets back: the Airflow-free half of the CRM DAGs.

Three Personalize batch jobs serve the marketing team, and each reads and writes JSON lines:

- the weekly picks: a batch inference job over the active members, with the size filter's values taken from each
  member's Users row (``picks_input``); its output becomes one CSV row per recommended item (``picks_rows``);
- the evaluation sample the deploy gate scores a new solution version on: a fixed, hash-ordered sample of members
  (``evaluation_sample``), sent without filter values so the gate measures the model alone;
- the launch audience of a product line: an Item-Affinity batch segment job over the line's items
  (``select_segment_items``), whose per-item member lists become one ranked audience (``audience_rows``).

A member the job cannot serve (no size on record, withdrawn) is left out before the job and reported with a
reason; a line the service could not serve is reported the same way. A line that is not in the service's format
raises ``BatchOutputError`` naming the file and the line: that is a bug or a truncated file, not a member to skip.
Nothing here touches S3 or Personalize.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pandas as pd

#: Personalize's limit on the items of one Item-Affinity batch segment job.
SEGMENT_MAX_ITEMS = 500
#: How many unknown item ids an error lists before it only counts them.
UNKNOWN_IDS_SHOWN = 10
WITHDRAWN_REASON = "not in the Users dataset (withdrawn or test member)"
PICKS_COLUMNS = ("member_id", "rank", "item_id", "score")
AUDIENCE_COLUMNS = ("member_id", "rank", "best_item_id", "items_listing_her")


class BatchOutputError(ValueError):
    """A batch job's output line is not in the service's format; the message names the file and the line."""


class SegmentSelectionError(ValueError):
    """The items asked for do not make one Item-Affinity job; the message says what to change."""


class DatasetError(ValueError):
    """A dataset frame is not what the export writes (a column missing, an id twice, a time that is not epoch
    seconds); the message names the dataset, and the line or the column."""


@dataclass(frozen=True)
class BatchInput:
    """The JSON lines a batch job reads, and the members left out before the job with the reason why."""

    lines: list[str]
    unserved: list[dict[str, str]] = field(default_factory=list)

    def body(self) -> bytes:
        """The input file: UTF-8, one JSON object a line, each line ended by ``\\n``."""
        return "".join(f"{line}\n" for line in self.lines).encode("utf-8")


@dataclass(frozen=True)
class InferenceOutput:
    """A batch inference output: member → ranked (item, score), and the members the service could not serve."""

    recommendations: dict[str, list[tuple[str, float]]]
    unserved: list[dict[str, str]]


@dataclass(frozen=True)
class SegmentOutput:
    """A batch segment output: item → its members, best first, and the items the service could not serve."""

    users_by_item: dict[str, list[str]]
    failed_items: list[dict[str, str]]


def require_columns(frame: pd.DataFrame, dataset: str, columns: Iterable[str]) -> None:
    """A dataset frame without one of ``columns`` is a DatasetError naming the dataset and what it has."""
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise DatasetError(f"{dataset}: no {', '.join(missing)} column (has {', '.join(map(str, frame.columns))})")


def _text(series: pd.Series) -> pd.Series:
    """Cells as stripped text, a missing cell as "" (frames may come from ``dtype=str`` CSVs or be built by hand)."""
    return series.astype("string").fillna("").str.strip()


def _epoch_seconds(values: pd.Series, dataset: str, column: str) -> pd.Series:
    """Epoch seconds as floats, empty as NaN; anything else is an error naming the line (the header is line 1)."""
    text = _text(values)
    numbers = pd.to_numeric(text.where(text != ""), errors="coerce")
    bad = numbers.isna() & (text != "")
    if bad.any():
        position = int(bad.to_numpy().argmax())
        raise DatasetError(f"{dataset}: line {position + 2}: {column} {text.iloc[position]!r} is not epoch seconds")
    return numbers.astype("float64")


def active_member_ids(interactions: pd.DataFrame, *, since_epoch: int) -> set[str]:
    """The members with any interaction at or after ``since_epoch`` (epoch seconds)."""
    require_columns(interactions, "interactions", ("USER_ID", "TIMESTAMP"))
    members = _text(interactions["USER_ID"])
    timestamps = _epoch_seconds(interactions["TIMESTAMP"], "interactions", "TIMESTAMP")
    return set(members[(timestamps >= since_epoch) & (members != "")])


def _filter_value(value: str) -> str | None:
    """The ``filterValues`` text of a Users cell: each value double-quoted, comma-separated (a ``|``-joined
    multi-value becomes several values). None when a value holds a double quote or a comma, which the service's
    comma-separated, quoted list cannot carry unambiguously."""
    values = [part.strip() for part in value.split("|") if part.strip()]
    if any('"' in part or "," in part for part in values):
        return None
    return ",".join(f'"{part}"' for part in values)


def picks_input(
    users: pd.DataFrame, member_ids: Iterable[str], *, filter_placeholders: Mapping[str, str] | None
) -> BatchInput:
    """The batch inference input of the picks job: one line per member, sorted by id.

    ``filter_placeholders`` maps each placeholder of the job's filter to the Users column holding its value
    (``{"CUP_SIZE": "CUP_SIZE", "BAND_SIZE": "BAND_SIZE"}``); None when the job has no filter. A member missing
    from ``users`` or without a value the filter needs is left out and reported in ``unserved``: the service would
    fail her line or, worse, filter with an empty value.
    """
    placeholders = dict(filter_placeholders or {})
    require_columns(users, "users", ("USER_ID", *placeholders.values()))
    ids = _text(users["USER_ID"])
    duplicated = ids[ids.duplicated() & (ids != "")]
    if not duplicated.empty:
        raise DatasetError(f"users: USER_ID {duplicated.iloc[0]!r} appears more than once")
    columns = {column: dict(zip(ids, _text(users[column]), strict=True)) for column in set(placeholders.values())}
    known = set(ids)

    lines: list[str] = []
    unserved: list[dict[str, str]] = []
    for member_id in sorted({str(member).strip() for member in member_ids} - {""}):
        if member_id not in known:
            unserved.append({"member_id": member_id, "reason": WITHDRAWN_REASON})
            continue
        # A cell of only separators ("|") is as empty as a blank one.
        missing = [column for column in placeholders.values() if not columns[column][member_id].replace("|", "")]
        if missing:
            fields = " and ".join(dict.fromkeys(missing))
            unserved.append({"member_id": member_id, "reason": f"no {fields} on record: the job's filter needs it"})
            continue
        filter_values: dict[str, str] = {}
        for placeholder, column in placeholders.items():
            value = _filter_value(columns[column][member_id])
            if value is None:
                unserved.append(
                    {
                        "member_id": member_id,
                        "reason": f"{column} {columns[column][member_id]!r} holds a double quote or a comma, "
                        "which a filter value cannot carry",
                    }
                )
                break
            filter_values[placeholder] = value
        else:
            line: dict[str, Any] = {"userId": member_id}
            if filter_values:
                line["filterValues"] = filter_values
            lines.append(json.dumps(line, ensure_ascii=False))
    return BatchInput(lines, unserved)


def _sample_key(salt: str, member_id: str) -> str:
    return hashlib.sha256(f"{salt}:{member_id}".encode()).hexdigest()


def evaluation_sample(interactions: pd.DataFrame, size: int, *, salt: str = "pulla-evaluation") -> list[str]:
    """``size`` members with at least one interaction, the same ones for the same data (sorted by id).

    Members are ordered by the SHA-256 of ``salt:member id`` and the first ``size`` are taken: the order of a member
    never depends on the others, so a new member changes the sample by at most one (she enters and pushes the last
    one out), and the gate compares versions on nearly the same members from day to day.
    """
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"evaluation sample size must be a whole number of at least 1, got {size!r}")
    require_columns(interactions, "interactions", ("USER_ID",))
    members = set(_text(interactions["USER_ID"])) - {""}
    return sorted(sorted(members, key=lambda member: _sample_key(salt, member))[:size])


def evaluation_input(member_ids: Iterable[str]) -> BatchInput:
    """The batch inference input of the gate's evaluation: no filter values, so it measures the model alone."""
    members = sorted({str(member).strip() for member in member_ids} - {""})
    return BatchInput([json.dumps({"userId": member}, ensure_ascii=False) for member in members])


def _output_lines(text: str, source: str) -> Iterable[tuple[int, dict[str, Any]]]:
    """(line number, object) for each non-blank line that has the batch output shape: input, and either a
    non-null output with a null or absent error, or a null output with an error."""
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except ValueError as error:
            raise BatchOutputError(f"{source}: line {number}: not JSON ({error})") from None
        if not isinstance(record, dict) or "input" not in record or ("output" not in record and "error" not in record):
            raise BatchOutputError(f"{source}: line {number}: not a batch output object with input and output")
        output, error = record.get("output"), record.get("error")
        if (output is None) == (error is None):
            raise BatchOutputError(f"{source}: line {number}: needs either an output or an error, not both or neither")
        if output is not None and not isinstance(output, dict):
            raise BatchOutputError(f"{source}: line {number}: output is not an object")
        yield number, record


def _input_id(record: Mapping[str, Any], key: str) -> str:
    """The id the line was for, "" when its input was not an object with that id (the service echoes bad lines)."""
    given = record.get("input")
    value = given.get(key) if isinstance(given, dict) else None
    return value if isinstance(value, str) else ""


def _served_id(record: Mapping[str, Any], key: str, seen: dict[str, int], number: int, source: str) -> str:
    identifier = _input_id(record, key)
    if not identifier:
        raise BatchOutputError(f"{source}: line {number}: an output without an input {key}")
    if identifier in seen:
        raise BatchOutputError(
            f"{source}: line {number}: {key} {identifier!r} again (first on line {seen[identifier]})"
        )
    seen[identifier] = number
    return identifier


def _string_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def read_inference_output(text: str, *, source: str) -> InferenceOutput:
    """The batch inference output file ``<input>.out`` (``source``, its URI, names it in errors)."""
    recommendations: dict[str, list[tuple[str, float]]] = {}
    unserved: list[dict[str, str]] = []
    seen: dict[str, int] = {}
    for number, record in _output_lines(text, source):
        output = record.get("output")
        if output is None:
            unserved.append({"member_id": _input_id(record, "userId"), "reason": str(record["error"])})
            continue
        member_id = _served_id(record, "userId", seen, number, source)
        items, scores = output.get("recommendedItems"), output.get("scores")
        if not _string_list(items):
            raise BatchOutputError(f"{source}: line {number}: recommendedItems is not a list of item ids")
        valid_scores = (
            isinstance(scores, list)
            and len(scores) == len(items)
            and all(isinstance(s, int | float) and not isinstance(s, bool) and math.isfinite(s) for s in scores)
        )
        if not valid_scores:
            raise BatchOutputError(f"{source}: line {number}: scores is not one number per recommended item")
        recommendations[member_id] = [(item, float(score)) for item, score in zip(items, scores, strict=True)]
    return InferenceOutput(recommendations, unserved)


def picks_rows(output: InferenceOutput) -> list[dict[str, Any]]:
    """One row per recommended item (member_id, rank from 1, item_id, score), by member then rank."""
    return [
        {"member_id": member_id, "rank": rank, "item_id": item_id, "score": score}
        for member_id in sorted(output.recommendations)
        for rank, (item_id, score) in enumerate(output.recommendations[member_id], start=1)
    ]


def csv_bytes(rows: Iterable[Mapping[str, Any]], columns: Sequence[str]) -> bytes:
    """A UTF-8 CSV with a header of ``columns`` and ``\\n`` line ends (a key outside ``columns`` is an error)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


def select_segment_items(
    items: pd.DataFrame,
    *,
    item_ids: Sequence[str] = (),
    cup_type: str | None = None,
    wire: str | None = None,
    registered_from: date | None = None,
    registered_to: date | None = None,
    time_zone: str = "Asia/Seoul",
) -> list[str]:
    """The items of a launch audience job (sorted, unique): either ``item_ids`` as given, or a product line.

    A product line is every item matching all the criteria given: CUP_TYPE and WIRE equal (ignoring case and
    surrounding spaces), registered (CREATION_TIMESTAMP's local date in ``time_zone``) from ``registered_from`` to
    ``registered_to``, both included. An empty selection or one above Personalize's 500 items is an error that says
    what matched, so the marketing team can correct the request instead of receiving an empty audience.
    """
    require_columns(items, "items", ("ITEM_ID",))
    catalogue = _text(items["ITEM_ID"])
    has_criteria = any(value is not None for value in (cup_type, wire, registered_from, registered_to))
    if isinstance(item_ids, str):
        raise SegmentSelectionError("item_ids must be a list of item ids, not one string")
    if item_ids and has_criteria:
        raise SegmentSelectionError("give either item_ids or product-line criteria (cup_type, wire, registered_*)")
    if item_ids:
        selected = sorted({str(item).strip() for item in item_ids})
        known = set(catalogue) - {""}
        unknown = [item for item in selected if item not in known]
        if unknown:
            shown = ", ".join(repr(item) for item in unknown[:UNKNOWN_IDS_SHOWN])
            more = f" and {len(unknown) - UNKNOWN_IDS_SHOWN} more" if len(unknown) > UNKNOWN_IDS_SHOWN else ""
            raise SegmentSelectionError(f"{len(unknown)} item id(s) not in the Items dataset: {shown}{more}")
    elif has_criteria:
        selected = _product_line(items, catalogue, cup_type, wire, registered_from, registered_to, time_zone)
    else:
        raise SegmentSelectionError("name the items: item_ids, or at least one of cup_type, wire, registered_from/to")
    if len(selected) > SEGMENT_MAX_ITEMS:
        raise SegmentSelectionError(
            f"{len(selected)} items selected: an Item-Affinity job takes at most {SEGMENT_MAX_ITEMS} items; "
            "narrow the criteria or split the line"
        )
    return selected


def _product_line(
    items: pd.DataFrame,
    catalogue: pd.Series,
    cup_type: str | None,
    wire: str | None,
    registered_from: date | None,
    registered_to: date | None,
    time_zone: str,
) -> list[str]:
    """The items matching every criterion given; when none does, an error saying what each criterion matched."""
    matches: dict[str, pd.Series] = {}  # criterion as written in the error → its own mask
    existing: dict[str, str] = {}  # criterion → the values that exist, for the error
    for column, wanted in (("CUP_TYPE", cup_type), ("WIRE", wire)):
        if wanted is None:
            continue
        require_columns(items, "items", (column,))
        values = _text(items[column])
        matches[f"{column.lower()}={wanted!r}"] = values.str.casefold() == wanted.strip().casefold()
        existing[f"{column.lower()}={wanted!r}"] = ", ".join(sorted(set(values) - {""})) or "none"
    if registered_from is not None or registered_to is not None:
        if registered_from is not None and registered_to is not None and registered_from > registered_to:
            raise SegmentSelectionError(f"registered_from {registered_from} is after registered_to {registered_to}")
        require_columns(items, "items", ("CREATION_TIMESTAMP",))
        try:
            zone = ZoneInfo(time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise SegmentSelectionError(f"unknown time zone {time_zone!r}") from None
        seconds = _epoch_seconds(items["CREATION_TIMESTAMP"], "items", "CREATION_TIMESTAMP")
        local_dates = pd.to_datetime(seconds, unit="s", utc=True).dt.tz_convert(zone).dt.date
        known = local_dates.notna()
        mask = known.copy()
        if registered_from is not None:
            mask &= local_dates.where(known, registered_from) >= registered_from
        if registered_to is not None:
            mask &= local_dates.where(known, registered_to) <= registered_to
        label = f"registered {registered_from or '…'}..{registered_to or '…'}"
        matches[label] = mask
        dates = local_dates[known]
        existing[label] = f"items were registered {dates.min()}..{dates.max()}" if not dates.empty else "no dates"
    combined = pd.Series(True, index=items.index)
    for mask in matches.values():
        combined &= mask
    combined &= catalogue != ""
    selected = sorted(set(catalogue[combined]))
    if selected:
        return selected
    empty = [label for label, mask in matches.items() if not (mask & (catalogue != "")).any()]
    if empty:
        details = "; ".join(f"{label} matched nothing (existing: {existing[label]})" for label in empty)
    else:
        counts = ", ".join(f"{label} matches {int(mask.sum())}" for label, mask in matches.items())
        details = f"each criterion matches items but no item matches all of them ({counts})"
    raise SegmentSelectionError(f"no item selected: {details}")


def segment_input(item_ids: Iterable[str]) -> BatchInput:
    """The batch segment input: one ``{"itemId": ...}`` line per item, sorted, at most 500."""
    items = sorted({str(item).strip() for item in item_ids} - {""})
    if not items:
        raise SegmentSelectionError("a batch segment job needs at least one item")
    if len(items) > SEGMENT_MAX_ITEMS:
        raise SegmentSelectionError(f"{len(items)} items: an Item-Affinity job takes at most {SEGMENT_MAX_ITEMS}")
    return BatchInput([json.dumps({"itemId": item}, ensure_ascii=False) for item in items])


def read_segment_output(text: str, *, source: str) -> SegmentOutput:
    """The batch segment output file (``source``, its URI, names it in errors)."""
    users_by_item: dict[str, list[str]] = {}
    failed_items: list[dict[str, str]] = []
    seen: dict[str, int] = {}
    for number, record in _output_lines(text, source):
        output = record.get("output")
        if output is None:
            failed_items.append({"item_id": _input_id(record, "itemId"), "reason": str(record["error"])})
            continue
        item_id = _served_id(record, "itemId", seen, number, source)
        users = output.get("recommendedUsers")
        if not _string_list(users):
            raise BatchOutputError(f"{source}: line {number}: recommendedUsers is not a list of member ids")
        users_by_item[item_id] = list(users)
    return SegmentOutput(users_by_item, failed_items)


def audience_rows(output: SegmentOutput, *, size: int) -> list[dict[str, Any]]:
    """The launch audience of the whole line: the ``size`` members ranked best across its items.

    A member's place is her best (lowest) rank in any item's list; ties go to the member more items list, then to
    the lower member id, so the same output always gives the same audience. ``best_item_id`` is the item where she
    ranks best (the lower item id on a tie).
    """
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"audience size must be a whole number of at least 1, got {size!r}")
    best: dict[str, tuple[int, str]] = {}  # member → (best rank, its item)
    listing: dict[str, int] = {}  # member → how many items list her
    for item_id in sorted(output.users_by_item):
        for rank, member_id in enumerate(dict.fromkeys(output.users_by_item[item_id]), start=1):
            listing[member_id] = listing.get(member_id, 0) + 1
            if member_id not in best or rank < best[member_id][0]:
                best[member_id] = (rank, item_id)
    ordered = sorted(best, key=lambda member: (best[member][0], -listing[member], member))[:size]
    return [
        {"member_id": member, "rank": place, "best_item_id": best[member][1], "items_listing_her": listing[member]}
        for place, member in enumerate(ordered, start=1)
    ]
