"""PostgreSQL's fast path: ``COPY (query) TO STDOUT`` parsed by Arrow, in a child process beside the export.

Reading COPY through psycopg costs Python work per row (one COPY message per row) and that is most of the
extraction's time. Done in a child process it runs on its own core while the export transforms the chunk before;
the chunks travel through a pipe as Arrow IPC streams, which cost a copy of bytes and no work per value.

This module imports only psycopg and pyarrow (and is the child: a plain interpreter running ``main``), so the
child starts in a fraction of a second. COPY takes no bind parameters, so the window values are bound into
transaction-local settings that the statement (``extract.copy_statement``) reads back. No value is ever formatted
into SQL text.
"""

from __future__ import annotations

import csv
import itertools
import os
import pickle
import queue
import struct
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from pulla_personalize import child_process
from pulla_personalize.child_process import read_exactly, widen_pipe, write_all

#: Window values travel as session settings named ``pulla.<placeholder>`` (a custom setting needs a dotted name).
SETTING_PREFIX = "pulla."
#: Parsed chunks that may wait for the pipe in the child (memory stays bounded, the reader stays ahead).
_READ_AHEAD = 2
#: One message from the child: kind, request index, payload length; then the payload.
_FRAME = struct.Struct("<ciQ")
_CHUNK, _DONE, _ERROR = b"C", b"D", b"E"


@dataclass(frozen=True)
class CopyRequest:
    """One COPY to run: the statement (which casts each value back to its type), its window values (name,
    value) and the chunk size."""

    statement: str
    params: Sequence[tuple[str, Any]]
    chunk_rows: int


class CopyFailed(Exception):
    """The database refused a COPY (or the connection broke): which request, and the driver's first line."""

    def __init__(self, index: int, reason: str) -> None:
        super().__init__(reason)
        self.index = index
        self.reason = reason


@contextmanager
def open_copy(connection: Any, request: CopyRequest) -> Iterator[Any]:
    """A psycopg ``Copy`` of the request's statement, its window values set as transaction-local settings.

    Each value is bound (``set_config(name, value, true)``, never formatted into SQL) and the statement reads it
    back with ``current_setting``. Nothing is written, so this works in a read-only transaction and on a hot
    standby, where even a temporary table cannot be created. The settings end with the caller's transaction.
    """
    with connection.cursor() as cursor:
        if request.params:
            calls = ", ".join(["set_config(%s, %s, true)"] * len(request.params))
            values = [item for name, value in request.params for item in (SETTING_PREFIX + name, setting_text(value))]
            cursor.execute(f"SELECT {calls}", values)
        with cursor.copy(request.statement) as copy:
            yield copy


def setting_text(value: Any) -> str:
    """A window value as the text ``current_setting`` returns and the statement casts back to its type."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


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


def serve(job: Any, out_fd: int) -> None:
    """The child's work: runs the job's requests in order on one connection and writes framed messages to
    ``out_fd``: a chunk (Arrow IPC stream) per chunk, "done" after each request, or "error" and stop.

    ``job`` is ((connect args, connect kwargs), [CopyRequest, ...], snapshot id or None). With a snapshot (see
    ``QueryStream``) every request reads that one snapshot, in one read-only REPEATABLE READ transaction, each in
    a savepoint that resets its window settings. A writer thread sends while the next chunk is read and parsed; at
    most ``_READ_AHEAD`` parsed chunks wait for it, so memory stays bounded. If the parent goes away, the write
    fails and the child exits at once.
    """
    import psycopg
    from psycopg import sql

    outbox: queue.Queue[tuple[bytes, int, Any] | None] = queue.Queue(maxsize=_READ_AHEAD)

    def send() -> None:
        try:
            while (message := outbox.get()) is not None:
                kind, index, payload = message
                write_all(out_fd, _FRAME.pack(kind, index, len(payload)))
                write_all(out_fd, payload)
        except BaseException:  # the parent is gone (or stopped reading for good): nothing left to serve
            os._exit(1)

    writer = threading.Thread(target=send, name="pulla-copy-writer", daemon=True)
    writer.start()
    (args, kwargs), requests, snapshot = job
    index = -1  # until the first request starts: a failure to connect or to import the snapshot
    try:
        with psycopg.connect(*args, **kwargs) as connection:
            if snapshot is not None:
                connection.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
                connection.read_only = True  # as the exporting transaction is
                # SET TRANSACTION takes no bind parameter; the id is the server's own, quoted as a literal.
                connection.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(sql.Literal(snapshot)))
            for index, request in enumerate(requests):
                # A savepoint inside the snapshot's transaction (a transaction of its own without one): leaving
                # it rolls back, which resets the window settings.
                with connection.transaction(force_rollback=True), open_copy(connection, request) as copy:
                    for table in arrow_chunks(iter(copy), request.chunk_rows):
                        outbox.put((_CHUNK, index, ipc_bytes(table)))
                outbox.put((_DONE, index, b""))
    except BaseException as error:  # everything is reported: the parent must never wait for a dead child
        outbox.put((_ERROR, index, first_line(error).encode("utf-8", "replace")))
    outbox.put(None)
    writer.join()


class CopyPrefetch:
    """Runs COPY requests one after the other in a child process that reads ahead of the caller.

    The child is a plain interpreter running ``copy_reader.main`` (``child_process.start``) that imports only
    psycopg and pyarrow. It gets its job on stdin (so no
    password is on a command line) and sends framed Arrow IPC chunks on stdout. One child and one connection
    serve the whole list, so a query's first rows are ready when the caller gets to it; given a ``snapshot``
    (exported by ``extract.QueryStream``), they all read that snapshot. ``chunks(i)`` yields
    request ``i``'s chunks as ``pyarrow.Table``; requests are consumed in order. ``CopyFailed(index, reason)``
    reports an error of the database or a child that died. ``close`` stops the child (call it when done or
    abandoning).
    """

    def __init__(
        self,
        connect: tuple[tuple[Any, ...], dict[str, Any]],
        requests: list[CopyRequest],
        snapshot: str | None = None,
    ) -> None:
        # Our own data to our own child, over a pipe only the two of us hold.
        job = pickle.dumps((connect, list(requests), snapshot), protocol=pickle.HIGHEST_PROTOCOL)
        self._child = child_process.start(__name__)
        self._next = 0
        try:
            assert self._child.stdin is not None
            assert self._child.stdout is not None
            widen_pipe(self._child.stdout.fileno())
            write_all(self._child.stdin.fileno(), job)
        except BrokenPipeError:
            pass  # the child died at start; chunks() reports its exit code
        except BaseException:
            self.close()
            raise
        finally:
            if self._child.stdin is not None:
                self._child.stdin.close()

    def chunks(self, index: int) -> Iterator[Any]:
        import pyarrow as pa

        if index != self._next:
            raise ValueError(f"COPY request {index} asked for, request {self._next} comes next")
        assert self._child.stdout is not None
        stdout = self._child.stdout.fileno()
        while True:
            header = read_exactly(stdout, _FRAME.size)
            if header is None:
                raise self._stopped(index)
            kind, position, length = _FRAME.unpack(header)
            payload = read_exactly(stdout, length)
            if payload is None:
                raise self._stopped(index)
            if kind == _ERROR:
                raise CopyFailed(position, payload.decode("utf-8", "replace"))
            if kind == _DONE:
                self._next = index + 1
                return
            yield pa.ipc.open_stream(pa.py_buffer(payload)).read_all()

    def _stopped(self, index: int) -> CopyFailed:
        return CopyFailed(index, f"the COPY process stopped with exit code {self._child.wait()}")

    def close(self) -> None:
        child_process.stop(self._child)


def main() -> None:
    """The child's entry point: the job from stdin, frames to a private copy of stdout; fd 1 itself then points
    at stderr, so a stray print of any library cannot corrupt the frames."""
    frames = child_process.private_stdout()
    serve(pickle.load(sys.stdin.buffer), frames)


if __name__ == "__main__":
    main()
