"""The demo-data generator and the seed command, without database servers (SQLite files only)."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from pulla_dev.demo_shop import generator, tables
from pulla_dev.demo_shop.generator import SeedConfig, generate
from pulla_personalize import cli, queries

SMALL = SeedConfig(scale=0.05, seed=7, end_date=date(2026, 3, 1), days=14)
HANGUL = re.compile("[가-힣]")
BOT_AGENT = re.compile(r"bot|Yeti|python-requests|Scrapy|HeadlessChrome", re.IGNORECASE)


def collect(config: SeedConfig) -> dict[str, list[tuple]]:
    rows: dict[str, list[tuple]] = defaultdict(list)
    for name, batch in generate(config):
        rows[name].extend(batch)
    return dict(rows)


def as_dicts(config: SeedConfig) -> dict[str, list[dict]]:
    return {
        name: [dict(zip(tables.metadata.tables[name].columns.keys(), row, strict=True)) for row in rows]
        for name, rows in collect(config).items()
    }


@pytest.fixture(scope="module")
def small() -> dict[str, list[dict]]:
    return as_dicts(SMALL)


@pytest.fixture(scope="module")
def scale_one() -> dict[str, list[dict]]:
    return as_dicts(SeedConfig(scale=1, seed=42, end_date=date(2026, 1, 1), days=30))


def test_same_seed_gives_identical_rows_and_another_seed_differs() -> None:
    first, again = collect(SMALL), collect(SMALL)
    assert first == again
    other = collect(SeedConfig(scale=SMALL.scale, seed=SMALL.seed + 1, end_date=SMALL.end_date, days=SMALL.days))
    for name in tables.TABLE_NAMES:
        assert first[name] != other[name], name


def test_rows_have_the_shape_of_their_tables(small: dict[str, list[dict]]) -> None:
    assert set(small) == set(tables.TABLE_NAMES)
    for name, rows in small.items():
        table = tables.metadata.tables[name]
        key = next(iter(table.primary_key.columns)).name
        keys = [row[key] for row in rows]
        assert len(set(keys)) == len(keys), f"{name}: duplicate {key}"
        for column in table.columns:
            if not column.nullable:
                assert all(row[column.name] is not None for row in rows), f"{name}.{column.name} has nulls"


@pytest.mark.parametrize(
    ("config_kwargs", "message"),
    [
        ({"scale": 0}, "scale"),
        ({"scale": float("nan")}, "scale"),
        ({"seed": -1}, "seed"),
        ({"days": 0}, "days"),
        ({"end_date": datetime(2026, 1, 1)}, "end_date"),
    ],
)
def test_config_rejects_bad_values(config_kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SeedConfig(**config_kwargs)


def test_seoul_time_helpers_agree_with_the_time_zone_database() -> None:
    seoul = ZoneInfo("Asia/Seoul")
    for day in (date(2024, 3, 10), date(2025, 11, 2), date(2026, 1, 1)):
        midnight = datetime(day.year, day.month, day.day, tzinfo=seoul)
        assert generator.seoul_midnight_ms(day) == int(midnight.timestamp() * 1000)
    instant_ms = 1_767_225_599_999  # 2025-12-31T23:59:59.999Z
    assert generator.seoul_naive(instant_ms) == datetime(2026, 1, 1, 8, 59, 59)


def test_scale_one_has_the_advertised_volume(scale_one: dict[str, list[dict]]) -> None:
    assert len(scale_one["members"]) == 1_000
    assert len(scale_one["products"]) == 300
    assert 90_000 <= len(scale_one["web_logs"]) <= 115_000


def test_everything_happens_inside_the_window_and_after_things_exist(small: dict[str, list[dict]]) -> None:
    start_ms = generator.seoul_midnight_ms(SMALL.start_date)
    end_ms = generator.seoul_midnight_ms(SMALL.end_date)
    start_local, end_local = (
        datetime.combine(SMALL.start_date, datetime.min.time()),
        datetime.combine(SMALL.end_date, datetime.min.time()),
    )
    members = {row["member_id"]: row for row in small["members"]}
    registered = {row["product_id"]: row["registered_at"] for row in small["products"]}
    for log in small["web_logs"]:
        assert start_ms <= log["occurred_at_ms"] < end_ms
        when = generator.seoul_naive(log["occurred_at_ms"])
        if log["member_id"] is not None:
            member = members[log["member_id"]]
            assert member["created_at"] <= when
            assert member["deleted_at"] is None or when < member["deleted_at"]
        if log["event_name"] == "product_view" and registered.get(log["product_id"]):
            assert registered[log["product_id"]] <= when
    for order in small["orders"]:
        assert start_local <= order["ordered_at"] < end_local
        assert members[order["member_id"]]["created_at"] <= order["ordered_at"]
    log_ids = [log["log_id"] for log in small["web_logs"]]
    times = [log["occurred_at_ms"] for log in small["web_logs"]]
    assert log_ids == sorted(log_ids)
    assert times == sorted(times), "log ids follow time within the seed"


def test_sessions_log_in_half_way_and_some_never_do(small: dict[str, list[dict]]) -> None:
    sessions: dict[str, list[dict]] = defaultdict(list)
    for log in small["web_logs"]:
        sessions[log["session_id"]].append(log)
    stitched = 0
    never = 0
    for events in sessions.values():
        logins = [index for index, event in enumerate(events) if event["event_name"] == "login"]
        if logins:
            (at,) = logins
            login = events[at]
            assert login["member_id"] is not None
            assert login["product_id"] is None
            assert all(event["member_id"] is None for event in events[:at])
            assert all(event["member_id"] == login["member_id"] for event in events[at:])
            if at > 0 and any(event["event_name"] == "product_view" for event in events[:at]):
                stitched += 1
        elif all(event["member_id"] is None for event in events):
            never += 1
    assert stitched >= 5
    assert never >= 5


def test_data_carries_every_trap(small: dict[str, list[dict]]) -> None:
    members, products, logs, orders = small["members"], small["products"], small["web_logs"], small["orders"]
    test_ids = {row["member_id"] for row in members if row["is_test"] == 1}
    withdrawn_ids = {row["member_id"] for row in members if row["deleted_at"] is not None}
    active_ids = {log["member_id"] for log in logs} | {order["member_id"] for order in orders}
    assert test_ids & active_ids
    assert test_ids & {order["member_id"] for order in orders}
    assert withdrawn_ids & {log["member_id"] for log in logs}
    assert withdrawn_ids & {order["member_id"] for order in orders}
    statuses = Counter(order["status"] for order in orders)
    assert statuses["cancelled"]
    assert statuses["refunded"]
    assert {order["channel"] for order in orders} == set(generator.CHANNELS)

    bot_sessions = {log["session_id"] for log in logs if log["user_agent"] and BOT_AGENT.search(log["user_agent"])}
    assert bot_sessions
    for session in bot_sessions:
        views = [log["occurred_at_ms"] for log in logs if log["session_id"] == session]
        assert len(views) >= 150
        per_minute = len(views) / max((views[-1] - views[0]) / 60_000, 1 / 60)
        assert per_minute >= 100
        assert all(log["member_id"] is None for log in logs if log["session_id"] == session)

    product_ids = {row["product_id"] for row in products}
    viewed = [log for log in logs if log["event_name"] == "product_view"]
    assert any(log["product_id"] is not None and log["product_id"] not in product_ids for log in viewed)
    assert any(log["user_agent"] is None for log in logs)
    assert set(Counter(log["event_name"] for log in logs)) == set(generator.EVENT_NAMES)
    for column in ("birth_date", "cup_size", "band_size", "phone"):
        assert any(row[column] is None for row in members), column
        assert any(row[column] is not None for row in members), column
    for column in ("cup_type", "wire", "braret", "gore_width", "braret_line", "bsw", "registered_at"):
        assert any(row[column] is None for row in products), column
        assert any(row[column] is not None for row in products), column
    with_options = {row["product_id"] for row in small["product_options"]}
    assert product_ids - with_options, "a product without options"


def test_orders_hold_what_the_member_carted_in_a_real_option(small: dict[str, list[dict]]) -> None:
    options = {row["option_id"]: row["product_id"] for row in small["product_options"]}
    prices = {row["product_id"]: row["price"] for row in small["products"]}
    session_member: dict[str, int] = {}
    carted: dict[str, set[int]] = defaultdict(set)
    for log in small["web_logs"]:
        if log["member_id"] is not None:
            session_member[log["session_id"]] = log["member_id"]
        if log["event_name"] == "add_to_cart":
            carted[log["session_id"]].add(log["product_id"])
    carted_by_member: dict[int, set[int]] = defaultdict(set)
    for session, products in carted.items():
        if session in session_member:
            carted_by_member[session_member[session]] |= products
    order_member = {order["order_id"]: order["member_id"] for order in small["orders"]}
    assert small["order_items"]
    for item in small["order_items"]:
        assert options[item["option_id"]] == item["product_id"]
        assert item["product_id"] in carted_by_member[order_member[item["order_id"]]]
        assert item["quantity"] >= 1
        assert item["unit_price"] in (prices[item["product_id"]], round(prices[item["product_id"]] * 0.9, -2))


def test_members_mostly_buy_what_is_offered_in_their_size(scale_one: dict[str, list[dict]]) -> None:
    offered = {(row["product_id"], row["cup_size"], row["band_size"]) for row in scale_one["product_options"]}
    members = {row["member_id"]: row for row in scale_one["members"] if row["cup_size"] and row["band_size"]}
    order_member = {order["order_id"]: order["member_id"] for order in scale_one["orders"]}
    fits = [
        (item["product_id"], members[m]["cup_size"], members[m]["band_size"]) in offered
        for item in scale_one["order_items"]
        if (m := order_member[item["order_id"]]) in members
    ]
    rng = np.random.default_rng(0)
    sized = list(members.values())
    product_ids = [row["product_id"] for row in scale_one["products"]]
    random_pairs = [
        (product_ids[rng.integers(len(product_ids))], member["cup_size"], member["band_size"]) in offered
        for member in (sized[rng.integers(len(sized))] for _ in range(5_000))
    ]
    assert len(fits) > 200
    assert np.mean(fits) > 0.8
    assert np.mean(fits) > np.mean(random_pairs) + 0.2


def test_members_have_a_taste_for_wires() -> None:
    config = SeedConfig(scale=1, seed=3, end_date=date(2026, 1, 1), days=30)
    rows = as_dicts(config)
    wire_taste = generator.make_members(config).taste_idx % len(generator.WIRE_TASTE_WEIGHTS)
    wire = {row["product_id"]: row["wire"] for row in rows["products"]}
    viewed_wired: dict[int, list[int]] = {0: [], 1: []}
    for log in rows["web_logs"]:
        if log["event_name"] == "product_view" and log["member_id"] is not None:
            taste = int(wire_taste[log["member_id"] - 1])
            if taste in viewed_wired and wire.get(log["product_id"]) is not None:
                viewed_wired[taste].append(wire[log["product_id"]])
    assert np.mean(viewed_wired[1]) > np.mean(viewed_wired[0]) + 0.3


def test_sizes_follow_the_korean_market(scale_one: dict[str, list[dict]]) -> None:
    cups = Counter(row["cup_size"] for row in scale_one["members"] if row["cup_size"])
    bands = Counter(row["band_size"] for row in scale_one["members"] if row["band_size"])
    total_cups, total_bands = sum(cups.values()), sum(bands.values())
    assert (cups["A"] + cups["B"] + cups["C"]) / total_cups > 0.65
    assert (bands[70] + bands[75] + bands[80]) / total_bands > 0.65
    assert set(cups) <= set(generator.CUP_SIZES)
    assert set(bands) <= set(generator.BAND_SIZES)
    assert all(HANGUL.search(row["name"]) for row in scale_one["products"])
    assert len({row["name"] for row in scale_one["products"]}) > 150


# --- queries: static checks -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", queries.QUERY_NAMES)
def test_query_files_are_portable_and_bound(name: str) -> None:
    text = queries.query_path(name).read_text(encoding="utf-8")
    assert text.startswith("-- "), "starts with the contract comment"
    body = queries.query_text(name)
    assert "::" not in body
    assert "`" not in body
    assert ";" not in body
    assert not re.search(r"\b(LIMIT|TOP|NOW|CURRENT_TIMESTAMP|COALESCE|IFNULL|NVL|EXTRACT)\b", body, re.IGNORECASE)
    assert re.search(r"\bORDER BY\b", body)
    parameters = set(queries.load_query(name).compile().binds)
    assert parameters == ({"end"} if name in ("members", "products") else {"start", "end"})
    assert queries.query_columns(name)


def test_query_parameters_are_typed_from_the_contract() -> None:
    assert queries.query_parameters("order_lines") == {"start": "TIMESTAMP", "end": "TIMESTAMP"}
    assert queries.query_parameters("web_logs") == {"start": "BIGINT", "end": "BIGINT"}
    engine = sa.create_engine("sqlite://")
    with engine.connect() as connection:
        tables.create_schema(connection)
        connection.execute(
            tables.orders.insert(),
            [
                {
                    "order_id": 1,
                    "member_id": 1,
                    "ordered_at": datetime(2026, 1, 1),
                    "status": "paid",
                    "channel": "pc_web",
                },
                {
                    "order_id": 2,
                    "member_id": 1,
                    "ordered_at": datetime(2026, 1, 2),
                    "status": "paid",
                    "channel": "pc_web",
                },
            ],
        )
        connection.execute(
            tables.order_items.insert(),
            [{"order_item_id": n, "order_id": n, "product_id": 1, "option_id": 1, "quantity": 1, "unit_price": 9900}
             for n in (1, 2)],
        )  # fmt: skip
        window = {"start": pd.Timestamp("2026-01-01"), "end": date(2026, 1, 2)}
        rows = connection.execute(queries.load_typed_query("order_lines"), window).all()
        assert [(row.order_id, row.ordered_at) for row in rows] == [(1, datetime(2026, 1, 1))]
        epoch = {"start": np.int64(0), "end": np.int64(10**13)}
        assert connection.execute(queries.load_query("web_logs"), epoch).all() == []
        aware = {"start": datetime(2026, 1, 1, tzinfo=ZoneInfo("Asia/Seoul")), "end": datetime(2026, 1, 2)}
        with pytest.raises(sa.exc.StatementError, match="must be naive Asia/Seoul"):
            connection.execute(queries.load_query("order_lines"), aware)
        with pytest.raises(sa.exc.StatementError, match="needs an integer"):
            connection.execute(queries.load_query("web_logs"), {"start": 1.5, "end": 2})


def test_unknown_query_name_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown query 'orders'"):
        queries.load_query("orders")


def test_member_query_contract_has_no_personal_data() -> None:
    names = [column for column, _type, _nullable in queries.query_columns("members")]
    assert names == ["member_id", "birth_date", "cup_size", "band_size", "is_test", "created_at", "deleted_at"]
    body = queries.query_text("members").lower()
    assert not re.search(r"\b(name|email|phone)\b", body)


# --- the command ------------------------------------------------------------------------------------------------


def test_command_seeds_refuses_to_overwrite_and_replaces(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    url = f"sqlite:///{tmp_path / 'pulla.db'}"
    args = ["seed-demo-db", "--url", url, "--scale", "0.05", "--seed", "5", "--end-date", "2026-02-01", "--days", "7"]
    assert cli.main(args) == 0
    out = capsys.readouterr().out
    assert "2026-01-25 to 2026-02-01" in out
    engine = sa.create_engine(url)
    with engine.connect() as connection:
        counts = {t.name: connection.execute(sa.select(sa.func.count()).select_from(t)).scalar() for t in tables.TABLES}
    assert all(counts.values())
    assert f"{counts['web_logs']:,}" in out

    assert cli.main(args) == 1
    error = capsys.readouterr().err
    assert f"members ({counts['members']} rows)" in error
    assert "--replace" in error

    assert cli.main([*args[:-4], "--seed", "6", "--end-date", "2026-02-01", "--days", "7", "--replace"]) == 0
    with engine.connect() as connection:
        assert connection.execute(sa.select(sa.func.count()).select_from(tables.members)).scalar() == counts["members"]
        first_session = connection.execute(
            sa.select(tables.web_logs.c.session_id).order_by(tables.web_logs.c.log_id).limit(1)
        ).scalar()
    engine.dispose()
    fresh = next(rows for name, rows in generate(SeedConfig(0.05, 6, date(2026, 2, 1), 7)) if name == "web_logs")
    assert first_session == fresh[0][1]


@pytest.mark.parametrize(
    ("extra", "expected_exit"),
    [(["--scale", "0"], 2), (["--days", "0"], 2), (["--seed", "-3"], 2)],
)
def test_command_rejects_bad_arguments(
    tmp_path: Path, extra: list[str], expected_exit: int, capsys: pytest.CaptureFixture
) -> None:
    url = f"sqlite:///{tmp_path / 'pulla.db'}"
    assert cli.main(["seed-demo-db", "--url", url, "--end-date", "2026-02-01", *extra]) == expected_exit
    assert "seed-demo-db:" in capsys.readouterr().err
    assert not (tmp_path / "pulla.db").exists() or not sa.inspect(sa.create_engine(url)).get_table_names()


def test_command_rejects_a_malformed_date(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["seed-demo-db", "--url", f"sqlite:///{tmp_path / 'x.db'}", "--end-date", "2026-13-01"])
    assert exit_info.value.code == 2
    assert "not a date in YYYY-MM-DD form: '2026-13-01'" in capsys.readouterr().err


def test_default_end_date_is_today_in_seoul() -> None:
    from pulla_dev.demo_shop.seed import seoul_today

    before = datetime.now(ZoneInfo("Asia/Seoul")).date()
    today = seoul_today()
    after = datetime.now(ZoneInfo("Asia/Seoul")).date()
    assert today in (before, after)
    assert before - timedelta(days=1) < today


def test_crawlers_after_the_window_come_at_the_windows_rate_drawn_per_day() -> None:
    config = SeedConfig(scale=2, seed=42, end_date=date(2026, 11, 11), days=30)
    activity = generator.ActivityGenerator(config, generator.make_catalog(config), generator.make_members(config))
    later_days = range(config.days, config.days + 3000)
    counts = [activity.crawler_sessions_on_later_day(day) for day in later_days]
    per_day_in_window = len(activity.bot_days) / config.days  # 12 crawler sessions in the seeded month
    assert abs(np.mean(counts) - per_day_in_window) < 0.05
    # A day's count comes from that day's stream alone: asking in another order gives the same counts.
    assert [activity.crawler_sessions_on_later_day(day) for day in reversed(later_days)] == counts[::-1]
