"""The rule that applies once the sources meet: a duplicate interaction is dropped, its first row kept."""

from __future__ import annotations

import pandas as pd

from pulla_personalize import transform
from pulla_personalize.rules.interactions import duplicate_interactions


def test_duplicates_are_same_user_item_type_and_second() -> None:
    frame = pd.DataFrame(
        {
            "USER_ID": ["1", "1", "1", "1", "2", "1"],
            "ITEM_ID": ["9", "9", "9", "8", "9", "9"],
            "EVENT_TYPE": ["click", "click", "cart", "click", "click", "click"],
            "TIMESTAMP": [100, 100, 100, 100, 100, 101],
        }
    )
    # Another event type, item, user or second is another interaction; only the repeat of row 0 goes.
    assert duplicate_interactions(frame).tolist() == [False, True, False, False, False, False]


def test_the_row_kept_is_the_first_in_the_sorted_order_whatever_the_arrival_order() -> None:
    """A purchase and a click of one second both survive; two purchases of one second keep the earlier source row."""
    rows = pd.DataFrame(
        {
            "USER_ID": ["1", "1", "1"],
            "ITEM_ID": ["9", "9", "9"],
            "EVENT_TYPE": ["purchase", "purchase", "click"],
            "TIMESTAMP": [100, 100, 100],
            "_source": [0, 0, 1],
            "_pos": [7, 3, 5],
        }
    )
    for arrival in ([0, 1, 2], [2, 1, 0], [1, 2, 0]):
        frame = transform.sort_interactions(rows.iloc[arrival], tiebreak=("_source", "_pos"))
        kept = frame.loc[~duplicate_interactions(frame)]
        assert sorted(zip(kept["EVENT_TYPE"], kept["_pos"], strict=True)) == [("click", 5), ("purchase", 3)]
