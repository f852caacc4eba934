"""Each transform rule on its own, with hostile values: emoji, Korean, quotes, commas, |, line breaks, 257-char
ids, millisecond and future timestamps, NULLs wherever they are allowed."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from pulla_personalize import transform
from pulla_personalize.rules.sizes import BAND_SIZES, CUP_SIZES

LONG_ID = "u" * 257


def series(*values: object) -> pd.Series:
    return pd.Series(list(values), dtype=object)


def test_as_text_normalises_every_driver_type_and_treats_empty_as_null() -> None:
    values = series(42, "브라", None, 7.0, float("nan"), "", dt.datetime(2026, 1, 1, 9, 30), dt.date(1990, 5, 1))
    assert transform.as_text(values).tolist() == [
        "42",
        "브라",
        np.nan,
        "7",
        np.nan,
        np.nan,
        "2026-01-01 09:30:00",
        "1990-05-01",
    ]


def test_as_text_keeps_undecodable_bytes_visible_as_surrogates() -> None:
    assert transform.as_text(series(b"ok\xff")).iat[0] == "ok\udcff"


def test_as_integer_flags_values_that_are_not_whole_numbers() -> None:
    numbers, invalid = transform.as_integer(series("12", 3, None, "2.5", "abc", " 7 "))
    assert numbers.tolist() == [12, 3, pd.NA, pd.NA, pd.NA, 7]
    assert invalid.tolist() == [False, False, False, True, True, False]


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ('풀컵 "소프트", 🩱', None),  # Korean, quotes, comma and emoji are fine in a CSV cell
        ("a|b", "pipe_in_value"),
        ("line\nbreak", "line_break_in_value"),
        ("carriage\rreturn", "line_break_in_value"),
        ("bad\udcffbyte", "invalid_utf8"),
        ("nul\x00byte", "control_character"),
        ("tab\tis fine", None),
        (LONG_ID, "id_too_long"),
        ("u" * 256, None),
        (None, None),
    ],
)
def test_text_problems_names_the_first_reason(value: object, reason: str | None) -> None:
    problems = transform.text_problems(series(value), max_length=256, too_long_reason="id_too_long")
    assert (None if pd.isna(problems.iat[0]) else problems.iat[0]) == reason


def test_categorical_length_limit_is_1000_characters() -> None:
    problems = transform.text_problems(
        series("c" * 1000, "c" * 1001), max_length=1000, too_long_reason="categorical_too_long"
    )
    assert problems.isna().iat[0]
    assert problems.iat[1] == "categorical_too_long"


def test_missing_catches_null_nan_and_blank() -> None:
    assert transform.missing(series(None, float("nan"), "", "  ", "0", 0)).tolist() == [
        True,
        True,
        True,
        True,
        False,
        False,
    ]


def test_naive_seoul_times_become_utc_epoch_seconds() -> None:
    seconds, bad = transform.local_to_epoch_seconds(
        series("2026-01-01 09:00:00", dt.datetime(2026, 1, 1, 9, 0, 0, 999999), None, "31/12/2025", "2026-02-30"),
        "Asia/Seoul",
    )
    # 09:00 in Seoul is 00:00 UTC.
    assert seconds.tolist()[:3] == [1767225600, 1767225600, pd.NA]
    assert bad.tolist() == [False, False, False, True, True]


def test_the_source_time_zone_is_a_setting() -> None:
    seconds, _ = transform.local_to_epoch_seconds(series("2026-01-01 00:00:00"), "UTC")
    assert seconds.iat[0] == 1767225600


def test_nonexistent_local_times_are_bad_rather_than_guessed() -> None:
    # 2026-03-08 02:30 does not exist in New York (clocks jump from 02:00 to 03:00).
    _, bad = transform.local_to_epoch_seconds(series("2026-03-08 02:30:00"), "America/New_York")
    assert bad.tolist() == [True]


def test_epoch_milliseconds_are_floored_to_seconds() -> None:
    seconds, bad = transform.epoch_ms_to_seconds(series(1767225600999, "1767225601000", None, "soon"))
    assert seconds.tolist() == [1767225600, 1767225601, pd.NA, pd.NA]
    assert bad.tolist() == [False, False, False, True]


def test_outside_is_half_open_and_catches_future_and_millisecond_timestamps() -> None:
    start, end = 1767193200, 1767279600
    seconds = pd.Series([start, end - 1, end, start - 1, 1767225600999, None], dtype="Int64")
    assert transform.outside(seconds, start, end).tolist() == [False, False, True, True, True, False]


def test_web_event_names_map_to_event_types() -> None:
    types, not_interaction, unknown = transform.web_event_types(
        series("product_view", "add_to_cart", "wishlist", "page_view", "search", "login", "logout", "hover", None)
    )
    assert types.tolist()[:3] == ["click", "cart", "wishlist"]
    assert types.iloc[3:].isna().all()
    assert not_interaction.tolist() == [False, False, False, True, True, True, True, False, False]
    assert unknown.tolist() == [False] * 7 + [True, True]


def test_order_statuses_paid_shipped_delivered_are_purchases_only() -> None:
    rules, unknown = transform.order_status_rules(
        series("paid", "shipped", "delivered", "cancelled", "refunded", "lost", None)
    )
    assert rules.tolist()[3:5] == ["cancelled_order", "refunded_order"]
    assert rules.iloc[:3].isna().all()
    assert unknown.tolist() == [False, False, False, False, False, True, True]


@pytest.mark.parametrize(
    ("agent", "device"),
    [
        ("Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X)", "tablet"),
        ("Mozilla/5.0 (Linux; Android 14; SM-X710) AppleWebKit/537.36 Safari/537.36", "tablet"),
        ("Mozilla/5.0 (Linux; Android 14; SM-S921N) AppleWebKit/537.36 Mobile Safari/537.36", "mobile"),
        ("PullaApp/4.2.1 (iPhone; iOS 17.5.1; Scale/3.00)", "mobile"),
        ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/126.0 Safari/537.36", "pc"),
        (None, None),
    ],
)
def test_device_from_user_agent(agent: str | None, device: str | None) -> None:
    result = transform.device_from_user_agent(series(agent)).iat[0]
    assert (None if pd.isna(result) else result) == device


def test_device_from_channel_uses_the_user_agent_for_tablets_and_flags_unknown_channels() -> None:
    devices, unknown = transform.device_from_channel(
        series("app_ios", "app_android", "mobile_web", "pc_web", "app_ios", "kiosk", None),
        series(None, None, None, None, "Mozilla/5.0 (iPad; CPU OS 17_5)", None, "Mozilla/5.0 (Windows NT 10.0)"),
    )
    assert devices.tolist()[:5] == ["mobile", "mobile", "mobile", "pc", "tablet"]
    assert pd.isna(devices.iat[5])
    assert devices.iat[6] == "pc"
    assert unknown.tolist() == [False, False, False, False, False, True, False]


def test_event_value_is_thousand_krw_with_one_decimal_rounded_half_up() -> None:
    prices = pd.Series([15900, 15950, 15949, 0, 1_234_567, None], dtype="Int64")
    values = transform.event_value_from_unit_price(prices)
    assert values.tolist()[:5] == ["15.9", "16.0", "15.9", "0.0", "1234.6"]
    assert pd.isna(values.iat[5])


def test_session_owner_is_the_first_login_of_the_session() -> None:
    logins = pd.DataFrame(
        {
            "session_id": ["s1", "s1", "s2", None, "s3"],
            "member_id": [9, 7, 5, 1, None],
            "occurred_at_ms": [2000, 1000, 3000, 10, 10],
        }
    )
    owners = transform.session_owners(logins)
    assert owners.to_dict() == {"s1": "7", "s2": "5"}


def test_stitching_attributes_events_before_and_after_the_login_to_the_member() -> None:
    owners = pd.Series({"s1": "7"}, dtype="str")
    users, attributed, anonymous = transform.attribute_users(
        series(None, 7, None, 8), series("s1", "s1", "s2", "s2"), owners, keep_anonymous=False
    )
    assert users.tolist()[:2] == ["7", "7"]
    assert pd.isna(users.iat[2])
    assert users.iat[3] == "8"  # an event's own member wins
    assert attributed.tolist() == [True, True, False, True]
    assert anonymous.tolist() == [False, False, True, False]


def test_keep_anonymous_uses_the_session_id_as_user_id() -> None:
    users, _, anonymous = transform.attribute_users(
        series(None), series("0b5f-세션"), pd.Series(dtype="str"), keep_anonymous=True
    )
    assert users.tolist() == ["0b5f-세션"]
    assert anonymous.tolist() == [True]


def test_session_rates_combine_chunks_and_flag_bots() -> None:
    # The bot's 120 events in 30 seconds arrive in two chunks; the person's 10 events span 20 minutes.
    first = transform.chunk_session_stats(
        pd.Series(["bot"] * 60 + ["person"] * 5), pd.Series([*range(0, 15_000, 250), 0, 1, 2, 3, 4])
    )
    second = transform.chunk_session_stats(
        pd.Series(["bot"] * 60 + ["person"] * 5),
        pd.Series(list(range(15_000, 30_000, 250)) + [1_200_000] * 5),
    )
    rates = transform.session_rates(pd.concat([first, second]))
    assert rates.loc["bot", "events"] == 120
    assert rates.loc["bot", "events_per_minute"] == 120.0  # span under a minute counts as one minute
    assert rates.loc["person", "events_per_minute"] == pytest.approx(0.5)
    assert list(transform.bot_sessions(rates, 30.0)) == ["bot"]


def test_sort_interactions_orders_numeric_ids_numerically() -> None:
    frame = pd.DataFrame(
        {
            "USER_ID": ["10", "9", "9", "abc"],
            "ITEM_ID": ["1", "20", "3", "1"],
            "EVENT_TYPE": ["click"] * 4,
            "TIMESTAMP": [5, 5, 5, 1],
        }
    )
    ordered = transform.sort_interactions(frame)
    assert ordered[["USER_ID", "ITEM_ID"]].values.tolist() == [["9", "3"], ["9", "20"], ["10", "1"], ["abc", "1"]]


def test_age_is_whole_years_at_the_end_of_the_window_and_null_without_birth_date() -> None:
    ages = transform.age_at(pd.Series(["1990-06-15", "1990-06-14", None, "2000-02-29"]), dt.date(2026, 6, 14))
    assert ages.tolist() == [35, 36, pd.NA, 26]


def test_cup_sizes_outside_aa_to_g_are_flagged() -> None:
    assert transform.cup_size_problems(series("AA", "a", " B ", "Z", "DD", None)).tolist() == [
        False,
        False,
        False,
        True,
        True,
        False,
    ]
    assert transform.normalize_cup_sizes(series(" b ")).tolist() == ["B"]


def test_band_sizes_become_strings_and_odd_ones_are_flagged() -> None:
    bands, unknown = transform.normalize_band_sizes(series(75, "80", 77, None, "xl", 105.0))
    assert bands.tolist()[:2] == ["75", "80"]
    assert bands.iloc[2:].isna().all()
    assert unknown.tolist() == [False, False, True, False, True, True]


def test_sizes_join_sorted_unique_with_cups_in_size_order() -> None:
    assert transform.join_sizes(["B", "AA", "A", "B", None, ""], CUP_SIZES) == "AA|A|B"
    assert transform.join_sizes(["80", "70", "100", "75"], BAND_SIZES) == "70|75|80|100"
    assert transform.join_sizes([], CUP_SIZES) is None


def test_flags_become_true_false_strings() -> None:
    text, invalid = transform.flag_to_text(series(1, 0, None, 2, "1", "yes"))
    assert text.tolist()[:2] == ["True", "False"]
    assert text.iat[4] == "True"
    assert text.iloc[[2, 3, 5]].isna().all()
    assert invalid.tolist() == [False, False, False, True, False, True]


# --- the Arrow fast paths give what the Python paths give -------------------------------------------------------

PYTHON_TEXT = pd.StringDtype("python", na_value=np.nan)
HOSTILE_TEXT = [
    "ok",
    None,
    "a|b",
    "x\x85y",  # NEL: two bytes in UTF-8
    "x\u2028y",  # line separator: three bytes
    "x\u2029y",
    "x\u2027y",  # a neighbour of U+2028 that is fine
    "del\x7f",
    "tab\tok",
    "풀" * 256,  # 768 bytes but 256 characters: not too long
    "풀" * 257,
    '👙, "quoted"',
]
HOSTILE_REASONS = [
    "-",
    "-",
    "pipe_in_value",
    "line_break_in_value",
    "line_break_in_value",
    "line_break_in_value",
    "-",
    "control_character",
    "-",
    "-",
    "id_too_long",
    "-",
]


@pytest.mark.parametrize("start", [0, 1, 3])
def test_text_problems_on_arrow_text_match_the_python_path(start: int) -> None:
    # A slice keeps the bytes of the values before it in its buffer: the answers must not change.
    arrow = pd.Series(HOSTILE_TEXT, dtype="str").iloc[start:]
    python = pd.Series(HOSTILE_TEXT, dtype=PYTHON_TEXT).iloc[start:]
    assert arrow.dtype.storage == "pyarrow"
    found = transform.text_problems(arrow, max_length=256, too_long_reason="id_too_long")
    expected = transform.text_problems(python, max_length=256, too_long_reason="id_too_long")
    assert found.fillna("-").tolist() == expected.fillna("-").tolist()
    assert expected.fillna("-").tolist() == HOSTILE_REASONS[start:]


def test_clean_arrow_text_takes_the_fast_path_and_finds_nothing() -> None:
    clean = pd.Series([f"id-{number}" for number in range(1000)] + [None], dtype="str")
    assert transform.text_problems(clean, max_length=256, too_long_reason="id_too_long").isna().all()


def test_is_in_matches_series_isin_with_either_kind_of_value_set() -> None:
    values = pd.Series(["1", None, "풀라", "9", "x\udcff"], dtype=PYTHON_TEXT)
    arrow_set = transform.text_value_set(["1", "풀라"])
    python_set = transform.text_value_set(["1", "풀라", "x\udcff"])  # Arrow cannot hold a lone surrogate
    assert isinstance(python_set, set)
    assert transform.is_in(values.iloc[:4].astype("str"), arrow_set).tolist() == [True, False, True, False]
    assert transform.is_in(values, python_set).tolist() == [True, False, True, False, True]
    assert transform.is_in(values, arrow_set).tolist() == [True, False, True, False, False]


def test_natural_rank_orders_like_natural_key_also_for_text_arrow_cannot_hold() -> None:
    for dtype in ("str", PYTHON_TEXT):
        values = ["10", "9", "abc", None, "007", "1" * 31, "٣", "a\udcff" if dtype is PYTHON_TEXT else "a"]
        text = pd.Series(values, dtype=dtype)
        keys = transform.natural_key(text).tolist()
        ranks = transform.natural_rank(text)
        assert sorted(range(len(values)), key=lambda i: keys[i]) == sorted(range(len(values)), key=lambda i: ranks[i])
    assert transform.natural_key(pd.Series(["9", "10", "x"], dtype="str")).tolist() == ["0019", "00210", "1x"]


def test_map_distinct_and_sort_codes() -> None:
    mapped = transform.map_distinct(series("a", "b", None, "a", "c"), {"a": "member", "b": "test"})
    assert mapped.fillna("-").tolist() == ["member", "test", "-", "member", "-"]
    codes = transform.sort_codes(pd.Series([3, None, 1, 3], dtype="Int64"))
    assert codes.tolist() == [1, 2, 0, 1]  # nulls last


def test_a_utc_offset_among_naive_date_times_is_bad_not_a_crash() -> None:
    # pandas refuses to parse naive and offset values together; the offset ones are the source's error.
    values = pd.Series(["2025-12-01 10:00:00", "2025-12-01T10:00:00+09:00", None, "soon", "2025-12-01 10:00:00"])
    seconds, bad = transform.local_to_epoch_seconds(values, "Asia/Seoul")
    assert seconds.tolist() == [1764550800, pd.NA, pd.NA, pd.NA, 1764550800]
    assert bad.tolist() == [False, True, False, True, False]
