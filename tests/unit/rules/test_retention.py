"""Retention: an interaction older than the window end minus ``interactions_retention_days`` is excluded by its
source's rules under beyond_retention, counted per source, however long the window: a full reload of three years
keeps the last two."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from pulla_personalize import transform
from pulla_personalize.quarantine import Accounting
from pulla_personalize.rules.interactions import beyond_retention, retention_start
from pulla_personalize.rules.members import MEMBER
from pulla_personalize.rules.order_lines import order_line_rules
from pulla_personalize.rules.web_logs import web_log_rules

from .conftest import BOUNDS, PASSES, SETTINGS, E, S, query_chunk, records, verdict_list

SEOUL = ZoneInfo("Asia/Seoul")
#: The window end, 2026-01-02 00:00 in Seoul, and the limit 730 days before it.
WINDOW_END = datetime.fromtimestamp(E, tz=UTC)
LIMIT = retention_start(WINDOW_END, "Asia/Seoul", 730)
#: A full reload of three years: the window reaches a year further back than the retention.
FULL_RELOAD = dataclasses.replace(BOUNDS, window_start=E - 3 * 365 * 86_400, retained_from=LIMIT)
PRODUCT_IDS = transform.text_value_set(["100"])


def seoul_text(seconds: int) -> str:
    """An epoch second as the naive Seoul time orders.ordered_at holds."""
    return datetime.fromtimestamp(seconds, tz=SEOUL).strftime("%Y-%m-%d %H:%M:%S")


def test_the_limit_is_the_window_end_minus_the_days() -> None:
    # Seoul has no daylight saving: exactly 730 × 86,400 s, 2024-01-03 00:00 in Seoul (2024 has a 29 February).
    assert LIMIT == E - 730 * 86_400
    assert datetime.fromtimestamp(LIMIT, tz=SEOUL) == datetime(2024, 1, 3, tzinfo=SEOUL)


def test_the_limit_counts_local_calendar_days_across_daylight_saving() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    end = datetime(2026, 7, 1, tzinfo=berlin)  # summer time
    limit = retention_start(end.astimezone(UTC), "Europe/Berlin", 181)
    # Local midnight of 2026-01-01 (winter time): the clocks went forward in March, so one hour less than
    # 181 × 86,400 s.
    assert limit == int(datetime(2026, 1, 1, tzinfo=berlin).timestamp())
    assert int(end.timestamp()) - limit == 181 * 86_400 - 3600


def test_a_time_before_the_limit_is_beyond_it_and_the_limit_itself_is_not() -> None:
    seconds = pd.Series([LIMIT - 1, LIMIT, LIMIT + 1, None], dtype="Int64")
    assert beyond_retention(seconds, FULL_RELOAD).tolist() == [True, False, False, False]
    assert not beyond_retention(seconds, BOUNDS).any()  # bounds without a limit


def log(log_id: int, millis: int, **values: Any) -> dict[str, Any]:
    clean = {
        "log_id": log_id,
        "session_id": "aaaaaaaa-0000-0000-0000-000000000001",
        "member_id": 7,
        "event_name": "product_view",
        "product_id": 100,
        "user_agent": None,
        "occurred_at_ms": millis,
    }
    return {**clean, **values}


def line(order_item_id: int, seconds: int, **values: Any) -> dict[str, Any]:
    clean = {
        "order_item_id": order_item_id,
        "order_id": order_item_id,
        "member_id": 7,
        "ordered_at": seoul_text(seconds),
        "status": "paid",
        "channel": "pc_web",
        "product_id": 100,
        "option_id": 1000,
        "quantity": 1,
        "unit_price": 15900,
    }
    return {**clean, **values}


BEYOND = ("excluded", "beyond_retention", "")
# (row, the verdict it gets): a full reload window of three years, a retention of two.
WEB_LOG_CASES = [
    (log(1, FULL_RELOAD.window_start * 1000), BEYOND),  # the window's first millisecond, three years ago
    (log(2, LIMIT * 1000 - 1), BEYOND),  # one millisecond beyond: second LIMIT - 1
    (log(3, LIMIT * 1000), PASSES),  # the limit's first millisecond
    (log(4, (LIMIT + 1) * 1000), PASSES),  # one second inside
    (log(5, E * 1000 - 1), PASSES),  # the window's last millisecond
    # Rules before it still come first: a page view is not_an_interaction, a row of 1970 out of range.
    (log(6, LIMIT * 1000 - 1, event_name="page_view", product_id=None), ("excluded", "not_an_interaction", "")),
    (log(7, 1000), ("quarantined", "timestamp_out_of_range", "occurred_at_ms")),
]
ORDER_LINE_CASES = [
    (line(1, FULL_RELOAD.window_start), BEYOND),
    (line(2, LIMIT - 1), BEYOND),  # one second beyond
    (line(3, LIMIT), PASSES),
    (line(4, LIMIT + 1), PASSES),  # one second inside
    (line(5, LIMIT - 1, status="cancelled"), ("excluded", "cancelled_order", "")),
]


def test_web_logs_beyond_the_limit_are_excluded_and_counted_under_web_logs() -> None:
    chunk = query_chunk("web_logs", [row for row, _ in WEB_LOG_CASES])
    rows = web_log_rules(chunk, SETTINGS, FULL_RELOAD, PRODUCT_IDS)
    assert verdict_list(rows.verdicts) == [verdict for _, verdict in WEB_LOG_CASES]
    assert rows.events["TIMESTAMP"].tolist() == [LIMIT, LIMIT + 1, E - 1]
    accounting = Accounting()
    accounting.add_source_rows("web_logs", len(chunk))
    accounting.add_verdicts("web_logs", rows.verdicts)
    web_logs = accounting.as_dict()["web_logs"]
    assert web_logs["excluded"] == {"beyond_retention": 2, "not_an_interaction": 1}
    assert web_logs["quarantined"] == {"timestamp_out_of_range": 1}


def test_order_lines_beyond_the_limit_are_excluded_and_counted_under_order_items() -> None:
    chunk = query_chunk("order_lines", [row for row, _ in ORDER_LINE_CASES])
    rows = order_line_rules(chunk, SETTINGS, FULL_RELOAD, {"7": MEMBER}, PRODUCT_IDS)
    assert verdict_list(rows.verdicts) == [verdict for _, verdict in ORDER_LINE_CASES]
    assert records(rows.interactions[["ITEM_ID", "TIMESTAMP"]]) == [("100", LIMIT), ("100", LIMIT + 1)]
    accounting = Accounting()
    accounting.add_source_rows("order_items", len(chunk))
    accounting.add_verdicts("order_items", rows.verdicts)
    accounting.add_exported("order_items", len(rows.interactions))
    assert accounting.as_dict()["order_items"]["excluded"] == {"beyond_retention": 2, "cancelled_order": 1}
    assert accounting.unbalanced() == []


def test_a_window_inside_the_retention_loses_nothing_to_it() -> None:
    """The daily window (one day, two years of retention): the limit is far before the window start."""
    daily = dataclasses.replace(BOUNDS, retained_from=LIMIT)
    chunk = query_chunk("web_logs", [log(1, S * 1000), log(2, E * 1000 - 1)])
    rows = web_log_rules(chunk, SETTINGS, daily, PRODUCT_IDS)
    assert np.array_equal(rows.verdicts.alive, [True, True])
    # The gate's TIMESTAMP range starts where interactions may: the window start, or the limit when it is later.
    assert (daily.interactions_from, FULL_RELOAD.interactions_from) == (S, LIMIT)
