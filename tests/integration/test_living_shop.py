"""The living demo shop: seeded up to a day, topped up day by day, the same rows however the days are added, all
or nothing, and each added day alone passes the export's gate."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from pulla_dev.demo_shop import living_shop, tables
from pulla_dev.demo_shop.living_shop import (
    NotALivingShopError,
    seed_living_shop,
    top_up_demo_database,
    yesterday_in,
)
from pulla_dev.demo_shop.seed import seed_demo_database

SEEDED_THROUGH = date(2026, 11, 10)
SMALL = {"seed": 11, "scale": 0.3, "days": 5}


def activity(url: str) -> dict[str, list[tuple]]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            return {
                table.name: connection.execute(sa.select(table).order_by(*table.primary_key.columns)).all()
                for table in (tables.orders, tables.order_items, tables.web_logs)
            }
    finally:
        engine.dispose()


def covered_through(url: str) -> date:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            return living_shop.read_shop(connection).covered_through
    finally:
        engine.dispose()


def test_yesterday_is_counted_in_the_shops_time_zone() -> None:
    late_evening_utc = datetime(2026, 12, 5, 16, 0, tzinfo=UTC)  # already 6 December, 01:00 in Seoul
    assert yesterday_in("Asia/Seoul", late_evening_utc) == date(2026, 12, 5)
    assert yesterday_in("UTC", late_evening_utc) == date(2026, 12, 4)


@pytest.mark.parametrize("engine_name", ["sqlite", "postgresql"])
def test_a_top_up_adds_exactly_the_missing_days_once(make_database: Callable[[str], str], engine_name: str) -> None:
    url = make_database(engine_name)
    seed_living_shop(url, through=SEEDED_THROUGH, **SMALL)
    before = activity(url)
    assert covered_through(url) == SEEDED_THROUGH

    added = top_up_demo_database(url, through=SEEDED_THROUGH + timedelta(days=3))
    assert added == [SEEDED_THROUGH + timedelta(days=n) for n in (1, 2, 3)]
    assert covered_through(url) == SEEDED_THROUGH + timedelta(days=3)
    assert top_up_demo_database(url, through=SEEDED_THROUGH + timedelta(days=3)) == []
    after = activity(url)
    for name, rows in before.items():
        assert after[name][: len(rows)] == rows  # what was there is untouched
        assert len(after[name]) > len(rows), name
    new_logs = after["web_logs"][len(before["web_logs"]) :]
    first_new_ms = int(datetime(2026, 11, 11, tzinfo=UTC).timestamp() * 1000) - 9 * 3_600_000
    assert min(row.occurred_at_ms for row in new_logs) >= first_new_ms  # every new event is on a new day


def test_a_day_is_the_same_rows_whether_added_alone_or_with_others(make_database: Callable[[str], str]) -> None:
    at_once, day_by_day = make_database("sqlite"), make_database("sqlite")
    for url in (at_once, day_by_day):
        seed_living_shop(url, through=SEEDED_THROUGH, **SMALL)
    top_up_demo_database(at_once, through=SEEDED_THROUGH + timedelta(days=3))
    for n in (1, 2, 3):
        assert top_up_demo_database(day_by_day, through=SEEDED_THROUGH + timedelta(days=n)) == [
            SEEDED_THROUGH + timedelta(days=n)
        ]
    assert activity(at_once) == activity(day_by_day)


def test_an_interrupted_top_up_leaves_the_shop_as_it_was(
    make_database: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = make_database("sqlite")
    seed_living_shop(url, through=SEEDED_THROUGH, **SMALL)
    before = activity(url)
    real_insert = living_shop.bulk_insert
    inserted: list[str] = []

    def failing_on_the_second_day(connection, table, rows):
        inserted.append(table.name)
        if inserted.count("web_logs") == 2:
            raise KeyboardInterrupt  # Ctrl-C half-way
        return real_insert(connection, table, rows)

    monkeypatch.setattr(living_shop, "bulk_insert", failing_on_the_second_day)
    with pytest.raises(KeyboardInterrupt):
        top_up_demo_database(url, through=SEEDED_THROUGH + timedelta(days=3))
    assert activity(url) == before
    assert covered_through(url) == SEEDED_THROUGH


def test_a_database_not_seeded_as_a_living_shop_is_refused_by_name(make_database: Callable[[str], str]) -> None:
    url = make_database("sqlite")
    seed_demo_database(url, end_date=SEEDED_THROUGH, scale=0.2, seed=3, days=2)
    with pytest.raises(NotALivingShopError, match="no demo_shop record"):
        top_up_demo_database(url, through=SEEDED_THROUGH)


@pytest.mark.slow
def test_one_topped_up_day_alone_passes_the_export_gate(make_database: Callable[[str], str], tmp_path: Path) -> None:
    """What the daily DAG's scheduled run does with yesterday: the default shop's scale clears Personalize's
    per-import minimums (1,000 interactions, 25 users with two or more) on a single day."""
    url = make_database("sqlite")
    seed_living_shop(url, through=SEEDED_THROUGH, days=3)
    day = SEEDED_THROUGH + timedelta(days=1)
    top_up_demo_database(url, through=day)
    out = tmp_path / "day"
    command = [sys.executable, "-m", "pulla_personalize.cli", "export", "--db", url, "--start", day.isoformat()]
    command += ["--end", (day + timedelta(days=1)).isoformat(), "--out", str(out)]
    completed = subprocess.run(command, capture_output=True, text=True, check=False, timeout=300)
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    interactions = json.loads((out / "report.json").read_text(encoding="utf-8"))["datasets"]["interactions"]
    assert interactions["rows"] >= 1_500
    assert interactions["users_with_2_or_more"] >= 100
