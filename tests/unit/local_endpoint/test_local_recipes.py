"""SIMS co-occurrence, Personalized-Ranking of an input list and the placement of promoted items."""

from __future__ import annotations

import random

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from personalize_local.promotions import place_promoted, promoted_count
from personalize_local.recommender import LiveHistory, ServingIndex
from personalize_local.trainer import Cooccurrence, TrainingConfig, prepare_interactions, train

TASTES = "ABCD"


def tasteful_interactions(seed: int = 0) -> pd.DataFrame:
    """120 members, each meeting 10 distinct items of her taste (15 per taste) in turn: 1,200 interactions."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(120):
        taste = TASTES[u % 4]
        for n, i in enumerate(rng.choice(15, 10, replace=False)):
            rows.append((f"u{u}", f"{taste}{i}", str(1_730_000_000 + 1000 * u + n), "click", ""))
    return pd.DataFrame(rows, columns=["USER_ID", "ITEM_ID", "TIMESTAMP", "EVENT_TYPE", "EVENT_VALUE"], dtype="str")


@pytest.fixture(scope="module")
def sims_model():
    frame = prepare_interactions(tasteful_interactions(), None, {})
    return train(frame, TrainingConfig(recipe="sims", threads=1))


@pytest.mark.parametrize(
    ("num_results", "percent", "count"),
    [(25, 20, 5), (10, 20, 2), (5, 10, 1), (5, 30, 2), (10, 1, 1), (7, 100, 7), (3, 50, 2)],
)
def test_the_promoted_share_rounds_to_the_nearest_item_and_is_never_empty(num_results, percent, count):
    assert promoted_count(num_results, percent) == count


def test_promoted_items_land_at_random_places_in_their_own_order_among_the_others_in_theirs():
    promoted, others = ["p1", "p2", "p3"], ["o1", "o2", "o3", "o4", "o5"]
    layouts = set()
    for seed in range(30):
        merged = place_promoted(promoted, others, random.Random(seed))
        assert sorted(merged) == sorted(promoted + others)
        assert [i for i in merged if i.startswith("p")] == promoted
        assert [i for i in merged if i.startswith("o")] == others
        layouts.add(tuple(i.startswith("p") for i in merged))
    assert len(layouts) > 5  # not a fixed slot pattern


def test_cooccurrence_is_a_cosine_on_the_items_user_sets():
    # users x items: item 0 met by u0,u1; item 1 by u0,u1,u2; item 2 by u2 only.
    matrix = sp.csr_matrix(np.array([[1, 3, 0], [2, 1, 0], [0, 1, 5]], dtype=np.float32))
    scores = Cooccurrence(matrix).scores(sp.csr_matrix(np.array([[1.0, 0.0, 0.0]])))[0]
    # item 1 shares 2 users with item 0: 2 / sqrt(2 * 3); item 2 shares none. Weights do not count, only meeting.
    assert scores[1] == pytest.approx(2 / np.sqrt(6))
    assert scores[2] == 0.0
    assert scores[0] == pytest.approx(1.0)


def test_sims_metrics_use_the_service_names_and_beat_popularity_on_tasteful_data(sims_model):
    model, baseline = sims_model
    assert set(model.metrics) == set(baseline)
    assert model.metrics["precision_at_5"] > baseline["precision_at_5"] + 0.1
    assert model.item_factors.shape[1] == 0  # nothing but co-occurrence is kept


def test_sims_related_items_share_the_taste_and_never_repeat_the_item(sims_model):
    model, _ = sims_model
    index = ServingIndex(model, None, None, LiveHistory(), alpha=model.alpha)
    related = [item for item, _ in index.related("B3", "", 8)]
    assert len(related) == 8
    assert "B3" not in related
    assert {item[0] for item in related} == {"B"}
    # An item the model never saw gets the popular items (equally popular ones in any order).
    popularity = dict(zip(model.item_ids.astype(str), model.item_popularity, strict=True))
    answered = [popularity[item] for item, _ in index.related("nowhere", "", 3)]
    assert answered == sorted(popularity.values(), reverse=True)[:3]


def test_a_ranking_orders_known_items_by_the_member_and_puts_unknown_ones_last():
    frame = prepare_interactions(tasteful_interactions(1), None, {})
    model, _ = train(frame, TrainingConfig(recipe="als", threads=1, factors=8))
    index = ServingIndex(model, None, None, LiveHistory(), alpha=model.alpha)
    input_list = ["A1", "ghost", "C2", "B4", "C5", "other"]
    ranked = index.rank_input("u2", input_list)  # u2 is of taste C
    assert [item for item, _ in ranked][:2] in (["C2", "C5"], ["C5", "C2"])
    assert ranked[-2:] == [("ghost", 0.0), ("other", 0.0)]
    assert sum(score for _, score in ranked) == pytest.approx(1.0, abs=1e-5)
    scores = [score for _, score in ranked[:4]]
    assert scores == sorted(scores, reverse=True)


def test_a_ranking_filter_judges_items_outside_the_catalog_by_what_they_lack_and_the_history():
    from personalize_local.filters import parse_filter

    frame = prepare_interactions(tasteful_interactions(1), None, {})
    model, _ = train(frame, TrainingConfig(recipe="als", threads=1, factors=8))
    items = pd.DataFrame({"ITEM_ID": [str(i) for i in model.item_ids], "CUP_SIZE": [str(i)[0] for i in model.item_ids]})
    history = LiveHistory()
    history.add(("u2",), "ghost", "purchase", 1_800_000_000)
    index = ServingIndex(model, items, None, history, alpha=model.alpha)
    input_list = ["C2", "A1", "ghost", "other"]

    def ranked(expression: str) -> list[str]:
        return [item for item, _ in index.rank_input("u2", input_list, parsed_filter=parse_filter(expression))]

    # No metadata: an INCLUDE on Items never holds for them, an EXCLUDE on Items never drops them.
    assert ranked('INCLUDE ItemID WHERE Items.CUP_SIZE IN ("C")') == ["C2"]
    assert ranked('EXCLUDE ItemID WHERE Items.CUP_SIZE IN ("C")') == ["A1", "ghost", "other"]
    # The member's history reaches them all the same.
    assert ranked('EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("purchase")') == ["C2", "A1", "other"]
