"""The rules every interaction passes whatever its source: retention, and duplicates across sources.

``beyond_retention`` is applied by each source's rules (``web_logs.web_log_rules``, ``order_lines.order_line_rules``)
as soon as a row's time is known to be inside the window, so an old row is counted under its own source and never
spilled; ``retention_start`` is where it begins, computed once per run.

``duplicate_interactions`` runs per spill bucket (a user's rows are all in one bucket), after the rows are sorted
by user, time and source (``transform.sort_interactions``), so "the first" of a set of duplicates is the same on
every rerun whatever the chunking.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from pulla_personalize.quality import Bounds

#: What makes two interactions the same one (Personalize's TIMESTAMP has second resolution).
DUPLICATE_KEY = ("USER_ID", "ITEM_ID", "EVENT_TYPE", "TIMESTAMP")


def retention_start(window_end: datetime, time_zone: str, days: int) -> int:
    """The first epoch second an interaction may have: ``days`` local calendar days before the window end (the
    same local clock time; where the zone has no daylight saving, exactly ``days`` × 86,400 s)."""
    local_end = window_end.astimezone(ZoneInfo(time_zone))
    return int((local_end - timedelta(days=days)).timestamp())


def beyond_retention(seconds: pd.Series, bounds: Bounds) -> np.ndarray:
    """beyond_retention: True for a TIMESTAMP (epoch seconds) before ``bounds.retained_from`` (None: no limit); a
    missing time is never beyond it (the timestamp rules catch it first)."""
    if bounds.retained_from is None:
        return np.zeros(len(seconds), dtype=bool)
    return (seconds < bounds.retained_from).fillna(False).to_numpy(dtype=bool)


def duplicate_interactions(interactions: pd.DataFrame) -> np.ndarray:
    """duplicate_interaction: True for a row with the same user, item, event type and second as an earlier row of
    the frame (the earlier one is kept)."""
    return interactions.duplicated(subset=list(DUPLICATE_KEY), keep="first").to_numpy()
