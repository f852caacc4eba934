"""products → Items: the rules a product option row passes, and the catalogue the Items records come from.

The products query returns one row per (product, option). ``product_rules`` checks one chunk of them;
``Catalogue`` collects the rows that pass: a product's attributes come from its first surviving row, its cup and
band sizes from all of them, and every product id that is present at all counts as existing for the
unknown_product rule of the events (a product whose rows were all quarantined still exists, it has no record).
``Catalogue.items`` makes the Items dataset, with CREATION_TIMESTAMP from registered_at, else the item's first
interaction in the window, else the last second of the window.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from pulla_personalize import transform
from pulla_personalize.export_settings import ExportSettings
from pulla_personalize.quarantine import Verdicts
from pulla_personalize.rules.common import quarantine_categorical_problems, quarantine_id_problems
from pulla_personalize.rules.sizes import BAND_SIZES, CUP_SIZES

if TYPE_CHECKING:
    from pulla_personalize.quality import Bounds

#: Free-text categorical attributes, checked and exported as they are (trimmed), in this order.
CATEGORICAL_COLUMNS = ("cup_type", "gore_height", "gore_width", "braret_line", "bsw")
#: 0/1 flags, exported as "True"/"False".
FLAG_COLUMNS = ("wire", "braret")
#: The Items attributes a product takes from its first surviving row.
ATTRIBUTE_NAMES = tuple(column.upper() for column in (*FLAG_COLUMNS, *CATEGORICAL_COLUMNS))


@dataclass
class ProductRows:
    """One chunk of product option rows after the rules."""

    #: The surviving rows, in chunk order: id, cup, band, registered (epoch seconds), then ATTRIBUTE_NAMES.
    options: pd.DataFrame
    #: Every product id of the chunk that is present, quarantined rows included (in chunk order, repeats kept).
    product_ids: list[str]
    verdicts: Verdicts


def product_rules(chunk: pd.DataFrame, settings: ExportSettings, bounds: Bounds) -> ProductRows:
    """Runs the product rules on one chunk of the products query (``bounds``: earliest and window_end)."""
    verdicts = Verdicts(len(chunk))
    ids = transform.as_text(chunk["product_id"])
    # product_id: missing_id, the text reasons, id_too_long.
    quarantine_id_problems(verdicts, chunk, ("product_id",), settings)
    # Each categorical attribute: the text reasons, categorical_too_long.
    for column in CATEGORICAL_COLUMNS:
        quarantine_categorical_problems(verdicts, chunk, column, settings)
    # wire, braret: invalid_boolean unless 0, 1 or null.
    flags = {}
    for column in FLAG_COLUMNS:
        flags[column], invalid = transform.flag_to_text(chunk[column])
        verdicts.quarantine(invalid, "invalid_boolean", column)
    # registered_at: bad_timestamp when unreadable (or a local time that does not exist), timestamp_out_of_range
    # before the earliest timestamp or from the window end on.
    registered, bad_registered = transform.local_to_epoch_seconds(chunk["registered_at"], settings.source_time_zone)
    verdicts.quarantine(bad_registered, "bad_timestamp", "registered_at")
    verdicts.quarantine(
        transform.outside(registered, bounds.earliest, bounds.window_end), "timestamp_out_of_range", "registered_at"
    )
    # option_cup_size: the text reasons, categorical_too_long, then unknown_size outside sizes.CUP_SIZES.
    quarantine_categorical_problems(verdicts, chunk, "option_cup_size", settings)
    verdicts.quarantine(transform.cup_size_problems(chunk["option_cup_size"]), "unknown_size", "option_cup_size")
    # option_band_size: unknown_size unless a whole number in sizes.BAND_SIZES.
    bands, bad_band = transform.normalize_band_sizes(chunk["option_band_size"])
    verdicts.quarantine(bad_band, "unknown_size", "option_band_size")

    options = pd.DataFrame(
        {
            "id": ids,
            "cup": transform.normalize_cup_sizes(chunk["option_cup_size"]),
            "band": bands,
            "registered": registered,
            "WIRE": flags["wire"],
            "BRARET": flags["braret"],
            **{column.upper(): transform.as_text(chunk[column]).str.strip() for column in CATEGORICAL_COLUMNS},
        }
    ).iloc[np.flatnonzero(verdicts.alive)]
    present = ids[~transform.missing(chunk["product_id"]).to_numpy()].tolist()
    return ProductRows(options, present, verdicts)


@dataclass
class Product:
    """A product's Items record in the making."""

    attributes: dict[str, Any]
    registered: int | None
    cup_sizes: set[str] = field(default_factory=set)
    band_sizes: set[str] = field(default_factory=set)


class Catalogue:
    """Every product id the products query returned, and the Items record of those with a surviving row."""

    def __init__(self) -> None:
        # None until one of the product's rows survives the rules.
        self.products: dict[str, Product | None] = {}

    def add(self, rows: ProductRows) -> None:
        """Takes in one chunk of product rows after the rules."""
        for product_id in rows.product_ids:
            self.products.setdefault(product_id, None)
        options = rows.options
        # Attributes from a product's first surviving row, sizes from all of them. Python sees one row per new
        # product and one per distinct size, not one per option row.
        firsts = options.drop_duplicates("id", keep="first")
        new = np.array([self.products.get(product_id) is None for product_id in firsts["id"].tolist()], dtype=bool)
        firsts = firsts.loc[new]
        plain = {name: firsts[name].astype(object).where(firsts[name].notna(), None).tolist() for name in firsts}
        for index, product_id in enumerate(plain["id"]):
            seconds = plain["registered"][index]
            self.products[product_id] = Product(
                attributes={name: plain[name][index] for name in ATTRIBUTE_NAMES},
                registered=None if seconds is None else int(seconds),
            )
        for column, sizes in (("cup", "cup_sizes"), ("band", "band_sizes")):
            pairs = options[["id", column]].dropna().drop_duplicates()
            for product_id, size in zip(pairs["id"].tolist(), pairs[column].tolist(), strict=True):
                getattr(self.products[product_id], sizes).add(size)

    def known_ids(self) -> Any:
        """Every product id seen, as a value set for ``transform.is_in`` (the unknown_product rule)."""
        return transform.text_value_set(self.products)

    def listed_ids(self) -> list[str]:
        """The ids of the products that have an Items record."""
        return [product_id for product_id, product in self.products.items() if product is not None]

    def items(
        self, columns: list[str], first_interaction: dict[str, int], window_end: int
    ) -> tuple[pd.DataFrame, dict[str, int]]:
        """The Items dataset (``columns`` from its schema, rows in natural ITEM_ID order) and how many items took
        their CREATION_TIMESTAMP from each origin: registered_at, first_interaction or window_end."""
        fallback = window_end - 1
        origins: Counter[str] = Counter()
        rows = []
        for product_id, product in self.products.items():
            if product is None:
                continue
            if product.registered is not None:
                created, origin = product.registered, "registered_at"
            elif product_id in first_interaction:
                created, origin = first_interaction[product_id], "first_interaction"
            else:
                created, origin = fallback, "window_end"
            origins[origin] += 1
            rows.append(
                {
                    "ITEM_ID": product_id,
                    "CREATION_TIMESTAMP": created,
                    "CUP_SIZE": transform.join_sizes(product.cup_sizes, CUP_SIZES),
                    "BAND_SIZE": transform.join_sizes(product.band_sizes, BAND_SIZES),
                    **product.attributes,
                }
            )
        items = pd.DataFrame(rows, columns=columns)
        items = items.astype({name: "str" for name in items.columns if name != "CREATION_TIMESTAMP"})
        items["CREATION_TIMESTAMP"] = items["CREATION_TIMESTAMP"].astype("int64")
        items = items.assign(_key=transform.natural_key(items["ITEM_ID"])).sort_values("_key").drop(columns="_key")
        return items.reset_index(drop=True), dict(sorted(origins.items()))
