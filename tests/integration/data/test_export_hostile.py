"""An export over a small SQLite database full of traps: every rule and reason code, counted and balanced.

SQLite keeps whatever it is given in a column, so this database can hold what an adapted query on another
team's tables might return: 257-character ids, ``|`` and line breaks in values, undecodable bytes, unknown
codes. The expected files are written out in full: the test fails on any byte that changes.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from pulla_dev.demo_shop import tables
from pulla_personalize.export import export_window
from pulla_personalize.export_settings import ExportSettings
from pulla_personalize.extract import Window

# The window is 2026-01-01 in Seoul: [2025-12-31T15:00Z, 2026-01-01T15:00Z).
S = 1767193200
E = S + 86_400
WINDOW = Window.parse("2026-01-01", "2026-01-02")
REGISTERED_100 = 1748703600  # 2025-06-01 00:00 Seoul
LONG = "u" * 257
BOT = "dddddddd-0000-0000-0000-000000000004"


def ms(offset_seconds: float) -> int:
    return round((S + offset_seconds) * 1000)


IPAD = "Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X)"
WINDOWS = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/126.0"
ANDROID = "Mozilla/5.0 (Linux; Android 14; SM-S921N) Mobile Safari/537.36"


def member(member_id: object, birth: object = "1990-06-15", cup: object = "A", band: object = 75, **kw: object):
    values = {
        "is_test": 0,
        "created_at": "2025-01-01 00:00:00",
        "deleted_at": None,
        **kw,
    }
    return (
        member_id,
        f"{abs(hash(str(member_id)))}@example.com",
        "이름",
        None,
        birth,
        cup,
        band,
        values["is_test"],
        values["created_at"],
        "2025-01-01 00:00:00",
        values["deleted_at"],
    )


def product(product_id: object, cup_type: object = "full", wire: object = 1, braret: object = 0, **kw: object):
    values = {"registered_at": "2025-06-01 00:00:00", "gore_height": "mid", "bsw": "regular", **kw}
    return (
        product_id,
        "풀라 브라",
        cup_type,
        wire,
        braret,
        values["gore_height"],
        None,
        None,
        values["bsw"],
        30000,
        "on_sale",
        values["registered_at"],
        None,
        "2025-06-01 00:00:00",
    )


MEMBERS = [
    member(1),
    member(2, is_test=1),
    member(3, deleted_at="2025-12-01 00:00:00"),
    member(4, birth=None, cup=None, band=None),
    member(5, cup="Z"),
    member(6, cup="A|B"),
    member(7, band=77),
    member(8, birth="2030-01-01"),
    member(9, birth="not a date"),
    member(10, created_at="2026-05-01 00:00:00"),  # created after the window: not a source row
    member(11, birth="2000-01-02", cup="B", band=80),
    member(LONG),
    member("12\n3"),
]
PRODUCTS = [
    product(100),
    product(101, cup_type=None, wire=None, braret=1, registered_at=None),
    product(102, registered_at=None),
    product(103, cup_type='풀컵 "소프트", 🩱'),
    product(104, cup_type="a|b"),
    product(105, wire=2),
    product(106, cup_type="x" * 1001),
    product(107, registered_at="1999-01-01 00:00:00"),
    product(108),
    product(109, registered_at="2026-03-01 00:00:00"),  # registered after the window: not a source row
]
OPTIONS = [
    (1000, 100, "B", 75, 3),
    (1001, 100, "A", 75, 3),
    (1002, 100, "AA", 70, 3),
    (1003, 100, "B", 80, 3),
    (1030, 103, "C", 85, 3),
    (1080, 108, "D", 70, 3),
    (1081, 108, "Z", 70, 3),
]
# (order_id, member_id, ordered_at, status, channel, product_id, unit_price)
ORDERS = [
    (1, 1, "2026-01-01 10:00:00", "paid", "app_ios", 100, 15900),
    (2, 1, "2026-01-01 10:00:00", "shipped", "pc_web", 100, 15950),  # same user, item, second: duplicate
    (3, 11, "2026-01-01 11:00:00", "delivered", "pc_web", 103, 15950),
    (4, 1, "2026-01-01 11:10:00", "cancelled", "pc_web", 100, 15900),
    (5, 1, "2026-01-01 11:20:00", "refunded", "pc_web", 100, 15900),
    (6, 2, "2026-01-01 11:30:00", "paid", "pc_web", 100, 15900),
    (7, 3, "2026-01-01 11:40:00", "paid", "pc_web", 100, 15900),
    (8, 1, "2026-01-01 11:50:00", "lost", "pc_web", 100, 15900),
    (9, 1, "2026-01-01 11:55:00", "paid", "kiosk", 100, 15900),
    (10, 1, "2026-01-01 11:56:00", "paid", "pc_web", 999, 15900),
    (11, 999, "2026-01-01 11:57:00", "paid", "pc_web", 100, 15900),
    (12, 1, "2026-01-01 12:00:00", "paid", "pc_web", 101, -5),
    (13, 4, "2026-01-01 12:30:00", "paid", "mobile_web", 101, 9900),
    # At the window end. Stored without fractions, SQLite's text comparison lets it through ("...00:00" sorts
    # before the bound "...00:00.000000"); PostgreSQL and MariaDB would not return it.
    (14, 1, "2026-01-02 00:00:00", "paid", "pc_web", 100, 15900),
]
A = "aaaaaaaa-0000-0000-0000-000000000001"
WEB_LOGS = [
    # (log_id, session_id, member_id, event_name, product_id, user_agent, occurred_at_ms)
    (1, A, None, "product_view", 100, IPAD, ms(3600)),
    (2, A, 1, "login", None, IPAD, ms(3700)),
    (3, A, 1, "add_to_cart", 100, WINDOWS, ms(3800)),
    (4, A, None, "wishlist", 101, None, ms(3900)),
    (5, "bbbbbbbb-0000-0000-0000-000000000002", None, "product_view", 100, IPAD, ms(4000)),
    (6, "cccccccc-0000-0000-0000-000000000003", None, "product_view", 103, None, ms(5000)),
    (7, "cccccccc-0000-0000-0000-000000000003", 11, "login", None, None, ms(86_400 + 600)),  # after the window
    (8, "eeeeeeee-0000-0000-0000-000000000005", None, "product_view", 100, None, ms(6000)),
    (9, "eeeeeeee-0000-0000-0000-000000000005", 3, "login", None, None, ms(6100)),
    (10, "ffffffff-0000-0000-0000-000000000006", 2, "product_view", 100, None, ms(6200)),
    (11, LONG, None, "product_view", 100, None, ms(6300)),
    (12, "a|b", None, "product_view", 100, None, ms(6400)),
    (13, b"\xff\xfe-session", None, "product_view", 100, None, ms(6500)),
    (14, A, 1, "page_view", None, IPAD, ms(3650)),
    (15, A, 1, "search", None, IPAD, ms(3660)),
    (16, A, 1, "logout", None, IPAD, ms(7300)),
    (17, A, 1, "hover", 100, IPAD, ms(3670)),
    (18, A, 1, "product_view", None, IPAD, ms(3680)),
    (19, A, 1, "product_view", 999, IPAD, ms(3690)),
    (20, A, 1, "product_view", 100, IPAD, ms(3600.5)),  # same second as log 1: duplicate
    (21, "99999999-0000-0000-0000-000000000009", LONG, "product_view", 100, None, ms(6600)),
    (22, A, 1, "product_view", 108, ANDROID, ms(7200.999)),
    (23, "77777777-0000-0000-0000-000000000007", 4, "wishlist", 101, None, ms(2000)),
    (24, A, 1, "product_view", 100, None, ms(86_400)),  # at the window end: not a source row
    (25, A, 1, "product_view", 104, None, ms(8000)),
] + [(1000 + i, BOT, None, "product_view", 100, "Googlebot/2.1", ms(9000 + i * 0.25)) for i in range(100)]

INTERACTIONS = [
    "USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE,EVENT_VALUE,DEVICE",
    f"1,100,{S + 3600},click,,tablet",
    f"1,100,{S + 3800},cart,,pc",
    f"1,101,{S + 3900},wishlist,,",
    f"1,108,{S + 7200},click,,mobile",
    f"1,104,{S + 8000},click,,",
    f"1,100,{S + 36000},purchase,15.9,mobile",
    f"4,101,{S + 2000},wishlist,,",
    f"4,101,{S + 45000},purchase,9.9,mobile",
    f"11,103,{S + 5000},click,,",
    f"11,103,{S + 39600},purchase,16.0,pc",
]
USERS = ["USER_ID,AGE,CUP_SIZE,BAND_SIZE", "1,35,A,75", "4,,,", "11,25,B,80"]
ITEMS = [
    "ITEM_ID,CREATION_TIMESTAMP,CUP_SIZE,BAND_SIZE,WIRE,BRARET,CUP_TYPE,GORE_HEIGHT,GORE_WIDTH,BRARET_LINE,BSW",
    f"100,{REGISTERED_100},AA|A|B,70|75|80,True,False,full,mid,,,regular",
    f"101,{S + 2000},,,,True,,mid,,,regular",
    f"102,{E - 1},,,True,False,full,mid,,,regular",
    f'103,{REGISTERED_100},C,85,True,False,"풀컵 ""소프트"", 🩱",mid,,,regular',
    f"108,{REGISTERED_100},D,70,True,False,full,mid,,,regular",
]


@pytest.fixture(scope="module")
def hostile_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('hostile') / 'pulla.db'}"
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        tables.create_schema(connection)

        def insert(table: str, rows: list[tuple]) -> None:
            marks = ", ".join("?" * len(rows[0]))
            connection.exec_driver_sql(f"INSERT INTO {table} VALUES ({marks})", rows)

        insert("members", MEMBERS)
        insert("products", PRODUCTS)
        insert("product_options", OPTIONS)
        insert("orders", [order[:5] for order in ORDERS])
        insert("order_items", [(order[0], order[0], order[5], 1000, 1, order[6]) for order in ORDERS])
        insert("web_logs", WEB_LOGS)
    engine.dispose()
    return url


SETTINGS = ExportSettings(min_interactions=1, min_users_with_two_interactions=1, spill_buckets=1, chunk_rows=5)


def lines(path: Path) -> list[str]:
    return path.read_bytes().decode("utf-8").split("\n")[:-1]


def test_every_rule_lands_where_it_should(hostile_db: str, tmp_path: Path) -> None:
    result = export_window(hostile_db, WINDOW, tmp_path / "out", SETTINGS)
    out = tmp_path / "out"
    assert result.passed, result.report["validation"]["blocking_failures"]
    assert lines(out / "interactions.csv") == INTERACTIONS
    assert lines(out / "users.csv") == USERS
    assert lines(out / "items.csv") == ITEMS

    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["sources"] == {
        "order_items": {
            "source_rows": 14,
            "exported": 3,
            "excluded": {
                "cancelled_order": 1,
                "duplicate_interaction": 1,
                "outside_window": 1,
                "refunded_order": 1,
                "test_account": 1,
                "withdrawn_member": 1,
            },
            "quarantined": {
                "invalid_number": 1,
                "unknown_channel": 1,
                "unknown_member": 1,
                "unknown_order_status": 1,
                "unknown_product": 1,
            },
        },
        "web_logs": {
            "source_rows": 123,
            "exported": 7,
            "excluded": {
                "bot_session": 100,
                "duplicate_interaction": 1,
                "never_logged_in": 1,
                "not_an_interaction": 5,
                "test_account": 1,
                "withdrawn_member": 1,
            },
            "quarantined": {
                "id_too_long": 2,
                "invalid_utf8": 1,
                "missing_id": 1,
                "pipe_in_value": 1,
                "unknown_event_name": 1,
                "unknown_product": 1,
            },
        },
        "members": {
            "source_rows": 12,
            "exported": 3,
            "excluded": {"test_account": 1, "withdrawn_member": 1},
            "quarantined": {
                "bad_timestamp": 1,
                "id_too_long": 1,
                "line_break_in_value": 1,
                "pipe_in_value": 1,
                "timestamp_out_of_range": 1,
                "unknown_size": 2,
            },
        },
        "products": {
            "source_rows": 13,
            "exported": 8,
            "excluded": {},
            "quarantined": {
                "categorical_too_long": 1,
                "invalid_boolean": 1,
                "pipe_in_value": 1,
                "timestamp_out_of_range": 1,
                "unknown_size": 1,
            },
        },
    }
    assert report["datasets"]["items"]["creation_timestamp_from"] == {
        "first_interaction": 1,
        "registered_at": 3,
        "window_end": 1,
    }
    assert report["datasets"]["interactions"]["users_with_2_or_more"] == 3
    # Item 104 exists but was quarantined: interactions on it pass, with a warning.
    (warning,) = report["validation"]["warnings"]
    assert "ITEM_ID" in warning
    assert "'104'" in warning


def test_rejects_hold_the_original_rows_with_reason_and_column(hostile_db: str, tmp_path: Path) -> None:
    export_window(hostile_db, WINDOW, tmp_path / "out", SETTINGS)
    rejects = tmp_path / "out" / "rejects"
    assert sorted(path.name for path in rejects.iterdir()) == [
        "members.csv",
        "order_items.csv",
        "products.csv",
        "web_logs.csv",
    ]
    with (rejects / "web_logs.csv").open(encoding="utf-8", newline="") as handle:
        web = list(csv.DictReader(handle))
    by_log = {row["log_id"]: row for row in web}
    assert (by_log["11"]["reason"], by_log["11"]["column"], by_log["11"]["session_id"]) == (
        "id_too_long",
        "session_id",
        LONG,
    )
    assert by_log["13"]["reason"] == "invalid_utf8"
    assert by_log["13"]["session_id"] == "\\xff\\xfe-session"
    assert by_log["21"]["column"] == "member_id"
    assert by_log["17"]["event_name"] == "hover"
    with (rejects / "members.csv").open(encoding="utf-8", newline="") as handle:
        members = list(csv.DictReader(handle))
    assert {row["member_id"]: row["reason"] for row in members}["12\n3"] == "line_break_in_value"
    assert "email" not in members[0]
    with (rejects / "products.csv").open(encoding="utf-8", newline="") as handle:
        products = {row["product_id"] + "/" + row["option_id"]: row for row in csv.DictReader(handle)}
    assert products["108/1081"]["reason"] == "unknown_size"
    assert products["108/1081"]["column"] == "option_cup_size"


def test_personal_data_and_product_names_never_reach_an_output(hostile_db: str, tmp_path: Path) -> None:
    export_window(hostile_db, WINDOW, tmp_path / "out", SETTINGS)
    for path in (tmp_path / "out").rglob("*"):
        if path.is_file() and path.suffix in (".csv", ".json"):
            text = path.read_text(encoding="utf-8")
            assert "@example.com" not in text, path
            assert "이름" not in text, path
            assert "풀라 브라" not in text, path


def test_anonymous_sessions_are_kept_with_the_session_id_when_asked(hostile_db: str, tmp_path: Path) -> None:
    settings = ExportSettings(
        min_interactions=1, min_users_with_two_interactions=1, spill_buckets=1, keep_anonymous_sessions=True
    )
    result = export_window(hostile_db, WINDOW, tmp_path / "out", settings)
    web = result.report["sources"]["web_logs"]
    assert "never_logged_in" not in web["excluded"]
    assert web["excluded"]["bot_session"] == 100
    assert web["exported"] == 8
    assert f"bbbbbbbb-0000-0000-0000-000000000002,100,{S + 4000},click,,tablet" in lines(
        tmp_path / "out" / "interactions.csv"
    )


def test_small_chunks_and_many_buckets_give_the_same_rows(hostile_db: str, tmp_path: Path) -> None:
    one = export_window(hostile_db, WINDOW, tmp_path / "one", SETTINGS)
    many = ExportSettings(min_interactions=1, min_users_with_two_interactions=1, spill_buckets=7, chunk_rows=1)
    other = export_window(hostile_db, WINDOW, tmp_path / "many", many)
    assert one.report["sources"] == other.report["sources"]
    for name in ("interactions.csv", "users.csv", "items.csv"):
        assert sorted(lines(tmp_path / "one" / name)) == sorted(lines(tmp_path / "many" / name)), name
