"""The member rules on one hand-built chunk: a row per rule, each caught by the rule it is meant for."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd

from pulla_personalize.quarantine import Verdicts
from pulla_personalize.rules.members import MEMBER, TEST, WITHDRAWN, member_event_rules, member_rules

from .conftest import LONG_ID, PASSES, SETTINGS, query_chunk, records, verdict_list

ON = dt.date(2026, 1, 1)


def member(member_id: object, **values: object) -> dict[str, Any]:
    clean = {
        "member_id": member_id,
        "birth_date": "1990-06-15",
        "cup_size": "A",
        "band_size": 75,
        "is_test": 0,
        "created_at": "2025-01-01 00:00:00",
        "deleted_at": None,
    }
    return {**clean, **values}


# (row, the verdict it gets), in rule order.
CASES = [
    (member(1, cup_size=" b ", band_size="80"), PASSES),
    (member(None), ("quarantined", "missing_id", "member_id")),
    (member("  "), ("quarantined", "missing_id", "member_id")),
    (member(b"\xff2"), ("quarantined", "invalid_utf8", "member_id")),
    (member("2\n3"), ("quarantined", "line_break_in_value", "member_id")),
    (member("2|3"), ("quarantined", "pipe_in_value", "member_id")),
    (member("2\x013"), ("quarantined", "control_character", "member_id")),
    (member(LONG_ID), ("quarantined", "id_too_long", "member_id")),
    (member(1), ("quarantined", "duplicate_id", "member_id")),  # repeats row 0
    (member(900), ("quarantined", "duplicate_id", "member_id")),  # seen in an earlier chunk
    (member(10, is_test=1, cup_size="Z"), ("excluded", "test_account", "")),
    (member(11, deleted_at="2025-12-01 00:00:00"), ("excluded", "withdrawn_member", "")),
    # An unreadable deleted_at still says the member withdrew: excluded, not quarantined as bad_timestamp.
    (member(12, deleted_at="garbage"), ("excluded", "withdrawn_member", "")),
    (member(13, is_test=2), ("quarantined", "invalid_boolean", "is_test")),
    (member(14, is_test="yes"), ("quarantined", "invalid_boolean", "is_test")),
    (member(15, birth_date="not a date"), ("quarantined", "bad_timestamp", "birth_date")),
    (member(16, birth_date="1899-12-31"), ("quarantined", "timestamp_out_of_range", "birth_date")),
    (member(17, birth_date="2026-01-02"), ("quarantined", "timestamp_out_of_range", "birth_date")),
    (member(18, cup_size="A|B"), ("quarantined", "pipe_in_value", "cup_size")),
    (member(19, cup_size="x" * 1001), ("quarantined", "categorical_too_long", "cup_size")),
    (member(20, cup_size="Z"), ("quarantined", "unknown_size", "cup_size")),
    (member(21, band_size=73), ("quarantined", "unknown_size", "band_size")),
    (member(22, band_size="xl"), ("quarantined", "unknown_size", "band_size")),
    (member(23, birth_date=None, cup_size=None, band_size=None, is_test=None), PASSES),
]


def test_each_member_row_gets_the_verdict_of_its_rule() -> None:
    rows = member_rules(query_chunk("members", [row for row, _ in CASES]), SETTINGS, on=ON, earlier_ids={"900": MEMBER})
    assert verdict_list(rows.verdicts) == [verdict for _, verdict in CASES]
    assert list(rows.users.columns) == ["USER_ID", "AGE", "CUP_SIZE", "BAND_SIZE"]
    # Sizes trimmed and upper-cased, bands as text, the age on the window's last day.
    assert records(rows.users) == [("1", 35, "B", "80"), ("23", None, None, None)]


def test_every_usable_id_gets_its_status_before_the_other_rules() -> None:
    rows = member_rules(query_chunk("members", [row for row, _ in CASES]), SETTINGS, on=ON, earlier_ids={"900": MEMBER})
    # Unusable ids (missing, unwritable, repeated) get none; a member quarantined later still gets one.
    assert rows.statuses == {
        "1": MEMBER,
        "10": TEST,
        "11": WITHDRAWN,
        "12": WITHDRAWN,
        **{str(member_id): MEMBER for member_id in range(13, 24)},
    }


def test_a_test_account_that_also_withdrew_is_a_test_account() -> None:
    chunk = query_chunk("members", [member(1, is_test=1, deleted_at="2025-12-01 00:00:00")])
    rows = member_rules(chunk, SETTINGS, on=ON, earlier_ids=set())
    assert verdict_list(rows.verdicts) == [("excluded", "test_account", "")]
    assert rows.statuses == {"1": TEST}
    assert rows.users.empty


def test_the_age_counts_whole_years_up_to_the_last_day_of_the_window() -> None:
    chunk = query_chunk("members", [member(1, birth_date="2000-01-01"), member(2, birth_date="2000-01-02")])
    rows = member_rules(chunk, SETTINGS, on=ON, earlier_ids=set())
    assert records(rows.users[["USER_ID", "AGE"]]) == [("1", 26), ("2", 25)]


def test_events_follow_their_members_status() -> None:
    statuses = {"1": MEMBER, "2": TEST, "3": WITHDRAWN}
    member_ids = pd.Series(["1", "2", "3", "4", "2"], dtype="str")
    verdicts = Verdicts(5)
    applies = np.array([True, True, True, True, False])  # the last one was never attributed to a member
    member_event_rules(verdicts, member_ids, statuses, applies, "member_id")
    assert verdict_list(verdicts) == [
        PASSES,
        ("excluded", "test_account", ""),
        ("excluded", "withdrawn_member", ""),
        ("quarantined", "unknown_member", "member_id"),
        PASSES,
    ]
