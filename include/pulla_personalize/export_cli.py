"""``pulla-personalize export``: one window of the Pulla database → gated Personalize CSVs, report and rejects.

Exit codes (``EXIT_CODES``, shown by ``--help``): 0 the gate passed and the CSVs are in --out; 1 a blocking
expectation failed (the summary says which, on which column, with examples; no CSV is published); 2 bad usage or
input (swapped dates, a window that holds no orders or web-log rows, a missing SQLite file, a database without
the Pulla tables), an unreachable database or one that fails during the run, another export writing into --out,
or a file that cannot be written (a full disk): one line on stderr, no traceback, and --out left as it was.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

EXIT_USAGE = 2

EXIT_CODES = """exit codes:
  0  the gate passed: interactions.csv, users.csv, items.csv, report.json, rejects/ and data_docs/ are in --out
  1  a blocking check failed: report.json, rejects/ and data_docs/ say which; no CSV is published
  2  bad usage or input (swapped dates, a window without orders or web-log rows, a missing SQLite file, a database
     without the Pulla tables), a database that cannot be reached or fails, --out busy or not writable:
     one line on stderr, and --out left as it was"""


def default_time_zone_help() -> str:
    """The configured zone for --help; a broken configuration is reported when the command runs, not here."""
    from pulla_personalize.pipeline_config import ConfigError, configured_time_zone

    try:
        return f"default: {configured_time_zone()}, the time_zone of the pipeline configuration"
    except ConfigError:
        return "default: the time_zone of the pipeline configuration"


def configure_parser(parser: argparse.ArgumentParser) -> None:
    from pulla_personalize.export_settings import field_default  # light: the defaults shown in --help

    parser.add_argument(
        "--db",
        required=True,
        help="SQLAlchemy URL of the Pulla database, e.g. sqlite:///pulla.db or postgresql+psycopg://user@host/pulla "
        "(postgres:// and mysql:// get this project's drivers)",
    )
    parser.add_argument(
        "--start", required=True, help="window start, ISO 8601 (no offset = source time zone), included"
    )
    parser.add_argument("--end", required=True, help="window end, ISO 8601, excluded")
    parser.add_argument("--out", required=True, type=Path, help="folder for the CSVs, report.json, rejects/")
    parser.add_argument(
        "--keep-anonymous-sessions",
        action="store_true",
        help="keep events of sessions that never log in, with the session id as USER_ID",
    )
    parser.add_argument(
        "--source-time-zone",
        default=None,
        help=f"zone of the naive source timestamps and of --start/--end without an offset ({default_time_zone_help()})",
    )
    parser.add_argument(
        "--bot-events-per-minute",
        type=float,
        default=None,
        help=f"events per minute above which a session is a bot (default {field_default('bot_events_per_minute'):g})",
    )
    parser.add_argument(
        "--retention-days",
        type=int,
        default=None,
        help="interactions older than the window end minus this many days are never exported (default "
        f"{field_default('interactions_retention_days')}; Airflow runs take retention.interactions_days of the "
        "pipeline configuration)",
    )
    parser.add_argument(
        "--chunk-rows",
        type=int,
        default=None,
        help=f"rows per extraction chunk (default {field_default('chunk_rows')})",
    )


def _usage_error(message: str) -> int:
    print(f"pulla-personalize export: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def run(args: argparse.Namespace) -> int:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from pulla_personalize.csvout import SchemaError
    from pulla_personalize.export import EmptyWindow, OutputUnavailable, export_window, summary_lines
    from pulla_personalize.export_settings import ExportSettings
    from pulla_personalize.extract import SourceUnavailable, Window
    from pulla_personalize.pipeline_config import ConfigError, configured_time_zone

    if args.source_time_zone is None:
        try:
            args.source_time_zone = configured_time_zone()
        except ConfigError as error:
            return _usage_error(f"--source-time-zone not given and {error}")
    try:
        ZoneInfo(args.source_time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        return _usage_error(f"unknown time zone {args.source_time_zone!r}")
    overrides = {
        name: value
        for name, value in (
            ("bot_events_per_minute", args.bot_events_per_minute),
            ("interactions_retention_days", args.retention_days),
            ("chunk_rows", args.chunk_rows),
        )
        if value is not None
    }
    try:
        window = Window.parse(args.start, args.end, args.source_time_zone)
        settings = ExportSettings(
            source_time_zone=args.source_time_zone,
            keep_anonymous_sessions=args.keep_anonymous_sessions,
            **overrides,
        )
    except ValueError as error:
        return _usage_error(str(error))
    if args.out.exists() and not args.out.is_dir():
        return _usage_error(f"--out {args.out} exists and is not a folder")
    try:
        result = export_window(args.db, window, args.out, settings, refuse_empty_window=True)
    except (SourceUnavailable, SchemaError, OutputUnavailable, EmptyWindow) as error:
        return _usage_error(str(error))
    for line in summary_lines(result.report):
        print(line)
    timings = ", ".join(f"{name} {seconds:.2f}s" for name, seconds in result.timings.items())
    print(f"timings      {timings}")
    if result.passed:
        print(f"published    interactions.csv, users.csv, items.csv, report.json, rejects/ in {args.out}")
    else:
        print(f"NOT published: no CSV written to {args.out}; see {args.out / 'report.json'} and data_docs/")
    return result.exit_code
