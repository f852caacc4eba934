"""PostgreSQL's fast path: ``COPY (query) TO STDOUT`` parsed by Arrow, in a child process beside the export.

Reading COPY through psycopg costs Python work per row (one COPY message per row) and that is most of the
extraction's time. Done in a child process it runs on its own core while the export transforms the chunk before;
the chunks travel as Arrow IPC buffers, which cost a copy of bytes and no work per value.

This module imports only psycopg and pyarrow, so the spawned child starts in a fraction of a second. The window
values are bound into a one-row temporary table (COPY takes no bind parameters); the statement itself comes from
``extract.copy_statement``. No value is ever formatted into SQL text.
"""

from __future__ import annotations

import csv
import itertools
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

PARAM_TABLE = "pulla_window_params"
_POLL_SECONDS = 0.5


@dataclass(frozen=True)
class CopyRequest:
    """One COPY to run: the statement, its window values (name, PostgreSQL type, value) and the chunk size."""

    statement: str
    params: Sequence[tuple[str, str, Any]]
    chunk_rows: int


class CopyFailed(Exception):
    """The database refused a COPY (or the connection broke): which request, and the driver's first line."""

    def __init__(self, index: int, reason: str) -> None:
        super().__init__(reason)
        self.index = index
        self.reason = reason


@contextmanager
def open_copy(connection: Any, request: CopyRequest) -> Iterator[Any]:
    """A psycopg ``Copy`` of the request's statement, its window values read from a temporary table.

    The temporary table is dropped when the caller's transaction ends.
    """
    with connection.cursor() as cursor:
        if request.params:
            columns = ", ".join(f"p_{name} {pg_type}" for name, pg_type, _ in request.params)
            cursor.execute(f"CREATE TEMPORARY TABLE {PARAM_TABLE} ({columns}) ON COMMIT DROP")
            placeholders = ", ".join(["%s"] * len(request.params))
            cursor.execute(f"INSERT INTO {PARAM_TABLE} VALUES ({placeholders})", [v for _, _, v in request.params])
        with cursor.copy(request.statement) as copy:
            yield copy


def arrow_chunks(rows: Iterator[Any], chunk_rows: int) -> Iterator[Any]:
    """``pyarrow.Table`` chunks of ``chunk_rows`` rows (the last may be shorter), every column as text.

    ``rows`` is COPY's CSV output, one row per item, the header first. PostgreSQL sends one COPY message per row,
    so joining ``chunk_rows`` messages gives a chunk that ends on a row boundary even when a quoted value holds a
    line break. Unquoted ``\\N`` is NULL; a quoted ``"\\N"`` and ``""`` stay text, as COPY means them.
    """
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    header = next(rows, None)
    if header is None:
        return
    names = next(csv.reader([bytes(header).decode("utf-8")]))
    parse = pa_csv.ParseOptions(newlines_in_values=True)
    convert = pa_csv.ConvertOptions(
        column_types=dict.fromkeys(names, pa.string()),
        null_values=["\\N"],
        strings_can_be_null=True,
        quoted_strings_can_be_null=False,
    )
    while True:
        data = bytearray()
        for row in itertools.islice(rows, chunk_rows):
            data += row  # appending to one buffer beats keeping psycopg's per-row buffers alive for a join
        if not data:
            return
        # One parser block for the whole chunk: a block must hold whole rows, and this one holds them all.
        read = pa_csv.ReadOptions(column_names=names, use_threads=False, block_size=len(data) + 1)
        yield pa_csv.read_csv(pa.py_buffer(data), read_options=read, parse_options=parse, convert_options=convert)


def first_line(error: BaseException) -> str:
    """An error's first line, for a one-line message (its type when it has no text)."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def ipc_bytes(table: Any) -> Any:
    """A table as one Arrow IPC stream (schema, then its batches)."""
    import pyarrow as pa

    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


def _worker(connect: tuple[tuple[Any, ...], dict[str, Any]], requests: list[CopyRequest], replies: Any) -> None:
    """The child: runs the requests in order on one connection, sending ("chunk", index, Arrow IPC bytes) per
    chunk and ("done", index) after each request, or ("error", index, why) and stopping."""
    index = 0
    try:
        import psycopg

        args, kwargs = connect
        with psycopg.connect(*args, **kwargs) as connection:
            for index, request in enumerate(requests):
                with open_copy(connection, request) as copy:
                    for table in arrow_chunks(iter(copy), request.chunk_rows):
                        replies.put(("chunk", index, ipc_bytes(table)))
                connection.rollback()  # drops the parameter table
                replies.put(("done", index))
    except BaseException as error:  # everything is reported: the parent must never wait for a dead child
        replies.put(("error", index, first_line(error)))


class CopyPrefetch:
    """Runs COPY requests one after the other in a spawned child that reads ahead of the caller.

    One child and one connection serve the whole list, so a query's first rows are ready when the caller gets
    to it. ``chunks(i)`` yields request ``i``'s chunks as ``pyarrow.Table``; requests are consumed in order. At
    most two parsed chunks wait in the pipe, so memory stays bounded. ``CopyFailed(index, reason)`` reports an
    error of the database or a child that died. ``close`` stops the child (call it when done or abandoning).
    """

    def __init__(self, connect: tuple[tuple[Any, ...], dict[str, Any]], requests: list[CopyRequest]) -> None:
        import multiprocessing

        # "spawn": a clean interpreter that inherits no connection or thread of the export process.
        context = multiprocessing.get_context("spawn")
        self._replies = context.Queue(maxsize=2)
        self._child = context.Process(
            target=_worker, args=(connect, list(requests), self._replies), name="pulla-copy", daemon=True
        )
        self._child.start()
        self._next = 0

    def chunks(self, index: int) -> Iterator[Any]:
        import queue

        import pyarrow as pa

        if index != self._next:
            raise ValueError(f"COPY request {index} asked for, request {self._next} comes next")
        while True:
            try:
                message = self._replies.get(timeout=_POLL_SECONDS)
            except queue.Empty:
                if not self._child.is_alive():
                    exit_code = self._child.exitcode
                    raise CopyFailed(index, f"the COPY process stopped with exit code {exit_code}") from None
                continue
            kind, position = message[0], message[1]
            if kind == "error":
                raise CopyFailed(position, message[2])
            if kind == "done":
                self._next = index + 1
                return
            yield pa.ipc.open_stream(message[2]).read_all()

    def close(self) -> None:
        if self._child.is_alive():
            self._child.terminate()
        self._child.join()
        self._replies.close()
