"""Database URLs as typed, the tables the queries read, and a window as the user wrote it (errors, the summary)."""

from __future__ import annotations

import pytest

from pulla_personalize import queries
from pulla_personalize.db_urls import BadDatabaseUrl, normalise_url, shown, sqlite_file
from pulla_personalize.extract import Window


@pytest.mark.parametrize(
    ("typed", "driver"),
    [
        ("postgres://u:p@db.example/pulla", "postgresql+psycopg"),
        ("postgresql://u@db.example/pulla", "postgresql+psycopg"),
        ("mysql://root@127.0.0.1:3306/pulla", "mysql+pymysql"),
        ("mariadb://root@127.0.0.1/pulla", "mariadb+pymysql"),
        ("postgresql+psycopg://u@db.example/pulla", "postgresql+psycopg"),
        ("mysql+mysqldb://root@h/pulla", "mysql+mysqldb"),
        ("sqlite:///pulla.db", "sqlite"),
    ],
)
def test_a_url_without_a_driver_gets_this_projects_driver(typed: str, driver: str) -> None:
    url = normalise_url(typed)
    assert url.drivername == driver
    assert url.database == typed.rsplit("/", 1)[1]


def test_a_url_that_is_not_one_says_what_one_looks_like() -> None:
    with pytest.raises(BadDatabaseUrl, match=r"'pulla\.db' is not a database URL \(examples: sqlite:///pulla\.db"):
        normalise_url("pulla.db")


def test_shown_masks_the_password() -> None:
    assert shown("postgres://ana:s3cret@db/pulla") == "postgres://ana:***@db/pulla"


@pytest.mark.parametrize(
    ("typed", "path"),
    [
        ("sqlite:///pulla.db", "pulla.db"),
        ("sqlite:////var/data/pulla.db", "/var/data/pulla.db"),
        ("sqlite://", None),
        ("sqlite:///:memory:", None),
        ("sqlite:///file:pulla.db?mode=ro&uri=true", "pulla.db"),
        ("postgresql+psycopg://u@h/pulla", None),
    ],
)
def test_sqlite_file_is_the_file_a_url_opens(typed: str, path: str | None) -> None:
    assert sqlite_file(normalise_url(typed)) == path


def test_the_shipped_queries_read_the_six_pulla_tables() -> None:
    names = ("members", "products", "web_logs", "order_lines", "session_logins")
    assert sorted(table for _, table in queries.source_tables(names)) == [
        "members",
        "order_items",
        "orders",
        "product_options",
        "products",
        "web_logs",
    ]


def test_source_tables_follow_rewritten_sql(monkeypatch: pytest.MonkeyPatch) -> None:
    rewritten = {
        "members": "WITH live AS (SELECT * FROM crm.customer) SELECT l.id FROM live l JOIN crm.sizes s ON s.id = l.id",
        "web_logs": "SELECT * FROM (SELECT * FROM clicks) c, live",
    }
    monkeypatch.setattr(queries, "query_text", rewritten.__getitem__)
    assert queries.source_tables(["members", "web_logs"]) == [("crm", "customer"), ("crm", "sizes"), (None, "clicks")]


def test_swapped_dates_are_reported_as_typed_not_in_utc() -> None:
    with pytest.raises(ValueError, match="is not before") as raised:
        Window.parse("2026-11-02", "2026-11-01", "Asia/Seoul")
    message = str(raised.value)
    assert message.startswith("--start 2026-11-02 is not before --end 2026-11-01 (bounds without an offset are Asia")
    assert "15:00" not in message
    assert "+00:00" not in message


def test_a_window_describes_itself_in_its_zone() -> None:
    assert Window.parse("2026-10-02", "2026-11-01", "Asia/Seoul").describe() == "2026-10-02 → 2026-11-01 (Asia/Seoul)"
    assert (
        Window.parse("2026-10-02T09:30", "2026-10-02T18:00Z", "Asia/Seoul").describe()
        == "2026-10-02 09:30 → 2026-10-03 03:00 (Asia/Seoul)"
    )


def test_the_export_summary_shows_the_window_in_its_zone_then_in_utc() -> None:
    from pulla_personalize.export import summary_lines

    window = Window.parse("2026-10-02", "2026-11-01", "Asia/Seoul")
    report = {
        "window": {
            "start": window.start.isoformat(),
            "end": window.end.isoformat(),
            "source_time_zone": "Asia/Seoul",
        }
    }
    assert summary_lines(report)[0] == (
        "window 2026-10-02 → 2026-11-01 (Asia/Seoul) = 2026-10-01T15:00:00+00:00 .. 2026-10-31T15:00:00+00:00"
    )
