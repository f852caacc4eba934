"""No personal data at rest in the run archive: whatever the export writes (the CSVs, report.json, rejects/, the
Data Docs with their static files, the summary it prints) holds no member's birth date, name, e-mail or phone.

The demo shop's members have all four; hostile members added to it are quarantined for their birth date (too
old, in the future, unreadable) or for another column while carrying a real one. Two exports run through the
CLI: the month, which passes the gate, and a day too thin for it, whose failed expectations put examples in
report.json and the Data Docs. Every file under the output folder is then searched for every member's values,
each birth date in several spellings.
"""

from __future__ import annotations

import csv
import html
import json
import re
import sqlite3
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa

from pulla_dev.demo_shop.seed import seed_demo_database
from pulla_personalize.cli import main

SEED = {"end_date": date(2026, 1, 1), "scale": 0.1, "days": 30, "seed": 11}
#: (member_id, email, name, phone, birth_date, cup_size, why the row is quarantined).
HOSTILE_MEMBERS = [
    (900001, "oldest@example.kr", "박노인", "010-9000-0001", "1850-03-04", "A", "timestamp_out_of_range"),
    (900002, "future@example.kr", "최미래", "010-9000-0002", "2031-05-06", "B", "timestamp_out_of_range"),
    (900003, "daymonth@example.kr", "정일월", "010-9000-0003", "31/01/1990", "C", "bad_timestamp"),
    (900004, "leap@example.kr", "한윤년", "010-9000-0004", "1987-02-29", "A", "bad_timestamp"),
    (900005, "bigcup@example.kr", "서큰컵", "010-9000-0005", "1991-07-08", "Z", "unknown_size"),
    (900006, "pipe@example.kr", "오파이", None, "1979-11-23", "A|B", "pipe_in_value"),
]


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo shop with the hostile members, as a SQLite file."""
    path = tmp_path_factory.mktemp("personal") / "pulla.db"
    seed_demo_database(f"sqlite:///{path}", **SEED)
    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.begin() as connection:
        connection.exec_driver_sql(
            "INSERT INTO members (member_id, email, name, phone, birth_date, cup_size, band_size, is_test,"
            " created_at, updated_at, deleted_at) VALUES (?, ?, ?, ?, ?, ?, 75, 0, '2025-01-01 00:00:00',"
            " '2025-01-01 00:00:00', NULL)",
            [row[:6] for row in HOSTILE_MEMBERS],
        )
    engine.dispose()
    return path


def birth_date_spellings(stored: str) -> set[str]:
    """A stored birth date as written in a file: as stored, and for a real date ISO, compact, with slashes or
    dots, and day or month first."""
    spellings = {stored}
    try:
        day = date.fromisoformat(stored[:10])
    except ValueError:
        return spellings
    formats = ("%Y-%m-%d", "%Y%m%d", "%Y/%m/%d", "%Y.%m.%d", "%d/%m/%Y", "%m/%d/%Y")
    return spellings | {day.strftime(form) for form in formats}


def text_spellings(value: str) -> set[str]:
    """A name, e-mail or phone as a file may spell it: as is, HTML-escaped, JSON-escaped (ASCII), phone digits."""
    spellings = {value, html.escape(value), json.dumps(value)[1:-1]}
    digits = re.sub(r"\D", "", value)
    if value.startswith("010") and len(digits) == 11:
        spellings.add(digits)
    return spellings


def personal_pattern(database: Path) -> tuple[re.Pattern[str], int]:
    """One pattern matching any member's personal value (not inside a longer number), and the members' count."""
    with sqlite3.connect(database) as connection:
        rows = connection.execute("SELECT birth_date, name, email, phone FROM members").fetchall()
    spellings: set[str] = set()
    for birth_date, *contacts in rows:
        if birth_date is not None:
            spellings |= birth_date_spellings(str(birth_date))
        for value in contacts:
            if value:
                spellings |= text_spellings(str(value))
    alternatives = "|".join(re.escape(spelling) for spelling in sorted(spellings, key=len, reverse=True))
    return re.compile(rf"(?<![0-9])(?:{alternatives})(?![0-9])"), len(rows)


def test_no_personal_value_of_any_member_reaches_any_file(
    shop: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "runs"
    db = f"sqlite:///{shop}"
    month = ["export", "--db", db, "--start", "2025-12-02", "--end", "2026-01-01", "--out", str(out / "month")]
    assert main(month) == 0
    thin = ["export", "--db", db, "--start", "2025-12-30", "--end", "2025-12-31", "--out", str(out / "thin")]
    assert main(thin) == 1  # the gate fails: its examples are in report.json and the Data Docs
    printed = capsys.readouterr().out

    pattern, members = personal_pattern(shop)
    assert members > 100
    # The pattern finds what it should: a planted birth date (compact, between commas), an e-mail, a name.
    assert pattern.search("x,19910708,y")
    assert pattern.search('{"email": "pipe@example.kr"}')
    assert pattern.search("\\ubc15\\ub178\\uc778")  # 박노인, JSON-escaped
    assert not pattern.search("1719910708")  # inside an epoch second: not a birth date

    files = [path for path in sorted(out.rglob("*")) if path.is_file()]
    assert {".csv", ".json"} <= {path.suffix for path in files}
    assert [path for path in files if "data_docs" in path.parts and path.suffix == ".html"]
    leaks = {}
    for path in files:
        found = pattern.search(path.read_bytes().decode("utf-8", errors="replace"))
        if found:
            leaks[str(path.relative_to(out))] = found.group(0)
    found = pattern.search(printed)
    if found:
        leaks["the printed summary"] = found.group(0)
    assert leaks == {}

    # The hostile members are in rejects/ with their reason and column, and what the rules needed of the birth
    # date: the age on the window's last day (2025-12-31), or only that something was there.
    with (out / "month" / "rejects" / "members.csv").open(encoding="utf-8", newline="") as handle:
        rejects = {
            row["member_id"]: (row["reason"], row["column"], row["birth_date"]) for row in csv.DictReader(handle)
        }
    assert {member_id: rejects[member_id] for member_id in map(str, range(900001, 900007))} == {
        "900001": ("timestamp_out_of_range", "birth_date", "out of range (age 175)"),
        "900002": ("timestamp_out_of_range", "birth_date", "out of range (after the window's last day)"),
        "900003": ("bad_timestamp", "birth_date", "present"),
        "900004": ("bad_timestamp", "birth_date", "present"),
        "900005": ("unknown_size", "cup_size", "34"),
        "900006": ("pipe_in_value", "cup_size", "46"),
    }
