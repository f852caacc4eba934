"""``pulla-personalize validate DIR``: the export's schema checks and suites, run on CSVs that already exist.

Useful before an upload of hand-edited or older files. It checks that each of interactions.csv, users.csv and
items.csv is UTF-8, parses as CSV, has exactly the schema's header and values of the schema's types, then runs the
same Great Expectations suites as the export (row rules, uniqueness, the 1,000-interaction and 25-user minimums,
event-type and metadata limits) and the schema linter. The TIMESTAMP range is the window in DIR/report.json when
there is one, else --start/--end, else from the earliest allowed timestamp to tomorrow.

Exit codes: 0 all blocking checks pass, 1 one fails, 2 bad usage (no such folder, bad dates).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

EXIT_USAGE = 2

EXIT_CODES = """exit codes:
  0  every blocking check passes
  1  a blocking check fails (the summary names it)
  2  bad usage: no such folder, bad or swapped dates, an unknown time zone"""


def configure_parser(parser: argparse.ArgumentParser) -> None:
    from pulla_personalize.export_cli import default_time_zone_help

    parser.add_argument(
        "folder", type=Path, metavar="DIR", help="folder holding interactions.csv, users.csv, items.csv"
    )
    parser.add_argument("--start", help="window start (ISO 8601) for the TIMESTAMP range, if DIR has no report.json")
    parser.add_argument("--end", help="window end (ISO 8601, excluded)")
    parser.add_argument(
        "--source-time-zone",
        default=None,
        help=f"zone of --start and --end without an offset ({default_time_zone_help()})",
    )
    parser.add_argument("--data-docs", type=Path, help="also write Great Expectations Data Docs into this folder")


def _usage_error(message: str) -> int:
    print(f"pulla-personalize validate: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def _fail(dataset: str, check: str, details: str, examples: list[Any] | None = None) -> Any:
    from pulla_personalize.quality import Outcome

    return Outcome(dataset, check, None, True, success=False, examples=examples or [], details=details)


def read_checked(path: Path, dataset: str, fields: list[str]) -> tuple[pd.DataFrame | None, list[Any]]:
    """Reads one dataset file as text columns; returns (frame or None, failed-check outcomes)."""
    if not path.is_file():
        return None, [_fail(dataset, "file_present", f"{path.name} is missing")]
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        return None, [_fail(dataset, "file_is_utf8", f"{path.name}:{line}: not UTF-8 ({error.reason})")]
    header = text.split("\n", 1)[0].rstrip("\r")
    if header != ",".join(fields):
        return None, [
            _fail(
                dataset, "header_matches_schema", f"{path.name}:1: header {header!r}, schema wants {','.join(fields)!r}"
            )
        ]
    for number, row in enumerate(csv.reader(text.splitlines()), start=1):
        if len(row) != len(fields):
            return None, [
                _fail(
                    dataset, "one_record_per_line", f"{path.name}:{number}: {len(row)} fields, expected {len(fields)}"
                )
            ]
    frame = pd.read_csv(path, dtype="str", keep_default_na=False, na_values=[""], encoding="utf-8")
    return frame, []


def _typed(frame: pd.DataFrame, dataset: str, types: dict[str, tuple[str, bool]]) -> tuple[pd.DataFrame, list[Any]]:
    """Numbers parsed as the schema says; values that are not of the schema's type are reported."""
    failures = []
    typed = frame.copy()
    for name, (base, _) in types.items():
        if base not in ("int", "long", "float", "double"):
            continue
        numbers = pd.to_numeric(frame[name], errors="coerce")
        bad = frame[name].notna() & numbers.isna()
        if base in ("int", "long"):
            bad |= numbers.notna() & (numbers != numbers.round())
            typed[name] = numbers.where(~bad).astype("Int64")
        else:
            typed[name] = numbers.astype("float64")
        if bad.any():
            examples = frame.loc[bad, name].head(5).tolist()
            failures.append(
                _fail(dataset, "values_match_schema_types", f"{name}: {int(bad.sum())} values are not {base}", examples)
            )
    return typed, failures


def validate_folder(folder: Path, settings: Any, bounds: Any, docs_dir: Path | None = None) -> Any:
    """Runs every check on the three CSVs in ``folder``; returns the ``quality.GateResult``."""
    from pulla_personalize import export
    from pulla_personalize.csvout import FILE_NAMES, schema_fields, schema_types
    from pulla_personalize.quality import (
        QualityGate,
        event_type_expectations,
        interaction_items_expectations,
        interaction_items_table,
        interaction_totals_expectations,
        interactions_expectations,
        items_expectations,
        users_expectations,
    )

    gate = QualityGate(docs_dir)
    for outcome in export.schema_lint_outcomes(settings):
        gate.record(outcome)
    frames: dict[str, pd.DataFrame] = {}
    for dataset, file_name in FILE_NAMES.items():
        fields = schema_fields(dataset, settings.schemas_dir)
        frame, failures = read_checked(folder / file_name, dataset, fields)
        if frame is not None:
            frame, failures = _typed(frame, dataset, schema_types(dataset, settings.schemas_dir))
            frames[dataset] = frame
        for outcome in failures:
            gate.record(outcome)

    items = frames.get("items")
    if items is not None:
        gate.validate(
            "items", items, items_expectations(schema_fields("items", settings.schemas_dir), settings, bounds)
        )
    users = frames.get("users")
    if users is not None:
        gate.validate("users", users, users_expectations(schema_fields("users", settings.schemas_dir), settings))
    interactions = frames.get("interactions")
    if interactions is not None:
        fields = schema_fields("interactions", settings.schemas_dir)
        gate.validate("interactions", interactions, interactions_expectations(fields, settings, bounds))
        if items is not None:
            joined = interaction_items_table(interactions["ITEM_ID"].dropna().unique(), items["ITEM_ID"].dropna())
            gate.validate("interaction_items", joined, interaction_items_expectations())
        counts = interactions.groupby("USER_ID", sort=True).size()
        totals = pd.DataFrame({"USER_ID": counts.index.astype("str"), "INTERACTIONS": counts.to_numpy()})
        gate.validate("interactions_per_user", totals, interaction_totals_expectations(settings))
        types = interactions["EVENT_TYPE"].value_counts().sort_index()
        gate.validate(
            "event_types",
            pd.DataFrame({"EVENT_TYPE": types.index.astype("str"), "INTERACTIONS": types.to_numpy()}),
            event_type_expectations(settings, len(fields) - 4),
        )
    gate.write_docs()
    return gate.result()


def _bounds(folder: Path, start: str | None, end: str | None, settings: Any) -> Any:
    from pulla_personalize.extract import Window
    from pulla_personalize.quality import Bounds

    earliest = int(settings.earliest_timestamp.timestamp())
    if start or end:
        if not (start and end):
            raise ValueError("give both --start and --end, or neither")
        window = Window.parse(start, end, settings.source_time_zone)
        return Bounds(earliest, window.start_seconds, window.end_seconds)
    report = folder / "report.json"
    if report.is_file():
        window = json.loads(report.read_text(encoding="utf-8")).get("window") or {}
        if "start_epoch_seconds" in window and "end_epoch_seconds" in window:
            return Bounds(earliest, int(window["start_epoch_seconds"]), int(window["end_epoch_seconds"]))
    tomorrow = int((datetime.now(UTC) + timedelta(days=1)).timestamp())
    return Bounds(earliest, earliest, tomorrow)


def run(args: argparse.Namespace) -> int:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from pulla_personalize.export_settings import ExportSettings
    from pulla_personalize.pipeline_config import ConfigError, configured_time_zone

    if not args.folder.is_dir():
        return _usage_error(f"{args.folder} is not a folder")
    try:
        time_zone = args.source_time_zone or configured_time_zone()
    except ConfigError as error:
        return _usage_error(f"--source-time-zone not given and {error}")
    try:
        ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        return _usage_error(f"unknown time zone {time_zone!r}")
    settings = ExportSettings(source_time_zone=time_zone)
    try:
        bounds = _bounds(args.folder, args.start, args.end, settings)
    except ValueError as error:
        return _usage_error(str(error))
    started = time.perf_counter()
    # Great Expectations wants an absolute folder for Data Docs; people type relative ones.
    docs_dir = args.data_docs.resolve() if args.data_docs else None
    result = validate_folder(args.folder, settings, bounds, docs_dir)
    for line in result.summary_lines():
        print(line)
    print(f"checked {args.folder} in {time.perf_counter() - started:.2f}s")
    return 0 if result.passed else 1
