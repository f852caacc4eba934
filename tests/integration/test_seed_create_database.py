"""``seed-demo-db`` on a server database that does not exist yet: a clear refusal without ``--create-database``,
the database created and seeded with it; and the command's own wording when Pulla tables are already there."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from pulla_dev.demo_shop import tables
from pulla_personalize.cli import main
from tests.conftest import SERVER_ADMIN_URLS, _unreachable

SEED = ["--scale", "0.05", "--days", "3", "--end-date", "2026-01-01"]


@pytest.fixture(params=["postgresql", "mysql"])
def absent_database(request: pytest.FixtureRequest) -> Iterator[sa.URL]:
    """The URL of a database that does not exist on the server (dropped again after the test)."""
    admin_url = sa.make_url(SERVER_ADMIN_URLS[request.param])
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        admin.connect().close()
    except Exception as error:  # any driver error means: no usable server
        _unreachable(request.param, error)
    name = f"pulla_t_{uuid.uuid4().hex[:12]}"
    yield admin_url.set(database=name)
    force = " WITH (FORCE)" if request.param == "postgresql" else ""
    with admin.connect() as connection:
        connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}{force}")
    admin.dispose()


def test_a_missing_database_is_named_with_the_flag_that_creates_it(
    absent_database: sa.URL, capsys: pytest.CaptureFixture[str]
) -> None:
    url = absent_database.render_as_string(hide_password=False)
    assert main(["seed-demo-db", "--url", url, *SEED]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        f"seed-demo-db: database {absent_database.database} does not exist on "
        f"{absent_database._replace(database=None).render_as_string(hide_password=True)}: "
        "add --create-database to create it, or create it yourself"
    )

    assert main(["seed-demo-db", "--url", url, *SEED, "--create-database"]) == 0
    assert f"created database {absent_database.database}" in capsys.readouterr().out
    engine = sa.create_engine(absent_database)
    try:
        with engine.connect() as connection:
            assert tables.existing_tables(connection) == list(tables.TABLE_NAMES)
            assert connection.execute(sa.select(sa.func.count()).select_from(tables.members)).scalar() > 0
    finally:
        engine.dispose()

    # Asked again, the database is there: nothing to create, and the tables are refused in the command's words.
    assert main(["seed-demo-db", "--url", url, *SEED, "--create-database"]) == 1
    captured = capsys.readouterr()
    assert "created database" not in captured.out
    assert "already has Pulla tables: members (" in captured.err
    assert captured.err.rstrip().endswith("add --replace to drop and recreate them")
    assert "replace=True" not in captured.err


def test_an_unreachable_server_is_one_line_without_a_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["seed-demo-db", "--url", "postgres://postgres@127.0.0.1:1/pulla", *SEED]) == 2
    err = capsys.readouterr().err
    assert err.startswith("seed-demo-db: cannot reach postgresql+psycopg://postgres@127.0.0.1:1/pulla: ")
    assert len(err.strip().splitlines()) == 1
    assert "sqlalche.me" not in err
