"""The Pulla source database on real engines: DDL, seeding and every extraction query on SQLite, PostgreSQL and
MariaDB, checked against the generator's rows filtered in Python and against each other."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import date, datetime, timedelta

import pytest
import sqlalchemy as sa

from pulla_dev.demo_shop import generator, seed, tables
from pulla_dev.demo_shop.generator import SeedConfig, generate
from pulla_dev.demo_shop.seed import SourceDatabaseExistsError, seed_demo_database
from pulla_personalize import queries

pytestmark = pytest.mark.db

CONFIG = SeedConfig(scale=0.05, seed=11, end_date=date(2026, 3, 1), days=10)
START_LOCAL = datetime.combine(CONFIG.start_date, datetime.min.time())
END_LOCAL = datetime.combine(CONFIG.end_date, datetime.min.time())
START_MS = generator.seoul_midnight_ms(CONFIG.start_date)
END_MS = generator.seoul_midnight_ms(CONFIG.end_date)


def seed_config(url: str, config: SeedConfig = CONFIG, **kwargs) -> dict[str, int]:
    return seed_demo_database(
        url, end_date=config.end_date, scale=config.scale, seed=config.seed, days=config.days, **kwargs
    )


def generated(config: SeedConfig = CONFIG) -> dict[str, list[dict]]:
    rows: dict[str, list[dict]] = defaultdict(list)
    for name, batch in generate(config):
        keys = tables.metadata.tables[name].columns.keys()
        rows[name].extend(dict(zip(keys, row, strict=True)) for row in batch)
    return dict(rows)


@pytest.fixture(scope="module")
def source_rows() -> dict[str, list[dict]]:
    return generated()


def normalize(name: str, rows: list) -> list[tuple]:
    """Rows as plain tuples whatever the engine: SQLite hands back TIMESTAMP and DATE as text from raw SQL."""
    types = [sql_type for _column, sql_type, _nullable in queries.query_columns(name)]
    normalized = []
    for row in rows:
        values = []
        for value, sql_type in zip(row, types, strict=True):
            if value is None:
                values.append(None)
            elif sql_type == "TIMESTAMP":
                values.append(datetime.fromisoformat(value) if isinstance(value, str) else value)
            elif sql_type == "DATE":
                values.append(date.fromisoformat(value) if isinstance(value, str) else value)
            elif sql_type in ("BIGINT", "INTEGER", "SMALLINT"):
                values.append(int(value))
            else:
                values.append(str(value))
        normalized.append(tuple(values))
    return normalized


def run_query(url: str, name: str, start: object, end: object) -> tuple[list[str], list[tuple]]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            result = connection.execute(queries.load_query(name), {"start": start, "end": end})
            return list(result.keys()), normalize(name, result.all())
    finally:
        engine.dispose()


# --- the same queries computed in Python from the generator's rows ----------------------------------------------


def expected_order_lines(rows: dict[str, list[dict]], start: datetime, end: datetime) -> list[tuple]:
    orders = {order["order_id"]: order for order in rows["orders"] if start <= order["ordered_at"] < end}
    lines = [
        (item["order_item_id"], order["order_id"], order["member_id"], order["ordered_at"], order["status"],
         order["channel"], item["product_id"], item["option_id"], item["quantity"], item["unit_price"])
        for item in rows["order_items"] if (order := orders.get(item["order_id"]))
    ]  # fmt: skip
    return sorted(lines, key=lambda line: (line[3], line[1], line[0]))


def in_window(rows: dict[str, list[dict]], start_ms: int, end_ms: int) -> list[dict]:
    return [log for log in rows["web_logs"] if start_ms <= log["occurred_at_ms"] < end_ms]


def expected_web_logs(rows: dict[str, list[dict]], start_ms: int, end_ms: int) -> list[tuple]:
    columns = [column for column, _type, _nullable in queries.query_columns("web_logs")]
    logs = sorted(in_window(rows, start_ms, end_ms), key=lambda log: (log["occurred_at_ms"], log["log_id"]))
    return [tuple(log[column] for column in columns) for log in logs]


def expected_session_logins(rows: dict[str, list[dict]], start_ms: int, end_ms: int) -> list[tuple]:
    sessions = {log["session_id"] for log in in_window(rows, start_ms, end_ms)}
    logins = [log for log in rows["web_logs"] if log["event_name"] == "login" and log["session_id"] in sessions]
    logins.sort(key=lambda log: (log["occurred_at_ms"], log["log_id"]))
    return [(log["session_id"], log["member_id"], log["occurred_at_ms"]) for log in logins]


def expected_members(rows: dict[str, list[dict]], _start: datetime, end: datetime) -> list[tuple]:
    columns = [column for column, _type, _nullable in queries.query_columns("members")]
    members = sorted((m for m in rows["members"] if m["created_at"] < end), key=lambda m: m["member_id"])
    return [tuple(member[column] for column in columns) for member in members]


def expected_products(rows: dict[str, list[dict]], _start: datetime, end: datetime) -> list[tuple]:
    options: dict[int, list[dict]] = defaultdict(list)
    for option in rows["product_options"]:
        options[option["product_id"]].append(option)
    attributes = ["product_id", "cup_type", "wire", "braret", "gore_height", "gore_width", "braret_line", "bsw"]
    result = []
    for product in sorted(rows["products"], key=lambda p: p["product_id"]):
        if product["registered_at"] is not None and product["registered_at"] >= end:
            continue
        head = (*(product[a] for a in attributes), product["price"], product["status"], product["registered_at"])
        own = sorted(options[product["product_id"]], key=lambda o: o["option_id"])
        if not own:
            result.append((*head, None, None, None, None))
        result.extend((*head, o["option_id"], o["cup_size"], o["band_size"], o["stock"]) for o in own)
    return result


EXPECTED: dict[str, Callable[..., list[tuple]]] = {
    "order_lines": expected_order_lines,
    "web_logs": expected_web_logs,
    "session_logins": expected_session_logins,
    "members": expected_members,
    "products": expected_products,
}
USES_EPOCH_MS = {"web_logs", "session_logins"}


def windows(name: str) -> list[tuple[object, object]]:
    """The whole seeded window, one day in the middle, and a window that ends before the data starts."""
    if name in USES_EPOCH_MS:
        middle = START_MS + 4 * generator.DAY_MS
        return [(START_MS, END_MS), (middle, middle + generator.DAY_MS), (0, START_MS)]
    middle = START_LOCAL + timedelta(days=4)
    return [(START_LOCAL, END_LOCAL), (middle, middle + timedelta(days=1)), (datetime(2000, 1, 1), START_LOCAL)]


# --- DDL ----------------------------------------------------------------------------------------------------------


def test_ddl_applies_with_keys_and_indexes(database_url: str) -> None:
    engine = sa.create_engine(database_url)
    with engine.begin() as connection:
        tables.create_schema(connection)
    inspector = sa.inspect(engine)
    assert set(tables.TABLE_NAMES) <= set(inspector.get_table_names())
    for table in tables.TABLES:
        primary_key = inspector.get_pk_constraint(table.name)["constrained_columns"]
        assert primary_key == [column.name for column in table.primary_key.columns]
    indexed = {
        (name, tuple(index["column_names"])) for name in tables.TABLE_NAMES for index in inspector.get_indexes(name)
    }
    for needed in [
        ("orders", ("ordered_at",)),
        ("web_logs", ("occurred_at_ms",)),
        ("web_logs", ("session_id",)),
        ("order_items", ("order_id",)),
        ("product_options", ("product_id",)),
        ("members", ("created_at",)),
    ]:
        assert needed in indexed, needed
    referred = {fk["referred_table"] for fk in inspector.get_foreign_keys("order_items")}
    assert referred == {"orders", "products", "product_options"}
    columns = {column["name"]: column for column in inspector.get_columns("web_logs")}
    assert isinstance(columns["log_id"]["type"], sa.BigInteger)
    assert isinstance(columns["occurred_at_ms"]["type"], sa.BigInteger)
    assert columns["session_id"]["type"].length == 36
    assert columns["member_id"]["nullable"]
    with engine.begin() as connection:
        tables.drop_schema(connection)
        assert tables.existing_tables(connection) == []
    engine.dispose()


# --- seeding ------------------------------------------------------------------------------------------------------


def test_seed_stores_exactly_the_generated_rows(database_url: str, source_rows: dict[str, list[dict]]) -> None:
    counts = seed_config(database_url)
    assert counts == {name: len(source_rows[name]) for name in tables.TABLE_NAMES}
    engine = sa.create_engine(database_url)
    with engine.connect() as connection:
        for table in tables.TABLES:
            stored = connection.execute(sa.select(table).order_by(*table.primary_key.columns)).all()
            expected = [tuple(row.values()) for row in source_rows[table.name]]
            assert [tuple(row) for row in stored] == sorted(expected, key=lambda row: row[0]), table.name
    engine.dispose()


def test_seed_refuses_existing_tables_and_replaces_on_request(database_url: str) -> None:
    first = seed_config(database_url)
    with pytest.raises(SourceDatabaseExistsError, match=rf"members \({first['members']} rows\).*replace=True"):
        seed_config(database_url)
    other = SeedConfig(scale=CONFIG.scale, seed=CONFIG.seed + 1, end_date=CONFIG.end_date, days=CONFIG.days)
    replaced = seed_config(database_url, other, replace=True)
    _columns, logs = run_query(database_url, "web_logs", START_MS, END_MS)
    assert len(logs) == replaced["web_logs"]
    assert logs == normalize("web_logs", expected_web_logs(generated(other), START_MS, END_MS))


def test_a_failed_seed_writes_nothing(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    seed_config(database_url)
    _columns, before = run_query(database_url, "members", START_LOCAL, END_LOCAL)
    real_insert = seed.bulk_insert

    def insert_then_fail(connection: sa.Connection, table: sa.Table, rows: list[tuple]) -> int:
        written = real_insert(connection, table, rows)
        if table.name == "web_logs":
            raise RuntimeError("disk full (injected)")
        return written

    monkeypatch.setattr(seed, "bulk_insert", insert_then_fail)
    with pytest.raises(RuntimeError, match="injected"):
        seed_config(database_url, SeedConfig(scale=0.06, seed=1, end_date=CONFIG.end_date, days=3), replace=True)

    engine = sa.create_engine(database_url)
    with engine.connect() as connection:
        left = tables.existing_tables(connection)
    engine.dispose()
    if engine.dialect.name == "mysql":
        assert left == [], "MariaDB cannot roll back DDL: the half-made tables are dropped"
    else:
        assert left == list(tables.TABLE_NAMES), "the transaction rolled back to the previous seed"
        assert run_query(database_url, "members", START_LOCAL, END_LOCAL)[1] == before


# --- extraction queries -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", queries.QUERY_NAMES)
def test_query_returns_the_contract_columns_and_the_rows_of_its_window(
    database_url: str, name: str, source_rows: dict[str, list[dict]]
) -> None:
    seed_config(database_url)
    contract = [column for column, _type, _nullable in queries.query_columns(name)]
    for start, end in windows(name):
        columns, rows = run_query(database_url, name, start, end)
        assert columns == contract
        assert rows == normalize(name, EXPECTED[name](source_rows, start, end)), (name, start, end)
    assert run_query(database_url, name, *windows(name)[0])[1], "the whole window has rows"


def test_windows_are_half_open(database_url: str, source_rows: dict[str, list[dict]]) -> None:
    seed_config(database_url)
    times = sorted({order["ordered_at"] for order in source_rows["orders"]})
    start, end = times[1], times[-2]
    _columns, lines = run_query(database_url, "order_lines", start, end)
    ordered = {line[3] for line in lines}
    assert start in ordered
    assert end not in ordered
    assert times[0] not in ordered

    moments = sorted({log["occurred_at_ms"] for log in source_rows["web_logs"]})
    start_ms, end_ms = moments[10], moments[-10]
    _columns, logs = run_query(database_url, "web_logs", start_ms, end_ms)
    assert logs[0][-1] == start_ms
    assert logs[-1][-1] == moments[-11]

    created = sorted(member["created_at"] for member in source_rows["members"])
    _columns, members = run_query(database_url, "members", START_LOCAL, created[-1])
    assert len(members) == len(created) - created.count(created[-1])


def test_session_logins_include_logins_after_the_window(database_url: str, source_rows: dict[str, list[dict]]) -> None:
    seed_config(database_url)
    first_event: dict[str, int] = {}
    for log in source_rows["web_logs"]:
        first_event.setdefault(log["session_id"], log["occurred_at_ms"])
    login = next(
        log
        for log in source_rows["web_logs"]
        if log["event_name"] == "login" and first_event[log["session_id"]] < log["occurred_at_ms"]
    )
    start_ms, end_ms = first_event[login["session_id"]], login["occurred_at_ms"]  # the login is just outside
    _columns, logs = run_query(database_url, "web_logs", start_ms, end_ms)
    assert all(row[3] != "login" or row[1] != login["session_id"] for row in logs)
    _columns, logins = run_query(database_url, "session_logins", start_ms, end_ms)
    assert (login["session_id"], login["member_id"], login["occurred_at_ms"]) in logins


def test_members_query_never_returns_personal_data(database_url: str, source_rows: dict[str, list[dict]]) -> None:
    seed_config(database_url)
    columns, members = run_query(database_url, "members", START_LOCAL, END_LOCAL)
    assert not {"name", "email", "phone"} & set(columns)
    personal = {m[key] for m in source_rows["members"] for key in ("name", "email", "phone")} - {None}
    assert not personal & {value for row in members for value in row}
    assert len(members) == sum(1 for m in source_rows["members"] if m["created_at"] < END_LOCAL)
    product_names = {product["name"] for product in source_rows["products"]}
    _columns, products = run_query(database_url, "products", START_LOCAL, END_LOCAL)
    assert not product_names & {value for row in products for value in row}


def run_typed_query(url: str, name: str, start: object, end: object) -> list[tuple]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            return [
                tuple(row) for row in connection.execute(queries.load_typed_query(name), {"start": start, "end": end})
            ]
    finally:
        engine.dispose()


def test_queries_return_the_same_rows_on_all_three_engines(make_database: Callable[[str], str]) -> None:
    urls = {engine: make_database(engine) for engine in ("sqlite", "postgresql", "mysql")}
    for url in urls.values():
        seed_config(url)
    for name in queries.QUERY_NAMES:
        for number, (start, end) in enumerate(windows(name)[:2]):
            results = {engine: run_query(url, name, start, end) for engine, url in urls.items()}
            assert number or results["sqlite"][1], f"{name}: the whole window has rows"
            assert results["postgresql"] == results["sqlite"], (name, start, end)
            assert results["mysql"] == results["sqlite"], (name, start, end)
            # Typed by the contract, the rows need no normalizing: SQLite's text timestamps come back as datetimes.
            for engine, url in urls.items():
                assert run_typed_query(url, name, start, end) == results["sqlite"][1], (engine, name, start)
