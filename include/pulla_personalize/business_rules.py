"""The deploy gate's rules on the shop's own measures (``quality_gate.business_rules``), light enough for the
configuration to check them when a DAG file is parsed (no pandas here; the measures are
``pulla_personalize.business_metrics``).

A rule bounds a measure absolutely (``at_least``/``at_most``) and against the live version (``max_drop``/
``max_rise``); ``check_business_rules`` applies them and says why, in sentences the gate's log and its XCom carry.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

BUSINESS_METRICS = ("size_fit_at_25", "catalogue_coverage", "new_item_share", "already_bought_share")
DESCRIPTIONS = {
    "size_fit_at_25": "share of the top-25 items of members with a cup and band size that come in both her sizes",
    "catalogue_coverage": "distinct catalogue items in anyone's top 25, over the items in the catalogue",
    "new_item_share": "share of top-25 positions held by items created in the last new_item_days days",
    "already_bought_share": "share of top-25 positions held by items the member has a purchase interaction with",
}
RULE_KEYS = ("at_least", "at_most", "max_drop", "max_rise")
#: Measures are rounded to 6 decimals; a drop or rise within this of its limit is within the limit.
TOLERANCE = 1e-9


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
