"""``pulla-personalize seed-demo-db``: create the Pulla tables and fill them with deterministic demo data.

The whole seeding is one transaction on SQLite and PostgreSQL (their DDL is transactional), so a failure
leaves the database as it was. MariaDB commits DDL implicitly; there a failure drops the tables this run
created. Existing Pulla tables are never overwritten silently: the command refuses, naming them and their
row counts, unless ``--replace`` is given. Indexes are built after the load, which is much faster for big
scales.

Without ``--end-date`` the window ends at today's midnight in Asia/Seoul (and the summary prints the date
used); pass ``--end-date`` to make a run reproducible: the same arguments always give the same rows.
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

_SEOUL = timezone(timedelta(hours=9), "Asia/Seoul")


class SourceDatabaseExistsError(RuntimeError):
    """The target database already has Pulla tables and ``replace`` was not asked for."""


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
    engine = sqlite_transactional_engine(url)
    try:
        with engine.connect() as connection:
            existing = tables.existing_tables(connection)
            if existing and not replace:
                described = _describe_existing(connection, existing)
                connection.rollback()
                raise SourceDatabaseExistsError(
                    f"the database already has Pulla tables: {described}; use --replace (replace=True)"
                    " to drop and recreate them"
                )
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


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", required=True, help="SQLAlchemy URL of the target database")
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


def run(args: argparse.Namespace) -> int:
    end_date = args.end_date or seoul_today()
    try:
        config = SeedConfig(scale=args.scale, seed=args.seed, end_date=end_date, days=args.days)
    except ValueError as error:
        print(f"seed-demo-db: {error}", file=sys.stderr)
        return 2
    shown_url = sa.make_url(args.url).render_as_string(hide_password=True)
    print(
        f"seeding {shown_url}: scale {config.scale:g}, seed {config.seed}, {config.days} days"
        f" from {config.start_date} to {config.end_date} (exclusive, Asia/Seoul)"
    )
    began = time.perf_counter()
    try:
        counts = seed_demo_database(
            args.url,
            end_date=config.end_date,
            scale=config.scale,
            seed=config.seed,
            days=config.days,
            replace=args.replace,
            progress=print,
        )
    except (SourceDatabaseExistsError, sa.exc.SQLAlchemyError) as error:
        print(f"seed-demo-db: {error}", file=sys.stderr)
        return 1
    for name, rows in counts.items():
        print(f"  {name:<16} {rows:>12,}")
    print(f"done in {time.perf_counter() - began:.1f} s")
    return 0
