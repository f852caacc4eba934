"""The web log rules: the row rules on one hand-built chunk, then the session rules on whole sessions."""

from __future__ import annotations

import dataclasses
from typing import Any

import pandas as pd

from pulla_personalize import transform
from pulla_personalize.rules.members import MEMBER, TEST, WITHDRAWN
from pulla_personalize.rules.web_logs import login_rows, session_rules, web_log_rules

from .conftest import BOUNDS, LONG_ID, PASSES, SETTINGS, E, S, ms, query_chunk, records, verdict_list

A = "aaaaaaaa-0000-0000-0000-000000000001"
B = "bbbbbbbb-0000-0000-0000-000000000002"
IPAD = "Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X)"
PRODUCT_IDS = transform.text_value_set(["100", "101"])


def log(log_id: object, **values: object) -> dict[str, Any]:
    clean = {
        "log_id": log_id,
        "session_id": A,
        "member_id": 7,
        "event_name": "product_view",
        "product_id": 100,
        "user_agent": IPAD,
        "occurred_at_ms": ms(3600),
    }
    return {**clean, **values}


# (row, the verdict it gets), in rule order.
CASES = [
    (log(1), PASSES),
    (log(None), ("quarantined", "missing_id", "log_id")),
    (log(3, session_id=None), ("quarantined", "missing_id", "session_id")),
    (log(4, session_id="a|b"), ("quarantined", "pipe_in_value", "session_id")),
    (log(5, session_id=LONG_ID), ("quarantined", "id_too_long", "session_id")),
    (log(6, event_name="hover"), ("quarantined", "unknown_event_name", "event_name")),
    (log(7, event_name="page_view", product_id=None), ("excluded", "not_an_interaction", "")),
    (log(8, occurred_at_ms="soon"), ("quarantined", "bad_timestamp", "occurred_at_ms")),
    (log(9, occurred_at_ms=None), ("quarantined", "bad_timestamp", "occurred_at_ms")),
    (log(10, occurred_at_ms=1000), ("quarantined", "timestamp_out_of_range", "occurred_at_ms")),
    (log(11, occurred_at_ms=E * 1000), ("excluded", "outside_window", "")),
    (log(12, product_id=None), ("quarantined", "missing_id", "product_id")),
    (log(13, product_id="10\n0"), ("quarantined", "line_break_in_value", "product_id")),
    (log(14, member_id=LONG_ID), ("quarantined", "id_too_long", "member_id")),
    (log(15, product_id=999), ("quarantined", "unknown_product", "product_id")),
    # An anonymous event of another session: the name in another case, no user agent, a time within second 100.
    (
        log(
            16,
            session_id=B,
            member_id=None,
            event_name=" Add_To_Cart ",
            product_id=101,
            user_agent=None,
            occurred_at_ms=ms(100.5),
        ),
        PASSES,
    ),
]


def rules_of(cases: list[tuple[dict[str, Any], tuple[str, str, str]]]) -> Any:
    return web_log_rules(query_chunk("web_logs", [row for row, _ in cases]), SETTINGS, BOUNDS, PRODUCT_IDS)


def test_each_web_log_row_gets_the_verdict_of_its_rule() -> None:
    rows = rules_of(CASES)
    assert verdict_list(rows.verdicts) == [verdict for _, verdict in CASES]
    events = rows.events[["log_id", "_session", "_member", "ITEM_ID", "TIMESTAMP", "EVENT_TYPE", "DEVICE"]]
    assert records(events) == [
        (1, A, "7", "100", S + 3600, "click", "tablet"),
        (16, B, None, "101", S + 100, "cart", None),
    ]
    # The source columns travel with the events (the session rules write their rejects).
    assert list(rows.events.columns[:7]) == list(query_chunk("web_logs", []).columns)


def test_every_row_with_a_usable_session_and_time_counts_towards_the_session_rate() -> None:
    rows = rules_of(CASES)
    # Session A: every row but the three with an unusable session, the two without a time and the one of B.
    assert records(rows.session_stats) == [(A, 10, 1000, E * 1000), (B, 1, ms(100.5), ms(100.5))]


def test_logins_without_a_session_or_a_member_are_left_out() -> None:
    chunk = query_chunk(
        "session_logins",
        [
            {"session_id": A, "member_id": 7, "occurred_at_ms": ms(10)},
            {"session_id": None, "member_id": 7, "occurred_at_ms": ms(11)},
            {"session_id": B, "member_id": None, "occurred_at_ms": ms(12)},
            {"session_id": B, "member_id": "8", "occurred_at_ms": None},
        ],
    )
    assert records(login_rows(chunk)) == [(A, "7", ms(10)), (B, "8", None)]


STATUSES = {"7": MEMBER, "8": MEMBER, "9": TEST, "10": WITHDRAWN}
# (session, own member, verdict), in rule order.
SESSION_CASES = [
    ("own", "8", PASSES),
    ("bot", "8", ("excluded", "bot_session", "")),
    ("anonymous", None, ("excluded", "never_logged_in", "")),
    ("stitched", None, PASSES),  # two members logged in: the first login (member 7) owns the session
    ("stitched-test", None, ("excluded", "test_account", "")),  # member 9 logged in
    ("test", "9", ("excluded", "test_account", "")),
    ("gone", "10", ("excluded", "withdrawn_member", "")),
    ("ghost", "11", ("quarantined", "unknown_member", "member_id")),
]


def session_inputs() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    events = pd.DataFrame(
        {
            "_session": [session for session, _, _ in SESSION_CASES],
            "_member": pd.Series([member for _, member, _ in SESSION_CASES], dtype="str"),
            "ITEM_ID": "100",
            "TIMESTAMP": [S + index for index in range(len(SESSION_CASES))],
            "EVENT_TYPE": "click",
            "DEVICE": "pc",
        }
    )
    # One event a session, but the bot's session made 100 in its minute (other chunks of it).
    stats = pd.DataFrame(
        {
            "session_id": [session for session, _, _ in SESSION_CASES],
            "events": [100 if session == "bot" else 1 for session, _, _ in SESSION_CASES],
            "first_ms": ms(0),
            "last_ms": ms(60),
        }
    )
    logins = login_rows(
        query_chunk(
            "session_logins",
            [
                {"session_id": "stitched", "member_id": 8, "occurred_at_ms": ms(30)},
                {"session_id": "stitched", "member_id": 7, "occurred_at_ms": ms(20)},
                {"session_id": "stitched-test", "member_id": 9, "occurred_at_ms": ms(20)},
            ],
        )
    )
    return events, stats, logins


def test_each_session_rule_catches_its_events() -> None:
    events, stats, logins = session_inputs()
    rows = session_rules(events, stats, logins, SETTINGS, STATUSES)
    assert verdict_list(rows.verdicts) == [verdict for _, _, verdict in SESSION_CASES]
    assert list(rows.interactions.columns) == ["USER_ID", "ITEM_ID", "TIMESTAMP", "EVENT_TYPE", "EVENT_VALUE", "DEVICE"]
    assert records(rows.interactions) == [
        ("8", "100", S, "click", None, "pc"),
        ("7", "100", S + 3, "click", None, "pc"),
    ]
    assert rows.interactions.index.tolist() == [0, 3]  # the events' own rows


def test_anonymous_sessions_are_kept_under_their_session_id_when_asked() -> None:
    events, stats, logins = session_inputs()
    settings = dataclasses.replace(SETTINGS, keep_anonymous_sessions=True)
    rows = session_rules(events, stats, logins, settings, STATUSES)
    assert verdict_list(rows.verdicts)[2] == PASSES
    assert records(rows.interactions)[1] == ("anonymous", "100", S + 2, "click", None, "pc")


def test_without_any_login_only_events_with_their_own_member_stay() -> None:
    events, stats, _ = session_inputs()
    rows = session_rules(events, stats, None, SETTINGS, STATUSES)
    assert verdict_list(rows.verdicts)[3] == ("excluded", "never_logged_in", "")
    assert verdict_list(rows.verdicts)[4] == ("excluded", "never_logged_in", "")
