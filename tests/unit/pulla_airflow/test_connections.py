"""The Pulla database's Airflow connection becomes the SQLAlchemy URL the export takes."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from airflow.sdk import Connection

from pulla_airflow.connections import sqlalchemy_url


def test_postgres_uses_psycopg_and_escapes_the_password() -> None:
    connection = Connection(
        conn_id="pulla_db",
        conn_type="postgres",
        host="db.pulla.internal",
        login="pulla_reader",
        password="p@ss/w:rd%",
        port=5433,
        schema="pulla",
    )
    url = sqlalchemy_url(connection)
    assert url.startswith("postgresql+psycopg://pulla_reader:")
    parsed = sa.make_url(url)
    assert (parsed.drivername, parsed.username, parsed.password) == ("postgresql+psycopg", "pulla_reader", "p@ss/w:rd%")
    assert (parsed.host, parsed.port, parsed.database) == ("db.pulla.internal", 5433, "pulla")


@pytest.mark.parametrize(
    ("conn_type", "driver"),
    [("postgresql", "postgresql+psycopg"), ("mysql", "mysql+pymysql"), ("MariaDB", "mysql+pymysql")],
)
def test_driver_per_type(conn_type: str, driver: str) -> None:
    connection = Connection(conn_id="pulla_db", conn_type=conn_type, host="h", schema="pulla")
    assert sqlalchemy_url(connection) == f"{driver}://h/pulla"


def test_empty_parts_are_left_out() -> None:
    connection = Connection(conn_id="pulla_db", conn_type="mysql", host="", login="", password="", schema="pulla")
    assert sqlalchemy_url(connection) == "mysql+pymysql:///pulla"


def test_sqlite_from_an_airflow_uri_opens_the_file(tmp_path: Path) -> None:
    database = tmp_path / "pulla.db"
    sa.create_engine(f"sqlite:///{database}").dispose()
    with sa.create_engine(f"sqlite:///{database}").begin() as setup:
        setup.exec_driver_sql("CREATE TABLE members (id INTEGER)")
        setup.exec_driver_sql("INSERT INTO members VALUES (7)")
    connection = Connection.from_uri(f"sqlite:///{database}", conn_id="pulla_db")
    url = sqlalchemy_url(connection)
    assert url == f"sqlite:///{database}"
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT id FROM members").scalar_one() == 7
    engine.dispose()


def test_sqlite_path_in_host() -> None:
    connection = Connection(conn_id="pulla_db", conn_type="sqlite", host="/srv/pulla/pulla.db")
    assert sqlalchemy_url(connection) == "sqlite:////srv/pulla/pulla.db"


def test_sqlite_without_path_is_an_error() -> None:
    with pytest.raises(ValueError, match=r"connection 'pulla_db': a sqlite connection needs the database file path"):
        sqlalchemy_url(Connection(conn_id="pulla_db", conn_type="sqlite"))


def test_extra_sqlalchemy_url_wins() -> None:
    wanted = "postgresql+psycopg://reader@replica:5432/pulla?sslmode=require"
    for conn_type in ("generic", "postgres", "http"):
        connection = Connection(
            conn_id="pulla_db", conn_type=conn_type, host="ignored", extra=json.dumps({"sqlalchemy_url": wanted})
        )
        assert sqlalchemy_url(connection) == wanted


def test_local_services_connection_form_round_trips(tmp_path: Path) -> None:
    # The JSON form make demo puts in AIRFLOW_CONN_PULLA_DB.
    url = f"sqlite:///{tmp_path / 'pulla.db'}"
    connection = Connection.from_json(
        json.dumps({"conn_type": "generic", "extra": {"sqlalchemy_url": url}}), conn_id="pulla_db"
    )
    assert sqlalchemy_url(connection) == url


@pytest.mark.parametrize("conn_type", ["http", "oracle", None])
def test_unsupported_type_is_named(conn_type: str | None) -> None:
    connection = Connection(conn_id="pulla_db", conn_type=conn_type, host="h")
    with pytest.raises(ValueError, match=r"connection 'pulla_db': type '.*' is not supported.*extra\.sqlalchemy_url"):
        sqlalchemy_url(connection)


@pytest.mark.db
@pytest.mark.parametrize(("engine_name", "conn_type"), [("postgresql", "postgres"), ("mysql", "mysql")])
def test_url_connects_to_the_real_server(make_database: Callable[[str], str], engine_name: str, conn_type: str) -> None:
    parts = sa.make_url(make_database(engine_name))
    connection = Connection(
        conn_id="pulla_db",
        conn_type=conn_type,
        host=parts.host,
        port=parts.port,
        login=parts.username,
        password=parts.password,
        schema=parts.database,
    )
    engine = sa.create_engine(sqlalchemy_url(connection))
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT 1").scalar_one() == 1
    finally:
        engine.dispose()
