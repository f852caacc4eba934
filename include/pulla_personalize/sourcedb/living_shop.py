"""A demo Pulla database that lives: seeded once with the days up to yesterday, then topped up day by day.

``make airflow`` and the e2e tier keep their demo shop here, so an unpaused daily DAG's scheduled run (which
exports yesterday, in Asia/Seoul) finds its day's data on any date, and successive days' incremental imports
accumulate as they would in production.

The shop remembers how it was seeded (seed, scale, the seeded window) and the last day it covers in a one-row
table ``demo_shop`` beside the Pulla tables; the export's SQL never reads it. A top-up regenerates members and
catalogue from that record, exactly as the seed made them, and continues the day-by-day activity generator past
the seeded window: day ``n`` always comes from the random stream of day ``n``, and its ids continue from the
largest ids already stored, so topping up three days at once or one day on each of three starts gives the same
rows. Members who have not withdrawn stay active after the seeded window; withdrawn members stay gone. The
seeded window's bot sessions and forced test-account orders are not repeated on later days.

Each top-up is one transaction: an interruption leaves the shop as it was.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import sqlalchemy as sa

from pulla_personalize.sourcedb import tables
from pulla_personalize.sourcedb.generator import (
    ActivityGenerator,
    SeedConfig,
    make_catalog,
    make_members,
    seoul_midnight_ms,
)
from pulla_personalize.sourcedb.load import bulk_insert

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


class NotALivingShopError(RuntimeError):
    """The database has Pulla tables but no ``demo_shop`` record (seeded by ``seed-demo-db``, say)."""


@dataclass(frozen=True)
class ShopState:
    config: SeedConfig
    covered_through: date


def yesterday_in(time_zone: str, now: datetime | None = None) -> date:
    """The calendar day before today in ``time_zone`` (``now`` defaults to the current time)."""
    zone = ZoneInfo(time_zone)
    moment = now.astimezone(zone) if now is not None else datetime.now(zone)
    return moment.date() - timedelta(days=1)


def seed_living_shop(url: str | sa.URL, *, through: date, seed: int = 42, scale: float = 2, days: int = 30) -> None:
    """Seeds a new demo shop at ``url`` with the ``days`` days up to and including ``through`` and records it.

    Scale 2 (about 2,000 members) gives about 2,300 interactions a day after the export's exclusions, so one day
    alone clears Personalize's minimum of 1,000 per import with room to spare; scale 1 is about 1,100."""
    from pulla_personalize.sourcedb.seed import seed_demo_database

    end_date = through + timedelta(days=1)
    seed_demo_database(url, end_date=end_date, scale=scale, seed=seed, days=days)
    record_shop(url, SeedConfig(scale=scale, seed=seed, end_date=end_date, days=days))


def record_shop(url: str | sa.URL, config: SeedConfig) -> None:
    """Marks a database freshly seeded with ``config`` as a living shop covering its seeded window."""
    engine = sa.create_engine(url)
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


def read_shop(connection: sa.Connection) -> ShopState:
    if not sa.inspect(connection).has_table("demo_shop"):
        raise NotALivingShopError(
            "this database has no demo_shop record: it was not seeded as a living demo shop "
            "(remove it and let `make airflow` seed a new one)"
        )
    row = connection.execute(sa.select(demo_shop)).one()
    config = SeedConfig(scale=row.scale, seed=row.seed, end_date=row.seeded_end_date, days=row.seeded_days)
    return ShopState(config, row.covered_through)


def top_up_demo_database(url: str | sa.URL, *, through: date) -> list[date]:
    """Adds the shop's activity for every day after the one it covers, up to and including ``through``; returns
    the days added (none when it already covers ``through``). One transaction: all days or none."""
    engine = sa.create_engine(url)
    try:
        with engine.begin() as connection:
            state = read_shop(connection)
            days = _missing_days(state.covered_through, through)
            if not days:
                return []
            generator = _continuing_generator(state.config, connection)
            for day in days:
                # Each day ends its own events (as the seed's last day does), so a day's rows do not depend on
                # how many days are added with it.
                generator.end_ms = seoul_midnight_ms(day + timedelta(days=1))
                batch = generator._day((day - state.config.start_date).days)
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
    generator.bot_days = generator.bot_days[:0]

    def next_id(column: sa.Column) -> int:
        return int(connection.execute(sa.select(sa.func.max(column))).scalar() or 0) + 1

    generator.next_log_id = next_id(tables.web_logs.c.log_id)
    generator.next_order_id = next_id(tables.orders.c.order_id)
    generator.next_order_item_id = next_id(tables.order_items.c.order_item_id)
    return generator
