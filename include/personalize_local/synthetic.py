"""Small synthetic shop data with a clear size structure, for the endpoint's tests and benchmarks.

Each member has a cup and a band size and a favourite style; each item comes in two neighbouring cups and two
neighbouring bands and has one style. Members mostly interact with items in their size (``in_size_share``),
preferring their style and popular items; the rest is noise. Columns and types follow the project's schemas
(SCHEMAS below mirror include/schemas), so frames can be written as CSV and imported as they are.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

CUPS = ("A", "B", "C", "D")
BANDS = ("70", "75", "80", "85")
STYLES = ("full", "half", "bralette")
EVENT_TYPES = ("click", "cart", "wishlist", "purchase")
EVENT_SHARES = (0.7, 0.12, 0.08, 0.1)
START_TIMESTAMP = 1_730_000_000  # 2024-10-27, epoch seconds
SPAN_SECONDS = 90 * 86_400

_NULLABLE_CATEGORICAL = {"type": ["string", "null"], "categorical": True}
SCHEMAS = {
    "Interactions": {
        "type": "record",
        "name": "Interactions",
        "namespace": "com.amazonaws.personalize.schema",
        "fields": [
            {"name": "USER_ID", "type": "string"},
            {"name": "ITEM_ID", "type": "string"},
            {"name": "TIMESTAMP", "type": "long"},
            {"name": "EVENT_TYPE", "type": "string"},
            {"name": "EVENT_VALUE", "type": ["float", "null"]},
            {"name": "DEVICE", **_NULLABLE_CATEGORICAL},
        ],
        "version": "1.0",
    },
    "Users": {
        "type": "record",
        "name": "Users",
        "namespace": "com.amazonaws.personalize.schema",
        "fields": [
            {"name": "USER_ID", "type": "string"},
            {"name": "AGE", "type": ["int", "null"]},
            {"name": "CUP_SIZE", **_NULLABLE_CATEGORICAL},
            {"name": "BAND_SIZE", **_NULLABLE_CATEGORICAL},
        ],
        "version": "1.0",
    },
    "Items": {
        "type": "record",
        "name": "Items",
        "namespace": "com.amazonaws.personalize.schema",
        "fields": [
            {"name": "ITEM_ID", "type": "string"},
            {"name": "CREATION_TIMESTAMP", "type": "long"},
            *(
                {"name": name, **_NULLABLE_CATEGORICAL}
                for name in (
                    "CUP_SIZE",
                    "BAND_SIZE",
                    "WIRE",
                    "BRARET",
                    "CUP_TYPE",
                    "GORE_HEIGHT",
                    "GORE_WIDTH",
                    "BRARET_LINE",
                    "BSW",
                )
            ),
        ],
        "version": "1.0",
    },
}


def schema_text(dataset_type: str) -> str:
    return json.dumps(SCHEMAS[dataset_type], indent=2)


@dataclass(frozen=True)
class ShopData:
    users: pd.DataFrame
    items: pd.DataFrame
    interactions: pd.DataFrame


def make_shop_data(
    *,
    n_users: int = 300,
    n_items: int = 120,
    n_interactions: int = 6000,
    in_size_share: float = 0.9,
    seed: int = 7,
) -> ShopData:
    """Users, Items and Interactions frames of strings, as they would sit in the import CSVs."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    user_cup = rng.integers(0, len(CUPS), n_users)
    user_band = rng.integers(0, len(BANDS), n_users)
    user_style = rng.integers(0, len(STYLES), n_users)
    item_cup0 = rng.integers(0, len(CUPS) - 1, n_items)  # covers cup0 and cup0 + 1
    item_band0 = rng.integers(0, len(BANDS) - 1, n_items)
    item_style = rng.integers(0, len(STYLES), n_items)
    item_appeal = rng.pareto(1.5, n_items) + 0.2
    created = START_TIMESTAMP + rng.integers(-180 * 86_400, SPAN_SECONDS, n_items)

    # Sample each interaction's item from its user's (cup, band, style) group.
    activity = rng.pareto(1.2, n_users) + 1.0
    users_of = rng.choice(n_users, size=n_interactions, p=activity / activity.sum())
    in_size = rng.random(n_interactions) < in_size_share
    item_of = rng.integers(0, n_items, n_interactions)  # noise by default
    group = (user_cup * len(BANDS) + user_band) * len(STYLES) + user_style
    for key in np.unique(group[users_of]):
        cup, rest = divmod(int(key), len(BANDS) * len(STYLES))
        band, style = divmod(rest, len(STYLES))
        fits = (item_cup0 <= cup) & (cup <= item_cup0 + 1) & (item_band0 <= band) & (band <= item_band0 + 1)
        candidates = np.flatnonzero(fits)
        if candidates.size == 0:
            continue
        weights = item_appeal[candidates] * np.where(item_style[candidates] == style, 4.0, 1.0)
        rows = np.flatnonzero((group[users_of] == key) & in_size)
        item_of[rows] = rng.choice(candidates, size=rows.size, p=weights / weights.sum())
    event_types = rng.choice(len(EVENT_TYPES), size=n_interactions, p=EVENT_SHARES)
    timestamps = START_TIMESTAMP + rng.integers(0, SPAN_SECONDS, n_interactions)
    prices = np.round(rng.uniform(9.9, 59.9, n_items), 1)

    def user_id(index: np.ndarray) -> np.ndarray:
        return np.char.add("u", index.astype(str))

    def item_id(index: np.ndarray) -> np.ndarray:
        return np.char.add("p", index.astype(str))

    event_names = np.array(EVENT_TYPES)[event_types]
    interactions = pd.DataFrame(
        {
            "USER_ID": user_id(users_of),
            "ITEM_ID": item_id(item_of),
            "TIMESTAMP": timestamps.astype(str),
            "EVENT_TYPE": event_names,
            "EVENT_VALUE": np.where(event_names == "purchase", prices[item_of].astype(str), ""),
            "DEVICE": np.array(["mobile", "pc", "tablet"])[rng.integers(0, 3, n_interactions)],
        },
        dtype="str",
    ).sort_values("TIMESTAMP", kind="stable", ignore_index=True)
    users = pd.DataFrame(
        {
            "USER_ID": user_id(np.arange(n_users)),
            "AGE": rng.integers(20, 60, n_users).astype(str),
            "CUP_SIZE": np.array(CUPS)[user_cup],
            "BAND_SIZE": np.array(BANDS)[user_band],
        },
        dtype="str",
    )
    cups = np.array(CUPS)
    bands = np.array(BANDS)
    items = pd.DataFrame(
        {
            "ITEM_ID": item_id(np.arange(n_items)),
            "CREATION_TIMESTAMP": created.astype(str),
            "CUP_SIZE": np.char.add(np.char.add(cups[item_cup0], "|"), cups[item_cup0 + 1]),
            "BAND_SIZE": np.char.add(np.char.add(bands[item_band0], "|"), bands[item_band0 + 1]),
            "WIRE": np.where(rng.random(n_items) < 0.5, "True", "False"),
            "BRARET": np.where(item_style == 2, "True", "False"),
            "CUP_TYPE": np.array(STYLES)[item_style],
            "GORE_HEIGHT": "",
            "GORE_WIDTH": "",
            "BRARET_LINE": "",
            "BSW": "",
        },
        dtype="str",
    )
    return ShopData(users=users, items=items, interactions=interactions)


def fits_size(items: pd.DataFrame, cup: str, band: str) -> set[str]:
    """ITEM_IDs whose CUP_SIZE and BAND_SIZE lists contain the given sizes."""
    cup_ok = items["CUP_SIZE"].str.split("|").apply(lambda values: cup in values)
    band_ok = items["BAND_SIZE"].str.split("|").apply(lambda values: band in values)
    return set(items.loc[cup_ok & band_ok, "ITEM_ID"])


def to_csv(frame: pd.DataFrame) -> str:
    """CSV text as Personalize reads it: unquoted header, empty cells for nulls."""
    return frame.to_csv(index=False, lineterminator="\n")
