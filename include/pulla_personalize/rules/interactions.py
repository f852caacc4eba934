"""Interactions from every source together: the rule that applies once purchases, clicks, carts and wishlists meet.

``duplicate_interactions`` runs per spill bucket (a user's rows are all in one bucket), after the rows are sorted
by user, time and source (``transform.sort_interactions``), so "the first" of a set of duplicates is the same on
every rerun whatever the chunking.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: What makes two interactions the same one (Personalize's TIMESTAMP has second resolution).
DUPLICATE_KEY = ("USER_ID", "ITEM_ID", "EVENT_TYPE", "TIMESTAMP")


def duplicate_interactions(interactions: pd.DataFrame) -> np.ndarray:
    """duplicate_interaction: True for a row with the same user, item, event type and second as an earlier row of
    the frame (the earlier one is kept)."""
    return interactions.duplicated(subset=list(DUPLICATE_KEY), keep="first").to_numpy()
