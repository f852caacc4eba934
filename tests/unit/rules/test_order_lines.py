"""The order line rules on one hand-built chunk: a row per rule, each caught by the rule it is meant for."""

from __future__ import annotations

from typing import Any

from pulla_personalize import transform
from pulla_personalize.rules.members import MEMBER, TEST, WITHDRAWN
from pulla_personalize.rules.order_lines import order_line_rules

from .conftest import BOUNDS, PASSES, SETTINGS, S, query_chunk, records, verdict_list

STATUSES = {"7": MEMBER, "9": TEST, "10": WITHDRAWN}
PRODUCT_IDS = transform.text_value_set(["100", "101"])


def line(order_item_id: object, **values: object) -> dict[str, Any]:
    clean = {
        "order_item_id": order_item_id,
        "order_id": 1,
        "member_id": 7,
        "ordered_at": "2026-01-01 10:00:00",
        "status": "paid",
        "channel": "app_ios",
        "product_id": 100,
        "option_id": 1000,
        "quantity": 1,
        "unit_price": 15950,
    }
    return {**clean, **values}


# (row, the verdict it gets), in rule order.
CASES = [
    (line(1), PASSES),
    (line(None), ("quarantined", "missing_id", "order_item_id")),
    (line(3, order_id="1|2"), ("quarantined", "pipe_in_value", "order_id")),
    (line(4, member_id=""), ("quarantined", "missing_id", "member_id")),
    (line(5, product_id="10\x010"), ("quarantined", "control_character", "product_id")),
    (line(6, status="lost"), ("quarantined", "unknown_order_status", "status")),
    (line(7, status="cancelled"), ("excluded", "cancelled_order", "")),
    (line(8, status=" Refunded "), ("excluded", "refunded_order", "")),
    (line(9, ordered_at="garbage"), ("quarantined", "bad_timestamp", "ordered_at")),
    (line(10, ordered_at=None), ("quarantined", "bad_timestamp", "ordered_at")),
    (line(11, ordered_at="1999-12-31 23:00:00"), ("quarantined", "timestamp_out_of_range", "ordered_at")),
    (line(12, ordered_at="2026-01-02 00:00:00"), ("excluded", "outside_window", "")),
    (line(13, channel="kiosk"), ("quarantined", "unknown_channel", "channel")),
    (line(14, unit_price=-5), ("quarantined", "invalid_number", "unit_price")),
    (line(15, unit_price="cheap"), ("quarantined", "invalid_number", "unit_price")),
    (line(16, member_id=9), ("excluded", "test_account", "")),
    (line(17, member_id=10), ("excluded", "withdrawn_member", "")),
    (line(18, member_id=11), ("quarantined", "unknown_member", "member_id")),
    (line(19, product_id=999), ("quarantined", "unknown_product", "product_id")),
    (line(20, status=" Shipped ", channel="PC_WEB", product_id=101, unit_price=100), PASSES),
]


def test_each_order_line_gets_the_verdict_of_its_rule() -> None:
    rows = order_line_rules(
        query_chunk("order_lines", [row for row, _ in CASES]), SETTINGS, BOUNDS, STATUSES, PRODUCT_IDS
    )
    assert verdict_list(rows.verdicts) == [verdict for _, verdict in CASES]
    assert list(rows.interactions.columns) == ["USER_ID", "ITEM_ID", "TIMESTAMP", "EVENT_TYPE", "EVENT_VALUE", "DEVICE"]
    # 10:00 in Seoul is 01:00 UTC, 10 hours into the window; the price in thousand KRW, rounded half up.
    assert records(rows.interactions) == [
        ("7", "100", S + 36_000, "purchase", "16.0", "mobile"),
        ("7", "101", S + 36_000, "purchase", "0.1", "pc"),
    ]
