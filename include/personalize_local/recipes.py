"""The recipes the endpoint trains, and the training configuration a solution gets from its recipe and settings.

Both User-Personalization recipes train implicit-feedback ALS (:mod:`personalize_local.trainer`); Popularity-Count
ranks by popularity. Item-Affinity (USER_SEGMENTATION) trains the same ALS factors, which batch segment jobs read the
other way round: the users whose factor vectors score highest for an item's vector. Only User-Personalization takes
``trainingMode`` UPDATE, as in the service; batch inference jobs run on the USER_PERSONALIZATION recipes (and
Popularity-Count), batch segment jobs on the USER_SEGMENTATION one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from personalize_local.trainer import TrainingConfig


@dataclass(frozen=True)
class Recipe:
    algorithm: str  # the trainer's recipe name
    update_training: bool  # whether a solution version can be trained with trainingMode UPDATE
    recipe_type: str = "USER_PERSONALIZATION"  # as DescribeRecipe shows it


USER_PERSONALIZATION = "USER_PERSONALIZATION"
USER_SEGMENTATION = "USER_SEGMENTATION"
ITEM_AFFINITY = "arn:aws:personalize:::recipe/aws-item-affinity"


RECIPES = {
    "arn:aws:personalize:::recipe/aws-user-personalization": Recipe("als", update_training=True),
    "arn:aws:personalize:::recipe/aws-user-personalization-v2": Recipe("als", update_training=True),
    "arn:aws:personalize:::recipe/aws-popularity-count": Recipe("popularity", update_training=False),
    ITEM_AFFINITY: Recipe("als", update_training=False, recipe_type=USER_SEGMENTATION),
}


def training_config(solution: dict[str, Any], threads: int) -> TrainingConfig:
    """How a solution's versions train (and how its campaigns weigh event types): recipe, eventType, threshold."""
    from personalize_local.trainer import TrainingConfig

    config = solution.get("solutionConfig") or {}
    threshold = config.get("eventValueThreshold")
    return TrainingConfig(
        threads=threads,
        recipe=RECIPES[solution["recipeArn"]].algorithm,
        event_type=solution.get("eventType") or None,
        event_value_threshold=float(threshold) if threshold is not None else None,
    )
