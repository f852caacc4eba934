"""Exports one window of the Pulla database as Personalize's Interactions, Users and Items CSVs, behind the gate.

The run, in order (each source is streamed in chunks of ``settings.chunk_rows``):

1. members → users.csv, and the member id → test/withdrawn/member status the interactions need;
2. products → one Items record per product (sizes of its options joined with ``|``);
3. session_logins and web_logs → row rules per chunk; surviving events and per-chunk session statistics are
   spilled to on-disk buckets keyed by session id, so that bot detection and session stitching see a whole
   session at once while memory holds one bucket;
4. order_lines → row rules per chunk; purchases are spilled to buckets keyed by USER_ID, as are the stitched
   web events from step 3;
5. per USER_ID bucket: exact de-duplication (same user, item, event type, second), deterministic sort, append
   to interactions.csv, per-user counts for the 25-user rule, first interaction per item;
6. items.csv (CREATION_TIMESTAMP from registered_at, else the item's first interaction in the window, else the
   last second of the window: Personalize itself treats an item without either as new);
7. Great Expectations on all three, schema lint, report.json and Data Docs. GX runs in a child process
   (``quality.BackgroundGate``, a plain interpreter of its own: any caller works, an Airflow task runner or a
   script without a ``__main__`` guard included) started with the run, so its import and checks overlap steps
   1-6.

The rules themselves live in ``pulla_personalize.rules``, one module per source, in the order they run; this
module streams the sources through them, spills, counts and gates. A row counts under the first rule it breaks
(see ``quarantine.Verdicts``), so every source row is counted exactly once. An interaction older than the
retention limit (``settings.interactions_retention_days`` before the window end) is excluded by its source's
rules in steps 3-4, before it is spilled, however long the window. Everything is written into a temporary folder
beside ``out_dir``; report.json, rejects/ (no personal data: ``quarantine.PERSONAL_COLUMNS``) and data_docs/ are
always moved into ``out_dir``, the three CSVs only when the gate passes. Memory: one chunk, one bucket, plus small
per-key state (member statuses, the product catalogue, one count per user).

A run that fails (the source drops the connection, the disk fills up) publishes nothing: it stops its child
processes, deletes the temporary folder and leaves ``out_dir`` as it was. One export at a time writes into an
``out_dir``: each holds an exclusive ``flock`` on the folder itself (no lock file to leave behind; the kernel
releases it when the process dies), and a second one refuses at once (``OutputUnavailable``) rather than mixing
its files with the first one's.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import pickle
import shutil
import struct
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd

from pulla_personalize import transform
from pulla_personalize.copy_reader import ipc_bytes
from pulla_personalize.csvout import FILE_NAMES, DatasetCsvWriter, naming_file, schema_fields
from pulla_personalize.export_settings import ExportSettings
from pulla_personalize.extract import (
    QUERY_COLUMNS,
    QueryStream,
    SourceUnavailable,
    Window,
    activity_span,
    check_connection,
    check_source_tables,
    check_sqlite_file,
    make_engine,
)
from pulla_personalize.quality import (
    BackgroundGate,
    Bounds,
    GateResult,
    Outcome,
    event_type_expectations,
    interaction_items_expectations,
    interaction_items_table,
    interaction_totals_expectations,
    interactions_expectations,
    items_expectations,
    users_expectations,
)
from pulla_personalize.quarantine import Accounting, RejectsWriter, Verdicts
from pulla_personalize.queries import load_query
from pulla_personalize.rules.interactions import duplicate_interactions, retention_start
from pulla_personalize.rules.members import member_rules
from pulla_personalize.rules.order_lines import order_line_rules
from pulla_personalize.rules.products import Catalogue, product_rules
from pulla_personalize.rules.web_logs import login_rows, session_rules, web_log_rules

REPORT_NAME = "report.json"
REJECTS_DIR = "rejects"
DOCS_DIR = "data_docs"
#: Source kind → the query whose rows it counts (rejects/<source>.csv has that query's columns).
SOURCE_QUERIES = {"order_items": "order_lines", "web_logs": "web_logs", "members": "members", "products": "products"}
#: The queries in the order the run reads them (``_ExportRun.run``), in two lanes that the database serves side
#: by side: session_logins is a semi-join over the window the server needs as long as web_logs to answer, so it
#: is computed while web_logs streams and read after it.
QUERY_LANES = (("members", "products", "web_logs", "order_lines"), ("session_logins",))

_ORDER_ITEMS, _WEB_LOGS = 0, 1
_SOURCE_NAMES = {_ORDER_ITEMS: "order_items", _WEB_LOGS: "web_logs"}
INTERACTION_COLUMNS = ["USER_ID", "ITEM_ID", "TIMESTAMP", "EVENT_TYPE", "EVENT_VALUE", "DEVICE"]


class OutputUnavailable(Exception):
    """``out_dir`` cannot take this export: another export is writing into it, or a file of the run cannot be
    written (a full disk, a read-only folder). Nothing was published. Its message is one line meant for a person."""


class EmptyWindow(Exception):
    """The window holds no order line and no web-log row, so no interaction can come out of it (raised only
    when asked for: see ``export_window``). Its message names the window and where the data is."""


@dataclass
class ExportResult:
    passed: bool
    report: dict[str, Any]
    out_dir: Path
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        return 0 if self.passed else 1


class _Buckets:
    """Frames spilled to ``count`` files by a stable hash of a key column; read back one bucket at a time.

    Each chunk is reordered by bucket once and every bucket gets its contiguous part appended to its file as one
    record: an Arrow IPC stream (pandas dtypes kept in its metadata), or a pickle when Arrow cannot hold the
    chunk's values (the portable path's object columns may mix ints, text and undecodable bytes). Arrow parts are
    cheap to write and are read back as one table, so a bucket costs one conversion to pandas however many parts
    it has.
    """

    _ARROW, _PICKLE = b"A", b"P"
    _HEADER = struct.Struct("<cQ")  # record kind, payload length

    def __init__(self, folder: Path, name: str, count: int) -> None:
        self.folder = folder
        self.name = name
        self.count = count
        self._handles: dict[int, IO[bytes]] = {}

    def _path(self, bucket: int) -> Path:
        return self.folder / f"{self.name}-{bucket:03d}.spill"

    def add(self, frame: pd.DataFrame, key: str) -> None:
        if frame.empty:
            return
        # Each distinct key is hashed once (a chunk has far fewer sessions or users than rows).
        codes, uniques = pd.factorize(frame[key].astype("str"), use_na_sentinel=False)
        hashes = pd.util.hash_pandas_object(pd.Series(uniques, dtype="str"), index=False).to_numpy()
        buckets = (hashes % np.uint64(self.count))[codes]
        # One stable reordering by bucket, then contiguous slices: the same parts, in the same row order, as one
        # boolean selection per bucket, without copying the chunk once per bucket.
        order = np.argsort(buckets, kind="stable")
        grouped = frame.take(order)
        table = _arrow_table(grouped)
        sorted_buckets = buckets[order]
        starts = np.flatnonzero(np.r_[True, sorted_buckets[1:] != sorted_buckets[:-1]])
        ends = np.r_[starts[1:], len(sorted_buckets)]
        for start, end in zip(starts, ends, strict=True):
            bucket = int(sorted_buckets[start])
            handle = self._handles.get(bucket)
            if handle is None:
                handle = self._handles[bucket] = self._path(bucket).open("wb")
            if table is not None:
                kind, payload = self._ARROW, ipc_bytes(table.slice(start, end - start))
            else:
                kind = self._PICKLE
                payload = pickle.dumps(grouped.iloc[start:end], protocol=pickle.HIGHEST_PROTOCOL)
            with naming_file(self._path(bucket)):
                handle.write(self._HEADER.pack(kind, len(payload)))
                handle.write(payload)

    def read(self, bucket: int) -> pd.DataFrame | None:
        import pyarrow as pa

        handle = self._handles.pop(bucket, None)
        if handle is None:
            return None
        handle.close()
        parts: list[Any] = []  # Arrow tables and DataFrames, in the order they were added
        with self._path(bucket).open("rb") as source:
            while header := source.read(self._HEADER.size):
                kind, length = self._HEADER.unpack(header)
                payload = source.read(length)
                if kind == self._ARROW:
                    parts.append(pa.ipc.open_stream(payload).read_all())
                else:
                    parts.append(pickle.loads(payload))  # our own temp file, written just above
        self._path(bucket).unlink()
        if all(isinstance(part, pa.Table) for part in parts):
            # A column that was all null in one chunk has Arrow's null type there, one held in Python strings has
            # string where Arrow-backed text has large_string: promotion unifies them.
            try:
                return pa.concat_tables(parts, promote_options="permissive").to_pandas()
            except (pa.ArrowInvalid, pa.ArrowTypeError):
                pass  # types that do not unify (a column of numbers in one chunk, of text in another)
        frames = [part.to_pandas() if isinstance(part, pa.Table) else part for part in parts]
        return pd.concat(frames, ignore_index=True)

    def close(self) -> None:
        handles, self._handles = self._handles, {}
        for handle in handles.values():
            # Buckets still open here are abandoned (a run that failed) and deleted with the staging folder: a
            # flush that fails on a full disk must not hide the error that stopped the run.
            with contextlib.suppress(OSError):
                handle.close()


def _bucket_groups(stores: tuple[_Buckets, ...], min_rows: int) -> Iterator[list[tuple[int, list[Any]]]]:
    """Consecutive buckets read together: lists of (bucket, [its frame in each store]) holding at least
    ``min_rows`` rows of the first store (the last group may hold fewer). Buckets without rows in the first store
    are read (and so deleted) but left out. A key never spans two buckets, so a group keeps whole sessions or
    users, and the per-call cost of the rules, not the rows, is what small buckets pay for."""
    group: list[tuple[int, list[Any]]] = []
    rows = 0
    for bucket in range(stores[0].count):
        frames = [store.read(bucket) for store in stores]
        if frames[0] is not None:
            group.append((bucket, frames))
            rows += len(frames[0])
        if group and (rows >= min_rows or bucket == stores[0].count - 1):
            yield group
            group, rows = [], 0


def _concat_present(frames: list[pd.DataFrame | None]) -> pd.DataFrame | None:
    present = [frame for frame in frames if frame is not None]
    return pd.concat(present, ignore_index=True) if present else None


def _arrow_table(frame: pd.DataFrame) -> Any:
    """The frame as an Arrow table with its pandas dtypes in the metadata; None when Arrow cannot hold a value."""
    import pyarrow as pa

    try:
        return pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, UnicodeEncodeError):
        return None


class _ExportRun:
    def __init__(
        self, engine: Any, window: Window, settings: ExportSettings, staging: Path, refuse_empty_window: bool = False
    ) -> None:
        self.engine = engine
        self.refuse_empty_window = refuse_empty_window
        self.window = window
        self.settings = settings
        self.staging = staging
        self.accounting = Accounting()
        # Ages on the window's last local day, as the member rules compute AGE: what rejects/ keeps of a birth date.
        self.rejects = RejectsWriter(
            staging / REJECTS_DIR, ages_on=window.end_date_local(), earliest_birth_date=settings.earliest_birth_date
        )
        spill = staging / "spill"
        spill.mkdir()
        self.session_events = _Buckets(spill, "session-events", settings.spill_buckets)
        self.session_stats = _Buckets(spill, "session-stats", settings.spill_buckets)
        self.session_logins = _Buckets(spill, "session-logins", settings.spill_buckets)
        self.user_events = _Buckets(spill, "user-events", settings.spill_buckets)
        self.member_status: dict[str, str] = {}  # member id → members.MEMBER, TEST or WITHDRAWN
        self.catalogue = Catalogue()
        self.first_interaction: dict[str, int] = {}
        self.product_ids: Any = None  # every product id, as a value set for transform.is_in (after products)
        self.positions: Counter[str] = Counter()
        self.timings: Counter[str] = Counter()
        self.fields = {name: schema_fields(name, settings.schemas_dir) for name in FILE_NAMES}
        self.bounds = Bounds(
            earliest=int(settings.earliest_timestamp.timestamp()),
            window_start=window.start_seconds,
            window_end=window.end_seconds,
            retained_from=retention_start(window.end, window.time_zone, settings.interactions_retention_days),
        )
        # The queries in the order the run reads them; on PostgreSQL a child process per lane reads ahead. They start
        # first: the first rows are the critical path, GX has until the end of the run.
        self.source = QueryStream(
            engine,
            [[(f"{name}.sql", load_query(name), window.params(name)) for name in lane] for lane in QUERY_LANES],
            settings.chunk_rows,
        )
        # Great Expectations runs in a child process beside the export; "validate" counts the time the export
        # waits for it, "gx_busy" the child's own CPU time.
        gate: BackgroundGate | None = None
        try:
            self.gate = gate = BackgroundGate(staging / DOCS_DIR)
            self.suites = {
                "users": (users_expectations, (self.fields["users"], settings)),
                "interactions": (interactions_expectations, (self.fields["interactions"], settings, self.bounds)),
                "interactions_per_user": (interaction_totals_expectations, (settings,)),
                "event_types": (event_type_expectations, (settings, len(self.fields["interactions"]) - 4)),
                "items": (items_expectations, (self.fields["items"], settings, self.bounds)),
                "interaction_items": (interaction_items_expectations, ()),
            }
            self.gate.prepare(self.suites)
        except BaseException:
            # The COPY processes and the snapshot's transaction are already running.
            self.source.close()
            if gate is not None:
                gate.close()
            raise

    # --- plumbing ----------------------------------------------------------------------------------------------

    def _chunks(self, query_name: str) -> Any:
        started = time.perf_counter()
        for chunk in self.source.chunks(f"{query_name}.sql"):
            self.timings["extract"] += time.perf_counter() - started
            chunk = chunk.reset_index(drop=True)
            expected = QUERY_COLUMNS[query_name]
            if tuple(chunk.columns) != expected:
                raise SourceUnavailable(
                    f"{query_name}.sql returned columns {list(chunk.columns)}, the contract says {list(expected)}"
                )
            yield chunk
            started = time.perf_counter()
        self.timings["extract"] += time.perf_counter() - started

    def _source_chunks(self, query_name: str, source: str) -> Iterator[pd.DataFrame]:
        """The query's chunks, each counted as source rows of ``source``; the time between yields is transform."""
        for chunk in self._chunks(query_name):
            started = time.perf_counter()
            self.accounting.add_source_rows(source, len(chunk))
            yield chunk
            self.timings["transform"] += time.perf_counter() - started

    def _positions(self, source: str, size: int) -> np.ndarray:
        start = self.positions[source]
        self.positions[source] += size
        return np.arange(start, start + size, dtype=np.int64)

    def _finish_chunk(self, source: str, chunk: pd.DataFrame, verdicts: Verdicts) -> None:
        self.accounting.add_verdicts(source, verdicts)
        self.rejects.write(source, chunk, verdicts)

    # --- the sources, through their rules (pulla_personalize.rules) --------------------------------------------

    def members(self) -> list[pd.DataFrame]:
        on = self.window.end_date_local()
        users: list[pd.DataFrame] = []
        writer = DatasetCsvWriter(self.staging / FILE_NAMES["users"], self.fields["users"])
        for chunk in self._source_chunks("members", "members"):
            rows = member_rules(chunk, self.settings, on=on, earlier_ids=self.member_status)
            self.member_status.update(rows.statuses)
            writer.append(rows.users)
            users.append(rows.users)
            self.accounting.add_exported("members", len(rows.users))
            self._finish_chunk("members", chunk, rows.verdicts)
        writer.close()
        return users

    def products_pass(self) -> None:
        for chunk in self._source_chunks("products", "products"):
            rows = product_rules(chunk, self.settings, self.bounds)
            self.catalogue.add(rows)
            self.accounting.add_exported("products", len(rows.options))
            self._finish_chunk("products", chunk, rows.verdicts)

    def logins_pass(self) -> None:
        for chunk in self._chunks("session_logins"):
            self.session_logins.add(login_rows(chunk), "session_id")

    def web_logs_pass(self) -> None:
        for chunk in self._source_chunks("web_logs", "web_logs"):
            positions = self._positions("web_logs", len(chunk))
            rows = web_log_rules(chunk, self.settings, self.bounds, self.product_ids)
            self.session_stats.add(rows.session_stats, "session_id")
            # _pos: the row's place in the query's stream, the last tiebreak of the interactions' order.
            self.session_events.add(rows.events.assign(_pos=positions[rows.verdicts.alive]), "_session")
            self._finish_chunk("web_logs", chunk, rows.verdicts)

    def sessions_pass(self) -> None:
        stores = (self.session_events, self.session_stats, self.session_logins)
        for group in _bucket_groups(stores, self.settings.chunk_rows):
            events, stats, logins = (_concat_present([frames[store] for _, frames in group]) for store in range(3))
            started = time.perf_counter()
            rows = session_rules(events, stats, logins, self.settings, self.member_status)
            alive = rows.verdicts.alive
            self.user_events.add(rows.interactions.assign(_source=_WEB_LOGS, _pos=events["_pos"][alive]), "USER_ID")
            self._finish_chunk("web_logs", events[list(QUERY_COLUMNS["web_logs"])], rows.verdicts)
            self.timings["transform"] += time.perf_counter() - started

    def order_lines_pass(self) -> None:
        for chunk in self._source_chunks("order_lines", "order_items"):
            positions = self._positions("order_items", len(chunk))
            rows = order_line_rules(chunk, self.settings, self.bounds, self.member_status, self.product_ids)
            interactions = rows.interactions.assign(_source=_ORDER_ITEMS, _pos=positions[rows.verdicts.alive])
            self.user_events.add(interactions, "USER_ID")
            self._finish_chunk("order_items", chunk, rows.verdicts)

    # --- interactions out --------------------------------------------------------------------------------------

    def interactions_out(self) -> dict[str, Any]:
        settings = self.settings
        writer = DatasetCsvWriter(self.staging / FILE_NAMES["interactions"], self.fields["interactions"])
        per_user: list[pd.DataFrame] = []
        event_types: Counter[str] = Counter()
        batch: list[pd.DataFrame] = []
        batch_rows = 0
        firsts: list[pd.Series] = []  # per bucket, each item's first interaction second
        for group in _bucket_groups((self.user_events,), settings.chunk_rows):
            started = time.perf_counter()
            frame = pd.concat([frames[0].assign(_bucket=bucket) for bucket, frames in group], ignore_index=True)
            # Sorting by bucket first keeps the rows in the order bucket-by-bucket handling gives, so the file
            # does not depend on how buckets were grouped.
            frame = transform.sort_interactions(frame, tiebreak=("_source", "_pos"), leading=("_bucket",))
            duplicates = duplicate_interactions(frame)
            kept = frame.loc[~duplicates]
            for code, name in _SOURCE_NAMES.items():
                self.accounting.add_excluded(
                    name, "duplicate_interaction", int((frame["_source"][duplicates] == code).sum())
                )
                self.accounting.add_exported(name, int((kept["_source"] == code).sum()))
            writer.append(kept)
            counts = kept.groupby("USER_ID", sort=False).size()
            per_user.append(pd.DataFrame({"USER_ID": counts.index.astype("str"), "INTERACTIONS": counts.to_numpy()}))
            event_types.update(kept["EVENT_TYPE"].value_counts().to_dict())
            firsts.append(kept.groupby("ITEM_ID", sort=False)["TIMESTAMP"].min())
            self.timings["transform"] += time.perf_counter() - started
            batch.append(_typed_interactions(kept[INTERACTION_COLUMNS]))
            batch_rows += len(kept)
            if batch_rows >= settings.validation_batch_rows:
                self._validate("interactions", pd.concat(batch, ignore_index=True))
                batch, batch_rows = [], 0
        writer.close()
        if firsts:
            first_seconds = pd.concat(firsts).groupby(level=0, sort=False).min()
            self.first_interaction = {
                str(item_id): int(seconds)
                for item_id, seconds in zip(first_seconds.index.tolist(), first_seconds.tolist(), strict=True)
            }
        interaction_items = set(self.first_interaction)
        if batch or writer.rows == 0:
            frame = pd.concat(batch, ignore_index=True) if batch else _typed_interactions(_empty_interactions())
            self._validate("interactions", frame)
        totals = (
            pd.concat(per_user, ignore_index=True)
            if per_user
            else pd.DataFrame({"USER_ID": pd.Series(dtype="str"), "INTERACTIONS": pd.Series(dtype="int64")})
        )
        self._validate("interactions_per_user", totals)
        types = pd.DataFrame(
            {
                "EVENT_TYPE": pd.Series(sorted(event_types), dtype="str"),
                "INTERACTIONS": [event_types[name] for name in sorted(event_types)],
            }
        )
        self._validate("interaction_items", interaction_items_table(interaction_items, self.catalogue.listed_ids()))
        self._validate("event_types", types)
        return {
            "rows": writer.rows,
            "users": len(totals),
            "users_with_2_or_more": int((totals["INTERACTIONS"] >= 2).sum()),
            "event_types": dict(sorted(event_types.items())),
        }

    def _timed(self, stage: str, step: Any) -> Any:
        """Runs one step of the run and keeps its wall time as ``stage_<name>`` (the per-step split of the total)."""
        started = time.perf_counter()
        try:
            return step()
        finally:
            self.timings[f"stage_{stage}"] += time.perf_counter() - started

    def _validate(self, dataset: str, frame: pd.DataFrame) -> None:
        """Hands a batch to the gate process, with the dataset's suite (as prepared when the run started)."""
        self.gate.validate(dataset, frame, self.suites[dataset])

    # --- the run -----------------------------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        settings = self.settings
        users = self._timed("members", self.members)
        users_frame = (
            pd.concat(users, ignore_index=True)
            if users
            else pd.DataFrame({name: pd.Series(dtype="str") for name in self.fields["users"]})
        )
        del users
        self._validate("users", users_frame)  # complete already: checked while the run goes on
        self._timed("products", self.products_pass)
        self.product_ids = self.catalogue.known_ids()
        self._timed("web_logs", self.web_logs_pass)
        self._timed("logins", self.logins_pass)
        self._timed("sessions", self.sessions_pass)
        self._timed("order_lines", self.order_lines_pass)
        if self.refuse_empty_window:
            self._refuse_empty_window()
        interactions = self._timed("interactions", self.interactions_out)

        items, origins = self.catalogue.items(self.fields["items"], self.first_interaction, self.bounds.window_end)
        with DatasetCsvWriter(self.staging / FILE_NAMES["items"], self.fields["items"]) as writer:
            writer.append(items)
        self._validate("items", items)
        for outcome in schema_lint_outcomes(settings):
            self.gate.record(outcome)
        self.gate.finish()  # waits for the last batches and the Data Docs
        self.timings["validate"] += self.gate.blocked_seconds
        self.timings["gx_busy"] += self.gate.busy_seconds
        self.rejects.close()
        for source, query in SOURCE_QUERIES.items():
            ensure_rejects_file(self.staging / REJECTS_DIR, source, QUERY_COLUMNS[query])

        unbalanced = self.accounting.unbalanced()
        if unbalanced:  # a bug, never data: fail loudly rather than publish
            self.gate.record(
                Outcome("report", "source_rows_balance", None, True, False, details=f"unbalanced: {unbalanced}")
            )
        gate = self.gate.result()
        return {
            "window": {
                "start": self.window.start.isoformat(),
                "end": self.window.end.isoformat(),
                "start_epoch_seconds": self.window.start_seconds,
                "end_epoch_seconds": self.window.end_seconds,
                "source_time_zone": self.window.time_zone,
            },
            "settings": settings.as_report_dict(),
            "sources": self.accounting.as_dict(),
            "datasets": {
                "interactions": {"file": FILE_NAMES["interactions"], **interactions},
                "users": {"file": FILE_NAMES["users"], "rows": len(users_frame)},
                "items": {"file": FILE_NAMES["items"], "rows": len(items), "creation_timestamp_from": origins},
            },
            "validation": gate.as_dict(),
            "published": gate.passed,
            "rejects": f"{REJECTS_DIR}/",
            "data_docs": f"{DOCS_DIR}/index.html",
        }

    def _refuse_empty_window(self) -> None:
        sources = self.accounting.sources
        if sources["order_items"].source_rows or sources["web_logs"].source_rows:
            return
        span = activity_span(self.engine, self.window.time_zone)
        where = (
            f"the data runs from {span[0]:%Y-%m-%d %H:%M} to {span[1]:%Y-%m-%d %H:%M} ({self.window.time_zone})"
            if span
            else "the database holds none at all (seed it with `pulla-personalize seed-demo-db`)"
        )
        raise EmptyWindow(
            f"the window {self.window.describe()} holds no orders or web-log rows, so it has no interactions to "
            f"export; {where}. Nothing was validated or published"
        )

    def close(self) -> None:
        self.source.close()
        self.gate.close()
        self.rejects.close()
        for buckets in (self.session_events, self.session_stats, self.session_logins, self.user_events):
            buckets.close()


def _empty_interactions() -> pd.DataFrame:
    return pd.DataFrame({name: pd.Series(dtype="str") for name in INTERACTION_COLUMNS})


def _typed_interactions(frame: pd.DataFrame) -> pd.DataFrame:
    """The interactions as GX sees them: ids and categories as text, TIMESTAMP as int64, EVENT_VALUE as float."""
    return pd.DataFrame(
        {
            "USER_ID": frame["USER_ID"].astype("str"),
            "ITEM_ID": frame["ITEM_ID"].astype("str"),
            "TIMESTAMP": _timestamps(frame["TIMESTAMP"]),
            "EVENT_TYPE": frame["EVENT_TYPE"].astype("str"),
            "EVENT_VALUE": pd.to_numeric(frame["EVENT_VALUE"], errors="coerce").astype("float64"),
            "DEVICE": frame["DEVICE"].astype("str"),
        }
    )


def _timestamps(values: pd.Series) -> pd.Series:
    # numpy int64 when no value is missing: GX checks a range on it vectorised, on Int64 it calls Python per value.
    numbers = pd.to_numeric(values, errors="coerce")
    return numbers.astype("int64") if numbers.notna().all() else numbers.astype("Int64")


def schema_lint_outcomes(settings: ExportSettings) -> list[Outcome]:
    """The schema linter's findings on the three schemas, as gate outcomes (errors block)."""
    from pulla_personalize.schema_lint import format_finding, lint_schema_file

    outcomes = []
    for dataset, file_name in FILE_NAMES.items():
        path = settings.schemas_dir / f"{dataset}.json"
        findings = lint_schema_file(
            path,
            users_metadata_limit=settings.users_metadata_limit,
            items_metadata_limit=settings.items_metadata_limit,
        )
        errors = [finding for finding in findings if finding.severity == "error"]
        outcomes.append(
            Outcome(
                dataset,
                "schema_lint",
                None,
                True,
                success=not errors,
                observed=len(findings),
                examples=[format_finding(finding) for finding in findings[:5]],
                details=f"schema {path.name} for {file_name}",
            )
        )
    return outcomes


def ensure_rejects_file(folder: Path, source: str, columns: tuple[str, ...]) -> None:
    """A header-only rejects file for a source that had no quarantined row, so every run has all four."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{source}.csv"
    if not path.exists():
        path.write_text(",".join(["reason", "column", *columns]) + "\n", encoding="utf-8")


def _publish(staging: Path, out_dir: Path, passed: bool) -> None:
    """Moves the run's files into ``out_dir``; the CSVs only when the gate passed.

    A failed run also removes dataset CSVs an earlier run left in ``out_dir``, so the folder never pairs old
    CSVs with a report that says this window failed. report.json marks a finished export: an earlier run's goes
    first and this run's comes last, so a process killed half-way through leaves a folder without a report, never
    one whose report describes other files.
    """
    (out_dir / REPORT_NAME).unlink(missing_ok=True)
    names = [REJECTS_DIR, DOCS_DIR]
    if passed:
        names += list(FILE_NAMES.values())
    else:
        for name in FILE_NAMES.values():
            (out_dir / name).unlink(missing_ok=True)
    names.append(REPORT_NAME)
    for name in names:
        source = staging / name
        if not source.exists():
            continue
        target = out_dir / name
        if target.is_dir():
            shutil.rmtree(target)
        os.replace(source, target)


def _missing_folders(out_dir: Path) -> list[Path]:
    """``out_dir`` and those of its parents that do not exist yet, deepest first: what creating it adds."""
    missing = []
    for folder in (out_dir, *out_dir.parents):
        if folder.exists():
            break
        missing.append(folder)
    return missing


def _lock_output(out_dir: Path) -> int:
    """Takes an exclusive lock on ``out_dir`` (created if missing) and returns its descriptor (closing it frees
    the lock); raises ``OutputUnavailable`` at once when another export holds it."""
    import fcntl

    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(out_dir, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as error:
        raise OutputUnavailable(f"cannot use --out {out_dir}: {error.strerror}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise OutputUnavailable(
            f"another export is writing into {out_dir}; this one wrote nothing (run it again when that one ends)"
        ) from None
    return fd


def _run_file(filename: Any, staging: Path | None, out_dir: Path) -> bool:
    """Whether an OSError's file is one the run writes: in its staging folder (or that folder itself) or in
    ``out_dir``; a configuration or schema file that cannot be read is another story."""
    if not filename:
        return False
    path = Path(filename)
    if path.parent == out_dir.parent and path.name.startswith(f".{out_dir.name}.staging-"):
        return True
    return any(base == path or base in path.parents for base in (staging, out_dir) if base is not None)


def _write_failure(error: OSError, staging: Path, out_dir: Path) -> str:
    """One line for a file of the run that could not be written: which file, why, and that nothing was published."""
    name = Path(error.filename)
    with contextlib.suppress(ValueError):
        name = name.relative_to(staging)  # the staging folder is gone by the time anyone reads this
    reason = error.strerror or errno.errorcode.get(error.errno or 0, str(error))
    return f"cannot write {name} for {out_dir}: {reason} (errno {error.errno}); nothing was published"


def export_window(
    db_url: str,
    window: Window,
    out_dir: Path,
    settings: ExportSettings | None = None,
    *,
    refuse_empty_window: bool = False,
) -> ExportResult:
    """Runs the whole export; raises ``extract.SourceUnavailable`` when the database cannot be reached, lacks the
    tables the queries read or fails during the run, ``OutputUnavailable`` when another export holds ``out_dir``
    or a file cannot be written, and with ``refuse_empty_window`` ``EmptyWindow`` when the window holds no order
    line and no web-log row (before the gate's verdict, which would only say "observed 0"). On any failure
    ``out_dir`` is left as it was (folders this call created are removed again)."""
    settings = settings or ExportSettings()
    out_dir = Path(out_dir).resolve()
    engine = make_engine(db_url)
    check_sqlite_file(engine)  # before --out is made: a run refused here leaves nothing behind
    created = _missing_folders(out_dir)
    lock = _lock_output(out_dir)
    started = time.perf_counter()
    run: _ExportRun | None = None
    staging: Path | None = None
    moved_in = False  # the run's files are in out_dir
    try:
        staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.staging-", dir=out_dir.parent))
        check_connection(engine)
        check_source_tables(engine, [query for lane in QUERY_LANES for query in lane])
        run = _ExportRun(engine, window, settings, staging, refuse_empty_window)
        report = run.run()
        run.close()
        with naming_file(staging / REPORT_NAME):
            (staging / REPORT_NAME).write_text(
                json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
            )
        _publish(staging, out_dir, report["published"])
        moved_in = True
        timings = {name: round(value, 3) for name, value in run.timings.items()}
        timings["total"] = round(time.perf_counter() - started, 3)
        return ExportResult(report["published"], report, out_dir, timings)
    except OSError as error:
        if not _run_file(error.filename, staging, out_dir):  # not a file of the run's: not ours to explain
            raise
        raise OutputUnavailable(_write_failure(error, staging or out_dir.parent, out_dir)) from None
    finally:
        try:
            if run is not None:
                # Stops the COPY and GX children whether or not the run got through. An abandoned run's files
                # go with the staging folder, so an error closing them (a full disk) is not the one to report.
                with contextlib.suppress(OSError):
                    run.close()
        finally:
            if staging is not None:
                shutil.rmtree(staging, ignore_errors=True)
            if not moved_in:
                for folder in created:  # deepest first; rmdir only removes an empty one: never what others put there
                    with contextlib.suppress(OSError):
                        folder.rmdir()
            os.close(lock)
            engine.dispose()


def summary_lines(report: dict[str, Any]) -> list[str]:
    """The human summary printed after an export or a validate run."""
    lines = []
    window = report.get("window")
    if window:
        # As the user typed it (source-local), then the UTC bounds the CSVs' TIMESTAMPs are checked against.
        local = Window(
            datetime.fromisoformat(window["start"]), datetime.fromisoformat(window["end"]), window["source_time_zone"]
        )
        lines.append(f"window {local.describe()} = {window['start']} .. {window['end']}")
    for source, account in report.get("sources", {}).items():
        excluded = ", ".join(f"{rule} {count}" for rule, count in account["excluded"].items()) or "none"
        quarantined = ", ".join(f"{reason} {count}" for reason, count in account["quarantined"].items()) or "none"
        lines.append(
            f"{source:<12} {account['source_rows']:>9} rows: exported {account['exported']}; "
            f"excluded {excluded}; quarantined {quarantined}"
        )
    datasets = report.get("datasets", {})
    if datasets:
        lines.append("datasets     " + ", ".join(f"{name} {info['rows']} rows" for name, info in datasets.items()))
    validation = report.get("validation", {})
    outcomes = [Outcome(**item) for item in validation.get("expectations", [])]
    lines += GateResult(outcomes).summary_lines()
    return lines
