"""Training, metrics and the evaluation split of the local endpoint."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from personalize_local import synthetic
from personalize_local.trainer import (
    DEFAULT_EVENT_WEIGHTS,
    InsufficientDataError,
    TrainedModel,
    TrainingConfig,
    check_minimum_data,
    prepare_interactions,
    ranking_metrics,
    split_for_evaluation,
    train,
)


def test_ranking_metrics_by_hand():
    recommended = [["a", "b", "c", "d", "e"], ["x", "y", "z", "w", "v"]]
    relevant = [{"b"}, {"q"}]
    metrics = ranking_metrics(recommended, relevant, catalog_size=20)
    assert metrics["mean_reciprocal_rank_at_25"] == pytest.approx(0.25)  # (1/2 + 0) / 2
    assert metrics["precision_at_5"] == pytest.approx(0.1)  # (1/5 + 0) / 2
    assert metrics["normalized_discounted_cumulative_gain_at_5"] == pytest.approx(round(0.5 / math.log2(3), 4))
    assert metrics["coverage"] == pytest.approx(0.5)  # 10 distinct of 20
    assert set(metrics) == {
        "coverage",
        "mean_reciprocal_rank_at_25",
        "normalized_discounted_cumulative_gain_at_5",
        "normalized_discounted_cumulative_gain_at_10",
        "normalized_discounted_cumulative_gain_at_25",
        "precision_at_5",
        "precision_at_10",
        "precision_at_25",
    }


def _frame(rows: list[tuple[str, str, int]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "USER_ID": [r[0] for r in rows],
            "ITEM_ID": [r[1] for r in rows],
            "TIMESTAMP": [str(r[2]) for r in rows],
            "EVENT_TYPE": ["click"] * len(rows),
            "EVENT_VALUE": [""] * len(rows),
        },
        dtype="str",
    )


def test_minimum_data_rules_use_the_service_reasons():
    many_users = _frame([(f"u{i % 30}", f"p{i % 7}", i) for i in range(1000)])
    check_minimum_data(prepare_interactions(many_users, None, {}))
    with pytest.raises(InsufficientDataError, match=r"Number of interactions \(999\)"):
        check_minimum_data(prepare_interactions(many_users.head(999), None, {}))
    few_users = _frame([(f"u{i % 24}", f"p{i % 7}", i) for i in range(1000)])
    with pytest.raises(
        InsufficientDataError, match=r"^Dataset has fewer than 25 users with at least 2 interactions each$"
    ):
        check_minimum_data(prepare_interactions(few_users, None, {}))


def test_the_split_holds_out_a_tenth_of_users_and_the_newest_tenth_of_their_history():
    rows = [(f"u{u}", f"p{(u + t) % 50}", t) for u in range(100) for t in range(20)]
    split = split_for_evaluation(prepare_interactions(_frame(rows), None, {}), seed=3)
    assert len(split.test_users) == 10
    for user, inputs, relevant in zip(split.test_users, split.test_inputs, split.test_relevant, strict=True):
        u = int(user[1:])
        assert relevant == {f"p{(u + t) % 50}" for t in (18, 19)}  # the newest 2 of 20
        assert len(inputs) == 18
    assert len(split.train) == 100 * 20 - 10 * 2


def test_anonymous_events_join_their_user_only_when_linked():
    bulk = _frame([("u1", "p1", 1)])
    events = pd.DataFrame(
        {
            "USER_ID": ["", "", "u9", ""],
            "ITEM_ID": ["p2", "p3", "", "p4"],
            "TIMESTAMP": ["2", "3", "4", "5"],
            "EVENT_TYPE": ["click"] * 4,
            "EVENT_VALUE": [""] * 4,
            "SESSION_ID": ["s1", "s1", "s1", "s2"],
        },
        dtype="str",
    )
    frame = prepare_interactions(bulk, events, {"s1": "u9"})
    assert list(zip(frame["USER_ID"], frame["ITEM_ID"], strict=True)) == [("u1", "p1"), ("u9", "p2"), ("u9", "p3")]


def test_als_beats_popularity_and_the_model_round_trips(tmp_path):
    data = synthetic.make_shop_data()
    frame = prepare_interactions(data.interactions, None, {})
    model, baseline = train(frame, TrainingConfig(threads=1))
    ndcg = "normalized_discounted_cumulative_gain_at_25"
    assert model.metrics[ndcg] >= 1.5 * baseline[ndcg]
    path = tmp_path / "model.npz"
    model.save(path)
    loaded = TrainedModel.load(path)
    assert loaded.metrics == model.metrics
    assert list(loaded.item_ids) == list(model.item_ids)
    assert (loaded.item_factors == model.item_factors).all()


def test_event_type_and_value_threshold_select_training_rows():
    data = synthetic.make_shop_data()
    frame = prepare_interactions(data.interactions, None, {})
    with pytest.raises(InsufficientDataError, match="Number of interactions"):
        train(frame, TrainingConfig(event_type="purchase", threads=1))
    with pytest.raises(InsufficientDataError, match="Number of interactions"):
        train(frame, TrainingConfig(event_value_threshold=30.0, threads=1))


def test_popularity_recipe_keeps_only_the_ranking():
    data = synthetic.make_shop_data()
    frame = prepare_interactions(data.interactions, None, {})
    model, baseline = train(frame, TrainingConfig(recipe="popularity"))
    assert model.metrics == baseline
    assert model.item_factors.shape == (frame["ITEM_ID"].nunique(), 0)
    weights = frame["EVENT_TYPE"].map(DEFAULT_EVENT_WEIGHTS).astype(float).fillna(1.0)
    expected = weights.groupby(frame["ITEM_ID"]).sum().sort_values(ascending=False)
    ranked = [model.item_ids[i] for i in model.item_popularity.argsort()[::-1]]
    assert ranked[:5] == list(expected.index[:5])
