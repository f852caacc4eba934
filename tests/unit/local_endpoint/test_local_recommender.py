"""Serving from a trained model: streamed history, exact scores and the reuse of cold-start answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from personalize_local import synthetic
from personalize_local.recommender import ExplorationConfig, ServingIndex, build_history
from personalize_local.trainer import TrainingConfig, prepare_interactions, train


@pytest.fixture(scope="module")
def shop():
    data = synthetic.make_shop_data()
    model, _ = train(prepare_interactions(data.interactions, None, {}), TrainingConfig(threads=1, factors=8))
    # Two members who have not interacted yet, both in the sizes of u0.
    u0 = data.users[data.users["USER_ID"] == "u0"]
    users = pd.concat([data.users, u0.assign(USER_ID="newcomer"), u0.assign(USER_ID="newcomer-2")], ignore_index=True)
    return data, model, users


@pytest.fixture
def index(shop):
    data, model, users = shop
    return ServingIndex(model, data.items, users, build_history(data.interactions, None), alpha=model.alpha)


def test_history_since_returns_only_the_events_after_a_timestamp(shop):
    data, model, _ = shop
    history = build_history(data.interactions, None)
    user = data.interactions["USER_ID"].iloc[0]
    latest = model.latest_timestamp
    assert history.since(user, latest) == []
    assert len(history.since(user, 0)) == int((data.interactions["USER_ID"] == user).sum())
    history.add((user, "session-9"), "p3", "purchase", latest + 5)
    assert history.since(user, latest) == [("p3", "purchase", latest + 5)]
    assert history.since("session-9", latest) == [("p3", "purchase", latest + 5)]
    assert history.since("nobody", latest) == []


def test_known_users_are_scored_with_the_exact_products_of_their_factors(shop, index):
    _, model, _ = shop
    row = 5
    user = str(model.user_ids[row])
    scores, how = index.user_scores(user, {})
    assert how == "personalized"
    expected = model.item_factors @ model.user_factors[row].astype(np.float64)
    assert np.array_equal(scores[: index.model_size], expected)
    assert np.all(np.isneginf(scores[index.model_size :]))


@pytest.mark.parametrize("user", ["anonymous-1", "newcomer"])
def test_cold_start_answers_are_reused_and_equal_a_fresh_ranking(index, user):
    exploration = ExplorationConfig()
    fresh = index._rank(user, 10, None, None, exploration, None, None)
    first = index.recommend(user, 10)
    assert first == fresh
    first.clear()  # callers get their own list
    assert index.recommend(user, 10) == fresh
    assert index.recommend(user, 10, exploration=ExplorationConfig(weight=0.0)) == index._rank(
        user, 10, None, None, ExplorationConfig(weight=0.0), None, None
    )


def test_members_in_the_same_sizes_share_a_cold_start_answer_and_others_do_not(index):
    newcomer = index.recommend("newcomer", 10)
    assert index.recommend("newcomer-2", 10) == newcomer
    assert [item for item, _ in newcomer] != [item for item, _ in index.recommend("anonymous-2", 10)]
    fits = index.fits_sizes("newcomer")
    assert fits is not None
    assert sum(bool(fits[index.position[item]]) for item, _ in newcomer) >= 8


def test_a_session_with_events_after_training_leaves_the_cold_start_answer(index, shop):
    _, model, _ = shop
    popular = index.recommend("session-42", 10)
    for item in model.item_ids[:5]:
        index.history.add(("", "session-42"), str(item), "click", model.latest_timestamp + 60)
    _, how = index.user_scores("session-42", {"click": 1.0})
    assert how == "personalized"
    personalized = index.recommend("session-42", 10, event_weights={"click": 1.0})
    assert personalized != popular
    assert personalized == index._rank("session-42", 10, None, None, ExplorationConfig(), {"click": 1.0}, None)
