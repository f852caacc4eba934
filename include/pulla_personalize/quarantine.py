"""Where every source row ends: exported, excluded by a named rule, or quarantined with a reason code.

A chunk's rows get a ``Verdicts`` object; each rule marks the rows it catches, and only the first verdict a row
gets counts, so a source row is counted exactly once whatever the number of rules it breaks. ``Accounting`` adds
the verdicts up per source kind (``order_items``, ``web_logs``, ``members``, ``products``) and checks the balance
``source_rows = exported + Σ excluded + Σ quarantined``. ``RejectsWriter`` appends quarantined rows, with the
reason and the offending column, to ``rejects/<source>.csv``: their original values, except that a personal
column (``PERSONAL_COLUMNS``) holds only what the rules needed of it, so the run archive carries no personal data.
"""

from __future__ import annotations

import csv
import datetime as dt
import math
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd

from pulla_personalize import transform
from pulla_personalize.csvout import naming_file

SOURCE_KINDS = ("order_items", "web_logs", "members", "products")

#: Named exclusion rules: rows that are fine but must not reach Personalize.
EXCLUSION_RULES = {
    "not_an_interaction": "web log event that is not an interaction (page_view, search, login, logout)",
    "test_account": "row of a test account (members.is_test = 1)",
    "withdrawn_member": "row of a withdrawn member (members.deleted_at set), past events included",
    "cancelled_order": "order line of a cancelled order",
    "refunded_order": "order line of a refunded order",
    "bot_session": "web log of a session faster than the bot threshold (events per minute)",
    "never_logged_in": "web log of a session that never logs in (kept with --keep-anonymous-sessions)",
    "duplicate_interaction": "same user, item, event type and second as an interaction already exported",
    "outside_window": "the query returned a row whose time is outside the window (it belongs to another window;"
    " SQLite compares text timestamps as text, so a row stored without fractions can sit on the boundary)",
    "beyond_retention": "interaction older than the retention limit (the window end minus"
    " interactions_retention_days), however long the window",
}

#: Quarantine reasons: rows that cannot be exported as they are; they go to rejects/<source>.csv.
QUARANTINE_REASONS = {
    "missing_id": "an id needed for the output is null or empty",
    "bad_timestamp": "a timestamp or date that cannot be parsed",
    "timestamp_out_of_range": "a timestamp before the earliest allowed (2000-01-01) or, for dates, after the window",
    "id_too_long": "an ID longer than 256 characters",
    "categorical_too_long": "a categorical value longer than 1,000 characters",
    "pipe_in_value": "a '|' inside a value ('|' separates multiple values in Personalize CSVs)",
    "line_break_in_value": "a line break inside a value (a record must sit on one line)",
    "invalid_utf8": "a value that is not valid UTF-8",
    "control_character": "a control character (other than tab) inside a value",
    "invalid_number": "a number that cannot be parsed or is negative where it cannot be",
    "invalid_boolean": "a 0/1 flag holding another value",
    "unknown_event_name": "a web log event name the pipeline does not know",
    "unknown_order_status": "an order status the pipeline does not know",
    "unknown_channel": "an order channel the pipeline does not know",
    "unknown_size": "a cup or band size outside the known sizes",
    "unknown_product": "an event on a product that does not exist in the products table",
    "unknown_member": "an event of a member that does not exist in the members table",
    "duplicate_id": "a second source row with the same id",
}

QUARANTINED = "quarantined"
EXCLUDED = "excluded"

#: What a personal column holds in rejects/ instead of its value.
BIRTH_DATE, CONTACT = "birth_date", "contact"
#: The columns that hold personal data, should a source query return them (members.sql selects birth_date alone;
#: names, e-mails and phones stay in the database), and what the run archive keeps of each: a birth date becomes
#: the age the member rules judge it by (``archived_birth_dates``), contact data only whether it was there.
PERSONAL_COLUMNS = {
    "birth_date": BIRTH_DATE,
    "name": CONTACT,
    "email": CONTACT,
    "phone": CONTACT,
    "address": CONTACT,
}
#: A personal value that was there, in place of the value.
PRESENT = "present"


class Verdicts:
    """First verdict per row of one chunk (positional: row i of the chunk is entry i)."""

    def __init__(self, size: int) -> None:
        self.kind = np.full(size, "", dtype=object)
        self.reason = np.full(size, "", dtype=object)
        self.column = np.full(size, "", dtype=object)
        self._alive = np.ones(size, dtype=bool)

    def __len__(self) -> int:
        return len(self.kind)

    @property
    def alive(self) -> np.ndarray:
        """Rows no rule has caught yet (a copy: marking rows later does not change it)."""
        return self._alive.copy()

    def _mark(self, mask: Any, kind: str, reason: str, column: str | np.ndarray) -> None:
        mask = np.asarray(mask, dtype=bool) & self._alive
        if not mask.any():
            return
        self._alive &= ~mask
        self.kind[mask] = kind
        self.reason[mask] = reason
        self.column[mask] = column if isinstance(column, str) else np.asarray(column, dtype=object)[mask]

    def quarantine(self, mask: Any, reason: str, column: str | np.ndarray = "") -> None:
        if reason not in QUARANTINE_REASONS:
            raise ValueError(f"unknown quarantine reason {reason!r}")
        self._mark(mask, QUARANTINED, reason, column)

    def exclude(self, mask: Any, rule: str) -> None:
        if rule not in EXCLUSION_RULES:
            raise ValueError(f"unknown exclusion rule {rule!r}")
        self._mark(mask, EXCLUDED, rule, "")

    def quarantine_reasons(self, reasons: pd.Series, column: str | np.ndarray = "") -> None:
        """Quarantines each row whose entry in ``reasons`` is a reason code (NA = fine), with that code."""
        values = reasons.to_numpy(dtype=object, na_value=None)
        for reason in pd.unique(reasons.dropna()):
            self.quarantine(values == reason, str(reason), column)


@dataclass
class SourceAccount:
    source_rows: int = 0
    exported: int = 0
    excluded: Counter[str] = field(default_factory=Counter)
    quarantined: Counter[str] = field(default_factory=Counter)

    @property
    def balanced(self) -> bool:
        return self.source_rows == self.exported + sum(self.excluded.values()) + sum(self.quarantined.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "source_rows": self.source_rows,
            "exported": self.exported,
            "excluded": dict(sorted(self.excluded.items())),
            "quarantined": dict(sorted(self.quarantined.items())),
        }


class Accounting:
    """Counts per source kind; a row is added to source_rows once, and later to exactly one outcome."""

    def __init__(self) -> None:
        self.sources = {kind: SourceAccount() for kind in SOURCE_KINDS}

    def add_source_rows(self, kind: str, count: int) -> None:
        self.sources[kind].source_rows += count

    def add_exported(self, kind: str, count: int) -> None:
        self.sources[kind].exported += count

    def add_verdicts(self, kind: str, verdicts: Verdicts) -> None:
        """Counts the excluded and quarantined rows of a chunk (alive rows are counted when exported)."""
        account = self.sources[kind]
        for verdict_kind, counter in ((EXCLUDED, account.excluded), (QUARANTINED, account.quarantined)):
            caught = verdicts.kind == verdict_kind
            if caught.any():
                reasons, counts = np.unique(verdicts.reason[caught].astype(str), return_counts=True)
                counter.update({str(reason): int(count) for reason, count in zip(reasons, counts, strict=True)})

    def add_excluded(self, kind: str, rule: str, count: int) -> None:
        if count:
            self.sources[kind].excluded[rule] += count

    def unbalanced(self) -> list[str]:
        return [kind for kind, account in self.sources.items() if not account.balanced]

    def as_dict(self) -> dict[str, Any]:
        return {kind: account.as_dict() for kind, account in self.sources.items()}


def render_original(value: Any) -> str:
    """A source value as text for the rejects file: null → empty, dates in ISO form, floats without noise."""
    if value is None or value is pd.NA or value is pd.NaT:
        return ""
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        return repr(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date | Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "backslashreplace")
    return str(value)


def archived_birth_dates(values: pd.Series, on: dt.date, earliest: str) -> list[str]:
    """Birth dates as rejects/ keeps them: the age on ``on`` (the window's last local day, as AGE is computed),
    ``out of range (age N)`` or ``out of range (after the window's last day)`` outside the range the member rules
    allow, "present" for a value that is not a readable date, empty for none. Never the date itself."""
    born, unreadable = transform.parse_dates(values)
    ages = transform.age_at(born, on).astype(object).tolist()
    out_of_range = transform.birth_dates_out_of_range(born, on, earliest).tolist()
    after_on = (born > pd.Timestamp(on)).fillna(False).astype(bool).tolist()
    texts = []
    for age, bad, outside, future in zip(ages, unreadable.tolist(), out_of_range, after_on, strict=True):
        if bad:
            texts.append(PRESENT)
        elif age is None or age is pd.NA:
            texts.append("")
        elif future:
            texts.append("out of range (after the window's last day)")
        elif outside:
            texts.append(f"out of range (age {age})")
        else:
            texts.append(str(age))
    return texts


def archived_contacts(values: pd.Series) -> list[str]:
    """Contact data as rejects/ keeps it: "present", or empty when there was none."""
    return np.where(transform.missing(values).to_numpy(), "", PRESENT).tolist()


class RejectsWriter:
    """Appends quarantined rows to ``<folder>/<source>.csv``: reason, column, then the source's own columns.

    Values are written as the source had them, but a column of ``PERSONAL_COLUMNS`` (the offending one included)
    holds only what the rules needed: a birth date its age on ``ages_on`` (``archived_birth_dates``, with the
    range from ``earliest_birth_date``), contact data "present" or nothing. Invalid UTF-8 from the source (kept
    as lone surrogates) is written as backslash escapes, so the file itself stays valid UTF-8 and still shows the
    bad bytes.
    """

    def __init__(self, folder: Path, *, ages_on: dt.date, earliest_birth_date: str) -> None:
        self.folder = folder
        self.ages_on = ages_on
        self.earliest_birth_date = earliest_birth_date
        self._files: dict[str, tuple[IO[str], Any]] = {}

    def write(self, source: str, chunk: pd.DataFrame, verdicts: Verdicts) -> None:
        mask = verdicts.kind == QUARANTINED
        if not mask.any():
            return
        if source not in self._files:
            self.folder.mkdir(parents=True, exist_ok=True)
            handle = (self.folder / f"{source}.csv").open("w", encoding="utf-8", errors="backslashreplace", newline="")
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(["reason", "column", *chunk.columns])
            self._files[source] = (handle, writer)
        _, writer = self._files[source]
        rows = chunk.loc[mask]
        columns = [self._archived(name, rows.iloc[:, position]) for position, name in enumerate(rows.columns)]
        with naming_file(self.folder / f"{source}.csv"):
            for reason, column, *values in zip(verdicts.reason[mask], verdicts.column[mask], *columns, strict=True):
                writer.writerow([reason, column, *values])

    def _archived(self, name: str, values: pd.Series) -> list[str]:
        """One column of quarantined rows as rejects/ keeps it."""
        kind = PERSONAL_COLUMNS.get(str(name).strip().lower())
        if kind == BIRTH_DATE:
            return archived_birth_dates(values, self.ages_on, self.earliest_birth_date)
        if kind == CONTACT:
            return archived_contacts(values)
        return [render_original(value) for value in values]

    def close(self) -> None:
        files, self._files = self._files, {}
        for source, (handle, _) in files.items():
            with naming_file(self.folder / f"{source}.csv"):
                handle.close()

    def files(self) -> list[str]:
        return sorted(f"{source}.csv" for source in self._files)
