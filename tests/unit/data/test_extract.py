"""Extraction: the window, the COPY statement for PostgreSQL, and the portable streaming path on SQLite."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from pulla_personalize.copy_reader import setting_text
from pulla_personalize.extract import (
    QUERY_COLUMNS,
    SourceUnavailable,
    Window,
    check_connection,
    copy_request,
    copy_statement,
    iter_query,
    make_engine,
)
from pulla_personalize.queries import QUERY_NAMES, load_query, query_columns


def test_window_without_offset_is_source_local_time() -> None:
    window = Window.parse("2026-01-01", "2026-01-02T00:00:00")
    assert window.start == datetime(2025, 12, 31, 15, tzinfo=UTC)
    assert window.start_seconds == 1767193200
    assert window.params("web_logs") == {"start": 1767193200000, "end": 1767279600000}
    assert window.params("order_lines") == {"start": datetime(2026, 1, 1), "end": datetime(2026, 1, 2)}
    assert window.end_date_local() == date(2026, 1, 1)


def test_window_with_offset_and_errors() -> None:
    assert Window.parse("2026-01-01T00:00:00Z", "2026-01-02T00:00:00+00:00").start_seconds == 1767225600
    with pytest.raises(ValueError, match="--start 2026-01-02 is not before --end 2026-01-01"):
        Window.parse("2026-01-02", "2026-01-01")
    with pytest.raises(ValueError, match="--start 'yesterday' is not an ISO 8601"):
        Window.parse("yesterday", "2026-01-01")


def test_the_queries_keep_the_column_contract_the_transforms_use() -> None:
    for name in QUERY_NAMES:
        assert tuple(column for column, _, _ in query_columns(name)) == QUERY_COLUMNS[name], name


def test_copy_statement_reads_bound_values_from_session_settings() -> None:
    # As in SQLAlchemy's text(), "::" is a cast and "\\:" an escaped colon, not placeholders.
    query = sa.text("SELECT a::bigint, '\\:start' AS s FROM t WHERE x >= :start AND y < :end AND z = :start -- end")
    statement, names = copy_statement(query, {"start": "bigint", "end": "timestamp"})
    assert names == ["start", "end"]
    start = "(SELECT current_setting('pulla.start')::bigint)"
    end = "(SELECT current_setting('pulla.end')::timestamp)"
    assert statement == (
        f"COPY (\nSELECT a::bigint, ':start' AS s FROM t WHERE x >= {start} AND y < {end} AND z = {start}"
        " -- end\n) TO STDOUT (FORMAT csv, HEADER true, NULL '\\N')"
    )


def test_window_values_become_settings_text_that_casts_back() -> None:
    request = copy_request(
        sa.text("SELECT 1 WHERE a >= :start AND a < :end"),
        {"start": datetime(2026, 1, 2, 3, 4, 5), "end": 1767225600000, "unused": True},
        10,
    )
    assert [name for name, _ in request.params] == ["start", "end"]
    assert "(SELECT current_setting('pulla.start')::timestamp)" in request.statement
    assert "(SELECT current_setting('pulla.end')::bigint)" in request.statement
    assert [setting_text(value) for _, value in request.params] == ["2026-01-02T03:04:05", "1767225600000"]
    assert (setting_text(True), setting_text(date(2026, 1, 2))) == ("true", "2026-01-02")


def test_copy_statement_of_every_query_has_no_placeholder_left() -> None:
    for name in QUERY_NAMES:
        request = copy_request(load_query(name), Window.parse("2026-01-01", "2026-01-02").params(name), 10)
        assert ":start" not in request.statement
        assert ":end" not in request.statement
        assert "end" in [param_name for param_name, _ in request.params], name


def test_portable_path_streams_in_chunks_and_keeps_bad_bytes(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'src.db'}")
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE t (id INTEGER, name TEXT)")
        connection.exec_driver_sql("INSERT INTO t VALUES (1, '풀라'), (2, CAST(x'41ff' AS TEXT)), (3, NULL)")
        for number in range(4, 11):
            connection.execute(sa.text("INSERT INTO t VALUES (:id, 'x')"), {"id": number})
    query = sa.text("SELECT id, name FROM t WHERE id >= :start AND id < :end ORDER BY id")
    chunks = list(iter_query(engine, query, {"start": 1, "end": 10, "unused": 0}, chunk_rows=4))
    assert [len(chunk) for chunk in chunks] == [4, 4, 1]
    assert list(chunks[0].columns) == ["id", "name"]
    assert chunks[0]["name"].tolist() == ["풀라", "A\udcff", None, "x"]
    engine.dispose()


def test_unreachable_database_is_one_clear_error(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'missing' / 'x.db'}")
    with pytest.raises(SourceUnavailable, match=r"cannot reach database sqlite:///.*unable to open database file"):
        check_connection(engine)
    with pytest.raises(SourceUnavailable, match="cannot use database URL"):
        make_engine("nosuchdb://host/x")
