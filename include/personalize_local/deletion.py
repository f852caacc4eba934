"""What a data deletion job reads and takes out: the list of users to delete, and their rows in a group's data.

The list is a CSV file with a single ``USER_ID`` column (header on line 1, one user id a line), as the service asks
of a data deletion input file. An empty file, another header, a second column, an empty id or one longer than 256
characters fails the job with a :class:`DeletionListError` whose message names the file and the line.

A user's data is her rows in the Interactions and Users datasets and her streamed events, with the anonymous events
of the sessions she logged in to (training joins those to her, so they are hers too).
"""

from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

USER_ID = "USER_ID"
MAX_USER_ID_LENGTH = 256
#: The service reads at most 100 MB of data deletion input files per job.
MAX_INPUT_BYTES = 100 * 1024 * 1024


class DeletionListError(ValueError):
    """A data deletion input file the service would refuse; the message names the file and the line."""


def read_user_list(text: str, *, source: str) -> list[str]:
    """The user ids the file lists, in order (repeats kept); DeletionListError at the first problem."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader)
    except StopIteration:
        raise DeletionListError(f"{source}: the file is empty (line 1 must hold the USER_ID header)") from None
    except csv.Error as exc:
        raise DeletionListError(f"{source} line 1: malformed CSV: {exc}") from exc
    header = [name.lstrip("\ufeff").strip() for name in header]
    if header != [USER_ID]:
        if USER_ID not in header:
            raise DeletionListError(f"{source} line 1: the header must be USER_ID, got {header}")
        raise DeletionListError(f"{source} line 1: the file must hold a single USER_ID column, got {header}")
    users: list[str] = []
    expected_line = 2
    try:
        for row in reader:
            line = reader.line_num
            if line != expected_line:
                raise DeletionListError(
                    f"{source} line {expected_line}: a record spans lines {expected_line}-{line}; "
                    "each user id must sit on one line"
                )
            expected_line += 1
            # A blank line lists no one by name: refused like an empty id, rather than guessed at.
            if not row or row == [""]:
                raise DeletionListError(f"{source} line {line}: empty USER_ID")
            if len(row) != 1:
                raise DeletionListError(f"{source} line {line}: {len(row)} columns; the file holds USER_ID only")
            if len(row[0]) > MAX_USER_ID_LENGTH:
                raise DeletionListError(f"{source} line {line}: USER_ID longer than {MAX_USER_ID_LENGTH} characters")
            users.append(row[0])
    except csv.Error as exc:
        raise DeletionListError(f"{source} line {reader.line_num}: malformed CSV: {exc}") from exc
    return users


def users_with_data(users: set[str], frames: list[pd.DataFrame | None]) -> set[str]:
    """Those of ``users`` that have a row in any of the frames (bulk data or events, each with USER_ID)."""
    found: set[str] = set()
    for frame in frames:
        if frame is not None and len(frame):
            found.update(frame.loc[frame[USER_ID].isin(users), USER_ID])
    return found


def without_users(frame: pd.DataFrame, users: set[str]) -> pd.DataFrame:
    """The bulk data without these users' rows."""
    return frame[~frame[USER_ID].isin(users)].reset_index(drop=True)


def events_of(events: pd.DataFrame, users: set[str]) -> pd.Series:
    """Which streamed events are these users': their own, and the anonymous ones of sessions they logged in to."""
    own = events[USER_ID].isin(users)
    sessions = set(events.loc[own & (events["SESSION_ID"] != ""), "SESSION_ID"])
    anonymous_in_their_sessions = (events[USER_ID] == "") & events["SESSION_ID"].isin(sessions)
    return own | anonymous_in_their_sessions
