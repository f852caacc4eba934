"""Shared fixtures: throwaway databases on SQLite and, when reachable, on the PostgreSQL and MariaDB servers.

Tests that need a server skip with a reason when it is not reachable, unless ``PULLA_REQUIRE_DB_SERVERS=1``
(set by ``.ci/run``), in which case an unreachable server fails them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
#: Test data kept in the repository: the seed's original schemas and a corpus of published Personalize schemas.
TEST_DATA = REPO_ROOT / "tests" / "data"

# Admin URLs of the servers; each test gets its own database created through them.
SERVER_ADMIN_URLS = {
    "postgresql": os.environ.get("PULLA_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"),
    "mysql": os.environ.get("PULLA_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/test"),
}
SERVER_URL_VARIABLES = {"postgresql": "PULLA_TEST_POSTGRES_URL", "mysql": "PULLA_TEST_MYSQL_URL"}
ENGINES = ("sqlite", "postgresql", "mysql")


def servers_required() -> bool:
    return os.environ.get("PULLA_REQUIRE_DB_SERVERS") == "1"


def _unreachable(engine_name: str, error: Exception) -> None:
    message = (
        f"{engine_name} server not reachable at {SERVER_ADMIN_URLS[engine_name]}: {error} "
        f"(start one there, or set {SERVER_URL_VARIABLES[engine_name]} to an account that may create databases)"
    )
    if servers_required():
        pytest.fail(f"{message} (PULLA_REQUIRE_DB_SERVERS=1)")
    pytest.skip(message)


def _create_server_database(engine_name: str) -> tuple[str, Callable[[], None]]:
    import sqlalchemy as sa

    admin_url = sa.make_url(SERVER_ADMIN_URLS[engine_name])
    name = f"pulla_t_{uuid.uuid4().hex[:12]}"
    try:
        admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE {name}")
    except Exception as error:  # any driver error means: no usable server
        _unreachable(engine_name, error)

    def drop() -> None:
        with admin.connect() as conn:
            if engine_name == "postgresql":
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            else:
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
        admin.dispose()

    return admin_url.set(database=name).render_as_string(hide_password=False), drop


@pytest.fixture
def make_database(tmp_path: Path) -> Iterator[Callable[[str], str]]:
    """Returns a factory: ``make_database("sqlite"|"postgresql"|"mysql")`` -> URL of a new, empty database."""
    cleanups: list[Callable[[], None]] = []

    def factory(engine_name: str) -> str:
        if engine_name == "sqlite":
            return f"sqlite:///{tmp_path / f'pulla_{uuid.uuid4().hex[:8]}.db'}"
        url, drop = _create_server_database(engine_name)
        cleanups.append(drop)
        return url

    yield factory
    for cleanup in reversed(cleanups):
        cleanup()


@pytest.fixture(params=ENGINES)
def database_url(request: pytest.FixtureRequest, make_database: Callable[[str], str]) -> str:
    """A new, empty database on each engine in turn."""
    return make_database(request.param)
