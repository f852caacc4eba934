"""Streaming extraction: runs the ``include/sql`` queries for a window and yields pandas chunks.

Two paths give the same values:

- PostgreSQL fast path: ``COPY (query) TO STDOUT (FORMAT csv)`` through psycopg 3 in a child process, parsed by
  Arrow's C++ CSV reader (``copy_reader``); chunks arrive as Arrow-backed ``str`` columns. COPY takes no bind
  parameters, so the window values are bound into transaction-local settings (``set_config``) and each
  ``:name`` placeholder of the query becomes a sub-select of ``current_setting``, cast to the value's type. No
  value is ever formatted into SQL text, and nothing is written: it runs on a read-only replica too.
- Portable path (SQLite, MariaDB/MySQL, anything else SQLAlchemy speaks): a server-side cursor
  (``stream_results=True``) read with ``partitions(chunk_rows)``.

Chunks hold the query's columns in its order, as object or ``str`` columns; ``transform.as_text`` and friends
normalise them, so the engines' different Python types (datetime objects vs ISO text) meet in one form.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import sqlalchemy as sa

from pulla_personalize.copy_reader import (
    SETTING_PREFIX,
    CopyFailed,
    CopyPrefetch,
    CopyRequest,
    first_line,
    open_copy,
)
from pulla_personalize.db_urls import BadDatabaseUrl, normalise_url, shown, sqlite_file
from pulla_personalize.pipeline_config import configured_time_zone
from pulla_personalize.queries import load_query, source_tables

log = logging.getLogger(__name__)

#: Query name → the kind of window values it binds: naive local date-times or UTC epoch milliseconds.
QUERY_WINDOW_KIND = {
    "order_lines": "local",
    "members": "local",
    "products": "local",
    "web_logs": "epoch_ms",
    "session_logins": "epoch_ms",
}

#: The column contract of each query (the comment block at the top of each .sql file says the same).
QUERY_COLUMNS = {
    "order_lines": (
        "order_item_id",
        "order_id",
        "member_id",
        "ordered_at",
        "status",
        "channel",
        "product_id",
        "option_id",
        "quantity",
        "unit_price",
    ),
    "web_logs": ("log_id", "session_id", "member_id", "event_name", "product_id", "user_agent", "occurred_at_ms"),
    "session_logins": ("session_id", "member_id", "occurred_at_ms"),
    "members": ("member_id", "birth_date", "cup_size", "band_size", "is_test", "created_at", "deleted_at"),
    "products": (
        "product_id",
        "cup_type",
        "wire",
        "braret",
        "gore_height",
        "gore_width",
        "braret_line",
        "bsw",
        "price",
        "status",
        "registered_at",
        "option_id",
        "option_cup_size",
        "option_band_size",
        "stock",
    ),
}

# SQLAlchemy's own pattern for ":name" placeholders in text() (not "::" casts, not "\:" escapes).
_BIND = re.compile(r"(?<![:\w\\]):(\w+)(?!:)")


class SourceUnavailable(Exception):
    """The source cannot be used: bad URL, server down, missing driver, a query that fails, or a query whose
    columns break the contract. Its message is one line meant for a person."""


@dataclass(frozen=True)
class Window:
    """A half-open export window [start, end), held as aware UTC datetimes."""

    start: datetime
    end: datetime
    #: The zone of the source's naive timestamps; by default the pipeline configuration's ``time_zone``.
    time_zone: str = field(default_factory=configured_time_zone)

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("window bounds must be time-zone aware")
        if self.start >= self.end:
            raise ValueError(f"window start {self.start.isoformat()} is not before its end {self.end.isoformat()}")

    @classmethod
    def parse(cls, start: str, end: str, time_zone: str | None = None) -> Window:
        """ISO 8601 bounds; a bound without an offset is local time in ``time_zone`` (the source's zone; by
        default the configured one)."""
        time_zone = time_zone or configured_time_zone()
        zone = ZoneInfo(time_zone)

        def one(text: str, label: str) -> datetime:
            try:
                value = datetime.fromisoformat(text.strip())
            except ValueError:
                raise ValueError(f"--{label} {text!r} is not an ISO 8601 date or date-time") from None
            if value.tzinfo is None:
                value = value.replace(tzinfo=zone)
            return value.astimezone(UTC)

        first, last = one(start, "start"), one(end, "end")
        if first >= last:
            # Said with the bounds as typed: their UTC forms are times the user never wrote.
            raise ValueError(
                f"--start {start.strip()} is not before --end {end.strip()} (bounds without an offset are "
                f"{time_zone} time); the window is [start, end), so start must come first"
            )
        return cls(first, last, time_zone)

    def describe(self) -> str:
        """The window in its source time zone, as a person reads it: ``2026-10-02 → 2026-11-01 (Asia/Seoul)``."""
        start, end = self.local(self.start), self.local(self.end)
        pattern = "%Y-%m-%d" if start.time() == end.time() == datetime.min.time() else "%Y-%m-%d %H:%M"
        return f"{start:{pattern}} → {end:{pattern}} ({self.time_zone})"

    @property
    def start_seconds(self) -> int:
        return int(self.start.timestamp())

    @property
    def end_seconds(self) -> int:
        return int(self.end.timestamp())

    def local(self, moment: datetime) -> datetime:
        """A bound as the naive local date-time the source's TIMESTAMP columns hold."""
        return moment.astimezone(ZoneInfo(self.time_zone)).replace(tzinfo=None)

    def params(self, query_name: str) -> dict[str, Any]:
        if QUERY_WINDOW_KIND[query_name] == "epoch_ms":
            return {"start": self.start_seconds * 1000, "end": self.end_seconds * 1000}
        return {"start": self.local(self.start), "end": self.local(self.end)}

    def end_date_local(self) -> date:
        """The last local calendar day inside the window (AGE is computed on it)."""
        last_second = datetime.fromtimestamp(self.end_seconds - 1, tz=UTC)
        return last_second.astimezone(ZoneInfo(self.time_zone)).date()


def make_engine(url: str | sa.URL) -> sa.Engine:
    """An engine for the source; SQLite text that is not UTF-8 is kept (as lone surrogates) to be quarantined.

    A URL without a driver gets this project's (``db_urls.normalise_url``).
    """
    try:
        parsed = normalise_url(url)
    except BadDatabaseUrl as error:
        raise SourceUnavailable(f"cannot use database URL: {error}") from None
    try:
        engine = sa.create_engine(parsed)
    except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, ImportError, ValueError) as error:
        raise SourceUnavailable(f"cannot use database URL {shown(parsed)}: {error}") from None
    if engine.dialect.name == "sqlite":

        @sa.event.listens_for(engine, "connect")
        def _keep_bad_bytes(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.text_factory = lambda data: data.decode("utf-8", "surrogateescape")

    return engine


def check_sqlite_file(engine: sa.Engine) -> None:
    """Raises SourceUnavailable when the engine is SQLite and its file does not exist: connecting would create an
    empty one, and a reader would then fail on a missing table."""
    path = sqlite_file(engine.url)
    if path is not None and not Path(path).is_file():
        url = _safe_url(str(engine.url))
        raise SourceUnavailable(
            f"no SQLite database at {path} (from {url}); the export never creates one: "
            f"create it with `pulla-personalize seed-demo-db --url {url}` or fix the path"
        )


def check_connection(engine: sa.Engine) -> None:
    """Raises SourceUnavailable with a one-line reason when the database cannot be reached."""
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
    except sa.exc.DBAPIError as error:
        reason = str(error.orig).strip().splitlines()[0] if error.orig else str(error)
        raise SourceUnavailable(f"cannot reach database {_safe_url(str(engine.url))}: {reason}") from None
    except sa.exc.SQLAlchemyError as error:
        raise SourceUnavailable(f"cannot reach database {_safe_url(str(engine.url))}: {error}") from None


def check_source_tables(engine: sa.Engine, query_names: Iterable[str]) -> None:
    """Raises SourceUnavailable naming the tables the queries read that the database lacks (views count).

    The tables come from the queries' own SQL (``queries.source_tables``), so a team that rewrote the SQL for
    its own tables is checked against those.
    """
    wanted = source_tables(query_names)
    try:
        inspector = sa.inspect(engine)
        present: set[str] = set()
        for schema in sorted({schema for schema, _ in wanted}, key=lambda name: name or ""):
            names = inspector.get_table_names(schema=schema) + inspector.get_view_names(schema=schema)
            present |= {_qualified(schema, name).lower() for name in names}
    except sa.exc.DBAPIError as error:
        raise SourceUnavailable(
            f"cannot list the tables of {_safe_url(str(engine.url))}: {first_line(error.orig or error)}"
        ) from None
    missing = [_qualified(schema, name) for schema, name in wanted if _qualified(schema, name).lower() not in present]
    if missing:
        which = "none of" if len(missing) == len(wanted) else "no"
        raise SourceUnavailable(
            f"no Pulla tables here: {_safe_url(str(engine.url))} has {which} {', '.join(missing)}; "
            f"run `pulla-personalize seed-demo-db --url {_safe_url(str(engine.url))}` to create a demo database, "
            "or point --db at the Pulla one"
        )


def activity_span(engine: sa.Engine, time_zone: str) -> tuple[datetime, datetime] | None:
    """The first and last moment of any order line or web-log row the queries return, as naive local date-times
    in ``time_zone``; None when there are none. Runs the queries over all time: meant for an error message."""
    zone = ZoneInfo(time_zone)
    everything = Window(datetime(2000, 1, 1, tzinfo=UTC), datetime(2200, 1, 1, tzinfo=UTC), time_zone)
    moments: list[datetime] = []
    for name, column in (("order_lines", "ordered_at"), ("web_logs", "occurred_at_ms")):
        rows = load_query(name).columns(*(sa.column(label) for label in QUERY_COLUMNS[name])).subquery("q")
        statement = sa.select(sa.func.min(rows.c[column]), sa.func.max(rows.c[column]))
        try:
            with engine.connect() as connection:
                bounds = connection.execute(statement, everything.params(name)).one()
        except sa.exc.DBAPIError as error:
            raise SourceUnavailable(
                f"{name}.sql failed on {engine.dialect.name}: {first_line(error.orig or error)}"
            ) from None
        for value in bounds:
            if value is None:
                continue
            if column == "occurred_at_ms":
                moments.append(datetime.fromtimestamp(int(value) / 1000, UTC).astimezone(zone).replace(tzinfo=None))
            else:
                moments.append(value if isinstance(value, datetime) else datetime.fromisoformat(str(value)))
    return (min(moments), max(moments)) if moments else None


def _qualified(schema: str | None, name: str) -> str:
    return f"{schema}.{name}" if schema else name


def _safe_url(url: str) -> str:
    return shown(url)


def iter_query(
    engine: sa.Engine, query: sa.TextClause, params: Mapping[str, Any], chunk_rows: int, label: str = "query"
) -> Iterator[pd.DataFrame]:
    """Yields the query's rows in chunks of at most ``chunk_rows`` rows, in the query's order.

    A database error becomes ``SourceUnavailable`` naming ``label`` (the query's file) and the driver's message.
    """
    stream = QueryStream(engine, [[(label, query, params)]], chunk_rows)
    try:
        yield from stream.chunks(label)
    finally:
        stream.close()


class QueryStream:
    """Queries read in chunks of at most ``chunk_rows`` rows, in lanes that run side by side.

    ``lanes`` is a list of lanes, each a list of (label, query, params) read one after the other;
    ``chunks(label)`` yields a query's chunks, and the queries of one lane must be asked for in the lane's order.
    On PostgreSQL each lane is one child process that runs its COPYs in turn and reads ahead, so a query's rows
    are ready when the caller gets to it, and a slow query in one lane (a semi-join the server needs seconds
    for) is computed while the other lane streams; every lane reads one snapshot, exported when the stream
    opens. Elsewhere each query runs when it is asked for. A database error becomes ``SourceUnavailable`` naming
    the query's label and the driver's message. Call ``close`` when done.
    """

    def __init__(
        self,
        engine: sa.Engine,
        lanes: list[list[tuple[str, sa.TextClause, Mapping[str, Any]]]],
        chunk_rows: int,
    ) -> None:
        self.engine = engine
        self.chunk_rows = chunk_rows
        #: label → (lane number, position in the lane, query, params)
        self._queries = {
            label: (lane_number, position, query, params)
            for lane_number, lane in enumerate(lanes)
            for position, (label, query, params) in enumerate(lane)
        }
        self._lane_labels = [[label for label, _, _ in lane] for lane in lanes]
        self._prefetches: list[CopyPrefetch] = []
        self._snapshot_holder: sa.Connection | None = None
        if engine.dialect.name == "postgresql" and engine.dialect.driver == "psycopg":
            args, kwargs = engine.dialect.create_connect_args(engine.url)
            # The dialect also passes its adapter map; the child's plain connection needs only the settings.
            kwargs = {key: value for key, value in kwargs.items() if isinstance(value, str | int | float)}
            try:
                snapshot = self._export_snapshot()
                for lane in lanes:
                    requests = [copy_request(query, params, chunk_rows) for _, query, params in lane]
                    self._prefetches.append(CopyPrefetch((tuple(args), kwargs), requests, snapshot))
            except BaseException:
                self.close()
                raise

    def _export_snapshot(self) -> str:
        """Opens a read-only REPEATABLE READ transaction held until ``close`` and exports its snapshot, so every
        lane reads the database as of one moment (as pg_dump's parallel workers do): an order line of a member
        who signed up while the export ran is not seen without its member."""
        try:
            holder = self.engine.connect().execution_options(
                isolation_level="REPEATABLE READ", postgresql_readonly=True
            )
            self._snapshot_holder = holder
            holder.begin()
            return str(holder.exec_driver_sql("SELECT pg_export_snapshot()").scalar_one())
        except sa.exc.DBAPIError as error:
            raise SourceUnavailable(
                f"exporting a snapshot failed on {self.engine.dialect.name}: {first_line(error.orig or error)}"
            ) from None

    def chunks(self, label: str) -> Iterator[pd.DataFrame]:
        lane, position, query, params = self._queries[label]
        try:
            if not self._prefetches:
                yield from _portable_chunks(self.engine, query, params, self.chunk_rows)
                return
            import pyarrow as pa

            text = pd.StringDtype("pyarrow", na_value=float("nan"))  # pandas' "str" dtype, kept in Arrow
            types = {pa.string(): text, pa.large_string(): text}
            for table in self._prefetches[lane].chunks(position):
                yield table.to_pandas(types_mapper=types.get)
        except sa.exc.DBAPIError as error:
            raise SourceUnavailable(
                f"{label} failed on {self.engine.dialect.name}: {first_line(error.orig or error)}"
            ) from None
        except CopyFailed as error:  # the fast path talks to psycopg in its own process
            labels = self._lane_labels[lane]
            if error.index < 0:  # before any query: connecting, or importing the snapshot
                raise SourceUnavailable(
                    f"the COPY connection for {label} failed on {self.engine.dialect.name}: {error.reason}"
                ) from None
            failed = labels[error.index] if error.index < len(labels) else label
            raise SourceUnavailable(f"{failed} failed on {self.engine.dialect.name}: {error.reason}") from None

    def close(self) -> None:
        for prefetch in self._prefetches:
            prefetch.close()
        holder, self._snapshot_holder = self._snapshot_holder, None
        if holder is not None:
            # Ends the transaction that kept the snapshot importable. The lanes imported it long ago, so a server
            # that has meanwhile dropped this idle session (idle_in_transaction_session_timeout, a proxy's idle
            # timeout) must not fail an export that has read everything.
            try:
                holder.close()
            except sa.exc.DBAPIError as error:
                log.warning("the snapshot's transaction had already ended: %s", first_line(error.orig or error))


def _portable_chunks(
    engine: sa.Engine, query: sa.TextClause, params: Mapping[str, Any], chunk_rows: int
) -> Iterator[pd.DataFrame]:
    used = {name: value for name, value in params.items() if name in query._bindparams}
    with engine.connect() as connection:
        result = connection.execution_options(stream_results=True, max_row_buffer=chunk_rows).execute(query, used)
        driver_cursor = result.cursor
        columns = list(result.keys())
        try:
            for rows in result.partitions(chunk_rows):
                yield pd.DataFrame([tuple(row) for row in rows], columns=columns, dtype=object)
        except sa.exc.DBAPIError:
            _abandon_unbuffered_result(driver_cursor)
            raise


def _abandon_unbuffered_result(driver_cursor: Any) -> None:
    """After the server dropped a streaming query (a killed connection), PyMySQL's unbuffered result still tries to
    read the rest of the rows from the closed socket when it is closed or garbage-collected, and Python prints that
    AttributeError's traceback after our one-line error. The connection is gone: mark the result finished."""
    pending = getattr(driver_cursor, "_result", None)
    if getattr(pending, "unbuffered_active", False):
        pending.unbuffered_active = False


def _pg_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "bigint"
    if isinstance(value, datetime):
        return "timestamptz" if value.tzinfo else "timestamp"
    if isinstance(value, date):
        return "date"
    return "text"


def copy_statement(query: sa.TextClause, types: Mapping[str, str]) -> tuple[str, list[str]]:
    """The COPY statement for a text() query, with each ``:name`` read from the session setting ``pulla.name``
    (set from a bound value by ``copy_reader.open_copy``) and cast to ``types[name]``; and the names in order.

    Each read is a scalar sub-select, so the server evaluates it once per query, not once per row.
    """
    names: list[str] = []

    def placeholder(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in query._bindparams:
            return match.group(0)
        if name not in names:
            names.append(name)
        return f"(SELECT current_setting('{SETTING_PREFIX}{name}')::{types[name]})"

    body = _BIND.sub(placeholder, query.text).strip().rstrip(";").rstrip()
    body = body.replace("\\:", ":")
    # The newline before ")" keeps a trailing "-- comment" from swallowing it.
    return f"COPY (\n{body}\n) TO STDOUT (FORMAT csv, HEADER true, NULL '\\N')", names


def copy_request(query: sa.TextClause, params: Mapping[str, Any], chunk_rows: int) -> CopyRequest:
    """The COPY for a text() query and its window values, as the copy reader runs it."""
    used = {name: value for name, value in params.items() if name in query._bindparams}
    types = {name: _pg_type(value) for name, value in used.items()}
    statement, names = copy_statement(query, types)
    return CopyRequest(statement, [(name, used[name]) for name in names], chunk_rows)


@contextmanager
def postgres_copy(driver_connection: Any, query: sa.TextClause, params: Mapping[str, Any]) -> Iterator[Any]:
    """A psycopg ``Copy`` streaming the query's rows as CSV (header first, ``\\N`` for NULL), in this process.

    The window values are bound into transaction-local settings the statement reads (see ``copy_statement``);
    they end with the caller's transaction.
    """
    with open_copy(driver_connection, copy_request(query, params, 1)) as copy:
        yield copy
