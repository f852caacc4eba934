"""A demo Pulla database that lives: seeded once with the days up to yesterday, then topped up day by day.

``make airflow`` and the e2e tier keep their demo shop here, so an unpaused daily DAG's scheduled run (which
exports yesterday, in Asia/Seoul) finds its day's data on any date, and successive days' incremental imports
accumulate as they would in production.

The shop remembers how it was seeded (seed, scale, the seeded window) and the last day it covers in a one-row
table ``demo_shop`` beside the Pulla tables; the export's SQL never reads it. A top-up regenerates members and
catalogue from that record, exactly as the seed made them, and continues the day-by-day activity generator past
the seeded window: day ``n`` always comes from the random stream of day ``n``, and its ids continue from the
largest ids already stored, so topping up three days at once or one day on each of three starts gives the same
rows. Members who have not withdrawn stay active after the seeded window; withdrawn members stay gone. Crawler
sessions keep coming at the seeded window's rate (their count drawn per day); the seeded window's forced orders of
test accounts and withdrawn members are not repeated. No members or products are added after the seeded window.

Each top-up is one transaction: an interruption leaves the shop as it was. It takes the shop's write lock before
it reads the last day covered (``BEGIN IMMEDIATE`` on SQLite, ``SELECT ... FOR UPDATE`` on the servers), so two
top-ups started at once add the days once: the second waits for the first and then finds nothing to add.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import sqlalchemy as sa

from pulla_dev.demo_shop import tables
from pulla_dev.demo_shop.generator import (
    ActivityGenerator,
    SeedConfig,
    make_catalog,
    make_members,
    seoul_midnight_ms,
)
from pulla_dev.demo_shop.load import bulk_insert

#: How the shop remembers its seeding; not a Pulla source table.
demo_shop = sa.Table(
    "demo_shop",
    sa.MetaData(),
    sa.Column("seed", sa.Integer, nullable=False),
    sa.Column("scale", sa.Float, nullable=False),
    sa.Column("seeded_end_date", sa.Date, nullable=False),
    sa.Column("seeded_days", sa.Integer, nullable=False),
    sa.Column("covered_through", sa.Date, nullable=False),
)
#: A member who has not withdrawn stays active this long past the seeded window.
_STILL_ACTIVE_MS = 3650 * 86_400_000
#: How long a top-up on SQLite waits for another one's write lock (pysqlite's default is 5 s; a month of days at
#: the demo's scale takes longer).
_SQLITE_LOCK_WAIT_SECONDS = 600


class NotALivingShopError(RuntimeError):
    """The database has Pulla tables but no ``demo_shop`` record (seeded by ``seed-demo-db``, say)."""


@dataclass(frozen=True)
class ShopState:
    config: SeedConfig
    covered_through: date


def yesterday_in(time_zone: str, now: datetime | None = None) -> date:
    """The calendar day before today in ``time_zone`` (``now`` defaults to the current time; a naive ``now`` is
    taken as the machine's local time)."""
    zone = ZoneInfo(time_zone)
    moment = now.astimezone(zone) if now is not None else datetime.now(zone)
    return moment.date() - timedelta(days=1)


def seed_living_shop(url: str | sa.URL, *, through: date, seed: int = 42, scale: float = 2, days: int = 30) -> None:
    """Seeds a new demo shop at ``url`` with the ``days`` days up to and including ``through`` and records it.

    The days covered are ``through - (days - 1)`` .. ``through``, local days in Asia/Seoul: this is
    ``seed_demo_database`` with ``end_date = through + 1 day``, whose ``end_date`` is the first day without data.
    Pass ``yesterday_in("Asia/Seoul")`` as ``through`` for a shop whose last day is yesterday.

    Scale 2 (about 2,000 members) gives about 2,100-2,300 interactions a day after the export's exclusions, so one day
    alone clears Personalize's minimum of 1,000 per import with room to spare; scale 1 is about 1,100."""
    from pulla_dev.demo_shop.seed import seed_demo_database

    end_date = through + timedelta(days=1)
    seed_demo_database(url, end_date=end_date, scale=scale, seed=seed, days=days)
    record_shop(url, SeedConfig(scale=scale, seed=seed, end_date=end_date, days=days))


def _engine(url: str | sa.URL) -> sa.Engine:
    """Transactions that take SQLite's write lock at BEGIN, DDL included; other engines as they come."""
    from pulla_dev.demo_shop.seed import sqlite_transactional_engine

    return sqlite_transactional_engine(url, begin="BEGIN IMMEDIATE", lock_wait_seconds=_SQLITE_LOCK_WAIT_SECONDS)


def record_shop(url: str | sa.URL, config: SeedConfig) -> None:
    """Marks a database freshly seeded with ``config`` as a living shop covering its seeded window."""
    engine = _engine(url)
    try:
        with engine.begin() as connection:
            demo_shop.drop(connection, checkfirst=True)
            demo_shop.create(connection)
            connection.execute(
                demo_shop.insert().values(
                    seed=config.seed,
                    scale=float(config.scale),
                    seeded_end_date=config.end_date,
                    seeded_days=config.days,
                    covered_through=config.end_date - timedelta(days=1),
                )
            )
    finally:
        engine.dispose()


def read_shop(connection: sa.Connection, *, for_update: bool = False) -> ShopState:
    """How the shop was seeded and the last day it covers; ``for_update`` also locks the record on PostgreSQL and
    MariaDB until the transaction ends (SQLite's lock is the whole database, taken at BEGIN by :func:`_engine`)."""
    if not sa.inspect(connection).has_table("demo_shop"):
        raise NotALivingShopError(
            "this database has no demo_shop record: it was not seeded as a living demo shop "
            "(remove it and let `make airflow` seed a new one)"
        )
    query = sa.select(demo_shop)
    if for_update:
        query = query.with_for_update()
    row = connection.execute(query).one()
    config = SeedConfig(scale=row.scale, seed=row.seed, end_date=row.seeded_end_date, days=row.seeded_days)
    return ShopState(config, row.covered_through)


def top_up_demo_database(url: str | sa.URL, *, through: date) -> list[date]:
    """Adds the shop's activity for every day after the one it covers, up to and including ``through``; returns
    the days added (none when it already covers ``through``). One transaction: all days or none.

    ``through`` is a local day in Asia/Seoul, normally ``yesterday_in("Asia/Seoul")``. Raises
    :class:`NotALivingShopError` for a database not made by :func:`seed_living_shop`."""
    engine = _engine(url)
    try:
        with engine.begin() as connection:
            state = read_shop(connection, for_update=True)
            days = _missing_days(state.covered_through, through)
            if not days:
                return []
            generator = _continuing_generator(state.config, connection)
            for day in days:
                # Each day ends its own events (as the seed's last day does), so a day's rows do not depend on
                # how many days are added with it.
                generator.end_ms = seoul_midnight_ms(day + timedelta(days=1))
                day_index = (day - state.config.start_date).days
                generator.bot_days = np.full(generator.crawler_sessions_on_later_day(day_index), day_index)
                batch = generator._day(day_index)
                bulk_insert(connection, tables.orders, batch.orders)
                bulk_insert(connection, tables.order_items, batch.order_items)
                bulk_insert(connection, tables.web_logs, batch.web_logs)
            connection.execute(demo_shop.update().values(covered_through=days[-1]))
            return days
    finally:
        engine.dispose()


def _missing_days(covered_through: date, through: date) -> list[date]:
    count = (through - covered_through).days
    return [covered_through + timedelta(days=offset) for offset in range(1, count + 1)]


def _continuing_generator(config: SeedConfig, connection: sa.Connection) -> ActivityGenerator:
    """The seed's activity generator, with members kept active past the window and ids after the stored ones."""
    members = make_members(config)
    members.active_to_ms = np.where(members.withdrawn, members.active_to_ms, members.active_to_ms + _STILL_ACTIVE_MS)
    generator = ActivityGenerator(config, make_catalog(config), members)
    generator.ordering_sessions = {}  # the seeded window's forced orders are not repeated

    def next_id(column: sa.Column) -> int:
        return int(connection.execute(sa.select(sa.func.max(column))).scalar() or 0) + 1

    generator.next_log_id = next_id(tables.web_logs.c.log_id)
    generator.next_order_id = next_id(tables.orders.c.order_id)
    generator.next_order_item_id = next_id(tables.order_items.c.order_item_id)
    return generator
