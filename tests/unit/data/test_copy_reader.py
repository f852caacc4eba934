"""COPY output parsed by Arrow (chunk boundaries, NULL versus empty text, quoting, line breaks in values), and the
pipe between the COPY process and the export (whole frames over partial reads)."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pyarrow as pa

from pulla_personalize.child_process import read_exactly, widen_pipe, write_all
from pulla_personalize.copy_reader import arrow_chunks


def rows(*lines: str) -> list[bytes]:
    """COPY's CSV output as psycopg hands it over: one item per row, the header first."""
    return [line.encode("utf-8") for line in lines]


def test_chunks_have_exactly_chunk_rows_rows_and_every_column_is_text() -> None:
    data = rows("id,name\n", *(f"{number},n{number}\n" for number in range(5)))
    chunks = list(arrow_chunks(iter(data), 2))
    assert [chunk.num_rows for chunk in chunks] == [2, 2, 1]
    assert chunks[0].schema == pa.schema([("id", pa.string()), ("name", pa.string())])
    assert [value for chunk in chunks for value in chunk.column("id").to_pylist()] == ["0", "1", "2", "3", "4"]


def test_null_empty_and_hostile_values_keep_their_meaning() -> None:
    data = rows(
        "id,value\n",
        "1,\\N\n",  # NULL
        '2,""\n',  # empty text, not NULL
        '3,"\\N"\n',  # the two characters backslash-N, quoted by COPY because they equal the NULL marker
        '4,"line one\nline two"\n',  # a line break inside a value: still one row
        '5,"a, ""quoted"" 풀라 👙 |"\n',
    )
    (chunk,) = list(arrow_chunks(iter(data), 10))
    assert chunk.column("value").to_pylist() == [None, "", "\\N", "line one\nline two", 'a, "quoted" 풀라 👙 |']


def test_a_row_with_a_line_break_never_splits_across_chunks() -> None:
    data = rows("id,value\n", '1,"x\ny"\n', '2,"p\r\nq"\n', "3,z\n")
    chunks = list(arrow_chunks(iter(data), 1))
    assert [chunk.column("value").to_pylist() for chunk in chunks] == [["x\ny"], ["p\r\nq"], ["z"]]


def test_no_rows_gives_no_chunk_and_memoryviews_are_read_like_bytes() -> None:
    assert list(arrow_chunks(iter([]), 5)) == []
    assert list(arrow_chunks(iter(rows("id\n")), 5)) == []
    data = [memoryview(row) for row in rows("id\n", "7\n")]
    (chunk,) = list(arrow_chunks(iter(data), 5))
    assert chunk.column("id").to_pylist() == ["7"]


def test_frames_cross_a_pipe_whole_however_the_reads_split_them() -> None:
    payload = bytes(range(256)) * 20_000  # 5 MB: many times a pipe's buffer
    reader, writer = os.pipe()

    def send() -> None:
        write_all(writer, payload[:3])
        time.sleep(0.05)  # the reader sees a short read first
        write_all(writer, memoryview(payload)[3:])
        os.close(writer)

    sender = threading.Thread(target=send)
    sender.start()
    try:
        assert read_exactly(reader, 10) == payload[:10]
        assert read_exactly(reader, len(payload) - 10) == payload[10:]
        assert read_exactly(reader, 0) == b""
        assert read_exactly(reader, 1) is None  # end of file
    finally:
        sender.join()
        os.close(reader)


def test_the_pipe_from_the_copy_process_gets_a_wider_buffer() -> None:
    import fcntl  # Linux, where the project runs (elsewhere _widen_pipe leaves the pipe as it is)

    reader, writer = os.pipe()
    try:
        before = fcntl.fcntl(reader, fcntl.F_GETPIPE_SZ)
        widen_pipe(reader)
        allowed = int(Path("/proc/sys/fs/pipe-max-size").read_text(encoding="ascii"))
        assert fcntl.fcntl(reader, fcntl.F_GETPIPE_SZ) == max(before, min(1 << 20, allowed))
    finally:
        os.close(reader)
        os.close(writer)
