"""Verdicts, accounting and the rejects files (original values, but nothing personal)."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pulla_personalize.quarantine import (
    EXCLUSION_RULES,
    PERSONAL_COLUMNS,
    QUARANTINE_REASONS,
    Accounting,
    RejectsWriter,
    Verdicts,
    archived_birth_dates,
    render_original,
)

#: The window's last local day (ages are computed on it) and the oldest birth date the member rules allow.
ON = dt.date(2026, 1, 1)
EARLIEST = "1900-01-01"


def rejects_writer(folder: Path) -> RejectsWriter:
    return RejectsWriter(folder, ages_on=ON, earliest_birth_date=EARLIEST)


def read_rows(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.reader(handle))


def test_the_first_verdict_wins_and_each_row_counts_once() -> None:
    verdicts = Verdicts(4)
    verdicts.quarantine(np.array([True, False, False, False]), "missing_id", "member_id")
    verdicts.exclude(np.array([True, True, False, False]), "test_account")
    verdicts.quarantine(np.array([False, True, True, False]), "unknown_product", "product_id")
    assert verdicts.kind.tolist() == ["quarantined", "excluded", "quarantined", ""]
    assert verdicts.reason.tolist() == ["missing_id", "test_account", "unknown_product", ""]
    assert verdicts.column.tolist() == ["member_id", "", "product_id", ""]
    assert verdicts.alive.tolist() == [False, False, False, True]


def test_reason_codes_and_rules_are_checked() -> None:
    verdicts = Verdicts(1)
    with pytest.raises(ValueError, match="unknown quarantine reason"):
        verdicts.quarantine([True], "looks_odd")
    with pytest.raises(ValueError, match="unknown exclusion rule"):
        verdicts.exclude([True], "missing_id")
    assert not set(EXCLUSION_RULES) & set(QUARANTINE_REASONS)


def test_quarantine_reasons_uses_each_rows_own_code() -> None:
    verdicts = Verdicts(3)
    verdicts.quarantine_reasons(pd.Series(["pipe_in_value", None, "id_too_long"], dtype="str"), "session_id")
    assert verdicts.reason.tolist() == ["pipe_in_value", "", "id_too_long"]


def test_accounting_balances_only_when_every_row_has_one_outcome() -> None:
    accounting = Accounting()
    verdicts = Verdicts(5)
    verdicts.exclude(np.array([True, True, False, False, False]), "bot_session")
    verdicts.quarantine(np.array([False, False, True, False, False]), "missing_id")
    accounting.add_source_rows("web_logs", 5)
    accounting.add_verdicts("web_logs", verdicts)
    assert accounting.unbalanced() == ["web_logs"]
    accounting.add_excluded("web_logs", "duplicate_interaction", 1)
    accounting.add_exported("web_logs", 1)
    assert accounting.unbalanced() == []
    assert accounting.as_dict()["web_logs"] == {
        "source_rows": 5,
        "exported": 1,
        "excluded": {"bot_session": 2, "duplicate_interaction": 1},
        "quarantined": {"missing_id": 1},
    }


def test_render_original_shows_values_as_the_source_had_them() -> None:
    assert render_original(None) == ""
    assert render_original(float("nan")) == ""
    assert render_original(12.0) == "12"
    assert render_original(dt.datetime(2026, 1, 1, 9, 0)) == "2026-01-01 09:00:00"
    assert render_original(dt.date(1990, 5, 1)) == "1990-05-01"


def test_rejects_keep_original_values_with_reason_and_column(tmp_path: Path) -> None:
    chunk = pd.DataFrame(
        {"log_id": [1, 2, 3], "session_id": ["ok", "a|b", 'line\nbreak, "quoted"'], "note": ["풀라 🩱", None, "x"]},
        dtype=object,
    )
    verdicts = Verdicts(3)
    verdicts.quarantine(np.array([False, True, False]), "pipe_in_value", "session_id")
    verdicts.quarantine(np.array([False, False, True]), "line_break_in_value", "session_id")
    writer = rejects_writer(tmp_path / "rejects")
    writer.write("web_logs", chunk, verdicts)
    # Object dtype, as the portable path reads it: with pyarrow installed, inferred "str" cannot hold a surrogate.
    bad = pd.Series(["bad\udcff"], index=chunk.index[:1], dtype=object)
    writer.write("web_logs", chunk.iloc[:1].assign(session_id=bad), _all_quarantined(1))
    writer.close()
    assert read_rows(tmp_path / "rejects" / "web_logs.csv") == [
        ["reason", "column", "log_id", "session_id", "note"],
        ["pipe_in_value", "session_id", "2", "a|b", ""],
        ["line_break_in_value", "session_id", "3", 'line\nbreak, "quoted"', "x"],
        ["invalid_utf8", "session_id", "1", "bad\\udcff", "풀라 🩱"],
    ]
    assert writer.files() == []


def _all_quarantined(size: int) -> Verdicts:
    verdicts = Verdicts(size)
    verdicts.quarantine(np.ones(size, dtype=bool), "invalid_utf8", "session_id")
    return verdicts


def test_a_birth_date_is_kept_as_what_the_member_rules_judge_it_by() -> None:
    values = pd.Series(
        [
            dt.date(1990, 6, 15),  # as a driver returns a DATE
            "1990-01-01",  # as SQLite returns it: 36 on 2026-01-01, the birthday that day
            "1990-01-02 00:00:00",  # 35: the birthday is the day after
            "2026-01-01",  # born on the window's last day: age 0, in range
            "1885-03-04",  # before the earliest birth date the rules allow
            "2026-01-02",  # after the window's last day
            "31/01/1990",  # unreadable: only that there was something
            None,
        ],
        dtype=object,
    )
    assert archived_birth_dates(values, ON, EARLIEST) == [
        "35",
        "36",
        "35",
        "0",
        "out of range (age 140)",
        "out of range (after the window's last day)",
        "present",
        "",
    ]


def test_rejects_replace_personal_columns_the_offending_one_included(tmp_path: Path) -> None:
    """A members chunk as an adapted query might return it, contact data included: the id, reason, column and
    every other value stay; the birth date is an age, contact data only "present"."""
    chunk = pd.DataFrame(
        {
            "member_id": [1, 2, 3, 4],
            "birth_date": ["1885-03-04", "31/01/1990", "1990-06-15", None],
            "cup_size": ["A", "A", "Z", "B"],
            "name": ["김민지", None, "이수진", ""],
            "Email": ["minji@example.com", "x@example.com", None, "y@example.com"],
            "phone": ["010-1234-5678", None, "01098765432", "   "],
            "address": [None, "서울시 강남구", None, None],
        },
        dtype=object,
    )
    verdicts = Verdicts(4)
    verdicts.quarantine(np.array([True, False, False, False]), "timestamp_out_of_range", "birth_date")
    verdicts.quarantine(np.array([False, True, False, False]), "bad_timestamp", "birth_date")
    verdicts.quarantine(np.array([False, False, True, False]), "unknown_size", "cup_size")
    writer = rejects_writer(tmp_path / "rejects")
    writer.write("members", chunk, verdicts)
    writer.close()
    text = (tmp_path / "rejects" / "members.csv").read_text(encoding="utf-8")
    assert text.splitlines() == [
        "reason,column,member_id,birth_date,cup_size,name,Email,phone,address",
        "timestamp_out_of_range,birth_date,1,out of range (age 140),A,present,present,present,",
        "bad_timestamp,birth_date,2,present,A,,present,,present",
        "unknown_size,cup_size,3,35,Z,present,,present,",
    ]
    for personal in ("1885", "1990", "31/01", "김민지", "이수진", "example.com", "010", "서울"):
        assert personal not in text, personal


def test_personal_columns_are_named_once_in_lower_case() -> None:
    assert set(PERSONAL_COLUMNS) >= {"birth_date", "name", "email", "phone", "address"}
    assert all(name == name.lower() for name in PERSONAL_COLUMNS)
