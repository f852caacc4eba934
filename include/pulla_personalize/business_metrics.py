"""The shop's own measures of a solution version, from its batch recommendations for the evaluation sample.

Personalize's offline metrics (precision, NDCG, coverage) say how well a version predicts the held-out clicks;
they do not say whether it shows a member bras she can wear, or the same bra she bought last week. The gate runs the
new version on the evaluation sample (``pulla_personalize.crm.evaluation_sample``) and measures its top 25 here:

- ``size_fit_at_25``: how much of it comes in the member's cup and band size;
- ``catalogue_coverage``: how much of the catalogue it shows at all;
- ``new_item_share``: how much of it is new arrivals;
- ``already_bought_share``: how much of it the member already bought.

The gate's rules on them (``quality_gate.business_rules``) are ``pulla_personalize.business_rules``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from pulla_personalize.business_rules import BUSINESS_METRICS as BUSINESS_METRICS
from pulla_personalize.crm import DatasetError, require_columns

PURCHASE = "purchase"
DAY_SECONDS = 86_400


def _text(series: pd.Series) -> pd.Series:
    """Cells as stripped text, a missing cell as ""."""
    return series.astype("string").fillna("").str.strip().astype(object)


def _positions(recommendations: Mapping[str, Sequence[str]], k: int) -> pd.DataFrame:
    """One row per (member, top-k item) position: member_id, item_id."""
    members: list[str] = []
    item_ids: list[str] = []
    for member_id, ranked in recommendations.items():
        if isinstance(ranked, str):
            raise ValueError(f"recommendations of member {member_id!r} must be a list of item ids, not one string")
        top = [str(item) for item in list(ranked)[:k]]
        members.extend([str(member_id)] * len(top))
        item_ids.extend(top)
    return pd.DataFrame({"member_id": members, "item_id": item_ids}, dtype=object)


def _size_pairs(items: pd.DataFrame, column: str) -> tuple[pd.MultiIndex, set[str]]:
    """(item, size) for every size an item comes in, and the items whose ``column`` list is empty."""
    sizes = _text(items[column]).str.split("|")
    exploded = pd.DataFrame({"item_id": _text(items["ITEM_ID"]), "size": sizes}).explode("size")
    exploded["size"] = exploded["size"].fillna("").str.strip()
    listed = exploded[exploded["size"] != ""]
    unconstrained = set(exploded["item_id"]) - set(listed["item_id"])
    return pd.MultiIndex.from_frame(listed[["item_id", "size"]].drop_duplicates()), unconstrained


def _fits(positions: pd.DataFrame, items: pd.DataFrame, column: str, member_size: pd.Series) -> pd.Series:
    """Whether each position's item comes in the member's ``column`` size (an empty list fits every size)."""
    pairs, unconstrained = _size_pairs(items, column)
    wanted = pd.MultiIndex.from_arrays([positions["item_id"], member_size])
    return pd.Series(wanted.isin(pairs), index=positions.index) | positions["item_id"].isin(unconstrained)


def business_metrics(
    recommendations: Mapping[str, Sequence[str]],
    *,
    users: pd.DataFrame,
    items: pd.DataFrame,
    interactions: pd.DataFrame,
    as_of_epoch: int,
    new_item_days: int = 30,
    k: int = 25,
) -> dict[str, float | int | None]:
    """The business measures of ``recommendations`` (member → ranked item ids, the first ``k`` are measured).

    An item fits a member when its CUP_SIZE list holds her cup and its BAND_SIZE list holds her band; an item with an
    empty list does not constrain that dimension (a one-size item fits every cup), and an item missing from
    ``items`` fits nobody (the member cannot buy it). size_fit_at_25 is None when no measured member has both sizes
    on record. Shares are rounded to 6 decimals; ``members_measured`` (members with at least one recommended item)
    and ``members_with_size`` say what they rest on.
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a whole number of at least 1, got {k!r}")
    if new_item_days < 0:
        raise ValueError(f"new_item_days must not be negative, got {new_item_days!r}")
    if not recommendations:
        raise ValueError("no recommendations to measure")
    require_columns(users, "users", ("USER_ID", "CUP_SIZE", "BAND_SIZE"))
    require_columns(items, "items", ("ITEM_ID", "CREATION_TIMESTAMP", "CUP_SIZE", "BAND_SIZE"))
    require_columns(interactions, "interactions", ("USER_ID", "ITEM_ID", "EVENT_TYPE"))
    positions = _positions(recommendations, k)
    if positions.empty:
        raise ValueError(f"no recommended items to measure among {len(recommendations)} members")
    catalogue_ids = _text(items["ITEM_ID"])
    catalogue = set(catalogue_ids) - {""}
    if not catalogue:
        raise DatasetError("items: no item to measure coverage against")

    # Size fit: only members with both sizes on record can be judged.
    sizes = pd.DataFrame(
        {"member_id": _text(users["USER_ID"]), "cup": _text(users["CUP_SIZE"]), "band": _text(users["BAND_SIZE"])}
    ).drop_duplicates("member_id")
    sizes = sizes[(sizes["cup"] != "") & (sizes["band"] != "")]
    sized = positions.merge(sizes, on="member_id", how="inner")
    members_with_size = int(sized["member_id"].nunique())
    size_fit: float | None = None
    if not sized.empty:
        # Both lists come from items.csv, so an item missing from it is in neither and fits nobody.
        fits = _fits(sized, items, "CUP_SIZE", sized["cup"]) & _fits(sized, items, "BAND_SIZE", sized["band"])
        size_fit = round(float(fits.mean()), 6)

    coverage = len(set(positions["item_id"]) & catalogue) / len(catalogue)

    # An item without a creation time is not new; one with text that is not a number is an export bug.
    created_text = _text(items["CREATION_TIMESTAMP"])
    created = pd.to_numeric(created_text.where(created_text != ""), errors="coerce")
    bad = created.isna() & (created_text != "")
    if bad.any():
        position = int(bad.to_numpy().argmax())
        raise DatasetError(
            f"items: line {position + 2}: CREATION_TIMESTAMP {created_text.iloc[position]!r} is not epoch seconds"
        )
    new_ids = set(catalogue_ids[created >= as_of_epoch - new_item_days * DAY_SECONDS])
    new_share = positions["item_id"].isin(new_ids).mean()

    purchases = interactions[_text(interactions["EVENT_TYPE"]) == PURCHASE]
    bought = pd.MultiIndex.from_arrays([_text(purchases["USER_ID"]), _text(purchases["ITEM_ID"])])
    already_bought = pd.MultiIndex.from_frame(positions[["member_id", "item_id"]]).isin(bought).mean()

    return {
        "members_measured": int(positions["member_id"].nunique()),
        "members_with_size": members_with_size,
        "size_fit_at_25": size_fit,
        "catalogue_coverage": round(coverage, 6),
        "new_item_share": round(float(new_share), 6),
        "already_bought_share": round(float(already_bought), 6),
    }
