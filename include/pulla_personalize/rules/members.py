"""members → Users: the rules a member row passes, and the status every event of that member follows.

``member_rules`` checks one chunk of the members query (in ``member_id`` order, test accounts and withdrawn
members included) and returns the Users rows of the members that pass. Before the test and withdrawn rules catch
a row, the member's status is taken for every usable id (present, writable, not a repeat): a test or withdrawn
member's events go, whatever else is wrong with the member row. ``member_event_rules`` applies those statuses to
events (web logs, order lines): test_account, withdrawn_member, or unknown_member for an id the members query did
not return.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pulla_personalize import transform
from pulla_personalize.export_settings import ExportSettings
from pulla_personalize.quarantine import Verdicts
from pulla_personalize.rules.common import quarantine_categorical_problems, quarantine_id_problems

#: A member's status, as the events of that member see it.
MEMBER, TEST, WITHDRAWN = "member", "test", "withdrawn"


@dataclass
class MemberRows:
    """One chunk of members after the rules."""

    #: The Users rows of the members that passed (USER_ID, AGE, CUP_SIZE, BAND_SIZE), in chunk order.
    users: pd.DataFrame
    verdicts: Verdicts
    #: member id → MEMBER, TEST or WITHDRAWN for every usable id of the chunk, whether its row passed or not.
    statuses: dict[str, str]


def member_rules(
    chunk: pd.DataFrame, settings: ExportSettings, *, on: dt.date, earlier_ids: Mapping[str, str] | set[str]
) -> MemberRows:
    """Runs the member rules on one chunk of the members query.

    ``on`` is the local date ages are computed at (the window's last day; a birth date after it is out of range);
    ``earlier_ids`` holds the usable member ids of earlier chunks (a repeat of one is a duplicate_id).
    """
    verdicts = Verdicts(len(chunk))
    ids = transform.as_text(chunk["member_id"])
    # member_id: missing_id, the text reasons, id_too_long; then duplicate_id for an id already seen.
    quarantine_id_problems(verdicts, chunk, ("member_id",), settings)
    repeated = transform.is_in(ids, transform.text_value_set(earlier_ids)) | ids.duplicated().to_numpy()
    verdicts.quarantine(repeated & ids.notna().to_numpy(), "duplicate_id", "member_id")

    is_test, bad_flag = transform.as_integer(chunk["is_test"])
    deleted, bad_deleted = transform.parse_local_datetimes(chunk["deleted_at"])
    test = (is_test == 1).fillna(False).to_numpy(dtype=bool)
    # An unreadable deleted_at still says the member withdrew: privacy wins over the quarantine (so the
    # bad_timestamp rule on deleted_at below never gets such a row).
    withdrawn = (deleted.notna() | bad_deleted).to_numpy()
    # The status of every usable id, taken before its row can be caught by the rules below.
    usable = verdicts.alive
    usable_rows = zip(ids[usable].tolist(), test[usable], withdrawn[usable], strict=True)
    statuses = {
        member_id: TEST if is_test_row else WITHDRAWN if is_withdrawn else MEMBER
        for member_id, is_test_row, is_withdrawn in usable_rows
    }

    # is_test = 1: test_account; deleted_at set (or unreadable): withdrawn_member.
    verdicts.exclude(test, "test_account")
    verdicts.exclude(withdrawn, "withdrawn_member")
    # is_test other than 0/1: invalid_boolean.
    verdicts.quarantine(bad_flag | (is_test.notna() & ~is_test.isin([0, 1])).to_numpy(), "invalid_boolean", "is_test")
    verdicts.quarantine(bad_deleted, "bad_timestamp", "deleted_at")
    # birth_date: bad_timestamp when unreadable, timestamp_out_of_range before earliest_birth_date or after ``on``.
    born, bad_birth = transform.parse_dates(chunk["birth_date"])
    verdicts.quarantine(bad_birth, "bad_timestamp", "birth_date")
    out_of_range = transform.birth_dates_out_of_range(born, on, settings.earliest_birth_date)
    verdicts.quarantine(out_of_range, "timestamp_out_of_range", "birth_date")
    # cup_size: the text reasons, categorical_too_long, then unknown_size outside sizes.CUP_SIZES (any case, trimmed).
    quarantine_categorical_problems(verdicts, chunk, "cup_size", settings)
    verdicts.quarantine(transform.cup_size_problems(chunk["cup_size"]), "unknown_size", "cup_size")
    # band_size: unknown_size unless a whole number in sizes.BAND_SIZES (so 73, 75.5 and "xl" are unknown).
    bands, bad_band = transform.normalize_band_sizes(chunk["band_size"])
    verdicts.quarantine(bad_band, "unknown_size", "band_size")

    alive = verdicts.alive
    users = pd.DataFrame(
        {
            "USER_ID": ids[alive],
            "AGE": transform.age_at(born[alive], on),
            "CUP_SIZE": transform.normalize_cup_sizes(chunk["cup_size"][alive]),
            "BAND_SIZE": bands[alive],
        }
    )
    return MemberRows(users, verdicts, statuses)


def member_event_rules(
    verdicts: Verdicts, member_ids: pd.Series, statuses: dict[str, str], applies: np.ndarray, column: str
) -> None:
    """The member rules on events, for the rows where ``applies``: test_account, withdrawn_member, then
    unknown_member (quarantined in ``column``) for a member id without a status."""
    status = transform.map_distinct(member_ids, statuses)
    verdicts.exclude(applies & (status == TEST).to_numpy(dtype=bool, na_value=False), "test_account")
    verdicts.exclude(applies & (status == WITHDRAWN).to_numpy(dtype=bool, na_value=False), "withdrawn_member")
    verdicts.quarantine(applies & status.isna().to_numpy(dtype=bool), "unknown_member", column)
