"""The PostgreSQL fast path on the real server: COPY in child processes (one per lane) gives the same values as
the portable path, reads lanes side by side from one snapshot, names the failing query, and stops its children
when abandoned."""

from __future__ import annotations

import logging
import signal
import time
from collections.abc import Callable

import pandas as pd
import pytest
import sqlalchemy as sa

from pulla_personalize import transform
from pulla_personalize.extract import QueryStream, SourceUnavailable, _portable_chunks, iter_query, make_engine

HOSTILE = [
    (1, "풀라 👙", None),
    (2, "", 5),
    (3, "\\N", -7),
    (4, 'comma, "quote" |pipe', 0),
    (5, "line\nbreak\r\nand CR", 9007199254740993),
    (6, None, None),
]
QUERY = sa.text("SELECT id, name, amount FROM hostile WHERE id >= :start AND id < :end ORDER BY id")


@pytest.fixture
def postgres(make_database: Callable[[str], str]) -> sa.Engine:
    engine = make_engine(make_database("postgresql"))
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE hostile (id BIGINT PRIMARY KEY, name TEXT, amount BIGINT)")
        connection.execute(
            sa.text("INSERT INTO hostile VALUES (:id, :name, :amount)"),
            [{"id": i, "name": n, "amount": a} for i, n, a in HOSTILE],
        )
        connection.exec_driver_sql("CREATE TABLE numbers AS SELECT generate_series(1, 2500) AS n")
    yield engine
    engine.dispose()


def as_text_frame(chunks: list[pd.DataFrame]) -> list[list[object]]:
    frame = pd.concat(chunks, ignore_index=True)
    columns = [transform.as_text(frame[name]).astype(object) for name in frame.columns]
    return [[None if pd.isna(value) else value for value in row] for row in zip(*columns, strict=True)]


def test_copy_path_gives_the_values_of_the_portable_path(postgres: sa.Engine) -> None:
    params = {"start": 1, "end": 100}
    fast = list(iter_query(postgres, QUERY, params, chunk_rows=4, label="hostile.sql"))
    assert [len(chunk) for chunk in fast] == [4, 2]
    assert all(str(chunk[name].dtype) == "str" for chunk in fast for name in chunk.columns)
    portable = list(_portable_chunks(postgres, QUERY, params, 4))
    assert as_text_frame(fast) == as_text_frame(portable)
    names = pd.concat(fast, ignore_index=True)["name"]
    # NULL stays NULL; an empty string and the text "\N" stay text (as_text later turns "" into NULL).
    assert names.isna().tolist() == [False, False, False, False, False, True]
    assert names[1] == ""
    assert names[2] == "\\N"


def test_lanes_are_read_side_by_side_in_their_own_order(postgres: sa.Engine) -> None:
    numbers = sa.text("SELECT n FROM numbers WHERE n >= :start AND n < :end ORDER BY n")
    stream = QueryStream(
        postgres,
        [
            [("first", numbers, {"start": 1, "end": 1001}), ("second", QUERY, {"start": 1, "end": 4})],
            [("other", numbers, {"start": 2001, "end": 2501})],
        ],
        chunk_rows=300,
    )
    try:
        other = list(stream.chunks("other"))  # the second lane first: it does not wait for the first
        first = list(stream.chunks("first"))
        with pytest.raises(ValueError, match="request 1 comes next"):
            list(stream._prefetches[1].chunks(0))
        second = list(stream.chunks("second"))
    finally:
        stream.close()
    assert [len(chunk) for chunk in first] == [300, 300, 300, 100]
    assert pd.concat(first)["n"].astype(int).tolist() == list(range(1, 1001))
    assert pd.concat(other)["n"].astype(int).tolist() == list(range(2001, 2501))
    assert pd.concat(second)["id"].tolist() == ["1", "2", "3"]


def test_a_failing_query_is_named_even_when_another_is_being_read(postgres: sa.Engine) -> None:
    broken = sa.text("SELECT id FROM no_such_table WHERE id >= :start AND id < :end")
    stream = QueryStream(
        postgres, [[("hostile.sql", QUERY, {"start": 1, "end": 9}), ("broken.sql", broken, {"start": 1, "end": 2})]], 2
    )
    try:
        assert sum(len(chunk) for chunk in stream.chunks("hostile.sql")) == len(HOSTILE)
        with pytest.raises(
            SourceUnavailable, match=r'broken\.sql failed on postgresql: .*"no_such_table" does not exist'
        ):
            list(stream.chunks("broken.sql"))
    finally:
        stream.close()


#: More rows than the pipe and the reader's read-ahead hold at 200k rows a chunk: a lane that is not read blocks.
BLOCKING = sa.text("SELECT n FROM generate_series(1, 3000000) AS n WHERE n >= :start AND n < :end ORDER BY n")
BLOCKING_PARAMS = {"start": 1, "end": 3000001}


def test_abandoning_a_stream_stops_its_child(postgres: sa.Engine) -> None:
    stream = QueryStream(postgres, [[("numbers", BLOCKING, BLOCKING_PARAMS)]], chunk_rows=200_000)
    chunks = stream.chunks("numbers")
    assert len(next(chunks)) == 200_000
    child = stream._prefetches[0]._child
    assert child.poll() is None  # still running: blocked on the pipe, with most rows unread
    stream.close()
    assert child.returncode == -signal.SIGTERM
    # Nothing of the abandoned COPY is left on the server: its backend ends once it sees the connection gone.
    active = -1
    deadline = time.monotonic() + 10
    while active != 0 and time.monotonic() < deadline:
        with postgres.connect() as connection:
            active = connection.execute(
                sa.text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'COPY%'"
                )
            ).scalar_one()
        time.sleep(0.1)
    assert active == 0


def test_every_lane_reads_the_snapshot_taken_when_the_stream_opened(postgres: sa.Engine) -> None:
    stream = QueryStream(
        postgres,
        [
            [("first.sql", QUERY, {"start": 1, "end": 100})],
            # The lane's reader blocks on its pipe until "numbers" is read, so "later" runs after the insert below.
            [("numbers", BLOCKING, BLOCKING_PARAMS), ("later.sql", QUERY, {"start": 1, "end": 100})],
        ],
        chunk_rows=200_000,
    )
    try:
        next(stream.chunks("numbers"))  # the second lane has begun: its later query has not
        with postgres.begin() as connection:  # another session commits a row after the export began
            connection.execute(sa.text("INSERT INTO hostile VALUES (7, 'late', 1)"))
        first = pd.concat(list(stream.chunks("first.sql")))
        assert sum(len(chunk) for chunk in stream.chunks("numbers")) == 3_000_000 - 200_000
        later = pd.concat(list(stream.chunks("later.sql")))
    finally:
        stream.close()
    assert first["id"].tolist() == later["id"].tolist() == ["1", "2", "3", "4", "5", "6"]
    # The transaction that kept the snapshot importable is gone with the stream.
    with postgres.connect() as connection:
        holding = connection.execute(
            sa.text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND state LIKE 'idle in transaction%' AND pid <> pg_backend_pid()"
            )
        ).scalar_one()
    assert holding == 0


def test_the_fast_path_writes_nothing_so_it_reads_a_read_only_replica(make_database: Callable[[str], str]) -> None:
    """A hot standby refuses every write, a temporary table included: the window values travel as settings and
    the snapshot transactions are read-only, so the COPY path runs on a connection that may not write at all."""
    url = sa.make_url(make_database("postgresql"))
    with make_engine(url.render_as_string(hide_password=False)).begin() as connection:
        connection.exec_driver_sql("CREATE TABLE hostile (id BIGINT PRIMARY KEY, name TEXT, amount BIGINT)")
        connection.exec_driver_sql("INSERT INTO hostile VALUES (1, 'a', 1), (2, 'b', 2), (3, 'c', 3)")
    read_only = make_engine(
        url.update_query_dict({"options": "-c default_transaction_read_only=on"}).render_as_string(hide_password=False)
    )
    try:
        with read_only.connect() as connection, pytest.raises(sa.exc.DBAPIError, match="read-only transaction"):
            connection.exec_driver_sql("CREATE TEMPORARY TABLE probe (x int)")  # the setting holds
        chunks = list(iter_query(read_only, QUERY, {"start": 2, "end": 9}, chunk_rows=10, label="hostile.sql"))
    finally:
        read_only.dispose()
    assert pd.concat(chunks)["id"].tolist() == ["2", "3"]


def test_a_snapshot_transaction_the_server_ended_does_not_fail_a_finished_stream(
    make_database: Callable[[str], str], caplog: pytest.LogCaptureFixture
) -> None:
    """The held transaction is only needed until the lanes have imported its snapshot: a server that ends it as
    idle later (idle_in_transaction_session_timeout, a proxy) must not turn a stream that has read everything
    into a failure."""
    url = sa.make_url(make_database("postgresql"))
    impatient = make_engine(
        url.update_query_dict({"options": "-c idle_in_transaction_session_timeout=2000"}).render_as_string(
            hide_password=False
        )
    )
    numbers = sa.text("SELECT n FROM generate_series(1, 50) AS n WHERE n >= :start AND n < :end ORDER BY n")
    stream = QueryStream(impatient, [[("numbers", numbers, {"start": 1, "end": 51})]], chunk_rows=10)
    try:
        assert sum(len(chunk) for chunk in stream.chunks("numbers")) == 50
        time.sleep(3.0)  # the server ends the idle snapshot transaction (2 s: the lanes import it well before)
        with caplog.at_level(logging.WARNING, logger="pulla_personalize.extract"):
            stream.close()
    finally:
        stream.close()
        impatient.dispose()
    assert "the snapshot's transaction had already ended" in caplog.text


def test_a_snapshot_the_lanes_cannot_import_is_reported_as_such(
    postgres: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(QueryStream, "_export_snapshot", lambda self: "00000009-0000FFFF-1")  # no such snapshot
    stream = QueryStream(postgres, [[("hostile.sql", QUERY, {"start": 1, "end": 9})]], chunk_rows=10)
    try:
        with pytest.raises(
            SourceUnavailable, match=r"the COPY connection for hostile\.sql failed on postgresql: .*snapshot"
        ):
            list(stream.chunks("hostile.sql"))
    finally:
        stream.close()
