"""The deploy gate: does a new solution version's offline metrics hold up against the version the campaign
serves?

The default rule deploys when NDCG@25 and precision@25 are each at least 98% of the live version's, and always
deploys when nothing is live yet. Each metric's minimum ratio is configurable. A metric missing on either side
keeps the live version: the gate never deploys on a comparison it could not make.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

#: The offline metrics GetSolutionMetrics returns for User-Personalization, the ones a gate rule can name.
KNOWN_METRICS = frozenset(
    {
        "coverage",
        "mean_reciprocal_rank_at_25",
        "normalized_discounted_cumulative_gain_at_5",
        "normalized_discounted_cumulative_gain_at_10",
        "normalized_discounted_cumulative_gain_at_25",
        "precision_at_5",
        "precision_at_10",
        "precision_at_25",
    }
)

DEFAULT_MIN_RATIOS: dict[str, float] = {
    "normalized_discounted_cumulative_gain_at_25": 0.98,
    "precision_at_25": 0.98,
}


@dataclass(frozen=True)
class GateDecision:
    """The outcome of the gate; ``as_dict()`` is what the evaluate task returns (JSON-able for XCom)."""

    deploy: bool
    reason: str
    new_metrics: dict[str, float]
    live_metrics: dict[str, float] | None
    min_ratios: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def validate_min_ratios(min_ratios: Mapping[str, float] | None) -> dict[str, float]:
    """The rule to apply: the default when None, else each metric name mapped to a ratio > 0."""
    if min_ratios is None:
        return dict(DEFAULT_MIN_RATIOS)
    if not min_ratios:
        raise ValueError("min_ratios is empty: name at least one metric to compare")
    checked: dict[str, float] = {}
    for name, ratio in min_ratios.items():
        if not isinstance(name, str) or not name:
            raise ValueError(f"min_ratios has an invalid metric name {name!r}")
        if isinstance(ratio, bool) or not isinstance(ratio, int | float) or not math.isfinite(ratio) or ratio <= 0:
            raise ValueError(f"min_ratios[{name!r}] must be a positive number, got {ratio!r}")
        checked[name] = float(ratio)
    return checked


def _usable(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def decide_deployment(
    new_metrics: Mapping[str, float],
    live_metrics: Mapping[str, float] | None,
    min_ratios: Mapping[str, float] | None = None,
) -> GateDecision:
    """Deploy or keep. ``live_metrics`` is None when no campaign serves a version yet."""
    ratios = validate_min_ratios(min_ratios)
    new = dict(new_metrics)
    live = None if live_metrics is None else dict(live_metrics)
    if live is None:
        return GateDecision(True, "nothing is live yet: deploy the first version", new, None, ratios)

    problems: list[str] = []
    passed: list[str] = []
    for name, ratio in ratios.items():
        new_value, live_value = new.get(name), live.get(name)
        if not _usable(new_value):
            problems.append(f"new version has no usable {name} ({new_value!r})")
        elif not _usable(live_value):
            problems.append(f"live version has no usable {name} ({live_value!r})")
        elif new_value < ratio * live_value:
            problems.append(
                f"{name} {new_value:.4f} < {ratio:.0%} of live {live_value:.4f} (needs >= {ratio * live_value:.4f})"
            )
        else:
            passed.append(f"{name} {new_value:.4f} >= {ratio:.0%} of live {live_value:.4f}")
    if problems:
        return GateDecision(False, "keep the live version: " + "; ".join(problems), new, live, ratios)
    return GateDecision(True, "deploy: " + "; ".join(passed), new, live, ratios)
