"""The shop's own measures of a solution version, and the deploy gate's rules on them.

Personalize's offline metrics (precision, NDCG, coverage) say how well a version predicts the held-out clicks;
they do not say whether it shows a member bras she can wear, or the same bra she bought last week. The gate runs the
new version on the evaluation sample (``pulla_personalize.crm.evaluation_sample``) and measures its top 25 here:

- ``size_fit_at_25``: how much of it comes in the member's cup and band size;
- ``catalogue_coverage``: how much of the catalogue it shows at all;
- ``new_item_share``: how much of it is new arrivals;
- ``already_bought_share``: how much of it the member already bought.

``quality_gate.business_rules`` in the config bounds each measure absolutely (``at_least``/``at_most``) and against
the live version (``max_drop``/``max_rise``); ``check_business_rules`` applies them and says why, in sentences the
gate's log and its XCom carry.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from pulla_personalize.crm import DatasetError

BUSINESS_METRICS = ("size_fit_at_25", "catalogue_coverage", "new_item_share", "already_bought_share")
DESCRIPTIONS = {
    "size_fit_at_25": "share of the top-25 items of members with a cup and band size that come in both her sizes",
    "catalogue_coverage": "distinct catalogue items in anyone's top 25, over the items in the catalogue",
    "new_item_share": "share of top-25 positions held by items created in the last new_item_days days",
    "already_bought_share": "share of top-25 positions held by items the member has a purchase interaction with",
}
RULE_KEYS = ("at_least", "at_most", "max_drop", "max_rise")
PURCHASE = "purchase"
DAY_SECONDS = 86_400
#: Measures are rounded to 6 decimals; a drop or rise within this of its limit is within the limit.
TOLERANCE = 1e-9


def _require_columns(frame: pd.DataFrame, dataset: str, columns: Sequence[str]) -> None:
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise DatasetError(f"{dataset}: no {', '.join(missing)} column (has {', '.join(map(str, frame.columns))})")


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
    _require_columns(users, "users", ("USER_ID", "CUP_SIZE", "BAND_SIZE"))
    _require_columns(items, "items", ("ITEM_ID", "CREATION_TIMESTAMP", "CUP_SIZE", "BAND_SIZE"))
    _require_columns(interactions, "interactions", ("USER_ID", "ITEM_ID", "EVENT_TYPE"))
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


class BusinessRuleError(ValueError):
    """A business rule in the config is wrong; the message names where, the metric and the key."""


@dataclass(frozen=True)
class BusinessRule:
    """Bounds on one measure: absolute (``at_least``, ``at_most``) and against the live version (``max_drop``: the
    new value may be at most this much below the live one; ``max_rise``: at most this much above it)."""

    at_least: float | None = None
    at_most: float | None = None
    max_drop: float | None = None
    max_rise: float | None = None


def parse_business_rules(data: Mapping[str, Any], *, where: str) -> dict[str, BusinessRule]:
    """The rules of a config section (``where`` names it in errors, e.g. ``quality_gate.business_rules``).

    Every measure is a share, so every bound is a number between 0 and 1; a rule sets at least one bound.
    """
    if not isinstance(data, Mapping):
        raise BusinessRuleError(f"{where} must be a mapping of business metric to rule, got {data!r}")
    rules: dict[str, BusinessRule] = {}
    for metric, rule in data.items():
        if metric not in BUSINESS_METRICS:
            raise BusinessRuleError(f"{where}.{metric} is not a business metric; known: {', '.join(BUSINESS_METRICS)}")
        if not isinstance(rule, Mapping):
            raise BusinessRuleError(f"{where}.{metric} must be a mapping of {', '.join(RULE_KEYS)}, got {rule!r}")
        bounds: dict[str, float] = {}
        for key, value in rule.items():
            if key not in RULE_KEYS:
                raise BusinessRuleError(f"{where}.{metric}.{key} is not a rule key; use {', '.join(RULE_KEYS)}")
            if value is None:
                continue  # an empty YAML key: no bound
            number_ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
            if not number_ok or not 0 <= value <= 1:
                raise BusinessRuleError(f"{where}.{metric}.{key} must be a number between 0 and 1, got {value!r}")
            bounds[key] = float(value)
        if not bounds:
            raise BusinessRuleError(f"{where}.{metric} sets no bound: give at least one of {', '.join(RULE_KEYS)}")
        if bounds.get("at_least", 0.0) > bounds.get("at_most", 1.0):
            raise BusinessRuleError(
                f"{where}.{metric}.at_least {bounds['at_least']:g} is above at_most {bounds['at_most']:g}"
            )
        rules[metric] = BusinessRule(**bounds)
    return rules


@dataclass(frozen=True)
class RuleVerdict:
    """Whether the new version passes the business rules; ``checks`` says what each rule found, ``failures`` which
    of those sentences fail it."""

    passed: bool
    failures: list[str]
    checks: list[str]

    def as_dict(self) -> dict[str, Any]:
        """For XCom."""
        return {"passed": self.passed, "failures": list(self.failures), "checks": list(self.checks)}


def _measured(values: Mapping[str, Any] | None, metric: str) -> float | None:
    value = None if values is None else values.get(metric)
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        return None
    return float(value)


def check_business_rules(
    new: Mapping[str, float | None], live: Mapping[str, float | None] | None, rules: Mapping[str, BusinessRule]
) -> RuleVerdict:
    """The new version's measures against the rules, and against the live version's when one is live.

    A metric without a value (None, missing, NaN) fails its rule: the gate cannot vouch for what it did not measure.
    With no live version the relative bounds are skipped, and the checks say so.
    """
    checks: list[str] = []
    failures: list[str] = []

    def record(sentence: str, ok: bool) -> None:
        checks.append(sentence)
        if not ok:
            failures.append(sentence)

    # In BUSINESS_METRICS order, whatever the config's order: the same rules always read the same.
    ordered = [metric for metric in BUSINESS_METRICS if metric in rules] + sorted(set(rules) - set(BUSINESS_METRICS))
    for metric in ordered:
        rule = rules[metric]
        value = _measured(new, metric)
        if value is None:
            record(f"no {metric} measured", ok=False)
            continue
        if rule.at_least is not None:
            ok = value >= rule.at_least
            detail = "" if ok else f": at least {rule.at_least:g} required"
            record(f"{metric} {value:.4f} {'>=' if ok else '<'} {rule.at_least:g}{detail}", ok)
        if rule.at_most is not None:
            ok = value <= rule.at_most
            detail = "" if ok else f": at most {rule.at_most:g} allowed"
            record(f"{metric} {value:.4f} {'<=' if ok else '>'} {rule.at_most:g}{detail}", ok)
        for key, limit in (("max_drop", rule.max_drop), ("max_rise", rule.max_rise)):
            if limit is None:
                continue
            live_value = _measured(live, metric)
            if live is None:
                record(f"{metric} {key} not checked: no live version to compare", ok=True)
                continue
            if live_value is None:
                record(f"{metric} {key} not checked: the live version has no {metric} measured", ok=True)
                continue
            change = live_value - value if key == "max_drop" else value - live_value
            direction = "below" if key == "max_drop" else "above"
            if change <= 0:
                record(f"{metric} {value:.4f} is not {direction} the live version's {live_value:.4f}", ok=True)
                continue
            record(
                f"{metric} {value:.4f} is {change:.4f} {direction} the live version's {live_value:.4f} "
                f"(at most {limit:g} allowed)",
                ok=change <= limit + TOLERANCE,
            )
    return RuleVerdict(passed=not failures, failures=failures, checks=checks)
