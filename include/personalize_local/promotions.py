"""Promotions in GetRecommendations: how many promoted items a list holds and where they go.

What the service documents (Personalize developer guide, "Promoting items in real-time recommendations"):

- the promotion's filter applies to the promoted items only, and the request's filter to the other items only;
- promoted items are "positioned randomly relative to other recommended items, but in sorted order relative to
  other promoted items"; the other items keep their own order (relevance);
- if too few items meet the promotion's criteria, the list holds as many promoted items as there are, and the
  other items fill the rest of ``numResults``.

The share's rounding is not documented. Here it is ``percentPromotedItems`` of ``numResults`` rounded to the
nearest item (halves up), and at least one item, so a promotion asked for is never silently empty. An item is
listed once: a promoted item is left out of the other items.
"""

from __future__ import annotations

import random
from typing import Any, TypeVar

from personalize_local import errors

T = TypeVar("T")


def promoted_count(num_results: int, percent: int) -> int:
    """How many of ``num_results`` slots a promotion of ``percent`` (1-100) takes."""
    return min(num_results, max(1, (num_results * percent * 2 + 100) // 200))


def place_promoted(promoted: list[T], others: list[T], rng: random.Random) -> list[T]:
    """Promoted items at random positions of the merged list, in their own order; the others in theirs."""
    total = len(promoted) + len(others)
    slots = set(rng.sample(range(total), len(promoted)))
    promoted_iter, others_iter = iter(promoted), iter(others)
    return [next(promoted_iter) if position in slots else next(others_iter) for position in range(total)]


def checked_promotion(promotions: Any) -> dict[str, Any] | None:
    """The request's promotion (the model allows one); None without one.

    botocore's model marks no member of a promotion required, but one without a name, a share or a filter could
    only be ignored or answered unmarked: it is refused, naming the member. The share's range is the model's.
    """
    if not promotions:
        return None
    promotion = promotions[0]
    for member in ("name", "percentPromotedItems", "filterArn"):
        if promotion.get(member) in (None, ""):
            raise errors.InvalidInputError(f"promotions[0].{member} is required")
    percent = promotion["percentPromotedItems"]
    if not isinstance(percent, int) or isinstance(percent, bool) or not 1 <= percent <= 100:
        raise errors.InvalidInputError("promotions[0].percentPromotedItems must be an integer from 1 to 100")
    return promotion
