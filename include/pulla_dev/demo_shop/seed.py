"""``pulla-personalize seed-demo-db``: create the Pulla tables and fill them with deterministic demo data.

The whole seeding is one transaction on SQLite and PostgreSQL (their DDL is transactional), so a failure
leaves the database as it was. MariaDB commits DDL implicitly; there a failure drops the tables this run
created. Existing Pulla tables are never overwritten silently: the command refuses, naming them and their
row counts, unless ``--replace`` is given. Indexes are built after the load, which is much faster for big
scales.

Without ``--end-date`` the window ends at today's midnight in Asia/Seoul (and the summary prints the date
used); pass ``--end-date`` to make a run reproducible: the same arguments always give the same rows.

A PostgreSQL or MariaDB database must exist unless ``--create-database`` is given (``create_database``): a
typo in the URL then fails with a message instead of seeding a database nobody meant to create. SQLite creates
its file either way.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone

import sqlalchemy as sa

from pulla_dev.demo_shop import tables
from pulla_dev.demo_shop.generator import SeedConfig, generate
from pulla_dev.demo_shop.load import bulk_insert
from pulla_personalize.db_urls import BadDatabaseUrl, normalise_url, shown

_SEOUL = timezone(timedelta(hours=9), "Asia/Seoul")


class SourceDatabaseExistsError(RuntimeError):
    """The target database already has Pulla tables and ``replace`` was not asked for; ``described`` names them
    with their row counts."""

    def __init__(self, described: str) -> None:
        super().__init__(f"the database already has Pulla tables: {described}; pass replace=True to drop and recreate")
        self.described = described


#: Server error codes for "this database does not exist": PostgreSQL's SQLSTATE, MySQL/MariaDB's error number.
_POSTGRES_NO_DATABASE = "3D000"
_MYSQL_NO_DATABASE = 1049


def is_missing_database(error: sa.exc.DBAPIError, name: str | None) -> bool:
    """Whether a connection failed because the database ``name`` does not exist on the server."""
    original = error.orig
    if getattr(original, "sqlstate", None) == _POSTGRES_NO_DATABASE:
        return True
    # psycopg reports a refused connection without a SQLSTATE; the server's words are all there is.
    if name and f'database "{name}" does not exist' in str(original):
        return True
    args = getattr(original, "args", ())
    return bool(args) and args[0] == _MYSQL_NO_DATABASE


def create_database(url: str | sa.URL) -> bool:
    """Creates the PostgreSQL or MariaDB/MySQL database the URL names, through the same server and credentials;
    returns False when it already exists (or for SQLite, whose file the first connection creates)."""
    target = normalise_url(url)
    backend, name = target.get_backend_name(), target.database
    if backend == "sqlite" or not name:
        return False
    if backend == "postgresql":
        admin_url = target.set(database="postgres")
        exists = sa.text("SELECT 1 FROM pg_database WHERE datname = :name")
        create = "CREATE DATABASE {} ENCODING 'UTF8' TEMPLATE template0"
    elif backend in ("mysql", "mariadb"):
        admin_url = target._replace(database=None)  # URL.set ignores None
        exists = sa.text("SELECT 1 FROM information_schema.schemata WHERE schema_name = :name")
        create = "CREATE DATABASE {} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
    else:
        raise ValueError(f"cannot create a database on {backend}: create it yourself, then seed it")
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            if connection.execute(exists, {"name": name}).first():
                return False
            quoted = admin.dialect.identifier_preparer.quote_identifier(name)
            connection.exec_driver_sql(create.format(quoted))
    finally:
        admin.dispose()
    return True


def seoul_today() -> date:
    return datetime.now(_SEOUL).date()


def sqlite_transactional_engine(url: str | sa.URL, *, begin: str = "BEGIN", lock_wait_seconds: float = 5) -> sa.Engine:
    """An engine whose SQLite transactions start with ``begin`` (``BEGIN``, or ``BEGIN IMMEDIATE`` to take the
    write lock at once) and cover DDL too: pysqlite would begin only at the first write and never around DDL.
    ``lock_wait_seconds`` is how long SQLite waits for another writer's lock. Other engines are left as they come."""
    if sa.make_url(url).get_backend_name() != "sqlite":
        return sa.create_engine(url)
    engine = sa.create_engine(url, connect_args={"timeout": lock_wait_seconds})

    @sa.event.listens_for(engine, "connect")
    def _no_implicit_transactions(dbapi_connection, _record) -> None:
        dbapi_connection.isolation_level = None

    @sa.event.listens_for(engine, "begin")
    def _begin(connection: sa.Connection) -> None:
        connection.exec_driver_sql(begin)

    return engine


def _describe_existing(connection: sa.Connection, names: list[str]) -> str:
    counts = []
    for name in names:
        rows = connection.execute(sa.select(sa.func.count()).select_from(tables.metadata.tables[name])).scalar()
        counts.append(f"{name} ({rows} rows)")
    return ", ".join(counts)


def _create_tables(connection: sa.Connection) -> None:
    for table in tables.TABLES:
        connection.execute(sa.schema.CreateTable(table))


def _create_indexes(connection: sa.Connection) -> None:
    for table in tables.TABLES:
        for index in sorted(table.indexes, key=lambda index: index.name or ""):
            index.create(connection)


def _fill(connection: sa.Connection, config: SeedConfig, progress: Callable[[str], None] | None) -> dict[str, int]:
    counts = dict.fromkeys(tables.TABLE_NAMES, 0)
    for name, rows in generate(config):
        before = counts[name]
        counts[name] += bulk_insert(connection, tables.metadata.tables[name], rows)
        if progress and name == "web_logs" and counts[name] // 1_000_000 > before // 1_000_000:
            progress(f"  ... {counts[name]:,} web_logs rows")
        del rows  # written: free them before the generator makes the next batch
    return counts


def seed_demo_database(
    url: str | sa.URL,
    *,
    end_date: date,
    scale: float = 1.0,
    seed: int = 42,
    days: int = 30,
    replace: bool = False,
    progress: Callable[[str], None] | None = None,
) -> dict[str, int]:
    """Creates the six Pulla tables in the database at ``url`` and fills them; returns rows written per table.

    Activity covers the ``days`` days before 00:00 Asia/Seoul on ``end_date``: the local days
    ``end_date - days`` .. ``end_date - 1``; ``end_date`` itself has no data (for a shop whose last day is
    yesterday, pass today, or see ``living_shop.seed_living_shop``, which takes the last day instead). Raises
    :class:`SourceDatabaseExistsError` when Pulla tables exist and ``replace`` is false, ``ValueError`` on bad
    arguments. Nothing is half-written: see the module docstring.
    """
    config = SeedConfig(scale=scale, seed=seed, end_date=end_date, days=days)
    engine = sqlite_transactional_engine(normalise_url(url))
    try:
        with engine.connect() as connection:
            existing = tables.existing_tables(connection)
            if existing and not replace:
                described = _describe_existing(connection, existing)
                connection.rollback()
                raise SourceDatabaseExistsError(described)
            if connection.in_transaction():
                connection.rollback()
            transactional_ddl = engine.dialect.name != "mysql"
            try:
                with connection.begin():
                    if existing:
                        tables.drop_schema(connection)
                    _create_tables(connection)
                    counts = _fill(connection, config, progress)
                    _create_indexes(connection)
            except BaseException:
                if not transactional_ddl:
                    with connection.begin():
                        tables.drop_schema(connection)
                raise
    finally:
        engine.dispose()
    return counts


# --- command line -------------------------------------------------------------------------------------------


def _iso_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date in YYYY-MM-DD form: {text!r}") from None


EXIT_CODES = """exit codes:
  0  the database is seeded
  1  it already has Pulla tables (add --replace), or the seeding failed in the database (nothing is left behind)
  2  bad usage: bad arguments or URL, a server that cannot be reached, a database that does not exist
     (add --create-database)"""


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--url",
        required=True,
        help="SQLAlchemy URL of the target database, e.g. sqlite:///pulla.db or "
        "postgresql+psycopg://postgres@localhost/pulla (postgres:// and mysql:// get this project's drivers)",
    )
    parser.add_argument("--scale", type=float, default=1.0, help="1 ≈ 1,000 members, 300 products (default 1)")
    parser.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    parser.add_argument(
        "--end-date",
        type=_iso_date,
        default=None,
        help="activity ends before 00:00 Asia/Seoul of this date (default: today in Seoul)",
    )
    parser.add_argument("--days", type=int, default=30, help="days of activity before the end date (default 30)")
    parser.add_argument("--replace", action="store_true", help="drop existing Pulla tables and recreate them")
    parser.add_argument(
        "--create-database",
        action="store_true",
        help="create the PostgreSQL or MariaDB database the URL names if it does not exist (SQLite creates its "
        "file anyway)",
    )


def _fail(message: str, exit_code: int) -> int:
    print(f"seed-demo-db: {message}", file=sys.stderr)
    return exit_code


def _reason(error: sa.exc.SQLAlchemyError) -> str:
    """The driver's own first line, without SQLAlchemy's statement echo and background link."""
    original = getattr(error, "orig", None)
    text = str(original if original is not None else error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _prepare_database(url: sa.URL, create: bool) -> str | None:
    """Creates the database when asked and checks that it can be reached; returns a message when it cannot."""
    if create:
        try:
            if create_database(url):
                print(f"created database {url.database}")
        except (sa.exc.SQLAlchemyError, ValueError) as error:
            reason = _reason(error) if isinstance(error, sa.exc.SQLAlchemyError) else str(error)
            return f"cannot create database {url.database} on {shown(url)}: {reason}"
    engine = sa.create_engine(url)
    try:
        with engine.connect():
            pass
    except sa.exc.DBAPIError as error:
        if is_missing_database(error, url.database):
            return (
                f"database {url.database} does not exist on {shown(url._replace(database=None))}: "
                "add --create-database to create it, or create it yourself"
            )
        return f"cannot reach {shown(url)}: {_reason(error)}"
    finally:
        engine.dispose()
    return None


def run(args: argparse.Namespace) -> int:
    end_date = args.end_date or seoul_today()
    try:
        config = SeedConfig(scale=args.scale, seed=args.seed, end_date=end_date, days=args.days)
        url = normalise_url(args.url)
    except (ValueError, BadDatabaseUrl) as error:
        return _fail(str(error), 2)
    problem = _prepare_database(url, args.create_database)
    if problem:
        return _fail(problem, 2)
    print(
        f"seeding {shown(url)}: scale {config.scale:g}, seed {config.seed}, {config.days} days"
        f" from {config.start_date} to {config.end_date} (exclusive, Asia/Seoul)"
    )
    began = time.perf_counter()
    try:
        counts = seed_demo_database(
            url,
            end_date=config.end_date,
            scale=config.scale,
            seed=config.seed,
            days=config.days,
            replace=args.replace,
            progress=print,
        )
    except SourceDatabaseExistsError as error:
        return _fail(
            f"{shown(url)} already has Pulla tables: {error.described}; add --replace to drop and recreate them", 1
        )
    except sa.exc.SQLAlchemyError as error:
        return _fail(f"seeding {shown(url)} failed, nothing was kept: {_reason(error)}", 1)
    for name, rows in counts.items():
        print(f"  {name:<16} {rows:>12,}")
    print(f"done in {time.perf_counter() - began:.1f} s")
    return 0
