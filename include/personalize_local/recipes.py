"""The recipes the endpoint trains, the domain recipes ListRecipes shows, and the training configuration a solution
gets from its recipe and settings.

Both User-Personalization recipes train implicit-feedback ALS (:mod:`personalize_local.trainer`); Popularity-Count
ranks by popularity. Both Personalized-Ranking recipes train the same ALS factors, which GetPersonalizedRanking reads
for the items of its input list only. SIMS (RELATED_ITEMS) keeps the item co-occurrence of the training
interactions: the items most often met by the users who met an item are its related items. Item-Affinity
(USER_SEGMENTATION) trains the same ALS factors, which batch segment jobs read the other way round: the users whose
factor vectors score highest for an item's vector. Only User-Personalization takes ``trainingMode`` UPDATE, as in
the service; batch inference jobs run on the USER_PERSONALIZATION recipes (and Popularity-Count), batch segment jobs
on the USER_SEGMENTATION one. Domain recipes (ECOMMERCE, VIDEO_ON_DEMAND use cases) are listed and described only:
recommenders are not served locally, so CreateSolution refuses them as any recipe not trained here.
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
PERSONALIZED_RANKING = "PERSONALIZED_RANKING"
RELATED_ITEMS = "RELATED_ITEMS"
POPULAR_ITEMS = "POPULAR_ITEMS"
ITEM_AFFINITY = "arn:aws:personalize:::recipe/aws-item-affinity"
SIMS = "arn:aws:personalize:::recipe/aws-sims"
PERSONALIZED_RANKING_RECIPE = "arn:aws:personalize:::recipe/aws-personalized-ranking"
ECOMMERCE = "ECOMMERCE"
VIDEO_ON_DEMAND = "VIDEO_ON_DEMAND"


RECIPES = {
    "arn:aws:personalize:::recipe/aws-user-personalization": Recipe("als", update_training=True),
    "arn:aws:personalize:::recipe/aws-user-personalization-v2": Recipe("als", update_training=True),
    "arn:aws:personalize:::recipe/aws-popularity-count": Recipe("popularity", update_training=False),
    ITEM_AFFINITY: Recipe("als", update_training=False, recipe_type=USER_SEGMENTATION),
    PERSONALIZED_RANKING_RECIPE: Recipe("als", update_training=False, recipe_type=PERSONALIZED_RANKING),
    f"{PERSONALIZED_RANKING_RECIPE}-v2": Recipe("als", update_training=False, recipe_type=PERSONALIZED_RANKING),
    SIMS: Recipe("sims", update_training=False, recipe_type=RELATED_ITEMS),
}


@dataclass(frozen=True)
class DomainRecipe:
    """A use case of a domain dataset group: listed and described, but recommenders are not served locally."""

    domain: str
    recipe_type: str


#: The domain use cases (Personalize's ECOMMERCE and VIDEO_ON_DEMAND use-case pages); their type follows what
#: GetRecommendations needs for them: an itemId (RELATED_ITEMS), a userId only (USER_PERSONALIZATION), or neither
#: for personalization (POPULAR_ITEMS).
DOMAIN_RECIPES = {
    f"arn:aws:personalize:::recipe/{name}": DomainRecipe(domain, recipe_type)
    for name, domain, recipe_type in (
        ("aws-ecomm-customers-who-viewed-x-also-viewed", ECOMMERCE, RELATED_ITEMS),
        ("aws-ecomm-frequently-bought-together", ECOMMERCE, RELATED_ITEMS),
        ("aws-ecomm-popular-items-by-purchases", ECOMMERCE, POPULAR_ITEMS),
        ("aws-ecomm-popular-items-by-views", ECOMMERCE, POPULAR_ITEMS),
        ("aws-ecomm-recommended-for-you", ECOMMERCE, USER_PERSONALIZATION),
        ("aws-vod-because-you-watched-x", VIDEO_ON_DEMAND, RELATED_ITEMS),
        ("aws-vod-more-like-x", VIDEO_ON_DEMAND, RELATED_ITEMS),
        ("aws-vod-most-popular", VIDEO_ON_DEMAND, POPULAR_ITEMS),
        ("aws-vod-top-picks", VIDEO_ON_DEMAND, USER_PERSONALIZATION),
        ("aws-vod-trending-now", VIDEO_ON_DEMAND, POPULAR_ITEMS),
    )
}


def recipe_type(recipe_arn: str) -> str:
    """The recipe's type as DescribeRecipe shows it (custom or domain recipe); KeyError if unknown."""
    if recipe_arn in RECIPES:
        return RECIPES[recipe_arn].recipe_type
    return DOMAIN_RECIPES[recipe_arn].recipe_type


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
